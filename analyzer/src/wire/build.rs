//! Building frames: the writing side of [`super`], used by the traffic generator and by tests.
//!
//! Each function returns the bytes of one layer wrapped around its payload, so frames compose
//! inside-out: `ethernet(.., &ip_packet(.., &tcp_segment(..)))`. Checksums are filled in. This
//! allocates and is never on the analysis path.

use std::net::IpAddr;

use super::ip::{IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP};

/// TCP header fields for [`tcp`].
#[derive(Debug, Clone, Copy, Default)]
pub struct TcpSpec {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
    /// MSS option (0 = none).
    pub mss: u16,
    /// Window scale option.
    pub window_scale: Option<u8>,
    pub sack_permitted: bool,
    pub timestamps: Option<(u32, u32)>,
}

fn sum16(data: &[u8], mut acc: u32) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u32::from(*last) << 8;
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xFFFF {
        acc = (acc & 0xFFFF) + (acc >> 16);
    }
    !(acc as u16)
}

fn pseudo_header_sum(src: IpAddr, dst: IpAddr, proto: u8, len: usize) -> u32 {
    let mut acc = 0;
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            acc = sum16(&s.octets(), acc);
            acc = sum16(&d.octets(), acc);
        }
        (s, d) => {
            acc = sum16(&to16(s), acc);
            acc = sum16(&to16(d), acc);
        }
    }
    acc + u32::from(proto) + len as u32
}

fn to16(a: IpAddr) -> [u8; 16] {
    match a {
        IpAddr::V4(v) => v.to_ipv6_mapped().octets(),
        IpAddr::V6(v) => v.octets(),
    }
}

/// A TCP segment (header + payload) with its checksum computed for `src` -> `dst`.
pub fn tcp(src: IpAddr, dst: IpAddr, spec: &TcpSpec, payload: &[u8]) -> Vec<u8> {
    let mut opts = Vec::new();
    if spec.mss != 0 {
        opts.extend_from_slice(&[2, 4]);
        opts.extend_from_slice(&spec.mss.to_be_bytes());
    }
    if spec.sack_permitted {
        opts.extend_from_slice(&[4, 2]);
    }
    if let Some((val, ecr)) = spec.timestamps {
        opts.extend_from_slice(&[8, 10]);
        opts.extend_from_slice(&val.to_be_bytes());
        opts.extend_from_slice(&ecr.to_be_bytes());
    }
    if let Some(ws) = spec.window_scale {
        opts.extend_from_slice(&[1, 3, 3, ws]);
    }
    while opts.len() % 4 != 0 {
        opts.push(0);
    }
    let hlen = 20 + opts.len();
    let mut seg = Vec::with_capacity(hlen + payload.len());
    seg.extend_from_slice(&spec.src_port.to_be_bytes());
    seg.extend_from_slice(&spec.dst_port.to_be_bytes());
    seg.extend_from_slice(&spec.seq.to_be_bytes());
    seg.extend_from_slice(&spec.ack.to_be_bytes());
    seg.push(((hlen / 4) as u8) << 4);
    seg.push(spec.flags);
    seg.extend_from_slice(&spec.window.to_be_bytes());
    seg.extend_from_slice(&[0, 0, 0, 0]);
    seg.extend_from_slice(&opts);
    seg.extend_from_slice(payload);
    let ck = fold(sum16(
        &seg,
        pseudo_header_sum(src, dst, IPPROTO_TCP, seg.len()),
    ));
    seg[16..18].copy_from_slice(&ck.to_be_bytes());
    seg
}

/// A UDP datagram (header + payload) with its checksum.
pub fn udp(src: IpAddr, dst: IpAddr, src_port: u16, dst_port: u16, payload: &[u8]) -> Vec<u8> {
    let len = 8 + payload.len();
    let mut d = Vec::with_capacity(len);
    d.extend_from_slice(&src_port.to_be_bytes());
    d.extend_from_slice(&dst_port.to_be_bytes());
    d.extend_from_slice(&(len as u16).to_be_bytes());
    d.extend_from_slice(&[0, 0]);
    d.extend_from_slice(payload);
    let mut ck = fold(sum16(&d, pseudo_header_sum(src, dst, IPPROTO_UDP, len)));
    if ck == 0 {
        ck = 0xFFFF;
    }
    d[6..8].copy_from_slice(&ck.to_be_bytes());
    d
}

/// An ICMP (IPv4) or ICMPv6 echo request/reply.
pub fn icmp_echo(src: IpAddr, dst: IpAddr, reply: bool, id: u16, seq: u16, data: &[u8]) -> Vec<u8> {
    let v6 = src.is_ipv6();
    let ty = match (v6, reply) {
        (false, false) => 8,
        (false, true) => 0,
        (true, false) => 128,
        (true, true) => 129,
    };
    let mut m = vec![ty, 0, 0, 0];
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(data);
    let start = if v6 {
        pseudo_header_sum(src, dst, IPPROTO_ICMPV6, m.len())
    } else {
        0
    };
    let ck = fold(sum16(&m, start));
    m[2..4].copy_from_slice(&ck.to_be_bytes());
    m
}

/// The protocol number [`ip`] should use for an ICMP message between these addresses.
pub fn icmp_proto(src: IpAddr) -> u8 {
    if src.is_ipv6() {
        IPPROTO_ICMPV6
    } else {
        IPPROTO_ICMP
    }
}

/// An IPv4 or IPv6 packet (by address family) around `payload`.
pub fn ip(src: IpAddr, dst: IpAddr, proto: u8, ident: u16, ttl: u8, payload: &[u8]) -> Vec<u8> {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let total = 20 + payload.len();
            let mut p = Vec::with_capacity(total);
            p.push(0x45);
            p.push(0);
            p.extend_from_slice(&(total as u16).to_be_bytes());
            p.extend_from_slice(&ident.to_be_bytes());
            p.extend_from_slice(&[0x40, 0]); // DF
            p.push(ttl);
            p.push(proto);
            p.extend_from_slice(&[0, 0]);
            p.extend_from_slice(&s.octets());
            p.extend_from_slice(&d.octets());
            let ck = fold(sum16(&p, 0));
            p[10..12].copy_from_slice(&ck.to_be_bytes());
            p.extend_from_slice(payload);
            p
        }
        (s, d) => {
            let mut p = Vec::with_capacity(40 + payload.len());
            p.extend_from_slice(&(0x6000_0000u32 | u32::from(ident)).to_be_bytes());
            p.extend_from_slice(&(payload.len() as u16).to_be_bytes());
            p.push(proto);
            p.push(ttl);
            p.extend_from_slice(&to16(s));
            p.extend_from_slice(&to16(d));
            p.extend_from_slice(payload);
            p
        }
    }
}

/// EtherType for an IP packet built by [`ip`].
pub fn ethertype_of(ip_packet: &[u8]) -> u16 {
    if ip_packet.first().map(|b| b >> 4) == Some(6) {
        0x86DD
    } else {
        0x0800
    }
}

/// An Ethernet frame. `tags` are (TPID, TCI) pairs, outermost first.
pub fn ethernet(
    dst: [u8; 6],
    src: [u8; 6],
    tags: &[(u16, u16)],
    ethertype: u16,
    payload: &[u8],
) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + 4 * tags.len() + payload.len());
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    for (tpid, tci) in tags {
        f.extend_from_slice(&tpid.to_be_bytes());
        f.extend_from_slice(&tci.to_be_bytes());
    }
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// An Ethernet frame around an IP packet, padded to the 60-byte minimum like a real NIC.
pub fn ethernet_ip(dst: [u8; 6], src: [u8; 6], tags: &[(u16, u16)], ip_packet: &[u8]) -> Vec<u8> {
    let mut f = ethernet(dst, src, tags, ethertype_of(ip_packet), ip_packet);
    if f.len() < 60 {
        f.resize(60, 0);
    }
    f
}

/// A VXLAN header + inner frame (the UDP payload).
pub fn vxlan(vni: u32, inner_frame: &[u8]) -> Vec<u8> {
    let mut v = vec![0x08, 0, 0, 0];
    v.extend_from_slice(&(vni << 8).to_be_bytes());
    v.extend_from_slice(inner_frame);
    v
}

/// An Ethernet frame carrying `inner_frame` in VXLAN (network `vni`) over UDP from `outer_src` to
/// `outer_dst` (port 5000 -> 4789).
pub fn vxlan_frame(outer_src: IpAddr, outer_dst: IpAddr, vni: u32, inner_frame: &[u8]) -> Vec<u8> {
    let udp = udp(outer_src, outer_dst, 5000, 4789, &vxlan(vni, inner_frame));
    ethernet_ip(
        [6; 6],
        [8; 6],
        &[],
        &ip(outer_src, outer_dst, 17, 0, 64, &udp),
    )
}

/// An Ethernet frame with one TCP segment (PSH|ACK) of `payload` from `src:sport` to
/// `dst:dport`.
pub fn tcp_frame(src: IpAddr, dst: IpAddr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let spec = TcpSpec {
        src_port: sport,
        dst_port: dport,
        flags: 0x18,
        ..TcpSpec::default()
    };
    tcp_frame_with(src, dst, &spec, payload)
}

/// An Ethernet frame (untagged, fixed MACs) with one TCP segment of `payload` as `spec` says.
pub fn tcp_frame_with(src: IpAddr, dst: IpAddr, spec: &TcpSpec, payload: &[u8]) -> Vec<u8> {
    ethernet_ip(
        [2; 6],
        [4; 6],
        &[],
        &ip(src, dst, 6, 0, 64, &tcp(src, dst, spec, payload)),
    )
}

/// A GENEVE header with `options_words` 4-byte option words, carrying an Ethernet frame.
pub fn geneve(vni: u32, options_words: u8, inner_frame: &[u8]) -> Vec<u8> {
    let mut g = vec![options_words & 0x3F, 0];
    g.extend_from_slice(&0x6558u16.to_be_bytes());
    g.extend_from_slice(&(vni << 8).to_be_bytes());
    for i in 0..options_words {
        g.extend_from_slice(&[0x01, 0x02, 0x03, i]);
    }
    g.extend_from_slice(inner_frame);
    g
}

/// A GRE header (+ optional checksum, key, sequence) around `payload` of EtherType `proto`.
pub fn gre(
    proto: u16,
    checksum: bool,
    key: Option<u32>,
    seq: Option<u32>,
    payload: &[u8],
) -> Vec<u8> {
    let mut flags = 0u16;
    if checksum {
        flags |= 0x8000;
    }
    if key.is_some() {
        flags |= 0x2000;
    }
    if seq.is_some() {
        flags |= 0x1000;
    }
    let mut g = Vec::new();
    g.extend_from_slice(&flags.to_be_bytes());
    g.extend_from_slice(&proto.to_be_bytes());
    if checksum {
        g.extend_from_slice(&[0, 0, 0, 0]);
    }
    if let Some(k) = key {
        g.extend_from_slice(&k.to_be_bytes());
    }
    if let Some(s) = seq {
        g.extend_from_slice(&s.to_be_bytes());
    }
    g.extend_from_slice(payload);
    g
}

/// ERSPAN type II header + mirrored frame (GRE proto 0x88BE, GRE must carry a sequence number).
pub fn erspan2(session: u16, vlan: u16, inner_frame: &[u8]) -> Vec<u8> {
    let mut e = Vec::new();
    e.extend_from_slice(&(0x1000 | (vlan & 0x0FFF)).to_be_bytes());
    e.extend_from_slice(&(session & 0x03FF).to_be_bytes());
    e.extend_from_slice(&[0, 0, 0, 0]);
    e.extend_from_slice(inner_frame);
    e
}

/// ERSPAN type III header (+ optional platform sub-header) + mirrored frame (GRE proto 0x22EB).
pub fn erspan3(session: u16, timestamp: u32, platform: bool, inner_frame: &[u8]) -> Vec<u8> {
    let mut e = Vec::new();
    e.extend_from_slice(&0x2000u16.to_be_bytes());
    e.extend_from_slice(&(session & 0x03FF).to_be_bytes());
    e.extend_from_slice(&timestamp.to_be_bytes());
    e.extend_from_slice(&[0, 0]); // SGT
    e.push(0); // P | FT(ethernet = 0) | HW id high bits
    e.push(u8::from(platform));
    if platform {
        e.extend_from_slice(&[0x08, 0, 0, 0, 0, 0, 0, 0]);
    }
    e.extend_from_slice(inner_frame);
    e
}
