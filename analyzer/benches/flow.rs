//! Flow-table cost at 10 k and 1 M flows: a packet of an existing flow (lookup + update, the
//! whole per-packet path), and inserting then removing a flow in a table holding N flows.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tapflow_analyzer::flow::{Direction, Endpoint, Flow, FlowKey, FlowTable};
use tapflow_analyzer::wire::build::{self, TcpSpec};
use tapflow_analyzer::{Analyzer, AnalyzerConfig, PacketMeta, RecordRef, RecordSink};

struct Discard;
impl RecordSink for Discard {
    fn record(&mut self, _: RecordRef<'_>) {}
}

fn client(i: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i))
}

fn frame(i: u32, flags: u8) -> Vec<u8> {
    let (a, b) = (client(i), IpAddr::V4(Ipv4Addr::new(10, 200, 0, 1)));
    let spec = TcpSpec {
        src_port: 40000 + (i % 20000) as u16,
        dst_port: 80,
        seq: 1,
        ack: 1,
        flags,
        window: 500,
        ..TcpSpec::default()
    };
    build::tcp_frame_with(a, b, &spec, &[1u8; 64])
}

fn lookup_update(c: &mut Criterion) {
    let mut g = c.benchmark_group("flow_packet_existing");
    g.throughput(Throughput::Elements(1));
    for n in [10_000u32, 1_000_000] {
        let cfg = AnalyzerConfig {
            flow_capacity: n + 1024,
            ..AnalyzerConfig::default()
        };
        let mut an = Analyzer::new(cfg);
        let mut ts = 1_700_000_000_000_000_000u64;
        for i in 0..n {
            let f = frame(i, 0x18);
            an.on_packet(
                &PacketMeta {
                    ts_ns: ts,
                    wire_len: f.len() as u32,
                    cap_len: f.len() as u32,
                    ..PacketMeta::default()
                },
                &f,
                &mut Discard,
            );
        }
        // 4096 frames of flows spread over the table (cache misses like real traffic).
        let probes: Vec<Vec<u8>> = (0..4096u32)
            .map(|k| frame((k.wrapping_mul(2_654_435_761)) % n, 0x18))
            .collect();
        let mut k = 0usize;
        g.bench_function(format!("{n}_flows"), |b| {
            b.iter(|| {
                let f = &probes[k & 4095];
                k += 1;
                ts += 1000;
                an.on_packet(
                    &PacketMeta {
                        ts_ns: ts,
                        wire_len: f.len() as u32,
                        cap_len: f.len() as u32,
                        ..PacketMeta::default()
                    },
                    black_box(f),
                    &mut Discard,
                );
            })
        });
        assert!(an.active_flows() as u32 >= n);
    }
    g.finish();
}

/// Key of the i-th synthetic flow of the insert/remove benchmarks.
fn key(i: u32) -> FlowKey {
    let mut ip = [0u8; 16];
    ip[..4].copy_from_slice(&i.to_be_bytes());
    FlowKey::new(
        Endpoint { ip, port: 1000 },
        Endpoint {
            ip: [9; 16],
            port: 80,
        },
        6,
        false,
        (0, 0),
        (3, 0),
    )
}

fn insert_remove(c: &mut Criterion) {
    let mut g = c.benchmark_group("flow_table_insert_remove");
    g.throughput(Throughput::Elements(1));
    for n in [10_000u32, 1_000_000] {
        let mut t = FlowTable::new(n + 16, 300_000_000_000);
        let dir = Direction {
            server: 1,
            score: 0,
        };
        for i in 0..n {
            let k = key(i);
            let h = t.hash(&k);
            let flow = Flow::new(&k, i, [k.lo, k.hi], 0, dir);
            t.insert(flow, &k, h).expect("room");
        }
        let mut next = n;
        // Includes building the key and hashing it: what creating a flow costs.
        g.bench_function(format!("{n}_flows"), |b| {
            b.iter(|| {
                next += 1;
                let k = key(next);
                let h = t.hash(&k);
                let idx = t
                    .insert(Flow::new(&k, 0, [k.lo, k.hi], 0, dir), &k, h)
                    .expect("room");
                t.remove(black_box(idx));
            })
        });
    }
    g.finish();
}

/// Peer for `flow_table_insert_remove`: std's HashMap (SwissTable, SipHash) holding the same
/// `Flow` values, preallocated to the same capacity, same key building and flow construction.
fn insert_remove_std_hashmap(c: &mut Criterion) {
    let mut g = c.benchmark_group("flow_table_insert_remove_peer_std_hashmap");
    g.throughput(Throughput::Elements(1));
    let dir = Direction {
        server: 1,
        score: 0,
    };
    for n in [10_000u32, 1_000_000] {
        let mut t: std::collections::HashMap<FlowKey, Flow> =
            std::collections::HashMap::with_capacity(n as usize + 16);
        for i in 0..n {
            let k = key(i);
            t.insert(k, Flow::new(&k, i, [k.lo, k.hi], 0, dir));
        }
        let mut next = n;
        g.bench_function(format!("{n}_flows"), |b| {
            b.iter(|| {
                next += 1;
                let k = key(next);
                t.insert(k, Flow::new(&k, 0, [k.lo, k.hi], 0, dir));
                black_box(t.remove(black_box(&k)));
            })
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    lookup_update,
    insert_remove,
    insert_remove_std_hashmap
);
criterion_main!(benches);
