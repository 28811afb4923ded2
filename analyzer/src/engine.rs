//! [`Analyzer`]: one worker's shard of flows, fed packet by packet, time carried by the packets.

use crate::block_pool::{BlockPool, BlockRef};
use crate::config::AnalyzerConfig;
use crate::counters::Counters;
use crate::flow::{
    Carried, CloseType, ConnState, Direction, Endpoint, Flow, FlowKey, FlowTable, FlowTunnel,
    IcmpEchoes, ServiceTable, SCORE_L7, SCORE_SYN, SCORE_SYN_ACK, SERVICE_TABLE_CAPACITY,
};
use crate::l7::tracker::{Carrier, L7Packet};
use crate::l7::L7Tracker;
use crate::mirror::{Dedup, Observation, Observations};
use crate::record::{L4FlowLog, Record, RecordSink};
use crate::tcp::{PerfPools, SeqNumber, ART_CAP_US, SRT_CAP_US};
use crate::wire::{self, Packet, TcpHeader, Transport};
use crate::PacketMeta;

const NS_PER_SEC: u64 = 1_000_000_000;
/// Timestamps may step back this much without being counted (clamped either way).
const TS_BACKWARDS_TOLERANCE_NS: u64 = 1_000_000;

/// The time an analyzer whose clock reads `now` (None: before its first frame) takes a frame
/// stamped `ts` at: never earlier than `now`; `true` when the stamp stepped back by more than
/// the tolerance (counted as `ts_backwards`). A reader that spreads one input over several
/// analyzers applies it once, in input order, so each analyzer gets the time one would use.
pub fn packet_time(now: Option<u64>, ts: u64) -> (u64, bool) {
    match now {
        Some(now) if ts < now => (now, now - ts > TS_BACKWARDS_TOLERANCE_NS),
        _ => (ts, false),
    }
}

/// One analyzer worker.
#[derive(Debug)]
pub struct Analyzer {
    cfg: AnalyzerConfig,
    table: FlowTable,
    counters: Counters,
    now_ns: u64,
    started: bool,
    /// Index of the report period (`report_period_ns`: a minute, or a second) whose report is
    /// next.
    report_index: u64,
    flow_counter: u32,
    /// The current observation's ordinal in a numbered input ([`PacketMeta::seq`]): a flow it
    /// starts takes it as its id's counter.
    observation_ordinal: Option<u64>,
    /// Full performance state of the flows past their opening, and sequence ranges of the TCP
    /// directions with more holes than fit in it.
    perf: PerfPools,
    /// Outstanding echo requests of the ICMP flows that sent one.
    icmp_echoes: BlockPool<IcmpEchoes>,
    /// Tunnels of the tunnelled flows.
    tunnels: BlockPool<FlowTunnel>,
    /// What the earlier rows of flows that go on counted.
    carried: BlockPool<Carried>,
    dedup: Dedup,
    services: ServiceTable,
    l7: L7Tracker,
}

impl Analyzer {
    pub fn new(cfg: AnalyzerConfig) -> Self {
        let horizon = cfg.timeouts.max_ns();
        Analyzer {
            table: FlowTable::new(cfg.flow_capacity, horizon),
            perf: PerfPools::new(cfg.flow_capacity),
            icmp_echoes: BlockPool::new(crate::flow::icmp_blocks_for(cfg.flow_capacity)),
            tunnels: BlockPool::new(crate::flow::tunnel_blocks_for(cfg.flow_capacity)),
            carried: BlockPool::new(crate::flow::carried_blocks_for(cfg.flow_capacity)),
            dedup: Dedup::new(&cfg.mirror.dedup),
            services: ServiceTable::new(SERVICE_TABLE_CAPACITY),
            l7: L7Tracker::new(&cfg.l7),
            cfg,
            counters: Counters::default(),
            now_ns: 0,
            started: false,
            report_index: 0,
            flow_counter: 0,
            observation_ordinal: None,
        }
    }

    /// Takes over `new` (a new config epoch, between bursts). Open flows keep their state and
    /// continue under the new settings. Refused, with the keys, when a setting can only change
    /// with a new analyzer ([`AnalyzerConfig::restart_only_changes`]). The worker id stays.
    pub fn reconfigure(&mut self, mut new: AnalyzerConfig) -> Result<(), Vec<&'static str>> {
        let blocked = self.cfg.restart_only_changes(&new);
        if !blocked.is_empty() {
            return Err(blocked);
        }
        new.worker_id = self.cfg.worker_id;
        if new.mirror.dedup != self.cfg.mirror.dedup {
            self.dedup = Dedup::new(&new.mirror.dedup);
        }
        self.l7
            .set_inference(new.l7.inference_ttl_s, new.l7.inference_max_retries);
        self.cfg = new;
        self.counters.reconfigurations += 1;
        Ok(())
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    pub fn active_flows(&self) -> usize {
        self.table.len()
    }

    /// Flows holding L7 state now.
    pub fn l7_flows(&self) -> usize {
        self.l7.active_flows()
    }

    /// Current analyzer time (the latest packet or tick), ns.
    pub fn now_ns(&self) -> u64 {
        self.now_ns
    }

    /// Analyses one frame.
    pub fn on_packet(&mut self, meta: &PacketMeta, frame: &[u8], sink: &mut impl RecordSink) {
        self.on_frame(meta, frame, None, sink);
    }

    /// Analyses one frame, taking over its decoded form when another thread decoded it (from
    /// these bytes with this analyzer's decode settings; decoded again when they differ).
    fn on_frame(
        &mut self,
        meta: &PacketMeta,
        frame: &[u8],
        decoded: Option<&wire::Decoded>,
        sink: &mut impl RecordSink,
    ) {
        if self.filtered_out(meta, frame) {
            self.counters.capture_filtered += 1;
            return;
        }
        let ts = self.take_time(meta, sink);
        // Each arm analyses its own packet in place (one shared binding moved the 216-byte
        // packet once more per frame).
        if let Some(p) = decoded.and_then(|d| d.packet(frame, &self.cfg.decode)) {
            return self.on_decoded(meta, ts, &p, sink);
        }
        let mut p = wire::Packet::EMPTY;
        match wire::decode_link_into(frame, meta.link, &self.cfg.decode, &mut p) {
            Ok(()) => self.on_decoded(meta, ts, &p, sink),
            Err(e) => self.counters.count_decode_error(e),
        }
    }

    /// Does the capture filter reject the frame? (It then goes no further: not counted in
    /// `rx_packets`, its time not taken.)
    #[inline(always)]
    fn filtered_out(&self, meta: &PacketMeta, frame: &[u8]) -> bool {
        self.cfg
            .capture_filter
            .as_ref()
            .is_some_and(|f| !f.keeps(meta.link, frame, meta.wire_len))
    }

    /// Counts a frame and moves time to its stamp (never back); the time it is analysed at.
    #[inline(always)]
    fn take_time(&mut self, meta: &PacketMeta, sink: &mut impl RecordSink) -> u64 {
        self.counters.rx_packets += 1;
        self.counters.rx_bytes += u64::from(meta.wire_len);
        let (ts, backwards) = packet_time(self.started.then_some(self.now_ns), meta.ts_ns);
        if backwards {
            self.counters.ts_backwards += 1;
        }
        // At millions of frames a second, microsecond stamps repeat (four frames to a stamp in
        // the 64-byte benchmark input): the call, with its saving and restoring of registers,
        // only when time moves.
        if ts > self.now_ns || !self.started {
            self.advance_to(ts, sink);
        }
        ts
    }

    /// Moves time forward without a packet (idle tick): expires flows and emits minute reports.
    pub fn advance_to(&mut self, ts_ns: u64, sink: &mut impl RecordSink) {
        if !self.started {
            self.started = true;
            self.now_ns = ts_ns;
            self.report_index = ts_ns / self.period();
            self.table.wheel.next_expired(ts_ns);
            return;
        }
        if ts_ns <= self.now_ns {
            return;
        }
        let period = self.period();
        while ts_ns >= (self.report_index + 1) * period {
            let boundary = (self.report_index + 1) * period;
            self.expire_until(boundary, sink);
            self.report_live_flows(boundary, sink);
            self.report_index = (self.report_index + 1).max(ts_ns / period);
        }
        self.expire_until(ts_ns, sink);
        self.l7.expire(ts_ns, sink, &mut self.counters.l7);
        self.now_ns = ts_ns;
    }

    /// The interval of live flows' rows (a minute; a second with 1-second metrics), whole
    /// seconds (a flow keeps its interval's start in seconds).
    fn period(&self) -> u64 {
        (self.cfg.report_period_ns / NS_PER_SEC).max(1) * NS_PER_SEC
    }

    /// Closes every flow as if its timeout had passed (end of input, or shutdown).
    pub fn finish(&mut self, sink: &mut impl RecordSink) {
        for idx in 0..self.table.slots() as u32 {
            if self.table.is_active(idx) {
                self.end_flow(idx, sink);
            }
        }
        // Every flow ended: the table empties at once instead of one index removal per flow
        // (a cache miss each).
        self.table.clear();
    }

    fn expire_until(&mut self, ts_ns: u64, sink: &mut impl RecordSink) {
        while let Some(idx) = self.table.wheel.next_expired(ts_ns) {
            self.close_flow(idx, sink);
        }
    }

    fn report_live_flows(&mut self, boundary_ns: u64, sink: &mut impl RecordSink) {
        for idx in 0..self.table.slots() as u32 {
            if !self.table.is_active(idx) || self.table.get(idx).interval_packets() == 0 {
                continue;
            }
            let ends = self.table.endpoints(idx);
            let rec = self.build_record(idx, &ends, CloseType::ForcedReport, boundary_ns);
            self.emit(&rec, sink);
            let f = self.table.get_mut(idx);
            f.start_interval_at(boundary_ns);
        }
    }

    fn close_flow(&mut self, idx: u32, sink: &mut impl RecordSink) {
        self.end_flow(idx, sink);
        self.table.remove(idx);
    }

    /// The flow's last rows, its pooled state given back; it stays in the table.
    fn end_flow(&mut self, idx: u32, sink: &mut impl RecordSink) {
        let f = self.table.get(idx);
        let close = if f.key.proto == wire::IPPROTO_TCP {
            f.conn.close_type(f.direction.client())
        } else {
            CloseType::Finish
        };
        // A flow idle since its last minute row closes at that boundary, not before it.
        let end = f.last_ns().max(f.interval_start_ns());
        let ends = self.table.endpoints(idx);
        self.l7.end_flow(
            &self.cfg.l7,
            self.cfg.mirror.mode,
            f,
            ends,
            sink,
            &mut self.counters.l7,
        );
        let rec = self.build_record(idx, &ends, close, end);
        self.emit(&rec, sink);
        self.l7.release(self.table.get(idx));
        let f = self.table.get_mut(idx);
        f.perf.release(&mut self.perf);
        self.icmp_echoes.release(&mut f.icmp_pending);
        self.tunnels.release(&mut f.tunnel);
        self.carried.release(&mut f.carried);
        self.counters.flows_closed += 1;
    }

    fn emit(&mut self, rec: &L4FlowLog, sink: &mut impl RecordSink) {
        self.counters.records += 1;
        sink.record(rec.as_ref());
    }

    fn on_decoded(
        &mut self,
        meta: &PacketMeta,
        ts: u64,
        pkt: &Packet<'_>,
        sink: &mut impl RecordSink,
    ) {
        let observations = self.cfg.mirror.observe(pkt, meta.ifindex);
        self.on_observed(meta, ts, pkt, &observations, None, sink);
    }

    /// Accounts a decoded frame as `observations` say; `first_hash`: the flow key hash of the
    /// first observation when already computed ([`Analyzer::on_burst`]).
    fn on_observed(
        &mut self,
        meta: &PacketMeta,
        ts: u64,
        pkt: &Packet<'_>,
        observations: &Observations,
        first_hash: Option<u64>,
        sink: &mut impl RecordSink,
    ) {
        // Borrowed, not copied: the IP and TCP headers are read in place for every packet.
        let Some(ip) = &pkt.ip else {
            self.counters.non_ip += 1;
            return;
        };
        let first = observations.as_slice()[0];
        if self.cfg.mirror.dedups(first.tap_type) {
            if let Some(k) = self.dedup.key(pkt) {
                if self.dedup.is_duplicate(k, ts) {
                    self.counters.dedup_dropped += 1;
                    return;
                }
            }
        }
        if pkt.transport == Transport::Fragment {
            self.counters.ip_fragments += 1;
        }
        let tcp = match &pkt.transport {
            Transport::Tcp(t) => {
                if t.options.malformed {
                    self.counters.tcp_bad_options += 1;
                }
                Some(t)
            }
            _ => None,
        };
        for (i, obs) in observations.as_slice().iter().enumerate() {
            // Two observations of one frame at most (mirror mode): two ordinals per frame.
            self.observation_ordinal = match meta.seq {
                0 => None,
                seq => Some((seq - 1) * 2 + i as u64),
            };
            let hash = if i == 0 { first_hash } else { None };
            self.account(obs, ts, ip, pkt, tcp, hash, sink);
        }
    }

    /// The flow key of one observation of a packet, with its source and destination.
    #[inline(always)]
    fn flow_key(
        obs: &Observation,
        ip: &wire::IpInfo,
        pkt: &Packet<'_>,
    ) -> (FlowKey, Endpoint, Endpoint) {
        let (sport, dport) = pkt.transport.ports();
        let src = Endpoint {
            ip: ip.src,
            port: sport,
        };
        let dst = Endpoint {
            ip: ip.dst,
            port: dport,
        };
        let tunnel = (pkt.tunnel.kind as u8, pkt.tunnel.id);
        let key = FlowKey::new(
            src,
            dst,
            ip.proto,
            ip.is_v6,
            tunnel,
            (obs.tap_type, obs.tap_port.0),
        );
        (key, src, dst)
    }

    /// Accounts one observation of a packet to its flow (`hash`: its key's, when known).
    #[allow(clippy::too_many_arguments)]
    fn account(
        &mut self,
        obs: &Observation,
        ts: u64,
        ip: &wire::IpInfo,
        pkt: &Packet<'_>,
        tcp: Option<&TcpHeader>,
        hash: Option<u64>,
        sink: &mut impl RecordSink,
    ) {
        let (key, src, dst) = Self::flow_key(obs, ip, pkt);
        let hash = hash.unwrap_or_else(|| self.table.hash(&key));
        let src_is_lo = key.lo == src;
        let mut found = self.table.find(&key, hash);
        if let (Some(idx), Some(t)) = (found, tcp) {
            let f = self.table.get(idx);
            let side = f.side_of(src_is_lo) as u8;
            if f.conn.is_new_connection(side, t) {
                self.counters.flows_port_reused += 1;
                self.close_flow(idx, sink);
                found = None;
            }
        }
        let idx = match found {
            Some(idx) => idx,
            None => match self.create_flow((key, hash), [src, dst], ts, pkt, sink) {
                Some(idx) => idx,
                None => return,
            },
        };
        let f = self.table.get_mut(idx);
        let side = f.side_of(src_is_lo);
        f.sides[side].l2_end |= obs.src_local;
        f.sides[side ^ 1].l2_end |= obs.dst_local;
        let ends = if side == 0 { [src, dst] } else { [dst, src] };
        self.update_flow(idx, ts, (side, &ends), ip, pkt, tcp);
        self.inspect_l7(idx, ts, (side, ends), pkt, tcp, sink);
    }

    /// Hands a TCP/UDP payload or an ICMP echo message to the L7 layer; an L7 verdict on who is
    /// the server outranks everything but a SYN-ACK.
    fn inspect_l7(
        &mut self,
        idx: u32,
        ts: u64,
        (side, ends): (usize, [Endpoint; 2]),
        pkt: &Packet<'_>,
        tcp: Option<&TcpHeader>,
        sink: &mut impl RecordSink,
    ) {
        if self.cfg.l7.packets_disabled {
            return;
        }
        let (carrier, payload) = match pkt.transport {
            Transport::Tcp(_) | Transport::Udp(_) if !pkt.payload.is_empty() => {
                // Data on a SYN starts after the SYN's own sequence number.
                let carrier = tcp.map_or(Carrier::Udp, |t| {
                    Carrier::Tcp(SeqNumber(t.seq) + u32::from(t.flags.is_syn()))
                });
                (carrier, pkt.payload)
            }
            Transport::Icmp(h) => match self.icmp_echo_message(pkt, &h) {
                Some(msg) => (Carrier::Icmp, msg),
                None => return,
            },
            _ => return,
        };
        let f = self.table.get_mut(idx);
        let decided = self.l7.on_payload(
            &self.cfg.l7,
            self.cfg.mirror.mode,
            f,
            L7Packet {
                side,
                ts_ns: ts,
                carrier,
                payload,
                ends,
            },
            sink,
            &mut self.counters.l7,
        );
        if let Some(server) = decided {
            f.direction.observe(server, SCORE_L7);
        }
    }

    /// An ICMP echo request or reply whole (its header says what it is), when a protocol read
    /// from ICMP is enabled.
    #[inline(never)]
    fn icmp_echo_message<'p>(&self, pkt: &Packet<'p>, h: &wire::IcmpHeader) -> Option<&'p [u8]> {
        if !(h.is_echo_request() || h.is_echo_reply()) || !self.cfg.l7.enabled.any_over_icmp() {
            return None;
        }
        let msg = pkt.l3.get(usize::from(pkt.ip?.header_len)..)?;
        (msg.len() >= ICMP_ECHO_HEADER).then_some(msg)
    }

    fn create_flow(
        &mut self,
        (key, hash): (FlowKey, u64),
        [src, dst]: [Endpoint; 2],
        ts: u64,
        pkt: &Packet<'_>,
        sink: &mut impl RecordSink,
    ) -> Option<u32> {
        if self.table.is_full() {
            match self.cfg.on_table_full {
                crate::config::TableFullPolicy::Refuse => {
                    self.counters.flow_table_full += 1;
                    return None;
                }
                crate::config::TableFullPolicy::EvictOldest => {
                    let victim = self.table.wheel.soonest()?;
                    self.counters.flows_evicted += 1;
                    self.close_flow(victim, sink);
                }
            }
        }
        let has_ports = matches!(pkt.transport, Transport::Tcp(_) | Transport::Udp(_));
        let direction =
            Direction::from_ports(src.port, dst.port, has_ports, &self.cfg.server_ports);
        let ordinal = self
            .observation_ordinal
            .unwrap_or(u64::from(self.flow_counter));
        let id_low = (u32::from(self.cfg.worker_id) << 24) | (ordinal & 0x00FF_FFFF) as u32;
        self.flow_counter = self.flow_counter.wrapping_add(1);
        let mut flow = Flow::new(&key, id_low, [src, dst], ts, direction);
        flow.sides[0].mac = pkt.l2.src_mac;
        flow.sides[1].mac = pkt.l2.dst_mac;
        flow.vlan = pkt.l2.vlan;
        if pkt.tunnel.kind != wire::TunnelType::None {
            match self.tunnels.take() {
                Some(b) => {
                    if let Some(t) = self.tunnels.get_mut(b) {
                        t.fwd = pkt.tunnel;
                    }
                    flow.tunnel = b;
                }
                None => self.counters.tunnel_blocks_exhausted += 1,
            }
        }
        let idx = self.table.insert(flow, &key, hash).ok()?;
        self.counters.flows_created += 1;
        self.counters.active_flows_peak =
            self.counters.active_flows_peak.max(self.table.len() as u64);
        if has_ports {
            self.services
                .on_first_packet(&src, &dst, (ts / NS_PER_SEC) as u32);
        }
        Some(idx)
    }

    fn update_flow(
        &mut self,
        idx: u32,
        ts: u64,
        (side, ends): (usize, &[Endpoint; 2]),
        ip: &wire::IpInfo,
        pkt: &Packet<'_>,
        tcp: Option<&TcpHeader>,
    ) {
        let timeouts = self.cfg.timeouts;
        let f = self.table.get_mut(idx);
        let prev_ns = f.last_ns();
        let l4_payload = match pkt.transport {
            Transport::Tcp(t) => u64::from(t.payload_len),
            Transport::Udp(u) => u64::from(u.payload_len),
            _ => pkt.payload.len() as u64,
        };
        let bytes = u64::from(pkt.l2.l2_len) + u64::from(ip.total_len);
        f.count_packet(
            side,
            ts,
            (bytes, u64::from(ip.l3_payload_len()), l4_payload),
            pkt.l2.src_mac,
        );
        if side == 1 && pkt.tunnel.kind != wire::TunnelType::None {
            if let Some(t) = self.tunnels.get_mut(f.tunnel) {
                if t.rev.is_none() && pkt.tunnel.kind == t.fwd.kind {
                    t.rev = Some((pkt.tunnel.src, pkt.tunnel.dst));
                }
            }
        }

        let timeout = if let Some(t) = tcp {
            f.sides[side].interval.tcp_flags |= t.flags.0;
            f.conn.on_packet(side as u8, t);
            if t.flags.is_syn_ack() {
                f.direction.observe(side as u8, SCORE_SYN_ACK);
                self.services
                    .on_syn_ack(&ends[side], &ends[side ^ 1], (ts / NS_PER_SEC) as u32);
            } else if t.flags.is_syn() {
                f.direction.observe(side as u8 ^ 1, SCORE_SYN);
            }
            match f.perf.on_packet(side, ts, t, &mut self.perf) {
                crate::tcp::PerfVerdict::AbnormalFlags => self.counters.tcp_abnormal_flags += 1,
                crate::tcp::PerfVerdict::PartialOverlap => self.counters.tcp_partial_overlap += 1,
                crate::tcp::PerfVerdict::Used | crate::tcp::PerfVerdict::Reset => {}
            }
            self.counters.tcp_range_blocks_exhausted = self.perf.ranges.exhausted;
            self.counters.perf_blocks_exhausted = self.perf.blocks.exhausted;
            let t_state = f.conn.timeout_ns(&timeouts);
            // DeepFlow gives every one-sided flow the short "others" timeout; a one-way mirror
            // would then cut a long connection into a flow per idle gap. A one-sided flow that is
            // established (acknowledging data, not a SYN or RST probe) keeps its state's timeout.
            if f.is_one_sided() && f.conn.state != ConnState::Established {
                t_state.min(timeouts.others_ns)
            } else {
                t_state
            }
        } else {
            match pkt.transport {
                // UDP ART: last packet of one side -> first packet of the other after it.
                Transport::Udp(_)
                    if (f.reported() || f.interval_packets() > 1) && f.last_side() != side =>
                {
                    let us = ts.saturating_sub(prev_ns) / 1_000;
                    if let Some(i) = f.perf.interval_mut(&mut self.perf) {
                        i.art_by_requester[side ^ 1].add_capped(us, ART_CAP_US);
                    }
                    self.counters.perf_blocks_exhausted = self.perf.blocks.exhausted;
                }
                Transport::Icmp(h) => {
                    on_icmp(f, side, ts, &h, &mut self.icmp_echoes, &mut self.perf);
                    self.counters.icmp_echo_blocks_exhausted = self.icmp_echoes.exhausted;
                    self.counters.perf_blocks_exhausted = self.perf.blocks.exhausted;
                }
                _ => {}
            }
            timeouts.others_ns
        };
        f.set_last_side(side);
        let deadline = ts.saturating_add(timeout);
        self.table.wheel.schedule(idx, deadline);
    }
}

/// Bytes of an ICMP echo header (type, code, checksum, identifier, sequence number).
const ICMP_ECHO_HEADER: usize = 8;

/// ICMP echo: the request's receiver is the server; request -> reply time is an SRT sample.
/// The flow's outstanding requests live in a pooled block taken at its first request (none
/// left: no SRT for it, counted by the pool).
fn on_icmp(
    f: &mut Flow,
    side: usize,
    ts: u64,
    h: &wire::IcmpHeader,
    echoes: &mut BlockPool<IcmpEchoes>,
    perf: &mut PerfPools,
) {
    if h.is_echo_request() {
        f.direction.observe(side as u8 ^ 1, SCORE_SYN);
        if !f.icmp_pending.is_some() {
            f.icmp_pending = echoes.take().unwrap_or(BlockRef::NONE);
        }
        if let Some(pending) = echoes.get_mut(f.icmp_pending) {
            let slot = usize::from(h.seq) % pending.len();
            pending[slot] = (h.id, h.seq, ts);
        }
    } else if h.is_echo_reply() {
        f.direction.observe(side as u8, SCORE_SYN);
        let Some(pending) = echoes.get_mut(f.icmp_pending) else {
            return;
        };
        let slot = usize::from(h.seq) % pending.len();
        let (id, seq, t0) = pending[slot];
        if t0 != 0 && id == h.id && seq == h.seq {
            let us = ts.saturating_sub(t0) / 1_000;
            if let Some(i) = f.perf.interval_mut(perf) {
                i.srt_by_acker[side].add_capped(us, SRT_CAP_US);
            }
            pending[slot] = (0, 0, 0);
        }
    }
}

mod burst;
pub(crate) mod report;
pub mod sample;

#[cfg(test)]
mod tests;
