//! The symmetric flow key: both directions of a conversation map to the same key.

/// One end of a flow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    pub ip: [u8; 16],
    pub port: u16,
}

impl Endpoint {
    /// A 64-bit fingerprint (never 0) for bounded tables keyed by endpoint.
    pub fn fingerprint(&self) -> u64 {
        let mut h: u64 = 0xCBF2_9CE4_8422_2325 ^ u64::from(self.port);
        for c in self.ip.chunks_exact(8) {
            let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
            h = (h ^ w).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(31);
        }
        (h ^ (h >> 29)) | 1
    }
}

/// Canonical key: the lower endpoint first, plus what else separates conversations (protocol,
/// address family, non-trimmed tunnel, capture point).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowKey {
    pub lo: Endpoint,
    pub hi: Endpoint,
    pub proto: u8,
    pub is_v6: bool,
    pub tunnel_type: u8,
    pub tunnel_id: u32,
    pub tap_type: u8,
    pub tap_port: u64,
}

impl FlowKey {
    /// Builds the key for a packet from `src` to `dst`.
    #[inline]
    pub fn new(
        src: Endpoint,
        dst: Endpoint,
        proto: u8,
        is_v6: bool,
        tunnel: (u8, u32),
        tap: (u8, u64),
    ) -> Self {
        // `src <= dst` as `Endpoint`'s derived order (address bytes, then port), in two
        // integer compares instead of a byte-wise one.
        let order = |e: &Endpoint| (u128::from_be_bytes(e.ip), e.port);
        let (lo, hi) = if order(&src) <= order(&dst) {
            (src, dst)
        } else {
            (dst, src)
        };
        FlowKey {
            lo,
            hi,
            proto,
            is_v6,
            tunnel_type: tunnel.0,
            tunnel_id: tunnel.1,
            tap_type: tap.0,
            tap_port: tap.1,
        }
    }
}

/// Bytes 4..16 of an IPv6 flow's two addresses (its key's lower end, then the higher), kept
/// beside the flow slot: an IPv4 flow's key holds its whole addresses and needs none.
pub type AddrTails = [[u8; 12]; 2];

/// A flow's key as its slot holds it: ports, protocol, tunnel and capture point, and the first
/// 4 bytes of each address (an IPv4 address whole; an IPv6 address's other 12 bytes are in the
/// flow's [`AddrTails`]). 28 bytes instead of [`FlowKey`]'s 56.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredKey {
    head: [[u8; 4]; 2],
    port: [u16; 2],
    pub proto: u8,
    pub is_v6: bool,
    pub tunnel_type: u8,
    pub tap_type: u8,
    pub tunnel_id: u32,
    tap_port: [u32; 2],
}

impl std::hash::Hash for StoredKey {
    /// Every field, as three words and a half (one hasher call per word, not per field).
    #[inline(always)]
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        let word = |b: [u8; 4]| u64::from(u32::from_ne_bytes(b));
        h.write_u64(word(self.head[0]) | (word(self.head[1]) << 32));
        h.write_u64(
            u64::from(self.port[0])
                | (u64::from(self.port[1]) << 16)
                | (u64::from(self.proto) << 32)
                | (u64::from(self.is_v6) << 40)
                | (u64::from(self.tunnel_type) << 48)
                | (u64::from(self.tap_type) << 56),
        );
        h.write_u64(u64::from(self.tunnel_id) | (u64::from(self.tap_port[0]) << 32));
        h.write_u32(self.tap_port[1]);
    }
}

fn head(ip: &[u8; 16]) -> [u8; 4] {
    [ip[0], ip[1], ip[2], ip[3]]
}

fn tail(ip: &[u8; 16]) -> [u8; 12] {
    let mut t = [0; 12];
    t.copy_from_slice(&ip[4..]);
    t
}

impl StoredKey {
    /// The stored form of `key`.
    #[inline(always)]
    pub fn of(key: &FlowKey) -> StoredKey {
        StoredKey {
            head: [head(&key.lo.ip), head(&key.hi.ip)],
            port: [key.lo.port, key.hi.port],
            proto: key.proto,
            is_v6: key.is_v6,
            tunnel_type: key.tunnel_type,
            tap_type: key.tap_type,
            tunnel_id: key.tunnel_id,
            tap_port: [key.tap_port as u32, (key.tap_port >> 32) as u32],
        }
    }

    /// The address tails of `key` (all zero for IPv4).
    #[inline]
    pub fn tails_of(key: &FlowKey) -> AddrTails {
        [tail(&key.lo.ip), tail(&key.hi.ip)]
    }

    /// The full key, given its address tails (ignored for IPv4).
    #[cfg(test)]
    fn full(&self, tails: &AddrTails) -> FlowKey {
        FlowKey {
            lo: self.end(0, tails),
            hi: self.end(1, tails),
            proto: self.proto,
            is_v6: self.is_v6,
            tunnel_type: self.tunnel_type,
            tunnel_id: self.tunnel_id,
            tap_type: self.tap_type,
            tap_port: self.tap_port(),
        }
    }

    /// The lower (0) or higher (1) end, given the address tails (ignored for IPv4).
    #[inline]
    pub fn end(&self, i: usize, tails: &AddrTails) -> Endpoint {
        let mut ip = [0; 16];
        ip[..4].copy_from_slice(&self.head[i]);
        if self.is_v6 {
            ip[4..].copy_from_slice(&tails[i]);
        }
        Endpoint {
            ip,
            port: self.port[i],
        }
    }

    /// The port of the lower (0) or higher (1) end.
    #[inline]
    pub fn port(&self, i: usize) -> u16 {
        self.port[i]
    }

    pub fn tap_port(&self) -> u64 {
        u64::from(self.tap_port[0]) | (u64::from(self.tap_port[1]) << 32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symmetric() {
        let a = Endpoint {
            ip: [1; 16],
            port: 80,
        };
        let b = Endpoint {
            ip: [2; 16],
            port: 40000,
        };
        assert_eq!(
            FlowKey::new(a, b, 6, false, (0, 0), (3, 1)),
            FlowKey::new(b, a, 6, false, (0, 0), (3, 1))
        );
        assert_ne!(
            FlowKey::new(a, b, 6, false, (0, 0), (3, 1)),
            FlowKey::new(a, b, 17, false, (0, 0), (3, 1))
        );
    }

    #[test]
    fn lower_end_is_the_derived_order_minimum() {
        // Addresses differing in the first, a middle and the last byte, equal addresses with
        // different ports: the key's lower end is `min` by `Endpoint`'s derived order.
        let ends = [
            ([0u8; 16], 1u16),
            ([0; 16], 2),
            ([1; 16], 0),
            ([0xff; 16], 0),
            ([0x80; 16], 7),
        ];
        let mut all: Vec<Endpoint> = ends
            .iter()
            .map(|&(ip, port)| Endpoint { ip, port })
            .collect();
        let mut mid = [0x10; 16];
        mid[8] = 0xfe;
        all.push(Endpoint { ip: mid, port: 9 });
        mid[15] = 0x01;
        all.push(Endpoint { ip: mid, port: 9 });
        for a in &all {
            for b in &all {
                let k = FlowKey::new(*a, *b, 6, true, (0, 0), (3, 1));
                assert_eq!(k.lo, *a.min(b), "{a:?} {b:?}");
                assert_eq!(k.hi, *a.max(b), "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn stored_key_round_trips() {
        let v6 = |last: u8, port: u16| Endpoint {
            ip: [0xfd, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, last],
            port,
        };
        let v4 = |last: u8, port: u16| {
            let mut ip = [0; 16];
            ip[..4].copy_from_slice(&[10, 0, 0, last]);
            Endpoint { ip, port }
        };
        for (a, b, is_v6) in [
            (v6(1, 53), v6(2, 53), true),
            (v4(9, 80), v4(3, 5000), false),
        ] {
            let key = FlowKey::new(a, b, 17, is_v6, (4, 77), (3, 0x1_0000_0002));
            let (stored, tails) = (StoredKey::of(&key), StoredKey::tails_of(&key));
            assert_eq!(stored.full(&tails), key);
            assert_eq!(stored.end(0, &tails), key.lo);
            assert_eq!(stored.end(1, &tails), key.hi);
            assert_eq!(stored.tap_port(), 0x1_0000_0002);
            assert_eq!(tails == [[0; 12]; 2], !is_v6);
        }
        // Another address in the same /32 with the same port: only the tails tell them apart.
        let one = FlowKey::new(v6(1, 53), v6(2, 53), 17, true, (0, 0), (3, 1));
        let two = FlowKey::new(v6(1, 53), v6(3, 53), 17, true, (0, 0), (3, 1));
        assert_eq!(StoredKey::of(&one), StoredKey::of(&two));
        assert_ne!(StoredKey::tails_of(&one), StoredKey::tails_of(&two));
        assert_eq!(std::mem::size_of::<StoredKey>(), 28);
    }
}
