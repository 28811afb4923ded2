//! A live run: one pinned capture worker per (interface, queue); either run-to-completion (each
//! worker also analyses its share: AF_PACKET fanout / symmetric RSS hash both directions of a flow
//! to one queue) or pipeline (capture workers steer frames to analyzer workers by the inner flow,
//! see [`crate::pipeline`]); one output thread writing the sinks, a summary once per second, and a
//! clean stop on SIGINT / SIGTERM or after a duration: workers close all their flows before exiting.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tapflow_analyzer::{Analyzer, AnalyzerConfig, Counters, RecordSink};

use crate::af_packet::AfPacketSource;
use crate::af_xdp::AfXdpSource;
use crate::capture_rate::RateLimited;
use crate::fanout_steering::FanoutSteering;
use crate::output::{batch_channel, run_output};
use crate::pipeline::{lane, run_capture, LaneRx, LaneSource, LaneTx};
use crate::privileges;
use crate::source::{Burst, Frame, PacketSource, QueueReport, SourceError, SourceStats};
use crate::sys::af_packet::{RingConfig, FANOUT_EBPF, FANOUT_HASH};
use crate::sys::xsk::XskConfig;
use crate::sys::{cpu, signal};
use crate::worker::{Clock, RunStats, Worker, WorkerStats};
use crate::xdp::{XdpError, XdpProgram};

/// Capture engine, with its own settings.
#[derive(Debug, Clone)]
pub enum Engine {
    AfPacket(RingConfig),
    AfXdp(XdpSettings),
    /// AF_XDP when it can bind, else AF_PACKET.
    Auto {
        xdp: XdpSettings,
        ring: RingConfig,
    },
    /// DPDK poll-mode drivers (build feature `dpdk`).
    Dpdk(DpdkSettings),
}

impl Engine {
    /// The engine's name in stats.json and messages.
    pub fn name(&self) -> &'static str {
        match self {
            Engine::AfPacket(_) => "af_packet",
            Engine::AfXdp(_) => "af_xdp",
            Engine::Auto { .. } => "auto",
            Engine::Dpdk(_) => "dpdk",
        }
    }
}

/// AF_XDP engine settings.
#[derive(Debug, Clone, Default)]
pub struct XdpSettings {
    /// Socket settings (UMEM and rings are sized from `max_memory` when the run starts).
    pub xsk: XskConfig,
    /// Attach XDP in generic (SKB) mode even where native mode would work.
    pub generic: bool,
    /// Early filter: EtherTypes passed to the kernel stack / dropped, not captured.
    pub pass_ethertypes: Vec<u16>,
    pub drop_ethertypes: Vec<u16>,
}

/// DPDK engine settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DpdkSettings {
    /// EAL arguments (without `argv[0]`), e.g. `-l 0-1 --vdev net_pcap0,rx_pcap=x.pcap`.
    pub eal_args: Vec<String>,
    /// Ports by name: PCI addresses (`0000:01:00.0`) or vdev names (`net_pcap0`).
    pub ports: Vec<String>,
    /// Mbufs in the rx mempool.
    pub mempool_mbufs: u32,
    /// Packets per rx burst (1-64).
    pub burst: u16,
}

/// How capture and analysis are split over threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerMode {
    /// Each worker captures and analyses its share (symmetric RSS / fanout, or one queue).
    RunToCompletion,
    /// Capture workers steer frames to this many analyzer workers by the inner flow.
    Pipeline { analyzers: usize },
}

/// What one worker thread ended with.
#[derive(Debug, Default)]
struct Outcome {
    run: RunStats,
    counters: Option<Counters>,
    kernel_drops: u64,
    ring_full: u64,
    records_dropped: u64,
    pinned: Option<std::io::Result<()>>,
    error: Option<SourceError>,
    queue: Option<QueueReport>,
}

/// What to run.
#[derive(Debug, Clone)]
pub struct LiveConfig {
    pub mode: WorkerMode,
    pub ifaces: Vec<String>,
    /// Sockets (workers) per interface.
    pub queues: u16,
    /// Cores to pin workers to, in order (empty = no pinning).
    pub cores: Vec<usize>,
    pub engine: Engine,
    pub analyzer: AnalyzerConfig,
    /// `global.limits.max_memory` (MiB): sizes AF_XDP UMEMs.
    pub max_memory_mib: u64,
    /// Stop after this long (None = until a signal).
    pub duration: Option<Duration>,
    /// Analyzer configurations published while running (hot settings; see
    /// `AnalyzerConfig::restart_only_changes`).
    pub epoch: Option<std::sync::Arc<crate::epoch::ConfigEpoch>>,
    /// What the output stage holds (metric key tables, sender queues): counted in the memory
    /// budget with the rest (`memory::plan`).
    pub output_shares: Vec<crate::memory::Share>,
    /// The syscall tracer, running beside the capture (`tapflow run --ebpf`): its rows join the
    /// run's output.
    pub trace: Option<crate::trace::session::TraceSettings>,
    /// `max_capture_pps` over every capture worker (0: none; changes while running).
    pub capture_rate: std::sync::Arc<crate::capture_rate::CaptureRate>,
}

/// Once-per-second view of the run.
#[derive(Debug, Clone, Default)]
pub struct LiveSummary {
    pub elapsed: Duration,
    pub frames: u64,
    pub bytes: u64,
    pub drops: u64,
    pub active_flows: u64,
    pub workers: usize,
    /// Every worker's analyzer counters, summed (as of their last publication, 100 ms at most).
    pub counters: Counters,
    /// Per worker (in start order): frames, kernel drops, active flows.
    pub per_worker: Vec<[u64; 3]>,
}

/// How a run ended.
#[derive(Debug, Clone, Default)]
pub struct LiveReport {
    pub engine: &'static str,
    /// XDP program counters (AF_XDP): frames seen, redirected, filtered, redirect failures.
    pub xdp: Option<crate::xdp::XdpCounters>,
    /// "native" or "generic" (AF_XDP).
    pub xdp_mode: Option<&'static str>,
    pub counters: Counters,
    pub frames: u64,
    pub bytes: u64,
    pub kernel_drops: u64,
    /// Records the output thread could not take in time.
    pub records_dropped: u64,
    /// Frames a capture worker could not hand to an analyzer (pipeline mode).
    pub ring_full_drops: u64,
    /// Per capture queue counters.
    pub queues: Vec<QueueReport>,
    /// DPDK port counters (ipackets, imissed, ierrors, rx_nombuf).
    pub ports: Vec<QueueReport>,
    pub notes: Vec<String>,
    /// The syscall tracer's session, when it ran.
    pub trace: Option<crate::trace::session::TraceReport>,
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
    /// A capability the engine needs is missing (the message names it and how to grant it).
    #[error("{0}")]
    Privileges(String),
    #[error("AF_XDP: {0}")]
    Xdp(#[from] XdpError),
    #[error("capture failed: {0}")]
    Source(#[from] SourceError),
    #[error("a worker thread panicked")]
    WorkerPanicked,
    #[error("this tapflow was built without DPDK: install dpdk-dev and libclang-dev, then rebuild with `cargo build --release --features dpdk`")]
    DpdkNotBuilt,
    #[error("DPDK: {0}")]
    Dpdk(String),
    /// The syscall tracer could not start or failed.
    #[error("syscall tracer: {0}")]
    Trace(String),
    /// The run's parts do not fit `global.limits.max_memory` (the table lists them).
    #[error("the run needs more memory than global.limits.max_memory allows; its parts:\n{0}\nraise max_memory, or lower concurrent_flow_limit, the queues or the outputs")]
    Memory(String),
}

fn open_hint(e: &std::io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => {
            " (needs root or CAP_NET_RAW: see docs/deployment.md, running without root)"
        }
        _ => "",
    }
}

/// Runs until stopped; records go to `sink` (on the calling thread), `on_second` sees progress.
pub fn run(
    cfg: &LiveConfig,
    sink: &mut impl RecordSink,
    mut on_second: impl FnMut(&LiveSummary),
) -> Result<LiveReport, RunError> {
    let plan = crate::memory::plan(cfg, &cfg.output_shares);
    if !plan.fits() {
        return Err(RunError::Memory(plan.table()));
    }
    if let Engine::Dpdk(d) = &cfg.engine {
        if cfg.trace.is_some() {
            return Err(RunError::Trace(
                "--ebpf runs with the AF_XDP and AF_PACKET engines; beside DPDK run `tapflow trace`"
                    .into(),
            ));
        }
        return run_dpdk(cfg, d, sink, &mut on_second);
    }
    if cfg.ifaces.is_empty() {
        return Err(RunError::NoInterfaces);
    }
    let mut report = LiveReport::default();
    // The XDP programs stay attached for the whole run and are detached when these guards drop.
    let mut programs: Vec<XdpProgram> = Vec::new();
    let af_packet_allowed =
        || privileges::check("AF_PACKET", privileges::AF_PACKET, 0).map_err(RunError::Privileges);
    let af_xdp_allowed = |xdp: &XdpSettings| {
        privileges::check("AF_XDP", privileges::AF_XDP, umem_bytes(cfg, &xdp.xsk))
            .map_err(RunError::Privileges)
    };
    let sources = match &cfg.engine {
        Engine::AfPacket(ring) => {
            af_packet_allowed()?;
            open_af_packet(cfg, ring, &mut report.notes)?
        }
        Engine::AfXdp(xdp) => {
            af_xdp_allowed(xdp)?;
            open_af_xdp(cfg, xdp, &mut programs)?
        }
        Engine::Auto { xdp, ring } => {
            match af_xdp_allowed(xdp).and_then(|()| open_af_xdp(cfg, xdp, &mut programs)) {
                Ok(s) => s,
                Err(e) => {
                    programs.clear();
                    report.notes.push(format!(
                        "engine auto: AF_XDP unavailable ({e}); using AF_PACKET"
                    ));
                    af_packet_allowed()?;
                    open_af_packet(cfg, ring, &mut report.notes)?
                }
            }
        }
        Engine::Dpdk(_) => unreachable!("DPDK runs through run_dpdk"),
    };
    report.engine = match sources.first() {
        Some(LiveSource::AfXdp(_)) => "af_xdp",
        _ => "af_packet",
    };
    for p in &programs {
        report
            .notes
            .push(format!("XDP program attached in {} mode", p.mode.name()));
        report.xdp_mode = Some(p.mode.name());
    }
    let result = run_workers(cfg, sources, &mut report, sink, &mut on_second);
    if !programs.is_empty() {
        let mut total = crate::xdp::XdpCounters::default();
        for p in &programs {
            let c = p.counters();
            total.seen += c.seen;
            total.redirected += c.redirected;
            total.filtered += c.filtered;
            total.redirect_failed += c.redirect_failed;
        }
        report.xdp = Some(total);
    }
    drop(programs);
    result.map(|()| report)
}

/// A live source of any engine (static dispatch: one worker loop for all).
#[derive(Debug)]
enum LiveSource<'p> {
    AfPacket(AfPacketSource),
    AfXdp(AfXdpSource),
    #[cfg(feature = "dpdk")]
    Dpdk(crate::dpdk::DpdkSource<'p>),
    #[cfg(not(feature = "dpdk"))]
    #[allow(dead_code)]
    Never(std::marker::PhantomData<&'p ()>, std::convert::Infallible),
}

impl PacketSource for LiveSource<'_> {
    /// The engine's bursts as it hands them (whole RX bursts, AF_PACKET blocks' frames).
    fn poll_burst_slices(&mut self, f: impl FnMut(&mut [Frame<'_>])) -> Result<Burst, SourceError> {
        match self {
            LiveSource::AfPacket(s) => s.poll_burst_slices(f),
            LiveSource::AfXdp(s) => s.poll_burst_slices(f),
            #[cfg(feature = "dpdk")]
            LiveSource::Dpdk(s) => s.poll_burst_slices(f),
            #[cfg(not(feature = "dpdk"))]
            LiveSource::Never(_, never) => match *never {},
        }
    }

    fn take_stats(&mut self) -> SourceStats {
        match self {
            LiveSource::AfPacket(s) => s.take_stats(),
            LiveSource::AfXdp(s) => s.take_stats(),
            #[cfg(feature = "dpdk")]
            LiveSource::Dpdk(s) => s.take_stats(),
            #[cfg(not(feature = "dpdk"))]
            LiveSource::Never(_, never) => match *never {},
        }
    }

    fn queue_report(&mut self) -> Option<QueueReport> {
        match self {
            LiveSource::AfPacket(s) => s.queue_report(),
            LiveSource::AfXdp(s) => s.queue_report(),
            #[cfg(feature = "dpdk")]
            LiveSource::Dpdk(s) => s.queue_report(),
            #[cfg(not(feature = "dpdk"))]
            LiveSource::Never(_, never) => match *never {},
        }
    }
}

fn open_af_packet(
    cfg: &LiveConfig,
    ring_cfg: &RingConfig,
    notes: &mut Vec<String>,
) -> Result<Vec<LiveSource<'static>>, RunError> {
    let queues = cfg.queues.max(1);
    let mut ring_cfg = *ring_cfg;
    // Mode 7: tapflow's steering program (kept loaded until every group has it).
    let mut _steering = None;
    if queues > 1 && ring_cfg.fanout_mode == FANOUT_EBPF {
        match FanoutSteering::load(&cfg.analyzer.decode).and_then(|s| Ok((s.fd()?, s))) {
            Ok((fd, s)) => {
                ring_cfg.fanout_program = Some(fd);
                _steering = Some(s);
                notes.push(
                    "fanout: tapflow's steering program spreads the innermost flows (mode 7, ebpf)"
                        .into(),
                );
            }
            Err(e) => {
                ring_cfg.fanout_mode = FANOUT_HASH;
                notes.push(format!(
                    "fanout mode 7 (ebpf): the steering program could not be loaded ({e}); using 0 (hash)"
                ));
            }
        }
    }
    let ring_cfg = &ring_cfg;
    let mut sources = Vec::new();
    for (i, iface) in cfg.ifaces.iter().enumerate() {
        let group = ((std::process::id() as usize + i) & 0xFFFF) as u16;
        for q in 0..queues {
            let ring = RingConfig {
                fanout: (queues > 1).then_some((group, ring_cfg.fanout_mode)),
                ..*ring_cfg
            };
            let src = AfPacketSource::open(iface, q, &ring).map_err(|source| RunError::Open {
                engine: "AF_PACKET",
                iface: iface.clone(),
                hint: open_hint(&source),
                source,
            })?;
            sources.push(LiveSource::AfPacket(src));
        }
    }
    Ok(sources)
}

/// UMEM and rings per AF_XDP socket from the memory budget: an eighth of `max_memory` for all
/// UMEMs, as a power of two between 1024 and 32768 frames per socket.
fn umem_sized(cfg: &LiveConfig, base: &XskConfig) -> XskConfig {
    let sockets = (cfg.ifaces.len() * usize::from(cfg.queues.max(1))).max(1) as u64;
    let budget = cfg.max_memory_mib * 1024 * 1024 / 8 / sockets;
    let frames = (budget / u64::from(base.frame_size)).clamp(1024, 32768);
    let frames = 1u32 << (63 - frames.leading_zeros());
    XskConfig {
        frames,
        rx_size: (frames / 2).min(8192),
        ..*base
    }
}

/// Locked memory the AF_XDP sockets' UMEMs take.
pub(crate) fn umem_bytes(cfg: &LiveConfig, base: &XskConfig) -> u64 {
    let x = umem_sized(cfg, base);
    let sockets = (cfg.ifaces.len() * usize::from(cfg.queues.max(1))).max(1) as u64;
    u64::from(x.frames) * u64::from(x.frame_size) * sockets
}

/// Attaches the XDP program to every interface and binds one AF_XDP socket per rx queue.
fn open_af_xdp(
    cfg: &LiveConfig,
    xdp: &XdpSettings,
    programs: &mut Vec<XdpProgram>,
) -> Result<Vec<LiveSource<'static>>, RunError> {
    let mut sources = Vec::new();
    let xsk = umem_sized(cfg, &xdp.xsk);
    for iface in &cfg.ifaces {
        let ifindex = crate::sys::ifindex(iface).map_err(|source| RunError::Open {
            engine: "AF_XDP",
            iface: iface.clone(),
            hint: "",
            source,
        })?;
        let prog = XdpProgram::attach(ifindex, xdp.generic)?;
        for (list, pass) in [(&xdp.pass_ethertypes, true), (&xdp.drop_ethertypes, false)] {
            for t in list {
                prog.filter_ethertype(*t, pass)?;
            }
        }
        for q in 0..cfg.queues.max(1) {
            let src =
                AfXdpSource::open(iface, ifindex, q, &xsk).map_err(|source| RunError::Open {
                    engine: "AF_XDP",
                    iface: iface.clone(),
                    hint: if source.raw_os_error() == Some(libc::EINVAL) {
                        " (does the interface have that many rx queues?)"
                    } else {
                        open_hint(&source)
                    },
                    source,
                })?;
            prog.register_socket(u32::from(q), src.raw_fd())?;
            sources.push(LiveSource::AfXdp(src));
        }
        programs.push(prog);
    }
    Ok(sources)
}

/// Runs capture (and analyzer) workers over `sources` until stopped; the output thread is the
/// caller's thread.
fn run_workers<'s>(
    cfg: &LiveConfig,
    sources: Vec<LiveSource<'s>>,
    report: &mut LiveReport,
    sink: &mut impl RecordSink,
    on_second: &mut impl FnMut(&LiveSummary),
) -> Result<(), RunError> {
    // The tables' split over the analyzers and the record rings' size come from the budget.
    let plan = crate::memory::plan(cfg, &cfg.output_shares);
    let (captures, analyzers) = match cfg.mode {
        WorkerMode::RunToCompletion => (sources.len(), 0),
        WorkerMode::Pipeline { analyzers } => (sources.len(), analyzers.max(1)),
    };
    let threads = captures + analyzers;
    let stats: Vec<WorkerStats> = (0..threads).map(|_| WorkerStats::default()).collect();
    let core_of = |t: usize| (!cfg.cores.is_empty()).then(|| cfg.cores[t % cfg.cores.len()]);
    let started = Instant::now();
    std::thread::scope(|scope| {
        let mut rings = Vec::new();
        let mut handles = Vec::new();
        if analyzers == 0 {
            // Run to completion: each worker captures and analyses its share.
            for (w, src) in sources.into_iter().enumerate() {
                let (batch_sink, ring) = batch_channel(plan.ring_batches);
                rings.push(ring);
                let acfg = AnalyzerConfig {
                    worker_id: w as u8,
                    ..cfg.analyzer.per_worker(plan.analyzers)
                };
                let (core, published) = (core_of(w), &stats[w]);
                handles.push(scope.spawn(move || {
                    let pinned = core.map(cpu::pin_current_thread);
                    let mut src = RateLimited::new(src, &cfg.capture_rate, captures);
                    let mut analyzer = Analyzer::new(acfg);
                    let mut worker = Worker::new(&mut analyzer, batch_sink);
                    worker.published = Some(published);
                    worker.epoch = cfg.epoch.as_deref();
                    let r = worker.run(&mut src, Clock::Wall, signal::stop_requested, |_, _| {});
                    let (run, batch_sink) = worker.finish();
                    let queue = src.queue_report().map(|q| QueueReport {
                        captured: published.frames.load(Ordering::Relaxed),
                        ..q
                    });
                    let mut out = Outcome {
                        pinned,
                        records_dropped: batch_sink.dropped,
                        queue,
                        run,
                        kernel_drops: run.drops,
                        counters: Some(analyzer.counters().clone()),
                        ..Outcome::default()
                    };
                    if let Err(e) = r {
                        // One worker failing ends the run for all (the operator sees the error).
                        signal::request_stop();
                        out.error = Some(e);
                    }
                    out
                }));
            }
        } else {
            // Pipeline: capture workers steer frames to analyzer workers over SPSC lanes.
            let mut tx: Vec<Vec<LaneTx>> = (0..captures).map(|_| Vec::new()).collect();
            let mut rx: Vec<Vec<LaneRx>> = (0..analyzers).map(|_| Vec::new()).collect();
            for lanes_of_capture in tx.iter_mut() {
                for lanes_of_analyzer in rx.iter_mut() {
                    let (t, r) = lane();
                    lanes_of_capture.push(t);
                    lanes_of_analyzer.push(r);
                }
            }
            for (a, lanes) in rx.into_iter().enumerate() {
                let (batch_sink, ring) = batch_channel(plan.ring_batches);
                rings.push(ring);
                let acfg = AnalyzerConfig {
                    worker_id: a as u8,
                    ..cfg.analyzer.per_worker(plan.analyzers)
                };
                let t = captures + a;
                let (core, published) = (core_of(t), &stats[t]);
                handles.push(scope.spawn(move || {
                    let pinned = core.map(cpu::pin_current_thread);
                    let mut analyzer = Analyzer::new(acfg);
                    let mut source = LaneSource::new(lanes);
                    let mut worker = Worker::new(&mut analyzer, batch_sink);
                    worker.published = Some(published);
                    worker.epoch = cfg.epoch.as_deref();
                    // Runs until every capture worker is gone (the lanes end), never stopped
                    // early: what the capture workers queued is analysed.
                    let r = worker.run(&mut source, Clock::Wall, || false, |_, _| {});
                    let (run, batch_sink) = worker.finish();
                    Outcome {
                        run,
                        counters: Some(analyzer.counters().clone()),
                        records_dropped: batch_sink.dropped,
                        pinned,
                        error: r.err(),
                        ..Outcome::default()
                    }
                }));
            }
            let decode = cfg.analyzer.decode;
            for (c, (src, mut lanes)) in sources.into_iter().zip(tx).enumerate() {
                let (core, published) = (core_of(c), &stats[c]);
                handles.push(scope.spawn(move || {
                    let pinned = core.map(cpu::pin_current_thread);
                    let mut src = RateLimited::new(src, &cfg.capture_rate, captures);
                    let r = run_capture(
                        &mut src,
                        &mut lanes,
                        &decode,
                        published,
                        signal::stop_requested,
                    );
                    drop(lanes);
                    let queue = src.queue_report().map(|q| QueueReport {
                        captured: published.frames.load(Ordering::Relaxed),
                        ..q
                    });
                    let mut out = Outcome {
                        pinned,
                        queue,
                        ..Outcome::default()
                    };
                    match r {
                        Ok((kernel, ring_full)) => {
                            out.kernel_drops = kernel;
                            out.ring_full = ring_full;
                        }
                        Err(e) => {
                            signal::request_stop();
                            out.error = Some(e);
                        }
                    }
                    out
                }));
            }
        }
        // The syscall tracer: one more producer of records, stopped with the run.
        let tracer = cfg.trace.as_ref().map(|ts| {
            let (mut batch_sink, ring) = batch_channel(plan.ring_batches);
            rings.push(ring);
            scope.spawn(move || {
                let r = crate::trace::session::run_session(
                    ts,
                    &mut batch_sink,
                    ts.on_attached,
                    signal::stop_requested,
                );
                if r.is_err() {
                    signal::request_stop();
                }
                (r, batch_sink.dropped)
            })
        });
        let mut last = Instant::now();
        run_output(rings, sink, || {
            if cfg.duration.is_some_and(|d| started.elapsed() >= d) {
                signal::request_stop();
            }
            if last.elapsed() >= Duration::from_secs(1) {
                last = Instant::now();
                let mut s = LiveSummary {
                    elapsed: started.elapsed(),
                    workers: threads,
                    ..LiveSummary::default()
                };
                for st in &stats {
                    s.frames += st.frames.load(Ordering::Relaxed);
                    s.bytes += st.bytes.load(Ordering::Relaxed);
                    s.drops += st.drops.load(Ordering::Relaxed);
                    s.active_flows += st.active_flows.load(Ordering::Relaxed);
                    if let Ok(c) = st.counters.lock() {
                        s.counters.merge(&c);
                    }
                    s.per_worker.push([
                        st.frames.load(Ordering::Relaxed),
                        st.drops.load(Ordering::Relaxed),
                        st.active_flows.load(Ordering::Relaxed),
                    ]);
                }
                on_second(&s);
            }
        });
        let mut first_err = None;
        match tracer.map(|h| h.join()) {
            None => {}
            Some(Ok((Ok(r), dropped))) => {
                report.records_dropped += dropped;
                report.trace = Some(r);
            }
            Some(Ok((Err(e), _))) => {
                first_err = Some(RunError::Trace(e.to_string()));
            }
            Some(Err(_)) => first_err = Some(RunError::WorkerPanicked),
        }
        for h in handles {
            match h.join() {
                Ok(out) => {
                    report.frames += out.run.frames;
                    report.bytes += out.run.bytes;
                    report.kernel_drops += out.kernel_drops;
                    report.ring_full_drops += out.ring_full;
                    report.records_dropped += out.records_dropped;
                    if let Some(c) = &out.counters {
                        report.counters.merge(c);
                    }
                    if let Some(Err(e)) = out.pinned {
                        report.notes.push(format!("could not pin a worker: {e}"));
                    }
                    if let Some(q) = out.queue {
                        report.queues.push(q);
                    }
                    if let Some(e) = out.error {
                        first_err.get_or_insert(RunError::Source(e));
                    }
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
    })
}

/// Hugepages reserved on this host (HugePages_Total of /proc/meminfo).
fn hugepages_total() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines().find_map(|l| {
                l.strip_prefix("HugePages_Total:")
                    .map(|v| v.trim().parse().unwrap_or(0))
            })
        })
        .unwrap_or(0)
}

#[cfg(not(feature = "dpdk"))]
fn run_dpdk(
    _: &LiveConfig,
    _: &DpdkSettings,
    _: &mut impl RecordSink,
    _: &mut impl FnMut(&LiveSummary),
) -> Result<LiveReport, RunError> {
    let _ = hugepages_total;
    Err(RunError::DpdkNotBuilt)
}

/// DPDK: EAL, one mempool and the ports live for the whole run; each worker owns one rx queue.
#[cfg(feature = "dpdk")]
fn run_dpdk(
    cfg: &LiveConfig,
    d: &DpdkSettings,
    sink: &mut impl RecordSink,
    on_second: &mut impl FnMut(&LiveSummary),
) -> Result<LiveReport, RunError> {
    use crate::dpdk::DpdkSource;
    use crate::sys::dpdk::{Eal, Mempool, Port};
    if d.ports.is_empty() {
        return Err(RunError::Dpdk("no port: give --dpdk-port (a PCI address or a vdev name) or inputs.cbpf.special_network.dpdk.ports".into()));
    }
    if !d.eal_args.iter().any(|a| a == "--no-huge") && hugepages_total() == 0 {
        return Err(RunError::Dpdk(
            "no hugepages reserved (HugePages_Total is 0): install hugepages.conf (docs/dpdk.md), or add --no-huge to the EAL arguments for tests".into(),
        ));
    }
    let mut args = vec!["tapflow".to_string()];
    args.extend(d.eal_args.iter().cloned());
    let eal = Eal::init(&args).map_err(|e| RunError::Dpdk(e.to_string()))?;
    let pool = Mempool::new(&eal, "tapflow_rx", d.mempool_mbufs.max(1024))
        .map_err(|e| RunError::Dpdk(e.to_string()))?;
    let mut ports = Vec::new();
    for name in &d.ports {
        ports.push(
            Port::open(&pool, name, cfg.queues.max(1), true)
                .map_err(|e| RunError::Dpdk(format!("port {name}: {e}")))?,
        );
    }
    let mut sources = Vec::new();
    for (port, name) in ports.iter().zip(&d.ports) {
        for q in 0..port.queues {
            sources.push(LiveSource::Dpdk(DpdkSource::new(
                port.rx_queue(q),
                name,
                port.id,
                q,
                d.burst,
            )));
        }
    }
    let mut report = LiveReport {
        engine: "dpdk",
        ..LiveReport::default()
    };
    let result = run_workers(cfg, sources, &mut report, sink, on_second);
    for (port, name) in ports.iter().zip(&d.ports) {
        // imissed / rx_nombuf already reached kernel_drops through queue 0's worker.
        let st = port.stats();
        report.ports.push(QueueReport {
            name: name.clone(),
            captured: st.ipackets,
            counters: vec![
                ("ipackets", st.ipackets),
                ("imissed", st.imissed),
                ("ierrors", st.ierrors),
                ("rx_nombuf", st.rx_nombuf),
            ],
        });
    }
    drop(ports);
    drop(pool);
    drop(eal);
    result.map(|()| report)
}
