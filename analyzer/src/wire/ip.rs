//! IPv4 (options, fragments) and IPv6 (extension headers skipped, fragment header honoured).

use super::{be16, be32, DecodeError, Layer};

pub const IPPROTO_ICMP: u8 = 1;
pub const IPPROTO_IPIP: u8 = 4;
pub const IPPROTO_TCP: u8 = 6;
pub const IPPROTO_UDP: u8 = 17;
pub const IPPROTO_IPV6: u8 = 41;
pub const IPPROTO_GRE: u8 = 47;
pub const IPPROTO_ICMPV6: u8 = 58;
const IPV6_HOPOPTS: u8 = 0;
const IPV6_ROUTING: u8 = 43;
const IPV6_FRAGMENT: u8 = 44;
const IPV6_AH: u8 = 51;
const IPV6_DSTOPTS: u8 = 60;
const IPV6_MOBILITY: u8 = 135;
/// Most IPv6 extension headers we walk before calling the packet malformed.
const MAX_IPV6_EXT_HEADERS: usize = 8;

mod v4 {
    pub(super) const VER_IHL: usize = 0;
    pub(super) const TOTAL_LEN: usize = 2;
    pub(super) const ID: usize = 4;
    pub(super) const FLAGS_FRAG: usize = 6;
    pub(super) const TTL: usize = 8;
    pub(super) const PROTO: usize = 9;
    pub(super) const SRC: core::ops::Range<usize> = 12..16;
    pub(super) const DST: core::ops::Range<usize> = 16..20;
    pub(super) const MIN_LEN: usize = 20;
}

mod v6 {
    pub(super) const VER_TC_FLOW: usize = 0;
    pub(super) const PAYLOAD_LEN: usize = 4;
    pub(super) const NEXT_HEADER: usize = 6;
    pub(super) const HOP_LIMIT: usize = 7;
    pub(super) const SRC: core::ops::Range<usize> = 8..24;
    pub(super) const DST: core::ops::Range<usize> = 24..40;
    pub(super) const HEADER_LEN: usize = 40;
}

/// Where a packet sits in a fragmented datagram.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Fragment {
    /// Not fragmented.
    #[default]
    None,
    /// First fragment: carries the L4 header.
    First,
    /// Later fragment: counted, not L4-parsed (no reassembly).
    NonFirst,
}

/// The innermost IP header's facts. Addresses are 16 bytes; IPv4 uses the first 4.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IpInfo {
    pub src: [u8; 16],
    pub dst: [u8; 16],
    pub is_v6: bool,
    /// L4 protocol (after IPv6 extension headers).
    pub proto: u8,
    pub ttl: u8,
    /// Total length from the header (IPv4 total length; IPv6 40 + payload length).
    pub total_len: u16,
    /// IP header length including IPv4 options / IPv6 extension headers.
    pub header_len: u16,
    pub fragment: Fragment,
    /// IPv4 identification or IPv6 flow label.
    pub ident: u32,
}

impl IpInfo {
    /// The L3 payload length the header announces (`total_len - header_len`).
    pub fn l3_payload_len(&self) -> u32 {
        u32::from(self.total_len.saturating_sub(self.header_len))
    }
}

/// Parses an IPv4 header; returns it and the L4 bytes, cut to the announced total length (so
/// Ethernet padding is not mistaken for payload).
pub(crate) fn parse_v4(buf: &[u8]) -> Result<(IpInfo, &[u8]), DecodeError> {
    if buf.len() < v4::MIN_LEN {
        return Err(DecodeError::truncated(Layer::Ipv4));
    }
    let ver_ihl = buf[v4::VER_IHL];
    if ver_ihl >> 4 != 4 {
        return Err(DecodeError::malformed(Layer::Ipv4));
    }
    let ihl = usize::from(ver_ihl & 0x0F) * 4;
    if ihl < v4::MIN_LEN {
        return Err(DecodeError::malformed(Layer::Ipv4));
    }
    if buf.len() < ihl {
        return Err(DecodeError::truncated(Layer::Ipv4));
    }
    let total = be16(buf, v4::TOTAL_LEN).ok_or(DecodeError::truncated(Layer::Ipv4))?;
    // Total length 0 happens with TSO-offloaded captures; trust the buffer then.
    let total_usize = if total == 0 {
        buf.len()
    } else {
        usize::from(total)
    };
    if total_usize < ihl {
        return Err(DecodeError::malformed(Layer::Ipv4));
    }
    let flags_frag = be16(buf, v4::FLAGS_FRAG).ok_or(DecodeError::truncated(Layer::Ipv4))?;
    let more_fragments = flags_frag & 0x2000 != 0;
    let offset = flags_frag & 0x1FFF;
    let fragment = match (offset, more_fragments) {
        (0, false) => Fragment::None,
        (0, true) => Fragment::First,
        _ => Fragment::NonFirst,
    };
    let mut src = [0u8; 16];
    let mut dst = [0u8; 16];
    src[..4].copy_from_slice(&buf[v4::SRC]);
    dst[..4].copy_from_slice(&buf[v4::DST]);
    let end = total_usize.min(buf.len());
    let info = IpInfo {
        src,
        dst,
        is_v6: false,
        proto: buf[v4::PROTO],
        ttl: buf[v4::TTL],
        total_len: u16::try_from(total_usize).unwrap_or(u16::MAX),
        header_len: ihl as u16,
        fragment,
        ident: u32::from(be16(buf, v4::ID).unwrap_or(0)),
    };
    Ok((info, &buf[ihl..end]))
}

/// Parses an IPv6 header and skips its extension headers.
pub(crate) fn parse_v6(buf: &[u8]) -> Result<(IpInfo, &[u8]), DecodeError> {
    if buf.len() < v6::HEADER_LEN {
        return Err(DecodeError::truncated(Layer::Ipv6));
    }
    let first = be32(buf, v6::VER_TC_FLOW).ok_or(DecodeError::truncated(Layer::Ipv6))?;
    if first >> 28 != 6 {
        return Err(DecodeError::malformed(Layer::Ipv6));
    }
    let payload_len = be16(buf, v6::PAYLOAD_LEN).ok_or(DecodeError::truncated(Layer::Ipv6))?;
    // Payload length 0 = jumbogram or offloaded capture: trust the buffer.
    let total = if payload_len == 0 {
        buf.len()
    } else {
        v6::HEADER_LEN + usize::from(payload_len)
    };
    let end = total.min(buf.len());
    let mut next = buf[v6::NEXT_HEADER];
    let mut off = v6::HEADER_LEN;
    let mut fragment = Fragment::None;
    let mut ext = 0;
    loop {
        let len = match next {
            IPV6_HOPOPTS | IPV6_ROUTING | IPV6_DSTOPTS | IPV6_MOBILITY => {
                let hdr_len = *buf
                    .get(off + 1)
                    .ok_or(DecodeError::truncated(Layer::Ipv6))?;
                (usize::from(hdr_len) + 1) * 8
            }
            IPV6_FRAGMENT => {
                let fo = be16(buf, off + 2).ok_or(DecodeError::truncated(Layer::Ipv6))?;
                let offset = fo >> 3;
                let more = fo & 1 == 1;
                fragment = match (offset, more) {
                    (0, false) => Fragment::None,
                    (0, true) => Fragment::First,
                    _ => Fragment::NonFirst,
                };
                8
            }
            IPV6_AH => {
                let plen = *buf
                    .get(off + 1)
                    .ok_or(DecodeError::truncated(Layer::Ipv6))?;
                (usize::from(plen) + 2) * 4
            }
            _ => break,
        };
        ext += 1;
        if ext > MAX_IPV6_EXT_HEADERS {
            return Err(DecodeError::malformed(Layer::Ipv6));
        }
        next = *buf.get(off).ok_or(DecodeError::truncated(Layer::Ipv6))?;
        off += len;
        if off > end {
            return Err(DecodeError::truncated(Layer::Ipv6));
        }
        if fragment == Fragment::NonFirst {
            break;
        }
    }
    let mut src = [0u8; 16];
    let mut dst = [0u8; 16];
    src.copy_from_slice(&buf[v6::SRC]);
    dst.copy_from_slice(&buf[v6::DST]);
    let info = IpInfo {
        src,
        dst,
        is_v6: true,
        proto: next,
        ttl: buf[v6::HOP_LIMIT],
        total_len: u16::try_from(total).unwrap_or(u16::MAX),
        header_len: off as u16,
        fragment,
        ident: first & 0x000F_FFFF,
    };
    Ok((info, &buf[off..end]))
}
