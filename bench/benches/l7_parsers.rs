//! Messages per second of each L7 parser, through the whole analyzer (decode, flow table,
//! reassembly, inference, parsing, pairing, rows to a sink that drops them), on generated
//! conversations of that protocol alone (400 connections, replayed again and again later in time
//! through one warm analyzer, so pools and tables are at their working size); and the same frames
//! with L7 off, the floor the parser adds to. A message is a request or a response
//! (`l7.requests + l7.responses`).
//!
//!   cargo bench -p tapflow-bench --bench l7_parsers

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tapflow_analyzer::l7::L7Protocol;
use tapflow_analyzer::{Analyzer, AnalyzerConfig, PacketMeta, RecordRef, RecordSink};
use tapflow_bench::gen::{generate, GenSpec, Scenario};
use tapflow_dataplane::pcap::PcapReader;

struct Discard;
impl RecordSink for Discard {
    fn record(&mut self, _: RecordRef<'_>) {}
}

/// The scenario that carries each protocol, and the protocol.
const CASES: [(Scenario, L7Protocol); 24] = [
    (Scenario::Web, L7Protocol::Http1),
    (Scenario::Dns, L7Protocol::Dns),
    (Scenario::Tls, L7Protocol::Tls),
    (Scenario::Grpc, L7Protocol::Http2),
    (Scenario::Mysql, L7Protocol::Mysql),
    (Scenario::Postgres, L7Protocol::Postgres),
    (Scenario::Redis, L7Protocol::Redis),
    (Scenario::Memcached, L7Protocol::Memcached),
    (Scenario::Mongo, L7Protocol::Mongo),
    (Scenario::Kafka, L7Protocol::Kafka),
    (Scenario::Mqtt, L7Protocol::Mqtt),
    (Scenario::Nats, L7Protocol::Nats),
    (Scenario::Amqp, L7Protocol::Amqp),
    (Scenario::Dubbo, L7Protocol::Dubbo),
    (Scenario::SofaRpc, L7Protocol::SofaRpc),
    (Scenario::Tars, L7Protocol::Tars),
    (Scenario::Brpc, L7Protocol::Brpc),
    (Scenario::SomeIp, L7Protocol::SomeIp),
    (Scenario::FastCgi, L7Protocol::FastCgi),
    (Scenario::Zmtp, L7Protocol::Zmtp),
    (Scenario::OpenWire, L7Protocol::OpenWire),
    (Scenario::Pulsar, L7Protocol::Pulsar),
    (Scenario::RocketMq, L7Protocol::RocketMq),
    (Scenario::Ping, L7Protocol::Ping),
];

fn frames(s: Scenario) -> Vec<(PacketMeta, Vec<u8>)> {
    let spec = GenSpec {
        flows: 400,
        scenarios: vec![s],
        ..GenSpec::default()
    };
    let mut pcap = Vec::new();
    generate(&spec, &mut pcap, None).expect("generate");
    let mut r = PcapReader::from_reader(Box::new(std::io::Cursor::new(pcap)), 0).expect("pcap");
    let mut out = Vec::new();
    while let Some(f) = r.next_frame().expect("frame") {
        out.push((f.meta, f.data.to_vec()));
    }
    out
}

/// Feeds `frames` `offset_ns` later than captured.
fn feed(an: &mut Analyzer, frames: &[(PacketMeta, Vec<u8>)], offset_ns: u64) {
    for (m, d) in frames {
        let m = PacketMeta {
            ts_ns: m.ts_ns + offset_ns,
            ..*m
        };
        an.on_packet(&m, black_box(d), &mut Discard);
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("l7_parsers");
    g.measurement_time(Duration::from_secs(3));
    g.sample_size(20);
    for (scenario, proto) in CASES {
        let frames = frames(scenario);
        let mut on = AnalyzerConfig::default();
        on.l7.enabled.insert(proto);
        let mut off = AnalyzerConfig::default();
        off.l7.enabled = Default::default();
        let mut probe = Analyzer::new(on.clone());
        feed(&mut probe, &frames, 0);
        probe.finish(&mut Discard);
        let counts = probe.counters().l7;
        let messages = counts.requests + counts.responses;
        // Each replay starts after the previous one's flows ended and timed out.
        let span = frames.last().map_or(0, |f| f.0.ts_ns) - frames[0].0.ts_ns + 600_000_000_000;
        assert!(messages > 0 && counts.parse_errors == 0, "{}", proto.name());
        g.throughput(Throughput::Elements(messages));
        for (name, cfg) in [("parser", &on), ("l4_floor", &off)] {
            let mut an = Analyzer::new(cfg.clone());
            let mut offset = 0;
            // Warm: pools, tables and timers at their working size.
            feed(&mut an, &frames, offset);
            g.bench_function(format!("{}/{name}", proto.name()), |b| {
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    for _ in 0..iters {
                        offset += span;
                        feed(&mut an, &frames, offset);
                    }
                    start.elapsed()
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
