//! What of the l4 and l7 rows reaches the log outputs, in DeepFlow's order: its
//! `outputs.flow_log` filters ([`LogFilters`]), the aggregation of health-check probes
//! ([`HealthCheckAggr`]), then its throttles ([`LogThrottles`]). All of it is for the logs only:
//! the `flow_metrics` aggregation and the sinks that derive metrics (Prometheus) see every row
//! as it comes.

use std::sync::{Arc, Mutex};

use tapflow_analyzer::aggregate::health_check::is_health_check;
use tapflow_analyzer::aggregate::{HealthCheckAggr, HealthCheckCounters};
use tapflow_analyzer::{RecordRef, RecordSink};

use super::log_filter::LogFilters;
use super::log_throttle::{row_key, LogThrottles, RowThrottle, ThrottleCounters};

/// The log outputs' policy: which rows (filters), health-check probes merged or not, how many
/// rows a second (throttles).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LogPolicy {
    pub filters: LogFilters,
    pub throttles: LogThrottles,
    /// `outputs.flow_log.aggregators.aggregate_health_check_l4_flow_log`.
    pub aggregate_health_checks: bool,
}

impl LogPolicy {
    /// Every row as it comes: unfiltered, unmerged, unthrottled.
    pub const ALL: LogPolicy = LogPolicy {
        filters: LogFilters::ALL,
        throttles: LogThrottles::NONE,
        aggregate_health_checks: false,
    };

    /// Whether every row is to be checked (filters or throttles; the fan-out then takes rows
    /// one by one).
    pub fn checks_every_row(&self) -> bool {
        !self.filters.keeps_all() || !self.throttles.is_none()
    }
}

/// The policy in force in a fan-out, with the throttles' state and the probes held.
#[derive(Debug, Default)]
pub(super) struct LogGate {
    filters: LogFilters,
    l4: Option<RowThrottle>,
    l7: Option<RowThrottle>,
    /// Rows of throttles since replaced or removed.
    throttled_before: ThrottleCounters,
    aggregate_health_checks: bool,
    health_checks: HealthCheckAggr,
}

impl LogGate {
    /// Applies `policy`; a throttle whose kind stays throttled keeps its period's count. Probes
    /// held when their aggregation is turned off are written at the next [`LogGate::release`].
    pub(super) fn set(&mut self, policy: LogPolicy) {
        self.filters = policy.filters;
        let before = &mut self.throttled_before;
        update(&mut self.l4, policy.throttles.l4, &mut before.l4_rows);
        update(&mut self.l7, policy.throttles.l7, &mut before.l7_rows);
        self.aggregate_health_checks = policy.aggregate_health_checks;
    }

    /// Whether `rec` may be held (a probe's row while they are merged).
    #[inline]
    pub(super) fn may_hold(&self, rec: RecordRef<'_>) -> bool {
        self.aggregate_health_checks && matches!(rec, RecordRef::L4FlowLog(r) if is_health_check(r))
    }

    /// Whether probes' rows are merged.
    pub(super) fn aggregates(&self) -> bool {
        self.aggregate_health_checks
    }

    pub(super) fn health_check_counters(&self) -> HealthCheckCounters {
        self.health_checks.counters()
    }

    /// Writes the held rows that are due at `now_ns` (every one when None, or when the
    /// aggregation was turned off) to the log sinks through `write`, throttled.
    pub(super) fn release(&mut self, now_ns: Option<u64>, write: &mut dyn FnMut(RecordRef<'_>)) {
        let mut out = Released {
            l4: &mut self.l4,
            write,
        };
        match now_ns {
            Some(now) if self.aggregate_health_checks => {
                self.health_checks.close_until(now, &mut out)
            }
            _ => self.health_checks.finish(&mut out),
        }
    }

    pub(super) fn policy(&self) -> LogPolicy {
        let rate =
            |t: &Option<RowThrottle>| t.as_ref().and_then(|t| std::num::NonZeroU32::new(t.rate()));
        LogPolicy {
            filters: self.filters,
            throttles: LogThrottles {
                l4: rate(&self.l4),
                l7: rate(&self.l7),
            },
            aggregate_health_checks: self.aggregate_health_checks,
        }
    }

    /// Whether `rec` reaches the log outputs now (records of other kinds always do): false
    /// when filtered, held to be merged, or throttled.
    #[inline]
    pub(super) fn passes(&mut self, rec: RecordRef<'_>) -> bool {
        let (kept, time) = match rec {
            RecordRef::L4FlowLog(r) => (
                self.filters.l4.keeps(r.capture_network_type, r.tap_side),
                r.end_time,
            ),
            RecordRef::L7FlowLog(r) => (
                self.filters.l7.keeps(r.capture_network_type, r.tap_side),
                r.end_time,
            ),
            _ => return true,
        };
        if !kept {
            return false;
        }
        let throttle = match rec {
            RecordRef::L4FlowLog(r) => {
                if self.aggregate_health_checks && is_health_check(r) && self.health_checks.add(r) {
                    return false;
                }
                &mut self.l4
            }
            _ => &mut self.l7,
        };
        throttle
            .as_mut()
            .is_none_or(|t| t.admits(time, row_key(rec)))
    }

    /// Rows throttled since the start.
    pub(super) fn throttled(&self) -> ThrottleCounters {
        let n = |t: &Option<RowThrottle>| t.as_ref().map_or(0, RowThrottle::throttled);
        ThrottleCounters {
            l4_rows: self.throttled_before.l4_rows + n(&self.l4),
            l7_rows: self.throttled_before.l7_rows + n(&self.l7),
        }
    }
}

/// Where the held rows go when written: through the l4 throttle to the log sinks.
struct Released<'a> {
    l4: &'a mut Option<RowThrottle>,
    write: &'a mut dyn FnMut(RecordRef<'_>),
}

impl RecordSink for Released<'_> {
    fn record(&mut self, rec: RecordRef<'_>) {
        let time = match rec {
            RecordRef::L4FlowLog(r) => r.end_time,
            _ => 0,
        };
        if self
            .l4
            .as_mut()
            .is_none_or(|t| t.admits(time, row_key(rec)))
        {
            (self.write)(rec);
        }
    }
}

/// A kind's throttle set to `rate`: the same state at a new rate, a new one, or none (its count
/// kept in `before`).
fn update(t: &mut Option<RowThrottle>, rate: Option<std::num::NonZeroU32>, before: &mut u64) {
    match (t.as_mut(), rate) {
        (Some(t), Some(r)) => t.set_rate(r),
        (None, Some(r)) => *t = Some(RowThrottle::new(r)),
        (_, None) => {
            if let Some(old) = t.take() {
                *before += old.throttled();
            }
        }
    }
}

/// Where a running process hands a new policy to its outputs (a configuration reloaded or sent
/// by the controller): taken by [`super::FanOut`] at its next tick, on its own thread.
#[derive(Debug, Clone, Default)]
pub struct LogPolicyUpdates(Arc<Mutex<Option<LogPolicy>>>);

impl LogPolicyUpdates {
    /// A policy to apply from the outputs' next tick on.
    pub fn publish(&self, policy: LogPolicy) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(policy);
    }

    /// The policy published since the last call, if any (never waits on the publisher).
    pub(super) fn take(&self) -> Option<LogPolicy> {
        match self.0.try_lock() {
            Ok(mut g) => g.take(),
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner().take(),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::sink::RowFilter;

    #[test]
    fn updates_are_taken_once() {
        let u = LogPolicyUpdates::default();
        assert_eq!(u.take(), None);
        let p = LogPolicy {
            filters: LogFilters {
                l4: RowFilter::new(&[4], &[]).unwrap(),
                l7: RowFilter::ALL,
            },
            throttles: LogThrottles::NONE,
            aggregate_health_checks: false,
        };
        u.clone().publish(p);
        assert_eq!(u.take(), Some(p));
        assert_eq!(u.take(), None);
    }

    fn l4(end_s: u64, flow_id: u64, t: u8) -> tapflow_analyzer::L4FlowLog {
        let mut r = crate::sink::syn_row(1000);
        r.flow_id = flow_id;
        r.end_time = end_s * 1_000_000;
        r.capture_network_type = t;
        r
    }

    #[test]
    fn filters_first_then_the_throttle_counting_kept_rows_only() {
        let mut g = LogGate::default();
        g.set(LogPolicy {
            filters: LogFilters {
                l4: RowFilter::new(&[3], &[]).unwrap(),
                l7: RowFilter::ALL,
            },
            throttles: LogThrottles {
                l4: NonZeroU32::new(1),
                l7: None,
            },
            ..LogPolicy::ALL
        });
        // Type 4 rows are filtered, not throttled; 4 of the type 3 rows pass (1/s, 4 s).
        let passed = (0..10)
            .filter(|i| g.passes(RecordRef::L4FlowLog(&l4(8, *i, 4 - (*i as u8 % 2)))))
            .count();
        assert_eq!(passed, 4);
        assert_eq!(g.throttled().l4_rows, 1);
        let req = tapflow_analyzer::L7FlowLog::default();
        assert!((0..100).all(|_| g.passes(RecordRef::L7FlowLog(&req))));
        assert_eq!(g.throttled().l7_rows, 0);
    }

    #[test]
    fn a_new_policy_keeps_the_counts() {
        let one = LogThrottles {
            l4: NonZeroU32::new(1),
            l7: None,
        };
        let mut g = LogGate::default();
        g.set(LogPolicy {
            throttles: one,
            ..LogPolicy::ALL
        });
        assert_eq!(g.policy().throttles, one);
        let passed = (0..6)
            .filter(|i| g.passes(RecordRef::L4FlowLog(&l4(8, *i, 3))))
            .count();
        assert_eq!((passed, g.throttled().l4_rows), (4, 2));
        // The same rate again: the period's count holds.
        g.set(LogPolicy {
            throttles: one,
            ..LogPolicy::ALL
        });
        assert!(!g.passes(RecordRef::L4FlowLog(&l4(9, 7, 3))));
        g.set(LogPolicy::ALL);
        assert!(g.passes(RecordRef::L4FlowLog(&l4(9, 8, 3))));
        assert_eq!(g.throttled().l4_rows, 3);
        assert_eq!(g.policy(), LogPolicy::ALL);
    }

    /// Counts the l4 rows that reach it.
    struct Count(Arc<Mutex<u64>>, bool);

    impl crate::sink::Sink for Count {
        fn name(&self) -> &'static str {
            "count"
        }
        fn write(&mut self, _: RecordRef<'_>) {
            *self.0.lock().unwrap() += 1;
        }
        fn derives_metrics(&self) -> bool {
            self.1
        }
        fn flush(&mut self) -> Result<(), crate::sink::SinkError> {
            Ok(())
        }
        fn stats(&self) -> crate::sink::SinkStats {
            Default::default()
        }
    }

    #[test]
    fn the_fan_out_throttles_the_logs_not_the_metrics() {
        use tapflow_analyzer::{RecordBatch, RecordSink};
        let (logs, metrics) = (Arc::default(), Arc::default());
        let mut f = crate::sink::FanOut::new(vec![
            Box::new(Count(Arc::clone(&logs), false)),
            Box::new(Count(Arc::clone(&metrics), true)),
        ]);
        let policy = LogPolicy {
            throttles: LogThrottles {
                l4: NonZeroU32::new(100),
                l7: None,
            },
            ..LogPolicy::ALL
        };
        f = f.with_log_policy(policy);
        assert_eq!(f.log_policy(), policy);
        // 1000 rows one by one, 1000 in a batch, all in one 4-second period.
        let rows: Vec<_> = (0..2000).map(|i| l4(40, i, 3)).collect();
        for r in &rows[..1000] {
            f.record(RecordRef::L4FlowLog(r));
        }
        let mut batch = RecordBatch::default();
        for r in &rows[1000..] {
            batch.push(r);
        }
        f.record_batch(&batch);
        assert_eq!(*logs.lock().unwrap(), 400);
        assert_eq!(*metrics.lock().unwrap(), 2000);
        assert_eq!(f.throttled().l4_rows, 1600);
        // Throttled rows are decided one by one: no pre-rendered lines.
        assert!(!f.takes_rendered_rows());
        // A live update lifts it from the next tick on; the count stays.
        f.log_policy_updates().publish(LogPolicy::ALL);
        f.tick(1);
        f.record_batch(&batch);
        assert_eq!(*logs.lock().unwrap(), 1400);
        assert_eq!(f.throttled().l4_rows, 1600);
    }
}
