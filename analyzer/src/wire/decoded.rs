//! A decoded frame without its borrow ([`Decoded`]): the header fields of a [`Packet`] and where
//! its IP packet and payload lie in the frame. A frame decoded on one thread (the offline reader
//! that steers each flow to a worker) is analysed on another without being decoded again.

use super::{DecodeConfig, IpInfo, L2Info, MirrorInfo, Packet, Transport, TunnelInfo};

/// A [`Packet`] as offsets into its frame.
#[derive(Debug, Clone, Copy)]
pub struct Decoded {
    l2: L2Info,
    eth_type: u16,
    tunnel: TunnelInfo,
    mirror: MirrorInfo,
    ip: Option<IpInfo>,
    transport: Transport,
    /// (offset, length) in the frame.
    l3: (u32, u32),
    payload: (u32, u32),
    /// The settings it was decoded with (an analyzer with others decodes again).
    cfg: DecodeConfig,
}

/// Where `part` lies in `frame`; None when it is not a part of it (empty parts lie nowhere).
fn span(frame: &[u8], part: &[u8]) -> Option<(u32, u32)> {
    if part.is_empty() {
        return Some((0, 0));
    }
    let start = (part.as_ptr() as usize).checked_sub(frame.as_ptr() as usize)?;
    let end = start.checked_add(part.len())?;
    (end <= frame.len()).then_some((u32::try_from(start).ok()?, part.len() as u32))
}

impl Decoded {
    /// `p`, decoded from `frame` with `cfg`, as offsets; None when its slices do not lie in
    /// `frame`.
    pub fn of(p: &Packet<'_>, frame: &[u8], cfg: &DecodeConfig) -> Option<Decoded> {
        Some(Decoded {
            cfg: *cfg,
            l2: p.l2,
            eth_type: p.eth_type,
            tunnel: p.tunnel,
            mirror: p.mirror,
            ip: p.ip,
            transport: p.transport,
            l3: span(frame, p.l3)?,
            payload: span(frame, p.payload)?,
        })
    }

    /// The packet again, over `frame` (the same bytes, wherever they are now), for a reader
    /// with decode settings `cfg`; None when the offsets do not fit `frame` or the packet was
    /// decoded with other settings (a configuration changed since).
    pub fn packet<'a>(&self, frame: &'a [u8], cfg: &DecodeConfig) -> Option<Packet<'a>> {
        if self.cfg != *cfg {
            return None;
        }
        let part = |(at, len): (u32, u32)| frame.get(at as usize..(at as usize + len as usize));
        Some(Packet {
            l2: self.l2,
            eth_type: self.eth_type,
            tunnel: self.tunnel,
            mirror: self.mirror,
            ip: self.ip,
            transport: self.transport,
            l3: part(self.l3)?,
            payload: part(self.payload)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::build;
    use crate::wire::{decode_link, DecodeConfig, LinkType};

    #[test]
    fn a_frame_decoded_once_is_the_same_packet_anywhere() {
        let (a, b) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let inner = build::tcp_frame(a, b, 40000, 80, b"GET / HTTP/1.1\r\n\r\n");
        let (o1, o2) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        let vxlan = build::vxlan_frame(o1, o2, 7, &inner);
        let cfg = DecodeConfig::default();
        let copy_of_inner = inner.clone();
        for frame in [inner, vxlan] {
            let p = decode_link(&frame, LinkType::Ethernet, &cfg).unwrap();
            let d = Decoded::of(&p, &frame, &cfg).unwrap();
            // The bytes moved (copied into a lane's batch): the same packet over the copy.
            let copy = frame.clone();
            let q = d.packet(&copy, &cfg).unwrap();
            assert_eq!(q.l3, p.l3);
            assert_eq!(q.payload, p.payload);
            assert_eq!(q.payload, b"GET / HTTP/1.1\r\n\r\n");
            assert_eq!(q.transport, p.transport);
            assert_eq!(q.ip.map(|i| i.src), p.ip.map(|i| i.src));
            assert_eq!(q.tunnel.id, p.tunnel.id);
            // Offsets that do not fit another frame are refused, not sliced past its end.
            assert!(d.packet(&copy[..20], &cfg).is_none());
            // Other settings (a reload changed them): decoded again, not taken.
            let other = DecodeConfig {
                max_tunnel_layers: 0,
                ..cfg
            };
            assert!(d.packet(&copy, &other).is_none());
        }
        // Slices of another buffer are not offsets into this one.
        let p = decode_link(&copy_of_inner, LinkType::Ethernet, &cfg).unwrap();
        assert!(Decoded::of(&p, &[0u8; 256], &cfg).is_none());
    }
}
