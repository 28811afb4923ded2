//! DNS message decoding per message: a query and a compressed response (CNAME + 2 A + AAAA), with
//! the `dns-parser` crate (which allocates its question and answer lists) as peer.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tapflow_analyzer::l7::dns;

fn name(v: &mut Vec<u8>, name: &str) {
    for label in name.split('.') {
        v.push(label.len() as u8);
        v.extend_from_slice(label.as_bytes());
    }
    v.push(0);
}

fn header(id: u16, flags: u16, an: u16) -> Vec<u8> {
    let mut v = Vec::new();
    for w in [id, flags, 1, an, 0, 0] {
        v.extend_from_slice(&w.to_be_bytes());
    }
    v
}

fn messages() -> [(&'static str, Vec<u8>); 2] {
    let mut q = header(0x1234, 0x0100, 0);
    name(&mut q, "api.payments.example.com");
    q.extend_from_slice(&[0, 1, 0, 1]);
    let mut r = header(0x1234, 0x8180, 4);
    name(&mut r, "api.payments.example.com");
    r.extend_from_slice(&[0, 1, 0, 1]);
    let mut rr = |rtype: u16, rdata: &[u8]| {
        r.extend_from_slice(&[0xc0, 12]);
        r.extend_from_slice(&rtype.to_be_bytes());
        r.extend_from_slice(&[0, 1, 0, 0, 0, 60]);
        r.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        r.extend_from_slice(rdata);
    };
    rr(5, &[4, b'e', b'd', b'g', b'e', 0xc0, 25]);
    rr(1, &[192, 0, 2, 1]);
    rr(1, &[192, 0, 2, 2]);
    rr(
        28,
        &[0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
    );
    [("query", q), ("response", r)]
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("l7_dns");
    g.throughput(Throughput::Elements(1));
    for (kind, m) in messages() {
        assert!(dns::parse_message(&m).is_ok(), "{kind}");
        assert!(dns_parser::Packet::parse(&m).is_ok(), "{kind}");
        g.bench_function(format!("tapflow/{kind}"), |b| {
            b.iter(|| black_box(dns::parse_message(black_box(&m))).is_ok())
        });
        g.bench_function(format!("peer_dns_parser/{kind}"), |b| {
            b.iter(|| black_box(dns_parser::Packet::parse(black_box(&m))).is_ok())
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
