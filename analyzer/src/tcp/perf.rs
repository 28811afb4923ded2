//! Per-flow TCP performance state and the metrics of one reporting interval.
//!
//! Definitions follow DeepFlow's `perf/tcp.rs` as documented in `deepflow-facts.md` section 3:
//! - rtt_server: first SYN -> each SYN-ACK acknowledging it; rtt_client: first SYN-ACK -> the
//!   handshake ACK; rtt: first SYN -> handshake ACK, only when the SYN came before the SYN-ACK.
//! - srt: PSH/ACK data (payload > 1) -> the peer's pure ACK of exactly seq+len.
//! - art: the requester's PSH/ACK data -> the responder's next seq-contiguous data segment; a
//!   pure ACK from the requester cancels it, one from the responder does not.
//! - cit: client idle time before a request (see [`TcpPerf::on_packet`]).
//! - retransmission / out-of-order via [`SeqRanges`]; repeated SYN and SYN-ACK count as
//!   retransmissions too; zero window per established-phase packet.
//! - Caps: RTT and ART 30 s, SRT 10 s; samples above a cap are dropped, not clamped.

use super::ranges::{RangePool, SeqOutcome, SeqRanges};
use super::seq::SeqNumber;
use crate::wire::{TcpFlags, TcpHeader};

pub const RTT_CAP_US: u64 = 30_000_000;
pub const ART_CAP_US: u64 = 30_000_000;
pub const SRT_CAP_US: u64 = 10_000_000;

/// sum / count / max of microsecond samples.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stat {
    pub sum: u64,
    pub count: u32,
    pub max: u32,
}

impl Stat {
    /// Adds `us` unless it exceeds `cap`. Returns whether it was added.
    #[inline]
    pub fn add_capped(&mut self, us: u64, cap: u64) -> bool {
        if us > cap {
            return false;
        }
        self.sum += us;
        self.count += 1;
        self.max = self.max.max(us as u32);
        true
    }

    pub fn merge(&mut self, o: &Stat) {
        self.sum += o.sum;
        self.count += o.count;
        self.max = self.max.max(o.max);
    }
}

/// Metrics accumulated since the last report (reset after each record).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PerfInterval {
    pub rtt_server: Stat,
    pub rtt_client: Stat,
    /// Full handshake RTT in µs (0 = not measured in this interval).
    pub rtt: u32,
    /// SRT samples by the endpoint that sent the ACK.
    pub srt_by_acker: [Stat; 2],
    /// ART samples by the endpoint that sent the request.
    pub art_by_requester: [Stat; 2],
    /// CIT samples by the endpoint that sent the request.
    pub cit_by_requester: [Stat; 2],
    pub retrans: [u32; 2],
    pub ooo: [u32; 2],
    pub zero_win: [u32; 2],
    pub retrans_syn: u32,
    pub retrans_synack: u32,
    pub syn_count: u32,
    pub synack_count: u32,
    pub fin_count: u32,
}

/// What one direction has shown so far.
#[derive(Debug, Clone, Copy, Default)]
struct Peer {
    sent_syn: bool,
    syn_seq: u32,
    sent_synack: bool,
    synack_seq: u32,
    /// The sequence number after the last byte this endpoint sent in order.
    next_seq: Option<SeqNumber>,
    ranges: SeqRanges,
    last_ts: u64,
    /// Time of the last packet with payload > 1.
    last_data_ts: u64,
    last_had_data: bool,
    last_was_handshake_ack: bool,
    /// PSH/ACK data from this endpoint waiting for the peer's ACK: (time, expected ack).
    pending_srt: Option<(u64, u32)>,
    /// Request from this endpoint waiting for the peer's response: time.
    pending_art: Option<u64>,
}

/// Whether a packet was used by the performance metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PerfVerdict {
    Used,
    /// RST: state only, no metrics.
    Reset,
    /// SYN+RST, data without ACK, PSH/URG without ACK: ignored and counted.
    AbnormalFlags,
    /// Data segment partly overlapping seen data: counted, not a retransmission.
    PartialOverlap,
}

/// TCP performance state of one flow.
#[derive(Debug, Clone, Copy, Default)]
pub struct TcpPerf {
    peers: [Peer; 2],
    first_syn: Option<(u64, u8)>,
    first_synack: Option<(u64, u8)>,
    syn_before_synack: bool,
    handshake_over: bool,
    pub interval: PerfInterval,
}

/// The verdict of a packet whose flags leave the state as it is (RST, invalid combinations),
/// apart from counting its FIN; None for a packet the state machine takes.
#[inline]
pub(super) fn stateless_verdict(f: u8) -> Option<PerfVerdict> {
    let has = |bits: u8| f & bits == bits;
    if has(TcpFlags::SYN | TcpFlags::RST) {
        return Some(PerfVerdict::AbnormalFlags);
    }
    if has(TcpFlags::RST) {
        return Some(PerfVerdict::Reset);
    }
    let ack = has(TcpFlags::ACK);
    if !has(TcpFlags::SYN) && !ack {
        return Some(PerfVerdict::AbnormalFlags);
    }
    if !ack && (has(TcpFlags::PSH) || has(TcpFlags::URG)) {
        return Some(PerfVerdict::AbnormalFlags);
    }
    None
}

#[inline]
fn us_between(from_ns: u64, to_ns: u64) -> u64 {
    to_ns.saturating_sub(from_ns) / 1_000
}

impl TcpPerf {
    /// Feeds one TCP packet sent by endpoint `side` (0 or 1) at `ts_ns`; a direction with more
    /// holes than fit in the flow takes a block of ranges from `pool`.
    pub fn on_packet(
        &mut self,
        side: usize,
        ts_ns: u64,
        tcp: &TcpHeader,
        pool: &mut RangePool,
    ) -> PerfVerdict {
        let side = side & 1;
        let other = side ^ 1;
        let f = tcp.flags.masked();
        let has = |bits: u8| f & bits == bits;
        if has(TcpFlags::FIN) {
            self.interval.fin_count += 1;
        }
        if let Some(v) = stateless_verdict(f) {
            return v;
        }
        let syn = has(TcpFlags::SYN);
        let ack = has(TcpFlags::ACK);
        let len = tcp.payload_len;
        if syn && !ack {
            self.on_syn(side, ts_ns, tcp);
            return PerfVerdict::Used;
        }
        if syn {
            self.on_syn_ack(side, other, ts_ns, tcp);
            return PerfVerdict::Used;
        }

        let pure_ack = f == TcpFlags::ACK && len == 0;
        let psh_data = f == TcpFlags::PSH | TcpFlags::ACK && len > 1;
        let mut handshake_ack = false;
        if !self.handshake_over {
            self.handshake_over = true;
            handshake_ack = self.on_handshake_end(side, ts_ns, tcp, pure_ack);
        }
        if tcp.window == 0 {
            self.interval.zero_win[side] += 1;
        }

        let mut verdict = PerfVerdict::Used;
        if len > 1 {
            let seq = SeqNumber(tcp.seq);
            match self.peers[side].ranges.insert(seq, len, pool) {
                SeqOutcome::Retransmission => self.interval.retrans[side] += 1,
                SeqOutcome::OutOfOrder => self.interval.ooo[side] += 1,
                SeqOutcome::PartialOverlap => verdict = PerfVerdict::PartialOverlap,
                SeqOutcome::New | SeqOutcome::Unknown => {}
            }
        }

        // SRT: data waiting for the peer's exact pure ACK.
        if psh_data {
            self.peers[side].pending_srt = Some((ts_ns, tcp.seq.wrapping_add(len)));
        } else if pure_ack {
            if let Some((t0, expected)) = self.peers[other].pending_srt {
                if tcp.ack == expected {
                    self.interval.srt_by_acker[side].add_capped(us_between(t0, ts_ns), SRT_CAP_US);
                    self.peers[other].pending_srt = None;
                }
            }
        } else {
            // Any other packet (data without PSH, FIN, ...) resets this direction's SRT.
            self.peers[side].pending_srt = None;
        }

        // ART: a response is the peer's next data segment contiguous with its previous one.
        if len > 1 {
            if let Some(t_req) = self.peers[other].pending_art {
                let contiguous = self.peers[side].next_seq.is_none_or(|n| n.0 == tcp.seq);
                if contiguous {
                    self.interval.art_by_requester[other]
                        .add_capped(us_between(t_req, ts_ns), ART_CAP_US);
                    self.peers[other].pending_art = None;
                }
            }
        } else if pure_ack {
            self.peers[side].pending_art = None;
        }

        // CIT: how long the client sat idle before this request.
        if psh_data {
            let me = self.peers[side];
            let peer = self.peers[other];
            if me.last_was_handshake_ack {
                let since = me.last_ts.max(peer.last_ts);
                self.interval.cit_by_requester[side]
                    .add_capped(us_between(since, ts_ns), RTT_CAP_US);
            } else if peer.last_had_data && peer.last_ts > me.last_data_ts {
                self.interval.cit_by_requester[side]
                    .add_capped(us_between(peer.last_ts, ts_ns), RTT_CAP_US);
            }
            self.peers[side].pending_art = Some(ts_ns);
        }

        let fin = u32::from(has(TcpFlags::FIN));
        let end = SeqNumber(tcp.seq) + len + fin;
        let p = &mut self.peers[side];
        if p.next_seq.is_none_or(|n| end.is_after(n)) {
            p.next_seq = Some(end);
        }
        p.last_ts = ts_ns;
        p.last_had_data = len > 1;
        if len > 1 {
            p.last_data_ts = ts_ns;
        }
        p.last_was_handshake_ack = handshake_ack;
        verdict
    }

    fn on_syn(&mut self, side: usize, ts_ns: u64, tcp: &TcpHeader) {
        self.interval.syn_count += 1;
        let p = &mut self.peers[side];
        if p.sent_syn {
            self.interval.retrans_syn += 1;
            self.interval.retrans[side] += 1;
        } else {
            p.sent_syn = true;
            p.syn_seq = tcp.seq;
            let next = SeqNumber(tcp.seq) + 1;
            p.next_seq = Some(next);
            p.ranges.set_base(next);
        }
        p.last_ts = ts_ns;
        p.last_had_data = false;
        if self.first_syn.is_none() {
            self.first_syn = Some((ts_ns, side as u8));
        }
    }

    fn on_syn_ack(&mut self, side: usize, other: usize, ts_ns: u64, tcp: &TcpHeader) {
        self.interval.synack_count += 1;
        let p = &mut self.peers[side];
        if p.sent_synack {
            self.interval.retrans_synack += 1;
            self.interval.retrans[side] += 1;
        } else {
            p.sent_synack = true;
            p.synack_seq = tcp.seq;
            let next = SeqNumber(tcp.seq) + 1;
            p.next_seq = Some(next);
            p.ranges.set_base(next);
        }
        p.last_ts = ts_ns;
        p.last_had_data = false;
        if self.first_synack.is_none() {
            self.first_synack = Some((ts_ns, side as u8));
            self.syn_before_synack =
                matches!(self.first_syn, Some((_, s)) if usize::from(s) == other);
        }
        if let Some((t_syn, s)) = self.first_syn {
            if usize::from(s) == other && tcp.ack == self.peers[other].syn_seq.wrapping_add(1) {
                self.interval
                    .rtt_server
                    .add_capped(us_between(t_syn, ts_ns), RTT_CAP_US);
            }
        }
    }

    /// The first packet that is neither SYN nor SYN-ACK ends the handshake; if it is the SYN
    /// sender's pure ACK of the SYN-ACK, it yields rtt_client and rtt. Returns whether it was.
    fn on_handshake_end(
        &mut self,
        side: usize,
        ts_ns: u64,
        tcp: &TcpHeader,
        pure_ack: bool,
    ) -> bool {
        let Some((t_synack, s)) = self.first_synack else {
            return false;
        };
        let server = usize::from(s);
        if !pure_ack || side == server || tcp.ack != self.peers[server].synack_seq.wrapping_add(1) {
            return false;
        }
        self.interval
            .rtt_client
            .add_capped(us_between(t_synack, ts_ns), RTT_CAP_US);
        if self.syn_before_synack {
            if let Some((t_syn, _)) = self.first_syn {
                let us = us_between(t_syn, ts_ns);
                if us <= RTT_CAP_US {
                    self.interval.rtt = us as u32;
                }
            }
        }
        true
    }

    /// The state after SYNs from endpoint `side` only: the first at `first_ns` with sequence
    /// number `seq`, the last at `last_ns`; `syns` of them in the current interval, `repeats` of
    /// those repeated. The same state as feeding those SYNs one by one.
    pub(super) fn after_syns(
        side: usize,
        (first_ns, last_ns): (u64, u64),
        seq: u32,
        syns: u32,
        repeats: u32,
    ) -> TcpPerf {
        let side = side & 1;
        let mut p = TcpPerf::default();
        let next = SeqNumber(seq) + 1;
        let peer = &mut p.peers[side];
        peer.sent_syn = true;
        peer.syn_seq = seq;
        peer.next_seq = Some(next);
        peer.ranges.set_base(next);
        peer.last_ts = last_ns;
        p.first_syn = Some((first_ns, side as u8));
        p.interval.syn_count = syns;
        p.interval.retrans_syn = repeats;
        p.interval.retrans[side] = repeats;
        p
    }

    /// Gives the flow's pooled ranges back (the flow is closing).
    pub fn release(&mut self, pool: &mut RangePool) {
        for p in self.peers.iter_mut() {
            super::ranges::release(pool, &mut p.ranges);
        }
    }

    /// Takes the interval's metrics and starts a new interval.
    pub fn take_interval(&mut self) -> PerfInterval {
        std::mem::take(&mut self.interval)
    }
}
