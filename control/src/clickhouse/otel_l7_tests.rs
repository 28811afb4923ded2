use super::*;
use crate::rpc::otel::{any_value, AnyValue, KeyValue, Resource, ResourceSpans, ScopeSpans, Span};

fn kv(k: &str, v: any_value::Value) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(v) }),
    }
}

fn s(k: &str, v: &str) -> KeyValue {
    kv(k, any_value::Value::StringValue(v.into()))
}

fn i(k: &str, v: i64) -> KeyValue {
    kv(k, any_value::Value::IntValue(v))
}

fn data(resource: Vec<KeyValue>, spans: Vec<Span>) -> otel::TracesData {
    otel::TracesData {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: resource,
                dropped_attributes_count: 0,
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            schema_url: String::new(),
        }],
    }
}

fn span(kind: otel::SpanKind, attributes: Vec<KeyValue>, status: Option<otel::Status>) -> Span {
    Span {
        trace_id: vec![0xab; 16],
        span_id: vec![0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08],
        parent_span_id: vec![0x0f; 8],
        name: "GET /cart/{id}".into(),
        kind: kind as i32,
        start_time_unix_nano: 1_790_000_000_000_000_000,
        end_time_unix_nano: 1_790_000_000_250_000_000,
        attributes,
        status,
        ..Default::default()
    }
}

#[test]
fn a_server_span_is_an_s_app_session_of_its_service() {
    let d = data(
        vec![
            s("service.name", "cart"),
            s("service.instance.id", "cart-1"),
            s("app.host.ip", "10.0.0.2"),
        ],
        vec![span(
            otel::SpanKind::Server,
            vec![
                s("http.method", "GET"),
                s("http.url", "http://shop:8080/cart/7?full=1"),
                s("http.flavor", "1.1"),
                i("http.status_code", 503),
                s("net.peer.ip", "10.0.0.9"),
                i("http.response_content_length", 120),
            ],
            None,
        )],
    );
    let rows = span_rows(7, &d);
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(r.agent_id, 7);
    assert_eq!(r.trace_id, "ab".repeat(16));
    assert_eq!(r.span_id, "0102030405060708");
    assert_eq!(r.parent_span_id, "0f".repeat(8));
    assert_eq!((r.tap_side, r.span_kind, r.server_port), (50, 2, 65535));
    assert_eq!(
        (r.start_us, r.end_us),
        (1_790_000_000_000_000, 1_790_000_000_250_000)
    );
    assert_eq!(
        (r.app_service.as_str(), r.app_instance.as_str()),
        ("cart", "cart-1")
    );
    assert_eq!(
        r.ip_0,
        Some("10.0.0.9".parse().unwrap()),
        "the peer is the client"
    );
    assert_eq!(
        r.ip_1,
        Some("10.0.0.2".parse().unwrap()),
        "the host is the server"
    );
    assert_eq!(r.l7_protocol, L7Protocol::from_name("HTTP").unwrap().id());
    assert_eq!(r.request_type, "GET");
    assert_eq!(r.request_resource, "/cart/7?full=1", "from http.url");
    assert_eq!((r.response_code, r.response_status), (Some(503), 3));
    assert_eq!(r.response_length, Some(120));
    assert_eq!(r.metrics_names, ["http.response_content_length"]);
    assert_eq!(r.metrics_values, [120.0]);
    assert!(r.attribute_names.contains(&"service.name".to_string()));
    assert!(r.attribute_names.contains(&"http.method".to_string()));
    assert!(!r
        .attribute_names
        .contains(&"http.response_content_length".to_string()));
    assert_eq!(r.endpoint, "GET /cart/{id}");
}

#[test]
fn a_client_span_names_its_peer_as_the_server_and_its_status() {
    let d = data(
        vec![
            s("service.name", "cart"),
            s("app.host.ip", "::ffff:10.0.0.2"),
        ],
        vec![span(
            otel::SpanKind::Client,
            vec![
                s("db.system", "mysql"),
                s("db.operation", "SELECT"),
                s("db.statement", "SELECT * FROM cart"),
                s("net.peer.ip", "2001:db8::5"),
            ],
            Some(otel::Status {
                message: "deadlock".into(),
                code: otel::StatusCode::Error as i32,
            }),
        )],
    );
    let r = &span_rows(1, &d)[0];
    assert_eq!((r.tap_side, r.server_port), (49, 0));
    assert_eq!(r.ip_0, Some("10.0.0.2".parse().unwrap()));
    assert_eq!(r.ip_1, Some("2001:db8::5".parse().unwrap()));
    assert_eq!(r.l7_protocol, L7Protocol::from_name("MySQL").unwrap().id());
    assert_eq!(
        (r.request_type.as_str(), r.request_resource.as_str()),
        ("SELECT", "SELECT * FROM cart")
    );
    assert_eq!((r.response_status, r.response_code), (3, Some(2)));
    assert_eq!(r.response_exception, "deadlock");
}

#[test]
fn protocols_versions_and_unset_status() {
    let row = |attrs: Vec<KeyValue>, status| {
        span_rows(
            1,
            &data(vec![], vec![span(otel::SpanKind::Internal, attrs, status)]),
        )[0]
        .clone()
    };
    let h2 = row(
        vec![s("http.scheme", "https"), s("http.flavor", "2.0")],
        None,
    );
    assert_eq!(h2.l7_protocol, L7Protocol::from_name("HTTP2").unwrap().id());
    assert!(h2.is_tls);
    assert_eq!((h2.tap_side, h2.response_status), (48, 5));
    let grpc = row(vec![s("rpc.system", "grpc"), s("rpc.method", "Get")], None);
    assert_eq!(
        grpc.l7_protocol,
        L7Protocol::from_name("gRPC").unwrap().id()
    );
    let http = row(vec![s("http.target", "/x")], None);
    assert_eq!(
        http.l7_protocol,
        L7Protocol::from_name("HTTP").unwrap().id(),
        "an http.* attribute means HTTP"
    );
    let unknown = row(vec![s("messaging.system", "nats-jetstream")], None);
    assert_eq!(unknown.l7_protocol, 0);
    let ok = row(
        vec![],
        Some(otel::Status {
            message: String::new(),
            code: otel::StatusCode::Ok as i32,
        }),
    );
    assert_eq!((ok.response_status, ok.response_code), (0, Some(1)));
    let unset = row(vec![], Some(otel::Status::default()));
    assert_eq!((unset.response_status, unset.response_code), (5, None));
    assert_eq!(
        value_text(Some(&AnyValue {
            value: Some(any_value::Value::BoolValue(true))
        })),
        "true"
    );
}

#[test]
fn rows_encode_into_every_column_of_l7_flow_log() {
    let table = crate::clickhouse::tables()
        .into_iter()
        .find(|t| t.kind == RecordKind::L7FlowLog)
        .unwrap();
    let d = data(
        vec![s("service.name", "cart"), s("app.host.ip", "2001:db8::1")],
        vec![
            span(
                otel::SpanKind::Server,
                vec![
                    i("http.status_code", 200),
                    i("http.request_content_length", 5),
                ],
                None,
            ),
            span(
                otel::SpanKind::Client,
                vec![s("db.system", "redis")],
                Some(otel::Status::default()),
            ),
        ],
    );
    for r in span_rows(3, &d) {
        let mut out = Vec::new();
        assert_eq!(encode(&table, &r, 9, &mut out), vec![], "{r:?}");
        assert!(!out.is_empty());
    }
}
