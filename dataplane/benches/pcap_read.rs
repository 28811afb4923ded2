//! Reading a capture file: tapflow's reader (the bursts `tapflow analyze` takes, and one frame
//! at a time) against pcap-parser's streaming reader (the peer: rusticata's nom-based parser,
//! what most Rust tools read pcap with) and against the floor, the kernel copying the file into
//! a buffer with nothing parsed. Each reads a whole file from the page cache and touches every
//! frame's first byte and length; per frame, on two files written by the bench itself: 200,000
//! minimum-size frames (the small-packet input's shape) and 20,000 frames of 64, 600 and 1,514
//! bytes in turn.
//!
//!   taskset -c 1 cargo bench -p tapflow-dataplane --bench pcap_read

use std::fs::File;
use std::hint::black_box;
use std::io::{BufWriter, Read};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{LegacyPcapReader, PcapBlockOwned, PcapError};
use tapflow_analyzer::wire::build;
use tapflow_dataplane::pcap::{PcapReader, PcapWriter};
use tapflow_dataplane::{Burst, PacketSource};

/// Bytes pcap-parser's reader and the floor ask the kernel for at a time (tapflow's own
/// refill size).
const BUFFER: usize = 256 << 10;

/// Where in its buffer the floor reads: 2 KiB past a page boundary. The kernel's copy runs at
/// about half speed on this project's machine when the destination's offset in its page is
/// within about 128 bytes of the source's (a buffer fresh from the allocator lies 16 bytes past
/// a page boundary, the file's pages at 0): docs/perf.md.
const FLOOR_AT: usize = 2048;

/// An Ethernet/IPv4/UDP frame of `len` bytes (at least 60), flow `i`.
fn frame(i: u32, len: usize) -> Vec<u8> {
    let src = IpAddr::from([10, 1, (i >> 8) as u8, i as u8]);
    let dst = IpAddr::from([10, 200, 0, (i % 64) as u8 + 1]);
    let payload = vec![0x5a; len.saturating_sub(42)];
    let udp = build::udp(src, dst, 40_000 + (i % 20_000) as u16, 9_999, &payload);
    build::ethernet_ip([2; 6], [4; 6], &[], &build::ip(src, dst, 17, 0, 64, &udp))
}

/// Writes `n` frames whose lengths cycle through `lens` to a file in the temporary directory.
fn write_capture(name: &str, n: u32, lens: &[usize]) -> PathBuf {
    let path =
        std::env::temp_dir().join(format!("tapflow-bench-{}-{name}.pcap", std::process::id()));
    let out = BufWriter::new(File::create(&path).expect("create capture"));
    let mut w = PcapWriter::new(out).expect("pcap header");
    let frames: Vec<Vec<u8>> = lens
        .iter()
        .enumerate()
        .map(|(j, &len)| frame(j as u32, len))
        .collect();
    for i in 0..n {
        let f = &frames[i as usize % frames.len()];
        w.write(1_700_000_000_000_000_000 + u64::from(i) * 1_000, f)
            .expect("write frame");
    }
    w.finish().expect("flush capture");
    path
}

/// tapflow's reader as `analyze` drives it: bursts of frames lying in its blocks.
fn tapflow_bursts(path: &Path) -> u64 {
    let mut r = PcapReader::open(path, 0).expect("open");
    let mut sum = 0u64;
    loop {
        let burst = r
            .poll_burst_slices(|frames| {
                for f in frames.iter() {
                    sum += f.data.len() as u64 + u64::from(f.data[0]);
                }
            })
            .expect("read");
        if burst == Burst::End {
            return sum;
        }
    }
}

/// tapflow's reader one frame at a time.
fn tapflow_next_frame(path: &Path) -> u64 {
    let mut r = PcapReader::open(path, 0).expect("open");
    let mut sum = 0u64;
    while let Some(f) = r.next_frame().expect("read") {
        sum += f.data.len() as u64 + u64::from(f.data[0]);
    }
    sum
}

/// pcap-parser's streaming reader, as its documentation drives it.
fn pcap_parser(path: &Path) -> u64 {
    let file = File::open(path).expect("open");
    let mut r = LegacyPcapReader::new(BUFFER, file).expect("pcap header");
    let mut sum = 0u64;
    loop {
        match r.next() {
            Ok((offset, block)) => {
                if let PcapBlockOwned::Legacy(b) = block {
                    sum += b.data.len() as u64 + u64::from(b.data[0]);
                }
                r.consume(offset);
            }
            Err(PcapError::Eof) => return sum,
            Err(PcapError::Incomplete(_)) => r.refill().expect("refill"),
            Err(e) => panic!("pcap-parser: {e:?}"),
        }
    }
}

/// The floor: the file copied into a buffer, nothing parsed (at the copy's fast alignment).
fn read_floor(path: &Path, buf: &mut [u8]) -> u64 {
    let mut file = File::open(path).expect("open");
    let mut sum = 0u64;
    loop {
        let n = file
            .read(&mut buf[FLOOR_AT..FLOOR_AT + BUFFER])
            .expect("read");
        if n == 0 {
            return sum;
        }
        sum += n as u64 + u64::from(buf[FLOOR_AT]);
    }
}

fn bench(c: &mut Criterion) {
    let inputs = [
        (
            "64_byte_frames",
            200_000u32,
            write_capture("small", 200_000, &[64]),
        ),
        (
            "mixed_sizes",
            20_000,
            write_capture("mixed", 20_000, &[64, 600, 1514]),
        ),
    ];
    let mut buf = vec![0u8; FLOOR_AT + BUFFER];
    for (name, frames, path) in &inputs {
        // Every reader must see the same frames.
        let expected = tapflow_bursts(path);
        assert_eq!(tapflow_next_frame(path), expected);
        assert_eq!(pcap_parser(path), expected);
        let mut g = c.benchmark_group(format!("pcap_read/{name}"));
        g.throughput(Throughput::Elements(u64::from(*frames)));
        g.sample_size(20);
        g.bench_function("tapflow_bursts", |b| {
            b.iter(|| black_box(tapflow_bursts(black_box(path))))
        });
        g.bench_function("tapflow_next_frame", |b| {
            b.iter(|| black_box(tapflow_next_frame(black_box(path))))
        });
        g.bench_function("pcap-parser", |b| {
            b.iter(|| black_box(pcap_parser(black_box(path))))
        });
        g.bench_function("read_floor", |b| {
            b.iter(|| black_box(read_floor(black_box(path), &mut buf)))
        });
        g.finish();
    }
    for (_, _, path) in &inputs {
        let _ = std::fs::remove_file(path);
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
