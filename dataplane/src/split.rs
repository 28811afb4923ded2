//! Multi-core offline analysis (`tapflow analyze --workers N`): N analyzer workers, each frame
//! steered to the worker its service's hash names (`service_hash`, [`worker_of`]), numbered and
//! timed as one analyzer would number and time it (`InputClock`: [`packet_time`] and
//! [`PacketMeta::seq`], which the flow ids are made of). The workers' records reach the caller's
//! sink on the calling thread, or on a worker that finds the output free (`Output`). Every
//! frame is analysed and every record written. The records are those of one worker (flow tables
//! and their limits are split over the workers, as live).
//!
//! Plain files are read by every worker, each keeping its share (`shard`): no thread between the
//! file and the analyzers, nothing copied. Compressed files and pipes are read once, by a reader
//! that hands each frame to its worker over the pipeline's lanes (`stream`).
//!
//! Time stays packet time, and moves for every worker as for one analyzer: every 65,536 frames
//! of the input and at its end each worker moves its analyzer to the input's time and tells the
//! output, and the output ticks its sink with the least of the workers' times. At the end every
//! worker has reached the input's last time before it closes its flows.
//!
//! [`PacketMeta::seq`]: tapflow_analyzer::PacketMeta::seq
//! [`worker_of`]: crate::pipeline::worker_of

mod shard;
mod stream;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, TryLockError};
use std::time::Duration;

use tapflow_analyzer::flow::Direction;
use tapflow_analyzer::wire::{Decoded, FlowFields, LinkType};
use tapflow_analyzer::{
    packet_time, Analyzer, AnalyzerConfig, Counters, PacketMeta, RecordBatch, RecordRef, RecordSink,
};

use crate::nap::nap;
use crate::output::{batch_channel, drain_rings, BatchReceiver, BatchSink, Outlet};
use crate::pcap;
use crate::pipeline::{endpoint_hash, flow_hash, lane, steer_by, steer_decoded_by, LaneSource};
use crate::source::{PacketSource, SourceError};
use crate::worker::{Clock, RunStats, Worker};
use shard::ShardSource;

/// Record batches in flight per worker while another thread writes the output (each up to 256
/// rows and, rendered, their JSON lines: about 0.4 MB); a worker that finds the output free
/// writes its batch itself and keeps it.
const RECORD_BATCHES: usize = 2;

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
    sink: &mut (impl RecordSink + Send),
    mut progress: impl FnMut(&SplitProgress),
) -> Result<SplitOutcome, SplitError> {
    let workers = workers.max(1);
    let acfg = cfg.per_worker(workers);
    let clocks: Vec<AtomicU64> = (0..workers).map(|_| AtomicU64::new(0)).collect();
    let at = SplitProgress::default();
    // Read to their lengths now: a file still being written ends at the same frame for all.
    let lengths: Vec<u64> = files
        .iter()
        .map(|f| std::fs::metadata(f).map_or(u64::MAX, |m| m.len()))
        .collect();
    let lengths = &lengths;
    let output = Mutex::new(Output {
        rings: Vec::with_capacity(workers),
        sink,
    });
    let output = &output;
    std::thread::scope(|scope| {
        // Compressed input, or a pipe (which only one reader can read): one reader for all.
        let streamed = !files.iter().all(|f| readable_by_each_worker(f));
        let mut handles = Vec::with_capacity(workers);
        let mut lanes = Vec::new();
        for (me, clock) in clocks.iter().enumerate() {
            let (batch_sink, ring) = batch_channel(RECORD_BATCHES);
            lock(output).rings.push(ring);
            let sink = ClockedSink {
                inner: batch_sink.lossless().rendering(render),
                clock,
                output,
            };
            let acfg = acfg.clone();
            if streamed {
                let (tx, rx) = lane();
                lanes.push(tx);
                handles.push(scope.spawn(move || {
                    let (run, counters, _) = analyze(acfg, sink, LaneSource::new(vec![rx]));
                    // A lane source ends when the reader is gone; it cannot fail.
                    (run, counters, Ok(InputClock::default()))
                }));
            } else {
                let at = (me == 0).then_some(&at);
                handles.push(scope.spawn(move || {
                    let source = ShardSource::new((files, lengths), (me, workers), cfg, at);
                    let (run, counters, (source, read)) = analyze(acfg, sink, source);
                    let read = read.map(|()| source.input).map_err(|error| SplitError {
                        path: source.path().to_path_buf(),
                        error,
                    });
                    (run, counters, read)
                }));
            }
        }
        let reader = streamed.then(|| {
            let at = &at;
            scope.spawn(move || stream::read_files(files, lanes, cfg, at))
        });
        let mut last_tick = 0;
        loop {
            // The clocks first: every record a worker made before its clock moved is in its
            // ring by then, and is written before the sink hears of the new time.
            let now = clocks
                .iter()
                .map(|c| c.load(Ordering::Acquire))
                .min()
                .unwrap_or(0);
            let (moved, done) = {
                let mut out = lock(output);
                let Output { rings, sink } = &mut *out;
                let moved = drain_rings(rings, *sink);
                if now > last_tick {
                    sink.tick(now);
                    last_tick = now;
                }
                (moved, rings.is_empty())
            };
            progress(&at);
            if done {
                break;
            }
            if !moved {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        let mut out = SplitOutcome::default();
        let mut first = None;
        for h in handles {
            let (run, counters, read) = h.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
            out.stats.frames += run.frames;
            out.stats.bytes += run.bytes;
            out.counters.merge(&counters);
            // Every worker read the same input: the first one's counts are the input's.
            first.get_or_insert(read);
        }
        let input = match reader {
            Some(r) => r.join().unwrap_or_else(|p| std::panic::resume_unwind(p))?,
            None => first.unwrap_or(Ok(InputClock::default()))?,
        };
        out.counters.ts_backwards += input.ts_backwards;
        out.truncated = input.truncated;
        Ok(out)
    })
}

/// A regular file that is not compressed: every worker can read it whole (a pipe gives its
/// bytes to one reader only, and a compressed file would be decompressed by each). What cannot
/// be looked at goes to the one reader, which reports why.
fn readable_by_each_worker(path: &std::path::Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file())
        && pcap::is_compressed(path).is_ok_and(|gz| !gz)
}

/// One worker's run over `source`: its run totals, its analyzer's counters, and the source
/// with what the run returned (a read error).
fn analyze<S: PacketSource>(
    cfg: AnalyzerConfig,
    sink: ClockedSink<'_>,
    mut source: S,
) -> (RunStats, Counters, (S, Result<(), SourceError>)) {
    let mut analyzer = Analyzer::new(cfg);
    let mut worker = Worker::new(&mut analyzer, sink);
    // The source's last mark (the input's last time) has moved the worker there; after a read
    // error the flows are closed and reported all the same.
    let read = worker.run(&mut source, Clock::Offline, || false, |_, _| {});
    let (run, _) = worker.finish();
    (run, analyzer.counters().clone(), (source, read))
}

/// The input's frames numbered and timed in order, as one analyzer numbers and times them.
#[derive(Debug, Clone, Copy, Default)]
struct InputClock {
    now: Option<u64>,
    /// Frames of the input so far.
    seq: u64,
    /// Frames whose time went backwards beyond the tolerance.
    ts_backwards: u64,
    /// Records cut short at the end of a file.
    truncated: u64,
}

impl InputClock {
    /// Numbers and times the input's next frame.
    #[inline]
    fn stamp(&mut self, meta: &mut PacketMeta) {
        let (ts, backwards) = packet_time(self.now, meta.ts_ns);
        self.ts_backwards += u64::from(backwards);
        self.now = Some(ts);
        self.seq += 1;
        meta.ts_ns = ts;
        meta.seq = self.seq;
    }
}

/// Frames between two time marks.
const MARK_EVERY: u64 = 1 << 16;

/// A frame's steering hash (by service) and its decoded form: read the fast way when it is
/// plain ([`tapflow_analyzer::wire::plain_flow`]: nothing decoded, the analyzer decodes it),
/// else decoded here.
#[inline]
fn steer(data: &[u8], link: LinkType, cfg: &AnalyzerConfig) -> (u64, Option<Decoded>) {
    steer_by(data, link, &cfg.decode, |f| service_hash(f, cfg))
}

/// A frame's steering hash (by service; 0 when it does not decode) and the frame decoded once,
/// to travel with it to its worker.
fn steer_decoding(data: &[u8], link: LinkType, cfg: &AnalyzerConfig) -> (u64, Option<Decoded>) {
    steer_decoded_by(data, link, &cfg.decode, |f| service_hash(f, cfg))
}

/// Steering by service: a frame goes where the server end of its flow goes, (address, port)
/// of the end the ports name as the server (a configured server port, the one below 32768
/// beside an ephemeral one, the one below 1024, else the lower port), so that what one analyzer
/// learns about a service from all its flows (the service table's `direction_score`, the
/// application protocol of a server) is learned by one worker from the same flows. Ports that
/// do not tell (equal, or none) steer by the symmetric flow hash. Both directions of a flow
/// meet in one worker either way.
#[inline(always)]
fn service_hash(f: &FlowFields, cfg: &AnalyzerConfig) -> u64 {
    let (sp, dp) = (f.src_port, f.dst_port);
    let server = Direction::server_by_ports(sp, dp, &cfg.server_ports)
        .map(|d| d.server)
        .or(match sp.cmp(&dp) {
            std::cmp::Ordering::Less => Some(0),
            std::cmp::Ordering::Greater => Some(1),
            std::cmp::Ordering::Equal => None,
        })
        .filter(|_| f.has_ports);
    match server {
        Some(0) => endpoint_hash(f.proto, &f.src, sp),
        Some(_) => endpoint_hash(f.proto, &f.dst, dp),
        None => flow_hash(f),
    }
}

/// The output: every worker's ring and the caller's sink. The calling thread writes it and
/// moves the sink's time; a worker writes it too when it finds it free (its own batch, after the
/// batches waiting on every ring; no time), or when its ring is full, instead of waiting for
/// the calling thread to wake.
struct Output<'s, K> {
    rings: Vec<BatchReceiver>,
    sink: &'s mut K,
}

/// The output locked (a panic while it was held has already failed the run).
fn lock<'o, 's, K>(output: &'o Mutex<Output<'s, K>>) -> MutexGuard<'o, Output<'s, K>> {
    output.lock().unwrap_or_else(|p| p.into_inner())
}

/// The output, when no other thread holds it.
fn try_lock<'o, 's, K>(output: &'o Mutex<Output<'s, K>>) -> Option<MutexGuard<'o, Output<'s, K>>> {
    match output.try_lock() {
        Ok(out) => Some(out),
        Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    }
}

/// The output as a worker's [`Outlet`].
impl<K: RecordSink + Send> Outlet for Mutex<Output<'_, K>> {
    /// A worker writes its batch itself when nobody is writing (after the batches waiting on
    /// the rings).
    fn write_now(&self, batch: &RecordBatch) -> bool {
        let Some(mut out) = try_lock(self) else {
            return false;
        };
        let Output { rings, sink } = &mut *out;
        drain_rings(rings, *sink);
        sink.record_batch(batch);
        true
    }

    /// Its ring full, a worker writes the waiting batches if nobody is, else naps.
    fn wait(&self) {
        let moved = try_lock(self).is_some_and(|mut out| {
            let Output { rings, sink } = &mut *out;
            drain_rings(rings, *sink)
        });
        if !moved {
            nap();
        }
    }
}

/// A worker's record sink: batches to the output, and the worker's time published with each
/// offline tick (after the batches it covers are handed over).
struct ClockedSink<'a> {
    inner: BatchSink,
    clock: &'a AtomicU64,
    output: &'a (dyn Outlet + Sync),
}

impl RecordSink for ClockedSink<'_> {
    fn record(&mut self, rec: RecordRef<'_>) {
        self.inner.record_to(rec, self.output);
    }

    fn flush_batches(&mut self) {
        self.inner.flush_to(self.output);
    }

    fn tick(&mut self, now_ns: u64) {
        self.flush_batches();
        self.clock.store(now_ns, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::pcap::PcapReader;
    use tapflow_analyzer::wire;

    /// A worker writing `rows` request log rows into `output`, then ticking to 7.
    fn worker_rows<K: RecordSink + Send>(
        output: &Mutex<Output<'_, K>>,
        clock: &AtomicU64,
        batch_sink: BatchSink,
        rows: usize,
    ) {
        let mut sink = ClockedSink {
            inner: batch_sink.lossless(),
            clock,
            output,
        };
        let row = tapflow_analyzer::L7FlowLog::default();
        for _ in 0..rows {
            sink.record(RecordRef::L7FlowLog(&row));
        }
        sink.tick(7);
    }

    /// An output writing into `written`, with one worker's ring of `capacity` batches.
    fn output_with_ring(
        written: &mut RecordBatch,
        capacity: usize,
    ) -> (Mutex<Output<'_, RecordBatch>>, BatchSink) {
        let (batch_sink, ring) = batch_channel(capacity);
        let output = Output {
            rings: vec![ring],
            sink: written,
        };
        (Mutex::new(output), batch_sink)
    }

    /// With nobody else writing the output (the calling thread asleep), a worker writes its
    /// batches itself as they fill: nothing waits on its ring.
    #[test]
    fn a_worker_writes_its_batches_when_the_output_is_free() {
        let mut written = RecordBatch::default();
        let (output, batch_sink) = output_with_ring(&mut written, 1);
        let clock = AtomicU64::new(0);
        let rows = 10 * crate::output::BATCH + 3;
        std::thread::scope(|s| {
            let worker = s.spawn(|| worker_rows(&output, &clock, batch_sink, rows));
            worker.join().expect("the worker ends");
        });
        let mut out = lock(&output);
        let Output { rings, sink } = &mut *out;
        assert_eq!(sink.l7.len(), rows);
        assert!(!drain_rings(rings, *sink), "nothing was left on the ring");
        assert!(rings.is_empty(), "the worker's ring is gone");
        assert_eq!(clock.load(Ordering::Acquire), 7);
    }

    /// While the output is busy (held by the calling thread), a worker hands its batches over
    /// on its ring and, the ring full, waits; once the output is free it writes the rest: no row
    /// is lost.
    #[test]
    fn a_worker_waits_for_a_busy_output_and_loses_nothing() {
        let mut written = RecordBatch::default();
        let (output, batch_sink) = output_with_ring(&mut written, 2);
        let clock = AtomicU64::new(0);
        let rows = 10 * crate::output::BATCH;
        std::thread::scope(|s| {
            let busy = lock(&output);
            let worker = s.spawn(|| worker_rows(&output, &clock, batch_sink, rows));
            std::thread::sleep(Duration::from_millis(20));
            assert_eq!(
                clock.load(Ordering::Acquire),
                0,
                "the worker waits for room"
            );
            drop(busy);
            worker.join().expect("the worker ends");
        });
        let mut out = lock(&output);
        let Output { rings, sink } = &mut *out;
        drain_rings(rings, *sink);
        assert_eq!(sink.l7.len(), rows);
        assert_eq!(clock.load(Ordering::Acquire), 7);
    }

    /// Every frame of the shared captures (mirror encapsulations, TCP corner cases, the L7
    /// protocols), when they are here: a frame read the fast way is steered as decoded.
    #[test]
    fn plain_frames_of_real_captures_steer_as_decoded() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/pcaps");
        if !root.exists() {
            eprintln!("skipped: ../shared/pcaps is not here");
            return;
        }
        let cfg = AnalyzerConfig::default();
        let (mut fast, mut slow) = (0u64, 0u64);
        for sub in ["encap", "l7", "tcp"] {
            for e in std::fs::read_dir(root.join(sub)).expect("pcaps").flatten() {
                let path = e.path();
                let name = path.to_string_lossy().to_string();
                if !(name.ends_with(".pcap") || name.ends_with(".pcapng")) {
                    continue;
                }
                let mut reader = PcapReader::open(&path, 0).expect("open");
                while let Ok(Some(frame)) = reader.next_frame() {
                    let decoded = steer_decoding(frame.data, frame.meta.link, &cfg);
                    match wire::plain_flow(frame.data, frame.meta.link, &cfg.decode) {
                        Some(f) => {
                            fast += 1;
                            let mut p = wire::Packet::EMPTY;
                            if wire::decode_link_into(
                                frame.data,
                                frame.meta.link,
                                &cfg.decode,
                                &mut p,
                            )
                            .is_ok()
                            {
                                assert_eq!(FlowFields::of(&p), Some(f), "{name}");
                                assert_eq!(service_hash(&f, &cfg), decoded.0, "{name}");
                            }
                        }
                        None => slow += 1,
                    }
                }
            }
        }
        eprintln!("{fast} frames read the fast way, {slow} decoded");
        assert!(fast > 1_000 && slow > 100, "fast {fast}, slow {slow}");
    }
}
