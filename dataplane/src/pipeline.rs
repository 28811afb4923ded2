//! Pipeline mode: capture workers decode just enough to steer each frame by a symmetric hash of
//! its innermost 5-tuple, and hand packet batches to analyzer workers over bounded wait-free SPSC
//! rings. A tunnelled mirror feed that lands on one rx queue still spreads over every analyzer
//! core, and both directions of a flow meet in one analyzer.
//!
//! Batches are preallocated and travel in a loop (capture -> analyzer full, analyzer -> capture
//! empty), so steady state allocates nothing. With no empty batch to fill or no room in the
//! ring, the frame is dropped and counted (`ring_full`): capture never blocks.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tapflow_analyzer::wire::{self, DecodeConfig, Decoded, FlowFields, LinkType};
use tapflow_analyzer::PacketMeta;

use crate::nap::nap;
use crate::source::{Burst, Frame, PacketSource, SourceError};
use crate::worker::WorkerStats;

/// Frames per batch.
const BATCH_FRAMES: usize = 64;
/// Bytes of frame data per batch (64 full-size frames; fewer jumbo frames).
pub(crate) const LANE_BATCH_BYTES: usize = 128 * 1024;
/// What one batch holds: its frame bytes and each frame's descriptor (metadata, place, and the
/// decoded form that travels with it).
pub(crate) const LANE_BATCH_MEMORY: usize = LANE_BATCH_BYTES
    + BATCH_FRAMES * std::mem::size_of::<(PacketMeta, u32, u32, Option<Decoded>)>();
/// Batches in flight per (capture, analyzer) lane: about 18 MiB per lane with the descriptors.
pub(crate) const LANE_BATCHES: usize = 128;
const PUBLISH_EVERY: Duration = Duration::from_millis(100);
/// A partly filled batch waits at most this long for more frames (latency vs batch efficiency).
const FLUSH_AFTER: Duration = Duration::from_millis(1);

/// Frames copied out of a capture ring, with their metadata.
#[derive(Debug)]
pub struct PacketBatch {
    buf: Vec<u8>,
    /// Each frame's metadata, place in `buf`, and decoded form when the sender decoded it.
    frames: Vec<(PacketMeta, u32, u32, Option<Decoded>)>,
    /// Offline: every frame stamped up to this time has been sent (0: no mark).
    mark_ns: u64,
}

impl PacketBatch {
    fn new() -> Self {
        PacketBatch {
            buf: Vec::with_capacity(LANE_BATCH_BYTES),
            frames: Vec::with_capacity(BATCH_FRAMES),
            mark_ns: 0,
        }
    }

    fn fits(&self, len: usize) -> bool {
        self.frames.len() < BATCH_FRAMES && self.buf.len() + len <= LANE_BATCH_BYTES
    }

    fn push(&mut self, meta: &PacketMeta, data: &[u8], decoded: Option<Decoded>) {
        let off = self.buf.len() as u32;
        self.buf.extend_from_slice(data);
        self.frames.push((*meta, off, data.len() as u32, decoded));
    }

    fn clear(&mut self) {
        self.buf.clear();
        self.frames.clear();
        self.mark_ns = 0;
    }
}

/// Capture side of one lane.
#[derive(Debug)]
pub struct LaneTx {
    full: rtrb::Producer<PacketBatch>,
    empty: rtrb::Consumer<PacketBatch>,
    current: Option<PacketBatch>,
}

/// Analyzer side of one lane.
#[derive(Debug)]
pub struct LaneRx {
    full: rtrb::Consumer<PacketBatch>,
    empty: rtrb::Producer<PacketBatch>,
}

/// A lane with its batches preallocated.
pub fn lane() -> (LaneTx, LaneRx) {
    let (full_tx, full_rx) = rtrb::RingBuffer::new(LANE_BATCHES);
    let (mut empty_tx, empty_rx) = rtrb::RingBuffer::new(LANE_BATCHES);
    for _ in 0..LANE_BATCHES {
        let _ = empty_tx.push(PacketBatch::new());
    }
    (
        LaneTx {
            full: full_tx,
            empty: empty_rx,
            current: None,
        },
        LaneRx {
            full: full_rx,
            empty: empty_tx,
        },
    )
}

impl LaneTx {
    /// Queues a frame; false when it had to be dropped (no batch free or frame too large).
    fn push(&mut self, meta: &PacketMeta, data: &[u8], decoded: Option<Decoded>) -> bool {
        if data.len() > LANE_BATCH_BYTES {
            return false;
        }
        if self.current.as_ref().is_some_and(|b| !b.fits(data.len())) {
            self.flush();
        }
        if self.current.is_none() {
            self.current = self.empty.pop().ok();
        }
        match self.current.as_mut() {
            Some(b) if b.fits(data.len()) => {
                b.push(meta, data, decoded);
                true
            }
            _ => false,
        }
    }

    /// Queues a frame, waiting for the analyzer to give a batch back when none is free (offline:
    /// nothing is dropped). A frame larger than a batch gets a batch of its own.
    pub(crate) fn push_wait(&mut self, meta: &PacketMeta, data: &[u8], decoded: Option<Decoded>) {
        loop {
            if self
                .current
                .as_ref()
                .is_some_and(|b| !b.frames.is_empty() && !b.fits(data.len()))
            {
                self.flush();
            }
            if self.current.is_none() {
                self.current = self.empty.pop().ok();
            }
            if let Some(b) = self.current.as_mut() {
                b.push(meta, data, decoded);
                return;
            }
            nap();
        }
    }

    /// Hands the current batch (even an empty one) to the analyzer with a time mark: the
    /// reader has sent every frame stamped up to `mark_ns`. Waits for a free batch.
    pub(crate) fn flush_marked(&mut self, mark_ns: u64) {
        loop {
            if self.current.is_none() {
                self.current = self.empty.pop().ok();
            }
            if let Some(mut b) = self.current.take() {
                b.mark_ns = mark_ns;
                if let Err(rtrb::PushError::Full(b)) = self.full.push(b) {
                    self.current = Some(b);
                }
                return;
            }
            nap();
        }
    }

    /// Hands the current batch to the analyzer.
    pub(crate) fn flush(&mut self) {
        if let Some(b) = self.current.take() {
            if b.frames.is_empty() {
                self.current = Some(b);
                return;
            }
            if let Err(rtrb::PushError::Full(b)) = self.full.push(b) {
                // Cannot happen (as many slots as batches), but never lose a batch buffer.
                self.current = Some(b);
            }
        }
    }
}

/// Symmetric steering hash of a frame's innermost flow (0 for frames that do not decode).
pub fn steer_hash(data: &[u8], meta: &PacketMeta, cfg: &DecodeConfig) -> u64 {
    steer(data, meta, cfg).0
}

/// The steering hash, and the frame decoded once when it is not plain, to travel with it to the
/// analyzer (which takes it as decoded while its decode settings are the same). A plain frame
/// is read the fast way ([`wire::plain_flow`]) and decoded by its analyzer: the capture side
/// parses headers only.
fn steer(data: &[u8], meta: &PacketMeta, cfg: &DecodeConfig) -> (u64, Option<Decoded>) {
    steer_by(data, meta.link, cfg, flow_hash)
}

/// A frame's steering hash by `hash` of its flow fields, and its decoded form when it is not
/// plain (what the live pipeline, with [`flow_hash`], and the offline split, by service, share).
#[inline]
pub(crate) fn steer_by(
    data: &[u8],
    link: LinkType,
    cfg: &DecodeConfig,
    hash: impl Fn(&FlowFields) -> u64,
) -> (u64, Option<Decoded>) {
    if let Some(f) = wire::plain_flow(data, link, cfg) {
        return (hash(&f), None);
    }
    steer_decoded_by(data, link, cfg, hash)
}

/// A frame decoded once: its steering hash by `hash` (0 when it does not decode) and its
/// decoded form, to travel with it to its analyzer.
pub(crate) fn steer_decoded_by(
    data: &[u8],
    link: LinkType,
    cfg: &DecodeConfig,
    hash: impl Fn(&FlowFields) -> u64,
) -> (u64, Option<Decoded>) {
    let mut p = wire::Packet::EMPTY;
    if wire::decode_link_into(data, link, cfg, &mut p).is_err() {
        return (0, None);
    }
    let h = FlowFields::of(&p).map_or(0, |f| hash(&f));
    (h, Decoded::of(&p, data, cfg))
}

/// The worker (of `n`, at least 1) a steering hash goes to: the high half of `hash * n` (Lemire's
/// multiply-shift reduction), an even split like `hash % n` without a 64-bit division per frame
/// (the offline reader's largest single instruction cost on 64-byte frames). It takes the
/// hash's high bits, which `mix`'s finalizer makes depend on every input bit.
#[inline]
pub fn worker_of(hash: u64, n: usize) -> usize {
    ((u128::from(hash) * n as u128) >> 64) as usize
}

/// Symmetric hash of a flow: both directions give the same value.
#[inline]
pub fn flow_hash(f: &FlowFields) -> u64 {
    let a = (f.src, f.src_port);
    let b = (f.dst, f.dst_port);
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    mix(
        f.proto,
        &[&lo.0, &hi.0],
        u64::from(lo.1) << 16 | u64::from(hi.1),
    )
}

/// Hash of one endpoint (address, port) of protocol `proto`.
#[inline]
pub fn endpoint_hash(proto: u8, addr: &[u8; 16], port: u16) -> u64 {
    mix(proto, &[addr], u64::from(port))
}

#[inline]
fn mix(proto: u8, addrs: &[&[u8; 16]], ports: u64) -> u64 {
    let mut h: u64 = 0x243F_6A88_85A3_08D3 ^ u64::from(proto);
    for a in addrs {
        for chunk in [&a[..8], &a[8..]] {
            let w = u64::from_le_bytes([
                chunk[0], chunk[1], chunk[2], chunk[3], chunk[4], chunk[5], chunk[6], chunk[7],
            ]);
            h = (h ^ w).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(27);
        }
    }
    h = (h ^ ports).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    // The finalizer of MurmurHash3 (fmix64): every output bit depends on every input bit.
    // Without it the bits that pick a worker followed the addresses' low bytes: with `hash %
    // workers` (the reduction then) the 64 services 10.200.0.1-64:9999 of the small-packet input
    // fell 47/17 on two workers; `worker_of` takes the high bits, which it mixes as well.
    h = (h ^ (h >> 33)).wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    h = (h ^ (h >> 33)).wrapping_mul(0xC4CE_B9FE_1A85_EC53);
    h ^ (h >> 33)
}

/// Capture loop: frames from `source` to the lanes, by steering hash, until `stop()`.
pub fn run_capture<S: PacketSource>(
    source: &mut S,
    lanes: &mut [LaneTx],
    decode: &DecodeConfig,
    published: &WorkerStats,
    stop: impl Fn() -> bool,
) -> Result<(u64, u64), SourceError> {
    let n = lanes.len().max(1);
    let (mut frames, mut ring_full, mut kernel) = (0u64, 0u64, 0u64);
    let mut last = Instant::now();
    let mut last_flush = Instant::now();
    loop {
        let burst = source.poll_burst(|f| {
            frames += 1;
            let (hash, decoded) = steer(f.data, &f.meta, decode);
            if !lanes[worker_of(hash, n)].push(&f.meta, f.data, decoded) {
                ring_full += 1;
            }
        })?;
        // Full batches leave as they fill; a partial one after 1 ms, so that a trickle of frames
        // does not use up the lane's batches one frame at a time.
        if last_flush.elapsed() >= FLUSH_AFTER {
            for l in lanes.iter_mut() {
                l.flush();
            }
            last_flush = Instant::now();
        }
        if burst == Burst::Idle {
            std::thread::yield_now();
        }
        if last.elapsed() >= PUBLISH_EVERY {
            kernel += source.take_stats().drops;
            published.drops.store(kernel + ring_full, Ordering::Relaxed);
            last = Instant::now();
        }
        if burst == Burst::End || stop() {
            break;
        }
    }
    for l in lanes.iter_mut() {
        l.flush();
    }
    kernel += source.take_stats().drops;
    published.drops.store(kernel + ring_full, Ordering::Relaxed);
    // Capture workers publish frames captured (analyzers publish frames analysed separately).
    published.frames.store(frames, Ordering::Relaxed);
    published.done.store(true, Ordering::Release);
    Ok((kernel, ring_full))
}

/// The analyzer side of a worker's lanes, as a packet source for the one worker loop
/// ([`crate::worker::Worker`]): each poll takes every batch waiting on every lane and gives the
/// emptied batches back; it ends when every capture worker is gone and the lanes are empty.
#[derive(Debug)]
pub struct LaneSource {
    lanes: Vec<LaneRx>,
    /// The newest time mark seen, and whether it was taken.
    mark_ns: u64,
    mark_taken: bool,
}

impl LaneSource {
    pub fn new(lanes: Vec<LaneRx>) -> Self {
        LaneSource {
            lanes,
            mark_ns: 0,
            mark_taken: true,
        }
    }
}

impl PacketSource for LaneSource {
    /// Each batch's frames as one slice (they stay in the batch until it goes back).
    fn poll_burst_slices(
        &mut self,
        mut f: impl FnMut(&mut [Frame<'_>]),
    ) -> Result<Burst, SourceError> {
        let mut n = 0;
        for l in self.lanes.iter_mut() {
            while let Ok(mut batch) = l.full.pop() {
                let mut frames = [Frame::EMPTY; BATCH_FRAMES];
                for (frame, (meta, off, len, decoded)) in frames.iter_mut().zip(&batch.frames) {
                    *frame = Frame {
                        meta: *meta,
                        data: &batch.buf[*off as usize..(off + len) as usize],
                        decoded: decoded.as_ref(),
                    };
                }
                let k = batch.frames.len().min(BATCH_FRAMES);
                f(&mut frames[..k]);
                n += k;
                if batch.mark_ns > self.mark_ns {
                    self.mark_ns = batch.mark_ns;
                    self.mark_taken = false;
                }
                batch.clear();
                let _ = l.empty.push(batch);
            }
        }
        if n > 0 || !self.mark_taken {
            return Ok(Burst::Frames(n));
        }
        if self
            .lanes
            .iter()
            .all(|l| l.full.is_abandoned() && l.full.is_empty())
        {
            return Ok(Burst::End);
        }
        // Busy-poll, but let other threads run when cores are shared.
        std::thread::yield_now();
        Ok(Burst::Idle)
    }

    fn take_time_mark(&mut self) -> Option<u64> {
        if self.mark_taken {
            return None;
        }
        self.mark_taken = true;
        Some(self.mark_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tapflow_analyzer::wire::build::{self, TcpSpec};

    #[test]
    fn steering_is_symmetric_and_uses_the_inner_flow() {
        let (a, b) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let frame = |s, d, sp, dp| {
            let spec = TcpSpec {
                src_port: sp,
                dst_port: dp,
                flags: 0x10,
                ..TcpSpec::default()
            };
            build::ethernet_ip(
                [2; 6],
                [4; 6],
                &[],
                &build::ip(s, d, 6, 0, 64, &build::tcp(s, d, &spec, b"")),
            )
        };
        let cfg = DecodeConfig::default();
        let m = PacketMeta::default();
        let fwd = steer_hash(&frame(a, b, 1000, 80), &m, &cfg);
        assert_eq!(fwd, steer_hash(&frame(b, a, 80, 1000), &m, &cfg));
        assert_ne!(fwd, steer_hash(&frame(a, b, 1001, 80), &m, &cfg));
        // The same inner flow inside VXLAN steers like the bare one.
        let (o1, o2) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        let vx = build::ethernet_ip(
            [6; 6],
            [8; 6],
            &[],
            &build::ip(
                o1,
                o2,
                17,
                0,
                64,
                &build::udp(o1, o2, 5000, 4789, &build::vxlan(7, &frame(b, a, 80, 1000))),
            ),
        );
        assert_eq!(fwd, steer_hash(&vx, &m, &cfg));
    }

    #[test]
    fn worker_of_stays_in_range_and_splits_evenly() {
        // The extremes of the hash land on the first and the last worker, never past it.
        for n in 1..=8usize {
            assert_eq!(worker_of(0, n), 0);
            assert_eq!(worker_of(u64::MAX, n), n - 1);
        }
        // 60,000 flows' hashes over 3 workers: each within 2 % of a third.
        let mut per = [0u32; 3];
        for i in 0..60_000u32 {
            let mut addr = [0u8; 16];
            addr[..4].copy_from_slice(&i.to_be_bytes());
            per[worker_of(endpoint_hash(6, &addr, 443), 3)] += 1;
        }
        assert!(per.iter().all(|&c| c.abs_diff(20_000) < 400), "{per:?}");
    }

    #[test]
    fn a_few_neighbouring_services_spread_evenly_over_workers() {
        // Services on consecutive addresses, one port: what a mirror of one subnet shows. A
        // fair split of n keys over k workers has each worker within about 2 sqrt(n/k) of n/k;
        // the hash before fmix64 put 47 of 10.200.0.1-64:9999 on one of two workers.
        for (port, workers) in [(9999u16, 2usize), (80, 2), (443, 3), (53, 4), (3306, 2)] {
            let mut per = vec![0u32; workers];
            for last in 1..=64u8 {
                let mut addr = [0u8; 16];
                addr[..4].copy_from_slice(&[10, 200, 0, last]);
                per[worker_of(endpoint_hash(17, &addr, port), workers)] += 1;
            }
            let fair = 64 / workers as u32;
            let slack = 2 * (f64::from(fair).sqrt() as u32) + 1;
            assert!(
                per.iter().all(|&c| c.abs_diff(fair) <= slack),
                "port {port}, {workers} workers: {per:?}"
            );
        }
    }

    #[test]
    fn a_steered_frame_reaches_the_analyzer_decoded() {
        let (a, b) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let plain = build::tcp_frame(a, b, 1000, 80, b"ping");
        let (cfg, m) = (DecodeConfig::default(), PacketMeta::default());
        // A plain frame is steered by its headers alone; its analyzer decodes it.
        assert!(steer(&plain, &m, &cfg).1.is_none());
        let (outer_a, outer_b) = (
            "192.168.0.1".parse().unwrap(),
            "192.168.0.2".parse().unwrap(),
        );
        let frame = build::vxlan_frame(outer_a, outer_b, 7, &plain);
        let (tx_lane, rx_lane) = lane();
        let mut lanes = vec![tx_lane];
        let (hash, decoded) = steer(&frame, &m, &cfg);
        assert_eq!(hash, steer_hash(&frame, &m, &cfg));
        assert!(lanes[0].push(&m, &frame, decoded));
        lanes[0].flush();
        drop(lanes);
        let mut src = LaneSource::new(vec![rx_lane]);
        let mut seen = 0;
        src.poll_burst(|f| {
            let p = f
                .decoded
                .and_then(|d| d.packet(f.data, &cfg))
                .expect("decoded");
            assert_eq!(p.payload, b"ping");
            seen += 1;
        })
        .unwrap();
        assert_eq!(seen, 1);
    }

    #[test]
    fn lanes_recycle_batches_and_count_overflow() {
        let (mut tx, mut rx) = lane();
        let m = PacketMeta::default();
        let mut accepted = 0;
        for _ in 0..(LANE_BATCHES * BATCH_FRAMES + 10) {
            if tx.push(&m, &[0u8; 100], None) {
                accepted += 1;
            }
        }
        tx.flush();
        assert_eq!(
            accepted,
            LANE_BATCHES * BATCH_FRAMES,
            "the rest is refused, not buffered"
        );
        let mut got = 0;
        while let Ok(mut b) = rx.full.pop() {
            got += b.frames.len();
            b.clear();
            rx.empty.push(b).unwrap();
        }
        assert_eq!(got, accepted);
        assert!(tx.push(&m, &[0u8; 100], None), "batches came back");
    }
}
