//! The flow table's hash index: flow slots by key hash, a lookup touching one cache line.
//!
//! Buckets of one cache line each hold ten entries: a 16-bit tag from the hash (0: empty) and
//! the slot. A key's home bucket comes from the hash's high half (multiply-shift, so the bucket
//! count need not be a power of two); an entry that finds its home full goes to the next bucket
//! with room, and every full bucket it passes counts it (`overflow`). A lookup stops at the
//! first bucket that counts no entry beyond it, so a lookup, hit or miss, usually reads one
//! line. Removing an entry empties its place and takes its count back from the buckets it
//! passed: no tombstones, so the index never rehashes (no pause in a live run, whatever the
//! churn), and it is sized once for the table's capacity: at most 80 % of the entries used.
//!
//! The same layout as the F14 table of Facebook's folly (its "outbound overflow count").

/// Entries per bucket.
const SLOTS: usize = 10;

/// Buckets per flow of capacity: 10 entries for 8 flows (80 % full at capacity).
const FLOWS_PER_BUCKET: usize = 8;

#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
struct Bucket {
    /// Tag of each entry (bits of the hash, never 0), 0 for an empty one.
    tags: [u16; SLOTS],
    /// Entries that passed this bucket full on their way from their home to a later bucket
    /// (saturated at `u16::MAX`: then never taken back, lookups just go on).
    overflow: u16,
    _pad: u16,
    slots: [u32; SLOTS],
}

impl Bucket {
    const EMPTY: Bucket = Bucket {
        tags: [0; SLOTS],
        overflow: 0,
        _pad: 0,
        slots: [0; SLOTS],
    };

    /// Entries whose tag is `tag`, one bit each.
    #[inline(always)]
    fn matching(&self, tag: u16) -> u32 {
        let mut m = 0u32;
        for (i, &t) in self.tags.iter().enumerate() {
            m |= u32::from(t == tag) << i;
        }
        m
    }

    #[inline(always)]
    fn first_empty(&self) -> Option<usize> {
        self.tags.iter().position(|&t| t == 0)
    }
}

/// Flow slots by the hash of their key.
#[derive(Debug)]
pub(crate) struct FlowIndex {
    buckets: Vec<Bucket>,
    len: usize,
}

impl FlowIndex {
    /// An index for at most `capacity` entries.
    pub(crate) fn new(capacity: usize) -> Self {
        let n = capacity.div_ceil(FLOWS_PER_BUCKET).max(1);
        FlowIndex {
            buckets: vec![Bucket::EMPTY; n],
            len: 0,
        }
    }

    /// Bytes the index holds per flow of capacity.
    pub(crate) const fn bytes_per_flow() -> usize {
        std::mem::size_of::<Bucket>() / FLOWS_PER_BUCKET
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.len
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline(always)]
    fn home(&self, hash: u64) -> usize {
        (((hash >> 32) * self.buckets.len() as u64) >> 32) as usize
    }

    /// The cache line a lookup of `hash` reads first (an address to prefetch).
    #[inline(always)]
    pub(crate) fn home_line(&self, hash: u64) -> *const u8 {
        std::ptr::from_ref(&self.buckets[self.home(hash)]).cast()
    }

    #[inline(always)]
    fn next(&self, b: usize) -> usize {
        if b + 1 == self.buckets.len() {
            0
        } else {
            b + 1
        }
    }

    #[inline(always)]
    fn tag(hash: u64) -> u16 {
        (hash as u16) | 1
    }

    /// The slot of the first entry in `hash`'s home bucket whose tag matches: the flow a lookup
    /// of `hash` most likely finds (a guess, never checked against the key: an address to
    /// prefetch ahead of the lookup).
    #[inline(always)]
    pub(crate) fn likely_slot(&self, hash: u64) -> Option<u32> {
        let bucket = &self.buckets[self.home(hash)];
        let m = bucket.matching(Self::tag(hash));
        (m != 0).then(|| bucket.slots[m.trailing_zeros() as usize])
    }

    /// The entry with hash `hash` for which `eq` holds.
    #[inline]
    pub(crate) fn find(&self, hash: u64, mut eq: impl FnMut(u32) -> bool) -> Option<u32> {
        let tag = Self::tag(hash);
        let mut b = self.home(hash);
        // Every bucket at most once: the loop ends even if the counts were wrong.
        for _ in 0..self.buckets.len() {
            let bucket = &self.buckets[b];
            let mut m = bucket.matching(tag);
            while m != 0 {
                let slot = bucket.slots[m.trailing_zeros() as usize];
                if eq(slot) {
                    return Some(slot);
                }
                m &= m - 1;
            }
            if bucket.overflow == 0 {
                return None;
            }
            b = self.next(b);
        }
        None
    }

    /// Adds `slot` under `hash` (the caller keeps the entries under the capacity; a full index
    /// refuses: false).
    pub(crate) fn insert(&mut self, hash: u64, slot: u32) -> bool {
        if self.len >= self.buckets.len() * SLOTS {
            return false;
        }
        let tag = Self::tag(hash);
        let mut b = self.home(hash);
        loop {
            let bucket = &mut self.buckets[b];
            if let Some(i) = bucket.first_empty() {
                bucket.tags[i] = tag;
                bucket.slots[i] = slot;
                self.len += 1;
                return true;
            }
            bucket.overflow = bucket.overflow.saturating_add(1);
            b = self.next(b);
        }
    }

    /// Removes the entry of `slot` added under `hash`; false when there is none.
    pub(crate) fn remove(&mut self, hash: u64, slot: u32) -> bool {
        let tag = Self::tag(hash);
        let home = self.home(hash);
        let mut b = home;
        let mut found = None;
        for _ in 0..self.buckets.len() {
            let bucket = &self.buckets[b];
            let mut m = bucket.matching(tag);
            while m != 0 {
                let i = m.trailing_zeros() as usize;
                if bucket.slots[i] == slot {
                    found = Some(i);
                    break;
                }
                m &= m - 1;
            }
            if found.is_some() || bucket.overflow == 0 {
                break;
            }
            b = self.next(b);
        }
        let Some(i) = found else {
            return false;
        };
        self.buckets[b].tags[i] = 0;
        self.len -= 1;
        // Take the entry back from the buckets it passed.
        let mut p = home;
        while p != b {
            let o = &mut self.buckets[p].overflow;
            if *o != u16::MAX {
                *o -= 1;
            }
            p = self.next(p);
        }
        true
    }

    /// Removes every entry (the memory is kept).
    pub(crate) fn clear(&mut self) {
        self.buckets.fill(Bucket::EMPTY);
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A well-mixed hash of `i` (splitmix64's finalizer).
    fn mix(i: u64) -> u64 {
        let mut z = i.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    #[test]
    fn a_bucket_is_one_cache_line() {
        assert_eq!(std::mem::size_of::<Bucket>(), 64);
        assert_eq!(std::mem::align_of::<Bucket>(), 64);
        assert_eq!(FlowIndex::bytes_per_flow(), 8);
    }

    #[test]
    fn finds_what_was_inserted_until_removed_at_full_capacity() {
        let cap = 10_000usize;
        let mut ix = FlowIndex::new(cap);
        for i in 0..cap as u32 {
            assert!(ix.insert(mix(u64::from(i)), i));
        }
        assert_eq!(ix.len(), cap);
        for i in 0..cap as u32 {
            assert_eq!(ix.find(mix(u64::from(i)), |s| s == i), Some(i));
        }
        assert_eq!(ix.find(mix(1 << 40), |_| true), None);
        // Remove the even ones; the odd ones stay findable, the even ones are gone.
        for i in (0..cap as u32).step_by(2) {
            assert!(ix.remove(mix(u64::from(i)), i));
            assert!(!ix.remove(mix(u64::from(i)), i));
        }
        for i in 0..cap as u32 {
            let want = (i % 2 == 1).then_some(i);
            assert_eq!(ix.find(mix(u64::from(i)), |s| s == i), want);
        }
        assert_eq!(ix.len(), cap / 2);
    }

    #[test]
    fn churn_leaves_no_trace_behind() {
        // Flows come and go for many times the capacity: afterwards, with the index empty,
        // every bucket counts nothing beyond it (a lookup of anything reads one bucket).
        let cap = 4_096usize;
        let mut ix = FlowIndex::new(cap);
        let mut live: std::collections::VecDeque<u32> = Default::default();
        for i in 0..50 * cap as u32 {
            if live.len() == cap {
                let old = live.pop_front().expect("one");
                assert!(ix.remove(mix(u64::from(old)), old));
            }
            assert!(ix.insert(mix(u64::from(i)), i));
            live.push_back(i);
        }
        for &i in &live {
            assert_eq!(ix.find(mix(u64::from(i)), |s| s == i), Some(i));
        }
        while let Some(i) = live.pop_front() {
            assert!(ix.remove(mix(u64::from(i)), i));
        }
        assert!(ix.is_empty());
        assert!(ix
            .buckets
            .iter()
            .all(|b| b.overflow == 0 && b.tags == [0; SLOTS]));
    }

    #[test]
    fn colliding_hashes_spill_over_and_come_back() {
        // One hash for every entry: they fill the home bucket and the ones after it, and all
        // are told apart by `eq`.
        let mut ix = FlowIndex::new(80);
        let h = 0x1234_5678_9abc_def0;
        for i in 0..60 {
            assert!(ix.insert(h, i));
        }
        for i in 0..60 {
            assert_eq!(ix.find(h, |s| s == i), Some(i));
        }
        for i in (0..60).rev().step_by(3) {
            assert!(ix.remove(h, i));
        }
        for i in 0..60 {
            let present = (59 - i) % 3 != 0;
            assert_eq!(ix.find(h, |s| s == i).is_some(), present, "{i}");
        }
        ix.clear();
        assert!(ix.is_empty());
        assert_eq!(ix.find(h, |_| true), None);
    }

    #[test]
    fn a_full_index_refuses() {
        let mut ix = FlowIndex::new(8);
        let slots = ix.buckets.len() * SLOTS;
        for i in 0..slots as u32 {
            assert!(ix.insert(mix(u64::from(i)), i));
        }
        assert!(!ix.insert(mix(99), 99));
    }
}
