//! The per-server inference cache (DeepFlow's AppTable): what protocol a server endpoint spoke
//! last time, so that its new flows skip the probing, and how often probing failed there, so that
//! a busy non-L7 server is not probed forever. Bounded ([`AssocCache`]); entries older than
//! `inference_result_ttl` are ignored.

use super::protocol::L7Protocol;
use crate::assoc_cache::AssocCache;
use crate::flow::Endpoint;

/// Entries per worker (DeepFlow: 4096 each for IPv4 and IPv6).
pub const APP_TABLE_CAPACITY: usize = 8192;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    proto: L7Protocol,
    failures: u32,
}

impl Default for Entry {
    fn default() -> Self {
        Entry {
            proto: L7Protocol::Unknown,
            failures: 0,
        }
    }
}

/// What the cache says about a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Use this protocol without probing.
    Known(L7Protocol),
    /// Probing failed too often here recently: do not try.
    GiveUp,
    /// Probe.
    Probe,
}

/// Server endpoint -> inferred protocol.
#[derive(Debug)]
pub struct AppTable {
    cache: AssocCache<Entry>,
    ttl_s: u32,
    max_retries: u32,
}

impl AppTable {
    pub fn new(capacity: usize, ttl_s: u32, max_retries: u32) -> Self {
        AppTable {
            cache: AssocCache::new(capacity),
            ttl_s,
            max_retries,
        }
    }

    /// New TTL and retry limit (a configuration change); entries stay.
    pub fn set_limits(&mut self, ttl_s: u32, max_retries: u32) {
        self.ttl_s = ttl_s;
        self.max_retries = max_retries;
    }

    pub fn lookup(&self, server: &Endpoint, now_s: u32) -> Verdict {
        match self.cache.get(server.fingerprint()) {
            Some((e, used)) if now_s.saturating_sub(used) <= self.ttl_s => {
                if e.proto != L7Protocol::Unknown {
                    Verdict::Known(e.proto)
                } else if e.failures >= self.max_retries {
                    Verdict::GiveUp
                } else {
                    Verdict::Probe
                }
            }
            _ => Verdict::Probe,
        }
    }

    /// A flow to `server` was found to speak `proto`.
    pub fn on_success(&mut self, server: &Endpoint, proto: L7Protocol, now_s: u32) {
        self.cache.update(server.fingerprint(), now_s, |_| Entry {
            proto,
            failures: 0,
        });
    }

    /// A flow to `server` was given up as not L7.
    pub fn on_failure(&mut self, server: &Endpoint, now_s: u32) {
        self.cache.update(server.fingerprint(), now_s, |old| {
            let old = old.unwrap_or_default();
            Entry {
                proto: L7Protocol::Unknown,
                failures: old.failures.saturating_add(1),
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_gives_up_and_expires() {
        let ep = Endpoint {
            ip: [1; 16],
            port: 8080,
        };
        let mut t = AppTable::new(64, 60, 3);
        assert_eq!(t.lookup(&ep, 10), Verdict::Probe);
        for _ in 0..3 {
            t.on_failure(&ep, 10);
        }
        assert_eq!(t.lookup(&ep, 20), Verdict::GiveUp);
        assert_eq!(t.lookup(&ep, 71), Verdict::Probe, "older than the TTL");
        t.on_success(&ep, L7Protocol::Http1, 80);
        assert_eq!(t.lookup(&ep, 81), Verdict::Known(L7Protocol::Http1));
    }
}
