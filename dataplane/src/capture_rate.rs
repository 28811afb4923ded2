//! DeepFlow's `inputs.cbpf.tunning.max_capture_pps`: a leaky bucket over the frames a live
//! capture takes. When a worker has spent its share of the rate it stops reading for a
//! millisecond, as DeepFlow's dispatcher does: the frames wait in the kernel ring, and what
//! does not fit there is the kernel's to drop (counted as kernel drops), so the host's CPU is
//! protected and nothing is dropped silently. The limit changes while running (a hot setting);
//! 0 is no limit. Pauses are counted (`capture_rate_limited_ms` in stats.json).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::source::{Burst, Frame, PacketSource, QueueReport, SourceError, SourceStats};

/// How long a worker stops reading when its bucket is empty.
const PAUSE: Duration = Duration::from_millis(1);
/// One frame in the bucket's units.
const FRAME: i128 = 1_000_000_000;
/// The bucket holds this long of the rate: a burst after a quiet spell passes at once.
const DEPTH_NS: u64 = 10_000_000;

/// The run's limit (frames per second over every capture worker; 0: none) and its pauses.
#[derive(Debug, Default)]
pub struct CaptureRate {
    max_pps: AtomicU64,
    paused_ms: AtomicU64,
}

impl CaptureRate {
    pub fn new(max_pps: u64) -> Self {
        CaptureRate {
            max_pps: AtomicU64::new(max_pps),
            paused_ms: AtomicU64::new(0),
        }
    }

    /// A new limit (a configuration change), taken by the workers at their next burst.
    pub fn set(&self, max_pps: u64) {
        self.max_pps.store(max_pps, Ordering::Relaxed);
    }

    pub fn max_pps(&self) -> u64 {
        self.max_pps.load(Ordering::Relaxed)
    }

    /// Milliseconds capture workers spent paused by the limit, summed over workers.
    pub fn paused_ms(&self) -> u64 {
        self.paused_ms.load(Ordering::Relaxed)
    }
}

/// One worker's bucket: `rate` frames per second, at most [`DEPTH_NS`] of them saved up. A burst
/// is taken whole while the bucket holds a frame (it may go into debt; the debt is paid first).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenBucket {
    /// Frames that may still be taken, in units of 1/1e9 frame (so any rate is exact).
    level: i128,
    last_ns: u64,
}

impl TokenBucket {
    /// May a burst be taken at `now_ns` with `rate` frames per second?
    pub fn admit(&mut self, now_ns: u64, rate: u64) -> bool {
        let depth = i128::from(rate) * i128::from(DEPTH_NS);
        if self.last_ns == 0 {
            self.level = depth;
        } else {
            let dt = i128::from(now_ns.saturating_sub(self.last_ns));
            self.level = (self.level + dt * i128::from(rate)).min(depth);
        }
        self.last_ns = now_ns;
        self.level >= FRAME
    }

    /// `frames` were taken.
    pub fn spend(&mut self, frames: usize) {
        self.level -= frames as i128 * FRAME;
    }
}

/// A live source read at most at its share of a [`CaptureRate`].
#[derive(Debug)]
pub struct RateLimited<'r, S> {
    inner: S,
    rate: &'r CaptureRate,
    /// Capture workers sharing the rate.
    shares: u64,
    bucket: TokenBucket,
    started: Instant,
}

impl<'r, S: PacketSource> RateLimited<'r, S> {
    pub fn new(inner: S, rate: &'r CaptureRate, shares: usize) -> Self {
        RateLimited {
            inner,
            rate,
            shares: shares.max(1) as u64,
            bucket: TokenBucket::default(),
            started: Instant::now(),
        }
    }
}

impl<S: PacketSource> PacketSource for RateLimited<'_, S> {
    fn poll_burst_slices(
        &mut self,
        mut f: impl FnMut(&mut [Frame<'_>]),
    ) -> Result<Burst, SourceError> {
        let max = self.rate.max_pps();
        if max == 0 {
            return self.inner.poll_burst_slices(f);
        }
        let share = (max / self.shares).max(1);
        // Nanoseconds since the start, never 0 (0 is the bucket's "never used").
        let now = self.started.elapsed().as_nanos() as u64 + 1;
        if !self.bucket.admit(now, share) {
            self.rate.paused_ms.fetch_add(1, Ordering::Relaxed);
            std::thread::sleep(PAUSE);
            return Ok(Burst::Idle);
        }
        let mut taken = 0;
        let burst = self.inner.poll_burst_slices(|frames| {
            taken += frames.len();
            f(frames)
        })?;
        self.bucket.spend(taken);
        Ok(burst)
    }

    fn take_stats(&mut self) -> SourceStats {
        self.inner.take_stats()
    }

    fn queue_report(&mut self) -> Option<QueueReport> {
        self.inner.queue_report()
    }

    fn take_time_mark(&mut self) -> Option<u64> {
        self.inner.take_time_mark()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn the_bucket_admits_the_rate_and_a_short_burst() {
        let mut b = TokenBucket::default();
        let rate = 10_000; // 10 frames a millisecond, 100 saved up at most
        let mut taken = 0;
        // 1 s in steps of 0.1 ms, a burst of 4 frames each time it admits.
        for step in 0..10_000u64 {
            if b.admit(1 + step * MS / 10, rate) {
                b.spend(4);
                taken += 4;
            }
        }
        // The rate over the second plus what the bucket held at the start.
        assert!((10_000..=10_104).contains(&taken), "{taken}");
    }

    #[test]
    fn a_quiet_spell_saves_up_only_the_depth() {
        let mut b = TokenBucket::default();
        assert!(b.admit(1, 1_000));
        b.spend(10); // all of 10 ms' worth
        assert!(!b.admit(2, 1_000));
        // An hour later: 10 frames again, not 3.6 million.
        assert!(b.admit(3_600_000 * MS, 1_000));
        b.spend(10);
        assert!(!b.admit(3_600_000 * MS + 1, 1_000));
        // Debt: a burst larger than the bucket is paid back before the next.
        assert!(b.admit(3_600_010 * MS, 1_000));
        b.spend(30);
        assert!(!b.admit(3_600_020 * MS, 1_000));
        assert!(b.admit(3_600_031 * MS, 1_000));
    }

    #[test]
    fn the_limit_changes_while_running() {
        let r = CaptureRate::new(0);
        assert_eq!(r.max_pps(), 0);
        r.set(5_000);
        assert_eq!(r.max_pps(), 5_000);
        assert_eq!(r.paused_ms(), 0);
    }
}
