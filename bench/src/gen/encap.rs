//! Encapsulations a generated frame can be wrapped in, as a mirror feed would deliver it.

use std::net::{IpAddr, Ipv4Addr};

use tapflow_analyzer::wire::build;
use tapflow_analyzer::wire::{ETH_P_8021AD, ETH_P_8021Q, IPPROTO_GRE, IPPROTO_IPIP, IPPROTO_UDP};

/// How frames are wrapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encap {
    None,
    Vlan,
    QinQ,
    Vxlan,
    Geneve,
    /// GRE with a key carrying IP directly.
    Gre,
    /// GRE transparent Ethernet bridging.
    Teb,
    ErspanII,
    ErspanIII,
    /// IPv4-in-IPv4.
    IpIp,
    /// Inner traffic over IPv6 (no tunnel).
    Ipv6,
    /// VXLAN with IPv6 outer headers.
    VxlanV6,
}

pub(crate) const VLAN_ID: u16 = 100;
const OUTER_VLAN: u16 = 200;
const VNI: u32 = 4242;
const GRE_KEY: u32 = 77;

impl Encap {
    pub const ALL: [Encap; 12] = [
        Encap::None,
        Encap::Vlan,
        Encap::QinQ,
        Encap::Vxlan,
        Encap::Geneve,
        Encap::Gre,
        Encap::Teb,
        Encap::ErspanII,
        Encap::ErspanIII,
        Encap::IpIp,
        Encap::Ipv6,
        Encap::VxlanV6,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Encap::None => "none",
            Encap::Vlan => "vlan",
            Encap::QinQ => "qinq",
            Encap::Vxlan => "vxlan",
            Encap::Geneve => "geneve",
            Encap::Gre => "gre",
            Encap::Teb => "teb",
            Encap::ErspanII => "erspan2",
            Encap::ErspanIII => "erspan3",
            Encap::IpIp => "ipip",
            Encap::Ipv6 => "ipv6",
            Encap::VxlanV6 => "vxlan6",
        }
    }

    pub fn from_name(s: &str) -> Option<Encap> {
        Encap::ALL.into_iter().find(|e| e.name() == s)
    }

    /// tunnel_type tapflow reports by default (ERSPAN and TEB are trimmed mirror transport).
    pub fn reported_tunnel_type(self) -> u8 {
        match self {
            Encap::Vxlan | Encap::VxlanV6 => 1,
            Encap::IpIp => 2,
            Encap::Gre => 3,
            Encap::Geneve => 4,
            _ => 0,
        }
    }

    /// VLAN id tapflow reports for the flow (first tag of the innermost Ethernet header).
    pub fn reported_vlan(self) -> u16 {
        match self {
            Encap::Vlan => VLAN_ID,
            Encap::QinQ => OUTER_VLAN,
            _ => 0,
        }
    }

    /// Length of the L2 header in front of the innermost IP header.
    pub fn l2_len(self) -> u64 {
        match self {
            Encap::Vlan => 18,
            Encap::QinQ => 22,
            _ => 14,
        }
    }

    pub fn inner_is_v6(self) -> bool {
        self == Encap::Ipv6
    }

    /// Wraps an inner IP packet sent from the endpoint `from_client` into the frame on the wire.
    pub(crate) fn frame(
        self,
        src_mac: [u8; 6],
        dst_mac: [u8; 6],
        ip: &[u8],
        from_client: bool,
    ) -> Vec<u8> {
        let inner_eth = || build::ethernet_ip(dst_mac, src_mac, &[], ip);
        // Tunnel endpoints: the two hypervisors (reversed for the reply); mirror sessions always
        // come from the same switch.
        let (a, b) = if from_client {
            (hv(1), hv(2))
        } else {
            (hv(2), hv(1))
        };
        let (a6, b6) = if from_client {
            (hv6(1), hv6(2))
        } else {
            (hv6(2), hv6(1))
        };
        let outer_mac = ([0x02, 0xee, 0, 0, 0, 1], [0x02, 0xee, 0, 0, 0, 2]);
        let outer = |s: IpAddr, d: IpAddr, proto: u8, payload: &[u8]| {
            build::ethernet_ip(
                outer_mac.1,
                outer_mac.0,
                &[],
                &build::ip(s, d, proto, 0, 64, payload),
            )
        };
        match self {
            Encap::None | Encap::Ipv6 => inner_eth(),
            Encap::Vlan => {
                build::ethernet_ip(dst_mac, src_mac, &[(ETH_P_8021Q, (3 << 13) | VLAN_ID)], ip)
            }
            Encap::QinQ => build::ethernet_ip(
                dst_mac,
                src_mac,
                &[(ETH_P_8021AD, OUTER_VLAN), (ETH_P_8021Q, VLAN_ID)],
                ip,
            ),
            Encap::Vxlan => outer(
                a,
                b,
                IPPROTO_UDP,
                &build::udp(a, b, 49152, 4789, &build::vxlan(VNI, &inner_eth())),
            ),
            Encap::VxlanV6 => outer(
                a6,
                b6,
                IPPROTO_UDP,
                &build::udp(a6, b6, 49152, 4789, &build::vxlan(VNI, &inner_eth())),
            ),
            Encap::Geneve => outer(
                a,
                b,
                IPPROTO_UDP,
                &build::udp(a, b, 49152, 6081, &build::geneve(VNI, 2, &inner_eth())),
            ),
            Encap::Gre => outer(
                a,
                b,
                IPPROTO_GRE,
                &build::gre(0x0800, false, Some(GRE_KEY), None, ip),
            ),
            Encap::Teb => outer(
                a,
                b,
                IPPROTO_GRE,
                &build::gre(0x6558, false, Some(GRE_KEY), None, &inner_eth()),
            ),
            Encap::ErspanII => outer(
                switch(),
                collector(),
                IPPROTO_GRE,
                &build::gre(
                    0x88BE,
                    false,
                    None,
                    Some(1),
                    &build::erspan2(10, 0, &inner_eth()),
                ),
            ),
            Encap::ErspanIII => outer(
                switch(),
                collector(),
                IPPROTO_GRE,
                &build::gre(
                    0x22EB,
                    false,
                    None,
                    Some(1),
                    &build::erspan3(11, 0, true, &inner_eth()),
                ),
            ),
            Encap::IpIp => outer(a, b, IPPROTO_IPIP, ip),
        }
    }
}

fn hv(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, n))
}
fn hv6(n: u16) -> IpAddr {
    IpAddr::V6(std::net::Ipv6Addr::new(
        0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, n,
    ))
}
fn switch() -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1))
}
fn collector() -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(198, 51, 100, 2))
}
