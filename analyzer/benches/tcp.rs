//! TCP performance update: one data segment and its pure ACK through TcpPerf, and through the
//! flow's FlowPerf (the compact opening's check, then the pooled full state) as the engine does;
//! a new flow's SYN through each.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tapflow_analyzer::tcp::{FlowPerf, PerfPools, RangePool, TcpPerf};
use tapflow_analyzer::wire::{TcpFlags, TcpHeader};

/// The next exchange of a bulk transfer: 1,000 bytes of PSH/ACK data from endpoint 0 at
/// `ts`, and endpoint 1's pure ACK of it 1 µs later. Advances `seq` and `ts`.
fn exchange(seq: &mut u32, ts: &mut u64) -> [(usize, u64, TcpHeader); 2] {
    let data = TcpHeader {
        seq: *seq,
        ack: 1,
        flags: TcpFlags(TcpFlags::PSH | TcpFlags::ACK),
        window: 500,
        payload_len: 1000,
        ..TcpHeader::default()
    };
    let ack = TcpHeader {
        seq: 1,
        ack: seq.wrapping_add(1000),
        flags: TcpFlags(TcpFlags::ACK),
        window: 500,
        ..TcpHeader::default()
    };
    let out = [(0, *ts, data), (1, *ts + 1000, ack)];
    *seq = seq.wrapping_add(1000);
    *ts += 2000;
    out
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("tcp_perf");
    g.throughput(Throughput::Elements(2));
    let mut perf = TcpPerf::default();
    let mut pool = RangePool::new(64);
    let (mut seq, mut ts) = (1000u32, 1_000_000_000u64);
    g.bench_function("data_then_ack", |b| {
        b.iter(|| {
            for (side, t, h) in exchange(&mut seq, &mut ts) {
                perf.on_packet(side, t, black_box(&h), &mut pool);
            }
        })
    });
    let mut flow = FlowPerf::default();
    let mut pools = PerfPools::new(64);
    let (mut seq, mut ts) = (1000u32, 1_000_000_000u64);
    g.bench_function("data_then_ack/flow_perf", |b| {
        b.iter(|| {
            for (side, t, h) in exchange(&mut seq, &mut ts) {
                flow.on_packet(side, t, black_box(&h), &mut pools);
            }
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
