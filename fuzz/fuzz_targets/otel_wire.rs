//! What the integration collector does to any body posted as OTLP traces: the wire walk that
//! adds `app.host.ip` and cuts the data between `ResourceSpans`. The first two bytes choose the
//! largest message; the rest is the body. Whatever it accepts comes out in pieces no larger than
//! that, and walking those pieces again changes nothing (every `ResourceSpans` now names a host)
//! and finds the same spans; whatever `tapflow server` then makes of them serialises, every
//! span's `l7_flow_log` row fits its columns, and the spans' application documents are made.
//! The body is also read as SkyWalking segments, as JSON and as gRPC messages (a stream of
//! `SegmentObject`s, or `SegmentCollection`s when the first byte is odd): whatever reads becomes
//! OTLP the walk takes, with a span per SkyWalking span.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tapflow_control::clickhouse::{otel_l7, tables};
use tapflow_control::ingest::forwarded_rows;
use tapflow_control::ingest::MessageType;
use tapflow_control::integration::otel_wire::forwardable;
use tapflow_control::integration::{grpc, skywalking};
use tapflow_control::integration::span_metrics::SpanMetrics;

fuzz_target!(|data: &[u8]| {
    let Some((head, body)) = data.split_first_chunk::<2>() else {
        return;
    };
    let max = 64 + usize::from(u16::from_le_bytes(*head));
    if let Ok(msgs) = grpc::messages(body, true, 1 << 20) {
        if let Ok((otlp, _)) = skywalking::grpc_otlp(&msgs, head[0] & 1 == 1) {
            forwardable(&otlp, "192.0.2.1", usize::MAX).expect("SkyWalking spans are OTLP");
        }
    }
    if let Ok((d, _)) = skywalking::traces_data(body) {
        let want: usize = d
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        let otlp = prost::Message::encode_to_vec(&d);
        let (_, n) = forwardable(&otlp, "192.0.2.1", usize::MAX).expect("SkyWalking spans are OTLP");
        assert_eq!(n as usize, want);
        for r in &otel_l7::span_rows(1, &d) {
            let table = tables()
                .into_iter()
                .find(|t| t.name == "l7_flow_log")
                .expect("l7 table");
            assert!(otel_l7::encode(&table, r, 1, &mut Vec::new()).is_empty(), "{r:?}");
        }
    }
    let Ok((pieces, spans)) = forwardable(body, "192.0.2.1", max) else {
        return;
    };
    let mut again = 0;
    let mut metrics = SpanMetrics::default();
    for p in &pieces {
        assert!(p.len() <= max, "{} > {max}", p.len());
        let (same, n) = forwardable(p, "198.51.100.9", usize::MAX).expect("a piece walks again");
        assert_eq!(same.concat(), *p, "a second walk changed a piece");
        again += n;
        if let Ok(d) = forwarded_rows::traces(MessageType::OpenTelemetry, p, &mut Default::default()) {
            for r in forwarded_rows::spans(1, &d) {
                drop(serde_json::to_vec(&r));
            }
            let table = tables()
                .into_iter()
                .find(|t| t.name == "l7_flow_log")
                .expect("l7 table");
            let mut out = Vec::new();
            let rows = otel_l7::span_rows(1, &d);
            for r in &rows {
                assert!(otel_l7::encode(&table, r, 1, &mut out).is_empty(), "{r:?}");
            }
            metrics.add(&rows, true, &Default::default());
        }
    }
    assert_eq!(again, spans);
    for d in metrics.flush(0, true, 1) {
        drop(prost::Message::encode_to_vec(&d));
    }
});
