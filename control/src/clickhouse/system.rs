//! `deepflow_system.deepflow_system`: agents' self-monitoring reports (DeepflowStats), as
//! DeepFlow's server keeps them (one row per `stats.Stats` message: `time`,
//! `virtual_table_name`, the tags and the metrics as parallel arrays, ordered by table name and
//! time), plus the sending agent's id, which DeepFlow's table has no place for. `tapflow server
//! --ingest-listen --clickhouse` writes them from its store thread through a writer of their own
//! ([`SideWriter`]), so the records' store never waits on it.

use std::sync::Arc;
use std::time::Duration;

use super::rows::{string, strings, varint};
use super::schema::{Dialect, Ty};
use super::side_writer::{SideCounters, SideTable, SideWriter};
use crate::rpc::stats as pb;

/// The database and the table.
pub const TABLE: &str = "deepflow_system.deepflow_system";

/// The columns, DeepFlow's (`server/ingester/ext_metrics/dbwriter`) then tapflow's `agent_id`.
pub const COLUMNS: &[(&str, Ty)] = &[
    ("time", Ty::DateTime),
    ("virtual_table_name", Ty::LowCardinalityString),
    ("tag_names", Ty::ArrayLowCardinalityString),
    ("tag_values", Ty::ArrayLowCardinalityString),
    ("metrics_float_names", Ty::ArrayLowCardinalityString),
    ("metrics_float_values", Ty::ArrayFloat64),
    ("agent_id", Ty::UInt16),
];

/// The table: DeepFlow's partitions (2 hours; hours on a legacy server) and order keys.
pub const SIDE_TABLE: SideTable = SideTable {
    name: TABLE,
    columns: COLUMNS,
    partition: "toStartOfInterval(time, INTERVAL 2 hour)",
    legacy_partition: "toStartOfHour(time)",
    order_by: "virtual_table_name, time",
};

/// The statements that make the database and the table in `dialect`, rows kept `ttl_hours`
/// (0: forever; the current dialect only).
pub fn statements(dialect: Dialect, ttl_hours: u32) -> [String; 2] {
    SIDE_TABLE.statements(dialect, ttl_hours)
}

/// The column list for INSERT.
pub fn column_list() -> String {
    SIDE_TABLE.column_list()
}

/// One report message as a RowBinary row.
pub fn encode(agent_id: u16, s: &pb::Stats, out: &mut Vec<u8>) {
    out.extend_from_slice(&(u32::try_from(s.timestamp).unwrap_or(u32::MAX)).to_le_bytes());
    string(s.name.as_bytes(), out);
    strings(&s.tag_names, out);
    strings(&s.tag_values, out);
    strings(&s.metrics_float_names, out);
    varint(s.metrics_float_values.len() as u64, out);
    for v in &s.metrics_float_values {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&agent_id.to_le_bytes());
}

/// The writer of `deepflow_system` rows.
#[derive(Debug)]
pub struct SystemStore(SideWriter);

impl SystemStore {
    /// Starts the writer for the server at `url` (checked now; connected at the first batch).
    pub fn start(url: &str, ttl_hours: u32, timeout: Duration) -> Result<Self, String> {
        let names = [
            "clickhouse_system.rows_inserted",
            "clickhouse_system.rows_dropped",
            "clickhouse_system.failures",
        ];
        SIDE_TABLE
            .writer("tapflow-ch-system", names, url, ttl_hours, timeout)
            .map(SystemStore)
    }

    pub fn counters(&self) -> Arc<SideCounters> {
        self.0.counters()
    }

    /// Queues one frame's reports (dropped and counted when the queue is full).
    pub fn write(&mut self, agent_id: u16, reports: &[pb::Stats]) {
        let mut body = Vec::new();
        for s in reports {
            encode(agent_id, s, &mut body);
        }
        self.0.push(reports.len() as u64, body);
    }

    /// Waits (up to 10 s) for the queued batches to go.
    pub fn finish(self) {
        self.0.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ddl_in_both_dialects() {
        let [db, t] = statements(Dialect::Current, 168);
        assert_eq!(db, "CREATE DATABASE IF NOT EXISTS deepflow_system");
        assert!(
            t.contains("`virtual_table_name` LowCardinality(String)"),
            "{t}"
        );
        assert!(t.contains("`metrics_float_values` Array(Float64)"), "{t}");
        assert!(t.contains("ORDER BY (virtual_table_name, time)"), "{t}");
        assert!(t.contains("TTL time + toIntervalHour(168)"), "{t}");
        let [_, legacy] = statements(Dialect::Legacy, 168);
        assert!(
            !legacy.contains("LowCardinality") && !legacy.contains("TTL"),
            "{legacy}"
        );
    }

    #[test]
    fn a_report_encodes_column_by_column() {
        let s = pb::Stats {
            timestamp: 0x0102_0304,
            name: "tapflow_agent".into(),
            tag_names: vec!["host".into()],
            tag_values: vec!["h".into()],
            metrics_float_names: vec!["frames".into()],
            metrics_float_values: vec![2.5],
        };
        let mut out = Vec::new();
        encode(7, &s, &mut out);
        let mut want = vec![4, 3, 2, 1, 13];
        want.extend_from_slice(b"tapflow_agent");
        want.extend_from_slice(&[1, 4]);
        want.extend_from_slice(b"host");
        want.extend_from_slice(&[1, 1, b'h', 1, 6]);
        want.extend_from_slice(b"frames");
        want.push(1);
        want.extend_from_slice(&2.5f64.to_le_bytes());
        want.extend_from_slice(&[7, 0]);
        assert_eq!(out, want);
    }
}
