//! Latency distributions: a fixed log-linear bucket layout (4 buckets per power of two over
//! 0 µs .. 2^32 µs), so histograms of different workers and windows merge by adding counts.
//! Values 0-3 µs have buckets of their own; above, a bucket spans a quarter of its power of two,
//! so a quantile reported as its bucket's midpoint is within 12.5 % of the exact value.
//! Quantiles are also kept within the exact smallest and largest sample (one sample is exact).
//! 124 `u32` counts (allocated with the first sample) and the extremes: 24 bytes per empty
//! histogram, 520 with samples.

use serde::ser::{SerializeSeq, SerializeStruct};
use serde::{Serialize, Serializer};

/// Buckets per power of two.
const SUB: u32 = 4;
pub const BUCKETS: usize = 124;
/// Largest relative error of a reported quantile (half a bucket's relative width).
pub const RELATIVE_ERROR: f64 = 0.125;

/// Counts of latency samples (µs) per bucket.
///
/// The buckets are allocated with the first sample: most keys of a window never get one (UDP,
/// one-way and unanswered flows), and a `flow_metrics` table of 4,096 keys then touches 24 bytes
/// per histogram instead of 512 (three per network key: 6 MB of a full window's tables instead
/// of 19 MB, each page of it faulted in and zeroed).
#[derive(Clone)]
pub struct Histogram {
    /// None until the first sample.
    counts: Option<Box<[u32; BUCKETS]>>,
    total: u64,
    min: u32,
    max: u32,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: None,
            total: 0,
            min: u32::MAX,
            max: 0,
        }
    }
}

/// Equal when the same samples were recorded (buckets allocated or not).
impl PartialEq for Histogram {
    fn eq(&self, o: &Self) -> bool {
        self.total == o.total
            && self.min == o.min
            && self.max == o.max
            && self.counts() == o.counts()
    }
}

impl Eq for Histogram {}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Histogram")
            .field("total", &self.total)
            .field("p50", &self.quantile(0.5))
            .finish()
    }
}

/// The bucket of `v`.
pub fn bucket(v: u32) -> usize {
    if v < SUB {
        return v as usize;
    }
    let e = 31 - v.leading_zeros();
    let sub = (v >> (e - 2)) & (SUB - 1);
    (SUB + (e - 2) * SUB + sub) as usize
}

/// The values bucket `i` holds: `[lower, upper)`.
pub fn bounds(i: usize) -> (u64, u64) {
    let i = i as u64;
    if i < u64::from(SUB) {
        return (i, i + 1);
    }
    let e = (i - u64::from(SUB)) / u64::from(SUB) + 2;
    let sub = (i - u64::from(SUB)) % u64::from(SUB);
    ((4 + sub) << (e - 2), (5 + sub) << (e - 2))
}

/// Bucket arrays of histograms that were written, zeroed, for the next histograms' first
/// samples: a `flow_metrics` window takes its arrays from here and gives them back when its
/// documents are written, so the aggregation allocates only while the pool grows to the most
/// histograms with samples that are open at once.
#[derive(Debug, Default)]
pub struct BucketPool {
    // Boxes, not arrays: each is handed to a histogram and back whole, without a copy.
    #[allow(clippy::vec_box)]
    free: Vec<Box<[u32; BUCKETS]>>,
}

impl BucketPool {
    /// Arrays ready for reuse.
    pub fn len(&self) -> usize {
        self.free.len()
    }

    pub fn is_empty(&self) -> bool {
        self.free.is_empty()
    }

    fn take(&mut self) -> Box<[u32; BUCKETS]> {
        self.free.pop().unwrap_or_else(zeroed)
    }
}

/// A new array of buckets, every count 0.
fn zeroed() -> Box<[u32; BUCKETS]> {
    Box::new([0; BUCKETS])
}

impl Histogram {
    /// `weight` samples of value `v` µs (the buckets, when this is the first sample, allocated).
    pub fn record(&mut self, v: u64, weight: u32) {
        self.record_in(v, weight, &mut BucketPool::default());
    }

    /// [`Histogram::record`], the buckets of a first sample taken from `pool`.
    #[inline]
    pub fn record_in(&mut self, v: u64, weight: u32, pool: &mut BucketPool) {
        if weight == 0 {
            return;
        }
        let v = v.min(u64::from(u32::MAX)) as u32;
        let b = bucket(v);
        let counts = self.counts.get_or_insert_with(|| pool.take());
        counts[b] = counts[b].saturating_add(weight);
        self.total += u64::from(weight);
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }

    /// Empties the histogram, its buckets (zeroed where samples were) back to `pool`.
    pub fn release(&mut self, pool: &mut BucketPool) {
        let (first, end) = self.used();
        if let Some(mut counts) = self.counts.take() {
            counts[first..end].fill(0);
            pool.free.push(counts);
        }
        *self = Histogram::default();
    }

    pub fn merge(&mut self, o: &Histogram) {
        if let Some(theirs) = &o.counts {
            let ours = self.counts.get_or_insert_with(zeroed);
            for (a, b) in ours.iter_mut().zip(theirs.iter()) {
                *a = a.saturating_add(*b);
            }
        }
        self.total += o.total;
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    /// Every bucket's count (all zeros before the first sample).
    fn counts(&self) -> &[u32; BUCKETS] {
        const NONE: [u32; BUCKETS] = [0; BUCKETS];
        self.counts.as_deref().unwrap_or(&NONE)
    }

    /// The `q` quantile (0..=1) as its bucket's midpoint (exact below 4 µs); None when empty.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.total == 0 {
            return None;
        }
        // The rank of the sample wanted, 1-based (nearest-rank method).
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0u64;
        for (i, c) in self.counts().iter().enumerate() {
            seen += u64::from(*c);
            if seen >= rank {
                let (lo, hi) = bounds(i);
                let mid = if hi - lo == 1 { lo } else { (lo + hi) / 2 };
                return Some(mid.clamp(u64::from(self.min), u64::from(self.max)));
            }
        }
        None
    }

    /// The quantiles `qs` (ascending), each as [`Histogram::quantile`] gives it, in one pass
    /// over the buckets.
    pub fn quantiles<const N: usize>(&self, qs: [f64; N]) -> [Option<u64>; N] {
        let mut out = [None; N];
        if self.total == 0 {
            return out;
        }
        let ranks = qs.map(|q| ((q * self.total as f64).ceil() as u64).clamp(1, self.total));
        let mut next = 0;
        let mut seen = 0u64;
        let (first, _) = self.used();
        for (i, c) in self.counts().iter().enumerate().skip(first) {
            seen += u64::from(*c);
            while next < N {
                if seen < ranks[next] {
                    break;
                }
                let (lo, hi) = bounds(i);
                let mid = if hi - lo == 1 { lo } else { (lo + hi) / 2 };
                out[next] = Some(mid.clamp(u64::from(self.min), u64::from(self.max)));
                next += 1;
            }
            if next == N {
                break;
            }
        }
        out
    }

    /// Non-empty buckets as (upper bound exclusive, count).
    pub fn buckets(&self) -> impl Iterator<Item = (u64, u32)> + '_ {
        let (first, end) = self.used();
        self.counts()[first..end]
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(move |(i, c)| (bounds(first + i).1, *c))
    }

    /// The buckets samples can be in: from the smallest sample's to the largest's (none when
    /// empty).
    fn used(&self) -> (usize, usize) {
        if self.total == 0 {
            return (0, 0);
        }
        (bucket(self.min), bucket(self.max) + 1)
    }
}

/// The quantiles a histogram reports: p50, p90, p99, p999.
pub const REPORTED: [f64; 4] = [0.5, 0.9, 0.99, 0.999];

/// Serialised as `{count, p50, p90, p99, p999, buckets: [[upper_us, count], ...]}`.
impl Serialize for Histogram {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Buckets<'a>(&'a Histogram);
        impl Serialize for Buckets<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut seq = s.serialize_seq(None)?;
                for b in self.0.buckets() {
                    seq.serialize_element(&b)?;
                }
                seq.end()
            }
        }
        let [p50, p90, p99, p999] = self.quantiles(REPORTED);
        let mut st = s.serialize_struct("Histogram", 6)?;
        st.serialize_field("count", &self.total)?;
        st.serialize_field("p50", &p50)?;
        st.serialize_field("p90", &p90)?;
        st.serialize_field("p99", &p99)?;
        st.serialize_field("p999", &p999)?;
        st.serialize_field("buckets", &Buckets(self))?;
        st.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_from_the_pool_and_back_zeroed() {
        let mut pool = BucketPool::default();
        let (mut a, mut fresh) = (Histogram::default(), Histogram::default());
        for v in [3, 900, 70_000] {
            a.record_in(v, 2, &mut pool);
            fresh.record(v, 2);
        }
        assert_eq!(a, fresh);
        a.release(&mut pool);
        assert_eq!(pool.len(), 1);
        assert_eq!(a, Histogram::default());
        assert_eq!(a.quantile(0.5), None);
        // The array comes back zeroed: a histogram on it equals one on a new array (equality
        // compares every bucket).
        let (mut b, mut c) = (Histogram::default(), Histogram::default());
        b.record_in(15, 1, &mut pool);
        c.record(15, 1);
        assert!(pool.is_empty());
        assert_eq!(b, c);
        assert_eq!(b.buckets().collect::<Vec<_>>(), vec![(16, 1)]);
        // Merged into a histogram without buckets yet, and an empty one merged in.
        let mut d = Histogram::default();
        d.merge(&fresh);
        d.merge(&Histogram::default());
        assert_eq!(d, fresh);
        assert_eq!(d.quantiles(REPORTED), fresh.quantiles(REPORTED));
    }

    #[test]
    fn buckets_tile_the_range() {
        let mut prev = 0;
        for i in 0..BUCKETS {
            let (lo, hi) = bounds(i);
            assert_eq!(lo, prev, "bucket {i}");
            assert!(hi > lo);
            assert_eq!(bucket(lo as u32), i);
            assert_eq!(bucket((hi - 1).min(u64::from(u32::MAX)) as u32), i);
            prev = hi;
        }
        assert_eq!(prev, 1 << 32);
    }

    #[test]
    fn quantiles_within_the_stated_error() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut values = Vec::new();
        let mut h = Histogram::default();
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Log-uniform over 1 µs .. ~1 s.
            let v = (2f64.powf((x % 20_000) as f64 / 1000.0)) as u64;
            values.push(v);
            h.record(v, 1);
        }
        values.sort_unstable();
        for q in [0.5, 0.9, 0.99, 0.999] {
            let rank = ((q * values.len() as f64).ceil() as usize).max(1);
            let exact = values[rank - 1] as f64;
            let got = h.quantile(q).unwrap() as f64;
            assert!(
                (got - exact).abs() <= exact * RELATIVE_ERROR + 0.5,
                "q {q}: {got} vs {exact}"
            );
        }
        let mut other = Histogram::default();
        other.record(7, 3);
        h.merge(&other);
        assert_eq!(h.total(), 20_003);
        let mut one = Histogram::default();
        one.record(1500, 1);
        assert_eq!(one.quantile(0.5), Some(1500), "one sample is exact");
        assert_eq!(Histogram::default().quantile(0.5), None);
    }

    #[test]
    fn one_pass_quantiles_are_the_quantiles() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut h = Histogram::default();
        assert_eq!(h.quantiles(REPORTED), [None; 4]);
        for n in 0..3_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Few samples, one value many times, spread values: ranks on bucket edges too.
            let v = if n % 7 == 0 { 3 } else { x % (1 << (n % 33)) };
            h.record(v, 1 + (x >> 60) as u32);
            let want = REPORTED.map(|q| h.quantile(q));
            assert_eq!(h.quantiles(REPORTED), want, "after {n} samples");
        }
    }
}
