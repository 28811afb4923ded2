//! One tracing session: the tracer attached, every event decoded, filtered by process name,
//! resolved to its connection (from BPF, else /proc), turned into l7 rows by the analyzer's
//! [`SyscallTracker`] and written to a sink, until told to stop. `tapflow trace` runs it on the
//! main thread into the output fan-out; `tapflow run --ebpf` on a thread of its own into a
//! record ring to the run's output thread.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tapflow_analyzer::l7::L7Config;
use tapflow_analyzer::syscall::{SyscallConfig, SyscallTracker};
use tapflow_analyzer::RecordSink;
use tapflow_xdp_prog::trace::counter;

use super::route_source::RouteSources;
use super::{event, procfs, EventHandler, TraceError, TraceOptions, Tracer};
use crate::sys::clock;

/// Told about each process the first time one of its events arrives (after the `--comm`
/// filter): `tapflow trace` describes it (name, command line, tags) in processes.jsonl.
pub trait ProcessObserver: Send {
    fn on_new_process(&mut self, pid: u32, comm: &[u8]);
}

/// A shared [`ProcessObserver`] (the session runs on its own thread in `tapflow run --ebpf`).
#[derive(Clone)]
pub struct Observer(pub Arc<Mutex<dyn ProcessObserver>>);

impl std::fmt::Debug for Observer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Observer")
    }
}

/// Processes remembered as already described (then forgotten all at once).
const SEEN_PROCESSES: usize = 65_536;

/// What a session traces and how.
#[derive(Debug, Clone)]
pub struct TraceSettings {
    pub opts: TraceOptions,
    pub sockets: SyscallConfig,
    pub l7: L7Config,
    /// Only processes whose name (comm) matches.
    pub comm: Option<regex::Regex>,
    pub proc_root: PathBuf,
    /// Written once every probe is attached (the number of probes), removed at the end:
    /// scripts and tests wait for it before sending traffic.
    pub ready_file: Option<PathBuf>,
    /// Told about each new process.
    pub processes: Option<Observer>,
    /// Called once every probe is attached, with what was and was not (`tapflow run --ebpf`
    /// names the files that could not be probed, as `tapflow trace` does).
    pub on_attached: fn(&super::Tracer),
}

impl TraceSettings {
    pub fn new(opts: TraceOptions, l7: L7Config) -> Self {
        TraceSettings {
            opts,
            sockets: SyscallConfig::default(),
            l7,
            comm: None,
            proc_root: PathBuf::from("/proc"),
            ready_file: None,
            processes: None,
            on_attached: |_| {},
        }
    }
}

/// What a session did: attachments and counters (for stats.json).
#[derive(Debug, Clone, Default)]
pub struct TraceReport {
    pub probes: usize,
    /// TLS libraries probed (with what they are and the functions probed), and those that
    /// could not be.
    pub libssl: Vec<(PathBuf, String)>,
    pub libssl_failed: Vec<(PathBuf, String)>,
    /// Go executables probed (with their Go version), and those that could not be.
    pub go: Vec<(PathBuf, String)>,
    pub go_failed: Vec<(PathBuf, String)>,
    /// Counter name -> value: the tracker's (`trace.*`), its L7 layer's (`l7.*`), the BPF
    /// side's (`trace.bpf.*`) and this loop's.
    pub counters: Vec<(String, u64)>,
    /// L7 rows written.
    pub rows: u64,
}

impl TraceReport {
    pub fn get(&self, name: &str) -> u64 {
        self.counters
            .iter()
            .find(|(n, _)| n == name)
            .map_or(0, |(_, v)| *v)
    }
}

#[derive(Debug, Default)]
struct LoopCounters {
    decode_errors: u64,
    filtered_comm: u64,
    resolved_by_proc: u64,
    unresolved: u64,
}

struct Handler<'a, S: Fn() -> bool> {
    tracker: SyscallTracker,
    sink: &'a mut dyn RecordSink,
    settings: &'a TraceSettings,
    mono_to_real: u64,
    counters: LoopCounters,
    seen: HashSet<u32>,
    routes: RouteSources,
    stop: S,
}

fn wall_ns(mono_to_real: u64) -> u64 {
    clock::monotonic_and_realtime_ns()
        .0
        .wrapping_add(mono_to_real)
}

impl<S: Fn() -> bool> EventHandler for Handler<'_, S> {
    fn on_event(&mut self, raw: &[u8]) {
        let Ok(e) = event::decode(raw) else {
            self.counters.decode_errors += 1;
            return;
        };
        if let Some(re) = &self.settings.comm {
            let len = e.comm.iter().position(|&c| c == 0).unwrap_or(16);
            if !re.is_match(&String::from_utf8_lossy(&e.comm[..len])) {
                self.counters.filtered_comm += 1;
                return;
            }
        }
        if let Some(o) = &self.settings.processes {
            if self.seen.len() >= SEEN_PROCESSES {
                self.seen.clear();
            }
            if self.seen.insert(e.tgid) {
                let len = e.comm.iter().position(|&c| c == 0).unwrap_or(16);
                if let Ok(mut o) = o.0.lock() {
                    o.on_new_process(e.tgid, &e.comm[..len]);
                }
            }
        }
        let mut ends = match event::tuple(&e) {
            Some(t) => t,
            None => match procfs::tcp_tuple(&self.settings.proc_root, e.tgid, e.fd) {
                Some(t) => {
                    self.counters.resolved_by_proc += 1;
                    t
                }
                None => {
                    self.counters.unresolved += 1;
                    return;
                }
            },
        };
        // A UDP socket bound to no address, its peer not on loopback: the source Linux routes
        // its datagrams from (loopback peers are the analyzer's to name).
        let ((local, _), (peer, _)) = ends;
        if e.proto == event::IPPROTO_UDP
            && local.is_unspecified()
            && !peer.is_loopback()
            && !peer.is_unspecified()
        {
            if let Some(src) = self.routes.source(e.tgid, e.netns, peer, e.ts_mono_ns) {
                ends.0 .0 = src;
            }
        }
        let ev = e.socket_event(self.mono_to_real, ends);
        self.tracker.on_event(&ev, self.sink);
    }

    fn on_idle(&mut self) -> bool {
        let now = wall_ns(self.mono_to_real);
        self.tracker.tick(now, self.sink);
        self.sink.tick(now);
        self.sink.flush_batches();
        !(self.stop)()
    }
}

/// Attaches the tracer, calls `on_attached` (everything is in place: tests and scripts may
/// start traffic), then delivers rows to `sink` until `stop` says so; open requests are
/// reported at the end.
pub fn run_session(
    settings: &TraceSettings,
    sink: &mut dyn RecordSink,
    on_attached: impl FnOnce(&Tracer),
    stop: impl Fn() -> bool,
) -> Result<TraceReport, TraceError> {
    let tracer = Tracer::start(&settings.opts)?;
    on_attached(&tracer);
    if let Some(f) = &settings.ready_file {
        let _ = std::fs::write(f, format!("{}\n", tracer.links()));
    }
    let (mono, real) = clock::monotonic_and_realtime_ns();
    let mut h = Handler {
        tracker: SyscallTracker::new(settings.sockets.clone(), settings.l7.clone()),
        sink,
        settings,
        mono_to_real: real.wrapping_sub(mono),
        counters: LoopCounters::default(),
        seen: HashSet::new(),
        routes: RouteSources::new(settings.proc_root.clone()),
        stop,
    };
    let ran = tracer.run(Duration::from_millis(100), &mut h);
    if let Some(f) = &settings.ready_file {
        let _ = std::fs::remove_file(f);
    }
    ran?;
    h.tracker.finish(h.sink);
    h.sink.flush_batches();
    let bpf = tracer.counters();
    let mut counters: Vec<(String, u64)> = h
        .tracker
        .counters()
        .entries()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    counters.extend(
        h.tracker
            .l7_counters()
            .entries()
            .into_iter()
            .map(|(k, v)| (format!("trace.{k}"), v)),
    );
    counters.extend(
        counter::NAMES
            .iter()
            .zip(bpf)
            .map(|(n, v)| (format!("trace.bpf.{n}"), v)),
    );
    let c = &h.counters;
    counters.extend([
        ("trace.decode_errors".to_string(), c.decode_errors),
        ("trace.filtered_comm".to_string(), c.filtered_comm),
        ("trace.resolved_by_proc".to_string(), c.resolved_by_proc),
        ("trace.unresolved".to_string(), c.unresolved),
    ]);
    let r = h.routes.counters;
    counters.extend([
        ("trace.udp_source.found".to_string(), r.found),
        ("trace.udp_source.unknown".to_string(), r.unknown),
        ("trace.udp_source.lookups".to_string(), r.lookups),
        // Messages of one sendmmsg / recvmmsg call emitted (the rest: trace.bpf.mmsg_unsent).
        (
            "trace.mmsg_per_call".to_string(),
            u64::from(if tracer.mmsg_loop {
                tapflow_xdp_prog::trace::MMSG_PER_CALL_LOOP
            } else {
                tapflow_xdp_prog::trace::MMSG_PER_CALL_UNROLLED
            }),
        ),
    ]);
    Ok(TraceReport {
        probes: tracer.links(),
        libssl: tracer.libssl_attached.clone(),
        libssl_failed: tracer.libssl_failed.clone(),
        go: tracer.go_attached.clone(),
        go_failed: tracer.go_failed.clone(),
        rows: h.tracker.l7_counters().records,
        counters,
    })
}
