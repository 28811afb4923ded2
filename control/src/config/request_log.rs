//! `processors.request_log`: DeepFlow's L7 settings, parsed strictly and validated into the
//! analyzer's [`L7Config`]. Keys of features tapflow does not have yet are accepted (so DeepFlow
//! configs load) and named in a warning.

use serde::Deserialize;
use tapflow_analyzer::config::PortSet;
use tapflow_analyzer::l7::config::{EndpointRule, EndpointRules, TracingTags};
use tapflow_analyzer::l7::parser::SessionWindow;
use tapflow_analyzer::l7::protocol::KNOWN_UNPARSED;
use tapflow_analyzer::l7::{L7Config, L7Protocol};

use super::{parse_duration, ConfigError};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RequestLog {
    application_protocol_inference: Inference,
    filters: Filters,
    timeouts: Timeouts,
    tag_extraction: TagExtraction,
    tunning: Tunning,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Inference {
    inference_max_retries: Option<u32>,
    inference_result_ttl: Option<String>,
    inference_whitelist: Option<serde_yaml::Value>,
    enabled_protocols: Option<Vec<String>>,
    protocol_special_config: Option<SpecialConfig>,
}

/// `application_protocol_inference.protocol_special_config`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct SpecialConfig {
    oracle: Option<serde_yaml::Value>,
    mysql: Option<MysqlSpecial>,
    grpc: Option<GrpcSpecial>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct MysqlSpecial {
    decompress_payload: Option<bool>,
    endpoint_disabled: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct GrpcSpecial {
    streaming_data_enabled: Option<bool>,
}

/// A port list as written: `"53,5353"`, `"1-65535"`, or one port as a number (DeepFlow's template
/// writes `Oracle: 1521`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Ports {
    Text(String),
    Number(u64),
}

impl Ports {
    fn text(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Ports::Text(s) => std::borrow::Cow::Borrowed(s.as_str()),
            Ports::Number(n) => std::borrow::Cow::Owned(n.to_string()),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Filters {
    /// Protocol name -> port list (`53,5353`, `1-65535`).
    port_number_prefilters: Option<std::collections::BTreeMap<String, Ports>>,
    tag_filters: Option<super::request_log_fields::TagFilters>,
    unconcerned_dns_nxdomain_response_suffixes: Option<Vec<String>>,
    cbpf_disabled: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SessionTimeout {
    protocol: String,
    timeout: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Timeouts {
    tcp_request_timeout: Option<String>,
    udp_request_timeout: Option<String>,
    session_aggregate_window_duration: Option<String>,
    session_aggregate: Option<Vec<SessionTimeout>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct TracingTag {
    http_real_client: Option<Vec<String>>,
    x_request_id: Option<Vec<String>>,
    apm_trace_id: Option<Vec<String>>,
    apm_span_id: Option<Vec<String>>,
    copy_apm_trace_id: Option<bool>,
    multiple_trace_id_collection: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MatchRule {
    url_prefix: String,
    keep_segments: usize,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct HttpEndpoint {
    extraction_disabled: Option<bool>,
    match_rules: Option<Vec<MatchRule>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct TagExtraction {
    tracing_tag: TracingTag,
    http_endpoint: HttpEndpoint,
    custom_fields: Option<super::request_log_fields::CustomFieldLists>,
    custom_field_policies: Option<serde_yaml::Value>,
    obfuscate_protocols: Option<Vec<String>>,
    raw: Option<super::request_log_fields::RawParts>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Tunning {
    payload_truncation: Option<u32>,
    session_aggregate_slot_capacity: Option<u32>,
    session_aggregate_max_entries: Option<u32>,
    consistent_timestamp_in_l7_metrics: Option<bool>,
}

fn invalid(key: &'static str, problem: String) -> ConfigError {
    ConfigError::Invalid { key, problem }
}

/// `53,5353` or `1-65535` or a mix.
pub(super) fn parse_ports(s: &str) -> Result<PortSet, String> {
    let mut set = PortSet::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let p = |x: &str| {
            x.trim()
                .parse::<u16>()
                .map_err(|_| format!("'{part}' is not a port or a port range"))
        };
        let (a, b) = (p(a)?, p(b)?);
        if a > b {
            return Err(format!("'{part}': range start above its end"));
        }
        for port in a..=b {
            set.insert(port);
        }
    }
    Ok(set)
}

fn duration_ns(key: &'static str, v: &Option<String>, default: u64) -> Result<u64, ConfigError> {
    match v {
        None => Ok(default),
        Some(s) => {
            let ns = parse_duration(s).map_err(|p| invalid(key, p))?;
            if ns == 0 {
                return Err(invalid(key, "must be above zero".into()));
            }
            Ok(ns)
        }
    }
}

/// A protocol name of `enabled_protocols` / the prefilters: Some(parsed), None for a DeepFlow
/// protocol tapflow does not parse yet, error for an unknown name.
pub(super) fn protocol(key: &'static str, name: &str) -> Result<Option<L7Protocol>, ConfigError> {
    if let Some(p) = L7Protocol::from_name(name) {
        return Ok(Some(p));
    }
    if KNOWN_UNPARSED.iter().any(|k| k.eq_ignore_ascii_case(name)) {
        return Ok(None);
    }
    Err(invalid(
        key,
        format!(
            "unknown protocol '{name}' (DeepFlow's names: HTTP, HTTP2, gRPC, DNS, TLS, MySQL, ...)"
        ),
    ))
}

impl RequestLog {
    /// `tunning.consistent_timestamp_in_l7_metrics` (DeepFlow's default: false): applied by
    /// the metric aggregation.
    pub(super) fn consistent_l7_time(&self) -> bool {
        self.tunning
            .consistent_timestamp_in_l7_metrics
            .unwrap_or(false)
    }

    /// Validates into the analyzer's L7 settings; `warnings` gets what is accepted but not done.
    pub(super) fn to_config(&self, warnings: &mut Vec<String>) -> Result<L7Config, ConfigError> {
        let mut c = L7Config::default();
        let inf = &self.application_protocol_inference;
        if let Some(n) = inf.inference_max_retries {
            c.inference_max_retries = n;
        }
        if inf.inference_result_ttl.is_some() {
            let ns = duration_ns(
                "processors.request_log.application_protocol_inference.inference_result_ttl",
                &inf.inference_result_ttl,
                0,
            )?;
            c.inference_ttl_s = u32::try_from(ns / 1_000_000_000).unwrap_or(u32::MAX).max(1);
        }
        if let Some(list) = &inf.enabled_protocols {
            const KEY: &str =
                "processors.request_log.application_protocol_inference.enabled_protocols";
            c.enabled = Default::default();
            let mut unparsed = Vec::new();
            for name in list {
                match protocol(KEY, name)? {
                    // gRPC and Triple are found through HTTP/2: naming one turns on the three
                    // (DeepFlow: "configure as HTTP2").
                    Some(p) => match p.parser().map(|k| k.protocol()) {
                        Some(parent) if parent != p => {
                            c.enabled.insert(parent);
                            c.enabled.insert(p);
                        }
                        _ => c.enabled.insert(p),
                    },
                    None => unparsed.push(name.as_str()),
                }
            }
            if !unparsed.is_empty() {
                warnings.push(format!(
                    "{KEY}: tapflow does not parse {} yet; those flows get l4 rows only",
                    unparsed.join(", ")
                ));
            }
        }
        if let Some(map) = &self.filters.port_number_prefilters {
            const KEY: &str = "processors.request_log.filters.port_number_prefilters";
            for (name, ports) in map {
                let Some(p) = protocol(KEY, name)? else {
                    continue;
                };
                let set =
                    parse_ports(&ports.text()).map_err(|e| invalid(KEY, format!("{name}: {e}")))?;
                c.prefilters.retain(|(q, _)| *q != p);
                c.prefilters.push((p, set));
                c.prefilters.sort_by_key(|(p, _)| *p);
            }
        }
        let t = &self.timeouts;
        c.tcp_request_timeout_ns = duration_ns(
            "processors.request_log.timeouts.tcp_request_timeout",
            &t.tcp_request_timeout,
            c.tcp_request_timeout_ns,
        )?;
        c.udp_request_timeout_ns = duration_ns(
            "processors.request_log.timeouts.udp_request_timeout",
            &t.udp_request_timeout,
            c.udp_request_timeout_ns,
        )?;
        c.session_window_ns = duration_ns(
            "processors.request_log.timeouts.session_aggregate_window_duration",
            &t.session_aggregate_window_duration,
            c.session_window_ns,
        )?;
        for s in t.session_aggregate.iter().flatten() {
            const KEY: &str = "processors.request_log.timeouts.session_aggregate";
            let ns = duration_ns(KEY, &Some(s.timeout.clone()), 0)?;
            match protocol(KEY, &s.protocol)? {
                Some(p) if p.desc().is_some_and(|d| d.window == SessionWindow::Short) => {
                    c.session_window_dns_tls_ns = ns
                }
                Some(_) => c.session_window_ns = ns,
                None => {}
            }
        }
        if let Some(list) = &self.tag_extraction.obfuscate_protocols {
            const KEY: &str = "processors.request_log.tag_extraction.obfuscate_protocols";
            c.protocols.redis.obfuscate = false;
            for name in list {
                match protocol(KEY, name)? {
                    Some(L7Protocol::Redis) => c.protocols.redis.obfuscate = true,
                    Some(L7Protocol::Mysql) => c.protocols.mysql.obfuscate = true,
                    Some(L7Protocol::Postgres) => c.protocols.postgres.obfuscate = true,
                    Some(p) => {
                        return Err(invalid(
                            KEY,
                            format!(
                            "{} has no values to obfuscate (DeepFlow: MySQL, PostgreSQL, Redis)",
                            p.name()
                        ),
                        ))
                    }
                    None => {}
                }
            }
        }
        c.packets_disabled = self.filters.cbpf_disabled.unwrap_or(false);
        if let Some(f) = &self.tag_extraction.custom_fields {
            c.custom_fields = super::request_log_fields::custom_fields(f, warnings)?;
        }
        if let Some(f) = &self.filters.tag_filters {
            c.blacklist = super::request_log_fields::build(f, warnings)?;
        }
        if let Some(v) = &self.filters.unconcerned_dns_nxdomain_response_suffixes {
            c.protocols.dns.nxdomain_unconcerned_suffixes = v.clone();
        }
        let tags = &self.tag_extraction.tracing_tag;
        let d = TracingTags::default();
        c.tags = TracingTags {
            http_real_client: tags.http_real_client.clone().unwrap_or(d.http_real_client),
            x_request_id: tags.x_request_id.clone().unwrap_or(d.x_request_id),
            apm_trace_id: tags.apm_trace_id.clone().unwrap_or(d.apm_trace_id),
            apm_span_id: tags.apm_span_id.clone().unwrap_or(d.apm_span_id),
            copy_apm_trace_id: tags.copy_apm_trace_id.unwrap_or(false),
            multiple_trace_id_collection: tags
                .multiple_trace_id_collection
                .unwrap_or(d.multiple_trace_id_collection),
        };
        if let Some(r) = &self.tag_extraction.raw {
            c.raw = r.capture(warnings);
        }
        let ep = &self.tag_extraction.http_endpoint;
        c.endpoints = EndpointRules {
            disabled: ep.extraction_disabled.unwrap_or(false),
            rules: match &ep.match_rules {
                Some(rules) => rules
                    .iter()
                    .map(|r| EndpointRule {
                        url_prefix: r.url_prefix.clone(),
                        keep_segments: r.keep_segments,
                    })
                    .collect(),
                None => EndpointRules::default().rules,
            },
        };
        if let Some(n) = self.tunning.payload_truncation {
            if !(16..=65535).contains(&n) {
                return Err(invalid(
                    "processors.request_log.tunning.payload_truncation",
                    format!("{n} is outside 16..=65535"),
                ));
            }
            c.payload_truncation = n as u16;
        }
        if let Some(n) = self.tunning.session_aggregate_max_entries {
            if n == 0 {
                return Err(invalid(
                    "processors.request_log.tunning.session_aggregate_max_entries",
                    "must be above zero".into(),
                ));
            }
            c.pending_capacity = n;
        }
        let special = inf.protocol_special_config.as_ref();
        if let Some(m) = special.and_then(|s| s.mysql.as_ref()) {
            c.protocols.mysql.endpoint_disabled = m.endpoint_disabled.unwrap_or(false);
            c.protocols.mysql.keep_compressed = m.decompress_payload == Some(false);
        }
        if special.is_some_and(|s| s.oracle.is_some()) {
            warnings.push("processors.request_log.application_protocol_inference.protocol_special_config.oracle: tapflow has no Oracle parser (DeepFlow's is in its enterprise edition)".into());
        }
        let mut ignored: Vec<&str> = Vec::new();
        let te = &self.tag_extraction;
        for (set, key) in [
            (
                inf.inference_whitelist.is_some(),
                "application_protocol_inference.inference_whitelist",
            ),
            (
                special.and_then(|s| s.grpc.as_ref()?.streaming_data_enabled) == Some(true),
                "application_protocol_inference.protocol_special_config.grpc.streaming_data_enabled",
            ),
            (
                te.custom_field_policies.is_some(),
                "tag_extraction.custom_field_policies",
            ),
            (
                self.tunning.session_aggregate_slot_capacity.is_some(),
                "tunning.session_aggregate_slot_capacity",
            ),
        ] {
            if set {
                ignored.push(key);
            }
        }
        if !ignored.is_empty() {
            warnings.push(format!(
                "processors.request_log: accepted but not applied yet: {}",
                ignored.join(", ")
            ));
        }
        Ok(c)
    }
}
