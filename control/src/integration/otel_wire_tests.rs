use prost::Message;

use super::*;
use crate::rpc::otel;

fn kv(k: &str, v: &str) -> otel::KeyValue {
    otel::KeyValue {
        key: k.into(),
        value: Some(otel::AnyValue {
            value: Some(otel::any_value::Value::StringValue(v.into())),
        }),
    }
}

fn resource_spans(service: &str, host: Option<&str>, spans: usize) -> otel::ResourceSpans {
    let mut attributes = vec![kv("service.name", service)];
    if let Some(h) = host {
        attributes.push(kv(HOST_IP, h));
    }
    otel::ResourceSpans {
        resource: Some(otel::Resource {
            attributes,
            dropped_attributes_count: 0,
        }),
        scope_spans: vec![otel::ScopeSpans {
            scope: None,
            spans: (0..spans)
                .map(|i| otel::Span {
                    trace_id: vec![1; 16],
                    span_id: vec![(i % 200) as u8 + 1; 8],
                    name: format!("GET /item/{i}"),
                    kind: otel::SpanKind::Server as i32,
                    ..Default::default()
                })
                .collect(),
            schema_url: String::new(),
        }],
        schema_url: String::new(),
    }
}

fn attrs(rs: &otel::ResourceSpans) -> Vec<(String, String)> {
    rs.resource
        .iter()
        .flat_map(|r| &r.attributes)
        .map(|a| {
            let v = match a.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(otel::any_value::Value::StringValue(s)) => s.clone(),
                _ => String::new(),
            };
            (a.key.clone(), v)
        })
        .collect()
}

#[test]
fn sdk_spans_get_the_senders_address_and_collector_spans_keep_theirs() {
    let data = otel::TracesData {
        resource_spans: vec![
            resource_spans("cart", None, 2),
            resource_spans("shop", Some("10.1.2.3"), 1),
        ],
    };
    let (msgs, spans) = forwardable(&data.encode_to_vec(), "192.0.2.7", 1 << 20).unwrap();
    assert_eq!((msgs.len(), spans), (1, 3));
    let got = otel::TracesData::decode(msgs[0].as_slice()).unwrap();
    assert_eq!(
        attrs(&got.resource_spans[0]),
        [
            ("service.name".into(), "cart".into()),
            (HOST_IP.into(), "192.0.2.7".into())
        ]
    );
    assert_eq!(
        attrs(&got.resource_spans[1]),
        [
            ("service.name".into(), "shop".into()),
            (HOST_IP.into(), "10.1.2.3".into())
        ]
    );
    assert_eq!(
        got.resource_spans[0].scope_spans,
        data.resource_spans[0].scope_spans
    );
    // The second ResourceSpans is forwarded byte for byte.
    let second = data.resource_spans[1].encode_to_vec();
    assert!(msgs[0].windows(second.len()).any(|w| w == second));
}

#[test]
fn fields_tapflow_does_not_model_travel_unchanged() {
    // A span with events (field 11) and links (13), which tapflow's otel.proto leaves out.
    let mut span = otel::Span {
        name: "q".into(),
        ..Default::default()
    }
    .encode_to_vec();
    put_bytes(&mut span, 11, b"\x0a\x05event");
    put_bytes(&mut span, 13, b"\x0a\x10linklinklinklink");
    let mut scope = Vec::new();
    put_bytes(&mut scope, 2, &span);
    let mut rs = Vec::new();
    put_bytes(&mut rs, 2, &scope);
    let mut data = Vec::new();
    put_bytes(&mut data, 1, &rs);
    let (msgs, spans) = forwardable(&data, "::ffff:10.0.0.1", 1 << 20).unwrap();
    assert_eq!(spans, 1);
    assert!(msgs[0].windows(span.len()).any(|w| w == span.as_slice()));
    let got = otel::TracesData::decode(msgs[0].as_slice()).unwrap();
    assert_eq!(
        attrs(&got.resource_spans[0]),
        [(HOST_IP.into(), "::ffff:10.0.0.1".into())]
    );
    assert_eq!(host_text("::ffff:10.0.0.1".parse().unwrap()), "10.0.0.1");
    assert_eq!(host_text("2001:db8::1".parse().unwrap()), "2001:db8::1");
}

#[test]
fn large_data_is_cut_between_resource_spans() {
    let data = otel::TracesData {
        resource_spans: (0..10)
            .map(|i| resource_spans(&format!("s{i}"), None, 40))
            .collect(),
    };
    let bytes = data.encode_to_vec();
    let max = bytes.len() / 3;
    let (msgs, spans) = forwardable(&bytes, "10.0.0.9", max).unwrap();
    assert_eq!(spans, 400);
    assert!(msgs.len() >= 3, "{}", msgs.len());
    let mut services = Vec::new();
    for m in &msgs {
        assert!(m.len() <= max);
        for rs in otel::TracesData::decode(m.as_slice())
            .unwrap()
            .resource_spans
        {
            services.push(attrs(&rs)[0].1.clone());
        }
    }
    assert_eq!(
        services,
        (0..10).map(|i| format!("s{i}")).collect::<Vec<_>>()
    );
    let one = resource_spans("big", None, 400).encode_to_vec();
    let mut big = Vec::new();
    put_bytes(&mut big, 1, &one);
    assert!(matches!(
        forwardable(&big, "h", 1000),
        Err(WireError::TooLarge(_))
    ));
}

#[test]
fn malformed_data_is_refused() {
    let good = otel::TracesData {
        resource_spans: vec![resource_spans("a", None, 3)],
    }
    .encode_to_vec();
    for cut in 1..good.len() {
        assert!(
            forwardable(&good[..cut], "h", 1 << 20).is_err(),
            "cut at {cut}"
        );
    }
    for bad in [
        &b"\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"[..],
        b"\x0b",
        b"\x08\x01",
        b"{\"resourceSpans\":[]}",
    ] {
        assert!(forwardable(bad, "h", 1 << 20).is_err(), "{bad:?}");
    }
    assert_eq!(forwardable(b"", "h", 100).unwrap(), (vec![], 0));
}

#[test]
fn unknown_top_level_fields_stay_within_the_pieces_size() {
    // The fuzzer's first finding: a field TracesData does not have, larger than a piece may be,
    // made a piece larger than the limit (and an empty one before it).
    let mut data = Vec::new();
    put_bytes(&mut data, 7, &[b'x'; 80]);
    assert!(matches!(
        forwardable(&data, "h", 65),
        Err(WireError::TooLarge(_))
    ));
    let (pieces, spans) = forwardable(&data, "h", 200).unwrap();
    assert_eq!((pieces, spans), (vec![data.clone()], 0));
    let mut two = data.clone();
    two.extend_from_slice(&data);
    let (pieces, _) = forwardable(&two, "h", 100).unwrap();
    assert_eq!(pieces, vec![data.clone(), data]);
}
