//! The learned service table: a per-(address, port) score of how much an endpoint looks like a
//! server, shared by all flows of a worker (DeepFlow's `service_table.rs`).
//!
//! Scores: a SYN-ACK sender gets 255 and its peer's entry is dropped; otherwise the first packet of
//! each new flow raises the destination's score (up to 252) and lowers the source's. Scores of 253
//! and above are never changed by first packets. The table is bounded (4-way buckets, least
//! recently used entry replaced) and keyed by a 64-bit fingerprint.

use super::key::Endpoint;
use crate::assoc_cache::AssocCache;

/// Highest score learned from first packets.
pub(crate) const LEARNED_MAX: u8 = 252;
/// Entries by default (DeepFlow: 2048 IPv4 + 256 IPv6).
pub(crate) const DEFAULT_CAPACITY: usize = 4096;

/// Bounded endpoint -> score table.
#[derive(Debug)]
pub struct ServiceTable {
    scores: AssocCache<u8>,
}

impl ServiceTable {
    pub fn new(capacity: usize) -> Self {
        ServiceTable {
            scores: AssocCache::new(capacity),
        }
    }

    /// Current score of `ep` (0 when unknown).
    pub fn score(&self, ep: &Endpoint) -> u8 {
        self.scores.get(ep.fingerprint()).map_or(0, |(s, _)| s)
    }

    /// Sets or adjusts the score of `ep` with `f(old) -> new`.
    fn update(&mut self, ep: &Endpoint, now_s: u32, f: impl FnOnce(u8) -> u8) {
        self.scores
            .update(ep.fingerprint(), now_s, |old| f(old.unwrap_or(0)));
    }

    fn remove(&mut self, ep: &Endpoint) {
        self.scores.remove(ep.fingerprint());
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
        assert_eq!(t.scores.capacity(), 8);
    }
}
