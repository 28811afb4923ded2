//! Ethernet II with up to two VLAN tags (802.1Q, 802.1ad and the pre-standard 0x9100), and MPLS
//! label stacks in front of IP.

use super::{be16, DecodeError, Layer};

pub const ETH_P_IPV4: u16 = 0x0800;
pub const ETH_P_ARP: u16 = 0x0806;
pub const ETH_P_IPV6: u16 = 0x86DD;
pub const ETH_P_8021Q: u16 = 0x8100;
pub const ETH_P_8021AD: u16 = 0x88A8;
pub const ETH_P_QINQ_OLD: u16 = 0x9100;
const ETH_P_MPLS_UC: u16 = 0x8847;
const ETH_P_MPLS_MC: u16 = 0x8848;

mod field {
    pub(super) const DST: core::ops::Range<usize> = 0..6;
    pub(super) const SRC: core::ops::Range<usize> = 6..12;
    pub(super) const ETHERTYPE: usize = 12;
    pub(super) const HEADER_LEN: usize = 14;
    pub(super) const VLAN_TAG_LEN: usize = 4;
    pub(super) const MPLS_LABEL_LEN: usize = 4;
}

/// Most VLAN tags we accept in one Ethernet header (QinQ).
pub(crate) const MAX_VLAN_TAGS: usize = 2;
/// Most MPLS labels we pop before giving up.
const MAX_MPLS_LABELS: usize = 8;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Ethernet<'a> {
    pub(crate) dst: [u8; 6],
    pub(crate) src: [u8; 6],
    pub(crate) vlans: [u16; MAX_VLAN_TAGS],
    pub(crate) vlan_count: u8,
    pub(crate) outer_pcp: u8,
    /// EtherType after tags and labels (0x0800/0x86DD after an MPLS stack).
    pub(crate) eth_type: u16,
    pub(crate) header_len: u16,
    pub(crate) payload: &'a [u8],
}

pub(crate) fn is_vlan_tpid(t: u16) -> bool {
    matches!(t, ETH_P_8021Q | ETH_P_8021AD | ETH_P_QINQ_OLD)
}

pub(crate) fn parse(buf: &[u8]) -> Result<Ethernet<'_>, DecodeError> {
    if buf.len() < field::HEADER_LEN {
        return Err(DecodeError::truncated(Layer::Ethernet));
    }
    let mut dst = [0u8; 6];
    let mut src = [0u8; 6];
    dst.copy_from_slice(&buf[field::DST]);
    src.copy_from_slice(&buf[field::SRC]);
    let mut eth_type =
        be16(buf, field::ETHERTYPE).ok_or(DecodeError::truncated(Layer::Ethernet))?;
    let mut off = field::HEADER_LEN;
    let mut vlans = [0u16; MAX_VLAN_TAGS];
    let mut vlan_count = 0usize;
    let mut outer_pcp = 0u8;
    while is_vlan_tpid(eth_type) {
        if vlan_count == MAX_VLAN_TAGS {
            return Err(DecodeError::unsupported(Layer::Vlan));
        }
        let tci = be16(buf, off).ok_or(DecodeError::truncated(Layer::Vlan))?;
        eth_type = be16(buf, off + 2).ok_or(DecodeError::truncated(Layer::Vlan))?;
        if vlan_count == 0 {
            outer_pcp = (tci >> 13) as u8;
        }
        vlans[vlan_count] = tci & 0x0FFF;
        vlan_count += 1;
        off += field::VLAN_TAG_LEN;
    }
    if eth_type == ETH_P_MPLS_UC || eth_type == ETH_P_MPLS_MC {
        let mut labels = 0;
        loop {
            let label = buf
                .get(off..off + field::MPLS_LABEL_LEN)
                .ok_or(DecodeError::truncated(Layer::Mpls))?;
            off += field::MPLS_LABEL_LEN;
            labels += 1;
            if label[2] & 0x01 == 0x01 {
                break;
            }
            if labels == MAX_MPLS_LABELS {
                return Err(DecodeError::unsupported(Layer::Mpls));
            }
        }
        eth_type = match buf.get(off).map(|b| b >> 4) {
            Some(4) => ETH_P_IPV4,
            Some(6) => ETH_P_IPV6,
            // Ethernet pseudowire (control word 0) and others: not decoded.
            Some(_) => return Err(DecodeError::unsupported(Layer::Mpls)),
            None => return Err(DecodeError::truncated(Layer::Mpls)),
        };
    }
    let header_len = u16::try_from(off).map_err(|_| DecodeError::malformed(Layer::Ethernet))?;
    Ok(Ethernet {
        dst,
        src,
        vlans,
        vlan_count: vlan_count as u8,
        outer_pcp,
        eth_type,
        header_len,
        payload: &buf[off..],
    })
}
