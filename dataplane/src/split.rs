//! Multi-core offline analysis (`tapflow analyze --workers N`): one reader takes the files'
//! frames in order, gives each the time one analyzer would take it at
//! ([`tapflow_analyzer::packet_time`]) and its ordinal in the input ([`PacketMeta::seq`], which
//! the flow ids are made of), and steers it by the symmetric hash of its innermost flow to one of
//! N analyzer workers over the pipeline's lanes; the workers' records reach the caller's sink on
//! the calling thread. Where the live pipeline drops and counts, this waits: every frame is
//! analysed and every record written. The records are those of one worker (flow tables and
//! their limits are split over the workers, as live).
//!
//! Time stays packet time, and moves for every worker as for one analyzer: every 65,536 frames
//! and at the end the reader sends each lane a time mark (its clock: every frame stamped before
//! has been sent), the worker moves its analyzer there and tells the output, and the output
//! ticks its sink with the least of the workers' times. At the end every worker has reached the
//! input's last time before it closes its flows.
//!
//! [`PacketMeta::seq`]: tapflow_analyzer::PacketMeta::seq

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tapflow_analyzer::flow::Direction;
use tapflow_analyzer::wire::{self, Decoded, Transport};
use tapflow_analyzer::{
    packet_time, Analyzer, AnalyzerConfig, Counters, RecordBatch, RecordRef, RecordSink,
};

use crate::output::{batch_channel, drain_rings, BatchSink};
use crate::pcap::PcapReader;
use crate::pipeline::{endpoint_hash, flow_hash, lane, worker_of, LaneSource, LaneTx};
use crate::source::{Burst, PacketSource, SourceError};
use crate::worker::{Clock, RunStats, Worker};

/// Record batches in flight per worker before it waits for the output (each up to 256 rows and,
/// rendered, their JSON lines: about 0.4 MB; 64 took 50 MB more at the peak of a SYN flood with
/// 2 workers and were no faster).
const RECORD_BATCHES: usize = 16;

/// Where the reader is, for a progress line.
#[derive(Debug, Default)]
pub struct SplitProgress {
    /// Index of the file being read.
    pub file: AtomicUsize,
    /// Bytes of that file read so far.
    pub file_bytes: AtomicU64,
    /// Frames read from all files so far.
    pub frames: AtomicU64,
}

/// What a split run did.
#[derive(Debug, Default)]
pub struct SplitOutcome {
    pub stats: RunStats,
    /// Every worker's counters summed (and the reader's `ts_backwards`).
    pub counters: Counters,
    /// Records cut short at the end of a file.
    pub truncated: u64,
}

/// A file that could not be read, and why.
#[derive(Debug)]
pub struct SplitError {
    pub path: PathBuf,
    pub error: SourceError,
}

/// Analyses `files` (in order, as one input) with `workers` analyzers built from `cfg`; the
/// records go to `sink`, `progress` runs on the calling thread about every millisecond. Each
/// worker passes its record batches through `render` (if any) before handing them over: work on
/// the rows that would otherwise be serial on the calling thread (rendering the l4 rows' JSON
/// lines for a sink that takes them).
pub fn analyze_files(
    files: &[PathBuf],
    workers: usize,
    cfg: &AnalyzerConfig,
    render: Option<fn(&mut RecordBatch)>,
    sink: &mut impl RecordSink,
    mut progress: impl FnMut(&SplitProgress),
) -> Result<SplitOutcome, SplitError> {
    let workers = workers.max(1);
    let acfg = cfg.per_worker(workers);
    let clocks: Vec<AtomicU64> = (0..workers).map(|_| AtomicU64::new(0)).collect();
    let at = SplitProgress::default();
    std::thread::scope(|scope| {
        let mut tx = Vec::with_capacity(workers);
        let mut rings = Vec::with_capacity(workers);
        let mut handles = Vec::with_capacity(workers);
        for clock in &clocks {
            let (t, r) = lane();
            tx.push(t);
            let (batch_sink, ring) = batch_channel(RECORD_BATCHES);
            rings.push(ring);
            let acfg = acfg.clone();
            handles.push(scope.spawn(move || {
                let mut analyzer = Analyzer::new(acfg);
                let mut source = LaneSource::new(vec![r]);
                let sink = ClockedSink {
                    inner: batch_sink.lossless().rendering(render),
                    clock,
                };
                let mut worker = Worker::new(&mut analyzer, sink);
                // A lane source ends only when the reader is gone; it cannot fail. The reader's
                // last mark (the input's last time) has moved this worker there.
                let _ = worker.run(&mut source, Clock::Offline, || false, |_, _| {});
                let (run, _) = worker.finish();
                (run, analyzer.counters().clone())
            }));
        }
        let reader = {
            let at = &at;
            scope.spawn(move || read_files(files, tx, cfg, at))
        };
        let mut last_tick = 0;
        loop {
            // The clocks first: every record a worker made before its clock moved is in its
            // ring by then, and is written before the sink hears of the new time.
            let now = clocks
                .iter()
                .map(|c| c.load(Ordering::Acquire))
                .min()
                .unwrap_or(0);
            let moved = drain_rings(&mut rings, sink);
            if now > last_tick {
                sink.tick(now);
                last_tick = now;
            }
            progress(&at);
            if rings.is_empty() {
                break;
            }
            if !moved {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        let mut out = SplitOutcome::default();
        for h in handles {
            let (run, counters) = h.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
            out.stats.frames += run.frames;
            out.stats.bytes += run.bytes;
            out.counters.merge(&counters);
        }
        let read = reader
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))?;
        out.counters.ts_backwards += read.ts_backwards;
        out.truncated = read.truncated;
        Ok(out)
    })
}

/// What the reader counted.
struct ReadOutcome {
    ts_backwards: u64,
    truncated: u64,
}

/// Frames between two time marks to every lane.
const MARK_EVERY: u64 = 1 << 16;

/// The reader: every frame of every file, in order, to its worker's lane; every 65,536 frames
/// and at the end a time mark to every lane.
fn read_files(
    files: &[PathBuf],
    mut lanes: Vec<LaneTx>,
    cfg: &AnalyzerConfig,
    at: &SplitProgress,
) -> Result<ReadOutcome, SplitError> {
    let n = lanes.len();
    let (mut now, mut seq, mut next_mark) = (None::<u64>, 0u64, MARK_EVERY);
    let mut out = ReadOutcome {
        ts_backwards: 0,
        truncated: 0,
    };
    let fail = |path: &Path, error| SplitError {
        path: path.to_path_buf(),
        error,
    };
    for (i, path) in files.iter().enumerate() {
        at.file.store(i, Ordering::Relaxed);
        at.file_bytes.store(0, Ordering::Relaxed);
        let mut reader = PcapReader::open(path, 0).map_err(|e| fail(path, e))?;
        loop {
            let burst = reader
                .poll_burst(|f| {
                    let mut meta = f.meta;
                    let (ts, backwards) = packet_time(now, meta.ts_ns);
                    out.ts_backwards += u64::from(backwards);
                    now = Some(ts);
                    seq += 1;
                    meta.ts_ns = ts;
                    meta.seq = seq;
                    // Decoded once, here: the worker takes the packet as decoded.
                    let mut p = wire::Packet::EMPTY;
                    let (hash, decoded) =
                        match wire::decode_link_into(f.data, meta.link, &cfg.decode, &mut p) {
                            Ok(()) => (service_hash(&p, cfg), Decoded::of(&p, f.data, &cfg.decode)),
                            Err(_) => (0, None),
                        };
                    lanes[worker_of(hash, n)].push_wait(&meta, f.data, decoded);
                })
                .map_err(|e| fail(path, e))?;
            at.file_bytes.store(reader.bytes_read(), Ordering::Relaxed);
            at.frames.store(seq, Ordering::Relaxed);
            if let Some(now) = now.filter(|_| seq >= next_mark) {
                next_mark = seq + MARK_EVERY;
                for l in lanes.iter_mut() {
                    l.flush_marked(now);
                }
            }
            if burst == Burst::End {
                break;
            }
        }
        out.truncated += reader.truncated_records;
    }
    for l in lanes.iter_mut() {
        match now {
            Some(now) => l.flush_marked(now),
            None => l.flush(),
        }
    }
    Ok(out)
}

/// Steering by service: a frame goes where the server end of its flow goes, (address, port)
/// of the end the ports name as the server (a configured server port, the one below 32768
/// beside an ephemeral one, the one below 1024, else the lower port), so that what one analyzer
/// learns about a service from all its flows (the service table's `direction_score`, the
/// application protocol of a server) is learned by one worker from the same flows. Ports that
/// do not tell (equal, or none) steer by the symmetric flow hash. Both directions of a flow
/// meet in one worker either way.
fn service_hash(p: &wire::Packet<'_>, cfg: &AnalyzerConfig) -> u64 {
    let Some(ip) = p.ip else { return 0 };
    let (sp, dp) = p.transport.ports();
    let has_ports = matches!(p.transport, Transport::Tcp(_) | Transport::Udp(_));
    let server = Direction::server_by_ports(sp, dp, &cfg.server_ports)
        .map(|d| d.server)
        .or(match sp.cmp(&dp) {
            std::cmp::Ordering::Less => Some(0),
            std::cmp::Ordering::Greater => Some(1),
            std::cmp::Ordering::Equal => None,
        })
        .filter(|_| has_ports);
    match server {
        Some(0) => endpoint_hash(ip.proto, &ip.src, sp),
        Some(_) => endpoint_hash(ip.proto, &ip.dst, dp),
        None => flow_hash(&ip, sp, dp),
    }
}

/// A worker's record sink: batches to the output, and the worker's time published with each
/// offline tick (after the batches it covers are handed over).
struct ClockedSink<'a> {
    inner: BatchSink,
    clock: &'a AtomicU64,
}

impl RecordSink for ClockedSink<'_> {
    fn record(&mut self, rec: RecordRef<'_>) {
        self.inner.record(rec);
    }

    fn flush_batches(&mut self) {
        self.inner.flush_batches();
    }

    fn tick(&mut self, now_ns: u64) {
        self.inner.flush_batches();
        self.clock.store(now_ns, Ordering::Release);
    }
}
