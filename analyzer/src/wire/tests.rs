//! Decoder unit tests: every layer and tunnel, truncation at every length, impossible lengths,
//! and a differential check against etherparse.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::build::{self, TcpSpec};
use super::*;

const MAC_A: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0a];
const MAC_B: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0b];

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}
fn v6(last: u16) -> IpAddr {
    IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, last))
}

fn syn_spec() -> TcpSpec {
    TcpSpec {
        src_port: 40000,
        dst_port: 80,
        seq: 1000,
        ack: 0,
        flags: TcpFlags::SYN,
        window: 64240,
        mss: 1460,
        window_scale: Some(7),
        sack_permitted: true,
        timestamps: Some((111, 0)),
    }
}

fn tcp_ip(src: IpAddr, dst: IpAddr, payload: &[u8]) -> Vec<u8> {
    let seg = build::tcp(src, dst, &syn_spec(), payload);
    build::ip(src, dst, IPPROTO_TCP, 7, 64, &seg)
}

fn inner_frame() -> Vec<u8> {
    build::ethernet_ip(
        MAC_A,
        MAC_B,
        &[],
        &tcp_ip(v4(10, 0, 0, 1), v4(10, 0, 0, 2), b"hello"),
    )
}

fn outer_udp(dport: u16, payload: &[u8], six: bool) -> Vec<u8> {
    let (s, d) = if six {
        (v6(1), v6(2))
    } else {
        (v4(192, 0, 2, 1), v4(192, 0, 2, 2))
    };
    let u = build::udp(s, d, 54321, dport, payload);
    build::ethernet_ip(MAC_B, MAC_A, &[], &build::ip(s, d, IPPROTO_UDP, 1, 64, &u))
}

fn outer_gre(gre: &[u8], six: bool) -> Vec<u8> {
    let (s, d) = if six {
        (v6(1), v6(2))
    } else {
        (v4(192, 0, 2, 1), v4(192, 0, 2, 2))
    };
    build::ethernet_ip(MAC_B, MAC_A, &[], &build::ip(s, d, IPPROTO_GRE, 1, 64, gre))
}

fn assert_inner_tcp(p: &Packet<'_>) {
    let ip = p.ip.expect("ip");
    assert_eq!(&ip.src[..4], &[10, 0, 0, 1]);
    assert_eq!(&ip.dst[..4], &[10, 0, 0, 2]);
    let Transport::Tcp(t) = p.transport else {
        panic!("not tcp: {:?}", p.transport)
    };
    assert_eq!((t.src_port, t.dst_port), (40000, 80));
    assert_eq!(t.payload_len, 5);
    assert_eq!(p.payload, b"hello");
}

#[test]
fn ethernet_ipv4_tcp_with_options() {
    let f = inner_frame();
    let p = decode(&f, &DecodeConfig::default()).expect("decode");
    assert_inner_tcp(&p);
    let Transport::Tcp(t) = p.transport else {
        unreachable!()
    };
    assert!(t.flags.is_syn());
    assert_eq!(t.options.mss, 1460);
    assert_eq!(t.options.window_scale, Some(7));
    assert!(t.options.sack_permitted);
    assert_eq!(t.options.timestamps, Some((111, 0)));
    assert_eq!(p.l2.l2_len, 14);
    assert_eq!(p.tunnel.kind, TunnelType::None);
}

#[test]
fn padding_is_not_payload() {
    let seg = build::tcp(
        v4(1, 1, 1, 1),
        v4(2, 2, 2, 2),
        &TcpSpec {
            flags: TcpFlags::ACK,
            ..syn_spec()
        },
        b"",
    );
    // 20 IP + 20 TCP + 20 options (mss, sack, ts, ws) = 60 -> no padding; use a bare ACK instead.
    let bare = TcpSpec {
        flags: TcpFlags::ACK,
        mss: 0,
        window_scale: None,
        sack_permitted: false,
        timestamps: None,
        ..syn_spec()
    };
    let seg2 = build::tcp(v4(1, 1, 1, 1), v4(2, 2, 2, 2), &bare, b"");
    let f = build::ethernet_ip(
        MAC_A,
        MAC_B,
        &[],
        &build::ip(v4(1, 1, 1, 1), v4(2, 2, 2, 2), IPPROTO_TCP, 1, 64, &seg2),
    );
    assert_eq!(f.len(), 60);
    let p = decode(&f, &DecodeConfig::default()).expect("decode");
    assert!(p.payload.is_empty());
    let Transport::Tcp(t) = p.transport else {
        panic!()
    };
    assert_eq!(t.payload_len, 0);
    assert!(!seg.is_empty());
}

#[test]
fn vlan_and_qinq_tags() {
    let ip = tcp_ip(v4(10, 0, 0, 1), v4(10, 0, 0, 2), b"hello");
    let f = build::ethernet_ip(MAC_A, MAC_B, &[(ETH_P_8021Q, (5 << 13) | 100)], &ip);
    let p = decode(&f, &DecodeConfig::default()).expect("vlan");
    assert_eq!(p.l2.vlan, 100);
    assert_eq!(p.l2.outer_pcp, 5);
    assert_eq!(p.l2.l2_len, 18);
    assert_inner_tcp(&p);
    let f = build::ethernet_ip(
        MAC_A,
        MAC_B,
        &[(ETH_P_8021AD, 200), (ETH_P_8021Q, 300)],
        &ip,
    );
    let p = decode(&f, &DecodeConfig::default()).expect("qinq");
    assert_eq!(p.l2.outer_vlans, [200, 300]);
    assert_eq!(p.l2.outer_vlan_count, 2);
    assert_eq!(p.l2.l2_len, 22);
    assert_inner_tcp(&p);
    let f = build::ethernet_ip(
        MAC_A,
        MAC_B,
        &[(ETH_P_8021AD, 1), (ETH_P_8021Q, 2), (ETH_P_8021Q, 3)],
        &ip,
    );
    let e = decode(&f, &DecodeConfig::default()).expect_err("three tags");
    assert_eq!(
        e,
        DecodeError {
            layer: Layer::Vlan,
            kind: ErrorKind::Unsupported
        }
    );
}

#[test]
fn mpls_stack_then_ipv4() {
    let ip = tcp_ip(v4(10, 0, 0, 1), v4(10, 0, 0, 2), b"hello");
    let mut labels = vec![0x00, 0x01, 0x00, 0x40, 0x00, 0x02, 0x01, 0x40];
    labels.extend_from_slice(&ip);
    let f = build::ethernet(MAC_A, MAC_B, &[], 0x8847, &labels);
    let p = decode(&f, &DecodeConfig::default()).expect("mpls");
    assert_inner_tcp(&p);
    assert_eq!(p.l2.l2_len, 22);
}

#[test]
fn ipv6_with_extension_headers() {
    let (s, d) = (v6(1), v6(2));
    let seg = build::tcp(s, d, &syn_spec(), b"hello");
    // hop-by-hop (8 bytes) -> destination options (16 bytes) -> TCP
    let mut ext = vec![60, 0, 1, 4, 0, 0, 0, 0];
    ext.extend_from_slice(&[IPPROTO_TCP, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    ext.extend_from_slice(&seg);
    let mut ip = build::ip(s, d, 0, 0x2345, 64, &ext);
    ip[6] = 0; // next header = hop-by-hop
    let f = build::ethernet_ip(MAC_A, MAC_B, &[], &ip);
    let p = decode(&f, &DecodeConfig::default()).expect("v6");
    let info = p.ip.expect("ip");
    assert!(info.is_v6);
    assert_eq!(info.proto, IPPROTO_TCP);
    assert_eq!(info.header_len, 40 + 24);
    assert_eq!(p.payload, b"hello");
}

#[test]
fn ipv4_fragments() {
    let mut ip = tcp_ip(v4(10, 0, 0, 1), v4(10, 0, 0, 2), b"hello");
    ip[6] = 0x20; // MF, offset 0
    ip[7] = 0;
    let f = build::ethernet_ip(MAC_A, MAC_B, &[], &ip);
    let p = decode(&f, &DecodeConfig::default()).expect("first");
    assert_eq!(p.ip.expect("ip").fragment, Fragment::First);
    assert!(matches!(p.transport, Transport::Tcp(_)));
    ip[6] = 0x00;
    ip[7] = 0x10; // offset 16 * 8
    let f = build::ethernet_ip(MAC_A, MAC_B, &[], &ip);
    let p = decode(&f, &DecodeConfig::default()).expect("later");
    assert_eq!(p.ip.expect("ip").fragment, Fragment::NonFirst);
    assert_eq!(p.transport, Transport::Fragment);
}

#[test]
fn a_reset_packet_decodes_as_a_fresh_one() {
    let cfg = DecodeConfig::default();
    let tunnelled = outer_udp(4789, &build::vxlan(4242, &inner_frame()), true);
    let arp = build::ethernet(MAC_A, MAC_B, &[], 0x0806, &[0; 28]);
    for next in [inner_frame(), arp, tunnelled.clone()] {
        let mut reused = Packet::EMPTY;
        let _ = decode_link_into(&tunnelled, LinkType::Ethernet, &cfg, &mut reused);
        reused.reset();
        let reused_result = decode_link_into(&next, LinkType::Ethernet, &cfg, &mut reused);
        let mut fresh = Packet::EMPTY;
        let fresh_result = decode_link_into(&next, LinkType::Ethernet, &cfg, &mut fresh);
        assert_eq!(reused_result, fresh_result);
        assert_eq!(format!("{reused:?}"), format!("{fresh:?}"));
    }
}

#[test]
fn vxlan_over_ipv4_and_ipv6() {
    for six in [false, true] {
        let f = outer_udp(4789, &build::vxlan(4242, &inner_frame()), six);
        let p = decode(&f, &DecodeConfig::default()).expect("vxlan");
        assert_inner_tcp(&p);
        assert_eq!(p.tunnel.kind, TunnelType::Vxlan);
        assert_eq!(p.tunnel.id, 4242);
        assert_eq!(p.tunnel.tier, 1);
        assert_eq!(p.tunnel.is_ipv6, six);
    }
    // Wrong flags: plain UDP to 4789.
    let mut payload = build::vxlan(1, &inner_frame());
    payload[0] = 0x0c;
    let f = outer_udp(4789, &payload, false);
    let p = decode(&f, &DecodeConfig::default()).expect("udp");
    assert!(matches!(p.transport, Transport::Udp(_)));
}

#[test]
fn geneve_with_options() {
    let f = outer_udp(6081, &build::geneve(77, 3, &inner_frame()), true);
    let p = decode(&f, &DecodeConfig::default()).expect("geneve");
    assert_inner_tcp(&p);
    assert_eq!((p.tunnel.kind, p.tunnel.id), (TunnelType::Geneve, 77));
}

#[test]
fn gre_variants() {
    let inner_ip = tcp_ip(v4(10, 0, 0, 1), v4(10, 0, 0, 2), b"hello");
    for (csum, key, seq) in [
        (false, None, None),
        (true, Some(9), Some(1)),
        (false, Some(5), None),
    ] {
        for six in [false, true] {
            let f = outer_gre(&build::gre(0x0800, csum, key, seq, &inner_ip), six);
            let p = decode(&f, &DecodeConfig::default()).expect("gre");
            assert_inner_tcp(&p);
            assert_eq!(p.tunnel.kind, TunnelType::Gre);
            assert_eq!(p.tunnel.id, key.unwrap_or(0));
        }
    }
    // TEB (trimmed by default: no tunnel kept).
    let f = outer_gre(
        &build::gre(0x6558, false, Some(3), None, &inner_frame()),
        false,
    );
    let p = decode(&f, &DecodeConfig::default()).expect("teb");
    assert_inner_tcp(&p);
    assert_eq!(p.tunnel.kind, TunnelType::None);
    let keep = DecodeConfig {
        trim: TunnelSet::EMPTY,
        ..DecodeConfig::default()
    };
    let p = decode(&f, &keep).expect("teb kept");
    assert_eq!((p.tunnel.kind, p.tunnel.id), (TunnelType::Teb, 3));
    // GRE version 1 (PPTP) is counted as unsupported.
    let mut g = build::gre(0x880B, false, Some(1), None, b"ppp");
    g[1] |= 1;
    assert_eq!(
        decode(&outer_gre(&g, false), &DecodeConfig::default()).expect_err("v1"),
        DecodeError {
            layer: Layer::Gre,
            kind: ErrorKind::Unsupported
        }
    );
}

#[test]
fn tunnels_left_encapsulated_are_the_traffic() {
    // DeepFlow's `tunnel_decap_protocols` without a kind: its packets are the underlay's.
    let underlay = DecodeConfig {
        decap: TunnelSet::EMPTY,
        ..DecodeConfig::default()
    };
    let vx = build::vxlan_frame(
        "192.0.2.1".parse().unwrap(),
        "192.0.2.2".parse().unwrap(),
        42,
        &inner_frame(),
    );
    let p = decode(&vx, &underlay).expect("vxlan as udp");
    assert_eq!(p.tunnel.kind, TunnelType::None);
    assert_eq!(p.ip.expect("ip").dst[..4], [192, 0, 2, 2]);
    assert!(matches!(p.transport, Transport::Udp(u) if u.dst_port == 4789));
    let p = decode(&vx, &DecodeConfig::default()).expect("vxlan peeled");
    assert_eq!((p.tunnel.kind, p.tunnel.id), (TunnelType::Vxlan, 42));
    assert_inner_tcp(&p);
    // GRE carrying IP, left as GRE; with no GRE-carried kind peeled at all (ERSPAN and TEB
    // not trimmed either), a GRE header tapflow cannot read is no error.
    let gre_ip = outer_gre(
        &build::gre(0x0800, false, Some(9), None, &inner_frame()[14..]),
        false,
    );
    let p = decode(&gre_ip, &underlay).expect("gre as ip");
    assert_eq!(
        (p.tunnel.kind, p.ip.expect("ip").proto),
        (TunnelType::None, 47)
    );
    let mut v1 = build::gre(0x880B, false, Some(1), None, b"ppp");
    v1[1] |= 1;
    let nothing = DecodeConfig {
        trim: TunnelSet::EMPTY,
        ..underlay
    };
    assert!(decode(&outer_gre(&v1, false), &underlay).is_err());
    assert!(decode(&outer_gre(&v1, false), &nothing).is_ok());
    // Trimmed kinds are always peeled.
    let erspan = outer_gre(
        &build::gre(0x88BE, false, None, None, &inner_frame()),
        false,
    );
    assert_inner_tcp(&decode(&erspan, &underlay).expect("erspan"));
}

#[test]
fn erspan_types() {
    let cfg = DecodeConfig::default();
    let i = outer_gre(
        &build::gre(0x88BE, false, None, None, &inner_frame()),
        false,
    );
    let ii = outer_gre(
        &build::gre(
            0x88BE,
            false,
            None,
            Some(7),
            &build::erspan2(100, 10, &inner_frame()),
        ),
        false,
    );
    let iii = outer_gre(
        &build::gre(
            0x22EB,
            false,
            None,
            Some(7),
            &build::erspan3(200, 1, false, &inner_frame()),
        ),
        false,
    );
    let iii_p = outer_gre(
        &build::gre(
            0x22EB,
            false,
            None,
            Some(7),
            &build::erspan3(201, 1, true, &inner_frame()),
        ),
        true,
    );
    for (f, version, session) in [(i, 1, 0), (ii, 2, 100), (iii, 3, 200), (iii_p, 3, 201)] {
        let p = decode(&f, &cfg).expect("erspan");
        assert_inner_tcp(&p);
        assert_eq!(p.mirror.version, version);
        assert_eq!(p.mirror.session_id, session);
        assert_eq!(
            p.tunnel.kind,
            TunnelType::None,
            "ERSPAN is trimmed by default"
        );
    }
}

#[test]
fn ip_in_ip() {
    let inner4 = tcp_ip(v4(10, 0, 0, 1), v4(10, 0, 0, 2), b"hello");
    let f = build::ethernet_ip(
        MAC_A,
        MAC_B,
        &[],
        &build::ip(v6(1), v6(2), IPPROTO_IPIP, 0, 64, &inner4),
    );
    let p = decode(&f, &DecodeConfig::default()).expect("4in6");
    assert_inner_tcp(&p);
    assert_eq!(p.tunnel.kind, TunnelType::Ipip);
    assert_eq!(p.l2.src_mac, MAC_B);
    let inner6 = build::ip(
        v6(9),
        v6(10),
        IPPROTO_TCP,
        0,
        64,
        &build::tcp(v6(9), v6(10), &syn_spec(), b"x"),
    );
    let f = build::ethernet_ip(
        MAC_A,
        MAC_B,
        &[],
        &build::ip(v4(1, 2, 3, 4), v4(5, 6, 7, 8), IPPROTO_IPV6, 0, 64, &inner6),
    );
    let p = decode(&f, &DecodeConfig::default()).expect("6in4");
    assert!(p.ip.expect("ip").is_v6);
    assert_eq!(p.payload, b"x");
}

#[test]
fn two_layers_then_plain() {
    // VXLAN inside VXLAN: both peeled, tier 2, outermost VNI kept.
    let two = outer_udp(
        4789,
        &build::vxlan(1, &outer_udp(4789, &build::vxlan(2, &inner_frame()), false)),
        false,
    );
    let p = decode(&two, &DecodeConfig::default()).expect("2 layers");
    assert_inner_tcp(&p);
    assert_eq!((p.tunnel.id, p.tunnel.tier), (1, 2));
    // A third layer is left as plain UDP.
    let three = outer_udp(4789, &build::vxlan(1, &two), false);
    let p = decode(&three, &DecodeConfig::default()).expect("3 layers");
    assert!(matches!(p.transport, Transport::Udp(u) if u.dst_port == 4789));
}

#[test]
fn impossible_lengths_are_malformed() {
    let cfg = DecodeConfig::default();
    let mut ip = tcp_ip(v4(10, 0, 0, 1), v4(10, 0, 0, 2), b"hello");
    ip[0] = 0x44; // IHL 4
    assert_eq!(
        decode(&build::ethernet_ip(MAC_A, MAC_B, &[], &ip), &cfg)
            .expect_err("ihl")
            .kind,
        ErrorKind::Malformed
    );
    let mut ip = tcp_ip(v4(10, 0, 0, 1), v4(10, 0, 0, 2), b"hello");
    ip[20 + 12] = 0x40; // data offset 4
    assert_eq!(
        decode(&build::ethernet_ip(MAC_A, MAC_B, &[], &ip), &cfg).expect_err("doff"),
        DecodeError {
            layer: Layer::Tcp,
            kind: ErrorKind::Malformed
        }
    );
    let mut ip = tcp_ip(v4(10, 0, 0, 1), v4(10, 0, 0, 2), b"hello");
    ip[0] = 0x55; // version 5
    assert_eq!(
        decode(&build::ethernet_ip(MAC_A, MAC_B, &[], &ip), &cfg)
            .expect_err("ver")
            .layer,
        Layer::Ipv4
    );
    let u = build::udp(v4(1, 1, 1, 1), v4(2, 2, 2, 2), 1, 2, b"abc");
    let mut ip = build::ip(v4(1, 1, 1, 1), v4(2, 2, 2, 2), IPPROTO_UDP, 0, 64, &u);
    ip[20 + 5] = 4; // UDP length 4
    assert_eq!(
        decode(&build::ethernet_ip(MAC_A, MAC_B, &[], &ip), &cfg).expect_err("udp len"),
        DecodeError {
            layer: Layer::Udp,
            kind: ErrorKind::Malformed
        }
    );
    // TCP option with length running past the header: options flagged, packet still decoded.
    let bare = TcpSpec {
        mss: 1460,
        window_scale: None,
        sack_permitted: false,
        timestamps: None,
        ..syn_spec()
    };
    let mut seg = build::tcp(v4(1, 1, 1, 1), v4(2, 2, 2, 2), &bare, b"");
    seg[21] = 40;
    let ip = build::ip(v4(1, 1, 1, 1), v4(2, 2, 2, 2), IPPROTO_TCP, 0, 64, &seg);
    let f = build::ethernet_ip(MAC_A, MAC_B, &[], &ip);
    let p = decode(&f, &cfg).expect("bad option");
    let Transport::Tcp(t) = p.transport else {
        panic!()
    };
    assert!(t.options.malformed);
}

fn all_frames() -> Vec<Vec<u8>> {
    vec![
        inner_frame(),
        outer_udp(4789, &build::vxlan(4242, &inner_frame()), true),
        outer_udp(6081, &build::geneve(77, 3, &inner_frame()), false),
        outer_gre(
            &build::gre(
                0x22EB,
                true,
                Some(1),
                Some(7),
                &build::erspan3(200, 1, true, &inner_frame()),
            ),
            true,
        ),
        outer_gre(
            &build::gre(
                0x88BE,
                false,
                None,
                Some(7),
                &build::erspan2(100, 10, &inner_frame()),
            ),
            false,
        ),
        build::ethernet_ip(
            MAC_A,
            MAC_B,
            &[(ETH_P_8021AD, 2), (ETH_P_8021Q, 3)],
            &tcp_ip(v6(1), v6(2), b"data"),
        ),
    ]
}

#[test]
fn every_truncation_is_an_error_or_a_shorter_view() {
    let cfg = DecodeConfig::default();
    for f in all_frames() {
        let full = decode(&f, &cfg).expect("full frame decodes");
        for cut in 0..f.len() {
            match decode(&f[..cut], &cfg) {
                Err(e) => assert_eq!(e.kind, ErrorKind::Truncated, "cut {cut}: {e}"),
                // A cut inside the payload still decodes, with less payload.
                Ok(p) => assert!(p.payload.len() <= full.payload.len() || p.ip != full.ip),
            }
        }
    }
}

#[test]
fn random_bytes_never_panic() {
    let cfg = DecodeConfig::default();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut buf = [0u8; 160];
    let templates = all_frames();
    for i in 0..200_000u32 {
        // Mutate a real frame (deep coverage) or use pure noise (shallow).
        let len = if i % 2 == 0 {
            let t = &templates[(i as usize / 2) % templates.len()];
            let n = t.len().min(buf.len());
            buf[..n].copy_from_slice(&t[..n]);
            for _ in 0..4 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                buf[(x as usize) % n] = (x >> 32) as u8;
            }
            n
        } else {
            for b in buf.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = x as u8;
            }
            (x as usize) % buf.len()
        };
        let _ = decode(&buf[..len], &cfg);
    }
}

#[test]
fn agrees_with_etherparse() {
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};
    let cfg = DecodeConfig::default();
    for f in [
        inner_frame(),
        build::ethernet_ip(
            MAC_A,
            MAC_B,
            &[(ETH_P_8021Q, 5)],
            &tcp_ip(v6(1), v6(2), b"abc"),
        ),
    ] {
        let ours = decode(&f, &cfg).expect("ours");
        let theirs = SlicedPacket::from_ethernet(&f).expect("etherparse");
        let Transport::Tcp(t) = ours.transport else {
            panic!()
        };
        let Some(TransportSlice::Tcp(et)) = theirs.transport else {
            panic!()
        };
        assert_eq!(t.src_port, et.source_port());
        assert_eq!(t.dst_port, et.destination_port());
        assert_eq!(t.seq, et.sequence_number());
        assert_eq!(t.window, et.window_size());
        assert_eq!(ours.payload, et.payload());
        match theirs.net {
            Some(NetSlice::Ipv4(v)) => {
                assert_eq!(&ours.ip.expect("ip").src[..4], &v.header().source())
            }
            Some(NetSlice::Ipv6(v)) => assert_eq!(ours.ip.expect("ip").src, v.header().source()),
            _ => panic!("no net"),
        }
    }
}
