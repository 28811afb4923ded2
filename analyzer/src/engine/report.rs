//! Building `l4_flow_log` rows: the client/server decision made at report time, mirror fields.

use super::Analyzer;
use crate::flow::{
    CloseType, Endpoint, Flow, ServiceTable, SCORE_EPHEMERAL, SCORE_SYN, SCORE_WELL_KNOWN,
};
use crate::l7::{L7Protocol, L7Stats};
use crate::mirror::{tap_side, TapPort};
use crate::record::{ip_from_bytes, FlowPeers, L4FlowLog};
use crate::wire;

const EPHEMERAL_MIN: u16 = 32768;
/// Learned scores closer than this are not conclusive (DeepFlow).
const SCORE_MARGIN: u8 = 8;

/// Which endpoint is the server, and how sure: the flow's own evidence when strong (SYN-ACK,
/// configured port, SYN), else DeepFlow's rule over the learned service scores (a clear
/// difference wins; a small one defers to the ephemeral-port rule), then tapflow's well-known
/// port rule, then the higher learned score, then the first packet's destination.
pub(super) fn decide_server(f: &Flow, ends: &[Endpoint; 2], services: &ServiceTable) -> (u8, u8) {
    if f.direction.score >= SCORE_SYN {
        return (f.direction.server, f.direction.score);
    }
    let has_ports = matches!(f.key.proto, wire::IPPROTO_TCP | wire::IPPROTO_UDP);
    if !has_ports {
        return (f.direction.server, f.direction.score);
    }
    let (s0, s1) = (services.score(&ends[0]), services.score(&ends[1]));
    let diff = s0.abs_diff(s1);
    if diff >= SCORE_MARGIN {
        return if s0 > s1 { (0, s0) } else { (1, s1) };
    }
    let (e0, e1) = (f.port(0) >= EPHEMERAL_MIN, f.port(1) >= EPHEMERAL_MIN);
    if e0 != e1 {
        return (u8::from(e0), SCORE_EPHEMERAL);
    }
    if f.direction.score >= SCORE_WELL_KNOWN {
        return (f.direction.server, f.direction.score);
    }
    match s0.cmp(&s1) {
        std::cmp::Ordering::Greater => (0, s0),
        std::cmp::Ordering::Less => (1, s1),
        std::cmp::Ordering::Equal => (f.direction.server, f.direction.score),
    }
}

impl Analyzer {
    /// The row of flow `idx`, whose endpoints are `ends` ([`crate::flow::FlowTable::endpoints`]).
    pub(super) fn build_record(
        &mut self,
        idx: u32,
        ends: &[Endpoint; 2],
        close: CloseType,
        end_ns: u64,
    ) -> L4FlowLog {
        let mode = self.cfg.mirror.mode;
        let (server, score) = decide_server(self.table.get(idx), ends, &self.services);
        let (l7_proto, l7) = self
            .l7
            .take_stats(self.table.get(idx))
            .unwrap_or((L7Protocol::Unknown, L7Stats::default()));
        let f = self.table.get_mut(idx);
        let perf = f.perf.take_interval(&mut self.perf);
        let s = usize::from(server);
        let c = s ^ 1;
        let side = tap_side(mode, f.sides[c].l2_end, f.sides[s].l2_end);
        let is_new = !f.reported();
        let start_ns = f.interval_start_ns();
        let tunnel = self.tunnels.get(f.tunnel).copied().unwrap_or_default();
        let carried = self.carried.get(f.carried).copied().unwrap_or_default();
        let tunnel_on = tunnel.fwd.kind != wire::TunnelType::None;
        let v6t = tunnel.fwd.is_ipv6;
        // Tunnel addresses as seen on client->server packets (tx) and server->client (rx).
        let fwd = (tunnel.fwd.src, tunnel.fwd.dst);
        let (tx, rx) = if c == 0 {
            (Some(fwd), tunnel.rev)
        } else {
            (tunnel.rev, Some(fwd))
        };
        let tip = |x: Option<([u8; 16], [u8; 16])>, i: usize| {
            x.filter(|_| tunnel_on)
                .map(|a| ip_from_bytes(if i == 0 { &a.0 } else { &a.1 }, v6t))
        };
        let rec = L4FlowLog {
            flow_id: f.id(),
            agent_id: 0,
            start_time: start_ns / 1_000,
            end_time: end_ns / 1_000,
            duration: (end_ns / 1_000).saturating_sub(f.start_ns / 1_000),
            close_type: close as u8,
            close_type_name: close.name(),
            status: close.status(),
            is_new_flow: is_new,
            signal_source: 0,
            capture_network_type: f.key.tap_type,
            tap_port: f.key.tap_port(),
            tap_port_type: TapPort(f.key.tap_port()).kind_name(),
            tap_side: side.0,
            observation_point: side.1,
            l2_end_0: f.sides[c].l2_end,
            l2_end_1: f.sides[s].l2_end,
            eth_type: f.eth_type(),
            vlan: f.vlan,
            peers: FlowPeers::of(f, ends, c),
            tunnel_type: tunnel.fwd.kind as u8,
            tunnel_tier: tunnel.fwd.tier,
            tunnel_id: tunnel.fwd.id,
            tunnel_tx_ip_0: tip(tx, 0),
            tunnel_tx_ip_1: tip(tx, 1),
            tunnel_rx_ip_0: tip(rx, 0),
            tunnel_rx_ip_1: tip(rx, 1),
            packet_tx: u64::from(f.sides[c].interval.packets),
            packet_rx: u64::from(f.sides[s].interval.packets),
            byte_tx: f.sides[c].interval.bytes,
            byte_rx: f.sides[s].interval.bytes,
            l3_byte_tx: f.sides[c].interval.l3_bytes,
            l3_byte_rx: f.sides[s].interval.l3_bytes,
            l4_byte_tx: f.sides[c].interval.l4_bytes,
            l4_byte_rx: f.sides[s].interval.l4_bytes,
            total_packet_tx: carried.packets[c] + u64::from(f.sides[c].interval.packets),
            total_packet_rx: carried.packets[s] + u64::from(f.sides[s].interval.packets),
            total_byte_tx: carried.bytes[c] + f.sides[c].interval.bytes,
            total_byte_rx: carried.bytes[s] + f.sides[s].interval.bytes,
            first_time_tx: f.first_ns(c) / 1_000,
            last_time_tx: f.sides[c].last_ns / 1_000,
            first_time_rx: f.first_ns(s) / 1_000,
            last_time_rx: f.sides[s].last_ns / 1_000,
            tcp_flags_bit_0: f.sides[c].interval.tcp_flags,
            tcp_flags_bit_1: f.sides[s].interval.tcp_flags,
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
            direction_score: score,
            reversed: s == 0,
            l7_protocol: l7_proto.id(),
            l7_protocol_str: if l7_proto == L7Protocol::Unknown {
                ""
            } else {
                l7_proto.name()
            },
            l7_request: l7.request,
            l7_response: l7.response,
            l7_client_error: l7.client_error,
            l7_server_error: l7.server_error,
            l7_timeout: l7.timeout,
            rrt_sum: l7.rrt_sum,
            rrt_count: l7.rrt_count,
            rrt_max: l7.rrt_max,
            tls_rtt: l7.tls_rtt,
            processes: crate::record::ProcessPair::default(),
        };
        if close == CloseType::ForcedReport {
            // The flow goes on: its totals carry this interval.
            if !f.carried.is_some() {
                f.carried = self.carried.take().unwrap_or_default();
                self.counters.carried_blocks_exhausted = self.carried.exhausted;
            }
            if let Some(b) = self.carried.get_mut(f.carried) {
                for i in 0..2 {
                    b.packets[i] += u64::from(f.sides[i].interval.packets);
                    b.bytes[i] += f.sides[i].interval.bytes;
                }
            }
        }
        for side in &mut f.sides {
            side.interval = Default::default();
        }
        f.set_reported();
        rec
    }
}
