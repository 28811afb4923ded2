//! One table of one `flow_metrics` window: the keys' tags and meters side by side, at most
//! `max_keys` of them.
//!
//! **Which keys a full table keeps does not depend on the order rows come in.** Each key has a
//! rank, a hash of its tags with a fixed seed; a full table keeps the keys of lowest rank. A new
//! key of lower rank than the table's highest takes that key's place (the rows the key given up
//! had taken are counted as `metrics.key_overflow`, as the rows refused are), one of higher rank
//! is refused. So at the end of a window the table holds the `max_keys` keys of lowest rank
//! among all that came, each with every one of its rows, whatever the order: one analyzer and
//! `analyze --workers N` (whose rows reach the aggregation interleaved as the threads run) write
//! the same documents and count the same overflow. Keys with the same rank (a 64-bit hash) at
//! the boundary are the only exception, kept first come. A key kept one minute is kept the next
//! as long as the table is as full: a service's series in a dashboard has no gaps that only
//! follow the order its flows ended in. The first-come rule before this dropped whatever came
//! after the table filled, a different set on every run with several workers.

use std::collections::BinaryHeap;
use std::hash::BuildHasher;

// foldhash rather than SipHash: a key lookup per row (3 % of a SYN flood's time with SipHash).
use hashbrown::{DefaultHashBuilder, HashTable};

use super::rows::PooledMeter;
use crate::metrics::doc::Tags;
use crate::metrics::histogram::BucketPool;

/// A key's rank: the same for the same tags in every run and process. Its six words go through
/// three independent folded multiplies (foldhash's and wyhash's mixing step) and a final one: a
/// full table ranks every new key a row brings (up to three per row of a SYN flood: 2.9 million
/// for a million rows). The endpoint (request logs' keys only) goes through foldhash. The index
/// keeps its own per-table random seed, so that keys crafted to collide in it cannot be
/// computed in advance.
#[inline(always)]
pub(super) fn rank(tags: &Tags) -> u64 {
    let (w, endpoint) = tags.words();
    rank_words(&w, endpoint)
}

/// The rank of six words and some bytes (a key's tags, `flow_load`'s paths).
#[inline(always)]
pub(super) fn rank_words(w: &[u64; 6], bytes: &[u8]) -> u64 {
    const K: [u64; 4] = [
        0x243F_6A88_85A3_08D3,
        0x1319_8A2E_0370_7344,
        0xA409_3822_299F_31D0,
        0x082E_FA98_EC4E_6C89,
    ];
    let fold = |a: u64, b: u64| {
        let p = u128::from(a) * u128::from(b);
        (p as u64) ^ ((p >> 64) as u64)
    };
    let mut h = fold(w[0] ^ K[0], w[1] ^ K[1])
        ^ fold(w[2] ^ K[2], w[3] ^ K[3])
        ^ fold(w[4] ^ K[1], w[5] ^ K[2]);
    if !bytes.is_empty() {
        const BYTES: foldhash::fast::FixedState = foldhash::fast::FixedState::with_seed(K[3]);
        h ^= BYTES.hash_one(bytes);
    }
    fold(h ^ K[0], K[3])
}

/// One table of one window: the keys' tags and meters side by side in the order they came,
/// and an index of positions by hash. A new key takes the next entry (memory is touched in
/// order, as keys come, not scattered over a map sized for `max_keys` meters of up to 2.6 KB),
/// and a written window's table is emptied and reused by a later window: no pages are given
/// back and zeroed again every minute (or second).
#[derive(Debug)]
pub(super) struct Table<M> {
    /// Each key's position in `entries` and the high half of its hash: a lookup compares the
    /// hash before it reads an entry's tags, so the keys the index's 7-bit tags confuse (a few
    /// in a hundred misses in a full table) cost no cache miss on their entries (0.3-0.8 KB).
    index: HashTable<(u32, u32)>,
    /// Each key's tags, meter and the rows it took.
    pub(super) entries: Vec<(Tags, M, u64)>,
    hasher: DefaultHashBuilder,
    /// Once the table has refused a key: every entry's rank and position, the highest rank on
    /// top (the key a key of lower rank replaces).
    ranks: BinaryHeap<(u64, u32)>,
    /// Keys that gave their place to one of lower rank.
    replaced: u64,
}

/// Where a key's entry is in a window's table: its position, and its tags' hash (a key that
/// took that place since has another).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Place {
    at: u32,
    hash: u64,
}

impl Place {
    /// The entry's position in its table.
    pub(super) fn index(&self) -> usize {
        self.at as usize
    }
}

#[cfg(test)]
/// Bytes a table takes per key besides its entry: two index slots (8 bytes and a control byte
/// each) and, once full, a rank (16 bytes).
pub(super) const PER_KEY_BYTES: usize = 2 * (std::mem::size_of::<(u32, u32)>() + 1) + 16;

impl<M: PooledMeter> Table<M> {
    /// A table with room for `keys` keys: it never grows (and copies its meters) up to them.
    /// Only the index is written now; an entry's pages when its key comes.
    pub(super) fn new(keys: usize) -> Self {
        Table {
            index: HashTable::with_capacity(keys),
            entries: Vec::with_capacity(keys),
            hasher: DefaultHashBuilder::default(),
            ranks: BinaryHeap::new(),
            replaced: 0,
        }
    }

    /// The meter a row of `tags` adds to, None when the table (at `max` keys) keeps keys of
    /// lower rank. Counts in `overflow` a refused row, or the rows of the key a new one
    /// replaces (its buckets go back to `pool`). The tags are copied only for a new key (a
    /// lookup per row and table; most rows find their key).
    pub(super) fn meter(
        &mut self,
        tags: &Tags,
        max: usize,
        pool: &mut BucketPool,
        overflow: &mut u64,
    ) -> Option<&mut M> {
        self.placed_meter(tags, max, pool, overflow)
            .map(|(_, meter)| meter)
    }

    /// [`Self::meter`], with where the key's entry is (for [`Self::at_place`] later in the
    /// window).
    pub(super) fn placed_meter(
        &mut self,
        tags: &Tags,
        max: usize,
        pool: &mut BucketPool,
        overflow: &mut u64,
    ) -> Option<(Place, &mut M)> {
        // A full table holds no key of higher rank than its highest: such a key is refused
        // without a lookup (most rows of a table that overflows many times over).
        let mine = match self.ranks.peek() {
            Some(&(top, _)) if self.entries.len() >= max => {
                let mine = rank(tags);
                if mine > top {
                    *overflow += 1;
                    return None;
                }
                Some(mine)
            }
            _ => None,
        };
        let hash = self.hasher.hash_one(tags);
        let high = (hash >> 32) as u32;
        let Table {
            index,
            entries,
            hasher,
            ranks,
            replaced,
        } = self;
        let at = match index.find(hash, |&(i, h)| h == high && entries[i as usize].0 == *tags) {
            Some(&(i, _)) => i as usize,
            None if entries.len() < max => {
                let i = entries.len();
                entries.push((tags.clone(), M::default(), 0));
                index.insert_unique(hash, (i as u32, high), |&(j, _)| {
                    hasher.hash_one(&entries[j as usize].0)
                });
                if !ranks.is_empty() {
                    // Room again after the table was full: a larger `max` (a new
                    // configuration). The ranks stay whole.
                    ranks.push((rank(tags), i as u32));
                }
                i
            }
            None => {
                if ranks.is_empty() {
                    ranks.extend(
                        entries
                            .iter()
                            .enumerate()
                            .map(|(i, e)| (rank(&e.0), i as u32)),
                    );
                }
                let mine = mine.unwrap_or_else(|| rank(tags));
                let Some(i) = ranks.peek_mut().and_then(|mut top| {
                    // The key of highest rank gives its place to this one.
                    (mine < top.0).then(|| {
                        *top = (mine, top.1);
                        top.1 as usize
                    })
                }) else {
                    *overflow += 1;
                    return None;
                };
                let old = hasher.hash_one(&entries[i].0);
                if let Ok(slot) = index.find_entry(old, |&(j, _)| j as usize == i) {
                    slot.remove();
                }
                *replaced += 1;
                let (old_tags, meter, rows) = &mut entries[i];
                *overflow += *rows;
                meter.release(pool);
                *meter = M::default();
                *rows = 0;
                old_tags.clone_from(tags);
                index.insert_unique(hash, (i as u32, high), |&(j, _)| {
                    hasher.hash_one(&entries[j as usize].0)
                });
                i
            }
        };
        let (_, meter, rows) = &mut entries[at];
        *rows += 1;
        Some((
            Place {
                at: at as u32,
                hash,
            },
            meter,
        ))
    }

    /// The key and meter at `place`, None when that key gave its place to another since.
    pub(super) fn at_place(&mut self, place: Place) -> Option<(&Tags, &mut M)> {
        let (tags, meter, _) = self.entries.get_mut(place.at as usize)?;
        (self.hasher.hash_one(&*tags) == place.hash).then_some((&*tags, meter))
    }

    /// Whether the key at `place` is still there.
    pub(super) fn holds(&self, place: Place) -> bool {
        self.entries
            .get(place.at as usize)
            .is_some_and(|(tags, _, _)| self.hasher.hash_one(tags) == place.hash)
    }

    /// Keys that gave their place to one of lower rank so far (their places' `holds` is
    /// false since).
    pub(super) fn replaced(&self) -> u64 {
        self.replaced
    }

    /// The meter of `tags`, if the table holds the key.
    pub(super) fn find(&mut self, tags: &Tags) -> Option<&mut M> {
        let hash = self.hasher.hash_one(tags);
        let high = (hash >> 32) as u32;
        let entries = &mut self.entries;
        let &(i, _) = self
            .index
            .find(hash, |&(i, h)| h == high && entries[i as usize].0 == *tags)?;
        Some(&mut entries[i as usize].1)
    }

    /// Empties the table, keeping its memory.
    pub(super) fn clear(&mut self) {
        self.index.clear();
        self.entries.clear();
        self.ranks.clear();
        self.replaced = 0;
    }

    #[cfg(test)]
    pub(super) fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.index.is_empty() && self.ranks.is_empty()
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    use crate::inline::InlineBytes;
    use crate::metrics::doc::{AppMeter, DIRECTION_CLIENT};

    pub(crate) fn key(port: u16) -> Tags {
        Tags {
            ip: std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)),
            ip_1: None,
            is_ipv4: true,
            protocol: 6,
            server_port: port,
            l7_protocol: 0,
            l7_protocol_str: "",
            direction: DIRECTION_CLIENT,
            tap_side: 0,
            observation_point: "rest",
            capture_network_type: 3,
            tap_port: 0,
            endpoint: InlineBytes::EMPTY,
            agent_id: 0,
        }
    }

    /// The ports of `keys` in rank order.
    fn by_rank(keys: impl Iterator<Item = u16>) -> Vec<u16> {
        let mut v: Vec<u16> = keys.collect();
        v.sort_by_key(|&p| rank(&key(p)));
        v
    }

    /// Rows of `ports` (one each, in that order) into a table of `max` keys: each kept key's
    /// requests, and the overflow.
    fn fill(ports: &[u16], max: usize) -> (std::collections::BTreeMap<u16, u64>, u64) {
        let mut t: Table<AppMeter> = Table::new(max);
        let (mut pool, mut overflow) = (BucketPool::default(), 0);
        for &p in ports {
            if let Some(m) = t.meter(&key(p), max, &mut pool, &mut overflow) {
                m.request += 1;
                m.rrt.record_in(1_000, 1, &mut pool);
            }
        }
        assert!(t.entries.len() <= max);
        let kept = t
            .entries
            .iter()
            .map(|(tags, m, rows)| {
                assert_eq!(*rows, m.request, "rows counted");
                (tags.server_port, m.request)
            })
            .collect();
        (kept, overflow)
    }

    #[test]
    fn a_full_table_keeps_the_lowest_ranks_whatever_the_order() {
        // 40 keys, key k with k+1 rows, interleaved three ways.
        let rows: Vec<u16> = (0..40u16)
            .flat_map(|k| std::iter::repeat_n(k, usize::from(k) + 1))
            .collect();
        let mut reversed = rows.clone();
        reversed.reverse();
        let mut scattered: Vec<(usize, u16)> = rows.iter().copied().enumerate().collect();
        scattered.sort_by_key(|&(i, _)| (i * 7919) % rows.len());
        let scattered: Vec<u16> = scattered.into_iter().map(|(_, k)| k).collect();
        let want: std::collections::BTreeMap<u16, u64> = by_rank(0..40)[..10]
            .iter()
            .map(|&k| (k, u64::from(k) + 1))
            .collect();
        let total: u64 = (1..=40).sum();
        for order in [&rows, &reversed, &scattered] {
            let (kept, overflow) = fill(order, 10);
            assert_eq!(kept, want, "the ten keys of lowest rank, every row");
            assert_eq!(
                overflow,
                total - want.values().sum::<u64>(),
                "every other row"
            );
        }
    }

    #[test]
    fn a_table_finds_its_keys_and_starts_empty_when_reused() {
        let mut t: Table<AppMeter> = Table::new(4);
        let (mut pool, mut overflow) = (BucketPool::default(), 0);
        let kept = by_rank(0..5);
        for round in 0..2 {
            for port in 0..100u16 {
                if let Some(m) = t.meter(&key(port % 5), 4, &mut pool, &mut overflow) {
                    m.request += 1;
                    m.rrt.record_in(u64::from(port) * 1_000, 1, &mut pool);
                }
            }
            assert_eq!(t.entries.len(), 4);
            for &port in &kept[..4] {
                let m = t.meter(&key(port), 4, &mut pool, &mut overflow);
                assert_eq!(m.map(|m| m.request), Some(20), "round {round}, key {port}");
            }
            assert_eq!(overflow, 20, "round {round}: the fifth key's rows");
            let buckets = pool.len();
            for (_, m, _) in &mut t.entries {
                m.release(&mut pool);
            }
            assert_eq!(pool.len(), buckets + 4, "a bucket array per kept key");
            t.clear();
            assert!(t.is_empty());
            overflow = 0;
        }
    }

    #[test]
    fn a_replaced_key_gives_its_buckets_back_and_its_place_is_found() {
        let order = by_rank(0..3);
        let (low, mid, high) = (order[0], order[1], order[2]);
        let mut t: Table<AppMeter> = Table::new(2);
        let (mut pool, mut overflow) = (BucketPool::default(), 0);
        for p in [high, mid] {
            let m = t.meter(&key(p), 2, &mut pool, &mut overflow).expect("room");
            m.rrt.record_in(5_000, 1, &mut pool);
        }
        assert!(pool.is_empty());
        let m = t
            .meter(&key(low), 2, &mut pool, &mut overflow)
            .expect("lower rank");
        assert_eq!(m.request, 0, "a fresh meter");
        assert_eq!(pool.len(), 1, "the replaced key's buckets");
        assert_eq!(overflow, 1, "its row");
        assert!(t.meter(&key(high), 2, &mut pool, &mut overflow).is_none());
        assert_eq!(overflow, 2);
        for p in [low, mid] {
            assert!(
                t.meter(&key(p), 2, &mut pool, &mut overflow).is_some(),
                "{p}"
            );
        }
        // Two rows each: the one that brought the key and the one just now.
        let rows: Vec<(u16, u64)> = t.entries.iter().map(|e| (e.0.server_port, e.2)).collect();
        assert_eq!(rows.len(), 2);
        assert!(rows.iter().all(|&(_, n)| n == 2), "{rows:?}");
    }

    #[test]
    fn a_full_table_refuses_by_rank_and_still_finds_a_key_a_larger_limit_took() {
        let order = by_rank(0..4);
        let mut t: Table<AppMeter> = Table::new(3);
        let (mut pool, mut overflow) = (BucketPool::default(), 0);
        for p in [order[0], order[1]] {
            assert!(t.meter(&key(p), 2, &mut pool, &mut overflow).is_some());
        }
        // Full at 2: the ranks are kept from here, and a higher one is refused.
        assert!(t
            .meter(&key(order[3]), 2, &mut pool, &mut overflow)
            .is_none());
        assert_eq!(overflow, 1);
        // A larger limit (a new configuration) takes the highest-ranked key of all, which
        // a full table then still finds (its rank is the table's highest, not above it).
        assert!(t
            .meter(&key(order[3]), 3, &mut pool, &mut overflow)
            .is_some());
        for p in [order[3], order[0]] {
            let m = t.meter(&key(p), 3, &mut pool, &mut overflow);
            assert!(m.is_some(), "{p}");
        }
        // A lower rank than the highest replaces it; the replaced key's rows are counted.
        assert!(t
            .meter(&key(order[2]), 3, &mut pool, &mut overflow)
            .is_some());
        assert_eq!(overflow, 1 + 2);
        assert!(t
            .meter(&key(order[3]), 3, &mut pool, &mut overflow)
            .is_none());
        assert_eq!(overflow, 4);
        let mut kept: Vec<u16> = t.entries.iter().map(|e| e.0.server_port).collect();
        kept.sort_by_key(|&p| rank(&key(p)));
        assert_eq!(kept, order[..3]);
    }
}
