//! DeepFlow's flow log filters (`outputs.flow_log.filters`): which l4 and l7 rows reach the
//! outputs that store or send logs (files, the ingester, ClickHouse, IPFIX), by the row's capture
//! network type and observation point. As in DeepFlow's agent, the filters are for the logs only:
//! the `flow_metrics` aggregation and the Prometheus series still count every row.
//!
//! DeepFlow's semantics (its agent's `generate_tap_types_array` and the l4 log stage): a list of
//! capture network types names the types whose rows are kept; `0` in it keeps every type, `-1`
//! keeps none (whatever else is listed), an empty list keeps none. A row whose observation point
//! (`tap_side`) is in the ignored list is dropped whatever its type.

use tapflow_analyzer::RecordRef;

/// A set of the 256 values of a `u8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct ByteSet([u64; 4]);

impl ByteSet {
    const FULL: ByteSet = ByteSet([u64::MAX; 4]);

    fn insert(&mut self, v: u8) {
        self.0[usize::from(v >> 6)] |= 1 << (v & 63);
    }

    #[inline]
    fn contains(&self, v: u8) -> bool {
        self.0[usize::from(v >> 6)] & (1 << (v & 63)) != 0
    }

    fn is_empty(&self) -> bool {
        self.0 == [0; 4]
    }
}

/// A value of a filter's list out of its range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("capture network type {0} is not in -1..=255")]
    CaptureNetworkType(i64),
    #[error("observation point {0} is not in 0..=255")]
    ObservationPoint(i64),
}

/// Which rows of one log kind are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowFilter {
    /// Capture network types whose rows are kept.
    types: ByteSet,
    /// Observation points (`tap_side` values) whose rows are dropped.
    ignored_sides: ByteSet,
}

impl Default for RowFilter {
    fn default() -> Self {
        RowFilter::ALL
    }
}

impl RowFilter {
    /// Every row (DeepFlow's defaults: types `[0]`, no ignored observation point).
    pub const ALL: RowFilter = RowFilter {
        types: ByteSet::FULL,
        ignored_sides: ByteSet([0; 4]),
    };

    /// The filter DeepFlow's lists give: `types` of -1..=255 (0: all, -1: none), `ignored` of
    /// 0..=255.
    pub fn new(types: &[i64], ignored: &[i64]) -> Result<RowFilter, FilterError> {
        let mut kept = ByteSet::default();
        for &t in types {
            match t {
                -1 => {}
                0 => kept = ByteSet::FULL,
                1..=255 => kept.insert(t as u8),
                _ => return Err(FilterError::CaptureNetworkType(t)),
            }
        }
        if types.contains(&-1) {
            kept = ByteSet::default();
        }
        let mut ignored_sides = ByteSet::default();
        for &s in ignored {
            let side = u8::try_from(s).map_err(|_| FilterError::ObservationPoint(s))?;
            ignored_sides.insert(side);
        }
        Ok(RowFilter {
            types: kept,
            ignored_sides,
        })
    }

    /// Whether a row of `capture_network_type` seen at observation point `tap_side` is kept.
    #[inline]
    pub fn keeps(&self, capture_network_type: u8, tap_side: u8) -> bool {
        !self.ignored_sides.contains(tap_side) && self.types.contains(capture_network_type)
    }

    /// Whether every row is kept.
    pub fn keeps_all(&self) -> bool {
        self.types == ByteSet::FULL && self.ignored_sides.is_empty()
    }

    /// Whether no row is kept.
    pub fn keeps_none(&self) -> bool {
        self.types.is_empty() || self.ignored_sides == ByteSet::FULL
    }
}

/// `every row`, `no row`, or the types kept and the observation points ignored.
impl std::fmt::Display for RowFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |set: &ByteSet| {
            (0..=255u8)
                .filter(|&v| set.contains(v))
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        };
        if self.keeps_all() {
            return f.write_str("every row");
        }
        if self.keeps_none() {
            return f.write_str("no row");
        }
        if self.types == ByteSet::FULL {
            f.write_str("every capture network type")?;
        } else {
            write!(f, "capture network types {}", list(&self.types))?;
        }
        if !self.ignored_sides.is_empty() {
            write!(
                f,
                ", observation points {} ignored",
                list(&self.ignored_sides)
            )?;
        }
        Ok(())
    }
}

/// The l4 and the l7 rows' filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LogFilters {
    pub l4: RowFilter,
    pub l7: RowFilter,
}

impl LogFilters {
    /// Every row of both kinds.
    pub const ALL: LogFilters = LogFilters {
        l4: RowFilter::ALL,
        l7: RowFilter::ALL,
    };

    /// Whether `rec` reaches the log outputs (records of other kinds always do).
    #[inline]
    pub fn keeps(&self, rec: RecordRef<'_>) -> bool {
        match rec {
            RecordRef::L4FlowLog(r) => self.l4.keeps(r.capture_network_type, r.tap_side),
            RecordRef::L7FlowLog(r) => self.l7.keeps(r.capture_network_type, r.tap_side),
            _ => true,
        }
    }

    pub fn keeps_all(&self) -> bool {
        self.l4.keeps_all() && self.l7.keeps_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deepflow_defaults_keep_every_row() {
        let f = RowFilter::new(&[0], &[]).unwrap();
        assert_eq!(f, RowFilter::ALL);
        assert!(f.keeps_all());
        for t in 0..=255u8 {
            assert!(f.keeps(t, 0) && f.keeps(t, 2) && f.keeps(t, 255));
        }
    }

    #[test]
    fn listed_types_only() {
        let f = RowFilter::new(&[3, 4], &[]).unwrap();
        assert!(f.keeps(3, 0) && f.keeps(4, 1));
        assert!(!f.keeps(0, 0) && !f.keeps(5, 0) && !f.keeps(255, 0));
        assert!(!f.keeps_all() && !f.keeps_none());
        // 0 among others: every type.
        assert!(RowFilter::new(&[7, 0], &[]).unwrap().keeps_all());
    }

    #[test]
    fn minus_one_or_an_empty_list_keeps_nothing() {
        for types in [&[-1][..], &[0, -1], &[3, -1, 4], &[]] {
            let f = RowFilter::new(types, &[]).unwrap();
            assert!(f.keeps_none(), "{types:?}");
            assert!((0..=255u8).all(|t| !f.keeps(t, 0)), "{types:?}");
        }
    }

    #[test]
    fn ignored_observation_points_drop_whatever_the_type() {
        let f = RowFilter::new(&[0], &[1, 9, 255]).unwrap();
        assert!(!f.keeps(3, 1) && !f.keeps(3, 9) && !f.keeps(0, 255));
        assert!(f.keeps(3, 0) && f.keeps(3, 2) && f.keeps(3, 10));
        assert!(!f.keeps_all());
        let all: Vec<i64> = (0..=255).collect();
        assert!(RowFilter::new(&[0], &all).unwrap().keeps_none());
    }

    #[test]
    fn described_for_config_check() {
        let d = |t: &[i64], i: &[i64]| RowFilter::new(t, i).unwrap().to_string();
        assert_eq!(d(&[0], &[]), "every row");
        assert_eq!(d(&[-1], &[]), "no row");
        assert_eq!(d(&[4, 3], &[]), "capture network types 3 4");
        assert_eq!(
            d(&[0], &[9, 1]),
            "every capture network type, observation points 1 9 ignored"
        );
    }

    #[test]
    fn values_out_of_range_are_refused() {
        assert_eq!(
            RowFilter::new(&[256], &[]),
            Err(FilterError::CaptureNetworkType(256))
        );
        assert_eq!(
            RowFilter::new(&[-2], &[]),
            Err(FilterError::CaptureNetworkType(-2))
        );
        assert_eq!(
            RowFilter::new(&[0], &[-1]),
            Err(FilterError::ObservationPoint(-1))
        );
        assert_eq!(
            FilterError::ObservationPoint(256).to_string(),
            "observation point 256 is not in 0..=255"
        );
    }
}

/// The filters in the fan-out: which sinks see which rows, row by row, in batches, and after a
/// live update.
#[cfg(test)]
mod fan_out_tests {
    use std::sync::{Arc, Mutex};

    use tapflow_analyzer::{L4FlowLog, L7FlowLog, RecordBatch, RecordKind, RecordRef, RecordSink};

    use super::{LogFilters, RowFilter};
    use crate::sink::{FanOut, LogPolicy, Sink, SinkError, SinkStats};

    /// The (kind, capture network type, tap_side) of every row that reached a sink.
    type Rows = Arc<Mutex<Vec<(RecordKind, u8, u8)>>>;

    struct Kept {
        rows: Rows,
        /// Stands for a sink of metrics (Prometheus' series).
        derives: bool,
    }

    impl Sink for Kept {
        fn name(&self) -> &'static str {
            "kept"
        }
        fn write(&mut self, rec: RecordRef<'_>) {
            let (t, s) = match rec {
                RecordRef::L4FlowLog(r) => (r.capture_network_type, r.tap_side),
                RecordRef::L7FlowLog(r) => (r.capture_network_type, r.tap_side),
                _ => (0, 0),
            };
            self.rows.lock().unwrap().push((rec.kind(), t, s));
        }
        fn derives_metrics(&self) -> bool {
            self.derives
        }
        fn flush(&mut self) -> Result<(), SinkError> {
            Ok(())
        }
        fn stats(&self) -> SinkStats {
            SinkStats::default()
        }
    }

    fn l4(t: u8, side: u8) -> L4FlowLog {
        let mut r = crate::sink::syn_row(40_000 + u16::from(t));
        r.capture_network_type = t;
        r.tap_side = side;
        r
    }

    fn l7(t: u8, side: u8) -> L7FlowLog {
        L7FlowLog {
            capture_network_type: t,
            tap_side: side,
            ..L7FlowLog::default()
        }
    }

    #[test]
    fn log_sinks_get_the_kept_rows_metrics_sinks_every_row() {
        let (logs, metrics) = (Rows::default(), Rows::default());
        let filters = LogFilters {
            l4: RowFilter::new(&[4], &[2]).unwrap(),
            l7: RowFilter::new(&[-1], &[]).unwrap(),
        };
        let mut f = FanOut::new(vec![
            Box::new(Kept {
                rows: Arc::clone(&logs),
                derives: false,
            }),
            Box::new(Kept {
                rows: Arc::clone(&metrics),
                derives: true,
            }),
        ])
        .with_log_policy(LogPolicy {
            filters,
            ..LogPolicy::ALL
        });
        let rows = [l4(3, 0), l4(4, 0), l4(4, 2)];
        let requests = [l7(3, 0), l7(4, 0)];
        for r in &rows {
            f.record(RecordRef::L4FlowLog(r));
        }
        for r in &requests {
            f.record(RecordRef::L7FlowLog(r));
        }
        let mut batch = RecordBatch::default();
        for r in &rows {
            batch.push(r);
        }
        for r in &requests {
            batch.push(r);
        }
        f.record_batch(&batch);
        let l4_kept = (RecordKind::L4FlowLog, 4, 0);
        assert_eq!(*logs.lock().unwrap(), vec![l4_kept, l4_kept]);
        assert_eq!(metrics.lock().unwrap().len(), 10, "every row, twice");

        // A live update (a reloaded configuration) applies from the next tick on.
        f.log_policy_updates().publish(LogPolicy::ALL);
        f.record(RecordRef::L4FlowLog(&rows[0]));
        assert_eq!(logs.lock().unwrap().len(), 2, "not before the tick");
        f.tick(1);
        assert_eq!(f.log_policy(), LogPolicy::ALL);
        f.record(RecordRef::L4FlowLog(&rows[0]));
        f.record_batch(&batch);
        assert_eq!(logs.lock().unwrap().len(), 2 + 1 + 5);
    }

    #[test]
    fn filtered_rows_are_not_asked_for_rendered() {
        let dir =
            std::env::temp_dir().join(format!("tapflow-filter-render-{}", std::process::id()));
        let mut cfg = crate::config::Config::default();
        let target = crate::sink::OutputTarget::Dir(dir.clone());
        assert!(FanOut::from_config(&cfg, &target)
            .unwrap()
            .takes_rendered_rows());
        cfg.log_filters.l4 = RowFilter::new(&[3], &[]).unwrap();
        assert!(!FanOut::from_config(&cfg, &target)
            .unwrap()
            .takes_rendered_rows());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
