//! Tunnel detection and header peeling: VXLAN, GENEVE, GRE (key/seq/checksum), TEB, ERSPAN
//! I/II/III and IP-in-IP. Works the same over IPv4 and IPv6 outer headers.

use super::ip::{IpInfo, IPPROTO_GRE, IPPROTO_IPIP, IPPROTO_IPV6, IPPROTO_UDP};
use super::{be16, be32, DecodeConfig, DecodeError, Layer};

const ETH_P_TEB: u16 = 0x6558;
const ETH_P_ERSPAN_I_II: u16 = 0x88BE;
const ETH_P_ERSPAN_III: u16 = 0x22EB;
const ETH_P_IPV4: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86DD;

mod gre_flag {
    pub(super) const CHECKSUM: u16 = 0x8000;
    pub(super) const ROUTING: u16 = 0x4000;
    pub(super) const KEY: u16 = 0x2000;
    pub(super) const SEQ: u16 = 0x1000;
    pub(super) const VERSION_MASK: u16 = 0x0007;
}

const VXLAN_HEADER_LEN: usize = 8;
const VXLAN_FLAG_VNI: u8 = 0x08;
const GENEVE_HEADER_LEN: usize = 8;
const ERSPAN_II_HEADER_LEN: usize = 8;
const ERSPAN_III_HEADER_LEN: usize = 12;
const ERSPAN_III_PLATFORM_LEN: usize = 8;

/// Tunnel kinds, numbered as DeepFlow's `TunnelType`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum TunnelType {
    #[default]
    None = 0,
    Vxlan = 1,
    /// IPv4-in-IP and IPv6-in-IP.
    Ipip = 2,
    /// GRE carrying IP directly.
    Gre = 3,
    Geneve = 4,
    VxlanNsh = 5,
    Erspan = 6,
    /// GRE transparent Ethernet bridging.
    Teb = 7,
}

impl TunnelType {
    pub const fn name(self) -> &'static str {
        match self {
            TunnelType::None => "none",
            TunnelType::Vxlan => "vxlan",
            TunnelType::Ipip => "ipip",
            TunnelType::Gre => "gre",
            TunnelType::Geneve => "geneve",
            TunnelType::VxlanNsh => "vxlan-nsh",
            TunnelType::Erspan => "erspan",
            TunnelType::Teb => "teb",
        }
    }

    /// The kinds tapflow decapsulates.
    pub const READ: [TunnelType; 6] = [
        TunnelType::Vxlan,
        TunnelType::Ipip,
        TunnelType::Gre,
        TunnelType::Geneve,
        TunnelType::Erspan,
        TunnelType::Teb,
    ];

    /// Parses a config name (case-insensitive).
    pub fn from_name(s: &str) -> Option<Self> {
        Self::READ
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(s))
    }

    /// The kind DeepFlow numbers `n` (among those tapflow decapsulates).
    pub fn from_number(n: u8) -> Option<Self> {
        Self::READ.into_iter().find(|t| *t as u8 == n)
    }
}

/// A small set of tunnel types.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TunnelSet(u16);

impl TunnelSet {
    pub const EMPTY: TunnelSet = TunnelSet(0);
    /// Every kind tapflow decapsulates ([`TunnelType::READ`]).
    pub const ALL: TunnelSet = {
        let mut s = TunnelSet::EMPTY;
        let mut i = 0;
        while i < TunnelType::READ.len() {
            s = s.with(TunnelType::READ[i]);
            i += 1;
        }
        s
    };
    #[must_use]
    pub const fn with(self, t: TunnelType) -> Self {
        TunnelSet(self.0 | 1 << t as u16)
    }
    pub const fn contains(self, t: TunnelType) -> bool {
        self.0 & (1 << t as u16) != 0
    }
    #[must_use]
    pub const fn union(self, o: TunnelSet) -> Self {
        TunnelSet(self.0 | o.0)
    }
}

/// The outermost tunnel kept with a flow (trimmed mirror transports are not kept).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TunnelInfo {
    pub kind: TunnelType,
    /// Number of non-trimmed tunnel layers peeled.
    pub tier: u8,
    /// VNI, GRE key or ERSPAN session id.
    pub id: u32,
    pub src: [u8; 16],
    pub dst: [u8; 16],
    pub is_ipv6: bool,
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
}

impl TunnelInfo {
    pub const NONE: TunnelInfo = TunnelInfo {
        kind: TunnelType::None,
        tier: 0,
        id: 0,
        src: [0; 16],
        dst: [0; 16],
        is_ipv6: false,
        src_mac: [0; 6],
        dst_mac: [0; 6],
    };
}

/// The ERSPAN session a mirrored frame arrived in (type 0 = none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MirrorInfo {
    /// ERSPAN type: 1, 2 or 3 (0 = not ERSPAN).
    pub version: u8,
    pub session_id: u16,
    /// Address of the mirroring device (outer source).
    pub src: [u8; 16],
    pub is_ipv6: bool,
}

impl MirrorInfo {
    pub const NONE: MirrorInfo = MirrorInfo {
        version: 0,
        session_id: 0,
        src: [0; 16],
        is_ipv6: false,
    };
}

/// A tunnel found in an IP payload.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Found<'a> {
    pub(crate) kind: TunnelType,
    pub(crate) id: u32,
    pub(crate) inner: &'a [u8],
    pub(crate) inner_is_ethernet: bool,
    pub(crate) erspan_version: u8,
}

impl<'a> Found<'a> {
    fn new(kind: TunnelType, id: u32, inner: &'a [u8], inner_is_ethernet: bool) -> Self {
        Found {
            kind,
            id,
            inner,
            inner_is_ethernet,
            erspan_version: 0,
        }
    }
}

/// Can an IP payload of protocol `proto` be a tunnel [`detect`] finds? (UDP, GRE, IP in IP.)
#[inline(always)]
pub(crate) fn may_carry(proto: u8) -> bool {
    matches!(
        proto,
        IPPROTO_UDP | IPPROTO_GRE | IPPROTO_IPIP | IPPROTO_IPV6
    )
}

/// Looks for a tunnel in `l4` (the IP payload of `ip`). `Ok(None)` means "plain traffic".
pub(crate) fn detect<'a>(
    ip: &IpInfo,
    l4: &'a [u8],
    cfg: &DecodeConfig,
) -> Result<Option<Found<'a>>, DecodeError> {
    let found = match ip.proto {
        IPPROTO_UDP => detect_udp(l4, cfg)?,
        IPPROTO_GRE if cfg.decapsulates_gre() => Some(gre(l4)?),
        IPPROTO_IPIP | IPPROTO_IPV6 => Some(Found::new(TunnelType::Ipip, 0, l4, false)),
        _ => None,
    };
    // A kind left encapsulated is the traffic itself.
    Ok(found.filter(|f| cfg.decapsulates(f.kind)))
}

fn detect_udp<'a>(l4: &'a [u8], cfg: &DecodeConfig) -> Result<Option<Found<'a>>, DecodeError> {
    let Some(dport) = be16(l4, 2) else {
        return Ok(None);
    };
    let Some(payload) = l4.get(8..) else {
        return Ok(None);
    };
    if cfg.vxlan_ports.contains(&dport) && cfg.decapsulates(TunnelType::Vxlan) {
        // DeepFlow's rule: the flags byte must be exactly "VNI present"; else it is plain UDP.
        if payload.len() >= VXLAN_HEADER_LEN && payload[0] == VXLAN_FLAG_VNI {
            let vni = be32(payload, 4).unwrap_or(0) >> 8;
            return Ok(Some(Found::new(
                TunnelType::Vxlan,
                vni,
                &payload[VXLAN_HEADER_LEN..],
                true,
            )));
        }
        return Ok(None);
    }
    if dport == cfg.geneve_port
        && payload.len() >= GENEVE_HEADER_LEN
        && cfg.decapsulates(TunnelType::Geneve)
    {
        if payload[0] >> 6 != 0 {
            return Err(DecodeError::unsupported(Layer::Geneve));
        }
        let header_len = GENEVE_HEADER_LEN + usize::from(payload[0] & 0x3F) * 4;
        let inner = payload
            .get(header_len..)
            .ok_or(DecodeError::truncated(Layer::Geneve))?;
        let vni = be32(payload, 4).unwrap_or(0) >> 8;
        let is_eth = match be16(payload, 2).unwrap_or(0) {
            ETH_P_TEB => true,
            ETH_P_IPV4 | ETH_P_IPV6 => false,
            _ => return Err(DecodeError::unsupported(Layer::Geneve)),
        };
        return Ok(Some(Found::new(TunnelType::Geneve, vni, inner, is_eth)));
    }
    Ok(None)
}

fn gre(l4: &[u8]) -> Result<Found<'_>, DecodeError> {
    let flags = be16(l4, 0).ok_or(DecodeError::truncated(Layer::Gre))?;
    let proto = be16(l4, 2).ok_or(DecodeError::truncated(Layer::Gre))?;
    if flags & gre_flag::VERSION_MASK != 0 {
        // Version 1 is PPTP's enhanced GRE carrying PPP: not decoded.
        return Err(DecodeError::unsupported(Layer::Gre));
    }
    if flags & gre_flag::ROUTING != 0 {
        return Err(DecodeError::unsupported(Layer::Gre));
    }
    let mut off = 4;
    if flags & gre_flag::CHECKSUM != 0 {
        off += 4;
    }
    let mut key = 0;
    if flags & gre_flag::KEY != 0 {
        key = be32(l4, off).ok_or(DecodeError::truncated(Layer::Gre))?;
        off += 4;
    }
    let has_seq = flags & gre_flag::SEQ != 0;
    if has_seq {
        off += 4;
    }
    let payload = l4.get(off..).ok_or(DecodeError::truncated(Layer::Gre))?;
    match proto {
        ETH_P_TEB => Ok(Found::new(TunnelType::Teb, key, payload, true)),
        ETH_P_IPV4 | ETH_P_IPV6 => Ok(Found::new(TunnelType::Gre, key, payload, false)),
        ETH_P_ERSPAN_I_II if !has_seq => {
            // Type I: no ERSPAN header, the mirrored frame follows GRE directly.
            Ok(Found {
                erspan_version: 1,
                ..Found::new(TunnelType::Erspan, 0, payload, true)
            })
        }
        ETH_P_ERSPAN_I_II => {
            if payload.len() < ERSPAN_II_HEADER_LEN {
                return Err(DecodeError::truncated(Layer::Erspan));
            }
            if payload[0] >> 4 != 1 {
                return Err(DecodeError::malformed(Layer::Erspan));
            }
            let session = u32::from(be16(payload, 2).unwrap_or(0) & 0x03FF);
            Ok(Found {
                erspan_version: 2,
                ..Found::new(
                    TunnelType::Erspan,
                    session,
                    &payload[ERSPAN_II_HEADER_LEN..],
                    true,
                )
            })
        }
        ETH_P_ERSPAN_III => {
            if payload.len() < ERSPAN_III_HEADER_LEN {
                return Err(DecodeError::truncated(Layer::Erspan));
            }
            if payload[0] >> 4 != 2 {
                return Err(DecodeError::malformed(Layer::Erspan));
            }
            let session = u32::from(be16(payload, 2).unwrap_or(0) & 0x03FF);
            let has_platform = payload[11] & 0x01 != 0;
            let frame_type = (payload[10] >> 2) & 0x1F;
            let header_len = ERSPAN_III_HEADER_LEN
                + if has_platform {
                    ERSPAN_III_PLATFORM_LEN
                } else {
                    0
                };
            let inner = payload
                .get(header_len..)
                .ok_or(DecodeError::truncated(Layer::Erspan))?;
            let is_eth = match frame_type {
                0 => true,
                2 => false,
                _ => return Err(DecodeError::unsupported(Layer::Erspan)),
            };
            Ok(Found {
                erspan_version: 3,
                ..Found::new(TunnelType::Erspan, session, inner, is_eth)
            })
        }
        _ => Err(DecodeError::unsupported(Layer::Gre)),
    }
}
