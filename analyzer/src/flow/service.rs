//! The learned service table: a per-(address, port) score of how much an endpoint looks like a
//! server, shared by all flows of a worker (DeepFlow's `service_table.rs`).
//!
//! Scores: a SYN-ACK sender gets 255 and its peer's entry is dropped; otherwise the first packet of
//! each new flow raises the destination's score (up to 252) and lowers the source's. Scores of 253
//! and above are never changed by first packets. The table is bounded (4-way buckets, least
//! recently used entry replaced) and keyed by a 64-bit fingerprint.

use super::key::Endpoint;

const WAYS: usize = 4;
/// Highest score learned from first packets.
pub(crate) const LEARNED_MAX: u8 = 252;
/// Entries by default (DeepFlow: 2048 IPv4 + 256 IPv6).
pub(crate) const DEFAULT_CAPACITY: usize = 4096;

#[derive(Debug, Clone, Copy, Default)]
struct Entry {
    key: u64,
    score: u8,
    /// Last use (seconds); 0 = empty.
    used_s: u32,
}

/// Bounded endpoint -> score table.
#[derive(Debug)]
pub struct ServiceTable {
    entries: Box<[Entry]>,
    bucket_mask: usize,
}

fn fingerprint(ep: &Endpoint) -> u64 {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325 ^ u64::from(ep.port);
    for c in ep.ip.chunks_exact(8) {
        let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        h = (h ^ w).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(31);
    }
    (h ^ (h >> 29)) | 1
}

impl ServiceTable {
    pub fn new(capacity: usize) -> Self {
        let buckets = (capacity / WAYS).max(1).next_power_of_two();
        ServiceTable {
            entries: vec![Entry::default(); buckets * WAYS].into_boxed_slice(),
            bucket_mask: buckets - 1,
        }
    }

    fn bucket(&mut self, key: u64) -> &mut [Entry] {
        let base = (key as usize & self.bucket_mask) * WAYS;
        &mut self.entries[base..base + WAYS]
    }

    /// Current score of `ep` (0 when unknown).
    pub fn score(&self, ep: &Endpoint) -> u8 {
        let key = fingerprint(ep);
        let base = (key as usize & self.bucket_mask) * WAYS;
        self.entries[base..base + WAYS]
            .iter()
            .find(|e| e.used_s != 0 && e.key == key)
            .map_or(0, |e| e.score)
    }

    /// Sets or adjusts the score of `ep` with `f(old) -> new`.
    fn update(&mut self, ep: &Endpoint, now_s: u32, f: impl FnOnce(u8) -> u8) {
        let key = fingerprint(ep);
        let now = now_s.max(1);
        let bucket = self.bucket(key);
        if let Some(e) = bucket.iter_mut().find(|e| e.used_s != 0 && e.key == key) {
            e.score = f(e.score);
            e.used_s = now;
            return;
        }
        let mut victim = 0;
        for (i, e) in bucket.iter().enumerate() {
            if e.used_s == 0 {
                victim = i;
                break;
            }
            if e.used_s < bucket[victim].used_s {
                victim = i;
            }
        }
        bucket[victim] = Entry {
            key,
            score: f(0),
            used_s: now,
        };
    }

    fn remove(&mut self, ep: &Endpoint) {
        let key = fingerprint(ep);
        if let Some(e) = self
            .bucket(key)
            .iter_mut()
            .find(|e| e.used_s != 0 && e.key == key)
        {
            *e = Entry::default();
        }
    }

    /// A new flow's first packet went from `src` to `dst`.
    pub fn on_first_packet(&mut self, src: &Endpoint, dst: &Endpoint, now_s: u32) {
        self.update(dst, now_s, |s| {
            if s > LEARNED_MAX {
                s
            } else {
                s.saturating_add(1).min(LEARNED_MAX)
            }
        });
        self.update(src, now_s, |s| {
            if s > LEARNED_MAX {
                s
            } else {
                s.saturating_sub(1)
            }
        });
    }

    /// `server` sent a SYN-ACK to `client`.
    pub fn on_syn_ack(&mut self, server: &Endpoint, client: &Endpoint, now_s: u32) {
        self.update(server, now_s, |_| 255);
        self.remove(client);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(last: u8, port: u16) -> Endpoint {
        let mut ip = [0u8; 16];
        ip[..4].copy_from_slice(&[10, 0, 0, last]);
        Endpoint { ip, port }
    }

    #[test]
    fn learns_servers_from_first_packets() {
        let mut t = ServiceTable::new(64);
        let server = ep(1, 8000);
        for i in 0..5u16 {
            t.on_first_packet(&ep(2, 9000 + i), &server, 1);
        }
        assert_eq!(t.score(&server), 5);
        assert_eq!(t.score(&ep(2, 9000)), 0);
        t.on_syn_ack(&server, &ep(2, 9000), 2);
        assert_eq!(t.score(&server), 255);
        t.on_first_packet(&server, &ep(3, 1), 3);
        assert_eq!(t.score(&server), 255, "sticky above 252");
    }

    #[test]
    fn bounded() {
        let mut t = ServiceTable::new(8);
        for i in 0..1000u16 {
            t.on_first_packet(&ep(1, i), &ep(2, i), u32::from(i) + 1);
        }
        assert_eq!(t.entries.len(), 8);
    }
}
