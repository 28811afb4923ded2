//! tap_type (DeepFlow's capture_network_type) and tap_port.

use super::CaptureMode;
use crate::wire::{L2Info, MirrorInfo};

/// tap_type of cloud (virtualised) traffic; 1-2 and 4-255 are IDC (physical network) taps.
pub const CLOUD: u8 = 3;

/// Which VLAN tag decides the tap_type (`vlan_pcp_in_physical_mirror_traffic`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VlanSource {
    /// 0-7: the outer VLAN, but only when the outer tag's PCP equals this value.
    OuterWithPcp(u8),
    /// 8: the outer VLAN.
    Outer,
    /// 9: the inner VLAN of a QinQ frame.
    Inner,
}

impl Default for VlanSource {
    fn default() -> Self {
        VlanSource::OuterWithPcp(0)
    }
}

impl VlanSource {
    pub fn from_number(n: u8) -> Option<Self> {
        match n {
            0..=7 => Some(VlanSource::OuterWithPcp(n)),
            8 => Some(VlanSource::Outer),
            9 => Some(VlanSource::Inner),
            _ => None,
        }
    }
}

/// VLAN id -> tap_type, with a default for untagged and unmapped traffic.
#[derive(Clone, PartialEq, Eq)]
pub struct TapTypeMap {
    source: VlanSource,
    default: u8,
    /// 0 = not mapped.
    by_vlan: Box<[u8; 4096]>,
}

impl Default for TapTypeMap {
    fn default() -> Self {
        TapTypeMap {
            source: VlanSource::default(),
            default: CLOUD,
            by_vlan: Box::new([0; 4096]),
        }
    }
}

impl std::fmt::Debug for TapTypeMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mapped: Vec<(usize, u8)> = self
            .by_vlan
            .iter()
            .enumerate()
            .filter(|(_, t)| **t != 0)
            .map(|(v, t)| (v, *t))
            .take(16)
            .collect();
        f.debug_struct("TapTypeMap")
            .field("source", &self.source)
            .field("default", &self.default)
            .field("by_vlan", &mapped)
            .finish()
    }
}

impl TapTypeMap {
    /// `default` must be 1..=255; table entries are (vlan 0..=4095, tap_type 1..=255).
    pub fn new(source: VlanSource, default: u8, table: &[(u16, u8)]) -> Self {
        let mut by_vlan = Box::new([0u8; 4096]);
        for (vlan, tap) in table {
            by_vlan[usize::from(*vlan & 0x0FFF)] = *tap;
        }
        TapTypeMap {
            source,
            default: default.max(1),
            by_vlan,
        }
    }

    /// The tap_type of a frame with these (outermost) VLAN tags.
    pub fn tap_type(&self, l2: &L2Info) -> u8 {
        let vlan = match (self.source, l2.outer_vlan_count) {
            (_, 0) => Some(0),
            (VlanSource::OuterWithPcp(p), _) => (l2.outer_pcp == p).then_some(l2.outer_vlans[0]),
            (VlanSource::Outer, _) => Some(l2.outer_vlans[0]),
            (VlanSource::Inner, 2) => Some(l2.outer_vlans[1]),
            (VlanSource::Inner, _) => None,
        };
        match vlan.map(|v| self.by_vlan[usize::from(v & 0x0FFF)]) {
            Some(t) if t != 0 => t,
            _ => self.default,
        }
    }
}

/// Where a tap_port value comes from (DeepFlow's TapPort "from" field, bits 60-63).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum TapPortKind {
    /// Low 32 bits of a local VM / pod MAC (virtual mirror).
    LocalMac = 0,
    /// ERSPAN source (mirroring device) IPv4 address.
    TunnelIpv4 = 2,
    /// ERSPAN source IPv6 address (folded to 32 bits).
    TunnelIpv6 = 3,
    /// The capture interface (pcap source index for files).
    CaptureInterface = 4,
    /// The syscall tracer (payload: the traced process id); DeepFlow's ingester derives
    /// signal_source = eBPF (3) from this kind.
    Ebpf = 7,
}

/// A tap_port in DeepFlow's u64 layout: bits 60-63 kind, 40-59 extension (ERSPAN session id, or
/// the high 16 bits of a local MAC), 32-35 tunnel type (6 = ERSPAN), 0-31 payload (MAC low 32
/// bits, address or interface).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct TapPort(pub u64);

impl TapPort {
    pub fn capture(ifindex: u32) -> Self {
        TapPort((TapPortKind::CaptureInterface as u64) << 60 | u64::from(ifindex))
    }

    /// DeepFlow keeps the MAC's low 32 bits; the high 16 go to the extension bits 40-55 so that
    /// two local MACs never share a tap_port.
    pub fn local_mac(mac: [u8; 6]) -> Self {
        let low = u64::from(u32::from_be_bytes([mac[2], mac[3], mac[4], mac[5]]));
        let high = u64::from(u16::from_be_bytes([mac[0], mac[1]]));
        TapPort(high << 40 | low)
    }

    /// The ERSPAN session a frame arrived in: source address + session id.
    pub fn erspan(m: &MirrorInfo) -> Self {
        let (kind, addr) = if m.is_ipv6 {
            let w =
                |i: usize| u32::from_be_bytes([m.src[i], m.src[i + 1], m.src[i + 2], m.src[i + 3]]);
            (TapPortKind::TunnelIpv6, w(0) ^ w(4) ^ w(8) ^ w(12))
        } else {
            (
                TapPortKind::TunnelIpv4,
                u32::from_be_bytes([m.src[0], m.src[1], m.src[2], m.src[3]]),
            )
        };
        TapPort(
            (kind as u64) << 60
                | u64::from(m.session_id & 0x03FF) << 40
                | 6 << 32
                | u64::from(addr),
        )
    }

    /// A row of the syscall tracer, from process `pid`.
    pub fn ebpf(pid: u32) -> Self {
        TapPort((TapPortKind::Ebpf as u64) << 60 | u64::from(pid))
    }

    pub fn kind(self) -> u8 {
        (self.0 >> 60) as u8
    }

    /// Name of the kind, for records.
    pub fn kind_name(self) -> &'static str {
        match self.kind() {
            0 => "local_mac",
            2 => "erspan_ipv4",
            3 => "erspan_ipv6",
            4 => "capture_interface",
            7 => "ebpf",
            _ => "unknown",
        }
    }
}

/// DeepFlow's tap_side and observation point name. A virtual mirror on a hypervisor sees its
/// local VMs: the client's hypervisor (c-hv, 17) or the server's (s-hv, 18). Elsewhere, without
/// platform data, the observation point is on the path (rest, 0).
pub fn tap_side(mode: CaptureMode, client_local: bool, server_local: bool) -> (u8, &'static str) {
    match (mode, client_local, server_local) {
        (CaptureMode::VirtualMirror, true, _) => (17, "c-hv"),
        (CaptureMode::VirtualMirror, false, true) => (18, "s-hv"),
        _ => (0, "rest"),
    }
}

/// The observation point name of DeepFlow's `tap_side` number (the values tapflow writes; other
/// agents' numbers by DeepFlow's table: client 1 / server 2 combined with node 8, hypervisor 16,
/// gateway-hypervisor 24, gateway 32, process 40; app 48).
pub fn tap_side_name(side: u8) -> &'static str {
    match side {
        0 => "rest",
        1 => "c",
        2 => "s",
        4 => "local",
        9 => "c-nd",
        10 => "s-nd",
        17 => "c-hv",
        18 => "s-hv",
        25 => "c-gw-hv",
        26 => "s-gw-hv",
        33 => "c-gw",
        34 => "s-gw",
        41 => "c-p",
        42 => "s-p",
        48 => "app",
        49 => "c-app",
        50 => "s-app",
        _ => "rest",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l2(vlans: &[u16], pcp: u8) -> L2Info {
        let mut l = L2Info {
            outer_vlan_count: vlans.len() as u8,
            outer_pcp: pcp,
            ..L2Info::default()
        };
        for (i, v) in vlans.iter().enumerate() {
            l.outer_vlans[i] = *v;
        }
        l
    }

    #[test]
    fn vlan_pcp_rules() {
        let table = [(10, 4), (20, 5), (0, 6)];
        let m = TapTypeMap::new(VlanSource::OuterWithPcp(3), CLOUD, &table);
        assert_eq!(m.tap_type(&l2(&[10], 3)), 4);
        assert_eq!(m.tap_type(&l2(&[10], 0)), CLOUD, "PCP differs: default");
        assert_eq!(m.tap_type(&l2(&[], 0)), 6, "untagged: VLAN 0 entry");
        assert_eq!(m.tap_type(&l2(&[99], 3)), CLOUD, "unmapped VLAN: default");
        let m = TapTypeMap::new(VlanSource::Outer, 7, &table);
        assert_eq!(m.tap_type(&l2(&[20, 10], 5)), 5);
        assert_eq!(m.tap_type(&l2(&[99], 1)), 7);
        let m = TapTypeMap::new(VlanSource::Inner, CLOUD, &table);
        assert_eq!(m.tap_type(&l2(&[20, 10], 0)), 4);
        assert_eq!(m.tap_type(&l2(&[20], 0)), CLOUD, "no inner tag");
    }

    #[test]
    fn tap_port_layout() {
        assert_eq!(TapPort::capture(7).0, 0x4000_0000_0000_0007);
        assert_eq!(
            TapPort::local_mac([2, 0, 0xaa, 0xbb, 0xcc, 0xdd]).0,
            0x0002_0000_aabb_ccdd
        );
        let mut m = MirrorInfo {
            version: 3,
            session_id: 11,
            ..MirrorInfo::NONE
        };
        m.src[..4].copy_from_slice(&[198, 51, 100, 1]);
        let t = TapPort::erspan(&m);
        assert_eq!(t.kind_name(), "erspan_ipv4");
        assert_eq!(t.0 & 0xFFFF_FFFF, 0xC633_6401);
        assert_eq!((t.0 >> 40) & 0x3FF, 11);
    }
}
