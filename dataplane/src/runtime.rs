//! A live run: one pinned worker per (interface, queue), run-to-completion (each worker captures
//! and analyses its own share: AF_PACKET fanout hashes both directions of a flow to the same
//! socket), one output thread writing the sinks, a summary once per second, and a clean stop on
//! SIGINT / SIGTERM or after a duration: workers close all their flows before exiting.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tapflow_analyzer::{Analyzer, AnalyzerConfig, Counters, RecordSink};

use crate::af_packet::AfPacketSource;
use crate::output::{batch_channel, run_output};
use crate::source::SourceError;
use crate::sys::af_packet::{RingConfig, FANOUT_HASH};
use crate::sys::{cpu, signal};
use crate::worker::{run_live, WorkerStats};

/// Record batches buffered per worker before the output thread must catch up.
const OUTPUT_RING_BATCHES: usize = 1024;

/// Capture engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    AfPacket,
    AfXdp,
    /// AF_XDP when it can bind, else AF_PACKET.
    Auto,
}

/// What to run.
#[derive(Debug, Clone)]
pub struct LiveConfig {
    pub ifaces: Vec<String>,
    /// Sockets (workers) per interface.
    pub queues: u16,
    /// Cores to pin workers to, in order (empty = no pinning).
    pub cores: Vec<usize>,
    pub engine: Engine,
    pub analyzer: AnalyzerConfig,
    pub ring: RingConfig,
    /// Stop after this long (None = until a signal).
    pub duration: Option<Duration>,
}

/// Once-per-second view of the run.
#[derive(Debug, Clone, Copy, Default)]
pub struct LiveSummary {
    pub elapsed: Duration,
    pub frames: u64,
    pub bytes: u64,
    pub drops: u64,
    pub active_flows: u64,
    pub workers: usize,
}

/// How a run ended.
#[derive(Debug, Clone, Default)]
pub struct LiveReport {
    pub engine: &'static str,
    pub counters: Counters,
    pub frames: u64,
    pub bytes: u64,
    pub kernel_drops: u64,
    /// Records the output thread could not take in time.
    pub records_dropped: u64,
    pub notes: Vec<String>,
}

/// Why a run could not start or failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    #[error("no capture interface: give --iface or inputs.cbpf.af_packet.interface_regex")]
    NoInterfaces,
    #[error("cannot open {engine} capture on {iface}: {source}{hint}")]
    Open {
        engine: &'static str,
        iface: String,
        source: std::io::Error,
        hint: &'static str,
    },
    #[error(
        "the AF_XDP engine is not available in this build yet; use --engine af_packet (or auto)"
    )]
    AfXdpUnavailable,
    #[error("capture failed: {0}")]
    Source(#[from] SourceError),
    #[error("a worker thread panicked")]
    WorkerPanicked,
}

fn open_hint(e: &std::io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => " (needs root or CAP_NET_RAW + CAP_IPC_LOCK)",
        _ => "",
    }
}

/// Runs until stopped; records go to `sink` (on the calling thread), `on_second` sees progress.
pub fn run(
    cfg: &LiveConfig,
    sink: &mut impl RecordSink,
    mut on_second: impl FnMut(&LiveSummary),
) -> Result<LiveReport, RunError> {
    if cfg.ifaces.is_empty() {
        return Err(RunError::NoInterfaces);
    }
    let mut report = LiveReport {
        engine: "af_packet",
        ..LiveReport::default()
    };
    match cfg.engine {
        Engine::AfPacket => {}
        Engine::AfXdp => return Err(RunError::AfXdpUnavailable),
        Engine::Auto => report
            .notes
            .push("engine auto: AF_XDP is not in this build yet, using AF_PACKET".into()),
    }
    let queues = cfg.queues.max(1);
    let mut sources = Vec::new();
    for (i, iface) in cfg.ifaces.iter().enumerate() {
        let group = ((std::process::id() as usize + i) & 0xFFFF) as u16;
        for q in 0..queues {
            let ring = RingConfig {
                fanout: (queues > 1).then_some((group, FANOUT_HASH)),
                ..cfg.ring
            };
            let src = AfPacketSource::open(iface, q, &ring).map_err(|source| RunError::Open {
                engine: "AF_PACKET",
                iface: iface.clone(),
                hint: open_hint(&source),
                source,
            })?;
            sources.push(src);
        }
    }
    let workers = sources.len();
    let stats: Vec<WorkerStats> = (0..workers).map(|_| WorkerStats::default()).collect();
    let started = Instant::now();
    let result = std::thread::scope(|scope| {
        let mut rings = Vec::new();
        let mut handles = Vec::new();
        for (w, mut src) in sources.into_iter().enumerate() {
            let (mut batch_sink, ring) = batch_channel(OUTPUT_RING_BATCHES);
            rings.push(ring);
            let mut acfg = cfg.analyzer.clone();
            acfg.worker_id = w as u8;
            let core = (!cfg.cores.is_empty()).then(|| cfg.cores[w % cfg.cores.len()]);
            let published = &stats[w];
            handles.push(scope.spawn(move || {
                let pinned = core.map(cpu::pin_current_thread);
                let mut analyzer = Analyzer::new(acfg);
                let r = run_live(
                    &mut src,
                    &mut analyzer,
                    &mut batch_sink,
                    published,
                    signal::stop_requested,
                );
                if r.is_err() {
                    // One worker failing ends the run for all (the operator sees the error).
                    signal::request_stop();
                }
                published.done.store(true, Ordering::Release);
                (r, batch_sink.dropped, pinned)
            }));
        }
        let mut last = Instant::now();
        run_output(rings, sink, || {
            if cfg.duration.is_some_and(|d| started.elapsed() >= d) {
                signal::request_stop();
            }
            if last.elapsed() >= Duration::from_secs(1) {
                last = Instant::now();
                let mut s = LiveSummary {
                    elapsed: started.elapsed(),
                    workers,
                    ..LiveSummary::default()
                };
                for st in &stats {
                    s.frames += st.frames.load(Ordering::Relaxed);
                    s.bytes += st.bytes.load(Ordering::Relaxed);
                    s.drops += st.drops.load(Ordering::Relaxed);
                    s.active_flows += st.active_flows.load(Ordering::Relaxed);
                }
                on_second(&s);
            }
        });
        let mut first_err = None;
        for h in handles {
            match h.join() {
                Ok((Ok((run, counters, drops)), dropped, pinned)) => {
                    report.frames += run.frames;
                    report.bytes += run.bytes;
                    report.kernel_drops += drops;
                    report.records_dropped += dropped;
                    report.counters.merge(&counters);
                    if let Some(Err(e)) = pinned {
                        report.notes.push(format!("could not pin a worker: {e}"));
                    }
                }
                Ok((Err(e), _, _)) => {
                    first_err.get_or_insert(RunError::Source(e));
                }
                Err(_) => {
                    first_err.get_or_insert(RunError::WorkerPanicked);
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    });
    result.map(|()| report)
}
