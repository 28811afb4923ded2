//! OpenTelemetry spans as rows of `flow_log.l7_flow_log`, the way DeepFlow's server stores the
//! spans agents forward (`signal_source` 4, a session row per span): the span's kind gives the
//! observation point (`c-app`, `s-app`, `app`), its ids the trace columns, its times the row's,
//! the semantic-convention attributes the request and response columns (`http.method`,
//! `db.statement`, `http.status_code`, `net.peer.ip`, ...), the resource's `service.name`,
//! `service.instance.id` and `app.host.ip` the service, instance and address; every other
//! attribute goes to `attribute_names/values`, the size attributes to `metrics_names/values`.
//! So a packet's, a syscall's and an application's view of one request share a table and join
//! by `trace_id`.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tapflow_analyzer::l7::L7Protocol;
use tapflow_analyzer::RecordKind;

use super::rows::{each, Mismatch, Val};
use super::schema::{Dialect, Table};
use super::side_writer::{Create, SideCounters, SideWriter};
use crate::rpc::otel;

/// DeepFlow's `signal_source` of OpenTelemetry rows.
pub const SIGNAL_SOURCE_OTEL: u64 = 4;
/// DeepFlow's tap_side values of application spans.
const TAP_SIDE_APP: u8 = 48;
const TAP_SIDE_CLIENT_APP: u8 = 49;
const TAP_SIDE_SERVER_APP: u8 = 50;

/// Attributes DeepFlow keeps as metrics (numbers) rather than as attributes.
const METRIC_KEYS: &[&str] = &[
    "http.request_content_length",
    "http.response_content_length",
    "db.cassandra.page_size",
    "message.uncompressed_size",
    "messaging.message_payload_size_bytes",
    "messaging.message_payload_compressed_size_bytes",
];

/// One span, ready to be a row.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpanRow {
    pub agent_id: u16,
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: String,
    pub span_kind: u8,
    pub tap_side: u8,
    pub start_us: u64,
    pub end_us: u64,
    pub endpoint: String,
    pub app_service: String,
    pub app_instance: String,
    /// Client (`_0`) and server (`_1`) addresses.
    pub ip_0: Option<IpAddr>,
    pub ip_1: Option<IpAddr>,
    pub protocol: u8,
    pub server_port: u16,
    pub l7_protocol: u8,
    pub is_tls: bool,
    pub version: String,
    pub request_type: String,
    pub request_domain: String,
    pub request_resource: String,
    pub response_code: Option<i32>,
    pub response_status: u8,
    pub response_exception: String,
    pub request_length: Option<i64>,
    pub response_length: Option<i64>,
    pub sql_affected_rows: Option<u64>,
    pub attribute_names: Vec<String>,
    pub attribute_values: Vec<String>,
    pub metrics_names: Vec<String>,
    pub metrics_values: Vec<f64>,
}

/// An attribute's value as text (DeepFlow keeps every attribute as a string).
pub fn value_text(v: Option<&otel::AnyValue>) -> String {
    use otel::any_value::Value as V;
    match v.and_then(|v| v.value.as_ref()) {
        Some(V::StringValue(s)) => s.clone(),
        Some(V::BoolValue(b)) => b.to_string(),
        Some(V::IntValue(i)) => i.to_string(),
        Some(V::DoubleValue(d)) => d.to_string(),
        Some(V::BytesValue(b)) => b.iter().map(|x| format!("{x:02x}")).collect(),
        Some(V::ArrayValue(a)) => {
            let parts: Vec<String> = a.values.iter().map(|x| value_text(Some(x))).collect();
            format!("[{}]", parts.join(","))
        }
        Some(V::KvlistValue(l)) => {
            let parts: Vec<String> = l
                .values
                .iter()
                .map(|kv| format!("{}={}", kv.key, value_text(kv.value.as_ref())))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        None => String::new(),
    }
}

fn ip_of(text: &str) -> Option<IpAddr> {
    let ip: IpAddr = text.trim().parse().ok()?;
    Some(match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    })
}

/// `http.url`'s path and query (`http://nacos:8848/v1/ns?x=1` -> `/v1/ns?x=1`).
fn url_path(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    match rest.find('/') {
        Some(i) => rest[i..].to_string(),
        None => "/".to_string(),
    }
}

/// HTTP's status as DeepFlow's response status: 4 client error, 3 server error, 0 ok.
fn http_status(code: i32) -> u8 {
    match code {
        400..=499 => 4,
        500..=600 => 3,
        _ => 0,
    }
}

/// Every span of `data` (sent by `agent_id`) as a row.
pub fn span_rows(agent_id: u16, data: &otel::TracesData) -> Vec<SpanRow> {
    let mut out = Vec::new();
    for rs in &data.resource_spans {
        let resource: &[otel::KeyValue] = rs.resource.as_ref().map_or(&[], |r| &r.attributes);
        for ss in &rs.scope_spans {
            for s in &ss.spans {
                out.push(span_row(agent_id, s, resource));
            }
        }
    }
    out
}

fn span_row(agent_id: u16, s: &otel::Span, resource: &[otel::KeyValue]) -> SpanRow {
    let kind = otel::SpanKind::try_from(s.kind).unwrap_or(otel::SpanKind::Unspecified);
    let tap_side = match kind {
        otel::SpanKind::Client | otel::SpanKind::Producer => TAP_SIDE_CLIENT_APP,
        otel::SpanKind::Server | otel::SpanKind::Consumer => TAP_SIDE_SERVER_APP,
        _ => TAP_SIDE_APP,
    };
    let client = tap_side == TAP_SIDE_CLIENT_APP;
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let (start_us, end_us) = (s.start_time_unix_nano / 1000, s.end_time_unix_nano / 1000);
    let mut r = SpanRow {
        agent_id,
        trace_id: hex(&s.trace_id),
        span_id: hex(&s.span_id),
        parent_span_id: hex(&s.parent_span_id),
        span_kind: s.kind.clamp(0, 255) as u8,
        tap_side,
        start_us,
        end_us,
        endpoint: s.name.clone(),
        protocol: 6,
        ..SpanRow::default()
    };
    let (mut l7_name, mut url, mut is_http) = (String::new(), String::new(), false);
    let n_span = s.attributes.len();
    for (i, kv) in s.attributes.iter().chain(resource).enumerate() {
        let Some(value) = kv.value.as_ref() else {
            continue;
        };
        let text = value_text(Some(value));
        let key = kv.key.as_str();
        is_http |= key.starts_with("http");
        if i >= n_span {
            match key {
                "service.name" => r.app_service.clone_from(&text),
                "service.instance.id" => r.app_instance.clone_from(&text),
                "app.host.ip" => match ip_of(&text) {
                    Some(ip) if client => r.ip_0 = Some(ip),
                    Some(ip) => r.ip_1 = Some(ip),
                    None => {}
                },
                _ => {}
            }
        } else {
            match key {
                "net.transport" if text.contains("udp") => r.protocol = 17,
                "net.peer.ip" => match ip_of(&text) {
                    Some(ip) if client => r.ip_1 = Some(ip),
                    Some(ip) => r.ip_0 = Some(ip),
                    None => {}
                },
                "http.scheme" | "db.system" | "rpc.system" | "messaging.system"
                | "messaging.protocol" => l7_name.clone_from(&text),
                "http.flavor" => r.version.clone_from(&text),
                "http.status_code" => r.response_code = text.parse().ok(),
                "http.host" | "db.connection_string" => r.request_domain.clone_from(&text),
                "http.method" | "db.operation" | "rpc.method" => r.request_type.clone_from(&text),
                "http.target" | "db.statement" | "messaging.url" | "rpc.service" => {
                    r.request_resource.clone_from(&text);
                }
                "http.url" => url.clone_from(&text),
                "http.request_content_length" => r.request_length = text.parse().ok(),
                "http.response_content_length" => r.response_length = text.parse().ok(),
                "db.cassandra.page_size" => r.sql_affected_rows = text.parse().ok(),
                _ => {}
            }
        }
        if METRIC_KEYS.contains(&key) && i < n_span {
            r.metrics_names.push(kv.key.clone());
            r.metrics_values.push(text.parse().unwrap_or(0.0));
        } else {
            r.attribute_names.push(kv.key.clone());
            r.attribute_values.push(text);
        }
    }
    if is_http && l7_name.is_empty() {
        l7_name = "HTTP".into();
    }
    if r.request_resource.is_empty() && !url.is_empty() {
        r.request_resource = url_path(&url);
    }
    let http2 = matches!(r.version.as_str(), "2" | "2.0");
    (r.l7_protocol, r.is_tls) = match l7_name.to_ascii_lowercase().as_str() {
        "" => (0, false),
        "http" | "https" => {
            let p = L7Protocol::from_name(if http2 { "HTTP2" } else { "HTTP" });
            (
                p.map_or(0, L7Protocol::id),
                l7_name.eq_ignore_ascii_case("https"),
            )
        }
        other => (
            L7Protocol::from_name(other).map_or(0, L7Protocol::id),
            false,
        ),
    };
    let status = s.status.as_ref();
    match (r.response_code, status) {
        (Some(code), _) if code != 0 => r.response_status = http_status(code),
        (_, Some(st)) => {
            let code = otel::StatusCode::try_from(st.code).unwrap_or(otel::StatusCode::Unset);
            r.response_status = match code {
                otel::StatusCode::Ok => 0,
                otel::StatusCode::Error => 3,
                otel::StatusCode::Unset => 5,
            };
            if code == otel::StatusCode::Error {
                r.response_exception.clone_from(&st.message);
            }
            if code != otel::StatusCode::Unset {
                r.response_code = Some(st.code);
            }
        }
        _ => r.response_status = 5,
    }
    if r.response_status != 0 && r.response_exception.is_empty() {
        if let Some(st) = status.filter(|st| !st.message.is_empty()) {
            r.response_exception.clone_from(&st.message);
        }
    }
    if tap_side == TAP_SIDE_SERVER_APP {
        // DeepFlow shows server-side spans as services: a port, unknown here.
        r.server_port = 65535;
    }
    r
}

fn text(s: &str) -> Option<Val<'_>> {
    Some(Val::S(s.as_bytes()))
}

/// The value of `l7_flow_log` column `c` for span row `r`.
fn value<'a>(c: &str, r: &'a SpanRow, id: u64) -> Option<Val<'a>> {
    let u = |x: u64| Some(Val::U(x));
    let v4 = |ip: Option<IpAddr>| ip.filter(IpAddr::is_ipv4).map(Val::Ip);
    let v6 = |ip: Option<IpAddr>| ip.filter(IpAddr::is_ipv6).map(Val::Ip);
    let strs = |v: &'a [String]| Some(Val::Strs(v.iter().map(|s| s.as_bytes()).collect()));
    match c {
        "time" => u(r.end_us.max(r.start_us) / 1_000_000),
        "_id" => u(id),
        "agent_id" => u(u64::from(r.agent_id)),
        "signal_source" => u(SIGNAL_SOURCE_OTEL),
        // DeepFlow's TAP_CLOUD.
        "capture_network_type_id" => u(3),
        "observation_point" => text(tapflow_analyzer::mirror::tap_side_name(r.tap_side)),
        "type" => u(2),
        "start_time" => u(r.start_us),
        "end_time" => u(r.end_us),
        "response_duration" => u(r.end_us.saturating_sub(r.start_us)),
        "trace_id" => text(&r.trace_id),
        "span_id" => text(&r.span_id),
        "parent_span_id" => text(&r.parent_span_id),
        "span_kind" => u(u64::from(r.span_kind)),
        "app_service" => text(&r.app_service),
        "app_instance" => text(&r.app_instance),
        "endpoint" => text(&r.endpoint),
        "ip4_0" => v4(r.ip_0),
        "ip4_1" => v4(r.ip_1),
        "ip6_0" => v6(r.ip_0),
        "ip6_1" => v6(r.ip_1),
        "is_ipv4" => u(u64::from(!r.ip_0.or(r.ip_1).is_some_and(|ip| ip.is_ipv6()))),
        "protocol" => u(u64::from(r.protocol)),
        "server_port" => u(u64::from(r.server_port)),
        "l7_protocol" => u(u64::from(r.l7_protocol)),
        "is_tls" => u(u64::from(r.is_tls)),
        "version" => text(&r.version),
        "request_type" => text(&r.request_type),
        "request_domain" => text(&r.request_domain),
        "request_resource" => text(&r.request_resource),
        "response_code" => Some(r.response_code.map_or(Val::Null, |c| Val::I(i64::from(c)))),
        "response_status" => u(u64::from(r.response_status)),
        "response_exception" => text(&r.response_exception),
        "request_length" => Some(r.request_length.map_or(Val::Null, Val::I)),
        "response_length" => Some(r.response_length.map_or(Val::Null, Val::I)),
        "sql_affected_rows" => Some(r.sql_affected_rows.map_or(Val::Null, Val::U)),
        "attribute_names" => strs(&r.attribute_names),
        "attribute_values" => strs(&r.attribute_values),
        "metrics_names" => strs(&r.metrics_names),
        "metrics_values" => Some(Val::Fs(&r.metrics_values)),
        _ => None,
    }
}

/// Appends `r` as one row of the `l7_flow_log` table `table` (`id` for `_id`); the columns whose
/// value did not fit their type are returned (none: a test checks).
pub fn encode(table: &Table, r: &SpanRow, id: u64, out: &mut Vec<u8>) -> Vec<Mismatch> {
    let mut bad = Vec::new();
    each(table, out, &mut bad, |c| value(c, r, id));
    bad
}

/// The writer of span rows into `flow_log.l7_flow_log` (`tapflow server --clickhouse`).
#[derive(Debug)]
pub struct OtelL7Store {
    writer: SideWriter,
    table: Table,
}

impl OtelL7Store {
    /// Starts the writer for the server at `url`, rows kept `ttl_hours` (0: forever).
    pub fn start(url: &str, ttl_hours: u32, timeout: Duration) -> Result<Self, String> {
        let table = super::tables()
            .into_iter()
            .find(|t| t.kind == RecordKind::L7FlowLog)
            .ok_or("no l7_flow_log table")?;
        let t = table.clone();
        let create: Create = Box::new(move |run| {
            let version = String::from_utf8_lossy(&run("SELECT version()")?).to_string();
            t.ensure(Dialect::of_version(version.trim()), ttl_hours, run)
        });
        let insert = format!(
            "INSERT INTO {} ({}) FORMAT RowBinary",
            table.qualified(),
            table.column_list()
        );
        let writer = SideWriter::start(
            "tapflow-ch-otel",
            [
                "clickhouse_otel.rows_inserted",
                "clickhouse_otel.rows_dropped",
                "clickhouse_otel.failures",
            ],
            url,
            timeout,
            create,
            insert,
        )?;
        Ok(OtelL7Store { writer, table })
    }

    pub fn counters(&self) -> Arc<SideCounters> {
        self.writer.counters()
    }

    /// Queues the spans of one message.
    pub fn write(&mut self, rows: &[SpanRow]) {
        let table = &self.table;
        // Ids distinct from the record sink's (which count up from the run's start).
        self.writer.write_numbered(rows, |r, n, out| {
            encode(table, r, (1 << 62) + n, out);
        });
    }

    /// Waits (up to 10 s) for the queued batches to go.
    pub fn finish(self) {
        self.writer.finish();
    }
}

#[cfg(test)]
#[path = "otel_l7_tests.rs"]
mod tests;
