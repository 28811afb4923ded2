//! Waiting for another thread where losing nothing matters more than latency (offline runs):
//! yield a few times, then sleep briefly, so that a waiting thread does not take the core the
//! thread it waits for needs (a 2-core machine runs the reader, the workers and the output).

use std::time::Duration;

/// Yields before the first sleep.
const YIELDS: u32 = 8;
/// How long each later wait sleeps.
const NAP: Duration = Duration::from_micros(50);

/// One waiter's state; [`Backoff::reset`] after progress.
#[derive(Debug, Default)]
pub struct Backoff {
    waits: u32,
}

impl Backoff {
    /// Waits a little (longer after several waits in a row).
    pub fn wait(&mut self) {
        if self.waits < YIELDS {
            self.waits += 1;
            std::thread::yield_now();
        } else {
            std::thread::sleep(NAP);
        }
    }

    pub fn reset(&mut self) {
        self.waits = 0;
    }
}
