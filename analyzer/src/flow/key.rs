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
        let (lo, hi) = if src <= dst { (src, dst) } else { (dst, src) };
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
}
