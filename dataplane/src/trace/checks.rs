//! Startup checks of the syscall tracer (DeepFlow's deployment prerequisites for its eBPF agent,
//! as they apply to tapflow's programs): each names what is missing and how to fix it.
//! `tapflow trace --check` prints the table without starting.

use std::path::Path;

use crate::privileges::{self, CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN, CAP_SYS_PTRACE};

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    /// Works, with a limitation.
    Warn,
    /// The tracer cannot start.
    Fail,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        }
    }
}

/// One line of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    pub detail: String,
    /// What to do about a warning or failure.
    pub fix: &'static str,
}

/// Kernel features the tracer uses, with the release that brought each.
pub const KERNEL_FEATURES: &[((u32, u32), &str)] = &[
    ((4, 7), "syscall tracepoints with BPF programs"),
    ((4, 17), "uprobes through perf_event_open (OpenSSL)"),
    ((5, 2), "BTF for CO-RE relocations"),
    ((5, 5), "bpf_probe_read_user / bpf_probe_read_kernel"),
    ((5, 8), "BPF ring buffer; CAP_BPF and CAP_PERFMON"),
];

/// The release that brought `bpf_loop`: every message of a sendmmsg / recvmmsg call traced.
pub const BPF_LOOP_KERNEL: (u32, u32) = (5, 17);

/// The lowest kernel the tracer runs on (the newest feature above).
pub const MIN_KERNEL: (u32, u32) = (5, 8);

/// Where tracefs exposes the syscall tracepoints (either mount point works).
pub const TRACEFS_DIRS: &[&str] = &["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// "6.18.44-fc" -> (6, 18).
pub fn parse_release(release: &str) -> Option<(u32, u32)> {
    let mut it = release.split(['.', '-']);
    let major = it.next()?.parse().ok()?;
    let minor = it.next()?.parse().ok()?;
    Some((major, minor))
}

/// The tracefs directory with syscall tracepoints, if mounted.
pub fn tracefs_dir() -> Option<&'static str> {
    TRACEFS_DIRS
        .iter()
        .copied()
        .find(|d| Path::new(d).join("events/syscalls").is_dir())
}

/// Runs every check (`libssl`: the OpenSSL libraries found, for the uprobe line).
pub fn run(libssl: &[std::path::PathBuf]) -> Vec<Check> {
    let mut out = Vec::new();
    let release = read_trimmed("/proc/sys/kernel/osrelease").unwrap_or_default();
    let version = parse_release(&release);
    let (status, detail) = match version {
        Some(v) if v >= MIN_KERNEL => (Status::Ok, release.clone()),
        Some(v) => {
            let missing: Vec<&str> = KERNEL_FEATURES
                .iter()
                .filter(|(since, _)| *since > v)
                .map(|(_, what)| *what)
                .collect();
            (
                Status::Fail,
                format!("{release}: lacks {}", missing.join(", ")),
            )
        }
        None => (Status::Fail, format!("unreadable release {release:?}")),
    };
    out.push(Check {
        name: "kernel version",
        status,
        detail,
        fix: "run on Linux 5.8 or later",
    });
    // The kernel's own answer where this process may ask (CAP_BPF), else its release.
    let bpf_loop = libbpf_rs::ProgramType::Tracepoint
        .is_helper_supported(libbpf_rs::libbpf_sys::BPF_FUNC_loop)
        .ok()
        .or_else(|| version.map(|v| v >= BPF_LOOP_KERNEL));
    out.push(Check {
        name: "bpf_loop (sendmmsg)",
        status: if bpf_loop == Some(true) {
            Status::Ok
        } else {
            Status::Warn
        },
        detail: if bpf_loop == Some(true) {
            "every message of a sendmmsg / recvmmsg call is an event (up to 1,024)".into()
        } else {
            "no bpf_loop: the first 8 messages of a sendmmsg / recvmmsg call are events, the rest counted (trace.bpf.mmsg_unsent)".into()
        },
        fix: "run on Linux 5.17 or later for every message of batched UDP calls",
    });
    let btf = Path::new("/sys/kernel/btf/vmlinux").exists();
    out.push(Check {
        name: "kernel BTF",
        status: if btf { Status::Ok } else { Status::Fail },
        detail: if btf {
            "/sys/kernel/btf/vmlinux".into()
        } else {
            "/sys/kernel/btf/vmlinux missing".into()
        },
        fix: "use a kernel built with CONFIG_DEBUG_INFO_BTF=y (Debian's and most distributions' are)",
    });
    let tracefs = tracefs_dir();
    // Mounted, but root-only (tracefs' default): the tracepoint ids cannot be read.
    let unreadable = TRACEFS_DIRS.iter().copied().find(|d| {
        std::fs::metadata(Path::new(d).join("events/syscalls"))
            .is_err_and(|e| e.kind() == std::io::ErrorKind::PermissionDenied)
    });
    out.push(Check {
        name: "tracefs",
        status: if tracefs.is_some() {
            Status::Ok
        } else {
            Status::Fail
        },
        detail: match (tracefs, unreadable) {
            (Some(d), _) => format!("{d}/events/syscalls"),
            (None, Some(d)) => format!(
                "{d} is mounted but not readable by this user (tracefs is root-only unless mounted with gid= and mode=)"
            ),
            (None, None) => {
                "no events/syscalls under /sys/kernel/tracing or /sys/kernel/debug/tracing".into()
            }
        },
        fix: if unreadable.is_some() {
            "as root: mount -o remount,gid=GROUP,mode=750 /sys/kernel/tracing, GROUP one of the tracer's user's groups (or run as root)"
        } else {
            "mount -t tracefs nodev /sys/kernel/tracing (kernel needs CONFIG_FTRACE_SYSCALLS)"
        },
    });
    let eff = privileges::effective().unwrap_or(0);
    let has = |c: privileges::Cap| c.in_set(eff);
    let caps_ok = (has(CAP_BPF) && has(CAP_PERFMON)) || has(CAP_SYS_ADMIN);
    let mut held: Vec<&str> = [CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN]
        .into_iter()
        .filter(|c| has(*c))
        .map(|c| c.name)
        .collect();
    if held.is_empty() {
        held.push("none of CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN");
    }
    out.push(Check {
        name: "capabilities",
        status: if caps_ok { Status::Ok } else { Status::Fail },
        detail: held.join(", "),
        fix: "run as root, or grant CAP_BPF and CAP_PERFMON (CAP_SYS_ADMIN on kernels before 5.8): setcap cap_bpf,cap_perfmon+ep tapflow, or AmbientCapabilities= in the systemd unit",
    });
    let enter = has(CAP_SYS_ADMIN) && has(CAP_SYS_PTRACE);
    out.push(Check {
        name: "other network namespaces",
        status: if enter { Status::Ok } else { Status::Warn },
        detail: if enter {
            "UDP sockets bound to no address are named in every namespace".into()
        } else {
            "UDP sockets bound to no address keep 0.0.0.0 outside the tracer's namespace".into()
        },
        fix: "grant CAP_SYS_ADMIN and CAP_SYS_PTRACE (root has them) to ask other namespaces' routes",
    });
    let jit = read_trimmed("/proc/sys/net/core/bpf_jit_enable");
    out.push(Check {
        name: "net.core.bpf_jit_enable",
        status: match jit.as_deref() {
            Some("1") | Some("2") => Status::Ok,
            // Absent: the JIT is always on (CONFIG_BPF_JIT_ALWAYS_ON).
            None => Status::Ok,
            _ => Status::Warn,
        },
        detail: jit.unwrap_or_else(|| "always on".into()),
        fix: "sysctl -w net.core.bpf_jit_enable=1 (the interpreter is several times slower)",
    });
    let kptr = read_trimmed("/proc/sys/kernel/kptr_restrict");
    out.push(Check {
        name: "kernel.kptr_restrict",
        status: Status::Ok,
        detail: format!(
            "{} (not needed: no kprobes, sockets are found through BTF)",
            kptr.as_deref().unwrap_or("unreadable")
        ),
        fix: "",
    });
    // Uprobes need CAP_SYS_ADMIN on kernels since 2025 (and their stable updates), which refuse
    // them to CAP_PERFMON alone; older ones took CAP_PERFMON.
    let uprobes = has(CAP_SYS_ADMIN);
    out.push(Check {
        name: "OpenSSL (uprobes)",
        status: if libssl.is_empty() || !uprobes {
            Status::Warn
        } else {
            Status::Ok
        },
        detail: if libssl.is_empty() {
            "no libssl found: TLS plaintext will not be seen".into()
        } else if !uprobes {
            "uprobes need CAP_SYS_ADMIN on kernels since 2025: TLS plaintext may not be seen".into()
        } else {
            libssl
                .iter()
                .map(|p| match super::ssl_elf::inspect(p) {
                    Ok(t) => format!("{} ({})", p.display(), t.describe()),
                    Err(e) => format!("{} (not probed: {e})", p.display()),
                })
                .collect::<Vec<_>>()
                .join(", ")
        },
        fix: if libssl.is_empty() {
            "install libssl3 or name the library with --libssl PATH"
        } else {
            "grant CAP_SYS_ADMIN (root has it) for OpenSSL's plaintext"
        },
    });
    out
}

/// The first failing check, if any.
pub fn first_failure(checks: &[Check]) -> Option<&Check> {
    checks.iter().find(|c| c.status == Status::Fail)
}

/// The table as text.
pub fn render(checks: &[Check]) -> String {
    let mut s = format!("{:<26} {:<6} detail\n", "check", "status");
    for c in checks {
        s.push_str(&format!(
            "{:<26} {:<6} {}\n",
            c.name,
            c.status.name(),
            c.detail
        ));
        if c.status != Status::Ok && !c.fix.is_empty() {
            s.push_str(&format!("{:<26} {:<6} fix: {}\n", "", "", c.fix));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_parse() {
        assert_eq!(parse_release("6.18.44-fc-v1098"), Some((6, 18)));
        assert_eq!(parse_release("5.4.0-150-generic"), Some((5, 4)));
        assert_eq!(parse_release("garbage"), None);
        assert!((5, 4) < MIN_KERNEL && (5, 10) > MIN_KERNEL && (6, 1) > MIN_KERNEL);
    }

    #[test]
    fn the_table_names_every_check_and_fixes_for_failures() {
        let checks = vec![
            Check {
                name: "kernel BTF",
                status: Status::Fail,
                detail: "missing".into(),
                fix: "use a BTF kernel",
            },
            Check {
                name: "tracefs",
                status: Status::Ok,
                detail: "/sys/kernel/tracing".into(),
                fix: "mount it",
            },
        ];
        let t = render(&checks);
        assert!(
            t.contains("kernel BTF") && t.contains("FAIL") && t.contains("fix: use a BTF kernel")
        );
        assert!(!t.contains("mount it"), "no fix line for a passing check");
        assert_eq!(first_failure(&checks).map(|c| c.name), Some("kernel BTF"));
    }
}
