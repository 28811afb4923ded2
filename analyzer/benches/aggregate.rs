//! `flow_metrics` aggregation of l4 rows (`aggregate::Aggregator::add`): the three keyed
//! meters a flow row adds to (the client -> server path, each end), for rows whose keys the
//! tables know and for rows of new clients once the tables are full (a scan or a SYN flood:
//! every row refused but the server's). The peer: std's `HashMap` (SipHash) keyed by the same
//! tags, adding the same meters.
//!
//!   cargo bench -p tapflow-analyzer --bench aggregate

use std::collections::HashMap;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tapflow_analyzer::aggregate::{network_key, Aggregator, MetricsConfig};
use tapflow_analyzer::metrics::doc::{FlowMeter, Tags, DIRECTION_SERVER};
use tapflow_analyzer::metrics::histogram::BucketPool;
use tapflow_analyzer::wire::build::{self, TcpSpec};
use tapflow_analyzer::{Analyzer, AnalyzerConfig, L4FlowLog, PacketMeta, RecordRef};

/// A closed web flow's row, as the analyzer makes it.
fn web_row() -> L4FlowLog {
    let (a, b) = (
        "10.1.0.1".parse().expect("address"),
        "10.200.0.1".parse().expect("address"),
    );
    let mut frames = Vec::new();
    for (i, (s, d, sp, dp, flags)) in [
        (a, b, 49152, 443, 0x02),
        (b, a, 443, 49152, 0x12),
        (a, b, 49152, 443, 0x10),
        (a, b, 49152, 443, 0x11),
        (b, a, 443, 49152, 0x11),
    ]
    .into_iter()
    .enumerate()
    {
        let spec = TcpSpec {
            src_port: sp,
            dst_port: dp,
            seq: 1 + i as u32,
            ack: 1 + i as u32,
            flags,
            window: 64240,
            ..TcpSpec::default()
        };
        let ip = build::ip(s, d, 6, 0, 64, &build::tcp(s, d, &spec, b""));
        frames.push(build::ethernet_ip([2; 6], [4; 6], &[], &ip));
    }
    let mut an = Analyzer::new(AnalyzerConfig::default());
    let mut out = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        let meta = PacketMeta {
            ts_ns: 1_700_000_000_000_000_000 + i as u64 * 1_000_000,
            wire_len: f.len() as u32,
            cap_len: f.len() as u32,
            ..PacketMeta::default()
        };
        an.on_packet(&meta, f, &mut out);
    }
    an.finish(&mut out);
    out.remove(0)
}

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

/// `base` from client `c` to server `s`.
fn between(base: &L4FlowLog, c: u32, s: u8) -> L4FlowLog {
    let mut r = *base;
    let [_, x, y, z] = c.to_be_bytes();
    r.peers.ip_0 = v4(10, x, y, z.max(1));
    r.peers.ip_1 = v4(10, 200, 0, s);
    r
}

/// What `Aggregator::add` does for a row, with std's `HashMap` for the tables.
fn peer_add(
    network_map: &mut HashMap<Tags, FlowMeter>,
    network: &mut HashMap<Tags, FlowMeter>,
    r: &L4FlowLog,
    pool: &mut BucketPool,
) {
    let mut tags = network_key(r, r.peers.server_port);
    tags.ip_1 = Some(r.peers.ip_1);
    network_map
        .entry(tags.clone())
        .or_default()
        .add_row(r, false, pool);
    tags.ip_1 = None;
    network
        .entry(tags.clone())
        .or_default()
        .add_row(r, false, pool);
    tags.ip = r.peers.ip_1;
    tags.direction = DIRECTION_SERVER;
    network.entry(tags).or_default().add_row(r, true, pool);
}

fn bench(c: &mut Criterion) {
    let base = web_row();
    // 64 services, 16 clients each: 1,024 paths, 80 ends; every key known after the first
    // round.
    let known: Vec<L4FlowLog> = (0..1024u32)
        .map(|i| between(&base, i / 64 + 1, (i % 64) as u8 + 1))
        .collect();
    // New clients of one service, the tables full (4,096 keys, the lowest ranks of 65,536):
    // two of the three keys of most rows refused (a full table keeps its keys of lowest rank;
    // about one new key in sixteen ranks below its highest and takes that one's place).
    let fresh: Vec<L4FlowLog> = (0..256u32)
        .map(|i| between(&base, 100_000 + i, 1))
        .collect();
    let mut g = c.benchmark_group("flow_metrics_add");
    g.throughput(Throughput::Elements(1));
    {
        let mut agg = Aggregator::new(MetricsConfig::default());
        let mut i = 0;
        g.bench_function("tapflow/known_keys", |b| {
            b.iter(|| {
                agg.add(RecordRef::L4FlowLog(black_box(&known[i % known.len()])));
                i += 1;
            })
        });
    }
    {
        let (mut map, mut ends) = (HashMap::new(), HashMap::new());
        let mut pool = BucketPool::default();
        let mut i = 0;
        g.bench_function("std_hashmap/known_keys", |b| {
            b.iter(|| {
                peer_add(
                    &mut map,
                    &mut ends,
                    black_box(&known[i % known.len()]),
                    &mut pool,
                );
                i += 1;
            })
        });
    }
    {
        let mut agg = Aggregator::new(MetricsConfig::default());
        for c in 0..65_536 {
            agg.add(RecordRef::L4FlowLog(&between(&base, c + 1, 2)));
        }
        let mut i = 0;
        g.bench_function("tapflow/tables_full", |b| {
            b.iter(|| {
                agg.add(RecordRef::L4FlowLog(black_box(&fresh[i % fresh.len()])));
                i += 1;
            })
        });
        assert!(agg.counters().key_overflow > 0, "the tables were full");
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
