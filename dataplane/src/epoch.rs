//! Configuration epochs: a new analyzer configuration published while workers run. Workers
//! compare the epoch number (one atomic load) on their publish tick, every 100 ms, between
//! bursts, and take the new configuration over only when it changed; the lock guarding the
//! configuration is taken then, never per packet.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use tapflow_analyzer::{Analyzer, AnalyzerConfig};

/// The current analyzer configuration and its epoch number.
#[derive(Debug)]
pub struct ConfigEpoch {
    epoch: AtomicU64,
    cfg: Mutex<AnalyzerConfig>,
}

impl ConfigEpoch {
    pub fn new(cfg: AnalyzerConfig) -> Self {
        ConfigEpoch {
            epoch: AtomicU64::new(0),
            cfg: Mutex::new(cfg),
        }
    }

    /// Publishes `cfg` as the next epoch.
    pub fn publish(&self, cfg: AnalyzerConfig) {
        *self
            .cfg
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = cfg;
        self.epoch.fetch_add(1, Ordering::Release);
    }

    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// A worker's view: applies a newer epoch to `analyzer`, if there is one.
    pub fn apply_if_newer(&self, seen: &mut u64, analyzer: &mut Analyzer) {
        let now = self.epoch();
        if now == *seen {
            return;
        }
        *seen = now;
        let cfg = self
            .cfg
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        // The publisher checked that nothing restart-only changed; should it have, the worker
        // keeps its configuration (counted by the absence of a reconfiguration).
        let _ = analyzer.reconfigure(cfg);
    }
}
