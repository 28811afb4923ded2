//! De-duplication of mirrored frames: the same packet seen twice within 100 ms (a SPAN copying
//! both the ingress and the egress port, two ERSPAN sessions on one path) is counted once.
//!
//! Key: the inner IP packet's first 50 (IPv4) / 82 (IPv6) bytes, i.e. DeepFlow's first 64 / 96
//! bytes of the frame without its L2 header and VLAN tags, with the IP header checksum and the L4
//! checksum zeroed and, optionally, the TTL / hop limit zeroed (copies taken before and after a
//! router). IP id, fragment field and lengths (IPv4) or flow label and payload length (IPv6) are
//! part of those bytes. Pairwise, like DeepFlow: a match consumes the stored entry, so a third
//! copy counts as new. The table is fixed-size (4-way buckets); the oldest entry of a full bucket
//! is replaced.

use crate::wire::{Packet, Transport};

/// Two identical frames this close together are duplicates.
pub const DEDUP_WINDOW_NS: u64 = 100_000_000;
const WAYS: usize = 4;

/// De-dup settings (`inputs.cbpf.physical_mirror.packet_dedup_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DedupConfig {
    pub disabled: bool,
    /// Zero TTL / hop limit in the key.
    pub ignore_ttl: bool,
    /// Entries in the table (rounded up to a power of two).
    pub capacity: u32,
}

impl Default for DedupConfig {
    fn default() -> Self {
        DedupConfig {
            disabled: false,
            ignore_ttl: false,
            capacity: 1 << 17,
        }
    }
}

/// The de-dup table of one worker.
#[derive(Debug)]
pub struct Dedup {
    /// (key hash, timestamp ns); timestamp 0 = empty.
    slots: Box<[(u64, u64)]>,
    bucket_mask: usize,
    ignore_ttl: bool,
}

#[inline]
fn mix(h: u64, w: u64) -> u64 {
    (h ^ w).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29)
}

impl Dedup {
    /// The table's bytes for `cfg`.
    pub fn memory_bytes(cfg: &DedupConfig) -> u64 {
        let buckets = (cfg.capacity as usize / WAYS).max(1).next_power_of_two();
        (buckets * WAYS * std::mem::size_of::<(u64, u64)>()) as u64
    }

    pub fn new(cfg: &DedupConfig) -> Self {
        let buckets = (cfg.capacity as usize / WAYS).max(1).next_power_of_two();
        Dedup {
            slots: vec![(0, 0); buckets * WAYS].into_boxed_slice(),
            bucket_mask: buckets - 1,
            ignore_ttl: cfg.ignore_ttl,
        }
    }

    /// The key hash of a decoded packet (None for non-IP frames).
    pub fn key(&self, pkt: &Packet<'_>) -> Option<u64> {
        let ip = pkt.ip?;
        let raw = pkt.l3;
        let n = raw.len().min(if ip.is_v6 { 82 } else { 50 });
        let mut buf = [0u8; 88];
        buf[..n].copy_from_slice(&raw[..n]);
        if ip.is_v6 {
            if self.ignore_ttl {
                buf[7] = 0;
            }
        } else {
            buf[10] = 0;
            buf[11] = 0;
            if self.ignore_ttl {
                buf[8] = 0;
            }
        }
        let l4 = usize::from(ip.header_len);
        let ck = match pkt.transport {
            Transport::Tcp(_) => Some(l4 + 16),
            Transport::Udp(_) => Some(l4 + 6),
            Transport::Icmp(_) => Some(l4 + 2),
            _ => None,
        };
        if let Some(at) = ck {
            if at + 2 <= n {
                buf[at] = 0;
                buf[at + 1] = 0;
            }
        }
        let mut h = 0x5851_F42D_4C95_7F2D ^ n as u64;
        for c in buf[..n.div_ceil(8) * 8].chunks_exact(8) {
            h = mix(
                h,
                u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]),
            );
        }
        Some(h ^ (h >> 31))
    }

    /// True when `key` was seen within the window (and consumes that entry); else remembers it.
    pub fn is_duplicate(&mut self, key: u64, ts_ns: u64) -> bool {
        let base = (key as usize & self.bucket_mask) * WAYS;
        let bucket = &mut self.slots[base..base + WAYS];
        let ts = ts_ns.max(1);
        for slot in bucket.iter_mut() {
            if slot.1 != 0 && slot.0 == key && ts.saturating_sub(slot.1) <= DEDUP_WINDOW_NS {
                *slot = (0, 0);
                return true;
            }
        }
        // Remember: an empty or expired slot, else the oldest.
        let mut victim = 0;
        for (i, slot) in bucket.iter().enumerate() {
            if slot.1 == 0 || ts.saturating_sub(slot.1) > DEDUP_WINDOW_NS {
                victim = i;
                break;
            }
            if slot.1 < bucket[victim].1 {
                victim = i;
            }
        }
        bucket[victim] = (key, ts);
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairwise_within_window() {
        let mut d = Dedup::new(&DedupConfig::default());
        assert!(!d.is_duplicate(42, 1_000));
        assert!(d.is_duplicate(42, 50_000_000));
        assert!(!d.is_duplicate(42, 60_000_000), "third copy counts as new");
        assert!(!d.is_duplicate(42, 500_000_000), "outside the window");
        assert!(!d.is_duplicate(7, 500_000_001));
    }

    #[test]
    fn bounded_bucket_replaces_oldest() {
        let mut d = Dedup::new(&DedupConfig {
            capacity: 4,
            ..DedupConfig::default()
        });
        for k in 0..8u64 {
            assert!(!d.is_duplicate(k << 8, 1_000 + k));
        }
        assert!(d.is_duplicate(7 << 8, 2_000));
        assert!(!d.is_duplicate(0, 2_001), "evicted");
    }
}
