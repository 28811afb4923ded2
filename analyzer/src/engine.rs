//! [`Analyzer`]: one worker's shard of flows, fed packet by packet, time carried by the packets.

use crate::config::AnalyzerConfig;
use crate::counters::Counters;
use crate::flow::{
    CloseType, Direction, Endpoint, Flow, FlowKey, FlowTable, SCORE_SYN, SCORE_SYN_ACK,
};
use crate::record::{ip_from_bytes, L4FlowLog, MacAddr};
use crate::tcp::{ART_CAP_US, SRT_CAP_US};
use crate::wire::{self, Packet, TcpHeader, Transport};
use crate::PacketMeta;

const NS_PER_SEC: u64 = 1_000_000_000;
/// Flow logs are aggregated to one row per flow per minute (DeepFlow's FlowAggr).
const REPORT_PERIOD_NS: u64 = 60 * NS_PER_SEC;
/// Timestamps may step back this much without being counted (clamped either way).
const TS_BACKWARDS_TOLERANCE_NS: u64 = 1_000_000;

/// Where records go. Implemented by sinks in `tapflow-control` and by `Vec` for tests.
pub trait RecordSink {
    fn l4_flow_log(&mut self, rec: &L4FlowLog);
}

impl RecordSink for Vec<L4FlowLog> {
    fn l4_flow_log(&mut self, rec: &L4FlowLog) {
        self.push(rec.clone());
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
    /// Index of the minute whose report is next.
    report_minute: u64,
    flow_counter: u32,
}

impl Analyzer {
    pub fn new(cfg: AnalyzerConfig) -> Self {
        let horizon = cfg.timeouts.max_ns();
        Analyzer {
            table: FlowTable::new(cfg.flow_capacity, horizon),
            cfg,
            counters: Counters::default(),
            now_ns: 0,
            started: false,
            report_minute: 0,
            flow_counter: 0,
        }
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    pub fn active_flows(&self) -> usize {
        self.table.len()
    }

    /// Current analyzer time (the latest packet or tick), ns.
    pub fn now_ns(&self) -> u64 {
        self.now_ns
    }

    /// Analyses one frame.
    pub fn on_packet(&mut self, meta: &PacketMeta, frame: &[u8], sink: &mut impl RecordSink) {
        self.counters.rx_packets += 1;
        self.counters.rx_bytes += u64::from(meta.wire_len);
        let mut ts = meta.ts_ns;
        if self.started && ts < self.now_ns {
            if self.now_ns - ts > TS_BACKWARDS_TOLERANCE_NS {
                self.counters.ts_backwards += 1;
            }
            ts = self.now_ns;
        }
        self.advance_to(ts, sink);
        let pkt = match wire::decode_link(frame, meta.link, &self.cfg.decode) {
            Ok(p) => p,
            Err(e) => {
                self.counters.count_decode_error(e);
                return;
            }
        };
        self.on_decoded(meta, ts, &pkt, sink);
    }

    /// Moves time forward without a packet (idle tick): expires flows and emits minute reports.
    pub fn advance_to(&mut self, ts_ns: u64, sink: &mut impl RecordSink) {
        if !self.started {
            self.started = true;
            self.now_ns = ts_ns;
            self.report_minute = ts_ns / REPORT_PERIOD_NS;
            self.table.wheel.next_expired(ts_ns);
            return;
        }
        if ts_ns <= self.now_ns {
            return;
        }
        while ts_ns >= (self.report_minute + 1) * REPORT_PERIOD_NS {
            let boundary = (self.report_minute + 1) * REPORT_PERIOD_NS;
            self.expire_until(boundary, sink);
            self.report_live_flows(boundary, sink);
            self.report_minute = (self.report_minute + 1).max(ts_ns / REPORT_PERIOD_NS);
        }
        self.expire_until(ts_ns, sink);
        self.now_ns = ts_ns;
    }

    /// Closes every flow as if its timeout had passed (end of input, or shutdown).
    pub fn finish(&mut self, sink: &mut impl RecordSink) {
        for idx in 0..self.table.slots() as u32 {
            if self.table.is_active(idx) {
                self.close_flow(idx, sink);
            }
        }
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
            let rec = self.build_record(idx, CloseType::ForcedReport, boundary_ns);
            self.emit(&rec, sink);
            let f = self.table.get_mut(idx);
            f.interval_start_ns = boundary_ns;
        }
    }

    fn close_flow(&mut self, idx: u32, sink: &mut impl RecordSink) {
        let f = self.table.get(idx);
        let close = if f.key.proto == wire::IPPROTO_TCP {
            f.conn.close_type(f.direction.client())
        } else {
            CloseType::Finish
        };
        // A flow idle since its last minute row closes at that boundary, not before it.
        let end = f.last_ns.max(f.interval_start_ns);
        let rec = self.build_record(idx, close, end);
        self.emit(&rec, sink);
        self.table.remove(idx);
        self.counters.flows_closed += 1;
    }

    fn emit(&mut self, rec: &L4FlowLog, sink: &mut impl RecordSink) {
        self.counters.records += 1;
        sink.l4_flow_log(rec);
    }

    fn on_decoded(
        &mut self,
        meta: &PacketMeta,
        ts: u64,
        pkt: &Packet<'_>,
        sink: &mut impl RecordSink,
    ) {
        let Some(ip) = pkt.ip else {
            self.counters.non_ip += 1;
            return;
        };
        if pkt.transport == Transport::Fragment {
            self.counters.ip_fragments += 1;
        }
        let (sport, dport) = pkt.transport.ports();
        let src = Endpoint {
            ip: ip.src,
            port: sport,
        };
        let dst = Endpoint {
            ip: ip.dst,
            port: dport,
        };
        let key = FlowKey::new(
            src,
            dst,
            ip.proto,
            ip.is_v6,
            pkt.tunnel.kind as u8,
            pkt.tunnel.id,
            meta.ifindex,
        );
        let hash = self.table.hash(&key);
        let tcp = match pkt.transport {
            Transport::Tcp(t) => {
                if t.options.malformed {
                    self.counters.tcp_bad_options += 1;
                }
                Some(t)
            }
            _ => None,
        };

        let mut found = self.table.find(&key, hash);
        if let (Some(idx), Some(t)) = (found, tcp.as_ref()) {
            let f = self.table.get(idx);
            let side = u8::from(f.ep[0] != src);
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
        self.update_flow(idx, ts, src, &ip, pkt, tcp.as_ref());
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
        let id = ((ts >> 30) << 32)
            | (u64::from(self.cfg.worker_id) << 24)
            | u64::from(self.flow_counter & 0x00FF_FFFF);
        self.flow_counter = self.flow_counter.wrapping_add(1);
        let mut flow = Flow::new(key, hash, id, [src, dst], ts, direction);
        flow.mac = [pkt.l2.src_mac, pkt.l2.dst_mac];
        flow.eth_type = pkt.eth_type;
        flow.vlan = pkt.l2.vlan;
        flow.tunnel = pkt.tunnel;
        let idx = self.table.insert(flow).ok()?;
        self.counters.flows_created += 1;
        Some(idx)
    }

    fn update_flow(
        &mut self,
        idx: u32,
        ts: u64,
        src: Endpoint,
        ip: &wire::IpInfo,
        pkt: &Packet<'_>,
        tcp: Option<&TcpHeader>,
    ) {
        let timeouts = self.cfg.timeouts;
        let f = self.table.get_mut(idx);
        let side = usize::from(f.ep[0] != src);
        let l4_payload = match pkt.transport {
            Transport::Tcp(t) => u64::from(t.payload_len),
            Transport::Udp(u) => u64::from(u.payload_len),
            _ => pkt.payload.len() as u64,
        };
        let p = &mut f.peers[side];
        p.packets += 1;
        let bytes = u64::from(pkt.l2.l2_len) + u64::from(ip.total_len);
        p.bytes += bytes;
        p.l3_bytes += u64::from(ip.l3_payload_len());
        p.l4_bytes += l4_payload;
        f.total_packets[side] += 1;
        f.total_bytes[side] += bytes;
        if f.first_ns[side] == 0 {
            f.first_ns[side] = ts;
        }
        f.last_dir_ns[side] = ts;
        if side == 1
            && f.tunnel.kind != wire::TunnelType::None
            && f.tunnel_rev.is_none()
            && pkt.tunnel.kind == f.tunnel.kind
        {
            f.tunnel_rev = Some((pkt.tunnel.src, pkt.tunnel.dst));
        }
        if f.mac[side] == [0; 6] {
            f.mac[side] = pkt.l2.src_mac;
        }
        f.last_ns = ts;

        let timeout = if let Some(t) = tcp {
            p.tcp_flags |= t.flags.0;
            f.conn.on_packet(side as u8, t);
            if t.flags.is_syn_ack() {
                f.direction.observe(side as u8, SCORE_SYN_ACK);
            } else if t.flags.is_syn() {
                f.direction.observe(side as u8 ^ 1, SCORE_SYN);
            }
            match f.perf.on_packet(side, ts, t) {
                crate::tcp::PerfVerdict::AbnormalFlags => self.counters.tcp_abnormal_flags += 1,
                crate::tcp::PerfVerdict::PartialOverlap => self.counters.tcp_partial_overlap += 1,
                crate::tcp::PerfVerdict::Used | crate::tcp::PerfVerdict::Reset => {}
            }
            let t_state = f.conn.timeout_ns(&timeouts);
            if f.is_one_sided() {
                t_state.min(timeouts.others_ns)
            } else {
                t_state
            }
        } else {
            match pkt.transport {
                // UDP ART: last packet of one side -> first packet of the other after it.
                Transport::Udp(_)
                    if f.total_packets[side] + f.total_packets[side ^ 1] > 1
                        && usize::from(f.last_side) != side =>
                {
                    let us = ts.saturating_sub(f.last_side_ns) / 1_000;
                    f.perf.interval.art_by_requester[side ^ 1].add_capped(us, ART_CAP_US);
                }
                Transport::Icmp(h) => on_icmp(f, side, ts, &h),
                _ => {}
            }
            timeouts.others_ns
        };
        f.last_side = side as u8;
        f.last_side_ns = ts;
        let deadline = ts + timeout;
        f.deadline_ns = deadline;
        self.table.wheel.schedule(idx, deadline);
    }

    fn build_record(&mut self, idx: u32, close: CloseType, end_ns: u64) -> L4FlowLog {
        let f = self.table.get_mut(idx);
        let perf = f.perf.take_interval();
        let c = usize::from(f.direction.client());
        let s = c ^ 1;
        let is_new = !f.reported;
        let start_ns = if is_new {
            f.start_ns
        } else {
            f.interval_start_ns
        };
        let tunnel_on = f.tunnel.kind != wire::TunnelType::None;
        let v6t = f.tunnel.is_ipv6;
        // Tunnel addresses as seen on client->server packets (tx) and server->client (rx).
        let fwd = (f.tunnel.src, f.tunnel.dst);
        let (tx, rx) = if c == 0 {
            (Some(fwd), f.tunnel_rev)
        } else {
            (f.tunnel_rev, Some(fwd))
        };
        let tip = |x: Option<([u8; 16], [u8; 16])>, i: usize| {
            x.filter(|_| tunnel_on)
                .map(|a| ip_from_bytes(if i == 0 { &a.0 } else { &a.1 }, v6t))
        };
        let rec = L4FlowLog {
            flow_id: f.id,
            start_time: start_ns / 1_000,
            end_time: end_ns / 1_000,
            duration: (end_ns / 1_000).saturating_sub(f.start_ns / 1_000),
            close_type: close as u8,
            close_type_name: close.name(),
            status: close.status(),
            is_new_flow: is_new,
            signal_source: 0,
            capture_network_type: self.cfg.tap_type,
            tap_port: f.key.tap_port,
            eth_type: f.eth_type,
            vlan: f.vlan,
            mac_0: MacAddr(f.mac[c]),
            mac_1: MacAddr(f.mac[s]),
            ip_0: ip_from_bytes(&f.ep[c].ip, f.key.is_v6),
            ip_1: ip_from_bytes(&f.ep[s].ip, f.key.is_v6),
            is_ipv4: !f.key.is_v6,
            protocol: f.key.proto,
            client_port: f.ep[c].port,
            server_port: f.ep[s].port,
            tunnel_type: f.tunnel.kind as u8,
            tunnel_tier: f.tunnel.tier,
            tunnel_id: f.tunnel.id,
            tunnel_tx_ip_0: tip(tx, 0),
            tunnel_tx_ip_1: tip(tx, 1),
            tunnel_rx_ip_0: tip(rx, 0),
            tunnel_rx_ip_1: tip(rx, 1),
            packet_tx: f.peers[c].packets,
            packet_rx: f.peers[s].packets,
            byte_tx: f.peers[c].bytes,
            byte_rx: f.peers[s].bytes,
            l3_byte_tx: f.peers[c].l3_bytes,
            l3_byte_rx: f.peers[s].l3_bytes,
            l4_byte_tx: f.peers[c].l4_bytes,
            l4_byte_rx: f.peers[s].l4_bytes,
            total_packet_tx: f.total_packets[c],
            total_packet_rx: f.total_packets[s],
            total_byte_tx: f.total_bytes[c],
            total_byte_rx: f.total_bytes[s],
            first_time_tx: f.first_ns[c] / 1_000,
            last_time_tx: f.last_dir_ns[c] / 1_000,
            first_time_rx: f.first_ns[s] / 1_000,
            last_time_rx: f.last_dir_ns[s] / 1_000,
            tcp_flags_bit_0: f.peers[c].tcp_flags,
            tcp_flags_bit_1: f.peers[s].tcp_flags,
            syn_count: perf.syn_count,
            synack_count: perf.synack_count,
            fin_count: perf.fin_count,
            retrans_syn: perf.retrans_syn,
            retrans_synack: perf.retrans_synack,
            retrans_tx: perf.retrans[c],
            retrans_rx: perf.retrans[s],
            zero_win_tx: perf.zero_win[c],
            zero_win_rx: perf.zero_win[s],
            ooo_tx: perf.ooo[c],
            ooo_rx: perf.ooo[s],
            rtt: perf.rtt,
            rtt_client_sum: perf.rtt_client.sum,
            rtt_client_count: perf.rtt_client.count,
            rtt_client_max: perf.rtt_client.max,
            rtt_server_sum: perf.rtt_server.sum,
            rtt_server_count: perf.rtt_server.count,
            rtt_server_max: perf.rtt_server.max,
            // The server acknowledging client data; the client's requests and idle times.
            srt_sum: perf.srt_by_acker[s].sum,
            srt_count: perf.srt_by_acker[s].count,
            srt_max: perf.srt_by_acker[s].max,
            art_sum: perf.art_by_requester[c].sum,
            art_count: perf.art_by_requester[c].count,
            art_max: perf.art_by_requester[c].max,
            cit_sum: perf.cit_by_requester[c].sum,
            cit_count: perf.cit_by_requester[c].count,
            cit_max: perf.cit_by_requester[c].max,
            direction_score: f.direction.score,
        };
        f.peers = Default::default();
        f.reported = true;
        rec
    }
}

/// ICMP echo: the request's receiver is the server; request -> reply time is an SRT sample.
fn on_icmp(f: &mut Flow, side: usize, ts: u64, h: &wire::IcmpHeader) {
    if h.is_echo_request() {
        f.direction.observe(side as u8 ^ 1, SCORE_SYN);
        let slot = usize::from(h.seq) % f.icmp_pending.len();
        f.icmp_pending[slot] = (h.id, h.seq, ts);
    } else if h.is_echo_reply() {
        f.direction.observe(side as u8, SCORE_SYN);
        let slot = usize::from(h.seq) % f.icmp_pending.len();
        let (id, seq, t0) = f.icmp_pending[slot];
        if t0 != 0 && id == h.id && seq == h.seq {
            let us = ts.saturating_sub(t0) / 1_000;
            f.perf.interval.srt_by_acker[side].add_capped(us, SRT_CAP_US);
            f.icmp_pending[slot] = (0, 0, 0);
        }
    }
}

#[cfg(test)]
mod tests;
