//! L7 settings (DeepFlow's `processors.request_log` and the inference keys of
//! `processors.request_log.application_protocol_inference`), as the analyzer uses them.

use super::parser::SessionWindow;
use super::protocol::{L7Protocol, ParserKind, ProtocolSet};
use super::registry::ProtocolConfigs;
use crate::ports::PortSet;

const NS_PER_SEC: u64 = 1_000_000_000;

/// Headers to read trace and request ids from (`tag_extraction.tracing_tag`). Names match
/// case-insensitively with '-' and '_' alike; the header name also selects the format
/// ([`super::tags`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TracingTags {
    pub http_real_client: Vec<String>,
    pub x_request_id: Vec<String>,
    pub apm_trace_id: Vec<String>,
    pub apm_span_id: Vec<String>,
    /// `copy_apm_trace_id`: the trace id is also kept as attribute `apm_trace_id`.
    pub copy_apm_trace_id: bool,
    /// `multiple_trace_id_collection`: a second, different trace id (from another header of
    /// `apm_trace_id`) is kept as `trace_id_2`.
    pub multiple_trace_id_collection: bool,
}

impl Default for TracingTags {
    fn default() -> Self {
        let v = |names: &[&str]| names.iter().map(|s| s.to_string()).collect();
        TracingTags {
            http_real_client: v(&["X_Forwarded_For"]),
            x_request_id: v(&["X_Request_ID"]),
            apm_trace_id: v(&["traceparent", "sw8"]),
            apm_span_id: v(&["traceparent", "sw8"]),
            copy_apm_trace_id: false,
            multiple_trace_id_collection: true,
        }
    }
}

/// One header of `tag_extraction.custom_fields`: looked up as configured (case-insensitively,
/// '-' and '_' alike), kept as attribute `attr` (lower case, '-' as '_').
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomField {
    pub header: String,
    pub attr: Vec<u8>,
}

impl CustomField {
    pub fn new(header: &str) -> Self {
        let attr = header
            .trim()
            .bytes()
            .map(|b| {
                if b == b'-' {
                    b'_'
                } else {
                    b.to_ascii_lowercase()
                }
            })
            .collect();
        CustomField {
            header: header.trim().to_string(),
            attr,
        }
    }
}

/// `tag_extraction.custom_fields`: the headers kept as attributes, for HTTP/1 and for HTTP/2
/// (gRPC included, as in DeepFlow).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomFields {
    pub http: Vec<CustomField>,
    pub http2: Vec<CustomField>,
}

/// One `http_endpoint.match_rules` entry: paths starting with `url_prefix` keep
/// `keep_segments` segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointRule {
    pub url_prefix: String,
    pub keep_segments: usize,
}

/// HTTP endpoint extraction (`tag_extraction.http_endpoint`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointRules {
    pub disabled: bool,
    /// The longest matching prefix wins.
    pub rules: Vec<EndpointRule>,
}

impl Default for EndpointRules {
    fn default() -> Self {
        EndpointRules {
            disabled: false,
            rules: vec![EndpointRule {
                url_prefix: String::new(),
                keep_segments: 2,
            }],
        }
    }
}

impl EndpointRules {
    /// Segments to keep for `path` (None: extraction disabled or no rule matches).
    pub fn keep_for(&self, path: &str) -> Option<usize> {
        if self.disabled {
            return None;
        }
        self.rules
            .iter()
            .filter(|r| path.starts_with(r.url_prefix.as_str()))
            .max_by_key(|r| r.url_prefix.len())
            .map(|r| r.keep_segments)
    }
}

/// Everything the L7 layer of one worker needs.
#[derive(Debug, Clone)]
pub struct L7Config {
    /// `enabled_protocols` (only the ones tapflow parses).
    pub enabled: ProtocolSet,
    /// `port_number_prefilters`: server ports each protocol is tried on; absent = every port
    /// (sorted by protocol).
    pub prefilters: Vec<(L7Protocol, PortSet)>,
    /// `inference_result_ttl`: how long a per-server inference result is trusted, seconds.
    pub inference_ttl_s: u32,
    /// `inference_max_retries`: failed inferences on one server before its new flows are no
    /// longer tried (until the TTL passes).
    pub inference_max_retries: u32,
    /// Payload packets of one flow tried before the flow is given up as not L7.
    pub inference_packets_per_flow: u8,
    /// `tunning.payload_truncation`: most bytes of a message head held across segments (at most
    /// [`super::flow_state::HOLD_MAX`]).
    pub payload_truncation: u16,
    /// `timeouts.tcp_request_timeout` / `udp_request_timeout`: a response later than this is a
    /// timeout, not an RRT sample.
    pub tcp_request_timeout_ns: u64,
    pub udp_request_timeout_ns: u64,
    /// `timeouts.session_aggregate` (DNS, TLS: 15 s) and `session_aggregate_window_duration`
    /// (others: 120 s): an unanswered request is reported as a timeout after this.
    pub session_window_ns: u64,
    pub session_window_dns_tls_ns: u64,
    /// Flows with L7 state at once (about 450 bytes each; the config loader makes it the flow
    /// table's capacity).
    pub flow_capacity: u32,
    /// Hold buffers ([`super::flow_state::HOLD_MAX`] bytes each) for message heads cut by a
    /// segment boundary, shared by all flows of a worker.
    pub hold_buffers: u32,
    /// Connections followed at once by protocols with a large state (`Descriptor::large_state`:
    /// HTTP/2, whose state holds two HPACK tables, about 40 KiB).
    pub large_state_capacity: u32,
    /// Requests waiting for their response (`session_aggregate_max_entries`); the oldest is
    /// reported unanswered when full.
    pub pending_capacity: u32,
    pub tags: TracingTags,
    pub endpoints: EndpointRules,
    /// Each protocol's own settings.
    pub protocols: ProtocolConfigs,
    /// `filters.tag_filters`: requests neither logged nor counted.
    pub blacklist: super::blacklist::Blacklist,
    /// `filters.cbpf_disabled`: no request logs from packets (the syscall tracer's still come).
    pub packets_disabled: bool,
    /// `tag_extraction.custom_fields`.
    pub custom_fields: CustomFields,
    /// `tag_extraction.raw`: bytes of failed exchanges kept as attributes.
    pub raw: super::raw::RawCapture,
}

impl Default for L7Config {
    fn default() -> Self {
        let ports = |list: &[u16]| {
            let mut s = PortSet::new();
            for p in list {
                s.insert(*p);
            }
            s
        };
        let mut prefilters: Vec<_> = ParserKind::ALL
            .iter()
            .filter(|k| !k.desc().default_ports.is_empty())
            .map(|k| (k.protocol(), ports(k.desc().default_ports)))
            .collect();
        prefilters.sort_by_key(|(p, _)| *p);
        L7Config {
            enabled: ProtocolSet::deepflow_default(),
            prefilters,
            inference_ttl_s: 60,
            inference_max_retries: 128,
            inference_packets_per_flow: 8,
            payload_truncation: 1024,
            tcp_request_timeout_ns: 300 * NS_PER_SEC,
            udp_request_timeout_ns: 150 * NS_PER_SEC,
            session_window_ns: 120 * NS_PER_SEC,
            session_window_dns_tls_ns: 15 * NS_PER_SEC,
            flow_capacity: 65_535,
            hold_buffers: 4_096,
            pending_capacity: 4_096,
            large_state_capacity: 1_024,
            tags: TracingTags::default(),
            endpoints: EndpointRules::default(),
            protocols: ProtocolConfigs::default(),
            blacklist: super::blacklist::Blacklist::default(),
            packets_disabled: false,
            custom_fields: CustomFields::default(),
            raw: super::raw::RawCapture::default(),
        }
    }
}

impl L7Config {
    /// Is `proto` tried on a flow whose server port is `port`?
    pub fn tried_on(&self, proto: L7Protocol, port: u16) -> bool {
        if !self.enabled.contains(proto) {
            return false;
        }
        self.prefilters
            .iter()
            .find(|(p, _)| *p == proto)
            .is_none_or(|(_, ports)| ports.contains(port))
    }

    /// How long an unanswered request waits.
    pub fn session_window_ns(&self, w: SessionWindow) -> u64 {
        match w {
            SessionWindow::Short => self.session_window_dns_tls_ns,
            SessionWindow::Long => self.session_window_ns,
        }
    }

    /// States the pool of parser `k` holds.
    pub fn pool_capacity(&self, k: ParserKind) -> u32 {
        if k.desc().large_state {
            self.large_state_capacity
        } else {
            self.flow_capacity
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefilters_and_endpoint_rules() {
        let c = L7Config::default();
        assert!(c.tried_on(L7Protocol::Dns, 53) && !c.tried_on(L7Protocol::Dns, 80));
        assert!(c.tried_on(L7Protocol::Http1, 12345));
        assert!(c.tried_on(L7Protocol::Grpc, 80), "with HTTP2");
        let mut r = EndpointRules::default();
        assert_eq!(r.keep_for("/a/b/c"), Some(2));
        r.rules.push(EndpointRule {
            url_prefix: "/api".into(),
            keep_segments: 3,
        });
        assert_eq!(r.keep_for("/api/v1/x/y"), Some(3));
        assert_eq!(r.keep_for("/web/x"), Some(2));
        r.disabled = true;
        assert_eq!(r.keep_for("/api"), None);
    }
}
