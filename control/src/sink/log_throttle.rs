//! DeepFlow's flow log throttles (`outputs.flow_log.throttles.l4_throttle`, `l7_throttle`): at
//! most so many rows per second reach the log outputs (files, the ingester, ClickHouse, IPFIX),
//! the rest counted as throttled.
//!
//! DeepFlow's agent keeps a 4-second period's rows in a reservoir of 4 x the rate (its
//! `ThrottlingQueue`: periods of its wall clock, random replacement, rows sent at the period's
//! end). tapflow keeps the same bound without holding rows back: each row is decided when it
//! comes, from its own time and a hash of it, so the outputs see no delay and the throttle
//! takes no memory per row.
//!
//! - **Periods** are 4 seconds of the rows' time (their `end_time`: the analyzer's time, so an
//!   offline replay is throttled as the live capture was, whatever the replay speed). A row
//!   older than the period in progress (a flow that timed out) counts in that period.
//! - **At most 4 x the rate** rows of a period are kept.
//! - **Sampling:** a period keeps the rows whose hash is below a threshold set from the
//!   previous period's row count, so that a rate like the previous period's keeps about the
//!   bound, spread over the whole period (DeepFlow's reservoir is uniform too). When the rows
//!   come faster than in the previous period, the bound cuts the period's last rows. The first
//!   period, and one after a period without rows, keep the first rows up to the bound.
//! - **Deterministic:** the same rows in the same order give the same decisions (one worker,
//!   or a replay). With several `analyze --workers` the rows reach the outputs in an order
//!   that varies, so a throttled run keeps a different sample each time (the count is bounded
//!   the same way).

use std::num::NonZeroU32;

use tapflow_analyzer::RecordRef;

/// The length of a throttle period, µs (the rows' unit; DeepFlow's `THROTTLE_BUCKET`: 4
/// seconds).
pub const PERIOD_US: u64 = 4_000_000;

/// Seconds in a period: a period keeps this many times the per-second rate.
const PERIOD_S: u32 = 4;

/// The rates of the log throttles, rows per second (None: every row).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LogThrottles {
    pub l4: Option<NonZeroU32>,
    pub l7: Option<NonZeroU32>,
}

impl LogThrottles {
    /// No throttle: every row.
    pub const NONE: LogThrottles = LogThrottles { l4: None, l7: None };

    pub fn is_none(&self) -> bool {
        self.l4.is_none() && self.l7.is_none()
    }
}

/// Rows throttled, per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ThrottleCounters {
    pub l4_rows: u64,
    pub l7_rows: u64,
}

/// The throttle of one kind of row.
#[derive(Debug, Clone)]
pub struct RowThrottle {
    /// Rows a period keeps at most.
    bound: u32,
    /// The period in progress (the rows' time / [`PERIOD_US`]).
    period: u64,
    /// Rows that came in this period.
    offered: u32,
    /// Rows kept in this period.
    kept: u32,
    /// Rows whose hash is at most this are kept (while the bound allows).
    threshold: u64,
    /// Rows refused, since the start.
    throttled: u64,
}

impl RowThrottle {
    /// A throttle of `rate` rows per second.
    pub fn new(rate: NonZeroU32) -> Self {
        RowThrottle {
            bound: rate.get().saturating_mul(PERIOD_S),
            period: 0,
            offered: 0,
            kept: 0,
            threshold: u64::MAX,
            throttled: 0,
        }
    }

    /// The rate, rows per second.
    pub fn rate(&self) -> u32 {
        self.bound / PERIOD_S
    }

    /// The same throttle at another rate, at once (the period in progress keeps its count).
    pub fn set_rate(&mut self, rate: NonZeroU32) {
        self.bound = rate.get().saturating_mul(PERIOD_S);
    }

    /// Rows refused since the start.
    pub fn throttled(&self) -> u64 {
        self.throttled
    }

    /// Whether a row of time `time_us` whose identity hashes from `key` is kept.
    #[inline]
    pub fn admits(&mut self, time_us: u64, key: u64) -> bool {
        let period = time_us / PERIOD_US;
        if period > self.period {
            self.start(period);
        }
        self.offered = self.offered.saturating_add(1);
        if self.kept < self.bound && mix(key) <= self.threshold {
            self.kept += 1;
            return true;
        }
        self.throttled += 1;
        false
    }

    /// A new period: its threshold keeps about `bound` rows if they come at the rate of the
    /// period that just ended (every row when that period kept them all or had none).
    fn start(&mut self, period: u64) {
        let follows = period == self.period + 1;
        self.threshold = if follows && self.offered > self.bound {
            let t = (u128::from(u64::MAX) * u128::from(self.bound)) / u128::from(self.offered);
            u64::try_from(t).unwrap_or(u64::MAX)
        } else {
            u64::MAX
        };
        self.period = period;
        self.offered = 0;
        self.kept = 0;
    }
}

/// A row's identity as a throttle key: its flow and times (two rows of a flow differ in them).
pub fn row_key(rec: RecordRef<'_>) -> u64 {
    match rec {
        RecordRef::L4FlowLog(r) => r.flow_id ^ r.start_time.rotate_left(17) ^ r.end_time,
        RecordRef::L7FlowLog(r) => {
            r.flow_id ^ r.start_time.rotate_left(17) ^ r.end_time.rotate_left(41)
        }
        _ => 0,
    }
}

/// SplitMix64's finaliser: a well-spread hash of `x`.
#[inline]
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000;

    fn rate(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).unwrap()
    }

    /// Rows at `per_s` rows a second for `seconds` from second `from`; the rows kept per
    /// period.
    fn run(t: &mut RowThrottle, (from, per_s, seconds): (u64, u64, u64), key: u64) -> Vec<u64> {
        let mut kept = std::collections::BTreeMap::<u64, u64>::new();
        for i in 0..per_s * seconds {
            let time = from * S + i * S / per_s;
            let e = kept.entry(time / PERIOD_US).or_default();
            if t.admits(time, key + i) {
                *e += 1;
            }
        }
        kept.into_values().collect()
    }

    #[test]
    fn under_the_rate_every_row_is_kept() {
        let mut t = RowThrottle::new(rate(100));
        assert_eq!(run(&mut t, (100, 99, 20), 0), vec![396; 5]);
        assert_eq!(t.throttled(), 0);
        assert_eq!(t.rate(), 100);
    }

    #[test]
    fn above_the_rate_a_period_keeps_about_four_times_it_spread_over_the_period() {
        let mut t = RowThrottle::new(rate(100));
        let kept = run(&mut t, (100, 1000, 40), 0);
        assert_eq!(kept.len(), 10);
        // The first period keeps its first 400 rows; the next ones sample 1 in 10.
        assert_eq!(kept[0], 400);
        for k in &kept[1..] {
            assert!((340..=400).contains(k), "{kept:?}");
        }
        assert_eq!(t.throttled(), 40_000 - kept.iter().sum::<u64>());
        // Spread: rows kept in the last second of a period, about a quarter of them.
        let mut t = RowThrottle::new(rate(100));
        run(&mut t, (100, 1000, 4), 0);
        let late: u64 = (0..4000u64)
            .filter(|i| {
                let time = 104 * S + i * S / 1000;
                t.admits(time, 1 << 40 | i) && time % PERIOD_US >= 3 * S
            })
            .count() as u64;
        assert!((70..=110).contains(&late), "{late}");
    }

    #[test]
    fn a_burst_is_cut_at_the_bound() {
        let mut t = RowThrottle::new(rate(100));
        run(&mut t, (100, 10, 8), 0);
        let kept = run(&mut t, (108, 100_000, 4), 1 << 32);
        assert_eq!(kept, vec![400]);
    }

    #[test]
    fn decisions_follow_the_rows_only() {
        let a = run(&mut RowThrottle::new(rate(50)), (100, 700, 12), 7);
        let b = run(&mut RowThrottle::new(rate(50)), (100, 700, 12), 7);
        assert_eq!(a, b);
        let mut t = RowThrottle::new(rate(50));
        let mut u = RowThrottle::new(rate(50));
        let picks = |t: &mut RowThrottle| -> Vec<bool> {
            (0..5000u64)
                .map(|i| t.admits(200 * S + i * S / 700, i * 3))
                .collect()
        };
        assert_eq!(picks(&mut t), picks(&mut u));
    }

    #[test]
    fn late_rows_count_in_the_period_in_progress() {
        let mut t = RowThrottle::new(rate(1));
        assert!(t.admits(1000 * S, 1));
        for i in 0..3 {
            assert!(t.admits(10 * S, 2 + i), "an old row: period in progress");
        }
        assert!(!t.admits(500 * S, 9), "the bound of 4 reached");
        assert_eq!(t.throttled(), 1);
    }

    #[test]
    fn a_quiet_period_resets_the_sampling() {
        let mut t = RowThrottle::new(rate(10));
        run(&mut t, (100, 1000, 8), 0);
        // Two periods later (one without rows), rows at a low rate all kept.
        let kept = run(&mut t, (112, 5, 4), 1 << 33);
        assert_eq!(kept, vec![20], "the period after a gap keeps everything");
    }

    #[test]
    fn a_new_rate_applies_at_once() {
        let mut t = RowThrottle::new(rate(100));
        t.set_rate(rate(2));
        assert_eq!(run(&mut t, (100, 100, 4), 0), vec![8]);
        assert_eq!(t.rate(), 2);
    }

    #[test]
    fn keys_differ_by_flow_and_time() {
        let mut a = tapflow_analyzer::L4FlowLog {
            flow_id: 1,
            start_time: 5,
            end_time: 9,
            ..crate::sink::syn_row(1)
        };
        let k = row_key(RecordRef::L4FlowLog(&a));
        a.end_time = 10;
        assert_ne!(row_key(RecordRef::L4FlowLog(&a)), k);
        let b = tapflow_analyzer::L7FlowLog {
            flow_id: 1,
            start_time: 5,
            end_time: 9,
            ..Default::default()
        };
        let c = tapflow_analyzer::L7FlowLog {
            start_time: 6,
            ..b.clone()
        };
        assert_ne!(
            row_key(RecordRef::L7FlowLog(&b)),
            row_key(RecordRef::L7FlowLog(&c))
        );
    }
}
