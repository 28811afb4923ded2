//! Decode cost per encapsulation (one frame, the innermost TCP segment with 100 bytes of payload).

use std::hint::black_box;
use std::net::IpAddr;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tapflow_analyzer::wire::build::{self, TcpSpec};
use tapflow_analyzer::wire::{
    decode, decode_link_into, plain_flow, DecodeConfig, LinkType, Packet, ETH_P_8021AD,
    ETH_P_8021Q, IPPROTO_GRE, IPPROTO_IPIP, IPPROTO_TCP, IPPROTO_UDP,
};

fn ip(s: &str) -> IpAddr {
    s.parse().expect("address")
}

fn frames() -> Vec<(&'static str, Vec<u8>)> {
    let (a, b) = (ip("10.0.0.1"), ip("10.0.0.2"));
    let spec = TcpSpec {
        src_port: 40000,
        dst_port: 80,
        seq: 1,
        ack: 1,
        flags: 0x18,
        window: 500,
        ..TcpSpec::default()
    };
    let inner_ip = build::ip(
        a,
        b,
        IPPROTO_TCP,
        1,
        64,
        &build::tcp(a, b, &spec, &[7u8; 100]),
    );
    let inner = build::ethernet_ip([2; 6], [4; 6], &[], &inner_ip);
    let (o1, o2) = (ip("192.0.2.1"), ip("192.0.2.2"));
    let (s1, s2) = (ip("2001:db8::1"), ip("2001:db8::2"));
    let outer = |s, d, proto, payload: &[u8]| {
        build::ethernet_ip([6; 6], [8; 6], &[], &build::ip(s, d, proto, 0, 64, payload))
    };
    let v6 = {
        let seg = build::tcp(s1, s2, &spec, &[7u8; 100]);
        build::ethernet_ip(
            [2; 6],
            [4; 6],
            &[],
            &build::ip(s1, s2, IPPROTO_TCP, 0, 64, &seg),
        )
    };
    vec![
        ("ethernet_ipv4_tcp", inner.clone()),
        ("ipv6_tcp", v6),
        (
            "vlan",
            build::ethernet_ip([2; 6], [4; 6], &[(ETH_P_8021Q, 100)], &inner_ip),
        ),
        (
            "qinq",
            build::ethernet_ip(
                [2; 6],
                [4; 6],
                &[(ETH_P_8021AD, 200), (ETH_P_8021Q, 100)],
                &inner_ip,
            ),
        ),
        (
            "vxlan",
            outer(
                o1,
                o2,
                IPPROTO_UDP,
                &build::udp(o1, o2, 5000, 4789, &build::vxlan(7, &inner)),
            ),
        ),
        (
            "vxlan_ipv6_outer",
            outer(
                s1,
                s2,
                IPPROTO_UDP,
                &build::udp(s1, s2, 5000, 4789, &build::vxlan(7, &inner)),
            ),
        ),
        (
            "geneve",
            outer(
                o1,
                o2,
                IPPROTO_UDP,
                &build::udp(o1, o2, 5000, 6081, &build::geneve(7, 2, &inner)),
            ),
        ),
        (
            "gre_key",
            outer(
                o1,
                o2,
                IPPROTO_GRE,
                &build::gre(0x0800, false, Some(5), None, &inner_ip),
            ),
        ),
        (
            "erspan2",
            outer(
                o1,
                o2,
                IPPROTO_GRE,
                &build::gre(0x88BE, false, None, Some(1), &build::erspan2(10, 0, &inner)),
            ),
        ),
        (
            "erspan3",
            outer(
                o1,
                o2,
                IPPROTO_GRE,
                &build::gre(
                    0x22EB,
                    false,
                    None,
                    Some(1),
                    &build::erspan3(11, 0, true, &inner),
                ),
            ),
        ),
        ("ipip", outer(o1, o2, IPPROTO_IPIP, &inner_ip)),
    ]
}

fn bench(c: &mut Criterion) {
    let cfg = DecodeConfig::default();
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(1));
    for (name, f) in frames() {
        assert!(decode(&f, &cfg).is_ok(), "{name}");
        g.bench_function(name, |b| {
            b.iter(|| black_box(decode(black_box(&f), &cfg)).is_ok())
        });
    }
    g.finish();
    // What the analyzer and the offline reader do: decode into a packet of their own.
    let mut g = c.benchmark_group("decode_in_place");
    g.throughput(Throughput::Elements(1));
    for (name, f) in frames() {
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut p = Packet::EMPTY;
                let ok = decode_link_into(black_box(&f), LinkType::Ethernet, &cfg, &mut p).is_ok();
                black_box(&p);
                ok
            })
        });
    }
    g.finish();
}

/// The same frames through a peer: etherparse's zero-copy slicer (Ethernet, VLAN, IP, TCP; it does
/// not look into tunnels, so only the plain frames are comparable).
fn peer(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode_peer_etherparse");
    g.throughput(Throughput::Elements(1));
    for (name, f) in frames() {
        if !matches!(name, "ethernet_ipv4_tcp" | "ipv6_tcp" | "vlan" | "qinq") {
            continue;
        }
        assert!(
            etherparse::SlicedPacket::from_ethernet(&f).is_ok(),
            "{name}"
        );
        g.bench_function(name, |b| {
            b.iter(|| black_box(etherparse::SlicedPacket::from_ethernet(black_box(&f))).is_ok())
        });
    }
    g.finish();
}

/// Decode once: what an analyzer pays for a frame another thread decoded (the offline reader,
/// the pipeline's capture workers) instead of decoding it again.
fn decoded(c: &mut Criterion) {
    let cfg = DecodeConfig::default();
    let mut g = c.benchmark_group("decoded_taken_over");
    g.throughput(Throughput::Elements(1));
    for (name, f) in frames() {
        if !matches!(name, "ethernet_ipv4_tcp" | "vxlan") {
            continue;
        }
        let p = decode(&f, &cfg).expect("decodes");
        let d = tapflow_analyzer::wire::Decoded::of(&p, &f, &cfg).expect("offsets");
        g.bench_function(name, |b| {
            b.iter(|| black_box(black_box(&d).packet(black_box(&f), &cfg)).is_some())
        });
    }
    g.finish();
}

/// Steering by headers (`analyze --workers`, the pipeline's capture side): a plain frame's flow
/// fields without decoding it; the tunnelled frames give None (the steering decodes them).
fn plain(c: &mut Criterion) {
    let cfg = DecodeConfig::default();
    let mut g = c.benchmark_group("plain_flow");
    g.throughput(Throughput::Elements(1));
    for (name, f) in frames() {
        if !matches!(
            name,
            "ethernet_ipv4_tcp" | "ipv6_tcp" | "vlan" | "qinq" | "vxlan"
        ) {
            continue;
        }
        assert_eq!(
            plain_flow(&f, LinkType::Ethernet, &cfg).is_some(),
            name != "vxlan"
        );
        g.bench_function(name, |b| {
            b.iter(|| black_box(plain_flow(black_box(&f), LinkType::Ethernet, &cfg)).is_some())
        });
    }
    g.finish();
}

criterion_group!(benches, bench, peer, decoded, plain);
criterion_main!(benches);
