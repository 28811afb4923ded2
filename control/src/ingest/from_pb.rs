//! DeepFlow's protobuf messages back into tapflow's records, as the ingester stores them: the
//! inverse of [`super::to_pb`] for every field the messages carry, with DeepFlow's ingester's
//! rules where its messages are ambiguous (`request_id` 0 and `row_effect` 0 mean none, Kafka
//! rows always have a request id, `retrans_syn` = SYNs - 1). Names (close type, status,
//! observation point, protocol) come from the numbers.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use prost::Message;
use tapflow_analyzer::flow::CloseType;
use tapflow_analyzer::inline::InlineBytes;
use tapflow_analyzer::l7::L7Protocol;
use tapflow_analyzer::metrics::doc::{AppMeter, FlowMeter, Tags};
use tapflow_analyzer::metrics::{
    ApplicationDoc, ApplicationDoc1s, ApplicationMapDoc, ApplicationMapDoc1s, Document as Doc,
    NetworkDoc, NetworkDoc1s, NetworkMapDoc, NetworkMapDoc1s,
};
use tapflow_analyzer::mirror::{tap_side_name, TapPort, TapPortKind};
use tapflow_analyzer::record::l7::{SyscallFields, SIGNAL_SOURCE_EBPF};
use tapflow_analyzer::record::{FlowPeers, MacAddr};
use tapflow_analyzer::{L4FlowLog, L7FlowLog, RecordBatch};

use super::frame::{FrameError, MessageType};
use super::to_pb::{code, ATTR_HEADERS_PARTIAL, CODE_NONE, FLAG_TLS, PER_SECOND};
use crate::rpc::flow_log as fl;
use crate::rpc::metric as m;

const ETH_IPV6: u32 = 0x86dd;

fn mac(v: u64) -> MacAddr {
    let b = v.to_be_bytes();
    MacAddr([b[2], b[3], b[4], b[5], b[6], b[7]])
}

fn ip(v4: u32, v6: &[u8], is_v6: bool) -> IpAddr {
    match <[u8; 16]>::try_from(v6) {
        Ok(b) if is_v6 => IpAddr::V6(Ipv6Addr::from(b)),
        _ if is_v6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        _ => IpAddr::V4(Ipv4Addr::from(v4)),
    }
}

fn ip_of_bytes(b: &[u8]) -> Option<IpAddr> {
    match b.len() {
        4 => Some(IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))),
        16 => <[u8; 16]>::try_from(b).ok().map(|a| IpAddr::V6(a.into())),
        _ => None,
    }
}

fn u8c(v: u32) -> u8 {
    u8::try_from(v).unwrap_or(u8::MAX)
}

fn u16c(v: u32) -> u16 {
    u16::try_from(v).unwrap_or(u16::MAX)
}

fn inline<const N: usize>(s: &str) -> InlineBytes<N> {
    InlineBytes::from_slice(s.as_bytes())
}

fn protocol_str(id: u8) -> &'static str {
    match L7Protocol::from_id(id) {
        Some(p) if id != 0 => p.name(),
        _ => "",
    }
}

/// One message of type `t` into `out` (the vector of its record kind).
pub fn decode_into(t: MessageType, msg: &[u8], out: &mut RecordBatch) -> Result<(), FrameError> {
    let bad = |e: prost::DecodeError| FrameError::Decode(e.to_string());
    match t {
        MessageType::TaggedFlow => {
            let f = fl::TaggedFlow::decode(msg).map_err(bad)?;
            out.l4.push(l4_row(&f.flow.unwrap_or_default()));
        }
        MessageType::ProtocolLog => {
            let l = fl::AppProtoLogsData::decode(msg).map_err(bad)?;
            out.l7.push(l7_row(&l));
        }
        MessageType::Metrics => {
            let d = m::Document::decode(msg).map_err(bad)?;
            push_document(&d, out)?;
        }
        // Not records: the receiver stores them apart.
        _ => return Err(FrameError::UnknownType(t as u8)),
    }
    Ok(())
}

/// An l4 row from DeepFlow's `Flow`.
pub fn l4_row(f: &fl::Flow) -> L4FlowLog {
    let k = f.flow_key.clone().unwrap_or_default();
    let src = f.metrics_peer_src.unwrap_or_default();
    let dst = f.metrics_peer_dst.unwrap_or_default();
    let t = f.tunnel.unwrap_or_default();
    let perf = f
        .perf_stats
        .filter(|_| f.has_perf_stats == 1)
        .unwrap_or_default();
    let tcp = perf.tcp.unwrap_or_default();
    let l7 = perf.l7.unwrap_or_default();
    let ctx = tcp.counts_peer_tx.unwrap_or_default();
    let crx = tcp.counts_peer_rx.unwrap_or_default();
    let is_v6 = f.eth_type == ETH_IPV6 || k.ip6_src.len() == 16;
    let close = CloseType::from_u8(u8c(f.close_type)).unwrap_or(CloseType::Unknown);
    let tunnel_on = t.tunnel_type != 0;
    let tip = |a: u32| (tunnel_on && t.is_ipv6 == 0).then_some(IpAddr::V4(Ipv4Addr::from(a)));
    let l7_protocol = u8c(perf.l7_protocol);
    L4FlowLog {
        flow_id: f.flow_id,
        agent_id: u16c(k.vtap_id),
        start_time: f.start_time / 1_000,
        end_time: f.end_time / 1_000,
        duration: f.duration / 1_000,
        close_type: close as u8,
        close_type_name: close.name(),
        status: close.status(),
        is_new_flow: f.is_new_flow != 0,
        signal_source: u8c(f.signal_source),
        capture_network_type: u8c(k.tap_type),
        tap_port: k.tap_port,
        tap_port_type: TapPort(k.tap_port).kind_name(),
        tap_side: u8c(f.tap_side),
        observation_point: tap_side_name(u8c(f.tap_side)),
        l2_end_0: src.is_l2_end != 0,
        l2_end_1: dst.is_l2_end != 0,
        eth_type: u16c(f.eth_type),
        vlan: u16c(f.vlan),
        peers: FlowPeers {
            mac_0: mac(k.mac_src),
            mac_1: mac(k.mac_dst),
            ip_0: ip(k.ip_src, &k.ip6_src, is_v6),
            ip_1: ip(k.ip_dst, &k.ip6_dst, is_v6),
            is_ipv4: !is_v6,
            protocol: u8c(k.proto),
            client_port: u16c(k.port_src),
            server_port: u16c(k.port_dst),
        },
        tunnel_type: u8c(t.tunnel_type),
        tunnel_tier: u8c(t.tier),
        tunnel_id: t.tx_id,
        tunnel_tx_ip_0: tip(t.tx_ip0),
        tunnel_tx_ip_1: tip(t.tx_ip1),
        tunnel_rx_ip_0: tip(t.rx_ip0),
        tunnel_rx_ip_1: tip(t.rx_ip1),
        packet_tx: src.packet_count,
        packet_rx: dst.packet_count,
        byte_tx: src.byte_count,
        byte_rx: dst.byte_count,
        l3_byte_tx: src.l3_byte_count,
        l3_byte_rx: dst.l3_byte_count,
        l4_byte_tx: src.l4_byte_count,
        l4_byte_rx: dst.l4_byte_count,
        total_packet_tx: src.total_packet_count,
        total_packet_rx: dst.total_packet_count,
        total_byte_tx: src.total_byte_count,
        total_byte_rx: dst.total_byte_count,
        first_time_tx: src.first / 1_000,
        last_time_tx: src.last / 1_000,
        first_time_rx: dst.first / 1_000,
        last_time_rx: dst.last / 1_000,
        tcp_flags_bit_0: u8c(src.tcp_flags),
        tcp_flags_bit_1: u8c(dst.tcp_flags),
        syn_count: tcp.syn_count,
        synack_count: tcp.synack_count,
        fin_count: tcp.fin_count,
        retrans_syn: tcp.syn_count.saturating_sub(1),
        retrans_synack: tcp.synack_count.saturating_sub(1),
        retrans_tx: ctx.retrans_count,
        retrans_rx: crx.retrans_count,
        zero_win_tx: ctx.zero_win_count,
        zero_win_rx: crx.zero_win_count,
        ooo_tx: ctx.ooo_count,
        ooo_rx: crx.ooo_count,
        rtt: tcp.rtt,
        rtt_client_sum: 0,
        rtt_client_count: 0,
        rtt_client_max: tcp.rtt_client_max,
        rtt_server_sum: 0,
        rtt_server_count: 0,
        rtt_server_max: tcp.rtt_server_max,
        srt_sum: u64::from(tcp.srt_sum),
        srt_count: tcp.srt_count,
        srt_max: tcp.srt_max,
        art_sum: u64::from(tcp.art_sum),
        art_count: tcp.art_count,
        art_max: tcp.art_max,
        cit_sum: u64::from(tcp.cit_sum),
        cit_count: tcp.cit_count,
        cit_max: tcp.cit_max,
        direction_score: u8c(f.direction_score),
        reversed: false,
        l7_protocol,
        l7_protocol_str: protocol_str(l7_protocol),
        l7_request: l7.request_count,
        l7_response: l7.response_count,
        l7_client_error: l7.err_client_count,
        l7_server_error: l7.err_server_count,
        l7_timeout: l7.err_timeout,
        rrt_sum: l7.rrt_sum,
        rrt_count: l7.rrt_count,
        rrt_max: l7.rrt_max,
        tls_rtt: l7.tls_rtt,
        processes: tapflow_analyzer::record::ProcessPair::default(),
    }
}

/// Whether a session row is one side's message alone (a ZMTP greeting, an OpenWire command:
/// DeepFlow's session messages) and which side's, as the wire tells it: such a row has only its
/// sender's captured bytes, where a request and its response have both. None for other rows
/// (they count as both a request and a response).
fn lone_from_client(l: &fl::AppProtoLogsData, row_type: u8) -> Option<bool> {
    let (req, resp) = (l.captured_request_byte > 0, l.captured_response_byte > 0);
    (row_type == tapflow_analyzer::record::l7::TYPE_SESSION && req != resp).then_some(req)
}

/// An l7 row from DeepFlow's `AppProtoLogsData`.
pub fn l7_row(l: &fl::AppProtoLogsData) -> L7FlowLog {
    let b = l.base.clone().unwrap_or_default();
    let head = b.head.unwrap_or_default();
    let req = l.req.clone().unwrap_or_default();
    let resp = l.resp.clone().unwrap_or_default();
    let trace = l.trace_info.clone().unwrap_or_default();
    // DeepFlow's agents list every trace id (`trace_ids`); older ones send one (`trace_id`).
    let first_trace = match trace.trace_ids.first() {
        Some(t) if trace.trace_id.is_empty() => t.as_str(),
        _ => trace.trace_id.as_str(),
    };
    let ext = l.ext_info.clone().unwrap_or_default();
    let is_v6 = b.is_ipv6 != 0;
    let l7_protocol = u8c(head.proto);
    let request_id =
        if ext.request_id != 0 || L7Protocol::from_id(l7_protocol) == Some(L7Protocol::Kafka) {
            Some(ext.request_id)
        } else {
            None
        };
    let mut headers_partial = false;
    let mut attributes = tapflow_analyzer::record::Attributes::EMPTY;
    for (n, v) in ext.attribute_names.iter().zip(&ext.attribute_values) {
        if n == ATTR_HEADERS_PARTIAL {
            headers_partial |= v == "true";
        } else {
            attributes.push(n.as_bytes(), v.as_bytes());
        }
    }
    L7FlowLog {
        flow_id: b.flow_id,
        agent_id: u16c(b.vtap_id),
        start_time: b.start_time / 1_000,
        end_time: b.end_time / 1_000,
        row_type: u8c(head.msg_type),
        lone_from_client: lone_from_client(l, u8c(head.msg_type)),
        // DeepFlow's ingester: rows from an eBPF tap_port are eBPF rows.
        signal_source: if TapPort(b.tap_port).kind() == TapPortKind::Ebpf as u8 {
            SIGNAL_SOURCE_EBPF
        } else {
            0
        },
        capture_network_type: u8c(b.tap_type),
        tap_port: b.tap_port,
        tap_side: u8c(b.tap_side),
        observation_point: tap_side_name(u8c(b.tap_side)),
        peers: FlowPeers {
            mac_0: mac(b.mac_src),
            mac_1: mac(b.mac_dst),
            ip_0: ip(b.ip_src, &b.ip6_src, is_v6),
            ip_1: ip(b.ip_dst, &b.ip6_dst, is_v6),
            is_ipv4: !is_v6,
            protocol: u8c(b.protocol),
            client_port: u16c(b.port_src),
            server_port: u16c(b.port_dst),
        },
        l7_protocol,
        l7_protocol_str: protocol_str(l7_protocol),
        version: inline(&l.version),
        request_type: inline(&req.req_type),
        request_domain: inline(&req.domain),
        request_resource: inline(&req.resource),
        request_id,
        endpoint: inline(&req.endpoint),
        response_code: (resp.code != CODE_NONE).then_some(resp.code),
        response_status: u8c(resp.status),
        response_exception: inline(&resp.exception),
        response_result: inline(&resp.result),
        trace_id: inline(first_trace),
        trace_id_2: trace
            .trace_ids
            .iter()
            .find(|t| !t.is_empty() && *t != first_trace)
            .map(|t| inline(t))
            .unwrap_or_default(),
        span_id: inline(&trace.span_id),
        parent_span_id: inline(&trace.parent_span_id),
        x_request_id_0: inline(&ext.x_request_id_0),
        x_request_id_1: inline(&ext.x_request_id_1),
        http_proxy_client: inline(&ext.client_ip),
        http_user_agent: inline(&ext.http_user_agent),
        http_referer: inline(&ext.http_referer),
        request_length: i64::from(l.req_len),
        response_length: i64::from(l.resp_len),
        response_duration: head.rrt / 1_000,
        sql_affected_rows: (l.row_effect != 0).then_some(u64::from(l.row_effect)),
        is_tls: l.flags & FLAG_TLS != 0,
        headers_partial,
        req_tcp_seq: b.req_tcp_seq,
        resp_tcp_seq: b.resp_tcp_seq,
        captured_request_byte: l.captured_request_byte,
        captured_response_byte: l.captured_response_byte,
        attributes,
        syscall: SyscallFields {
            process_id_0: b.process_id_0,
            process_id_1: b.process_id_1,
            process_kname_0: inline(&b.process_kname_0),
            process_kname_1: inline(&b.process_kname_1),
            syscall_trace_id_request: b.syscall_trace_id_request,
            syscall_trace_id_response: b.syscall_trace_id_response,
            syscall_thread_0: b.syscall_trace_id_thread_0,
            syscall_thread_1: b.syscall_trace_id_thread_1,
            syscall_cap_seq_0: b.syscall_cap_seq_0,
            syscall_cap_seq_1: b.syscall_cap_seq_1,
        },
    }
}

fn tags(t: &m::MiniTag) -> Result<Tags, FrameError> {
    let f = t.field.clone().unwrap_or_default();
    let edge = t.code & code::IP_PATH != 0;
    let bad = || FrameError::Decode(format!("document ip of {} bytes", f.ip.len()));
    let ip0 = ip_of_bytes(&f.ip).ok_or_else(bad)?;
    let ip1 = if edge {
        Some(ip_of_bytes(&f.ip1).ok_or_else(bad)?)
    } else {
        None
    };
    let l7 = u8c(f.l7_protocol);
    Ok(Tags {
        ip: ip0,
        ip_1: ip1,
        is_ipv4: f.is_ipv6 == 0,
        protocol: u8c(f.protocol),
        server_port: u16c(f.server_port),
        l7_protocol: l7,
        l7_protocol_str: protocol_str(l7),
        direction: u8c(f.direction),
        tap_side: u8c(f.tap_side),
        observation_point: tap_side_name(u8c(f.tap_side)),
        capture_network_type: u8c(f.tap_type),
        tap_port: f.tap_port,
        endpoint: inline(&f.endpoint),
        agent_id: u16c(f.vtap_id),
    })
}

fn flow_meter(f: &m::FlowMeter) -> FlowMeter {
    let t = f.traffic.unwrap_or_default();
    let l = f.latency.unwrap_or_default();
    let p = f.performance.unwrap_or_default();
    let a = f.anomaly.unwrap_or_default();
    FlowMeter {
        packet_tx: t.packet_tx,
        packet_rx: t.packet_rx,
        byte_tx: t.byte_tx,
        byte_rx: t.byte_rx,
        l3_byte_tx: t.l3_byte_tx,
        l3_byte_rx: t.l3_byte_rx,
        l4_byte_tx: t.l4_byte_tx,
        l4_byte_rx: t.l4_byte_rx,
        new_flow: t.new_flow,
        closed_flow: t.closed_flow,
        l7_request: u64::from(t.l7_request),
        l7_response: u64::from(t.l7_response),
        syn: u64::from(t.syn),
        synack: u64::from(t.synack),
        rtt_sum: l.rtt_sum,
        rtt_count: u64::from(l.rtt_count),
        rtt_max: l.rtt_max,
        rtt_client_sum: l.rtt_client_sum,
        rtt_client_count: u64::from(l.rtt_client_count),
        rtt_client_max: l.rtt_client_max,
        rtt_server_sum: l.rtt_server_sum,
        rtt_server_count: u64::from(l.rtt_server_count),
        rtt_server_max: l.rtt_server_max,
        srt_sum: l.srt_sum,
        srt_count: u64::from(l.srt_count),
        srt_max: l.srt_max,
        art_sum: l.art_sum,
        art_count: u64::from(l.art_count),
        art_max: l.art_max,
        rrt_sum: l.rrt_sum,
        rrt_count: u64::from(l.rrt_count),
        rrt_max: l.rrt_max,
        cit_sum: l.cit_sum,
        cit_count: u64::from(l.cit_count),
        cit_max: l.cit_max,
        retrans_tx: p.retrans_tx,
        retrans_rx: p.retrans_rx,
        zero_win_tx: p.zero_win_tx,
        zero_win_rx: p.zero_win_rx,
        retrans_syn: u64::from(p.retrans_syn),
        retrans_synack: u64::from(p.retrans_synack),
        client_rst_flow: a.client_rst_flow,
        server_rst_flow: a.server_rst_flow,
        server_syn_miss: a.server_syn_miss,
        client_ack_miss: a.client_ack_miss,
        client_half_close_flow: a.client_half_close_flow,
        server_half_close_flow: a.server_half_close_flow,
        client_source_port_reuse: a.client_source_port_reuse,
        client_establish_reset: a.client_establish_reset,
        server_reset: a.server_reset,
        server_queue_lack: a.server_queue_lack,
        server_establish_reset: a.server_establish_reset,
        tcp_timeout: a.tcp_timeout,
        l7_client_error: u64::from(a.l7_client_error),
        l7_server_error: u64::from(a.l7_server_error),
        l7_timeout: u64::from(a.l7_timeout),
        client_ooo: a.client_ooo,
        server_ooo: a.server_ooo,
        flow_load: f.flow_load.map_or(0, |l| l.load),
        ..FlowMeter::default()
    }
}

fn app_meter(a: &m::AppMeter) -> AppMeter {
    let t = a.traffic.unwrap_or_default();
    let l = a.latency.unwrap_or_default();
    let x = a.anomaly.unwrap_or_default();
    AppMeter {
        request: u64::from(t.request),
        response: u64::from(t.response),
        rrt_sum: l.rrt_sum,
        rrt_count: u64::from(l.rrt_count),
        rrt_max: u64::from(l.rrt_max),
        client_error: u64::from(x.client_error),
        server_error: u64::from(x.server_error),
        timeout: u64::from(x.timeout),
        ..AppMeter::default()
    }
}

/// A document into its table: flow or app meter, single end or path (`code`), minute or second.
fn push_document(d: &m::Document, out: &mut RecordBatch) -> Result<(), FrameError> {
    let tag = d.tag.clone().unwrap_or_default();
    let tags = tags(&tag)?;
    let edge = tag.code & code::IP_PATH != 0;
    let second = d.flags & PER_SECOND != 0;
    let time = u64::from(d.timestamp);
    let meter = d.meter.unwrap_or_default();
    if let Some(f) = &meter.flow {
        let doc = Doc {
            time,
            tags,
            meter: flow_meter(f),
        };
        match (edge, second) {
            (false, false) => out.network_1m.push(NetworkDoc(doc)),
            (true, false) => out.network_map_1m.push(NetworkMapDoc(doc)),
            (false, true) => out.network_1s.push(NetworkDoc1s(doc)),
            (true, true) => out.network_map_1s.push(NetworkMapDoc1s(doc)),
        }
    } else if let Some(a) = &meter.app {
        let doc = Doc {
            time,
            tags,
            meter: app_meter(a),
        };
        match (edge, second) {
            (false, false) => out.application_1m.push(ApplicationDoc(doc)),
            (true, false) => out.application_map_1m.push(ApplicationMapDoc(doc)),
            (false, true) => out.application_1s.push(ApplicationDoc1s(doc)),
            (true, true) => out.application_map_1s.push(ApplicationMapDoc1s(doc)),
        }
    } else {
        return Err(FrameError::Decode(
            "document without a flow or app meter".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_and_headers_partial_go_and_come_back() {
        let mut r = L7FlowLog {
            l7_protocol: 20,
            headers_partial: true,
            ..L7FlowLog::default()
        };
        r.attributes.push(b"x_tenant", b"blue");
        r.attributes.push(b"cookie", b"a=b");
        let pb = super::super::to_pb::app_proto_log(&r, 7);
        let ext = pb.ext_info.as_ref().expect("ext_info");
        assert_eq!(
            ext.attribute_names,
            [ATTR_HEADERS_PARTIAL, "x_tenant", "cookie"]
        );
        let back = l7_row(&pb);
        assert!(back.headers_partial);
        assert_eq!(back.attributes, r.attributes);
    }

    #[test]
    fn lone_messages_keep_their_sender() {
        use tapflow_analyzer::record::l7::{TYPE_REQUEST, TYPE_SESSION};
        for from_client in [true, false] {
            let mut r = L7FlowLog {
                row_type: TYPE_SESSION,
                lone_from_client: Some(from_client),
                ..L7FlowLog::default()
            };
            if from_client {
                r.captured_request_byte = 64;
            } else {
                r.captured_response_byte = 64;
            }
            let back = l7_row(&super::super::to_pb::app_proto_log(&r, 7));
            assert_eq!(back.lone_from_client, Some(from_client));
            assert_eq!(
                (back.counts_request(), back.counts_response()),
                (from_client, !from_client)
            );
        }
        // A request and its response: both.
        let pair = L7FlowLog {
            row_type: TYPE_SESSION,
            captured_request_byte: 10,
            captured_response_byte: 20,
            ..L7FlowLog::default()
        };
        let back = l7_row(&super::super::to_pb::app_proto_log(&pair, 7));
        assert_eq!(back.lone_from_client, None);
        assert!(back.counts_request() && back.counts_response());
        let request = L7FlowLog {
            row_type: TYPE_REQUEST,
            captured_request_byte: 10,
            ..L7FlowLog::default()
        };
        assert_eq!(
            l7_row(&super::super::to_pb::app_proto_log(&request, 7)).lone_from_client,
            None
        );
    }

    #[test]
    fn trace_ids_go_and_come_back() {
        use tapflow_analyzer::inline::InlineBytes;
        let mut r = L7FlowLog {
            trace_id: InlineBytes::from_slice(b"t1"),
            ..L7FlowLog::default()
        };
        let pb = super::super::to_pb::app_proto_log(&r, 7);
        assert!(pb.trace_info.as_ref().expect("trace").trace_ids.is_empty());
        assert_eq!(l7_row(&pb).trace_id, r.trace_id);
        r.trace_id_2 = InlineBytes::from_slice(b"t2");
        let mut pb = super::super::to_pb::app_proto_log(&r, 7);
        assert_eq!(
            pb.trace_info.as_ref().expect("trace").trace_ids,
            ["t1", "t2"]
        );
        let back = l7_row(&pb);
        assert_eq!((back.trace_id, back.trace_id_2), (r.trace_id, r.trace_id_2));
        r.parent_span_id = InlineBytes::from_slice(b"0.1");
        let back = l7_row(&super::super::to_pb::app_proto_log(&r, 7));
        assert_eq!(back.parent_span_id, r.parent_span_id);
        // As DeepFlow's agents send them: only the list.
        let t = pb.trace_info.as_mut().expect("trace");
        t.trace_id.clear();
        let back = l7_row(&pb);
        assert_eq!((back.trace_id, back.trace_id_2), (r.trace_id, r.trace_id_2));
    }
}
