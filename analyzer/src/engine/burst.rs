//! A burst of frames analysed with look-ahead, in stages, so that the cache misses of a
//! flow's lookup and update (the cost on inputs with many flows) overlap the work on the frames
//! in between:
//!
//! 0. [`DECODE_AHEAD`] frames before its analysis a frame is decoded;
//! 1. [`AHEAD`] frames before, its first observation's flow key is hashed and that key's index
//!    bucket prefetched;
//! 2. [`SLOT_AHEAD`] frames before, the bucket (in cache by then) names the slot the lookup will
//!    most likely find (its first entry with the key's tag), and that flow's lines and its timer
//!    link are prefetched;
//! 3. [`BLOCK_AHEAD`] frame before, that flow (in cache by then) names its pooled blocks: its
//!    full TCP state and its L7 state, which are prefetched.
//!
//! Stages 2 and 3 read the tables as they are then (a frame in between may create or close a
//! flow): they only choose addresses, the lookup itself is the analysis's. Decoding, observing
//! and hashing depend on the frame and the configuration only, so what is computed does not
//! change, only when: a burst gives the records [`Analyzer::on_packet`] gives frame by frame.
//! Every frame is decoded once, in place in a small ring (a decoder returning its 216-byte
//! packet by value, or copies of it between the stages, cost more than the misses they hid:
//! docs/perf.md).

use super::Analyzer;
use crate::mirror::Observations;
use crate::record::RecordSink;
use crate::wire::{self, DecodeError, Packet};
use crate::{Frame, PacketMeta};

/// Frames between one being decoded and being analysed: decoding is a frame before hashing, so
/// that the hash reads the decoded packet once its stores have reached the cache (read back at
/// once, its fields' narrow stores stalled the wider loads: 4 % of a 64-byte-frame run).
const DECODE_AHEAD: usize = AHEAD + 1;
/// Frames between one being hashed (its index bucket prefetched) and being analysed.
const AHEAD: usize = 4;
/// Frames before its analysis at which a frame's likely flow slot is read from its bucket
/// (prefetched [`AHEAD`] frames before) and prefetched.
const SLOT_AHEAD: usize = 2;
/// Frames before its analysis at which that slot's state blocks (TCP, L7) are prefetched.
const BLOCK_AHEAD: usize = 1;
/// Prepared frames kept (a power of two above [`AHEAD`]).
const RING: usize = 8;

/// A frame decoded ahead of its analysis.
struct Prepared<'f> {
    pkt: Packet<'f>,
    decoded: Result<(), DecodeError>,
    observations: Observations,
    /// The first observation's flow key hash (IP frames).
    hash: Option<u64>,
    /// The flow slot its lookup will most likely find (read [`SLOT_AHEAD`] frames ahead).
    slot: Option<u32>,
    /// The capture filter rejected it (not decoded).
    filtered: bool,
}

impl Prepared<'_> {
    const NONE: Prepared<'static> = Prepared {
        pkt: Packet::EMPTY,
        decoded: Ok(()),
        observations: Observations::NONE,
        hash: None,
        slot: None,
        filtered: false,
    };
}

impl Analyzer {
    /// Analyses `frames` in order: the same records and counters as [`Analyzer::on_packet`]
    /// frame by frame (a frame handed over decoded keeps its decoded form), with
    /// each flow lookup's cache lines asked for a few frames ahead through `prefetch` (a
    /// safe wrapper of the CPU's prefetch instruction, which only the capture layer's system
    /// module may issue: `tapflow_dataplane::sys::prefetch::prefetch`). Generic, so that the
    /// hint is one instruction in the loop, not a call.
    pub fn on_burst(
        &mut self,
        frames: &[Frame<'_>],
        sink: &mut impl RecordSink,
        prefetch: impl Fn(*const u8),
    ) {
        if let [frame] = frames {
            // Nothing to look ahead to.
            return self.on_frame(&frame.meta, frame.data, frame.decoded, sink);
        }
        let mut ring = [Prepared::NONE; RING];
        for (j, frame) in frames.iter().enumerate().take(DECODE_AHEAD) {
            self.decode(frame, &mut ring[j]);
        }
        for (j, frame) in frames.iter().enumerate().take(AHEAD) {
            self.hash_ahead(frame, &mut ring[j], &prefetch);
        }
        for (i, frame) in frames.iter().enumerate() {
            if let Some(next) = frames.get(i + AHEAD) {
                self.hash_ahead(next, &mut ring[(i + AHEAD) % RING], &prefetch);
            }
            if let Some(next) = frames.get(i + DECODE_AHEAD) {
                self.decode(next, &mut ring[(i + DECODE_AHEAD) % RING]);
            }
            if i + SLOT_AHEAD < frames.len() {
                self.locate(&mut ring[(i + SLOT_AHEAD) % RING], &prefetch);
            }
            if i + BLOCK_AHEAD < frames.len() {
                self.prefetch_state(&ring[(i + BLOCK_AHEAD) % RING], &prefetch);
            }
            self.analyse_prepared(&frame.meta, &ring[i % RING], sink);
        }
    }

    /// Decodes `frame` into `out`. Reads the configuration only.
    #[inline(always)]
    fn decode<'f>(&self, frame: &Frame<'f>, out: &mut Prepared<'f>) {
        out.hash = None;
        out.slot = None;
        out.filtered = self.filtered_out(&frame.meta, frame.data);
        if out.filtered {
            out.pkt.reset();
            out.decoded = Ok(());
            return;
        }
        match frame
            .decoded
            .and_then(|d| d.packet(frame.data, &self.cfg.decode))
        {
            Some(p) => {
                out.pkt = p;
                out.decoded = Ok(());
            }
            None => {
                out.pkt.reset();
                out.decoded = wire::decode_link_into(
                    frame.data,
                    frame.meta.link,
                    &self.cfg.decode,
                    &mut out.pkt,
                );
            }
        }
    }

    /// Observes the frame [`Analyzer::decode`] wrote into `out` (one frame before) and hashes its
    /// first flow key, prefetching that key's index bucket. Reads the configuration and the
    /// table's layout only.
    #[inline(always)]
    fn hash_ahead<'f>(
        &self,
        frame: &Frame<'f>,
        out: &mut Prepared<'f>,
        prefetch: &impl Fn(*const u8),
    ) {
        if out.decoded.is_err() {
            return;
        }
        let Some(ip) = out.pkt.ip else {
            return;
        };
        out.observations = self.cfg.mirror.observe(&out.pkt, frame.meta.ifindex);
        let (key, _, _) = Self::flow_key(&out.observations.as_slice()[0], &ip, &out.pkt);
        let hash = self.table.hash(&key);
        prefetch(self.table.lookup_line(hash));
        out.hash = Some(hash);
    }

    /// Reads the prepared frame's index bucket (prefetched [`AHEAD`] frames before) for the
    /// slot its lookup will most likely find, and prefetches that flow's lines and its timer
    /// link.
    #[inline(always)]
    fn locate(&self, out: &mut Prepared<'_>, prefetch: &impl Fn(*const u8)) {
        out.slot = None;
        let Some(hash) = out.hash else {
            return;
        };
        if let Some((slot, flow)) = self.table.likely_flow(hash) {
            prefetch_lines(flow, prefetch);
            if let Some(link) = self.table.wheel.link_line(slot) {
                prefetch(link);
            }
            out.slot = Some(slot);
        }
    }

    /// Prefetches the state blocks of the prepared frame's likely flow (whose slot was
    /// prefetched [`SLOT_AHEAD`] frames before) where it has them: its full TCP state and its
    /// L7 state.
    #[inline(always)]
    fn prefetch_state(&self, prepared: &Prepared<'_>, prefetch: &impl Fn(*const u8)) {
        let Some(flow) = prepared.slot.and_then(|s| self.table.slot(s)) else {
            return;
        };
        if let Some(block) = flow.perf.block(&self.perf.blocks) {
            prefetch_lines(block, prefetch);
        }
        if let Some(state) = self.l7.state_of(flow) {
            prefetch_lines(state, prefetch);
        }
    }

    /// What [`Analyzer::on_packet`] does with a frame, from its prepared form.
    #[inline(always)]
    fn analyse_prepared(
        &mut self,
        meta: &PacketMeta,
        prepared: &Prepared<'_>,
        sink: &mut impl RecordSink,
    ) {
        if prepared.filtered {
            self.counters.capture_filtered += 1;
            return;
        }
        let ts = self.take_time(meta, sink);
        match prepared.decoded {
            Ok(()) => self.on_observed(
                meta,
                ts,
                &prepared.pkt,
                &prepared.observations,
                prepared.hash,
                sink,
            ),
            Err(e) => self.counters.count_decode_error(e),
        }
    }
}

/// Asks for every cache line `value` lies on.
#[inline(always)]
fn prefetch_lines<T>(value: &T, prefetch: &impl Fn(*const u8)) {
    let start = std::ptr::from_ref(value).cast::<u8>();
    let size = std::mem::size_of::<T>();
    let mut off = 0;
    while off < size {
        prefetch(start.wrapping_add(off));
        off += 64;
    }
    // The last line, when the value does not start on a line's first byte.
    prefetch(start.wrapping_add(size - 1));
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;
    use crate::record::Collected;
    use crate::wire::build::{self, TcpSpec};
    use crate::AnalyzerConfig;

    static PREFETCHES: AtomicU64 = AtomicU64::new(0);

    fn count_prefetch(_: *const u8) {
        PREFETCHES.fetch_add(1, Ordering::Relaxed);
    }

    /// Interleaved conversations over two minutes: TCP handshakes, HTTP requests and answers,
    /// closes, IPv6, UDP, ICMP, an ARP frame and a truncated frame.
    fn frames() -> Vec<(u64, Vec<u8>)> {
        let t0 = 1_700_000_000_000_000_000u64;
        let mut out = Vec::new();
        let tcp = |c: IpAddr, s: IpAddr, port: u16, step: u32, flags: u8, payload: &[u8]| {
            let to_server = step % 2 == 0;
            let (src, dst) = if to_server { (c, s) } else { (s, c) };
            let spec = TcpSpec {
                src_port: if to_server { port } else { 80 },
                dst_port: if to_server { 80 } else { port },
                seq: 1_000 * step,
                ack: 1_000 * step + 1,
                flags,
                window: 512,
                ..TcpSpec::default()
            };
            build::ethernet_ip(
                [2; 6],
                [4; 6],
                &[],
                &build::ip(src, dst, 6, 0, 64, &build::tcp(src, dst, &spec, payload)),
            )
        };
        let steps: [(u8, &[u8]); 6] = [
            (0x02, b""),
            (0x12, b""),
            (0x18, b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n"),
            (0x18, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
            (0x11, b""),
            (0x11, b""),
        ];
        for round in 0..steps.len() as u32 {
            for flow in 0..300u16 {
                let v6 = flow % 5 == 0;
                let (c, s): (IpAddr, IpAddr) = if v6 {
                    (
                        format!("fd00::{:x}", flow + 1).parse().unwrap(),
                        "fd00::ffff".parse().unwrap(),
                    )
                } else {
                    (
                        format!("10.0.{}.{}", flow / 200, flow % 200 + 1)
                            .parse()
                            .unwrap(),
                        "10.9.9.9".parse().unwrap(),
                    )
                };
                let ts = t0 + u64::from(round) * 25_000_000_000 + u64::from(flow) * 1_000_000;
                let (flags, payload) = steps[round as usize];
                // Odd steps are the server's; a step's direction follows its index.
                let step = round;
                out.push((ts, tcp(c, s, 40_000 + flow, step, flags, payload)));
                if flow % 50 == 0 {
                    let udp = build::udp(c, s, 5_000 + flow, 53, b"\x12\x34\x01\x00");
                    out.push((
                        ts + 1,
                        build::ethernet_ip([2; 6], [4; 6], &[], &build::ip(c, s, 17, 0, 64, &udp)),
                    ));
                    let icmp = build::icmp_echo(c, s, false, flow, 1, b"ping");
                    let proto = build::icmp_proto(c);
                    out.push((
                        ts + 2,
                        build::ethernet_ip(
                            [2; 6],
                            [4; 6],
                            &[],
                            &build::ip(c, s, proto, 0, 64, &icmp),
                        ),
                    ));
                }
                if flow == 7 {
                    let mut arp = vec![0xffu8; 6];
                    arp.extend_from_slice(&[2; 6]);
                    arp.extend_from_slice(&[0x08, 0x06]);
                    arp.extend_from_slice(&[0; 28]);
                    out.push((ts + 3, arp));
                    let cut = tcp(c, s, 1, 0, 0x02, b"");
                    out.push((ts + 4, cut[..20].to_vec()));
                }
            }
        }
        out
    }

    /// Every record's text and the counters of a run.
    fn run(frames: &[(u64, Vec<u8>)], burst: Option<usize>) -> (Vec<String>, Counters) {
        let mut an = Analyzer::new(AnalyzerConfig::default());
        let mut out = Collected::default();
        let all: Vec<Frame<'_>> = frames
            .iter()
            .enumerate()
            .map(|(i, (ts, data))| Frame {
                meta: PacketMeta {
                    ts_ns: *ts,
                    wire_len: data.len() as u32,
                    cap_len: data.len() as u32,
                    seq: i as u64 + 1,
                    ..PacketMeta::default()
                },
                data,
                decoded: None,
            })
            .collect();
        match burst {
            None => all
                .iter()
                .for_each(|f| an.on_packet(&f.meta, f.data, &mut out)),
            Some(n) => all
                .chunks(n)
                .for_each(|c| an.on_burst(c, &mut out, count_prefetch)),
        }
        an.finish(&mut out);
        let mut rows = Vec::new();
        out.for_each(|r| rows.push(format!("{r:?}")));
        (rows, an.counters().clone())
    }

    use crate::Counters;

    #[test]
    fn bursts_give_the_records_of_frame_by_frame() {
        let frames = frames();
        let (want, counters) = run(&frames, None);
        assert!(want.len() > 600, "{} records", want.len());
        for kind in ["L4FlowLog(", "L7FlowLog("] {
            assert!(want.iter().any(|r| r.starts_with(kind)), "no {kind}");
        }
        assert!(
            counters.non_ip > 0 && counters.decode_errors_total() > 0,
            "{counters:?}"
        );
        for n in [1, 2, AHEAD, AHEAD + 1, 64, frames.len()] {
            PREFETCHES.store(0, Ordering::Relaxed);
            let (got, got_counters) = run(&frames, Some(n));
            assert_eq!(got_counters, counters, "bursts of {n}");
            assert!(got == want, "bursts of {n}: records differ");
            // A burst of one has nothing to look ahead to.
            assert_eq!(
                PREFETCHES.load(Ordering::Relaxed) > 0,
                n > 1,
                "bursts of {n}"
            );
        }
    }

    /// Frames of established flows: the look-ahead asks for each one's flow slot, timer link,
    /// full TCP state and L7 state before the frame is analysed.
    #[test]
    fn look_ahead_prefetches_each_flows_slot_and_state_blocks() {
        let frames = frames();
        let answers_from = 1_700_000_000_000_000_000u64 + 3 * 25_000_000_000;
        let split = frames
            .iter()
            .position(|(ts, _)| *ts >= answers_from)
            .unwrap();
        let mut an = Analyzer::new(AnalyzerConfig::default());
        let mut out = Collected::default();
        let frame = |i: usize| Frame {
            meta: PacketMeta {
                ts_ns: frames[i].0,
                wire_len: frames[i].1.len() as u32,
                cap_len: frames[i].1.len() as u32,
                seq: i as u64 + 1,
                ..PacketMeta::default()
            },
            data: &frames[i].1,
            decoded: None,
        };
        for i in 0..split {
            let f = frame(i);
            an.on_packet(&f.meta, f.data, &mut out);
        }
        // The server's answers to the requests, in one burst.
        let burst: Vec<Frame<'_>> = (split..frames.len())
            .map(frame)
            .take_while(|f| f.meta.ts_ns < answers_from + 25_000_000_000)
            .collect();
        let asked = std::cell::RefCell::new(std::collections::HashSet::new());
        an.on_burst(&burst, &mut out, |p: *const u8| {
            asked.borrow_mut().insert(p as usize);
        });
        let asked = asked.into_inner();
        let (mut flows, mut all_asked) = (0, 0);
        for idx in 0..an.table.slots() as u32 {
            let flow = an.table.get(idx);
            let (Some(block), Some(l7)) = (flow.perf.block(&an.perf.blocks), an.l7.state_of(flow))
            else {
                continue;
            };
            flows += 1;
            let addr = |r: *const u8| r as usize;
            let wanted = [
                addr(std::ptr::from_ref(flow).cast()),
                an.table.wheel.link_line(idx).map_or(0, addr),
                addr(std::ptr::from_ref(block).cast()),
                addr(std::ptr::from_ref(l7).cast()),
            ];
            all_asked += usize::from(wanted.iter().all(|a| asked.contains(a)));
        }
        // 300 conversations answered; the burst's first frames come before any look-ahead.
        assert!(flows >= 290, "{flows} flows with TCP and L7 state");
        assert!(
            all_asked + SLOT_AHEAD >= flows,
            "{all_asked} of {flows} flows asked for"
        );
    }
}
