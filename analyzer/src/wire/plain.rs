//! The flow fields of a plain frame, read without decoding it: what steering a frame to a
//! worker needs (protocol, addresses, ports) when the frame is the common case, Ethernet with at
//! most two VLAN tags, an IPv4 header that is not a fragment or an IPv6 header without extension
//! headers, then TCP or UDP on a port no tunnel is configured on. Anything else (a tunnel or a
//! port one may be on, MPLS, fragments, other link types, a header cut short) gives None, and the
//! caller decodes the frame ([`super::decode_link_into`]).
//!
//! Contract: where [`plain_flow`] gives fields and [`super::decode`] decodes the frame, the two
//! agree ([`FlowFields::of`] of the decoded packet): a flow's frames are steered alike whichever
//! way each was read. A frame the decoder rejects is counted as such by whoever analyses it.

use super::ethernet::{is_vlan_tpid, MAX_VLAN_TAGS};
use super::{be16, DecodeConfig, LinkType, Packet, Transport};
use super::{ETH_P_IPV4, ETH_P_IPV6, IPPROTO_TCP, IPPROTO_UDP};

/// Protocol, addresses (IPv4 in the first four bytes) and ports of a frame's innermost flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowFields {
    pub proto: u8,
    pub src: [u8; 16],
    pub dst: [u8; 16],
    pub src_port: u16,
    pub dst_port: u16,
    /// TCP or UDP (ports that mean something).
    pub has_ports: bool,
}

impl FlowFields {
    /// The fields of a decoded packet; None when it has no IP header.
    pub fn of(p: &Packet<'_>) -> Option<FlowFields> {
        let ip = p.ip?;
        let (src_port, dst_port) = p.transport.ports();
        Some(FlowFields {
            proto: ip.proto,
            src: ip.src,
            dst: ip.dst,
            src_port,
            dst_port,
            has_ports: matches!(p.transport, Transport::Tcp(_) | Transport::Udp(_)),
        })
    }
}

const ETH_HEADER_LEN: usize = 14;
const VLAN_TAG_LEN: usize = 4;
const TCP_MIN_LEN: usize = 20;
const UDP_LEN: usize = 8;

/// The flow fields of a plain frame (module docs), or None.
#[inline(always)]
pub fn plain_flow(frame: &[u8], link: LinkType, cfg: &DecodeConfig) -> Option<FlowFields> {
    if link != LinkType::Ethernet {
        return None;
    }
    let mut eth_type = be16(frame, 12)?;
    let mut off = ETH_HEADER_LEN;
    let mut tags = 0;
    while is_vlan_tpid(eth_type) {
        if tags == MAX_VLAN_TAGS {
            return None;
        }
        eth_type = be16(frame, off + 2)?;
        off += VLAN_TAG_LEN;
        tags += 1;
    }
    let l3 = frame.get(off..)?;
    let mut f = FlowFields {
        proto: 0,
        src: [0; 16],
        dst: [0; 16],
        src_port: 0,
        dst_port: 0,
        has_ports: true,
    };
    let l4 = match eth_type {
        ETH_P_IPV4 => {
            let h = l3.get(..20)?;
            let ihl = usize::from(h[0] & 0x0F) * 4;
            if h[0] >> 4 != 4 || ihl < 20 || u16::from_be_bytes([h[6], h[7]]) & 0x3FFF != 0 {
                return None;
            }
            let total = usize::from(u16::from_be_bytes([h[2], h[3]]));
            let end = if total == 0 { l3.len() } else { total };
            f.proto = h[9];
            // Each address written whole (one store, not zeros then four bytes): the hash
            // that reads it back in words then takes it from the store.
            let v4 =
                |a: &[u8]| u128::from(u32::from_le_bytes([a[0], a[1], a[2], a[3]])).to_le_bytes();
            f.src = v4(&h[12..16]);
            f.dst = v4(&h[16..20]);
            l3.get(ihl..end.min(l3.len()))?
        }
        ETH_P_IPV6 => {
            let h = l3.get(..40)?;
            if h[0] >> 4 != 6 {
                return None;
            }
            let payload = usize::from(u16::from_be_bytes([h[4], h[5]]));
            let end = if payload == 0 { l3.len() } else { 40 + payload };
            f.proto = h[6];
            f.src.copy_from_slice(&h[8..24]);
            f.dst.copy_from_slice(&h[24..40]);
            l3.get(40..end.min(l3.len()))?
        }
        _ => return None,
    };
    let min = match f.proto {
        IPPROTO_TCP => TCP_MIN_LEN,
        IPPROTO_UDP => UDP_LEN,
        _ => return None,
    };
    if l4.len() < min {
        return None;
    }
    f.src_port = u16::from_be_bytes([l4[0], l4[1]]);
    f.dst_port = u16::from_be_bytes([l4[2], l4[3]]);
    if f.proto == IPPROTO_UDP
        && (cfg.vxlan_ports.contains(&f.dst_port) || f.dst_port == cfg.geneve_port)
    {
        return None;
    }
    Some(f)
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;
    use crate::wire::build::{self, TcpSpec};
    use crate::wire::decode;

    const A: [u8; 6] = [2; 6];
    const B: [u8; 6] = [4; 6];

    fn addr(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// Where `plain_flow` answers and the decoder decodes, they agree.
    fn agrees(frame: &[u8]) -> Option<FlowFields> {
        let cfg = DecodeConfig::default();
        let fast = plain_flow(frame, LinkType::Ethernet, &cfg);
        if let (Some(f), Ok(p)) = (fast, decode(frame, &cfg)) {
            assert_eq!(Some(f), FlowFields::of(&p), "frame {frame:02x?}");
        }
        fast
    }

    fn tcp_ip(src: &str, dst: &str, spec: &TcpSpec, payload: &[u8]) -> Vec<u8> {
        let (s, d) = (addr(src), addr(dst));
        build::ip(s, d, 6, 7, 64, &build::tcp(s, d, spec, payload))
    }

    fn udp_ip(src: &str, dst: &str, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let (s, d) = (addr(src), addr(dst));
        build::ip(s, d, 17, 7, 64, &build::udp(s, d, sport, dport, payload))
    }

    #[test]
    fn plain_frames_are_read_as_the_decoder_reads_them() {
        let syn = TcpSpec {
            src_port: 40000,
            dst_port: 80,
            flags: 0x02,
            mss: 1460,
            window_scale: Some(7),
            sack_permitted: true,
            timestamps: Some((1, 0)),
            ..TcpSpec::default()
        };
        let v4 = tcp_ip("10.0.0.1", "10.0.0.2", &syn, b"");
        let v6 = tcp_ip("2001:db8::1", "2001:db8::2", &syn, b"GET / HTTP/1.1\r\n");
        let udp = udp_ip("10.0.0.1", "10.0.0.2", 5353, 53, b"query");
        let udp6 = udp_ip("2001:db8::1", "2001:db8::2", 5353, 53, b"query");
        let mut frames = Vec::new();
        for ip in [&v4, &v6, &udp, &udp6] {
            frames.push(build::ethernet_ip(A, B, &[], ip));
            frames.push(build::ethernet_ip(A, B, &[(0x8100, 100)], ip));
            frames.push(build::ethernet_ip(
                A,
                B,
                &[(0x88a8, 100), (0x8100, 200)],
                ip,
            ));
        }
        for f in &frames {
            assert!(agrees(f).is_some(), "{f:02x?}");
            // Every cut of it: agreement where both answer, never a panic.
            for cut in 0..f.len() {
                agrees(&f[..cut]);
            }
        }
        // A third tag: the decoder gives up; the fast way leaves it to the decoder.
        let three = [(0x88a8, 1), (0x8100, 2), (0x8100, 3)];
        assert!(agrees(&build::ethernet_ip(A, B, &three, &v4)).is_none());
    }

    #[test]
    fn tunnels_fragments_and_others_go_the_decoding_way() {
        let inner = build::tcp_frame(addr("10.1.0.1"), addr("10.1.0.2"), 40000, 80, b"x");
        let vxlan = build::vxlan_frame(addr("192.168.0.1"), addr("192.168.0.2"), 42, &inner);
        assert!(agrees(&vxlan).is_none());
        let geneve = udp_ip(
            "192.168.0.1",
            "192.168.0.2",
            5000,
            6081,
            &build::geneve(1, 0, &inner),
        );
        assert!(agrees(&build::ethernet_ip(A, B, &[], &geneve)).is_none());
        let (s, d) = (addr("192.168.0.1"), addr("192.168.0.2"));
        let gre = build::ip(
            s,
            d,
            47,
            1,
            64,
            &build::gre(0x6558, false, None, None, &inner),
        );
        assert!(agrees(&build::ethernet_ip(A, B, &[], &gre)).is_none());
        let ipip = build::ip(s, d, 4, 1, 64, &inner[14..]);
        assert!(agrees(&build::ethernet_ip(A, B, &[], &ipip)).is_none());
        let mut fragment =
            build::ethernet_ip(A, B, &[], &udp_ip("10.0.0.1", "10.0.0.2", 1, 2, b"q"));
        fragment[14 + 6] |= 0x20; // more fragments
        assert!(agrees(&fragment).is_none());
        let echo = build::icmp_echo(s, d, false, 1, 1, b"ping");
        let icmp = build::ip(s, d, build::icmp_proto(s), 1, 64, &echo);
        assert!(agrees(&build::ethernet_ip(A, B, &[], &icmp)).is_none());
        let cfg = DecodeConfig::default();
        assert!(plain_flow(&inner[14..], LinkType::RawIp, &cfg).is_none());
        assert!(plain_flow(
            &build::ethernet(A, B, &[], 0x0806, &[0; 28]),
            LinkType::Ethernet,
            &cfg
        )
        .is_none());
    }
}
