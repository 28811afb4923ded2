//! Record outputs. Every output is one [`Sink`]; [`FanOut`] hands each record to all the sinks
//! that `outputs.*` (and the command line) asked for. The embedded default writes JSON lines
//! files, one per record kind ([`JsonLinesSink`]).
//!
//! A sink sees records as [`RecordRef`]s (any kind: its name and its serialisation), in batches
//! from the live output thread or one by one from an offline run, is ticked with the analyzer's
//! time so it can close its own intervals, and reports failures when flushed: a sink that cannot
//! write counts what it lost and never stops the others.

mod ipfix;
mod json_obj;
mod jsonl;
pub mod l4_json;
pub mod l7_json;
pub mod log_filter;
pub mod log_gate;
pub mod log_throttle;
pub mod metrics_json;
pub mod offload;
pub mod process_join;
mod prometheus;

use std::path::PathBuf;

pub use ipfix::IpfixSink;
pub use jsonl::render_row_lines;
pub use jsonl::JsonLinesSink;
pub use jsonl::JsonRowFile;
pub use log_filter::{LogFilters, RowFilter};
pub use log_gate::{LogPolicy, LogPolicyUpdates};
pub use log_throttle::{LogThrottles, ThrottleCounters};
pub use prometheus::{PrometheusCounters, PrometheusSink};
use tapflow_analyzer::aggregate::{Aggregator, FlowAggr, MetricsCounters};
use tapflow_analyzer::{RecordBatch, RecordKind, RecordRef, RecordSink};

use log_gate::LogGate;

use crate::config::Config;

/// Counters of a sink.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SinkStats {
    /// Records written, per kind ([`RecordKind::ALL`] order).
    pub written: [u64; 16],
    pub bytes: u64,
    pub rotations: u64,
    /// Records lost to write errors (the first error is reported by the next flush).
    pub write_errors: u64,
}

impl SinkStats {
    fn index(kind: RecordKind) -> usize {
        RecordKind::ALL.iter().position(|k| *k == kind).unwrap_or(0)
    }

    pub fn count(&mut self, kind: RecordKind) {
        self.count_n(kind, 1);
    }

    /// Counts `n` records of `kind` written.
    pub fn count_n(&mut self, kind: RecordKind, n: u64) {
        if let Some(w) = self.written.get_mut(Self::index(kind)) {
            *w += n;
        }
    }

    /// Records of `kind` written.
    pub fn records(&self, kind: RecordKind) -> u64 {
        self.written.get(Self::index(kind)).copied().unwrap_or(0)
    }

    pub fn merge(&mut self, o: &SinkStats) {
        for (a, b) in self.written.iter_mut().zip(o.written) {
            *a += b;
        }
        self.bytes += o.bytes;
        self.rotations += o.rotations;
        self.write_errors += o.write_errors;
    }
}

/// Why a sink failed.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("{sink}: {source}")]
    Io {
        sink: &'static str,
        source: std::io::Error,
    },
}

/// One output.
pub trait Sink: Send {
    /// Short name for logs and stats.
    fn name(&self) -> &'static str;

    /// Takes one record.
    fn write(&mut self, rec: RecordRef<'_>);

    /// Takes a batch of records (every kind).
    fn write_batch(&mut self, batch: &RecordBatch) {
        batch.for_each(|r| self.write(r));
    }

    /// Whether this sink writes a batch's pre-rendered l4 and l7 lines
    /// ([`render_row_lines`]) instead of rendering the rows itself.
    fn takes_rendered_rows(&self) -> bool {
        false
    }

    /// Whether this sink derives metrics from the rows (Prometheus' series): it sees every
    /// row, whatever the flow log filters and throttles ([`LogPolicy`]) keep from the logs.
    fn derives_metrics(&self) -> bool {
        false
    }

    /// Time moved on (the analyzer's time, ns): a sink may close its intervals or flush.
    fn tick(&mut self, _now_ns: u64) {}

    /// Pushes out what is buffered; reports the first failure since the last flush.
    fn flush(&mut self) -> Result<(), SinkError>;

    fn stats(&self) -> SinkStats;
}

/// Where the file outputs go.
#[derive(Debug, Clone)]
pub enum OutputTarget {
    /// JSON lines files in this directory.
    Dir(PathBuf),
    /// JSON lines on standard output.
    Stdout,
}

/// Every configured sink; records go to all of them. The `flow_metrics` aggregation sits in
/// front: it sees every record and writes its documents to the sinks when a minute is over (on
/// [`RecordSink::tick`]) and at [`FanOut::finish`]. The flow log filters, the health-check
/// aggregation and the throttles (`outputs.flow_log.*`, [`LogPolicy`]) sit between the
/// aggregation and the sinks that keep logs.
pub struct FanOut {
    sinks: Vec<Box<dyn Sink>>,
    metrics: Option<Aggregator>,
    /// With 1-second metrics: live flows' second rows merged back into minute rows before the
    /// sinks see them.
    flow_aggr: Option<FlowAggr>,
    /// The flow log filters, health-check aggregation and throttles.
    gate: LogGate,
    /// Whether `gate` checks every row (false in the common case: it only takes probes' rows,
    /// or nothing).
    gated: bool,
    /// A new policy from a running process's configuration, taken at the next tick.
    updates: LogPolicyUpdates,
}

/// The sinks as one [`RecordSink`] (where the aggregator writes its documents), each l4 and l7
/// row to the sinks that `gate` gives it to.
struct All<'a> {
    sinks: &'a mut Vec<Box<dyn Sink>>,
    gate: &'a mut LogGate,
    /// Whether `gate` checks every row.
    gated: bool,
}

impl All<'_> {
    /// Writes the rows the gate held that are due at `now_ns` (all when None) to the log sinks.
    fn release(&mut self, now_ns: Option<u64>) {
        let sinks = &mut *self.sinks;
        self.gate.release(now_ns, &mut |rec| {
            for s in sinks.iter_mut().filter(|s| !s.derives_metrics()) {
                s.write(rec);
            }
        });
    }
}

impl RecordSink for All<'_> {
    fn record(&mut self, rec: RecordRef<'_>) {
        if !self.gated && !self.gate.may_hold(rec) {
            for s in self.sinks.iter_mut() {
                s.write(rec);
            }
            return;
        }
        let gate = &mut *self.gate;
        let kept = gate.passes(rec);
        for s in self.sinks.iter_mut() {
            if kept || s.derives_metrics() {
                s.write(rec);
            }
        }
    }
}

impl std::fmt::Debug for FanOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<_> = self.sinks.iter().map(|s| s.name()).collect();
        f.debug_struct("FanOut").field("sinks", &names).finish()
    }
}

impl FanOut {
    /// The sinks `cfg` asks for, writing files to `target`.
    pub fn from_config(cfg: &Config, target: &OutputTarget) -> std::io::Result<Self> {
        let files: Box<dyn Sink> = match target {
            OutputTarget::Dir(dir) => {
                Box::new(JsonLinesSink::to_dir(dir, cfg.file_output.clone())?)
            }
            OutputTarget::Stdout => Box::new(JsonLinesSink::to_stdout(cfg.file_output.clone())),
        };
        let metrics = cfg
            .metrics
            .enabled
            .then(|| Aggregator::new(cfg.metrics.clone()));
        let mut sinks = vec![files];
        if let Some(c) = &cfg.ipfix.collector {
            let ipfix = IpfixSink::connect(
                c,
                cfg.ipfix.observation_domain,
                cfg.ipfix.template_refresh_s,
            )?;
            sinks.push(Box::new(ipfix) as Box<dyn Sink>);
        }
        let flow_aggr = (cfg.metrics.enabled && cfg.metrics.second).then(FlowAggr::new);
        Ok(FanOut {
            sinks,
            metrics,
            flow_aggr,
            gate: LogGate::default(),
            gated: false,
            updates: LogPolicyUpdates::default(),
        }
        .with_log_policy(cfg.log_policy()))
    }

    /// Where a running process hands this fan-out a new flow log policy (applied from its next
    /// tick).
    pub fn log_policy_updates(&self) -> LogPolicyUpdates {
        self.updates.clone()
    }

    /// The flow log filters and throttles in force.
    pub fn log_policy(&self) -> LogPolicy {
        self.gate.policy()
    }

    /// Rows the flow log throttles kept from the log outputs.
    pub fn throttled(&self) -> ThrottleCounters {
        self.gate.throttled()
    }

    /// Adds a sink (the Prometheus endpoint, ...).
    pub fn push(&mut self, sink: Box<dyn Sink>) {
        self.sinks.push(sink);
    }

    /// A fan-out over `sinks`, without metrics.
    pub fn new(sinks: Vec<Box<dyn Sink>>) -> Self {
        FanOut {
            sinks,
            metrics: None,
            flow_aggr: None,
            gate: LogGate::default(),
            gated: false,
            updates: LogPolicyUpdates::default(),
        }
    }

    /// The same fan-out with flow log filters and throttles.
    pub fn with_log_policy(mut self, policy: LogPolicy) -> Self {
        self.set_log_policy(policy);
        self
    }

    fn set_log_policy(&mut self, policy: LogPolicy) {
        self.gate.set(policy);
        self.gated = policy.checks_every_row();
    }

    /// The health-check aggregation's counters.
    pub fn health_check_counters(&self) -> tapflow_analyzer::aggregate::HealthCheckCounters {
        self.gate.health_check_counters()
    }

    /// The log gate's counters by their stats.json names: rows throttled, probes merged.
    pub fn log_gate_counters(&self) -> [(&'static str, u64); 5] {
        let (t, h) = (self.throttled(), self.health_check_counters());
        [
            ("throttled.l4_rows", t.l4_rows),
            ("throttled.l7_rows", t.l7_rows),
            ("health_check.merged", h.merged),
            ("health_check.late", h.late),
            ("health_check.table_full", h.table_full),
        ]
    }

    /// Whether `batch`'s records go one by one (merged, checked, or with probes to hold).
    fn by_row(&self, batch: &RecordBatch) -> bool {
        self.flow_aggr.is_some()
            || self.gated
            || (self.gate.aggregates()
                && batch
                    .l4
                    .iter()
                    .any(tapflow_analyzer::aggregate::health_check::is_health_check))
    }

    pub fn write_batch(&mut self, batch: &RecordBatch) {
        if self.by_row(batch) {
            // Row by row: merged first, or filtered (a batch's pre-rendered lines unused).
            batch.for_each(|r| self.record(r));
            return;
        }
        if let Some(m) = &mut self.metrics {
            batch.for_each(|r| m.add(r));
        }
        for s in &mut self.sinks {
            s.write_batch(batch);
        }
    }

    /// The end of the run: the metric documents of the minutes still open are written, and
    /// every sink flushed.
    pub fn finish(&mut self) -> Result<(), SinkError> {
        let mut all = All {
            sinks: &mut self.sinks,
            gate: &mut self.gate,
            gated: self.gated,
        };
        if let Some(a) = &mut self.flow_aggr {
            a.finish(&mut all);
        }
        all.release(None);
        if let Some(m) = &mut self.metrics {
            m.finish(&mut all);
        }
        self.flush()
    }

    /// Whether batches should come with their l4 and l7 rows rendered as JSON lines
    /// ([`render_row_lines`], done by the threads that make the rows): a sink writes
    /// them as they are, and the rows reach the sinks in batches (not through the 1-second flow
    /// aggregation, which rewrites them, nor through flow log filters or throttles).
    pub fn takes_rendered_rows(&self) -> bool {
        self.flow_aggr.is_none()
            && !self.gated
            && self.sinks.iter().any(|s| s.takes_rendered_rows())
    }

    /// The metric aggregation's counters (None when `outputs.flow_metrics.enabled` is false).
    pub fn metrics_counters(&self) -> Option<MetricsCounters> {
        self.metrics.as_ref().map(Aggregator::counters)
    }

    /// Flushes every sink (all of them, even after a failure); the first failure is returned.
    pub fn flush(&mut self) -> Result<(), SinkError> {
        let mut first = Ok(());
        for s in &mut self.sinks {
            if let Err(e) = s.flush() {
                if first.is_ok() {
                    first = Err(e);
                }
            }
        }
        first
    }

    /// [`RecordSink::record`] with 1-second metrics (l4 rows merged first), a flow log policy
    /// that checks every row, or a probe's row to hold.
    #[inline(never)]
    fn record_merged_or_filtered(&mut self, rec: RecordRef<'_>) {
        if let Some(m) = &mut self.metrics {
            m.add(rec);
        }
        let mut all = All {
            sinks: &mut self.sinks,
            gate: &mut self.gate,
            gated: self.gated,
        };
        match (&mut self.flow_aggr, rec) {
            (Some(a), RecordRef::L4FlowLog(r)) => a.add(r, &mut all),
            _ => all.record(rec),
        }
    }

    /// The sum of every sink's counters.
    pub fn stats(&self) -> SinkStats {
        let mut t = SinkStats::default();
        for s in &self.sinks {
            t.merge(&s.stats());
        }
        t
    }

    /// Each sink's name and counters.
    pub fn per_sink(&self) -> Vec<(&'static str, SinkStats)> {
        self.sinks.iter().map(|s| (s.name(), s.stats())).collect()
    }
}

impl RecordSink for FanOut {
    fn record(&mut self, rec: RecordRef<'_>) {
        if self.flow_aggr.is_some() || self.gated || self.gate.may_hold(rec) {
            return self.record_merged_or_filtered(rec);
        }
        if let Some(m) = &mut self.metrics {
            m.add(rec);
        }
        for s in &mut self.sinks {
            s.write(rec);
        }
    }

    fn record_batch(&mut self, batch: &RecordBatch) {
        self.write_batch(batch);
    }

    fn tick(&mut self, now_ns: u64) {
        if let Some(p) = self.updates.take() {
            self.set_log_policy(p);
        }
        let mut all = All {
            sinks: &mut self.sinks,
            gate: &mut self.gate,
            gated: self.gated,
        };
        if let Some(a) = &mut self.flow_aggr {
            a.close_until(now_ns, &mut all);
        }
        all.release(Some(now_ns));
        if let Some(m) = &mut self.metrics {
            m.close_until(now_ns, &mut all);
        }
        for s in &mut self.sinks {
            s.tick(now_ns);
        }
    }
}

/// Test helper: a real l4 row, one TCP SYN from 10.0.0.1:`client_port` to 10.0.0.2:80 through
/// the analyzer.
#[cfg(test)]
pub(crate) fn syn_row(client_port: u16) -> tapflow_analyzer::L4FlowLog {
    use tapflow_analyzer::engine::sample::{syn_row, Syn};
    syn_row(Syn {
        client: ([10, 0, 0, 1], client_port).into(),
        server: ([10, 0, 0, 2], 80).into(),
        window: 1,
        ts_ns: 1_000_000_000,
        wire_len: Some(60),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tapflow_analyzer::{L7FlowLog, Record};

    /// Remembers what reached it (to see the fan-out's calls).
    #[derive(Default)]
    struct Seen {
        kinds: Vec<RecordKind>,
        ticks: Vec<u64>,
        flushes: u32,
    }

    impl Sink for Seen {
        fn name(&self) -> &'static str {
            "seen"
        }
        fn write(&mut self, rec: RecordRef<'_>) {
            self.kinds.push(rec.kind());
        }
        fn tick(&mut self, now_ns: u64) {
            self.ticks.push(now_ns);
        }
        fn flush(&mut self) -> Result<(), SinkError> {
            self.flushes += 1;
            Ok(())
        }
        fn stats(&self) -> SinkStats {
            let mut s = SinkStats::default();
            for k in &self.kinds {
                s.count(*k);
            }
            s
        }
    }

    #[test]
    fn rendered_rows_are_asked_for_only_where_a_sink_writes_them_from_batches() {
        let dir = std::env::temp_dir().join(format!("tapflow-rendered-ask-{}", std::process::id()));
        let mut cfg = Config::default();
        let target = OutputTarget::Dir(dir.clone());
        assert!(FanOut::from_config(&cfg, &target)
            .unwrap()
            .takes_rendered_rows());
        assert!(FanOut::from_config(&cfg, &OutputTarget::Stdout)
            .unwrap()
            .takes_rendered_rows());
        assert!(!FanOut::new(vec![Box::new(Seen::default())]).takes_rendered_rows());
        // 1-second metrics: l4 rows go through the flow aggregation, one by one.
        cfg.metrics.enabled = true;
        cfg.metrics.second = true;
        assert!(!FanOut::from_config(&cfg, &target)
            .unwrap()
            .takes_rendered_rows());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn fan_out_reaches_every_sink_and_reports_the_first_failure() {
        assert!(RecordKind::ALL.len() <= SinkStats::default().written.len());
        let dir = std::env::temp_dir().join(format!("tapflow-fanout-{}", std::process::id()));
        let limits = crate::config::FileOutput {
            rotate_bytes: 100_000,
            keep_files: 2,
        };
        let files = JsonLinesSink::to_dir(&dir, limits).unwrap();
        let mut f = FanOut::new(vec![Box::new(Seen::default()), Box::new(files)]);
        let l7 = L7FlowLog::default();
        f.record(l7.as_ref());
        let mut batch = RecordBatch::default();
        batch.push(&l7);
        batch.push(&l7);
        f.record_batch(&batch);
        f.tick(42);
        assert!(f.flush().is_ok());
        let seen = f.per_sink();
        assert_eq!(seen[0].0, "seen");
        let per = f.per_sink();
        assert_eq!(per[0].1.records(RecordKind::L7FlowLog), 3);
        assert_eq!(
            per[1].1.records(RecordKind::L7FlowLog),
            3,
            "jsonl wrote them too"
        );
        assert_eq!(f.stats().records(RecordKind::L7FlowLog), 6);
        let text = std::fs::read_to_string(dir.join("l7_flow_log.jsonl")).unwrap();
        assert_eq!(text.lines().count(), 3);
        // The files' directory disappears: the JSON lines sink fails at its next rotation, the
        // other sink goes on.
        std::fs::remove_dir_all(&dir).unwrap();
        for _ in 0..20_000 {
            f.record(l7.as_ref());
        }
        let err = f
            .flush()
            .expect_err("writing into a removed directory fails");
        assert!(err.to_string().starts_with("jsonl:"), "{err}");
        assert_eq!(f.per_sink()[0].1.records(RecordKind::L7FlowLog), 20_003);
        assert!(f.per_sink()[1].1.write_errors > 0);
    }
}
