//! `l7_flow_log` rows: one per request/response session (DeepFlow's `AppProtoLogsData`, field names
//! of the server's `flow_log.l7_flow_log` table; `deepflow-facts.md` section 4.5).
//!
//! A row is built in place: the request half is filled when the request is seen, kept in the
//! pending-request pool, and completed by its response. Strings are fixed-size inline buffers
//! (longer values are cut), so building a row never allocates. Times are microseconds since the
//! Unix epoch; `response_duration` (DeepFlow's rrt) is microseconds.

use serde::Serialize;

use super::FlowPeers;
use crate::inline::InlineBytes;

/// DeepFlow's `type` of a row.
pub const TYPE_REQUEST: u8 = 0;
pub const TYPE_RESPONSE: u8 = 1;
pub const TYPE_SESSION: u8 = 2;

/// DeepFlow's `signal_source` of rows from the syscall tracer.
pub const SIGNAL_SOURCE_EBPF: u8 = 3;

fn is_false(b: &bool) -> bool {
    !*b
}

/// One l7_flow_log row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct L7FlowLog {
    pub flow_id: u64,
    /// The sending agent on rows a `tapflow server` received (absent when 0).
    #[serde(skip_serializing_if = "super::is_zero")]
    pub agent_id: u16,
    /// Request time (the response's when there was no request).
    pub start_time: u64,
    /// Response time (the request's when there was no response).
    pub end_time: u64,
    /// 0 request only, 1 response only, 2 request and response.
    #[serde(rename = "type")]
    pub row_type: u8,
    /// A message of its own written as a session (`type` 2, DeepFlow's ZMTP greetings,
    /// commands and PUB/SUB messages): who sent it. It counts as a request (the client's) or a
    /// response (the server's) in the application metrics, as DeepFlow's L7 stats count it.
    /// Not a column: `None` for every other row.
    #[serde(skip)]
    pub lone_from_client: Option<bool>,
    pub signal_source: u8,
    pub capture_network_type: u8,
    pub tap_port: u64,
    pub tap_side: u8,
    pub observation_point: &'static str,
    /// Client (`_0`) and server (`_1`).
    #[serde(flatten)]
    pub peers: FlowPeers,
    pub l7_protocol: u8,
    pub l7_protocol_str: &'static str,
    pub version: InlineBytes<16>,
    pub request_type: InlineBytes<32>,
    pub request_domain: InlineBytes<255>,
    pub request_resource: InlineBytes<256>,
    /// DNS id, HTTP/2 stream id.
    pub request_id: Option<u32>,
    pub endpoint: InlineBytes<128>,
    pub response_code: Option<i32>,
    /// 0 ok, 2 timeout, 3 server error, 4 client error, 5 unknown, 6 parse failed.
    pub response_status: u8,
    pub response_exception: InlineBytes<64>,
    pub response_result: InlineBytes<128>,
    pub trace_id: InlineBytes<64>,
    /// A second, different trace id from another of `apm_trace_id`'s headers
    /// (`multiple_trace_id_collection`; DeepFlow's `_trace_id_2`); absent when none.
    #[serde(skip_serializing_if = "InlineBytes::is_empty")]
    pub trace_id_2: InlineBytes<64>,
    pub span_id: InlineBytes<64>,
    /// The caller's span (SOFARPC's `pspid`, DeepFlow's `parent_span_id`); absent when none.
    #[serde(skip_serializing_if = "InlineBytes::is_empty")]
    pub parent_span_id: InlineBytes<64>,
    pub x_request_id_0: InlineBytes<64>,
    pub x_request_id_1: InlineBytes<64>,
    pub http_proxy_client: InlineBytes<64>,
    pub http_user_agent: InlineBytes<128>,
    pub http_referer: InlineBytes<128>,
    /// Body length of the request / response (-1 unknown).
    pub request_length: i64,
    pub response_length: i64,
    /// Request to response, µs (0 without both).
    pub response_duration: u64,
    /// Rows a SQL statement changed (MySQL OK packets); absent for other protocols.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sql_affected_rows: Option<u64>,
    pub is_tls: bool,
    /// Some header fields could not be decoded (HTTP/2 joined mid-connection: HPACK's dynamic
    /// table was built before the capture); absent when every field was read.
    #[serde(skip_serializing_if = "is_false")]
    pub headers_partial: bool,
    pub req_tcp_seq: u32,
    pub resp_tcp_seq: u32,
    pub captured_request_byte: u32,
    pub captured_response_byte: u32,
    /// Headers `tag_extraction.custom_fields` names (DeepFlow's attributes); absent when none.
    #[serde(skip_serializing_if = "super::Attributes::is_empty")]
    pub attributes: super::Attributes,
    /// Process and syscall fields of rows from the syscall tracer (absent on packet rows).
    #[serde(flatten, skip_serializing_if = "SyscallFields::is_empty")]
    pub syscall: SyscallFields,
}

/// What the syscall tracer knows about a row (DeepFlow's l7_flow_log columns of the same
/// names): `_0` is the client, `_1` the server for processes; `_0` the request and `_1` the
/// response for syscall threads and capture sequence numbers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SyscallFields {
    pub process_id_0: u32,
    pub process_id_1: u32,
    pub process_kname_0: InlineBytes<16>,
    pub process_kname_1: InlineBytes<16>,
    pub syscall_trace_id_request: u64,
    pub syscall_trace_id_response: u64,
    pub syscall_thread_0: u32,
    pub syscall_thread_1: u32,
    pub syscall_cap_seq_0: u32,
    pub syscall_cap_seq_1: u32,
}

impl SyscallFields {
    /// No process known (a packet row).
    pub fn is_empty(&self) -> bool {
        self.process_id_0 == 0 && self.process_id_1 == 0
    }
}

impl L7FlowLog {
    /// Counts as a request in the metrics: a request or a session, not a server's lone message.
    pub fn counts_request(&self) -> bool {
        match self.row_type {
            TYPE_REQUEST => true,
            TYPE_SESSION => self.lone_from_client != Some(false),
            _ => false,
        }
    }

    /// Counts as a response in the metrics: a response or a session, not a client's lone
    /// message.
    pub fn counts_response(&self) -> bool {
        match self.row_type {
            TYPE_RESPONSE => true,
            TYPE_SESSION => self.lone_from_client != Some(true),
            _ => false,
        }
    }
}

impl Default for L7FlowLog {
    fn default() -> Self {
        L7FlowLog {
            flow_id: 0,
            agent_id: 0,
            start_time: 0,
            end_time: 0,
            row_type: TYPE_REQUEST,
            lone_from_client: None,
            signal_source: 0,
            capture_network_type: 0,
            tap_port: 0,
            tap_side: 0,
            observation_point: "",
            peers: FlowPeers::default(),
            l7_protocol: 0,
            l7_protocol_str: "",
            version: InlineBytes::EMPTY,
            request_type: InlineBytes::EMPTY,
            request_domain: InlineBytes::EMPTY,
            request_resource: InlineBytes::EMPTY,
            request_id: None,
            endpoint: InlineBytes::EMPTY,
            response_code: None,
            response_status: 5,
            response_exception: InlineBytes::EMPTY,
            response_result: InlineBytes::EMPTY,
            trace_id: InlineBytes::EMPTY,
            trace_id_2: InlineBytes::EMPTY,
            span_id: InlineBytes::EMPTY,
            parent_span_id: InlineBytes::EMPTY,
            x_request_id_0: InlineBytes::EMPTY,
            x_request_id_1: InlineBytes::EMPTY,
            http_proxy_client: InlineBytes::EMPTY,
            http_user_agent: InlineBytes::EMPTY,
            http_referer: InlineBytes::EMPTY,
            request_length: -1,
            response_length: -1,
            response_duration: 0,
            sql_affected_rows: None,
            is_tls: false,
            headers_partial: false,
            req_tcp_seq: 0,
            resp_tcp_seq: 0,
            captured_request_byte: 0,
            captured_response_byte: 0,
            attributes: super::Attributes::EMPTY,
            syscall: SyscallFields::default(),
        }
    }
}

impl L7FlowLog {
    /// Makes the row equal to [`L7FlowLog::default`] in place without rewriting its string
    /// buffers (their lengths go to 0): a pooled row is reused for each request, and zeroing its
    /// 2 KiB of buffers a request was 5 % of the instructions on a capture of real L7 traffic.
    /// Every field is named, so a new one cannot be forgotten here.
    pub fn reset(&mut self) {
        let L7FlowLog {
            flow_id,
            agent_id,
            start_time,
            end_time,
            row_type,
            lone_from_client,
            signal_source,
            capture_network_type,
            tap_port,
            tap_side,
            observation_point,
            peers,
            l7_protocol,
            l7_protocol_str,
            version,
            request_type,
            request_domain,
            request_resource,
            request_id,
            endpoint,
            response_code,
            response_status,
            response_exception,
            response_result,
            trace_id,
            trace_id_2,
            span_id,
            parent_span_id,
            x_request_id_0,
            x_request_id_1,
            http_proxy_client,
            http_user_agent,
            http_referer,
            request_length,
            response_length,
            response_duration,
            sql_affected_rows,
            is_tls,
            headers_partial,
            req_tcp_seq,
            resp_tcp_seq,
            captured_request_byte,
            captured_response_byte,
            attributes,
            syscall,
        } = self;
        (*flow_id, *agent_id, *start_time, *end_time) = (0, 0, 0, 0);
        (*row_type, *lone_from_client) = (TYPE_REQUEST, None);
        (*signal_source, *capture_network_type, *tap_port, *tap_side) = (0, 0, 0, 0);
        *observation_point = "";
        *peers = FlowPeers::default();
        (*l7_protocol, *l7_protocol_str) = (0, "");
        version.clear();
        request_type.clear();
        request_domain.clear();
        request_resource.clear();
        *request_id = None;
        endpoint.clear();
        (*response_code, *response_status) = (None, 5);
        response_exception.clear();
        response_result.clear();
        trace_id.clear();
        trace_id_2.clear();
        span_id.clear();
        parent_span_id.clear();
        x_request_id_0.clear();
        x_request_id_1.clear();
        http_proxy_client.clear();
        http_user_agent.clear();
        http_referer.clear();
        (*request_length, *response_length, *response_duration) = (-1, -1, 0);
        *sql_affected_rows = None;
        (*is_tls, *headers_partial) = (false, false);
        (*req_tcp_seq, *resp_tcp_seq) = (0, 0);
        (*captured_request_byte, *captured_response_byte) = (0, 0);
        attributes.clear();
        *syscall = SyscallFields::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every field away from its default, the strings long.
    fn busy_row() -> L7FlowLog {
        let long = [b'x'; 300];
        let mut r = L7FlowLog {
            flow_id: 7,
            agent_id: 3,
            start_time: 11,
            end_time: 12,
            row_type: TYPE_SESSION,
            lone_from_client: Some(true),
            signal_source: SIGNAL_SOURCE_EBPF,
            capture_network_type: 3,
            tap_port: 9,
            tap_side: 1,
            observation_point: "c",
            l7_protocol: 20,
            l7_protocol_str: "HTTP",
            request_id: Some(5),
            response_code: Some(500),
            response_status: 3,
            request_length: 10,
            response_length: 20,
            response_duration: 30,
            sql_affected_rows: Some(4),
            is_tls: true,
            headers_partial: true,
            req_tcp_seq: 1,
            resp_tcp_seq: 2,
            captured_request_byte: 3,
            captured_response_byte: 4,
            ..L7FlowLog::default()
        };
        r.peers.ip_0 = [10, 0, 0, 1].into();
        r.peers.server_port = 80;
        for s in [
            &mut r.request_domain as &mut dyn std::fmt::Write,
            &mut r.request_resource,
            &mut r.version,
            &mut r.request_type,
            &mut r.endpoint,
            &mut r.response_exception,
            &mut r.response_result,
            &mut r.trace_id,
            &mut r.trace_id_2,
            &mut r.span_id,
            &mut r.parent_span_id,
            &mut r.x_request_id_0,
            &mut r.x_request_id_1,
            &mut r.http_proxy_client,
            &mut r.http_user_agent,
            &mut r.http_referer,
        ] {
            s.write_str(std::str::from_utf8(&long).unwrap()).unwrap();
        }
        r.attributes.push(b"name", &long);
        r.syscall.process_id_0 = 42;
        r.syscall.process_kname_0 = InlineBytes::from_slice(b"curl");
        r
    }

    #[test]
    fn a_reset_row_is_a_default_row() {
        let mut r = busy_row();
        assert_ne!(r, L7FlowLog::default());
        r.reset();
        assert_eq!(r, L7FlowLog::default());
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            serde_json::to_string(&L7FlowLog::default()).unwrap()
        );
        // Strings written after the reset hold only what was written then.
        r.request_domain.push_lossy(b"example.org");
        assert_eq!(r.request_domain.as_bytes(), b"example.org");
        assert!(!r.request_domain.is_truncated());
    }
}
