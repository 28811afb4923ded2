//! tapflow's records as the protobuf messages DeepFlow's agent sends: l4 rows as
//! `flow_log.TaggedFlow`, l7 rows as `flow_log.AppProtoLogsData`, flow_metrics documents as
//! `metric.Document`. Units as DeepFlow's ingester reads them: flow and request times in ns
//! (tapflow's records carry µs), RRT in ns, TCP latencies in µs.
//!
//! What DeepFlow's messages have no field for is not sent (listed in `docs/ingest.md`): the l4
//! row's `rtt_client_sum/count`, `rtt_server_sum/count` and `reversed`; IPv6 tunnel addresses;
//! the documents' latency histograms.

use std::net::IpAddr;

use tapflow_analyzer::metrics::doc::{AppMeter, FlowMeter, Tags};
use tapflow_analyzer::metrics::Document as Doc;
use tapflow_analyzer::record::{FlowPeers, MacAddr};
use tapflow_analyzer::{L4FlowLog, L7FlowLog};

use crate::rpc::flow_log as fl;
use crate::rpc::metric as m;

/// `flags` bit of TLS rows.
pub const FLAG_TLS: u32 = 1;
/// The attribute that marks an HTTP/2 row whose headers were partly unreadable.
pub const ATTR_HEADERS_PARTIAL: &str = "headers_partial";
/// `response_code` of a row without one.
pub const CODE_NONE: i32 = -32768;

/// DeepFlow's metric `Code` bits.
pub mod code {
    pub const IP: u64 = 1 << 0;
    pub const L3_EPC_ID: u64 = 1 << 1;
    pub const GPID: u64 = 1 << 15;
    pub const IP_PATH: u64 = 1 << 20;
    pub const L3_EPC_PATH: u64 = 1 << 21;
    pub const GPID_PATH: u64 = 1 << 35;
    pub const DIRECTION: u64 = 1 << 40;
    pub const PROTOCOL: u64 = 1 << 42;
    pub const SERVER_PORT: u64 = 1 << 43;
    pub const TAP_TYPE: u64 = 1 << 45;
    pub const VTAP_ID: u64 = 1 << 47;
    pub const TAP_SIDE: u64 = 1 << 48;
    pub const TAP_PORT: u64 = 1 << 49;
    pub const L7_PROTOCOL: u64 = 1 << 51;
}

/// A document's `flags` bit for 1-second documents.
pub const PER_SECOND: u32 = 1;

pub(crate) fn mac_u64(m: MacAddr) -> u64 {
    m.0.iter().fold(0u64, |a, b| (a << 8) | u64::from(*b))
}

/// (IPv4 as DeepFlow's u32, IPv6 bytes).
fn ip_fields(ip: IpAddr) -> (u32, Vec<u8>) {
    match ip {
        IpAddr::V4(a) => (u32::from(a), Vec::new()),
        IpAddr::V6(a) => (0, a.octets().to_vec()),
    }
}

fn ip_bytes(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

fn v4(ip: Option<IpAddr>) -> u32 {
    match ip {
        Some(IpAddr::V4(a)) => u32::from(a),
        _ => 0,
    }
}

fn sat32(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

fn text<const N: usize>(b: &tapflow_analyzer::inline::InlineBytes<N>) -> String {
    String::from_utf8_lossy(b.as_bytes()).into_owned()
}

fn key(p: &FlowPeers, agent_id: u16, tap_type: u8, tap_port: u64) -> fl::FlowKey {
    let (ip_src, ip6_src) = ip_fields(p.ip_0);
    let (ip_dst, ip6_dst) = ip_fields(p.ip_1);
    fl::FlowKey {
        vtap_id: u32::from(agent_id),
        tap_type: u32::from(tap_type),
        tap_port,
        mac_src: mac_u64(p.mac_0),
        mac_dst: mac_u64(p.mac_1),
        ip_src,
        ip_dst,
        ip6_src,
        ip6_dst,
        port_src: u32::from(p.client_port),
        port_dst: u32::from(p.server_port),
        proto: u32::from(p.protocol),
    }
}

/// DeepFlow's `L4Protocol`: 1 TCP, 2 UDP, 0 other.
fn l4_protocol(proto: u8) -> u32 {
    match proto {
        6 => 1,
        17 => 2,
        _ => 0,
    }
}

/// An l4 row as DeepFlow's agent sends it.
pub fn tagged_flow(r: &L4FlowLog, agent_id: u16) -> fl::TaggedFlow {
    let peer = |tx: bool| {
        let (b, l3, l4, p, tb, tp, first, last, flags, end) = if tx {
            (
                r.byte_tx,
                r.l3_byte_tx,
                r.l4_byte_tx,
                r.packet_tx,
                r.total_byte_tx,
                r.total_packet_tx,
                r.first_time_tx,
                r.last_time_tx,
                r.tcp_flags_bit_0,
                r.l2_end_0,
            )
        } else {
            (
                r.byte_rx,
                r.l3_byte_rx,
                r.l4_byte_rx,
                r.packet_rx,
                r.total_byte_rx,
                r.total_packet_rx,
                r.first_time_rx,
                r.last_time_rx,
                r.tcp_flags_bit_1,
                r.l2_end_1,
            )
        };
        fl::FlowMetricsPeer {
            byte_count: b,
            l3_byte_count: l3,
            l4_byte_count: l4,
            packet_count: p,
            total_byte_count: tb,
            total_packet_count: tp,
            first: first * 1_000,
            last: last * 1_000,
            tcp_flags: u32::from(flags),
            is_l2_end: u32::from(end),
            ..fl::FlowMetricsPeer::default()
        }
    };
    let tunnel = (r.tunnel_type != 0).then(|| fl::TunnelField {
        tx_ip0: v4(r.tunnel_tx_ip_0),
        tx_ip1: v4(r.tunnel_tx_ip_1),
        rx_ip0: v4(r.tunnel_rx_ip_0),
        rx_ip1: v4(r.tunnel_rx_ip_1),
        tx_id: r.tunnel_id,
        rx_id: r.tunnel_id,
        tunnel_type: u32::from(r.tunnel_type),
        tier: u32::from(r.tunnel_tier),
        is_ipv6: u32::from(matches!(r.tunnel_tx_ip_0, Some(IpAddr::V6(_)))),
        ..fl::TunnelField::default()
    });
    let tcp = fl::TcpPerfStats {
        rtt_client_max: r.rtt_client_max,
        rtt_server_max: r.rtt_server_max,
        srt_max: r.srt_max,
        art_max: r.art_max,
        rtt: r.rtt,
        srt_sum: sat32(r.srt_sum),
        art_sum: sat32(r.art_sum),
        srt_count: r.srt_count,
        art_count: r.art_count,
        counts_peer_tx: Some(fl::TcpPerfCountsPeer {
            retrans_count: r.retrans_tx,
            zero_win_count: r.zero_win_tx,
            ooo_count: r.ooo_tx,
        }),
        counts_peer_rx: Some(fl::TcpPerfCountsPeer {
            retrans_count: r.retrans_rx,
            zero_win_count: r.zero_win_rx,
            ooo_count: r.ooo_rx,
        }),
        total_retrans_count: r.retrans_tx + r.retrans_rx,
        syn_count: r.syn_count,
        synack_count: r.synack_count,
        cit_max: r.cit_max,
        cit_sum: sat32(r.cit_sum),
        cit_count: r.cit_count,
        fin_count: r.fin_count,
    };
    let l7 = fl::L7PerfStats {
        request_count: r.l7_request,
        response_count: r.l7_response,
        err_client_count: r.l7_client_error,
        err_server_count: r.l7_server_error,
        err_timeout: r.l7_timeout,
        rrt_count: r.rrt_count,
        rrt_sum: r.rrt_sum,
        rrt_max: r.rrt_max,
        tls_rtt: r.tls_rtt,
    };
    fl::TaggedFlow {
        flow: Some(fl::Flow {
            flow_key: Some(key(&r.peers, agent_id, r.capture_network_type, r.tap_port)),
            metrics_peer_src: Some(peer(true)),
            metrics_peer_dst: Some(peer(false)),
            tunnel,
            flow_id: r.flow_id,
            start_time: r.start_time * 1_000,
            end_time: r.end_time * 1_000,
            duration: r.duration * 1_000,
            vlan: u32::from(r.vlan),
            eth_type: u32::from(r.eth_type),
            has_perf_stats: 1,
            perf_stats: Some(fl::FlowPerfStats {
                tcp: Some(tcp),
                l7: Some(l7),
                l4_protocol: l4_protocol(r.peers.protocol),
                l7_protocol: u32::from(r.l7_protocol),
                l7_failed_count: 0,
            }),
            close_type: u32::from(r.close_type),
            signal_source: u32::from(r.signal_source),
            is_new_flow: u32::from(r.is_new_flow),
            tap_side: u32::from(r.tap_side),
            direction_score: u32::from(r.direction_score),
            ..fl::Flow::default()
        }),
    }
}

/// An l7 row as DeepFlow's agent sends it.
pub fn app_proto_log(r: &L7FlowLog, agent_id: u16) -> fl::AppProtoLogsData {
    let p = &r.peers;
    let (ip_src, ip6_src) = ip_fields(p.ip_0);
    let (ip_dst, ip6_dst) = ip_fields(p.ip_1);
    let (mut attribute_names, mut attribute_values) = (Vec::new(), Vec::new());
    if r.headers_partial {
        attribute_names.push(ATTR_HEADERS_PARTIAL.to_string());
        attribute_values.push("true".to_string());
    }
    for (n, v) in r.attributes.iter() {
        attribute_names.push(String::from_utf8_lossy(n).into_owned());
        attribute_values.push(String::from_utf8_lossy(v).into_owned());
    }
    fl::AppProtoLogsData {
        base: Some(fl::AppProtoLogsBaseInfo {
            start_time: r.start_time * 1_000,
            end_time: r.end_time * 1_000,
            flow_id: r.flow_id,
            tap_port: r.tap_port,
            vtap_id: u32::from(agent_id),
            tap_type: u32::from(r.capture_network_type),
            is_ipv6: u32::from(!p.is_ipv4),
            tap_side: u32::from(r.tap_side),
            head: Some(fl::AppProtoHead {
                proto: u32::from(r.l7_protocol),
                msg_type: u32::from(r.row_type),
                rrt: r.response_duration * 1_000,
            }),
            mac_src: mac_u64(p.mac_0),
            mac_dst: mac_u64(p.mac_1),
            ip_src,
            ip_dst,
            ip6_src,
            ip6_dst,
            port_src: u32::from(p.client_port),
            port_dst: u32::from(p.server_port),
            protocol: u32::from(p.protocol),
            req_tcp_seq: r.req_tcp_seq,
            resp_tcp_seq: r.resp_tcp_seq,
            process_id_0: r.syscall.process_id_0,
            process_id_1: r.syscall.process_id_1,
            process_kname_0: text(&r.syscall.process_kname_0),
            process_kname_1: text(&r.syscall.process_kname_1),
            syscall_trace_id_request: r.syscall.syscall_trace_id_request,
            syscall_trace_id_response: r.syscall.syscall_trace_id_response,
            syscall_trace_id_thread_0: r.syscall.syscall_thread_0,
            syscall_trace_id_thread_1: r.syscall.syscall_thread_1,
            syscall_cap_seq_0: r.syscall.syscall_cap_seq_0,
            syscall_cap_seq_1: r.syscall.syscall_cap_seq_1,
            ..fl::AppProtoLogsBaseInfo::default()
        }),
        req_len: r.request_length.clamp(-1, i64::from(i32::MAX)) as i32,
        resp_len: r.response_length.clamp(-1, i64::from(i32::MAX)) as i32,
        req: Some(fl::L7Request {
            req_type: text(&r.request_type),
            domain: text(&r.request_domain),
            resource: text(&r.request_resource),
            endpoint: text(&r.endpoint),
        }),
        resp: Some(fl::L7Response {
            status: u32::from(r.response_status),
            code: r.response_code.unwrap_or(CODE_NONE),
            exception: text(&r.response_exception),
            result: text(&r.response_result),
        }),
        version: text(&r.version),
        trace_info: Some(fl::TraceInfo {
            trace_id: text(&r.trace_id),
            span_id: text(&r.span_id),
            parent_span_id: text(&r.parent_span_id),
            // DeepFlow's agents list every trace id; the ingester stores the second as
            // `_trace_id_2`.
            trace_ids: if r.trace_id_2.is_empty() {
                Vec::new()
            } else {
                vec![text(&r.trace_id), text(&r.trace_id_2)]
            },
        }),
        ext_info: Some(fl::ExtendedInfo {
            request_id: r.request_id.unwrap_or(0),
            x_request_id_0: text(&r.x_request_id_0),
            x_request_id_1: text(&r.x_request_id_1),
            http_user_agent: text(&r.http_user_agent),
            http_referer: text(&r.http_referer),
            client_ip: text(&r.http_proxy_client),
            attribute_names,
            attribute_values,
            ..fl::ExtendedInfo::default()
        }),
        row_effect: r.sql_affected_rows.map_or(0, sat32),
        flags: if r.is_tls { FLAG_TLS } else { 0 },
        captured_request_byte: r.captured_request_byte,
        captured_response_byte: r.captured_response_byte,
        ..fl::AppProtoLogsData::default()
    }
}

fn mini_tag(t: &Tags, agent_id: u16) -> m::MiniTag {
    let edge = t.ip_1.is_some();
    let mut c = code::PROTOCOL | code::SERVER_PORT | code::TAP_TYPE | code::VTAP_ID;
    if edge {
        c |= code::IP_PATH | code::L3_EPC_PATH | code::GPID_PATH | code::TAP_SIDE | code::TAP_PORT;
    } else {
        c |= code::IP | code::L3_EPC_ID | code::GPID | code::DIRECTION;
    }
    if t.l7_protocol != 0 {
        c |= code::L7_PROTOCOL;
    }
    m::MiniTag {
        code: c,
        field: Some(m::MiniField {
            ip: ip_bytes(t.ip),
            ip1: t.ip_1.map(ip_bytes).unwrap_or_default(),
            is_ipv6: u32::from(!t.is_ipv4),
            direction: u32::from(t.direction),
            tap_side: u32::from(t.tap_side),
            protocol: u32::from(t.protocol),
            server_port: u32::from(t.server_port),
            vtap_id: u32::from(agent_id),
            tap_port: t.tap_port,
            tap_type: u32::from(t.capture_network_type),
            l7_protocol: u32::from(t.l7_protocol),
            endpoint: text(&t.endpoint),
            ..m::MiniField::default()
        }),
    }
}

fn flow_meter(f: &FlowMeter) -> m::FlowMeter {
    m::FlowMeter {
        traffic: Some(m::Traffic {
            packet_tx: f.packet_tx,
            packet_rx: f.packet_rx,
            byte_tx: f.byte_tx,
            byte_rx: f.byte_rx,
            l3_byte_tx: f.l3_byte_tx,
            l3_byte_rx: f.l3_byte_rx,
            l4_byte_tx: f.l4_byte_tx,
            l4_byte_rx: f.l4_byte_rx,
            new_flow: f.new_flow,
            closed_flow: f.closed_flow,
            l7_request: sat32(f.l7_request),
            l7_response: sat32(f.l7_response),
            syn: sat32(f.syn),
            synack: sat32(f.synack),
            direction_score: 0,
        }),
        latency: Some(m::Latency {
            rtt_max: f.rtt_max,
            rtt_client_max: f.rtt_client_max,
            rtt_server_max: f.rtt_server_max,
            srt_max: f.srt_max,
            art_max: f.art_max,
            rrt_max: f.rrt_max,
            cit_max: f.cit_max,
            rtt_sum: f.rtt_sum,
            rtt_client_sum: f.rtt_client_sum,
            rtt_server_sum: f.rtt_server_sum,
            srt_sum: f.srt_sum,
            art_sum: f.art_sum,
            rrt_sum: f.rrt_sum,
            cit_sum: f.cit_sum,
            rtt_count: sat32(f.rtt_count),
            rtt_client_count: sat32(f.rtt_client_count),
            rtt_server_count: sat32(f.rtt_server_count),
            srt_count: sat32(f.srt_count),
            art_count: sat32(f.art_count),
            rrt_count: sat32(f.rrt_count),
            cit_count: sat32(f.cit_count),
        }),
        performance: Some(m::Performance {
            retrans_tx: f.retrans_tx,
            retrans_rx: f.retrans_rx,
            zero_win_tx: f.zero_win_tx,
            zero_win_rx: f.zero_win_rx,
            retrans_syn: sat32(f.retrans_syn),
            retrans_synack: sat32(f.retrans_synack),
        }),
        anomaly: Some(m::Anomaly {
            client_rst_flow: f.client_rst_flow,
            server_rst_flow: f.server_rst_flow,
            server_syn_miss: f.server_syn_miss,
            client_ack_miss: f.client_ack_miss,
            client_half_close_flow: f.client_half_close_flow,
            server_half_close_flow: f.server_half_close_flow,
            client_source_port_reuse: f.client_source_port_reuse,
            client_establish_reset: f.client_establish_reset,
            server_reset: f.server_reset,
            server_queue_lack: f.server_queue_lack,
            server_establish_reset: f.server_establish_reset,
            tcp_timeout: f.tcp_timeout,
            l7_client_error: sat32(f.l7_client_error),
            l7_server_error: sat32(f.l7_server_error),
            l7_timeout: sat32(f.l7_timeout),
            client_ooo: f.client_ooo,
            server_ooo: f.server_ooo,
        }),
        flow_load: Some(m::FlowLoad { load: f.flow_load }),
    }
}

pub(crate) fn app_meter(a: &AppMeter) -> m::AppMeter {
    m::AppMeter {
        traffic: Some(m::AppTraffic {
            request: sat32(a.request),
            response: sat32(a.response),
            direction_score: 0,
        }),
        latency: Some(m::AppLatency {
            rrt_max: sat32(a.rrt_max),
            rrt_sum: a.rrt_sum,
            rrt_count: sat32(a.rrt_count),
        }),
        anomaly: Some(m::AppAnomaly {
            client_error: sat32(a.client_error),
            server_error: sat32(a.server_error),
            timeout: sat32(a.timeout),
        }),
    }
}

/// A network / network_map document.
pub fn flow_document(d: &Doc<FlowMeter>, per_second: bool, agent_id: u16) -> m::Document {
    m::Document {
        timestamp: sat32(d.time),
        tag: Some(mini_tag(&d.tags, agent_id)),
        meter: Some(m::Meter {
            flow: Some(flow_meter(&d.meter)),
            ..m::Meter::default()
        }),
        flags: if per_second { PER_SECOND } else { 0 },
    }
}

/// An application / application_map document.
pub fn app_document(d: &Doc<AppMeter>, per_second: bool, agent_id: u16) -> m::Document {
    m::Document {
        timestamp: sat32(d.time),
        tag: Some(mini_tag(&d.tags, agent_id)),
        meter: Some(m::Meter {
            app: Some(app_meter(&d.meter)),
            ..m::Meter::default()
        }),
        flags: if per_second { PER_SECOND } else { 0 },
    }
}
