//! A bounded, set-associative cache keyed by a 64-bit fingerprint: 4-way buckets, the least
//! recently used entry of a bucket replaced on a miss. Fixed size from the start, no allocation
//! after construction; a lookup or update touches one bucket. Used by the learned service table
//! (`flow::service`) and the L7 inference table (`l7::app_table`).

const WAYS: usize = 4;

#[derive(Debug, Clone, Copy, Default)]
struct Slot<V> {
    key: u64,
    /// Last use (seconds); 0 = empty.
    used_s: u32,
    value: V,
}

/// Bounded fingerprint -> `V` table.
#[derive(Debug)]
pub struct AssocCache<V> {
    slots: Box<[Slot<V>]>,
    bucket_mask: usize,
}

impl<V: Copy + Default> AssocCache<V> {
    /// A cache of about `capacity` entries (rounded to a power-of-two number of buckets).
    pub fn new(capacity: usize) -> Self {
        let buckets = (capacity / WAYS).max(1).next_power_of_two();
        AssocCache {
            slots: vec![Slot::default(); buckets * WAYS].into_boxed_slice(),
            bucket_mask: buckets - 1,
        }
    }

    /// Entries the cache can hold.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    fn bucket_range(&self, key: u64) -> std::ops::Range<usize> {
        let base = (key as usize & self.bucket_mask) * WAYS;
        base..base + WAYS
    }

    /// The value under `key` and when it was last used (seconds).
    pub fn get(&self, key: u64) -> Option<(V, u32)> {
        self.slots[self.bucket_range(key)]
            .iter()
            .find(|s| s.used_s != 0 && s.key == key)
            .map(|s| (s.value, s.used_s))
    }

    /// Sets or adjusts the value under `key` with `f(old or None) -> new`, marking it used at
    /// `now_s`; a missing key replaces its bucket's least recently used entry.
    pub fn update(&mut self, key: u64, now_s: u32, f: impl FnOnce(Option<V>) -> V) {
        let now = now_s.max(1);
        let range = self.bucket_range(key);
        let bucket = &mut self.slots[range];
        if let Some(s) = bucket.iter_mut().find(|s| s.used_s != 0 && s.key == key) {
            s.value = f(Some(s.value));
            s.used_s = now;
            return;
        }
        let mut victim = 0;
        for (i, s) in bucket.iter().enumerate() {
            if s.used_s == 0 {
                victim = i;
                break;
            }
            if s.used_s < bucket[victim].used_s {
                victim = i;
            }
        }
        bucket[victim] = Slot {
            key,
            used_s: now,
            value: f(None),
        };
    }

    /// Forgets `key`.
    pub fn remove(&mut self, key: u64) {
        let range = self.bucket_range(key);
        if let Some(s) = self.slots[range]
            .iter_mut()
            .find(|s| s.used_s != 0 && s.key == key)
        {
            *s = Slot::default();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_lru_within_a_bucket() {
        let mut c: AssocCache<u8> = AssocCache::new(4);
        assert_eq!(c.capacity(), 4);
        for k in 1..=4u64 {
            c.update(k << 8, k as u32, |_| k as u8);
        }
        c.update(1 << 8, 10, |v| v.unwrap_or(0) + 1);
        c.update(5 << 8, 11, |_| 5);
        assert_eq!(c.get(2 << 8), None, "least recently used replaced");
        assert_eq!(c.get(1 << 8), Some((2, 10)));
        assert_eq!(c.get(5 << 8), Some((5, 11)));
        c.remove(5 << 8);
        assert_eq!(c.get(5 << 8), None);
        for k in 0..1000u64 {
            c.update(k, 20, |_| 0);
        }
        assert_eq!(c.capacity(), 4);
    }
}
