//! `flow_metrics` documents as JSON without generic serialization ([`super::json_obj`]): serde's
//! derive writes a document through a map (its tags and meter are flattened into it), checks
//! every string for escapes, and its histograms looked each quantile up in a pass of its own.
//! The output parses to the same JSON value serde's derive gives (tests below, every table,
//! empty and full histograms; `tests/golden.rs` every document of the generated scenarios).

use tapflow_analyzer::metrics::doc::{AppMeter, FlowMeter, Tags};
use tapflow_analyzer::metrics::histogram::{Histogram, REPORTED};
use tapflow_analyzer::metrics::records::Document;

use super::json_obj::{key, render, Key, Obj};
use tapflow_analyzer::TextBuf;

/// Appends a network document (`network`, `network_map`, 1m or 1s) as one JSON object.
pub fn write_flow_doc(d: &Document<FlowMeter>, out: &mut TextBuf) {
    render!(out, d, flow_doc_members);
}

/// The members of a network document, inlined where [`write_flow_doc`] renders it (the
/// object's cursor stays in a register).
#[inline(always)]
fn flow_doc_members(o: &mut Obj<'_>, d: &Document<FlowMeter>) {
    o.u(key!("time"), d.time);
    tags(o, &d.tags);
    // Every field named: a new one does not compile until it is written.
    macro_rules! counters {
    ($($f:ident),+ ; $($h:ident),+) => {
        let FlowMeter { $($f,)+ $($h,)+ } = &d.meter;
        $(o.u(key!(field $f), *$f);)+
        $(histogram(o, key!(field $h), $h);)+
    };
}
    counters!(
        packet_tx, packet_rx, byte_tx, byte_rx, l3_byte_tx, l3_byte_rx, l4_byte_tx, l4_byte_rx,
        new_flow, closed_flow, l7_request, l7_response, syn, synack, rtt_sum, rtt_count, rtt_max,
        rtt_client_sum, rtt_client_count, rtt_client_max, rtt_server_sum, rtt_server_count,
        rtt_server_max, srt_sum, srt_count, srt_max, art_sum, art_count, art_max, rrt_sum,
        rrt_count, rrt_max, cit_sum, cit_count, cit_max, retrans_tx, retrans_rx, zero_win_tx,
        zero_win_rx, retrans_syn, retrans_synack, client_rst_flow, server_rst_flow,
        server_syn_miss, client_ack_miss, client_half_close_flow, server_half_close_flow,
        client_source_port_reuse, client_establish_reset, server_reset, server_queue_lack,
        server_establish_reset, tcp_timeout, l7_client_error, l7_server_error, l7_timeout,
        client_ooo, server_ooo, flow_load;
        rtt, srt, art
    );
}

/// Appends an application document (`application`, `application_map`, 1m or 1s).
pub fn write_app_doc(d: &Document<AppMeter>, out: &mut TextBuf) {
    render!(out, d, app_doc_members);
}

/// The members of an application document, inlined where [`write_app_doc`] renders it (the
/// object's cursor stays in a register).
#[inline(always)]
fn app_doc_members(o: &mut Obj<'_>, d: &Document<AppMeter>) {
    o.u(key!("time"), d.time);
    tags(o, &d.tags);
    let AppMeter {
        request,
        response,
        rrt_sum,
        rrt_count,
        rrt_max,
        client_error,
        server_error,
        timeout,
        rrt,
    } = &d.meter;
    o.u(key!("request"), *request);
    o.u(key!("response"), *response);
    o.u(key!("rrt_sum"), *rrt_sum);
    o.u(key!("rrt_count"), *rrt_count);
    o.u(key!("rrt_max"), *rrt_max);
    o.u(key!("client_error"), *client_error);
    o.u(key!("server_error"), *server_error);
    o.u(key!("timeout"), *timeout);
    histogram(o, key!("rrt"), rrt);
}

/// The key's members, in the order of [`Tags`]'s fields (the optional ones only when serde
/// writes them).
fn tags(o: &mut Obj<'_>, t: &Tags) {
    let Tags {
        ip,
        ip_1,
        is_ipv4,
        protocol,
        server_port,
        l7_protocol,
        l7_protocol_str,
        direction,
        tap_side,
        observation_point,
        capture_network_type,
        tap_port,
        endpoint,
        agent_id,
    } = t;
    o.ip(key!("ip"), *ip);
    if let Some(ip_1) = ip_1 {
        o.ip(key!("ip_1"), *ip_1);
    }
    o.b(key!("is_ipv4"), *is_ipv4);
    o.u(key!("protocol"), *protocol);
    o.u(key!("server_port"), *server_port);
    o.u(key!("l7_protocol"), *l7_protocol);
    o.name(key!("l7_protocol_str"), l7_protocol_str);
    o.u(key!("direction"), *direction);
    o.u(key!("tap_side"), *tap_side);
    o.name(key!("observation_point"), observation_point);
    o.u(key!("capture_network_type"), *capture_network_type);
    o.u(key!("tap_port"), *tap_port);
    if !endpoint.is_empty() {
        o.inline(key!("endpoint"), endpoint);
    }
    if *agent_id != 0 {
        o.u(key!("agent_id"), *agent_id);
    }
}

/// `{"count":N,"p50":..,"p90":..,"p99":..,"p999":..,"buckets":[[upper_us,count],...]}`: the
/// quantiles in one pass over the buckets.
fn histogram(o: &mut Obj<'_>, k: &Key, h: &Histogram) {
    o.member(k);
    if h.total() == 0 {
        // Most documents' histograms (a meter's latencies that did not occur).
        o.raw(b"{\"count\":0,\"p50\":null,\"p90\":null,\"p99\":null,\"p999\":null,\"buckets\":[]}");
        return;
    }
    o.raw(b"{\"count\":");
    o.num(h.total());
    let [p50, p90, p99, p999] = h.quantiles(REPORTED);
    o.opt_u(key!("p50"), p50);
    o.opt_u(key!("p90"), p90);
    o.opt_u(key!("p99"), p99);
    o.opt_u(key!("p999"), p999);
    o.member(key!("buckets"));
    o.raw(b"[");
    for (i, (upper, count)) in h.buckets().enumerate() {
        o.raw(if i == 0 { b"[" } else { b",[" });
        o.num(upper);
        o.raw(b",");
        o.num(u64::from(count));
        o.raw(b"]");
    }
    o.raw(b"]}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::json_obj::same_as_serde;
    use tapflow_analyzer::inline::InlineBytes;
    use tapflow_analyzer::metrics::doc::{DIRECTION_CLIENT, DIRECTION_SERVER};

    fn tags() -> Tags {
        Tags {
            ip: "10.0.0.1".parse().unwrap(),
            ip_1: None,
            is_ipv4: true,
            protocol: 6,
            server_port: 443,
            l7_protocol: 0,
            l7_protocol_str: "",
            direction: DIRECTION_CLIENT,
            tap_side: 0,
            observation_point: "rest",
            capture_network_type: 3,
            tap_port: 0,
            endpoint: InlineBytes::EMPTY,
            agent_id: 0,
        }
    }

    fn full(h: &mut Histogram, seed: u64) {
        for v in 0..200u64 {
            h.record((v * v * seed) % 5_000_000, 1 + (v % 3) as u32);
        }
    }

    #[test]
    fn network_documents_match_serde() {
        let mut d = Document {
            time: 1_700_000_000,
            tags: tags(),
            meter: FlowMeter::default(),
        };
        same_as_serde(write_flow_doc, &d);
        d.tags.ip_1 = Some("2001:db8::1".parse().unwrap());
        d.tags.is_ipv4 = false;
        d.tags.l7_protocol = 20;
        d.tags.l7_protocol_str = "HTTP";
        d.tags.tap_port = u64::MAX;
        d.tags.agent_id = 7;
        d.meter.packet_tx = u64::MAX;
        d.meter.rtt_max = u32::MAX;
        d.meter.server_ooo = 3;
        full(&mut d.meter.rtt, 1);
        d.meter.art.record(0, 1);
        same_as_serde(write_flow_doc, &d);
        full(&mut d.meter.srt, 7);
        full(&mut d.meter.art, 13);
        same_as_serde(write_flow_doc, &d);
    }

    #[test]
    fn application_documents_match_serde() {
        let mut d = Document {
            time: 60,
            tags: tags(),
            meter: AppMeter::default(),
        };
        same_as_serde(write_app_doc, &d);
        d.tags.direction = DIRECTION_SERVER;
        d.tags.endpoint = InlineBytes::from_slice(b"/api/\"x\"\\\n\xff");
        d.tags.observation_point = "c-p";
        d.meter.request = 5;
        d.meter.rrt_max = u64::MAX;
        full(&mut d.meter.rrt, 3);
        same_as_serde(write_app_doc, &d);
    }
}
