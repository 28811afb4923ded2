//! The collector's pure pieces: extra labels, line protocol, traces' compression.

use super::*;

#[test]
fn extra_labels_are_the_configured_headers_present_within_budget() {
    let cfg = crate::Config::from_yaml(
        "inputs:\n  integration:\n    prometheus_extra_labels:\n      enabled: true\n      extra_labels: [X-Tenant, X-Absent, X-Zone]\n      value_length: 8\n",
    )
    .unwrap()
    .integration;
    let mut h = hyper::HeaderMap::new();
    h.insert("x-tenant", "blue".parse().unwrap());
    h.insert("x-zone", "eu-west-1".parse().unwrap());
    assert_eq!(
        extra_labels(&cfg, &h),
        (vec!["x-tenant".to_string()], vec!["blue".to_string()])
    );
    let off = crate::Config::default().integration;
    assert_eq!(extra_labels(&off, &h), (vec![], vec![]));
}

#[test]
fn line_protocol_is_cut_between_lines_into_frame_sized_messages() {
    let c = CollectorCounters::default();
    let line = format!("m,host=a v={}i\n", "1".repeat(1000));
    let body = line.repeat(1200);
    let (t, pieces) = telegraf(body.as_bytes(), &c).unwrap();
    assert_eq!(t, MessageType::Telegraf);
    assert!(pieces.len() >= 3);
    assert!(pieces
        .iter()
        .all(|p| p.len() <= MAX_MESSAGE && p.ends_with(b"\n")));
    assert_eq!(pieces.concat(), body.as_bytes());
    assert_eq!(c.telegraf_lines.load(Ordering::Relaxed), 1200);
    let long = vec![b'x'; MAX_MESSAGE + 1];
    assert_eq!(
        telegraf(&long, &c).unwrap_err().0,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    assert_eq!(
        telegraf(b"cpu v=1\n\xff\n", &c).unwrap_err().0,
        StatusCode::BAD_REQUEST
    );
}

#[test]
fn traces_are_zlib_messages_when_compressed() {
    use std::io::Read as _;
    let c = CollectorCounters::default();
    let mut rs = Vec::new();
    otel_wire_put(&mut rs);
    let mut spans = Vec::new();
    let (t, raw) = traces(&rs, "10.1.1.1".parse().unwrap(), false, &c, &mut spans).unwrap();
    assert_eq!(t, MessageType::OpenTelemetry);
    let (t, z) = traces(&rs, "10.1.1.1".parse().unwrap(), true, &c, &mut spans).unwrap();
    assert_eq!(spans.len(), 2);
    assert_eq!(spans[0].ip_1, Some("10.1.1.1".parse().unwrap()));
    assert_eq!(t, MessageType::OpenTelemetryCompressed);
    let mut back = Vec::new();
    flate2::read::ZlibDecoder::new(z[0].as_slice())
        .read_to_end(&mut back)
        .unwrap();
    assert_eq!(back, raw[0]);
    assert!(gunzip(b"not gzip").is_err());
}

/// A TracesData of one ResourceSpans holding one span named "q".
fn otel_wire_put(out: &mut Vec<u8>) {
    let span = crate::rpc::otel::Span {
        name: "q".into(),
        ..Default::default()
    };
    let data = crate::rpc::otel::TracesData {
        resource_spans: vec![crate::rpc::otel::ResourceSpans {
            scope_spans: vec![crate::rpc::otel::ScopeSpans {
                spans: vec![span],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    out.extend(data.encode_to_vec());
}
