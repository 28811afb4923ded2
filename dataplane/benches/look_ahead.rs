//! The analyzer's look-ahead over a burst (`Analyzer::on_burst`): frames of established TCP
//! flows spread over a table of 10,000 or 1,000,000 flows, analysed three ways, per frame:
//! one at a time (`on_packet`, no look-ahead), in bursts of 32 with a prefetch that does nothing
//! (inlined away, with the stages' reads that only fed it: the burst loop alone), and in bursts
//! of 32 with the CPU's prefetch (`sys::prefetch`, inlined as in the worker loop). The
//! difference between the last two is what the prefetched bucket, flow slot, timer link and
//! state blocks save.
//!
//! The tables sit in transparent huge pages where the system allows, as in `tapflow` (the same
//! allocator; `TAPFLOW_HUGE_PAGES=0` for 4 KiB pages).
//!
//!   taskset -c 1 cargo bench -p tapflow-dataplane --bench look_ahead

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tapflow_analyzer::wire::build::{self, TcpSpec};
use tapflow_analyzer::{Analyzer, AnalyzerConfig, Frame, PacketMeta, RecordRef, RecordSink};
use tapflow_dataplane::sys::huge_pages::HugePageAlloc;
use tapflow_dataplane::sys::prefetch::prefetch;

/// tapflow's allocator (huge pages for the large tables).
#[global_allocator]
static ALLOC: HugePageAlloc = HugePageAlloc::new();

/// Frames per burst (the worker loop's burst).
const BURST: usize = 32;
/// Frames probed, in order, round and round (128 bursts).
const PROBES: usize = 4096;

struct Discard;
impl RecordSink for Discard {
    fn record(&mut self, _: RecordRef<'_>) {}
}

/// A data segment of flow `i` (client 10.x.y.z, port by `i`, to 10.200.0.1:80).
fn frame(i: u32) -> Vec<u8> {
    let a = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
    let b = IpAddr::V4(Ipv4Addr::new(10, 200, 0, 1));
    let spec = TcpSpec {
        src_port: 40000 + (i % 20000) as u16,
        dst_port: 80,
        seq: 1,
        ack: 1,
        flags: 0x18,
        window: 500,
        ..TcpSpec::default()
    };
    build::tcp_frame_with(a, b, &spec, &[1u8; 64])
}

fn meta(data: &[u8], ts_ns: u64) -> PacketMeta {
    PacketMeta {
        ts_ns,
        wire_len: data.len() as u32,
        cap_len: data.len() as u32,
        ..PacketMeta::default()
    }
}

fn look_ahead(c: &mut Criterion) {
    if std::env::var("TAPFLOW_HUGE_PAGES").is_ok_and(|v| v == "0") {
        ALLOC.set_enabled(false);
    }
    let mut g = c.benchmark_group("look_ahead");
    g.throughput(Throughput::Elements(BURST as u64));
    for n in [10_000u32, 1_000_000] {
        let mut an = Analyzer::new(AnalyzerConfig {
            flow_capacity: n + 1024,
            ..AnalyzerConfig::default()
        });
        // Time moves 100 ns a frame: no flow times out and no minute ends while measured.
        let mut ts = 1_700_000_000_000_000_000u64;
        for i in 0..n {
            let f = frame(i);
            an.on_packet(&meta(&f, ts), &f, &mut Discard);
        }
        // Flows spread over the table, in an order the CPU cannot guess.
        let probes: Vec<Vec<u8>> = (0..PROBES as u32)
            .map(|k| frame(k.wrapping_mul(2_654_435_761) % n))
            .collect();
        let mut frames: Vec<Frame<'_>> = probes
            .iter()
            .map(|p| Frame {
                meta: meta(p, 0),
                data: p,
                decoded: None,
            })
            .collect();
        let mut next = 0usize;
        g.bench_function(format!("{n}_flows/frame_by_frame"), |b| {
            b.iter(|| {
                for f in &frames[next..next + BURST] {
                    ts += 100;
                    an.on_packet(&meta(f.data, ts), black_box(f.data), &mut Discard);
                }
                next = (next + BURST) % PROBES;
            })
        });
        let mut state = Probed {
            an: &mut an,
            frames: &mut frames,
            next,
            ts,
        };
        state.bursts(&mut g, format!("{n}_flows/burst_no_prefetch"), |_| {});
        state.bursts(&mut g, format!("{n}_flows/burst_prefetch"), prefetch);
        assert!(
            an.active_flows() as u32 >= n,
            "flows timed out while measured"
        );
    }
    g.finish();
}

/// The analyzer and its probe frames, measured burst by burst.
struct Probed<'a, 'f> {
    an: &'a mut Analyzer,
    frames: &'a mut [Frame<'f>],
    next: usize,
    ts: u64,
}

impl Probed<'_, '_> {
    /// Bursts of [`BURST`] probes through `on_burst` with `hint` as the prefetch (a generic,
    /// inlined as in the worker loop).
    fn bursts(
        &mut self,
        g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
        name: String,
        hint: impl Fn(*const u8) + Copy,
    ) {
        g.bench_function(name, |b| {
            b.iter(|| {
                let burst = &mut self.frames[self.next..self.next + BURST];
                for f in burst.iter_mut() {
                    self.ts += 100;
                    f.meta.ts_ns = self.ts;
                }
                self.an.on_burst(black_box(burst), &mut Discard, hint);
                self.next = (self.next + BURST) % PROBES;
            })
        });
    }
}

criterion_group!(benches, look_ahead);
criterion_main!(benches);
