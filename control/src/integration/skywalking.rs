//! SkyWalking traces over its HTTP reporting protocol (what SkyWalking agents send with
//! `protocol: http`, and SkyWalking's collector takes on its REST port): `POST /v3/segment`
//! (one `SegmentObject` as JSON) and `POST /v3/segments` (an array of them). DeepFlow takes
//! them only in its enterprise edition (its open agent answers 404, its open server stores
//! nothing); tapflow turns each segment into OpenTelemetry spans, forwarded as the collector
//! forwards OTLP traces, so that any DeepFlow server (and `tapflow server`) stores them as
//! `l7_flow_log` rows and the spans' application metrics are made.
//!
//! A segment is one process's part of a trace; its spans are numbered within it, and an entry
//! span's `refs` name the calling segment and span. Each span becomes an OpenTelemetry span:
//! - trace id: the 16 bytes of a 32-hex-digit trace id (the Python and Go agents'), else the id's
//!   own bytes (the Java agent's dotted ids; the same id gives the same bytes in every process);
//! - span id: a fixed 64-bit hash of (segment id, span id), so that the parent of an entry span
//!   (its first ref's segment and span) is the caller's exit span's id; the parent of any other
//!   span is its parent in the segment;
//! - kind: `Entry` a server span (consumer in the MQ layer), `Exit` a client span (producer),
//!   `Local` internal; status error when `isError`, else ok;
//! - attributes: the span's tags (`http.method`, `http.url`, `http.status_code` as an integer,
//!   `db.statement`, `db.type` also as `db.system`, ...), the peer as `net.peer.ip` /
//!   `net.peer.name` and `net.peer.port`, `http.scheme` for HTTP spans, and the SkyWalking ids
//!   (`skywalking.segment_id`, `skywalking.span_id`, `skywalking.component_id`);
//! - resource: `service.name` and `service.instance.id` from the segment.
//!
//! gRPC reporting (`skywalking.v3.TraceSegmentReportService`: `collect`, a stream of
//! `SegmentObject`s, and `collectInSync`, a `SegmentCollection`; the Java agent's default) is
//! read into the same segments.

use prost::Message;
use serde::Deserialize;
use serde_json::Value;

use crate::rpc::otel;
use crate::rpc::skywalking as pb;

/// Why a body is not SkyWalking data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotSegments(pub String);

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Segment {
    #[serde(default)]
    trace_id: String,
    #[serde(default)]
    trace_segment_id: String,
    #[serde(default)]
    service: String,
    #[serde(default)]
    service_instance: String,
    #[serde(default)]
    spans: Vec<SwSpan>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SwSpan {
    #[serde(default)]
    span_id: i64,
    #[serde(default = "no_parent")]
    parent_span_id: i64,
    #[serde(default)]
    start_time: i64,
    #[serde(default)]
    end_time: i64,
    #[serde(default)]
    refs: Vec<SwRef>,
    #[serde(default)]
    operation_name: String,
    #[serde(default)]
    peer: String,
    /// `Entry` / `Exit` / `Local`, or their numbers (0, 1, 2).
    #[serde(default)]
    span_type: Value,
    /// `Unknown` / `Database` / `RPCFramework` / `Http` / `MQ` / `Cache` / `FAAS`, or 0-6.
    #[serde(default)]
    span_layer: Value,
    #[serde(default)]
    component_id: i64,
    #[serde(default)]
    is_error: bool,
    #[serde(default)]
    tags: Vec<SwTag>,
}

fn no_parent() -> i64 {
    -1
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SwRef {
    #[serde(default)]
    parent_trace_segment_id: String,
    #[serde(default)]
    parent_span_id: i64,
}

#[derive(Debug, Deserialize)]
struct SwTag {
    #[serde(default)]
    key: String,
    #[serde(default)]
    value: Value,
}

/// The spans of a `/v3/segment` body (one segment) or a `/v3/segments` body (an array), as
/// OpenTelemetry trace data (one `ResourceSpans` per segment) and the number of segments.
pub fn traces_data(body: &[u8]) -> Result<(otel::TracesData, u64), NotSegments> {
    let v: Value = serde_json::from_slice(body).map_err(|e| NotSegments(e.to_string()))?;
    let segments: Vec<Segment> = match v {
        Value::Array(_) => serde_json::from_value(v),
        Value::Object(_) => serde_json::from_value(v).map(|s| vec![s]),
        _ => return Err(NotSegments("not a JSON object or array".into())),
    }
    .map_err(|e| NotSegments(e.to_string()))?;
    let n = segments.len() as u64;
    let resource_spans = segments.iter().map(resource_spans).collect();
    Ok((otel::TracesData { resource_spans }, n))
}

/// The same, encoded as OTLP's `TracesData`.
pub fn otlp(body: &[u8]) -> Result<(Vec<u8>, u64), NotSegments> {
    traces_data(body).map(|(d, n)| (d.encode_to_vec(), n))
}

/// The segments of gRPC messages (`collect`'s `SegmentObject`s, or with `collection` one
/// `SegmentCollection`), encoded as OTLP's `TracesData`, and their number.
pub fn grpc_otlp(messages: &[Vec<u8>], collection: bool) -> Result<(Vec<u8>, u64), NotSegments> {
    let bad = |e: prost::DecodeError| NotSegments(e.to_string());
    let mut segments = Vec::new();
    for m in messages {
        if collection {
            let c = pb::SegmentCollection::decode(m.as_slice()).map_err(bad)?;
            segments.extend(c.segments.iter().map(Segment::from));
        } else {
            segments.push(Segment::from(
                &pb::SegmentObject::decode(m.as_slice()).map_err(bad)?,
            ));
        }
    }
    let n = segments.len() as u64;
    let resource_spans = segments.iter().map(resource_spans).collect();
    Ok((otel::TracesData { resource_spans }.encode_to_vec(), n))
}

impl From<&pb::SegmentObject> for Segment {
    fn from(s: &pb::SegmentObject) -> Self {
        let pair = |t: &pb::KeyStringValuePair| SwTag {
            key: t.key.clone(),
            value: Value::String(t.value.clone()),
        };
        Segment {
            trace_id: s.trace_id.clone(),
            trace_segment_id: s.trace_segment_id.clone(),
            service: s.service.clone(),
            service_instance: s.service_instance.clone(),
            spans: s
                .spans
                .iter()
                .map(|sp| SwSpan {
                    span_id: i64::from(sp.span_id),
                    parent_span_id: i64::from(sp.parent_span_id),
                    start_time: sp.start_time,
                    end_time: sp.end_time,
                    refs: sp
                        .refs
                        .iter()
                        .map(|r| SwRef {
                            parent_trace_segment_id: r.parent_trace_segment_id.clone(),
                            parent_span_id: i64::from(r.parent_span_id),
                        })
                        .collect(),
                    operation_name: sp.operation_name.clone(),
                    peer: sp.peer.clone(),
                    span_type: Value::from(sp.span_type),
                    span_layer: Value::from(sp.span_layer),
                    component_id: i64::from(sp.component_id),
                    is_error: sp.is_error,
                    tags: sp.tags.iter().map(pair).collect(),
                })
                .collect(),
        }
    }
}

fn text(k: &str, v: &str) -> otel::KeyValue {
    otel::KeyValue {
        key: k.into(),
        value: Some(otel::AnyValue {
            value: Some(otel::any_value::Value::StringValue(v.into())),
        }),
    }
}

fn int(k: &str, v: i64) -> otel::KeyValue {
    otel::KeyValue {
        key: k.into(),
        value: Some(otel::AnyValue {
            value: Some(otel::any_value::Value::IntValue(v)),
        }),
    }
}

fn resource_spans(s: &Segment) -> otel::ResourceSpans {
    let trace_id = trace_id(&s.trace_id);
    let spans = s.spans.iter().map(|sp| span(s, sp, &trace_id)).collect();
    otel::ResourceSpans {
        resource: Some(otel::Resource {
            attributes: vec![
                text("service.name", &s.service),
                text("service.instance.id", &s.service_instance),
            ],
            dropped_attributes_count: 0,
        }),
        scope_spans: vec![otel::ScopeSpans {
            scope: Some(otel::InstrumentationScope {
                name: "skywalking".into(),
                version: String::new(),
            }),
            spans,
            schema_url: String::new(),
        }],
        schema_url: String::new(),
    }
}

/// A 32-hex-digit id as its 16 bytes; any other id as its own bytes.
pub fn trace_id(id: &str) -> Vec<u8> {
    let b = id.as_bytes();
    if b.len() == 32 && b.iter().all(u8::is_ascii_hexdigit) {
        let nibble = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
        return b
            .chunks(2)
            .map(|p| nibble(p[0]) << 4 | nibble(p[1]))
            .collect();
    }
    b.to_vec()
}

/// The OpenTelemetry span id of span `span` of segment `segment`: FNV-1a over the segment id,
/// then the span number, through a final mix (never 0, which means no span).
pub fn span_id(segment: &str, span: i64) -> Vec<u8> {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in segment.as_bytes().iter().chain(&span.to_le_bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h.max(1).to_be_bytes().to_vec()
}

/// A enum field given by name or number: its number in `names`.
fn ordinal(v: &Value, names: &[&str]) -> Option<usize> {
    match v {
        Value::String(s) => names.iter().position(|n| n.eq_ignore_ascii_case(s)),
        Value::Number(n) => n.as_u64().map(|n| n as usize),
        _ => None,
    }
}

fn span(seg: &Segment, sp: &SwSpan, trace: &[u8]) -> otel::Span {
    const TYPES: [&str; 3] = ["Entry", "Exit", "Local"];
    const LAYERS: [&str; 7] = [
        "Unknown",
        "Database",
        "RPCFramework",
        "Http",
        "MQ",
        "Cache",
        "FAAS",
    ];
    let layer = ordinal(&sp.span_layer, &LAYERS).unwrap_or(0);
    let mq = layer == 4;
    let kind = match ordinal(&sp.span_type, &TYPES) {
        Some(0) if mq => otel::SpanKind::Consumer,
        Some(0) => otel::SpanKind::Server,
        Some(1) if mq => otel::SpanKind::Producer,
        Some(1) => otel::SpanKind::Client,
        _ => otel::SpanKind::Internal,
    };
    let parent = if sp.parent_span_id >= 0 {
        span_id(&seg.trace_segment_id, sp.parent_span_id)
    } else {
        sp.refs
            .first()
            .map(|r| span_id(&r.parent_trace_segment_id, r.parent_span_id))
            .unwrap_or_default()
    };
    let mut attributes = Vec::with_capacity(sp.tags.len() + 8);
    let mut url = None;
    for t in &sp.tags {
        let v = match &t.value {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        match t.key.as_str() {
            "http.status_code" | "status_code" => match v.trim().parse::<i64>() {
                Ok(code) => attributes.push(int("http.status_code", code)),
                Err(_) => attributes.push(text(&t.key, &v)),
            },
            "db.type" => {
                attributes.push(text("db.system", &v));
                attributes.push(text(&t.key, &v));
            }
            "url" | "http.url" => {
                url = Some(v.clone());
                attributes.push(text("http.url", &v));
            }
            _ => attributes.push(text(&t.key, &v)),
        }
    }
    if layer == 3 {
        let https = url.as_deref().is_some_and(|u| u.starts_with("https:"));
        attributes.push(text("http.scheme", if https { "https" } else { "http" }));
    }
    if let Some((host, port)) = peer(&sp.peer) {
        let key = if host.parse::<std::net::IpAddr>().is_ok() {
            "net.peer.ip"
        } else {
            "net.peer.name"
        };
        attributes.push(text(key, host));
        if let Some(p) = port {
            attributes.push(int("net.peer.port", i64::from(p)));
        }
    }
    attributes.push(text("skywalking.segment_id", &seg.trace_segment_id));
    attributes.push(int("skywalking.span_id", sp.span_id));
    attributes.push(int("skywalking.component_id", sp.component_id));
    let ns = |ms: i64| u64::try_from(ms).unwrap_or(0).saturating_mul(1_000_000);
    otel::Span {
        trace_id: trace.to_vec(),
        span_id: span_id(&seg.trace_segment_id, sp.span_id),
        trace_state: String::new(),
        parent_span_id: parent,
        name: sp.operation_name.clone(),
        kind: kind as i32,
        start_time_unix_nano: ns(sp.start_time),
        end_time_unix_nano: ns(sp.end_time).max(ns(sp.start_time)),
        attributes,
        status: Some(otel::Status {
            message: String::new(),
            code: if sp.is_error {
                otel::StatusCode::Error
            } else {
                otel::StatusCode::Ok
            } as i32,
        }),
    }
}

/// A peer's host and port (`10.0.0.1:8080`, `[fd00::1]:80`, `db.internal`).
fn peer(p: &str) -> Option<(&str, Option<u16>)> {
    let p = p.trim();
    if p.is_empty() {
        return None;
    }
    if let Some(rest) = p.strip_prefix('[') {
        let (host, tail) = rest.split_once(']')?;
        return Some((host, tail.strip_prefix(':').and_then(|x| x.parse().ok())));
    }
    match p.rsplit_once(':') {
        // One colon: host and port; more: an IPv6 address without brackets.
        Some((host, port)) if !host.contains(':') => Some((host, port.parse().ok())),
        _ => Some((p, None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr<'a>(s: &'a otel::Span, k: &str) -> Option<&'a otel::any_value::Value> {
        s.attributes
            .iter()
            .find(|kv| kv.key == k)
            .and_then(|kv| kv.value.as_ref()?.value.as_ref())
    }

    /// A client's exit span and the server's entry span it called, as the Python agent
    /// reports them (one segment per POST).
    const EXIT: &str = r#"{"traceId": "ead8a282f2a911f1b1ce02fc00000001", "traceSegmentId": "seg-client", "service": "shop", "serviceInstance": "shop-1", "isSizeLimited": false, "spans": [{"spanId": 0, "parentSpanId": -1, "startTime": 1796694702865, "endTime": 1796694702883, "operationName": "/cart/1", "peer": "127.0.0.1:18099", "spanType": "Exit", "spanLayer": "Http", "componentId": 7002, "isError": false, "logs": [], "tags": [{"key": "http.method", "value": "GET"}, {"key": "http.url", "value": "http://127.0.0.1:18099/cart/1"}, {"key": "http.status_code", "value": "200"}], "refs": []}]}"#;
    const ENTRY: &str = r#"{"traceId": "ead8a282f2a911f1b1ce02fc00000001", "traceSegmentId": "seg-server", "service": "cart", "serviceInstance": "cart-1", "spans": [{"spanId": 0, "parentSpanId": -1, "startTime": 1796694702882, "endTime": 1796694702883, "operationName": "/cart/1", "peer": "127.0.0.1:34496", "spanType": "Entry", "spanLayer": "Http", "componentId": 7000, "isError": true, "tags": [{"key": "http.status_code", "value": "500"}], "refs": [{"refType": 0, "traceId": "ead8a282f2a911f1b1ce02fc00000001", "parentTraceSegmentId": "seg-client", "parentSpanId": 0}]}, {"spanId": 1, "parentSpanId": 0, "startTime": 1796694702882, "endTime": 1796694702882, "operationName": "SELECT", "peer": "db.internal:3306", "spanType": 1, "spanLayer": 1, "componentId": 5, "tags": [{"key": "db.type", "value": "MySQL"}, {"key": "db.statement", "value": "SELECT 1"}]}]}"#;

    #[test]
    fn segments_become_spans_linked_across_processes() {
        let (client, n) = traces_data(EXIT.as_bytes()).unwrap();
        assert_eq!(n, 1);
        let both = format!("[{EXIT}, {ENTRY}]");
        let (d, n) = traces_data(both.as_bytes()).unwrap();
        assert_eq!(n, 2);
        assert_eq!(d.resource_spans[0], client.resource_spans[0]);
        let exit = &d.resource_spans[0].scope_spans[0].spans[0];
        let server = &d.resource_spans[1].scope_spans[0].spans;
        let (entry, query) = (&server[0], &server[1]);
        assert_eq!(exit.trace_id, trace_id("ead8a282f2a911f1b1ce02fc00000001"));
        assert_eq!(exit.trace_id.len(), 16);
        assert_eq!(entry.trace_id, exit.trace_id);
        // The entry span's parent is the caller's exit span; the query's is the entry.
        assert_eq!(entry.parent_span_id, exit.span_id);
        assert_eq!(query.parent_span_id, entry.span_id);
        assert!(exit.parent_span_id.is_empty());
        assert_eq!(
            (exit.kind, entry.kind, query.kind),
            (
                otel::SpanKind::Client as i32,
                otel::SpanKind::Server as i32,
                otel::SpanKind::Client as i32
            )
        );
        assert_eq!(exit.start_time_unix_nano, 1_796_694_702_865_000_000);
        assert_eq!(
            attr(exit, "http.status_code"),
            Some(&otel::any_value::Value::IntValue(200))
        );
        assert_eq!(
            attr(exit, "http.scheme"),
            Some(&otel::any_value::Value::StringValue("http".into()))
        );
        assert_eq!(
            attr(exit, "net.peer.port"),
            Some(&otel::any_value::Value::IntValue(18099))
        );
        assert_eq!(
            attr(query, "db.system"),
            Some(&otel::any_value::Value::StringValue("MySQL".into()))
        );
        assert_eq!(
            attr(query, "net.peer.name"),
            Some(&otel::any_value::Value::StringValue("db.internal".into()))
        );
        let status = |s: &otel::Span| s.status.as_ref().map(|st| st.code);
        assert_eq!(status(entry), Some(otel::StatusCode::Error as i32));
        assert_eq!(status(exit), Some(otel::StatusCode::Ok as i32));
        // The rows tapflow server makes of them: HTTP, the endpoint, the service.
        let rows = crate::clickhouse::otel_l7::span_rows(3, &d);
        assert_eq!(rows.len(), 3);
        assert_eq!(
            (rows[0].l7_protocol, rows[0].app_service.as_str()),
            (20, "shop")
        );
        assert_eq!(rows[0].request_resource, "/cart/1");
        assert_eq!(rows[1].response_code, Some(500));
    }

    #[test]
    fn grpc_segments_are_the_json_ones() {
        let json = format!("[{EXIT}, {ENTRY}]");
        let (want, _) = traces_data(json.as_bytes()).unwrap();
        let pair = |k: &str, v: &str| pb::KeyStringValuePair {
            key: k.into(),
            value: v.into(),
        };
        let exit = pb::SegmentObject {
            trace_id: "ead8a282f2a911f1b1ce02fc00000001".into(),
            trace_segment_id: "seg-client".into(),
            service: "shop".into(),
            service_instance: "shop-1".into(),
            spans: vec![pb::SpanObject {
                span_id: 0,
                parent_span_id: -1,
                start_time: 1_796_694_702_865,
                end_time: 1_796_694_702_883,
                operation_name: "/cart/1".into(),
                peer: "127.0.0.1:18099".into(),
                span_type: pb::SpanType::Exit as i32,
                span_layer: pb::SpanLayer::Http as i32,
                component_id: 7002,
                tags: vec![
                    pair("http.method", "GET"),
                    pair("http.url", "http://127.0.0.1:18099/cart/1"),
                    pair("http.status_code", "200"),
                ],
                ..Default::default()
            }],
            ..Default::default()
        };
        let (got, n) = grpc_otlp(&[exit.encode_to_vec()], false).unwrap();
        assert_eq!(n, 1);
        let got = otel::TracesData::decode(got.as_slice()).unwrap();
        assert_eq!(got.resource_spans[0], want.resource_spans[0]);
        let collection = pb::SegmentCollection {
            segments: vec![exit.clone(), exit],
        };
        let (_, n) = grpc_otlp(&[collection.encode_to_vec()], true).unwrap();
        assert_eq!(n, 2);
        assert!(grpc_otlp(&[vec![0xff, 0xff]], false).is_err());
    }

    #[test]
    fn ids_peers_and_bad_bodies() {
        assert_eq!(trace_id("a1b2.45.1679"), b"a1b2.45.1679".to_vec());
        assert_ne!(span_id("s", 0), span_id("s", 1));
        assert_ne!(span_id("s", 0), span_id("t", 0));
        assert_eq!(span_id("s", 3).len(), 8);
        assert_eq!(peer("[fd00::1]:80"), Some(("fd00::1", Some(80))));
        assert_eq!(peer("fd00::1"), Some(("fd00::1", None)));
        assert_eq!(peer("redis"), Some(("redis", None)));
        assert_eq!(peer(" "), None);
        for bad in [
            &b"not json"[..],
            b"42",
            br#"{"spans": 7}"#,
            br#"[{"spans": [{"spanId": "x"}]}]"#,
        ] {
            assert!(traces_data(bad).is_err(), "{bad:?}");
        }
        // Missing fields are zero; times before the epoch are 0; an end before the start is the
        // start.
        let (d, _) = traces_data(br#"{"spans": [{"startTime": -5, "endTime": -9}]}"#).unwrap();
        let s = &d.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!((s.start_time_unix_nano, s.end_time_unix_nano), (0, 0));
        assert_eq!(s.kind, otel::SpanKind::Internal as i32);
    }
}
