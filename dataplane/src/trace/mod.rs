//! The syscall tracer's user-space side: loads `xdp-prog`'s tracer with libbpf (CO-RE against
//! the kernel's BTF), attaches the syscall tracepoints, the OpenSSL uprobes and the Go TLS
//! uprobes ([`go_elf`] finds where they go), and hands each
//! ring-buffer event, decoded, to the caller; checks ([`checks`]) run before anything loads.
//! Everything attached is detached when the [`Tracer`] is dropped.

pub mod checks;
mod elf;
pub mod event;
pub mod go_elf;
pub mod go_pclntab;
pub mod procfs;
pub mod route_source;
pub mod session;
pub mod ssl_elf;

use std::cell::RefCell;
use std::path::PathBuf;
use std::time::Duration;

use libbpf_rs::{
    Link, MapCore, MapFlags, Object, ObjectBuilder, ProgramType, RingBufferBuilder,
    TracepointCategory, UprobeOpts,
};
use tapflow_analyzer::syscall::DATA_SYSCALLS;
use tapflow_xdp_prog::trace::{self as contract, counter, maps, DATA_MAX};

/// What to trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceOptions {
    /// Payload prefix per call, bytes (1..=8192).
    pub payload_cap: u32,
    /// Ring buffer size, bytes (rounded up to a power of two, at least 64 KiB).
    pub ring_bytes: u32,
    /// Only these processes (empty: every process but tapflow itself).
    pub pids: Vec<u32>,
    /// The libssl files to put uprobes on (empty: no TLS plaintext).
    pub libssl: Vec<PathBuf>,
    /// Go executables whose crypto/tls to probe (every process running one of them, now or
    /// later; at most [`contract::MAX_GO_EXES`]).
    pub go_exes: Vec<PathBuf>,
    /// The data syscalls hooked (of [`tapflow_analyzer::syscall::DATA_SYSCALLS`]); connect,
    /// accept and close always are.
    pub data_syscalls: Vec<String>,
    /// Unix stream sockets are traced too (DeepFlow's
    /// `inputs.ebpf.socket.kprobe.enable_unix_socket`): their rows have no addresses (0.0.0.0)
    /// and made-up ports (the server's path's, each client's), the same from both ends.
    pub unix_sockets: bool,
}

impl Default for TraceOptions {
    fn default() -> Self {
        TraceOptions {
            payload_cap: 1024,
            ring_bytes: 8 << 20,
            pids: Vec::new(),
            libssl: Vec::new(),
            go_exes: Vec::new(),
            data_syscalls: DATA_SYSCALLS.iter().map(|s| s.to_string()).collect(),
            unix_sockets: false,
        }
    }
}

/// Why the tracer could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TraceError {
    #[error("the tracer's BPF program was not built (clang was missing at build time); install clang and libbpf-dev and rebuild")]
    NotBuilt,
    #[error("invalid option: {0}")]
    Option(String),
    #[error("cannot load the tracer's BPF programs: {0}")]
    Load(String),
    #[error("cannot attach {what}: {reason}")]
    Attach { what: String, reason: String },
    #[error("tracer map {0}: {1}")]
    Map(&'static str, String),
}

/// The loaded and attached tracer.
pub struct Tracer {
    obj: Object,
    links: Vec<Link>,
    /// TLS libraries (and executables with one linked in) with uprobes attached, with what
    /// they are and the functions probed (`OpenSSL: SSL_write SSL_read ...`).
    pub libssl_attached: Vec<(PathBuf, String)>,
    /// libssl files that could not be probed, with the reason (TLS of their users is not seen).
    pub libssl_failed: Vec<(PathBuf, String)>,
    /// Go executables with crypto/tls probes, with their Go version.
    pub go_attached: Vec<(PathBuf, String)>,
    /// Go executables that could not be probed, with the reason.
    pub go_failed: Vec<(PathBuf, String)>,
    /// The kernel has `bpf_loop`: every message of a sendmmsg / recvmmsg call is an event (up
    /// to [`contract::MMSG_PER_CALL_LOOP`]), not only the first
    /// [`contract::MMSG_PER_CALL_UNROLLED`].
    pub mmsg_loop: bool,
}

impl std::fmt::Debug for Tracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracer")
            .field("links", &self.links.len())
            .field("libssl_attached", &self.libssl_attached)
            .finish()
    }
}

/// Bytes of BPF map memory the tracer takes with `opts` (ring buffer, per-thread and socket
/// tables, scratch), for the memory budget.
pub fn memory_bytes(opts: &TraceOptions) -> u64 {
    let ring = u64::from(ring_size(opts.ring_bytes));
    // Per thread: pending syscall, OpenSSL call, trace id, Go TLS read (key and value), and
    // the tables' overheads.
    let threads = u64::from(contract::MAX_THREADS) * (40 + 48 + 24 + 32 + 4 * 64);
    let go_exes = u64::from(contract::MAX_GO_EXES) * 32;
    let sockets = u64::from(contract::MAX_SOCKETS) * 2 * (16 + 64);
    let scratch = (2 * u64::from(DATA_MAX) + contract::HDR_SIZE as u64) * 64;
    ring + threads + sockets + scratch + go_exes
}

/// Waiting bytes that wake the reader: an eighth of the ring, at most 1 MiB (the reader also
/// polls every 100 ms, so a quiet host's events wait at most that long).
fn wakeup_bytes(ring_bytes: u32) -> u32 {
    (ring_size(ring_bytes) / 8).min(1 << 20)
}

fn ring_size(bytes: u32) -> u32 {
    bytes.clamp(64 << 10, 1 << 30).next_power_of_two()
}

impl Tracer {
    /// Loads and attaches everything; on any error nothing stays attached.
    pub fn start(opts: &TraceOptions) -> Result<Tracer, TraceError> {
        if opts.payload_cap == 0 || opts.payload_cap > DATA_MAX {
            return Err(TraceError::Option(format!(
                "payload cap {} (1..={DATA_MAX})",
                opts.payload_cap
            )));
        }
        if opts.pids.len() > contract::MAX_PIDS as usize {
            return Err(TraceError::Option(format!(
                "{} processes named (at most {})",
                opts.pids.len(),
                contract::MAX_PIDS
            )));
        }
        let bytes = contract::object().ok_or(TraceError::NotBuilt)?;
        let mut open = ObjectBuilder::default()
            .open_memory(bytes)
            .map_err(|e| TraceError::Load(e.to_string()))?;
        // One of each pair of mmsg exits is loaded: a kernel without bpf_loop would refuse the
        // whole object for the other.
        // TAPFLOW_TRACE_BPF_LOOP=0 loads the programs for kernels without it (tests; a kernel
        // whose bpf_loop misbehaves).
        let mmsg_loop = std::env::var("TAPFLOW_TRACE_BPF_LOOP").as_deref() != Ok("0")
            && ProgramType::Tracepoint
                .is_helper_supported(libbpf_rs::libbpf_sys::BPF_FUNC_loop)
                .unwrap_or(false);
        // The Go TLS programs read their probe's cookie (5.15): loaded only when asked for, and
        // where the kernel has it (else the Go executables are named as not probed).
        let go_cookies = ProgramType::Kprobe
            .is_helper_supported(libbpf_rs::libbpf_sys::BPF_FUNC_get_attach_cookie)
            .unwrap_or(false);
        let go_tls = !opts.go_exes.is_empty() && go_cookies;
        for mut p in open.progs_mut() {
            let name = p.name().to_string_lossy().into_owned();
            if contract::is_go_tls_program(&name) {
                p.set_autoload(go_tls);
            }
            for (plain, looped) in contract::MMSG_LOOP_EXITS {
                if name == *plain {
                    p.set_autoload(!mmsg_loop);
                } else if name == *looped {
                    p.set_autoload(mmsg_loop);
                }
            }
        }
        for mut m in open.maps_mut() {
            if m.name() == maps::EVENTS {
                m.set_max_entries(ring_size(opts.ring_bytes))
                    .map_err(|e| TraceError::Map(maps::EVENTS, e.to_string()))?;
            }
        }
        let obj = open.load().map_err(|e| TraceError::Load(e.to_string()))?;
        let mut t = Tracer {
            obj,
            links: Vec::new(),
            libssl_attached: Vec::new(),
            libssl_failed: Vec::new(),
            go_attached: Vec::new(),
            go_failed: Vec::new(),
            mmsg_loop,
        };
        t.configure(opts)?;
        t.attach_tracepoints(&opts.data_syscalls)?;
        // Kernels since 2025 (and their stable updates) refuse uprobes without CAP_SYS_ADMIN;
        // before, CAP_PERFMON was enough.
        let admin = crate::privileges::effective()
            .is_some_and(|e| crate::privileges::CAP_SYS_ADMIN.in_set(e));
        for lib in &opts.libssl {
            let target = match ssl_elf::inspect(lib) {
                Ok(target) => target,
                Err(e) => {
                    t.libssl_failed.push((lib.clone(), e.to_string()));
                    continue;
                }
            };
            match t.attach_openssl(lib, &target) {
                Ok(links) => {
                    t.links.extend(links);
                    t.libssl_attached.push((lib.clone(), target.describe()));
                }
                Err(e) if !admin => t.libssl_failed.push((
                    lib.clone(),
                    format!("{e} (uprobes need CAP_SYS_ADMIN here)"),
                )),
                Err(e) => t.libssl_failed.push((lib.clone(), e)),
            }
        }
        for (i, exe) in opts.go_exes.iter().enumerate() {
            if !go_cookies {
                t.go_failed.push((
                    exe.clone(),
                    "this kernel has no uprobe cookies (bpf_get_attach_cookie, Linux 5.15)".into(),
                ));
                continue;
            }
            if i >= contract::MAX_GO_EXES as usize {
                t.go_failed.push((
                    exe.clone(),
                    format!("more than {} Go executables", contract::MAX_GO_EXES),
                ));
                continue;
            }
            let slot = t.go_attached.len() as u32;
            match t.attach_go(exe, slot) {
                Ok((links, version)) => {
                    t.links.extend(links);
                    t.go_attached.push((exe.clone(), version));
                }
                Err(e) if !admin => t.go_failed.push((
                    exe.clone(),
                    format!("{e} (uprobes need CAP_SYS_ADMIN here)"),
                )),
                Err(e) => t.go_failed.push((exe.clone(), e)),
            }
        }
        Ok(t)
    }

    fn map(&self, name: &'static str) -> Result<libbpf_rs::Map<'_>, TraceError> {
        self.obj
            .maps()
            .find(|m| m.name() == name)
            .ok_or_else(|| TraceError::Map(name, "missing from the object".into()))
    }

    fn configure(&self, opts: &TraceOptions) -> Result<(), TraceError> {
        // struct tapflow_trace_config.
        let mut cfg = Vec::with_capacity(20);
        cfg.extend_from_slice(&opts.payload_cap.to_le_bytes());
        cfg.extend_from_slice(&std::process::id().to_le_bytes());
        cfg.extend_from_slice(&u32::from(!opts.pids.is_empty()).to_le_bytes());
        cfg.extend_from_slice(&wakeup_bytes(opts.ring_bytes).to_le_bytes());
        cfg.extend_from_slice(&u32::from(opts.unix_sockets).to_le_bytes());
        self.map(maps::CONFIG)?
            .update(&0u32.to_le_bytes(), &cfg, MapFlags::ANY)
            .map_err(|e| TraceError::Map(maps::CONFIG, e.to_string()))?;
        let pids = self.map(maps::PIDS)?;
        for pid in &opts.pids {
            pids.update(&pid.to_le_bytes(), &[1], MapFlags::ANY)
                .map_err(|e| TraceError::Map(maps::PIDS, e.to_string()))?;
        }
        Ok(())
    }

    fn attach_tracepoints(&mut self, data_syscalls: &[String]) -> Result<(), TraceError> {
        for (prog_name, _category, tp) in contract::TRACEPOINTS {
            let call = tp
                .strip_prefix("sys_enter_")
                .or_else(|| tp.strip_prefix("sys_exit_"))
                .unwrap_or(tp);
            if DATA_SYSCALLS.contains(&call) && !data_syscalls.iter().any(|s| s == call) {
                continue;
            }
            let prog_name = match contract::MMSG_LOOP_EXITS
                .iter()
                .find(|(plain, _)| plain == prog_name)
            {
                Some((_, looped)) if self.mmsg_loop => looped,
                _ => prog_name,
            };
            let prog = self
                .obj
                .progs_mut()
                .find(|p| p.name() == *prog_name)
                .ok_or_else(|| TraceError::Attach {
                    what: (*prog_name).into(),
                    reason: "program missing from the object".into(),
                })?;
            let link = prog
                .attach_tracepoint(TracepointCategory::Syscalls, tp)
                .map_err(|e| TraceError::Attach {
                    what: format!("tracepoint syscalls/{tp}"),
                    reason: e.to_string(),
                })?;
            self.links.push(link);
        }
        Ok(())
    }

    fn attach_openssl(
        &self,
        lib: &std::path::Path,
        target: &ssl_elf::SslTarget,
    ) -> Result<Vec<Link>, String> {
        let mut links = Vec::new();
        let probed = contract::OPENSSL_PROBES
            .iter()
            .filter(|(_, func, _)| target.functions.contains(func));
        for (prog_name, func, retprobe) in probed {
            let prog = self
                .obj
                .progs_mut()
                .find(|p| p.name() == *prog_name)
                .ok_or_else(|| format!("program {prog_name} missing"))?;
            let opts = UprobeOpts {
                retprobe: *retprobe,
                func_name: Some((*func).to_string()),
                ..UprobeOpts::default()
            };
            let link = prog
                .attach_uprobe_with_opts(-1, lib, 0, opts)
                .map_err(|e| format!("{func}: {e}"))?;
            links.push(link);
        }
        Ok(links)
    }

    /// Probes Go's crypto/tls in the executable `exe` (what the probes need of it in slot
    /// `slot` of the `go_exes` table, named by the probes' cookie): the two functions' entries and where Read
    /// copies its bytes (or its returns).
    fn attach_go(&self, exe: &std::path::Path, slot: u32) -> Result<(Vec<Link>, String), String> {
        let target = go_elf::inspect(exe).map_err(|e| e.to_string())?;
        // struct go_exe: the itabs' first methods and the entry probes' link-time addresses.
        let mut exe_info = Vec::with_capacity(32);
        for v in [
            target.tcp_close,
            target.unix_close,
            target.write.entry_addr,
            target.read.entry_addr,
        ] {
            exe_info.extend_from_slice(&v.to_le_bytes());
        }
        self.map(maps::GO_EXES)
            .and_then(|m| {
                m.update(&slot.to_le_bytes(), &exe_info, MapFlags::ANY)
                    .map_err(|e| TraceError::Map(maps::GO_EXES, e.to_string()))
            })
            .map_err(|e| e.to_string())?;
        let mut links = Vec::new();
        let mut attach = |prog_name: &str, offset: u64, cookie: u64| -> Result<(), String> {
            let prog = self
                .obj
                .progs_mut()
                .find(|p| p.name() == prog_name)
                .ok_or_else(|| format!("program {prog_name} missing"))?;
            let opts = UprobeOpts {
                cookie,
                ..UprobeOpts::default()
            };
            let link = prog
                .attach_uprobe_with_opts(-1, exe, offset as usize, opts)
                .map_err(|e| format!("{prog_name} at {offset:#x}: {e}"))?;
            links.push(link);
            Ok(())
        };
        let slot = u64::from(slot);
        for ((prog_name, _, reads), func) in contract::GO_TLS_PROBES
            .iter()
            .zip([&target.write, &target.read])
        {
            let on_jbe = if func.entry_on_jbe {
                contract::GO_COOKIE_ON_JBE
            } else {
                0
            };
            attach(prog_name, func.entry, slot | on_jbe)?;
            if !reads {
                continue;
            }
            match func.copy_call {
                Some(copy) => attach(contract::GO_TLS_READ_COPY, copy, slot)?,
                None => {
                    for r in &func.returns {
                        attach(contract::GO_TLS_RETURN, *r, slot)?;
                    }
                }
            }
        }
        Ok((links, target.version))
    }

    /// Attached programs (tracepoints and uprobes).
    pub fn links(&self) -> usize {
        self.links.len()
    }

    /// The BPF side's counters, summed over CPUs, by slot (`contract::counter`).
    pub fn counters(&self) -> [u64; counter::MAX as usize] {
        let mut out = [0u64; counter::MAX as usize];
        let Ok(map) = self.map(maps::COUNTERS) else {
            return out;
        };
        for (slot, v) in out.iter_mut().enumerate() {
            if let Ok(Some(per_cpu)) =
                map.lookup_percpu(&(slot as u32).to_le_bytes(), MapFlags::ANY)
            {
                *v = per_cpu
                    .iter()
                    .filter_map(|b| b.get(..8))
                    .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
                    .sum();
            }
        }
        out
    }

    /// Delivers every event to `handler` until its `on_idle` (called after each poll, at least
    /// every `every`) says stop; then what is still in the ring.
    pub fn run(&self, every: Duration, handler: &mut dyn EventHandler) -> Result<(), TraceError> {
        let events = self.map(maps::EVENTS)?;
        let handler = RefCell::new(handler);
        let mut builder = RingBufferBuilder::new();
        builder
            .add(&events, |b: &[u8]| {
                handler.borrow_mut().on_event(b);
                0
            })
            .map_err(|e| TraceError::Map(maps::EVENTS, e.to_string()))?;
        let rb = builder
            .build()
            .map_err(|e| TraceError::Map(maps::EVENTS, e.to_string()))?;
        loop {
            // EINTR (a signal) is not an error: on_idle decides.
            let _ = rb.poll(every);
            if !handler.borrow_mut().on_idle() {
                break;
            }
        }
        let _ = rb.consume();
        Ok(())
    }
}

/// Where the tracer's events go.
pub trait EventHandler {
    /// One raw event (decode with [`event::decode`]).
    fn on_event(&mut self, raw: &[u8]);
    /// Between polls: false stops the tracer's loop.
    fn on_idle(&mut self) -> bool;
}
