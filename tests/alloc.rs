//! The per-packet path allocates nothing in steady state: a counting global allocator watches the
//! analyzer process a warmed-up flow set (records go to a sink that does not allocate).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use tapflow_analyzer::l7::L7Protocol;
use tapflow_analyzer::{Analyzer, AnalyzerConfig, Frame, PacketMeta, RecordRef, RecordSink};
use tapflow_bench::gen::{generate, Encap, GenSpec, Scenario};
use tapflow_dataplane::pcap::PcapReader;

struct Counting;
static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Counts rows without keeping them: (l4, l7).
struct CountSink(u64, u64);
impl RecordSink for CountSink {
    fn record(&mut self, rec: RecordRef<'_>) {
        match rec {
            RecordRef::L4FlowLog(_) => self.0 += 1,
            RecordRef::L7FlowLog(_) => self.1 += 1,
            _ => {}
        }
    }
}

#[test]
fn no_allocation_per_packet() {
    // Every scenario in VXLAN: tunnels, retransmissions, resets, port reuse, UDP.
    let spec = GenSpec {
        flows: 2400,
        encap: Encap::Vxlan,
        scenarios: Scenario::ALL.to_vec(),
        ..GenSpec::default()
    };
    let mut pcap = Vec::new();
    generate(&spec, &mut pcap, None).expect("generate");
    let mut frames: Vec<(PacketMeta, Vec<u8>)> = Vec::new();
    let mut r = PcapReader::from_reader(Box::new(std::io::Cursor::new(pcap)), 0).expect("pcap");
    while let Some(f) = r.next_frame().expect("frame") {
        frames.push((f.meta, f.data.to_vec()));
    }
    // Every protocol tapflow parses, also those off by default (PostgreSQL, memcached, MongoDB).
    let mut cfg = AnalyzerConfig::default();
    for p in L7Protocol::ALL {
        cfg.l7.enabled.insert(*p);
    }
    let mut an = Analyzer::new(cfg);
    let mut sink = CountSink(0, 0);
    // Warm-up: the first half grows the slab, free list and timer links to their working size.
    let half = frames.len() / 2;
    for (m, d) in &frames[..half] {
        an.on_packet(m, d, &mut sink);
    }
    // Measured: the worker loop's path, bursts of 64 analysed with look-ahead.
    let burst: Vec<Frame<'_>> = frames[half..]
        .iter()
        .map(|(meta, data)| Frame {
            meta: *meta,
            data,
            decoded: None,
        })
        .collect();
    let before = ALLOCS.load(Ordering::Relaxed);
    for chunk in burst.chunks(64) {
        an.on_burst(chunk, &mut sink, tapflow_dataplane::sys::prefetch::prefetch);
    }
    an.finish(&mut sink);
    let allocs = ALLOCS.load(Ordering::Relaxed) - before;
    eprintln!("{allocs} allocations for {} packets", frames.len() - half);
    assert!(sink.0 > 1000, "rows: {}", sink.0);
    // The L7 path (inference, reassembly, pairing, request rows) ran too.
    assert!(sink.1 > 100, "l7 rows: {}", sink.1);
    eprintln!("{} l4 rows, {} l7 rows", sink.0, sink.1);
    // Slab and timer links may still grow to their reserved capacity (no reallocation: the
    // capacity was reserved up front), so only a handful of calls are tolerated, never per packet.
    assert!(
        allocs <= 4,
        "{allocs} allocations for {} packets",
        frames.len() - half
    );
}
