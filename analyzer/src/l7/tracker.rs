//! The L7 layer of one worker: protocol inference for new flows (per-server cache, port
//! prefilters, three-state probes), per-flow parsing through reassembly, and the pending-request
//! pool whose unanswered entries become timeout rows.

use super::app_table::{AppTable, Verdict, APP_TABLE_CAPACITY};
use super::config::L7Config;
use super::exchange::{emit_timeout, Exchange};
use super::flow_state::{L7Flow, L7Slab, HOLD_MAX};
use super::parser::{Hold, Segment, Transport};
use super::pending::PendingPool;
use super::protocol::{L7Protocol, ParserKind};
use super::reassembly::HoldPool;
use super::registry::Pools;
use super::stats::{L7Counters, L7Stats};
use super::worker_state::WorkerState;
use super::Probe;
use crate::flow::{Endpoint, Flow, L7Link};
use crate::mirror::CaptureMode;
use crate::record::{L7FlowLog, RecordSink};
use crate::tcp::SeqNumber;

const NS_PER_SEC: u64 = 1_000_000_000;

/// What inference made of a packet.
enum Inference {
    /// Tracked in this slot; the server is this flow side.
    Found {
        slot: u32,
        server: u8,
    },
    /// Tracked on a guess (a message start too short to be sure).
    Tentative {
        slot: u32,
    },
    NotYet,
    Skip,
}

/// What carried a payload to the L7 layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carrier {
    /// A TCP segment whose payload starts at this sequence number.
    Tcp(SeqNumber),
    Udp,
    /// An ICMP echo request or reply; the payload is the ICMP message, header included.
    Icmp,
}

impl Carrier {
    fn transport(self) -> Transport {
        match self {
            Carrier::Tcp(_) => Transport::Tcp,
            Carrier::Udp => Transport::Udp,
            Carrier::Icmp => Transport::Icmp,
        }
    }
}

/// One packet as the L7 layer sees it.
#[derive(Debug, Clone, Copy)]
pub struct L7Packet<'a> {
    /// Flow side (0/1) of the sender.
    pub side: usize,
    pub ts_ns: u64,
    pub carrier: Carrier,
    /// The L4 payload (not empty); an ICMP message whole.
    pub payload: &'a [u8],
    /// The flow's endpoints: endpoint 0 (its first sender), then endpoint 1.
    pub ends: [Endpoint; 2],
}

/// L7 state of one worker.
#[derive(Debug)]
pub struct L7Tracker {
    apps: AppTable,
    slab: L7Slab,
    holds: HoldPool<HOLD_MAX>,
    parsers: Pools,
    pool: PendingPool,
    scratch: Box<L7FlowLog>,
    shared: WorkerState,
}

impl L7Tracker {
    pub fn new(cfg: &L7Config) -> Self {
        L7Tracker {
            apps: AppTable::new(
                APP_TABLE_CAPACITY,
                cfg.inference_ttl_s,
                cfg.inference_max_retries,
            ),
            slab: L7Slab::new(cfg.flow_capacity),
            holds: HoldPool::new(cfg.hold_buffers),
            parsers: Pools::new(cfg),
            pool: PendingPool::new(cfg.pending_capacity),
            scratch: Box::default(),
            shared: WorkerState::default(),
        }
    }

    /// New inference settings (a configuration change).
    pub fn set_inference(&mut self, ttl_s: u32, max_retries: u32) {
        self.apps.set_limits(ttl_s, max_retries);
    }

    /// Most memory the L7 layer of one worker can take with `cfg` (slots, pending rows, hold
    /// buffers, every protocol's state pool; reserved up front, touched as used; what parsers
    /// keep across flows, allocated at first use).
    pub fn memory_bytes(cfg: &L7Config) -> u64 {
        let slot = std::mem::size_of::<L7Flow>() as u64;
        u64::from(cfg.flow_capacity) * slot
            + PendingPool::memory_bytes(cfg.pending_capacity)
            + u64::from(cfg.hold_buffers) * HOLD_MAX as u64
            + Pools::memory_bytes(cfg)
            + WorkerState::MEMORY_BYTES
    }

    /// The L7 state `flow` links to, if it has a slot (live or not: an address to prefetch).
    #[inline(always)]
    pub fn state_of(&self, flow: &Flow) -> Option<&L7Flow> {
        match flow.l7() {
            L7Link::Tracked(slot) => self.slab.slot(slot),
            L7Link::Untried(_) | L7Link::Skip => None,
        }
    }

    /// Flows with L7 state now.
    pub fn active_flows(&self) -> usize {
        self.slab.in_use()
    }

    /// A TCP or UDP packet of `flow` from flow side `side` with a non-empty L4 payload, or an
    /// ICMP echo message. Returns the server's flow side when this packet decided the flow's
    /// protocol.
    pub fn on_payload(
        &mut self,
        cfg: &L7Config,
        mode: CaptureMode,
        flow: &mut Flow,
        pkt: L7Packet<'_>,
        sink: &mut dyn RecordSink,
        counters: &mut L7Counters,
    ) -> Option<u8> {
        let L7Packet { ts_ns, payload, .. } = pkt;
        if payload.is_empty() || cfg.enabled.is_empty() {
            return None;
        }
        let mut decided = None;
        let slot = match flow.l7() {
            L7Link::Skip => return None,
            L7Link::Tracked(i) => i,
            L7Link::Untried(n) => match self.infer(cfg, flow, &pkt, counters) {
                Inference::Found { slot, server } => {
                    flow.set_l7(L7Link::Tracked(slot));
                    decided = Some(server);
                    slot
                }
                Inference::Tentative { slot } => {
                    flow.set_l7(L7Link::Tracked(slot));
                    if let Some(st) = self.slab.get_mut(slot, flow.id()) {
                        st.confirmed = false;
                        st.tries = n.saturating_add(1);
                    }
                    slot
                }
                Inference::Skip => {
                    flow.set_l7(L7Link::Skip);
                    return None;
                }
                Inference::NotYet => {
                    let tries = n.saturating_add(1);
                    let link = if tries >= cfg.inference_packets_per_flow {
                        counters.inference_failed += 1;
                        let server = pkt.ends[usize::from(flow.direction.server)];
                        self.apps.on_failure(&server, (ts_ns / NS_PER_SEC) as u32);
                        L7Link::Skip
                    } else {
                        L7Link::Untried(tries)
                    };
                    flow.set_l7(link);
                    return None;
                }
            },
        };
        let undo = self.parse(cfg, mode, &*flow, slot, pkt, sink, counters);
        if let Some(tries) = undo {
            self.free_slot(slot);
            let link = if tries >= cfg.inference_packets_per_flow {
                counters.inference_failed += 1;
                L7Link::Skip
            } else {
                L7Link::Untried(tries)
            };
            flow.set_l7(link);
        }
        decided
    }

    /// Feeds the packet to the flow's parser. Returns Some(tries) when a tentative protocol
    /// turned out wrong (the caller undoes the tracking).
    #[allow(clippy::too_many_arguments)]
    fn parse(
        &mut self,
        cfg: &L7Config,
        mode: CaptureMode,
        flow: &Flow,
        slot: u32,
        pkt: L7Packet<'_>,
        sink: &mut dyn RecordSink,
        counters: &mut L7Counters,
    ) -> Option<u8> {
        let L7Packet {
            side,
            ts_ns,
            carrier,
            payload,
            ..
        } = pkt;
        let tcp_seq = match carrier {
            Carrier::Tcp(seq) => Some(seq),
            Carrier::Udp | Carrier::Icmp => None,
        };
        let st = self.slab.get_mut(slot, flow.id())?;
        let parsers = &mut self.parsers;
        let holds = &mut self.holds;
        let exhausted_before = holds.exhausted;
        let L7Flow {
            proto,
            client_side,
            streams,
            kind: kind_slot,
            state: state_slot,
            refs,
            stats,
            confirmed,
            held,
            tries,
            ..
        } = st;
        let (kind, state) = (*kind_slot, *state_slot);
        let errors_before = counters.parse_errors;
        let from_client = side == usize::from(*client_side);
        let hold = match kind.desc().hold {
            Hold::Truncation => usize::from(cfg.payload_truncation).min(HOLD_MAX),
            Hold::Max => HOLD_MAX,
        };
        let mut x = Exchange {
            cfg,
            flow,
            ends: pkt.ends,
            mode,
            proto: *proto,
            kind,
            client_side: usize::from(*client_side),
            slot,
            pool: &mut self.pool,
            refs,
            stats,
            counters,
            sink,
            scratch: &mut self.scratch,
            shared: &mut self.shared,
            ts_ns,
            tcp_seq: tcp_seq.map_or(0, |s| s.0),
            is_tls: kind.desc().tls,
            messages: 0,
            upgraded: None,
        };
        let pcfg = &cfg.protocols;
        let Some(seq) = tcp_seq else {
            let seg = Segment {
                data: payload,
                from_client,
                hold,
                transport: carrier.transport(),
            };
            parsers.on_data(kind, state, pcfg, seg, &mut x);
            if x.messages > 0 {
                *confirmed = true;
            }
            return None;
        };
        // While the protocol is a guess, each time the held head grows it is probed again: a
        // protocol that is certain of it replaces the guess (a 4-byte head fits several).
        let tentative = !*confirmed;
        let ports = [flow.port(0), flow.port(1)];
        let mut cur = (kind, state);
        let mut switched = false;
        let mut from_client = from_client;
        let out = streams[side].feed(holds, seq, payload, |data, resync| {
            if tentative && x.messages == 0 && !resync {
                match certain_of(cfg, ports, data) {
                    Some(k) => {
                        if k != cur.0 {
                            if let Some(s) = parsers.alloc(k) {
                                parsers.release(cur.0, cur.1);
                                cur = (k, s);
                                x.kind = k;
                                x.proto = k.protocol();
                                x.is_tls = k.desc().tls;
                                switched = true;
                            }
                        }
                        // The message says who sent it: the guess may have had the roles
                        // the wrong way round (a server's greeting cut to a few bytes).
                        if x.kind == k
                            && k.sent_by_client(data, Transport::Tcp) == Some(!from_client)
                        {
                            from_client = !from_client;
                            x.client_side ^= 1;
                            switched = true;
                        }
                    }
                    // Nobody is sure yet: hold the head for the next segment rather than let
                    // the guess consume it.
                    None if data.len() < hold => {
                        if held.len == 0 {
                            (held.ts_ns, held.tcp_seq) = (x.ts_ns, x.tcp_seq);
                        }
                        held.len = data.len() as u32;
                        return 0;
                    }
                    None => {}
                }
            }
            let dir = usize::from(!from_client);
            if resync {
                parsers.on_gap(cur.0, cur.1, dir, &mut x);
            }
            let seg = Segment {
                data,
                from_client,
                hold,
                transport: Transport::Tcp,
            };
            // The held head is shown to the parser first as it was when it came (the parser
            // dates a message as it would have without the hold), then with what followed.
            let h = std::mem::take(held);
            if h.len > 0 {
                let (ts, sq) = (h.ts_ns, h.tcp_seq);
                let len = (h.len as usize).min(data.len());
                let now = (x.ts_ns, x.tcp_seq);
                (x.ts_ns, x.tcp_seq) = (ts, sq);
                let head = Segment {
                    data: &data[..len],
                    ..seg
                };
                let used = parsers.on_data(cur.0, cur.1, pcfg, head, &mut x).min(len);
                (x.ts_ns, x.tcp_seq) = now;
                if used > 0 {
                    let rest = Segment {
                        data: &data[used..],
                        ..seg
                    };
                    return used + parsers.on_data(cur.0, cur.1, pcfg, rest, &mut x);
                }
            }
            parsers.on_data(cur.0, cur.1, pcfg, seg, &mut x)
        });
        if switched {
            *kind_slot = cur.0;
            *state_slot = cur.1;
            *proto = cur.0.protocol();
            *client_side = x.client_side as u8;
        }
        if let Some(p) = x.upgraded {
            *proto = p;
        }
        let messages = x.messages;
        let c = &mut x.counters;
        c.duplicate_segments += u64::from(out.duplicate);
        c.gaps += u64::from(out.gap > 0);
        c.gap_bytes += u64::from(out.gap);
        c.overflow_bytes += u64::from(out.overflow);
        c.hold_exhausted += holds.exhausted - exhausted_before;
        if !*confirmed {
            if messages > 0 {
                *confirmed = true;
            } else if c.parse_errors > errors_before || *tries >= cfg.inference_packets_per_flow {
                // The guess was wrong: back to inference (these were not L7 errors).
                c.parse_errors = errors_before;
                c.flows = c.flows.saturating_sub(1);
                return Some(*tries);
            } else {
                *tries = tries.saturating_add(1);
            }
        }
        None
    }
}

/// The first enabled protocol tried on `ports` that is certain `data` is its message, in
/// registry order.
fn certain_of(cfg: &L7Config, ports: [u16; 2], data: &[u8]) -> Option<ParserKind> {
    let tcp = cfg.enabled.parsers() & ParserKind::carried_by(Transport::Tcp);
    ParserKind::each(tcp).find(|k| {
        let p = k.protocol();
        ports.iter().any(|port| cfg.tried_on(p, *port))
            && k.probe(data, Transport::Tcp) == Probe::Certain
    })
}

impl L7Tracker {
    fn infer(
        &mut self,
        cfg: &L7Config,
        flow: &Flow,
        pkt: &L7Packet<'_>,
        counters: &mut L7Counters,
    ) -> Inference {
        let &L7Packet {
            side,
            ts_ns,
            carrier,
            payload,
            ends,
        } = pkt;
        let t = carrier.transport();
        let now_s = (ts_ns / NS_PER_SEC) as u32;
        let guess_server = usize::from(flow.direction.server);
        let fits = |p: L7Protocol| match t {
            Transport::Tcp => p.over_tcp(),
            Transport::Udp => p.over_udp(),
            Transport::Icmp => p.over_icmp(),
        };
        match self.apps.lookup(&ends[guess_server], now_s) {
            Verdict::GiveUp => {
                counters.inference_skipped += 1;
                return Inference::Skip;
            }
            Verdict::Known(p) if fits(p) && cfg.enabled.contains(p) => {
                let sent = p.parser().and_then(|k| k.sent_by_client(payload, t));
                let client = match sent {
                    Some(true) => side,
                    Some(false) => side ^ 1,
                    None => guess_server ^ 1,
                };
                counters.inference_cached += 1;
                return self.track(cfg, flow, p, client, counters);
            }
            _ => {}
        }
        let ports = [flow.port(0), flow.port(1)];
        // ICMP has no ports: its protocols are tried whenever they are enabled.
        let tried = |p: L7Protocol| match t {
            Transport::Icmp => cfg.enabled.contains(p),
            Transport::Tcp | Transport::Udp => ports.iter().any(|port| cfg.tried_on(p, *port)),
        };
        let mut unsure = None;
        // The enabled parsers of this transport, in registry order.
        for k in ParserKind::each(cfg.enabled.parsers() & ParserKind::carried_by(t)) {
            let p = k.protocol();
            if !tried(p) {
                continue;
            }
            // A message that does not say who sent it (ZMTP's greeting, sent by both peers):
            // the flow's direction (its handshake, else its ports) tells.
            let client = |p: L7Protocol| match p.parser().and_then(|k| k.sent_by_client(payload, t))
            {
                Some(true) => side,
                Some(false) => side ^ 1,
                None => guess_server ^ 1,
            };
            match k.probe(payload, t) {
                Probe::Certain => {
                    let client = client(p);
                    self.apps.on_success(&ends[client ^ 1], p, now_s);
                    return self.track(cfg, flow, p, client, counters);
                }
                Probe::Unsure if unsure.is_none() => unsure = Some((p, client(p))),
                _ => {}
            }
        }
        // A TCP message start too short to decide (a head cut by the segment boundary): follow
        // the stream on a guess, so that reassembly can complete the head.
        match unsure {
            Some((p, client)) if t == Transport::Tcp => {
                match self.track(cfg, flow, p, client, counters) {
                    Inference::Found { slot, .. } => Inference::Tentative { slot },
                    other => other,
                }
            }
            _ => Inference::NotYet,
        }
    }

    fn track(
        &mut self,
        cfg: &L7Config,
        flow: &Flow,
        p: L7Protocol,
        client: usize,
        counters: &mut L7Counters,
    ) -> Inference {
        let Some(kind) = p.parser() else {
            return Inference::Skip;
        };
        let Some(state) = self.parsers.alloc(kind) else {
            counters.pool_full += 1;
            return Inference::Skip;
        };
        let hold = match kind.desc().hold {
            Hold::Truncation => usize::from(cfg.payload_truncation).min(HOLD_MAX),
            Hold::Max => HOLD_MAX,
        };
        match self
            .slab
            .alloc(flow.id(), p, (kind, state), client as u8, hold)
        {
            Some(slot) => {
                counters.flows += 1;
                Inference::Found {
                    slot,
                    server: (client ^ 1) as u8,
                }
            }
            None => {
                self.parsers.release(kind, state);
                counters.state_full += 1;
                Inference::Skip
            }
        }
    }

    /// Reports requests whose window passed by `now_ns` as timeouts.
    pub fn expire(&mut self, now_ns: u64, sink: &mut dyn RecordSink, counters: &mut L7Counters) {
        while let Some(e) = self.pool.pop_expired(now_ns) {
            let stats = self.slab.get_mut(e.slot, e.flow_id).map(|st| &mut st.stats);
            emit_timeout(e, stats, sink, counters);
        }
    }

    /// The flow ends: its unanswered requests are reported as timeouts (before its last l4 row
    /// is built, so they are counted there).
    pub fn end_flow(
        &mut self,
        cfg: &L7Config,
        mode: CaptureMode,
        flow: &Flow,
        ends: [Endpoint; 2],
        sink: &mut dyn RecordSink,
        counters: &mut L7Counters,
    ) {
        let L7Link::Tracked(slot) = flow.l7() else {
            return;
        };
        let Some(st) = self.slab.get_mut(slot, flow.id()) else {
            return;
        };
        let mut x = Exchange {
            cfg,
            flow,
            ends,
            mode,
            proto: st.proto,
            kind: st.kind,
            client_side: usize::from(st.client_side),
            slot,
            pool: &mut self.pool,
            refs: &mut st.refs,
            stats: &mut st.stats,
            counters,
            sink,
            scratch: &mut self.scratch,
            shared: &mut self.shared,
            ts_ns: flow.last_ns(),
            tcp_seq: 0,
            is_tls: st.kind.desc().tls,
            messages: 0,
            upgraded: None,
        };
        self.parsers
            .on_close(st.kind, st.state, &cfg.protocols, &mut x);
        while let Some(seq) = st.refs.take_oldest() {
            if let Some(e) = self.pool.take(seq) {
                emit_timeout(e, Some(&mut st.stats), sink, counters);
            }
        }
    }

    /// The flow's protocol and L7 stats of the interval now ending (reset for the next).
    pub fn take_stats(&mut self, flow: &Flow) -> Option<(L7Protocol, L7Stats)> {
        let L7Link::Tracked(slot) = flow.l7() else {
            return None;
        };
        let st = self.slab.get_mut(slot, flow.id())?;
        Some((st.proto, std::mem::take(&mut st.stats)))
    }

    /// Frees the flow's L7 state.
    pub fn release(&mut self, flow: &Flow) {
        if let L7Link::Tracked(slot) = flow.l7() {
            if self.slab.get_mut(slot, flow.id()).is_some() {
                self.free_slot(slot);
            }
        }
    }

    fn free_slot(&mut self, slot: u32) {
        if let Some(streams) = self.slab.streams_mut(slot) {
            for s in streams {
                s.release(&mut self.holds);
            }
        }
        if let Some((kind, state)) = self.slab.parser(slot) {
            self.parsers.release(kind, state);
        }
        self.slab.release(slot);
    }
}

#[cfg(test)]
#[path = "tracker_tests.rs"]
pub(crate) mod tests;

#[cfg(test)]
#[path = "tracker_settings_tests.rs"]
mod settings_tests;
