//! `tapflow trace` as an unprivileged user (nobody) with CAP_BPF and CAP_PERFMON only
//! (`setpriv --ambient-caps`, as a systemd unit's `AmbientCapabilities=` grants them):
//! - with tracefs as the kernel mounts it (root-only), `trace --check` fails naming tracefs and
//!   the remount that fixes it;
//! - with tracefs remounted for nobody's group (`gid=`, `mode=750`, restored after the test, also
//!   when it fails), the tracer attaches its syscall tracepoints and logs curl's requests to
//!   Python's http.server as both processes saw them; the OpenSSL line warns that uprobes need
//!   CAP_SYS_ADMIN.
//!
//! Needs root (to remount tracefs and drop to nobody) and setpriv; skips and says so without.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod live_support;
mod netns;
mod procs;
mod trace_support;
use live_support::{have, l7_rows};
use trace_support::{assert_processes, by_side, can_trace, curl, http_server, temp};

const NOBODY: &str = "65534";
const TRACEFS: &str = "/sys/kernel/tracing";

fn as_nobody(args: &[&str]) -> Command {
    let mut c = Command::new("setpriv");
    c.args(["--reuid", NOBODY, "--regid", NOBODY, "--clear-groups"])
        .args(["--inh-caps=+bpf,+perfmon", "--ambient-caps=+bpf,+perfmon"])
        .arg(env!("CARGO_BIN_EXE_tapflow"))
        .args(args);
    c
}

/// tracefs' `gid=` and `mode=` as mounted now (the kernel's defaults: 0 and 700).
fn tracefs_options() -> Option<(String, String)> {
    let mounts = std::fs::read_to_string("/proc/mounts").ok()?;
    let line = mounts
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(TRACEFS))?;
    let opts = line.split_whitespace().nth(3)?;
    let get = |k: &str, default: &str| {
        opts.split(',')
            .find_map(|o| o.strip_prefix(k))
            .unwrap_or(default)
            .to_string()
    };
    Some((get("gid=", "0"), get("mode=", "700")))
}

/// tracefs remounted readable by nobody's group; the options it had are put back on drop.
struct TracefsForNobody(String, String);

impl TracefsForNobody {
    fn new() -> Self {
        let (gid, mode) = tracefs_options().expect("tracefs mounted");
        let st = Command::new("mount")
            .args(["-o", &format!("remount,gid={NOBODY},mode=750"), TRACEFS])
            .status()
            .expect("mount");
        assert!(st.success(), "remount tracefs");
        TracefsForNobody(gid, mode)
    }
}

impl Drop for TracefsForNobody {
    fn drop(&mut self) {
        let _ = Command::new("mount")
            .args([
                "-o",
                &format!("remount,gid={},mode={}", self.0, self.1),
                TRACEFS,
            ])
            .status();
    }
}

fn world_writable(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(p).expect("dir");
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o777)).expect("chmod");
}

#[test]
fn the_tracer_runs_as_nobody_with_cap_bpf_and_cap_perfmon() {
    if !have("setpriv") || !have("curl") || !can_trace() {
        eprintln!("skipped: needs root, setpriv, curl and a kernel the tracer runs on");
        return;
    }
    if tracefs_options().is_none() {
        eprintln!("skipped: tracefs is not mounted at {TRACEFS}");
        return;
    }
    let dir = temp("nonroot");
    world_writable(&dir);
    // tracefs root-only (unless this host already opened it to nobody's group).
    if tracefs_options().is_some_and(|(gid, _)| gid != NOBODY) {
        let check = as_nobody(&["trace", "--check"]).output().expect("check");
        let table = String::from_utf8_lossy(&check.stdout);
        assert_eq!(check.status.code(), Some(2), "{table}");
        assert!(
            table.contains("not readable by this user") && table.contains("gid=GROUP,mode=750"),
            "{table}"
        );
    }
    let _tracefs = TracefsForNobody::new();
    let check = as_nobody(&["trace", "--check"]).output().expect("check");
    let table = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{table}");
    assert!(table.contains("OpenSSL (uprobes)          warn"), "{table}");

    let port = 18_477u16;
    let _server = http_server(&dir, port);
    let out = dir.join("out");
    world_writable(&out);
    let mut trace = live_support::Killed(
        as_nobody(&["trace", "-q", "--duration", "6", "--out"])
            .arg(&out)
            .stderr(Stdio::null())
            .spawn()
            .expect("tapflow trace as nobody"),
    );
    let started = Instant::now();
    while !out.join("trace.ready").exists() {
        assert!(
            trace.0.try_wait().expect("wait").is_none(),
            "the tracer exited early"
        );
        assert!(started.elapsed() < Duration::from_secs(30), "not attached");
        std::thread::sleep(Duration::from_millis(50));
    }
    let url = format!("http://127.0.0.1:{port}/");
    curl(&[&url]);
    curl(&[&format!("{url}missing")]);
    let st = trace.0.wait().expect("wait");
    assert!(st.success(), "tapflow trace as nobody: {st}");
    let rows = l7_rows(&out);
    let sides = by_side(&rows, port);
    for side in ["c-p", "s-p"] {
        let rs = sides.get(side).map(Vec::as_slice).unwrap_or_default();
        let mut codes: Vec<u64> = rs
            .iter()
            .map(|r| r["response_code"].as_u64().unwrap_or(0))
            .collect();
        codes.sort();
        assert_eq!(codes, vec![200, 404], "{side}: {rs:#?}");
        assert_processes(rs, "curl", "python3");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
