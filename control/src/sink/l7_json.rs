//! `l7_flow_log` rows as JSON without generic serialization ([`super::json_obj`]): serde's
//! derive writes these rows through a map (the flattened ends and syscall fields) with every
//! string checked for escapes; most of a request log's text needs none. The output parses to the
//! same JSON value serde's derive gives (`tests/golden.rs` checks every generated row of every
//! protocol, the tests below hostile bytes and every optional field).

use tapflow_analyzer::L7FlowLog;

use super::json_obj::{key, render, Obj};
use super::l4_json::peers;
use tapflow_analyzer::TextBuf;

/// Text members that are empty in most rows (the tracing and HTTP header fields of every
/// protocol but HTTP, a reply's exception and result): one test, and when every one is empty
/// one copy of the run as rendered at compile time.
macro_rules! mostly_empty {
    ($o:ident, $r:ident, $($field:ident),+ $(,)?) => {
        if true $(&& $r.$field.is_empty())+ {
            $o.raw(concat!($(",\"", stringify!($field), "\":\"\""),+).as_bytes());
        } else {
            $($o.inline(key!(field $field), &$r.$field);)+
        }
    };
}

/// Appends `r` as one JSON object (no newline).
pub fn write_l7(r: &L7FlowLog, out: &mut TextBuf) {
    render!(out, r, l7_members);
}

/// The members of an l7 row, inlined where [`write_l7`] renders it (the object's cursor
/// stays in a register).
#[inline(always)]
fn l7_members(o: &mut Obj<'_>, r: &L7FlowLog) {
    o.u(key!("flow_id"), r.flow_id);
    if r.agent_id != 0 {
        o.u(key!("agent_id"), r.agent_id);
    }
    o.u(key!("start_time"), r.start_time);
    o.u(key!("end_time"), r.end_time);
    o.u(key!("type"), r.row_type);
    o.u(key!("signal_source"), r.signal_source);
    o.u(key!("capture_network_type"), r.capture_network_type);
    o.u(key!("tap_port"), r.tap_port);
    o.u(key!("tap_side"), r.tap_side);
    o.name(key!("observation_point"), r.observation_point);
    peers(o, &r.peers);
    o.u(key!("l7_protocol"), r.l7_protocol);
    o.name(key!("l7_protocol_str"), r.l7_protocol_str);
    o.inline(key!("version"), &r.version);
    o.inline(key!("request_type"), &r.request_type);
    o.inline(key!("request_domain"), &r.request_domain);
    o.inline(key!("request_resource"), &r.request_resource);
    match r.request_id {
        Some(id) => o.u(key!("request_id"), id),
        None => o.null(key!("request_id")),
    }
    o.inline(key!("endpoint"), &r.endpoint);
    match r.response_code {
        Some(code) => o.i(key!("response_code"), code.into()),
        None => o.null(key!("response_code")),
    }
    o.u(key!("response_status"), r.response_status);
    mostly_empty!(o, r, response_exception, response_result);
    o.inline(key!("trace_id"), &r.trace_id);
    if !r.trace_id_2.is_empty() {
        o.inline(key!("trace_id_2"), &r.trace_id_2);
    }
    mostly_empty!(o, r, span_id,);
    if !r.parent_span_id.is_empty() {
        o.inline(key!("parent_span_id"), &r.parent_span_id);
    }
    mostly_empty!(
        o,
        r,
        x_request_id_0,
        x_request_id_1,
        http_proxy_client,
        http_user_agent,
        http_referer,
    );
    o.i(key!("request_length"), r.request_length);
    o.i(key!("response_length"), r.response_length);
    o.u(key!("response_duration"), r.response_duration);
    if let Some(rows) = r.sql_affected_rows {
        o.u(key!("sql_affected_rows"), rows);
    }
    o.b(key!("is_tls"), r.is_tls);
    if r.headers_partial {
        o.b(key!("headers_partial"), true);
    }
    o.u(key!("req_tcp_seq"), r.req_tcp_seq);
    o.u(key!("resp_tcp_seq"), r.resp_tcp_seq);
    o.u(key!("captured_request_byte"), r.captured_request_byte);
    o.u(key!("captured_response_byte"), r.captured_response_byte);
    if !r.attributes.is_empty() {
        o.member(key!("attributes"));
        o.raw(b"{");
        for (i, (name, value)) in r.attributes.iter().enumerate() {
            if i > 0 {
                o.raw(b",");
            }
            o.text(name);
            o.raw(b":");
            o.text(value);
        }
        o.raw(b"}");
    }
    let s = &r.syscall;
    if !s.is_empty() {
        o.u(key!("process_id_0"), s.process_id_0);
        o.u(key!("process_id_1"), s.process_id_1);
        o.inline(key!("process_kname_0"), &s.process_kname_0);
        o.inline(key!("process_kname_1"), &s.process_kname_1);
        o.u(key!("syscall_trace_id_request"), s.syscall_trace_id_request);
        o.u(
            key!("syscall_trace_id_response"),
            s.syscall_trace_id_response,
        );
        o.u(key!("syscall_thread_0"), s.syscall_thread_0);
        o.u(key!("syscall_thread_1"), s.syscall_thread_1);
        o.u(key!("syscall_cap_seq_0"), s.syscall_cap_seq_0);
        o.u(key!("syscall_cap_seq_1"), s.syscall_cap_seq_1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::json_obj::same_as_serde;
    use tapflow_analyzer::inline::InlineBytes;
    use tapflow_analyzer::record::MacAddr;

    #[test]
    fn default_full_and_hostile_rows_match_serde() {
        let mut r = L7FlowLog::default();
        same_as_serde(write_l7, &r);
        r.flow_id = u64::MAX;
        r.agent_id = 3;
        r.row_type = 2;
        r.observation_point = "c";
        r.peers.ip_1 = "2001:db8::7".parse().unwrap();
        r.peers.mac_0 = MacAddr([0xaa, 0, 1, 2, 3, 0xff]);
        r.peers.is_ipv4 = false;
        r.l7_protocol_str = "HTTP";
        r.version = InlineBytes::from_slice(b"1.1");
        // Every byte value, invalid UTF-8 included: escaped and replaced as serde does.
        let every: Vec<u8> = (0..=255u8).collect();
        r.request_resource = InlineBytes::from_slice(&every);
        r.request_domain = InlineBytes::from_slice(b"a\"b\\c\n\r\t\x08\x0c\x1f\x7fd");
        r.request_type = InlineBytes::from_slice("GET \u{e9}\u{1f600}".as_bytes());
        r.http_user_agent = InlineBytes::from_slice(b"\xf0\x9f\x98");
        r.request_id = Some(u32::MAX);
        r.response_code = Some(i32::MIN);
        r.request_length = i64::MIN;
        r.response_length = 0;
        r.sql_affected_rows = Some(u64::MAX);
        r.is_tls = true;
        r.headers_partial = true;
        r.attributes.push(b"x_tenant", b"blue");
        r.attributes.push(b"cookie", b"a=\"b\"\\\x01\xff");
        r.attributes.push(b"bad\"name", b"");
        r.syscall.process_id_0 = 9;
        r.syscall.process_kname_1 = InlineBytes::from_slice(b"nginx\x00");
        r.syscall.syscall_trace_id_response = u64::MAX;
        same_as_serde(write_l7, &r);
        r.response_code = Some(-1);
        r.sql_affected_rows = Some(0);
        r.syscall.process_id_0 = 0;
        same_as_serde(write_l7, &r);
        // Each mostly-empty run written member by member when its last member alone is set.
        let mut r = L7FlowLog {
            response_result: InlineBytes::from_slice(b"OK"),
            ..L7FlowLog::default()
        };
        same_as_serde(write_l7, &r);
        r.http_referer = InlineBytes::from_slice(b"/\"");
        same_as_serde(write_l7, &r);
        r.trace_id_2 = InlineBytes::from_slice(b"second");
        same_as_serde(write_l7, &r);
        r.trace_id = InlineBytes::from_slice(b"first");
        same_as_serde(write_l7, &r);
        r.parent_span_id = InlineBytes::from_slice(b"0.1");
        same_as_serde(write_l7, &r);
    }
}
