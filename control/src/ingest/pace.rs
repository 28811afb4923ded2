//! DeepFlow's `global.communication.max_throughput_to_ingester`: the sender's connection keeps
//! to at most so many bytes a second. A token bucket holding one second of the rate: a frame
//! takes its size from it (going into debt if it is larger than what is left) and the next one
//! waits until the debt is paid. While the connection waits, the frame queue fills and the
//! overflow action (`WAIT` up to 2 s, or `DROP`) decides what happens to new frames, as in
//! DeepFlow.

use std::time::{Duration, Instant};

/// The bucket.
#[derive(Debug, Clone)]
pub struct Pace {
    bytes_per_s: f64,
    /// Bytes that may go now (negative: owed).
    tokens: f64,
    last: Instant,
}

impl Pace {
    /// At most `bytes_per_s`, the bucket full at `now`.
    pub fn new(bytes_per_s: u64, now: Instant) -> Self {
        let rate = bytes_per_s.max(1) as f64;
        Pace {
            bytes_per_s: rate,
            tokens: rate,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + dt * self.bytes_per_s).min(self.bytes_per_s);
    }

    /// How long to wait at `now` before the next frame may go (zero: at once).
    pub fn wait(&mut self, now: Instant) -> Duration {
        self.refill(now);
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.bytes_per_s)
        }
    }

    /// A frame of `bytes` went at `now`.
    pub fn spend(&mut self, now: Instant, bytes: usize) {
        self.refill(now);
        self.tokens -= bytes as f64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_of_burst_then_the_rate() {
        let t0 = Instant::now();
        let mut p = Pace::new(1000, t0);
        assert_eq!(p.wait(t0), Duration::ZERO);
        p.spend(t0, 600);
        assert_eq!(p.wait(t0), Duration::ZERO, "400 left");
        p.spend(t0, 900);
        // 500 owed at 1000 B/s.
        assert_eq!(p.wait(t0), Duration::from_millis(500));
        assert_eq!(
            p.wait(t0 + Duration::from_millis(200)),
            Duration::from_millis(300)
        );
        assert_eq!(p.wait(t0 + Duration::from_millis(500)), Duration::ZERO);
    }

    #[test]
    fn idle_time_fills_the_bucket_only_to_one_second() {
        let t0 = Instant::now();
        let mut p = Pace::new(1000, t0);
        p.spend(t0, 1000);
        let later = t0 + Duration::from_secs(60);
        assert_eq!(p.wait(later), Duration::ZERO);
        p.spend(later, 1500);
        assert_eq!(p.wait(later), Duration::from_millis(500));
    }

    #[test]
    fn sustained_sending_averages_the_rate() {
        let t0 = Instant::now();
        let mut p = Pace::new(10_000, t0);
        let mut now = t0;
        for _ in 0..100 {
            now += p.wait(now);
            p.spend(now, 2_000);
        }
        // 200 kB at 10 kB/s with one second of burst: about 19 s.
        let took = now.duration_since(t0).as_secs_f64();
        assert!((18.5..=19.5).contains(&took), "{took}");
    }
}
