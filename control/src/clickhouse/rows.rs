//! Records as RowBinary rows of their table: every column in table order, the record's value
//! where it has one (DeepFlow's ingester's conversions: times in µs, `time` = end time in
//! seconds, request/response lengths of -1 as NULL, user agent and referer as attributes),
//! the column type's zero otherwise (platform tags DeepFlow's server would fill).

use std::net::IpAddr;

use tapflow_analyzer::metrics::doc::{AppMeter, FlowMeter, Tags};
use tapflow_analyzer::metrics::Document;
use tapflow_analyzer::mirror::TapPort;
use tapflow_analyzer::{L4FlowLog, L7FlowLog, RecordRef};

use super::schema::{Table, Ty};
use crate::ingest::to_pb::ATTR_HEADERS_PARTIAL;

/// A column's value.
#[derive(Debug, Clone)]
pub enum Val<'a> {
    U(u64),
    I(i64),
    F(f64),
    S(&'a [u8]),
    Ip(IpAddr),
    /// A NULL of a Nullable column.
    Null,
    Strs(Vec<&'a [u8]>),
    Fs(&'a [f64]),
}

/// A value that does not fit its column's type (a mapping mistake; tests make it fatal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub column: &'static str,
    pub ty: Ty,
}

pub(super) fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub(super) fn string(b: &[u8], out: &mut Vec<u8>) {
    varint(b.len() as u64, out);
    out.extend_from_slice(b);
}

/// An `Array(String)` (or of `LowCardinality(String)`).
pub(super) fn strings(v: &[String], out: &mut Vec<u8>) {
    varint(v.len() as u64, out);
    for x in v {
        string(x.as_bytes(), out);
    }
}

/// An address as DeepFlow's `ip4`, `ip6` and `is_ipv4` columns (none: IPv4 0.0.0.0).
pub(super) fn ip_columns(ip: Option<std::net::IpAddr>) -> (u32, [u8; 16], u8) {
    match ip {
        Some(std::net::IpAddr::V4(a)) => (u32::from(a), [0; 16], 1),
        Some(std::net::IpAddr::V6(a)) => (0, a.octets(), 0),
        None => (0, [0; 16], 1),
    }
}

/// The type's zero.
pub(super) fn zero(ty: Ty, out: &mut Vec<u8>) {
    match ty {
        Ty::UInt8 => out.push(0),
        // `user`: an enum's zero must be one of its values.
        Ty::LogTypeEnum8 => out.push(1),
        Ty::UInt16 => out.extend_from_slice(&[0; 2]),
        Ty::UInt32 | Ty::IPv4 | Ty::DateTime | Ty::Int32 => out.extend_from_slice(&[0; 4]),
        Ty::UInt64 | Ty::Int64 | Ty::Float64 | Ty::DateTime64us | Ty::DateTime64ms => {
            out.extend_from_slice(&[0; 8]);
        }
        Ty::IPv6 => out.extend_from_slice(&[0; 16]),
        Ty::String | Ty::LowCardinalityString => out.push(0),
        Ty::UInt8Nullable | Ty::Int32Nullable | Ty::Int64Nullable | Ty::UInt64Nullable => {
            out.push(1)
        }
        Ty::ArrayUInt16 | Ty::ArrayString | Ty::ArrayLowCardinalityString | Ty::ArrayFloat64 => {
            out.push(0)
        }
    }
}

/// Writes `v` as `ty`; Err (and the zero written) when it does not fit.
fn put(ty: Ty, v: &Val<'_>, out: &mut Vec<u8>) -> Result<(), ()> {
    match (ty, v) {
        (Ty::UInt8, Val::U(x)) => out.push(u8::try_from(*x).unwrap_or(u8::MAX)),
        (Ty::UInt16, Val::U(x)) => {
            out.extend_from_slice(&u16::try_from(*x).unwrap_or(u16::MAX).to_le_bytes())
        }
        (Ty::UInt32 | Ty::DateTime, Val::U(x)) => {
            out.extend_from_slice(&u32::try_from(*x).unwrap_or(u32::MAX).to_le_bytes())
        }
        (Ty::UInt64, Val::U(x)) => out.extend_from_slice(&x.to_le_bytes()),
        (Ty::Int32, Val::I(x)) => out.extend_from_slice(
            &i32::try_from(*x)
                .unwrap_or(if *x < 0 { i32::MIN } else { i32::MAX })
                .to_le_bytes(),
        ),
        (Ty::Int64 | Ty::DateTime64us | Ty::DateTime64ms, Val::I(x)) => {
            out.extend_from_slice(&x.to_le_bytes())
        }
        (Ty::DateTime64us, Val::U(x)) => {
            out.extend_from_slice(&i64::try_from(*x).unwrap_or(i64::MAX).to_le_bytes())
        }
        (Ty::Float64, Val::F(x)) => out.extend_from_slice(&x.to_le_bytes()),
        (Ty::Float64, Val::U(x)) => out.extend_from_slice(&(*x as f64).to_le_bytes()),
        (Ty::String | Ty::LowCardinalityString, Val::S(s)) => string(s, out),
        (Ty::IPv4, Val::Ip(IpAddr::V4(a))) => out.extend_from_slice(&u32::from(*a).to_le_bytes()),
        (Ty::IPv6, Val::Ip(IpAddr::V6(a))) => out.extend_from_slice(&a.octets()),
        (
            Ty::UInt8Nullable | Ty::Int32Nullable | Ty::Int64Nullable | Ty::UInt64Nullable,
            Val::Null,
        ) => out.push(1),
        (Ty::UInt8Nullable, Val::U(x)) => {
            out.push(0);
            out.push(u8::try_from(*x).unwrap_or(u8::MAX));
        }
        (Ty::UInt64Nullable, Val::U(x)) => {
            out.push(0);
            out.extend_from_slice(&x.to_le_bytes());
        }
        (Ty::Int64Nullable, Val::I(x)) => {
            out.push(0);
            out.extend_from_slice(&x.to_le_bytes());
        }
        (Ty::Int32Nullable, Val::I(x)) => {
            out.push(0);
            out.extend_from_slice(&(*x as i32).to_le_bytes());
        }
        (Ty::ArrayFloat64, Val::Fs(v)) => {
            varint(v.len() as u64, out);
            for x in *v {
                out.extend_from_slice(&x.to_le_bytes());
            }
        }
        (Ty::ArrayString | Ty::ArrayLowCardinalityString, Val::Strs(v)) => {
            varint(v.len() as u64, out);
            for s in v {
                string(s, out);
            }
        }
        _ => {
            zero(ty, out);
            return Err(());
        }
    }
    Ok(())
}

fn b(v: bool) -> Val<'static> {
    Val::U(u64::from(v))
}

fn mac(m: [u8; 6]) -> Val<'static> {
    Val::U(m.iter().fold(0u64, |a, x| (a << 8) | u64::from(*x)))
}

/// The v4 address for an `ip4` column, the v6 one for an `ip6` column (the other stays zero).
fn ip4(ip: IpAddr) -> Option<Val<'static>> {
    ip.is_ipv4().then_some(Val::Ip(ip))
}

fn ip6(ip: IpAddr) -> Option<Val<'static>> {
    ip.is_ipv6().then_some(Val::Ip(ip))
}

/// DeepFlow's l4 `status`: 0 ok, 3 server error, 4 client error.
fn l4_status(s: &str) -> u64 {
    match s {
        "client_error" => 4,
        "server_error" => 3,
        _ => 0,
    }
}

fn nic(tap_port: u64) -> (u64, u64) {
    (tap_port & 0xffff_ffff, u64::from(TapPort(tap_port).kind()))
}

/// The value of l4 column `c` for `r` (`id`: the row's `_id`).
fn l4_value<'a>(c: &str, r: &'a L4FlowLog, id: u64) -> Option<Val<'a>> {
    let p = &r.peers;
    let u = |x: u64| Some(Val::U(x));
    let (cnic, cnic_type) = nic(r.tap_port);
    let tip = |x: Option<IpAddr>, v6: bool| x.filter(|a| a.is_ipv6() == v6).map(Val::Ip);
    Some(match c {
        "mac_0" => mac(p.mac_0.0),
        "mac_1" => mac(p.mac_1.0),
        "eth_type" => return u(u64::from(r.eth_type)),
        "vlan" => return u(u64::from(r.vlan)),
        "ip4_0" => return ip4(p.ip_0),
        "ip4_1" => return ip4(p.ip_1),
        "ip6_0" => return ip6(p.ip_0),
        "ip6_1" => return ip6(p.ip_1),
        "is_ipv4" => b(p.is_ipv4),
        "protocol" => return u(u64::from(p.protocol)),
        "tunnel_tier" => return u(u64::from(r.tunnel_tier)),
        "tunnel_type" => return u(u64::from(r.tunnel_type)),
        "tunnel_tx_id" | "tunnel_rx_id" => return u(u64::from(r.tunnel_id)),
        "tunnel_tx_ip4_0" => return tip(r.tunnel_tx_ip_0, false),
        "tunnel_tx_ip4_1" => return tip(r.tunnel_tx_ip_1, false),
        "tunnel_rx_ip4_0" => return tip(r.tunnel_rx_ip_0, false),
        "tunnel_rx_ip4_1" => return tip(r.tunnel_rx_ip_1, false),
        "tunnel_tx_ip6_0" => return tip(r.tunnel_tx_ip_0, true),
        "tunnel_tx_ip6_1" => return tip(r.tunnel_tx_ip_1, true),
        "tunnel_rx_ip6_0" => return tip(r.tunnel_rx_ip_0, true),
        "tunnel_rx_ip6_1" => return tip(r.tunnel_rx_ip_1, true),
        "tunnel_is_ipv4" => b(!matches!(r.tunnel_tx_ip_0, Some(IpAddr::V6(_)))),
        "client_port" => return u(u64::from(p.client_port)),
        "server_port" => return u(u64::from(p.server_port)),
        "tcp_flags_bit_0" => return u(u64::from(r.tcp_flags_bit_0)),
        "tcp_flags_bit_1" => return u(u64::from(r.tcp_flags_bit_1)),
        "l7_protocol" => return u(u64::from(r.l7_protocol)),
        "agent_id" => return u(u64::from(r.agent_id)),
        "time" => return u(r.end_time / 1_000_000),
        "close_type" => return u(u64::from(r.close_type)),
        "signal_source" => return u(u64::from(r.signal_source)),
        "flow_id" => return u(r.flow_id),
        "capture_network_type_id" => return u(u64::from(r.capture_network_type)),
        "capture_nic_type" => return u(cnic_type),
        "capture_nic" => return u(cnic),
        "observation_point" => Val::S(r.observation_point.as_bytes()),
        "l2_end_0" => b(r.l2_end_0),
        "l2_end_1" => b(r.l2_end_1),
        "start_time" => return u(r.start_time),
        "end_time" => return u(r.end_time),
        "duration" => return u(r.duration),
        "is_new_flow" => b(r.is_new_flow),
        "status" => return u(l4_status(r.status)),
        "direction_score" => return u(u64::from(r.direction_score)),
        "packet_tx" => return u(r.packet_tx),
        "packet_rx" => return u(r.packet_rx),
        "byte_tx" => return u(r.byte_tx),
        "byte_rx" => return u(r.byte_rx),
        "l3_byte_tx" => return u(r.l3_byte_tx),
        "l3_byte_rx" => return u(r.l3_byte_rx),
        "l4_byte_tx" => return u(r.l4_byte_tx),
        "l4_byte_rx" => return u(r.l4_byte_rx),
        "total_packet_tx" => return u(r.total_packet_tx),
        "total_packet_rx" => return u(r.total_packet_rx),
        "total_byte_tx" => return u(r.total_byte_tx),
        "total_byte_rx" => return u(r.total_byte_rx),
        "l7_request" => return u(u64::from(r.l7_request)),
        "l7_response" => return u(u64::from(r.l7_response)),
        "rtt" => return u(u64::from(r.rtt)),
        "rtt_client" => return u(u64::from(r.rtt_client_max)),
        "rtt_server" => return u(u64::from(r.rtt_server_max)),
        "tls_rtt" => return u(u64::from(r.tls_rtt)),
        "srt_sum" => return u(r.srt_sum),
        "art_sum" => return u(r.art_sum),
        "rrt_sum" => return u(r.rrt_sum),
        "cit_sum" => return u(r.cit_sum),
        "srt_count" => return u(u64::from(r.srt_count)),
        "art_count" => return u(u64::from(r.art_count)),
        "rrt_count" => return u(u64::from(r.rrt_count)),
        "cit_count" => return u(u64::from(r.cit_count)),
        "srt_max" => return u(u64::from(r.srt_max)),
        "art_max" => return u(u64::from(r.art_max)),
        "rrt_max" => return u(u64::from(r.rrt_max)),
        "cit_max" => return u(u64::from(r.cit_max)),
        "retrans_tx" => return u(u64::from(r.retrans_tx)),
        "retrans_rx" => return u(u64::from(r.retrans_rx)),
        "zero_win_tx" => return u(u64::from(r.zero_win_tx)),
        "zero_win_rx" => return u(u64::from(r.zero_win_rx)),
        "syn_count" => return u(u64::from(r.syn_count)),
        "synack_count" => return u(u64::from(r.synack_count)),
        "retrans_syn" => return u(u64::from(r.retrans_syn)),
        "retrans_synack" => return u(u64::from(r.retrans_synack)),
        "l7_client_error" => return u(u64::from(r.l7_client_error)),
        "l7_server_error" => return u(u64::from(r.l7_server_error)),
        "l7_server_timeout" => return u(u64::from(r.l7_timeout)),
        "l7_error" => return u(u64::from(r.l7_client_error + r.l7_server_error)),
        "ooo_tx" => return u(u64::from(r.ooo_tx)),
        "ooo_rx" => return u(u64::from(r.ooo_rx)),
        "fin_count" => return u(u64::from(r.fin_count)),
        "_id" => return u(id),
        "first_time_tx" => return u(r.first_time_tx),
        "last_time_tx" => return u(r.last_time_tx),
        "first_time_rx" => return u(r.first_time_rx),
        "last_time_rx" => return u(r.last_time_rx),
        "rtt_client_sum" => return u(r.rtt_client_sum),
        "rtt_client_count" => return u(u64::from(r.rtt_client_count)),
        "rtt_server_sum" => return u(r.rtt_server_sum),
        "rtt_server_count" => return u(u64::from(r.rtt_server_count)),
        "is_reversed" => b(r.reversed),
        "process_id_0" => Val::I(i64::from(r.processes.process_id_0)),
        "process_id_1" => Val::I(i64::from(r.processes.process_id_1)),
        "process_kname_0" => return Some(Val::S(r.processes.process_kname_0.as_bytes())),
        "process_kname_1" => return Some(Val::S(r.processes.process_kname_1.as_bytes())),
        _ => return None,
    })
}

/// The value of l7 column `c` for `r`.
fn l7_value<'a>(c: &str, r: &'a L7FlowLog, id: u64, attrs: &AttrLists<'a>) -> Option<Val<'a>> {
    let p = &r.peers;
    let u = |x: u64| Some(Val::U(x));
    let s = |x: &'a [u8]| Some(Val::S(x));
    let (cnic, cnic_type) = nic(r.tap_port);
    Some(match c {
        "time" => return u(r.end_time.max(r.start_time) / 1_000_000),
        "ip4_0" => return ip4(p.ip_0),
        "ip4_1" => return ip4(p.ip_1),
        "ip6_0" => return ip6(p.ip_0),
        "ip6_1" => return ip6(p.ip_1),
        "is_ipv4" => b(p.is_ipv4),
        "protocol" => return u(u64::from(p.protocol)),
        "client_port" => return u(u64::from(p.client_port)),
        "server_port" => return u(u64::from(p.server_port)),
        "flow_id" => return u(r.flow_id),
        "capture_network_type_id" => return u(u64::from(r.capture_network_type)),
        "capture_nic_type" => return u(cnic_type),
        "signal_source" => return u(u64::from(r.signal_source)),
        "capture_nic" => return u(cnic),
        "observation_point" => return s(r.observation_point.as_bytes()),
        "agent_id" => return u(u64::from(r.agent_id)),
        "req_tcp_seq" => return u(u64::from(r.req_tcp_seq)),
        "resp_tcp_seq" => return u(u64::from(r.resp_tcp_seq)),
        "start_time" => return u(r.start_time),
        "end_time" => return u(r.end_time),
        "_id" => return u(id),
        "l7_protocol" => return u(u64::from(r.l7_protocol)),
        "biz_protocol" => return s(r.l7_protocol_str.as_bytes()),
        "version" => return s(r.version.as_bytes()),
        "type" => return u(u64::from(r.row_type)),
        "is_tls" => b(r.is_tls),
        "request_type" => return s(r.request_type.as_bytes()),
        "request_domain" => return s(r.request_domain.as_bytes()),
        "request_resource" => return s(r.request_resource.as_bytes()),
        "endpoint" => return s(r.endpoint.as_bytes()),
        "request_id" => r.request_id.map_or(Val::Null, |i| Val::U(u64::from(i))),
        "response_status" => return u(u64::from(r.response_status)),
        "response_code" => r.response_code.map_or(Val::Null, |c| Val::I(i64::from(c))),
        "response_exception" => return s(r.response_exception.as_bytes()),
        "response_result" => return s(r.response_result.as_bytes()),
        "http_proxy_client" => return s(r.http_proxy_client.as_bytes()),
        "x_request_id_0" => return s(r.x_request_id_0.as_bytes()),
        "x_request_id_1" => return s(r.x_request_id_1.as_bytes()),
        "trace_id" => return s(r.trace_id.as_bytes()),
        "_trace_id_2" => return s(r.trace_id_2.as_bytes()),
        "span_id" => return s(r.span_id.as_bytes()),
        "parent_span_id" => return s(r.parent_span_id.as_bytes()),
        "response_duration" => return u(r.response_duration),
        "request_length" if r.request_length >= 0 => Val::I(r.request_length),
        "response_length" if r.response_length >= 0 => Val::I(r.response_length),
        "request_length" | "response_length" => Val::Null,
        "sql_affected_rows" => r.sql_affected_rows.map_or(Val::Null, Val::U),
        "captured_request_byte" => return u(u64::from(r.captured_request_byte)),
        "captured_response_byte" => return u(u64::from(r.captured_response_byte)),
        "process_id_0" => Val::I(i64::from(r.syscall.process_id_0)),
        "process_id_1" => Val::I(i64::from(r.syscall.process_id_1)),
        "process_kname_0" => return s(r.syscall.process_kname_0.as_bytes()),
        "process_kname_1" => return s(r.syscall.process_kname_1.as_bytes()),
        "syscall_trace_id_request" => return u(r.syscall.syscall_trace_id_request),
        "syscall_trace_id_response" => return u(r.syscall.syscall_trace_id_response),
        "syscall_thread_0" => return u(u64::from(r.syscall.syscall_thread_0)),
        "syscall_thread_1" => return u(u64::from(r.syscall.syscall_thread_1)),
        "syscall_cap_seq_0" => return u(u64::from(r.syscall.syscall_cap_seq_0)),
        "syscall_cap_seq_1" => return u(u64::from(r.syscall.syscall_cap_seq_1)),
        "attribute_names" => Val::Strs(attrs.names.clone()),
        "attribute_values" => Val::Strs(attrs.values.clone()),
        "mac_0" => mac(p.mac_0.0),
        "mac_1" => mac(p.mac_1.0),
        _ => return None,
    })
}

/// An l7 row's attributes, as DeepFlow's ingester makes them (user agent, referer), plus
/// tapflow's `headers_partial` and the headers `custom_fields` named.
struct AttrLists<'a> {
    names: Vec<&'a [u8]>,
    values: Vec<&'a [u8]>,
}

fn attrs(r: &L7FlowLog) -> AttrLists<'_> {
    let mut a = AttrLists {
        names: Vec::new(),
        values: Vec::new(),
    };
    if !r.http_user_agent.is_empty() {
        a.names.push(b"http_user_agent");
        a.values.push(r.http_user_agent.as_bytes());
    }
    if !r.http_referer.is_empty() {
        a.names.push(b"http_referer");
        a.values.push(r.http_referer.as_bytes());
    }
    if r.headers_partial {
        a.names.push(ATTR_HEADERS_PARTIAL.as_bytes());
        a.values.push(b"true");
    }
    for (n, v) in r.attributes.iter() {
        a.names.push(n);
        a.values.push(v);
    }
    a
}

/// The value of a flow_metrics column for a document.
fn tag_value<'a>(c: &str, t: &'a Tags, time: u64) -> Option<Val<'a>> {
    let (cnic, cnic_type) = nic(t.tap_port);
    let u = |x: u64| Some(Val::U(x));
    Some(match c {
        "time" => return u(time),
        "agent_id" => return u(u64::from(t.agent_id)),
        "ip4" => return ip4(t.ip),
        "ip6" => return ip6(t.ip),
        "ip4_1" => return t.ip_1.and_then(ip4),
        "ip6_1" => return t.ip_1.and_then(ip6),
        "is_ipv4" => b(t.is_ipv4),
        "protocol" => return u(u64::from(t.protocol)),
        "server_port" => return u(u64::from(t.server_port)),
        "l7_protocol" => return u(u64::from(t.l7_protocol)),
        "role" => return u(u64::from(t.direction)),
        "tap_side" => return u(u64::from(t.tap_side)),
        "observation_point" => Val::S(t.observation_point.as_bytes()),
        "capture_network_type_id" => return u(u64::from(t.capture_network_type)),
        "capture_nic" => return u(cnic),
        "capture_nic_type" => return u(cnic_type),
        "endpoint" => Val::S(t.endpoint.as_bytes()),
        _ => return None,
    })
}

fn flow_meter_value(c: &str, m: &FlowMeter) -> Option<Val<'static>> {
    macro_rules! fields {
        ($($f:ident),+) => {
            match c {
                $(stringify!($f) => Some(Val::U(u64::from(m.$f))),)+
                _ => None,
            }
        };
    }
    fields!(
        packet_tx,
        packet_rx,
        byte_tx,
        byte_rx,
        l3_byte_tx,
        l3_byte_rx,
        l4_byte_tx,
        l4_byte_rx,
        new_flow,
        closed_flow,
        l7_request,
        l7_response,
        syn,
        synack,
        rtt_sum,
        rtt_count,
        rtt_max,
        rtt_client_sum,
        rtt_client_count,
        rtt_client_max,
        rtt_server_sum,
        rtt_server_count,
        rtt_server_max,
        srt_sum,
        srt_count,
        srt_max,
        art_sum,
        art_count,
        art_max,
        rrt_sum,
        rrt_count,
        rrt_max,
        cit_sum,
        cit_count,
        cit_max,
        retrans_tx,
        retrans_rx,
        zero_win_tx,
        zero_win_rx,
        retrans_syn,
        retrans_synack,
        client_rst_flow,
        server_rst_flow,
        server_syn_miss,
        client_ack_miss,
        client_half_close_flow,
        server_half_close_flow,
        client_source_port_reuse,
        client_establish_reset,
        server_reset,
        server_queue_lack,
        server_establish_reset,
        tcp_timeout,
        l7_client_error,
        l7_server_error,
        l7_timeout,
        client_ooo,
        server_ooo,
        flow_load
    )
}

fn app_meter_value(c: &str, m: &AppMeter) -> Option<Val<'static>> {
    let u = |x: u64| Some(Val::U(x));
    match c {
        "request" => u(m.request),
        "response" => u(m.response),
        "rrt_sum" => u(m.rrt_sum),
        "rrt_count" => u(m.rrt_count),
        "rrt_max" => u(m.rrt_max),
        "client_error" => u(m.client_error),
        "server_error" => u(m.server_error),
        "timeout" => u(m.timeout),
        _ => None,
    }
}

/// Appends `rec` as one row of `table` to `out` (`id` for `_id`); the columns whose value did
/// not fit their type are returned (empty for every record tapflow makes: a test checks).
pub fn encode(table: &Table, rec: RecordRef<'_>, id: u64, out: &mut Vec<u8>) -> Vec<Mismatch> {
    let mut bad = Vec::new();
    fn doc_flow<'a>(c: &str, d: &'a Document<FlowMeter>) -> Option<Val<'a>> {
        tag_value(c, &d.tags, d.time).or_else(|| flow_meter_value(c, &d.meter))
    }
    fn doc_app<'a>(c: &str, d: &'a Document<AppMeter>) -> Option<Val<'a>> {
        tag_value(c, &d.tags, d.time).or_else(|| app_meter_value(c, &d.meter))
    }
    let (t, o, b) = (table, &mut *out, &mut bad);
    match rec {
        RecordRef::L4FlowLog(r) => each(t, o, b, |c| l4_value(c, r, id)),
        RecordRef::L7FlowLog(r) => {
            let a = attrs(r);
            each(t, o, b, |c| l7_value(c, r, id, &a))
        }
        RecordRef::NetworkDoc(d) => each(t, o, b, |c| doc_flow(c, &d.0)),
        RecordRef::NetworkMapDoc(d) => each(t, o, b, |c| doc_flow(c, &d.0)),
        RecordRef::NetworkDoc1s(d) => each(t, o, b, |c| doc_flow(c, &d.0)),
        RecordRef::NetworkMapDoc1s(d) => each(t, o, b, |c| doc_flow(c, &d.0)),
        RecordRef::ApplicationDoc(d) => each(t, o, b, |c| doc_app(c, &d.0)),
        RecordRef::ApplicationMapDoc(d) => each(t, o, b, |c| doc_app(c, &d.0)),
        RecordRef::ApplicationDoc1s(d) => each(t, o, b, |c| doc_app(c, &d.0)),
        RecordRef::ApplicationMapDoc1s(d) => each(t, o, b, |c| doc_app(c, &d.0)),
    }
    bad
}

/// Every column of `table` from `value` (zero where it has none).
pub(super) fn each<'a>(
    table: &Table,
    out: &mut Vec<u8>,
    bad: &mut Vec<Mismatch>,
    value: impl Fn(&str) -> Option<Val<'a>>,
) {
    for (name, ty) in &table.columns {
        match value(name) {
            Some(v) => {
                if put(*ty, &v, out).is_err() {
                    bad.push(Mismatch {
                        column: name,
                        ty: *ty,
                    });
                }
            }
            None => zero(*ty, out),
        }
    }
}

/// The names of `table`'s columns that `rec` gives a value (the others are zero): for tests and
/// the docs' column list.
pub fn filled_columns(table: &Table, rec: RecordRef<'_>) -> Vec<&'static str> {
    let mut out = Vec::new();
    for (name, ty) in &table.columns {
        let one = Table {
            columns: vec![(*name, *ty)],
            ..table.clone()
        };
        let mut buf = Vec::new();
        encode(&one, rec, 1, &mut buf);
        let mut z = Vec::new();
        zero(*ty, &mut z);
        if buf != z {
            out.push(*name);
        }
    }
    out
}
