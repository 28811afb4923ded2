//! TCP performance update: one data segment and its pure ACK through TcpPerf, and through the
//! flow's FlowPerf (the compact opening's check, then the pooled full state) as the engine does.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tapflow_analyzer::tcp::{FlowPerf, PerfPools, RangePool, TcpPerf};
use tapflow_analyzer::wire::{TcpFlags, TcpHeader};

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("tcp_perf");
    g.throughput(Throughput::Elements(2));
    let mut perf = TcpPerf::default();
    let mut pool = RangePool::new(64);
    let mut seq = 1000u32;
    let mut ts = 1_000_000_000u64;
    g.bench_function("data_then_ack", |b| {
        b.iter(|| {
            let data = TcpHeader {
                seq,
                ack: 1,
                flags: TcpFlags(TcpFlags::PSH | TcpFlags::ACK),
                window: 500,
                payload_len: 1000,
                ..TcpHeader::default()
            };
            perf.on_packet(0, ts, black_box(&data), &mut pool);
            let ack = TcpHeader {
                seq: 1,
                ack: seq.wrapping_add(1000),
                flags: TcpFlags(TcpFlags::ACK),
                window: 500,
                ..TcpHeader::default()
            };
            perf.on_packet(1, ts + 1000, black_box(&ack), &mut pool);
            seq = seq.wrapping_add(1000);
            ts += 2000;
        })
    });
    let mut flow = FlowPerf::default();
    let mut pools = PerfPools::new(64);
    let (mut seq, mut ts) = (1000u32, 1_000_000_000u64);
    g.bench_function("data_then_ack/flow_perf", |b| {
        b.iter(|| {
            let data = TcpHeader {
                seq,
                ack: 1,
                flags: TcpFlags(TcpFlags::PSH | TcpFlags::ACK),
                window: 500,
                payload_len: 1000,
                ..TcpHeader::default()
            };
            flow.on_packet(0, ts, black_box(&data), &mut pools);
            let ack = TcpHeader {
                seq: 1,
                ack: seq.wrapping_add(1000),
                flags: TcpFlags(TcpFlags::ACK),
                window: 500,
                ..TcpHeader::default()
            };
            flow.on_packet(1, ts + 1000, black_box(&ack), &mut pools);
            seq = seq.wrapping_add(1000);
            ts += 2000;
        })
    });
    // A scan's flow: a fresh state, one SYN, its row's interval taken.
    let syn = TcpHeader {
        seq: 7,
        flags: TcpFlags(TcpFlags::SYN),
        window: 500,
        ..TcpHeader::default()
    };
    g.bench_function("syn_of_a_new_flow/tcp_perf", |b| {
        b.iter(|| {
            let mut p = TcpPerf::default();
            p.on_packet(0, ts, black_box(&syn), &mut pool);
            black_box(p.take_interval())
        })
    });
    g.bench_function("syn_of_a_new_flow/flow_perf", |b| {
        b.iter(|| {
            let mut p = FlowPerf::default();
            p.on_packet(0, ts, black_box(&syn), &mut pools);
            black_box(p.take_interval(&mut pools))
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
