//! The worker loop: frames from a source into an analyzer, records out to a sink. One loop for
//! every source and mode: offline files, live rings (run-to-completion), and the analyzer side of
//! pipeline mode (whose lanes are a [`PacketSource`] too, `crate::pipeline::LaneSource`).
//!
//! The [`Clock`] is the only difference between offline and live: a live worker reads the wall
//! clock once per burst at most, to tick the analyzer when idle, to publish its counters and
//! flush its record batches every 100 ms and to take over a new configuration epoch; an offline
//! worker never does, so an offline replay is deterministic. The analyzer itself never reads a
//! clock.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tapflow_analyzer::{Analyzer, RecordSink};

use crate::epoch::ConfigEpoch;
use crate::nap::nap;
use crate::source::{Burst, PacketSource, SourceError};

/// How often (in frames) the offline progress callback runs.
const PROGRESS_EVERY: u64 = 1 << 16;
/// Live: publish counters and flush record batches this often.
const PUBLISH_EVERY: Duration = Duration::from_millis(100);
/// Live idle ticks lag the wall clock by this much, so frames still in a kernel ring (stamped
/// earlier) do not arrive "in the past" (DeepFlow's max_tolerable_packet_delay, 1 s).
const TICK_LAG_NS: u64 = 1_000_000_000;

/// Totals of one run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunStats {
    pub frames: u64,
    pub bytes: u64,
    /// Kernel / NIC drops the source reported.
    pub drops: u64,
}

/// Where a worker's time comes from besides its packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// Files: packet time only; runs until the source ends.
    Offline,
    /// Live: idle ticks and publishing from the wall clock; runs until the source ends or a
    /// stop is requested.
    Wall,
}

/// Counters a live worker publishes for the summary line (every 100 ms, not per packet).
#[derive(Debug, Default)]
pub struct WorkerStats {
    pub frames: AtomicU64,
    pub bytes: AtomicU64,
    /// Kernel / NIC drops seen by the source.
    pub drops: AtomicU64,
    pub active_flows: AtomicU64,
    pub done: AtomicBool,
    /// The analyzer's counters, copied with the rest (for live counters: Prometheus,
    /// stats.json during the run).
    pub counters: std::sync::Mutex<tapflow_analyzer::Counters>,
}

/// One analyzer fed by one source.
#[derive(Debug)]
pub struct Worker<'a, K> {
    pub analyzer: &'a mut Analyzer,
    pub sink: K,
    /// Where a live worker publishes its counters.
    pub published: Option<&'a WorkerStats>,
    /// New configurations, taken over between bursts.
    pub epoch: Option<&'a ConfigEpoch>,
    pub stats: RunStats,
}

impl<'a, K: RecordSink> Worker<'a, K> {
    pub fn new(analyzer: &'a mut Analyzer, sink: K) -> Self {
        Worker {
            analyzer,
            sink,
            published: None,
            epoch: None,
            stats: RunStats::default(),
        }
    }

    /// Feeds `source` until it ends (or, with the wall clock, until `stop()`); calls `progress`
    /// about every 65536 frames. Flows stay open: [`Worker::finish`] closes them, so several
    /// files can run through one worker.
    pub fn run<S: PacketSource>(
        &mut self,
        source: &mut S,
        clock: Clock,
        stop: impl Fn() -> bool,
        mut progress: impl FnMut(&S, &RunStats),
    ) -> Result<(), SourceError> {
        let mut seen_epoch = self.epoch.map_or(0, ConfigEpoch::epoch);
        let mut next_progress = self.stats.frames + PROGRESS_EVERY;
        let mut last_publish = Instant::now();
        loop {
            let Worker {
                analyzer,
                sink,
                stats,
                ..
            } = self;
            let burst = source.poll_burst_slices(|frames| {
                for frame in frames.iter_mut() {
                    if clock == Clock::Offline && frame.meta.seq == 0 {
                        // Numbered in input order: the flow ids do not depend on the split.
                        frame.meta.seq = stats.frames + 1;
                    }
                    stats.frames += 1;
                    stats.bytes += u64::from(frame.meta.wire_len);
                }
                analyzer.on_burst(frames, sink, crate::sys::prefetch::prefetch);
            })?;
            if let Some(mark) = source.take_time_mark() {
                // Every frame of this worker's share up to `mark` is analysed: time moves on as
                // it would for one analyzer of the whole input.
                self.analyzer.advance_to(mark, &mut self.sink);
                self.sink.tick(self.analyzer.now_ns());
            }
            if self.stats.frames >= next_progress {
                next_progress += PROGRESS_EVERY;
                progress(source, &self.stats);
                if clock == Clock::Offline {
                    self.sink.tick(self.analyzer.now_ns());
                }
            }
            if clock == Clock::Wall {
                if burst == Burst::Idle {
                    let wall = SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .map_or(0, |d| d.as_nanos() as u64);
                    self.analyzer
                        .advance_to(wall.saturating_sub(TICK_LAG_NS), &mut self.sink);
                }
                let now = Instant::now();
                if now.duration_since(last_publish) >= PUBLISH_EVERY {
                    self.stats.drops += source.take_stats().drops;
                    self.publish();
                    self.sink.flush_batches();
                    if let Some(e) = self.epoch {
                        e.apply_if_newer(&mut seen_epoch, self.analyzer);
                    }
                    last_publish = now;
                }
                if stop() {
                    break;
                }
            }
            if burst == Burst::End {
                break;
            }
            if clock == Clock::Offline && burst == Burst::Idle {
                // An offline lane waits for its reader: leave it the core.
                nap();
            }
        }
        self.stats.drops += source.take_stats().drops;
        Ok(())
    }

    fn publish(&self) {
        if let Some(p) = self.published {
            p.frames.store(self.stats.frames, Ordering::Relaxed);
            p.bytes.store(self.stats.bytes, Ordering::Relaxed);
            p.drops.store(self.stats.drops, Ordering::Relaxed);
            p.active_flows
                .store(self.analyzer.active_flows() as u64, Ordering::Relaxed);
            // Every 100 ms, not per packet: the output thread reads it once a second.
            if let Ok(mut c) = p.counters.lock() {
                c.clone_from(self.analyzer.counters());
            }
        }
    }

    /// Ends the run: every remaining flow is closed and reported, batches flushed, the final
    /// counters published.
    pub fn finish(mut self) -> (RunStats, K) {
        self.analyzer.finish(&mut self.sink);
        self.sink.tick(self.analyzer.now_ns());
        self.sink.flush_batches();
        self.publish();
        if let Some(p) = self.published {
            p.active_flows.store(0, Ordering::Relaxed);
            p.done.store(true, Ordering::Release);
        }
        (self.stats, self.sink)
    }
}

/// Drives file sources to their end through one analyzer (a [`Worker`] on the offline clock).
#[derive(Debug)]
pub struct OfflineRun<'a> {
    pub analyzer: &'a mut Analyzer,
    pub stats: RunStats,
}

impl<'a> OfflineRun<'a> {
    pub fn new(analyzer: &'a mut Analyzer) -> Self {
        OfflineRun {
            analyzer,
            stats: RunStats::default(),
        }
    }

    /// Feeds every frame of `source`; calls `progress` about every 65536 frames.
    pub fn drain<S: PacketSource>(
        &mut self,
        source: &mut S,
        sink: &mut impl RecordSink,
        progress: impl FnMut(&S, &RunStats),
    ) -> Result<(), SourceError> {
        let mut w = Worker::new(&mut *self.analyzer, sink);
        w.stats = self.stats;
        let r = w.run(source, Clock::Offline, || false, progress);
        self.stats = w.stats;
        r
    }

    /// Ends the run: every remaining flow is closed and reported.
    pub fn finish(self, sink: &mut impl RecordSink) -> RunStats {
        let mut w = Worker::new(self.analyzer, sink);
        w.stats = self.stats;
        w.finish().0
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use tapflow_analyzer::wire::build::{self, TcpSpec};
    use tapflow_analyzer::{AnalyzerConfig, L4FlowLog};

    use super::*;
    use crate::pcap::{PcapReader, PcapWriter};

    fn capture() -> Vec<u8> {
        let (a, b) = ("10.1.0.1".parse().unwrap(), "10.1.0.2".parse().unwrap());
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        for (i, flags) in [0x02u8, 0x12, 0x10].into_iter().enumerate() {
            let (s, d, sp, dp) = if i == 1 {
                (b, a, 80, 40000)
            } else {
                (a, b, 40000, 80)
            };
            let spec = TcpSpec {
                src_port: sp,
                dst_port: dp,
                seq: 1,
                ack: 2,
                flags,
                window: 100,
                ..Default::default()
            };
            let ip = build::ip(s, d, 6, 0, 64, &build::tcp(s, d, &spec, b""));
            w.write(
                1_000_000_000 + i as u64 * 1_000_000,
                &build::ethernet_ip([2; 6], [4; 6], &[], &ip),
            )
            .unwrap();
        }
        w.finish().unwrap()
    }

    #[test]
    fn pcap_round_trip_through_the_analyzer() {
        let bytes = capture();
        let mut r = PcapReader::from_reader(Box::new(Cursor::new(bytes)), 7).unwrap();
        let mut an = Analyzer::new(AnalyzerConfig::default());
        let mut out: Vec<L4FlowLog> = Vec::new();
        let mut run = OfflineRun::new(&mut an);
        run.drain(&mut r, &mut out, |_, _| {}).unwrap();
        let stats = run.finish(&mut out);
        assert_eq!(stats.frames, 3);
        assert_eq!(out.len(), 1);
        assert_eq!(
            out[0].tap_port, 0x4000_0000_0000_0007,
            "capture interface 7"
        );
        assert_eq!(out[0].tap_port_type, "capture_interface");
        assert_eq!((out[0].packet_tx, out[0].packet_rx), (2, 1));
        assert_eq!(out[0].start_time, 1_000_000);
    }

    #[test]
    fn truncated_and_garbage_files_do_not_panic() {
        let bytes = capture();
        for cut in 0..bytes.len() {
            match PcapReader::from_reader(Box::new(Cursor::new(bytes[..cut].to_vec())), 0) {
                Err(_) => assert!(cut < 24),
                Ok(mut r) => while let Ok(Some(_)) = r.next_frame() {},
            }
        }
        let mut x = 12345u32;
        for _ in 0..2000 {
            let mut junk = bytes.clone();
            for _ in 0..8 {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                let i = (x as usize >> 8) % junk.len();
                junk[i] = (x >> 24) as u8;
            }
            if let Ok(mut r) = PcapReader::from_reader(Box::new(Cursor::new(junk)), 0) {
                let mut n = 0;
                while let Ok(Some(_)) = r.next_frame() {
                    n += 1;
                    assert!(n < 100);
                }
            }
        }
        assert!(matches!(
            PcapReader::from_reader(Box::new(Cursor::new(b"not a capture at all".to_vec())), 0),
            Err(SourceError::BadMagic(_))
        ));
    }
}
