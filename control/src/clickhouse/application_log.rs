//! `application_log.log`: the application logs agents forward, as DeepFlow's server keeps them
//! (its `server/ingester/app_log/dbwriter` columns, hourly partitions and order keys; a row per
//! entry, [`crate::app_log`]). The cloud, Kubernetes and auto-tag columns are DeepFlow's, left
//! 0: no resource tagging here. `tapflow server --ingest-listen --clickhouse` writes them
//! through a writer of their own ([`SideWriter`]), so the records' store never waits on it.

use std::sync::Arc;
use std::time::Duration;

use super::rows::{ip_columns, string, strings, zero};
use super::schema::{Dialect, Ty};
use super::side_writer::{SideCounters, SideTable, SideWriter};
use crate::app_log::AppLogRow;

/// The database and the table.
pub const TABLE: &str = "application_log.log";

/// DeepFlow's columns, in its order.
pub const COLUMNS: &[(&str, Ty)] = &[
    ("time", Ty::DateTime),
    ("timestamp", Ty::DateTime64us),
    ("_id", Ty::UInt64),
    ("_type", Ty::LogTypeEnum8),
    ("trace_id", Ty::String),
    ("span_id", Ty::String),
    ("trace_flags", Ty::UInt32),
    ("severity_text", Ty::LowCardinalityString),
    ("severity_number", Ty::UInt8),
    ("body", Ty::String),
    ("app_service", Ty::LowCardinalityString),
    ("gprocess_id", Ty::UInt32),
    ("agent_id", Ty::UInt16),
    ("region_id", Ty::UInt16),
    ("az_id", Ty::UInt16),
    ("l3_epc_id", Ty::Int32),
    ("host_id", Ty::UInt16),
    ("pod_id", Ty::UInt32),
    ("pod_node_id", Ty::UInt32),
    ("pod_ns_id", Ty::UInt16),
    ("pod_cluster_id", Ty::UInt16),
    ("pod_group_id", Ty::UInt32),
    ("l3_device_type", Ty::UInt8),
    ("l3_device_id", Ty::UInt32),
    ("service_id", Ty::UInt32),
    ("subnet_id", Ty::UInt16),
    ("is_ipv4", Ty::UInt8),
    ("ip4", Ty::IPv4),
    ("ip6", Ty::IPv6),
    ("team_id", Ty::UInt16),
    ("user_id", Ty::UInt32),
    ("auto_instance_id", Ty::UInt32),
    ("auto_instance_type", Ty::UInt8),
    ("auto_service_id", Ty::UInt32),
    ("auto_service_type", Ty::UInt8),
    ("attribute_names", Ty::ArrayLowCardinalityString),
    ("attribute_values", Ty::ArrayString),
    ("metrics_names", Ty::ArrayLowCardinalityString),
    ("metrics_values", Ty::ArrayFloat64),
];

/// The table: DeepFlow's hourly partitions and order keys.
pub const SIDE_TABLE: SideTable = SideTable {
    name: TABLE,
    columns: COLUMNS,
    partition: "toStartOfHour(time)",
    legacy_partition: "toStartOfHour(time)",
    order_by: "_type, app_service, time, timestamp",
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

/// One row as RowBinary; `id` is its `_id` (DeepFlow's: time in the high half, then the
/// analyzer and a counter).
pub fn encode(r: &AppLogRow, id: u64, out: &mut Vec<u8>) {
    out.extend_from_slice(&r.time.to_le_bytes());
    out.extend_from_slice(&r.timestamp_us.to_le_bytes());
    out.extend_from_slice(&id.to_le_bytes());
    out.push(r.log_type.min(3) + 1);
    // trace_id, span_id, trace_flags: DeepFlow's decoder does not fill them.
    string(b"", out);
    string(b"", out);
    out.extend_from_slice(&0u32.to_le_bytes());
    string(r.severity_text.as_bytes(), out);
    out.push(r.severity_number);
    string(r.body.as_bytes(), out);
    string(r.app_service.as_bytes(), out);
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&r.agent_id.to_le_bytes());
    // region_id .. subnet_id.
    for (_, t) in &COLUMNS[13..26] {
        zero(*t, out);
    }
    let (ip4, ip6, is_v4) = ip_columns(r.ip);
    out.push(is_v4);
    out.extend_from_slice(&ip4.to_le_bytes());
    out.extend_from_slice(&ip6);
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&r.user_id.to_le_bytes());
    // auto_instance_id .. auto_service_type.
    for (_, t) in &COLUMNS[31..35] {
        zero(*t, out);
    }
    strings(&r.attribute_names, out);
    strings(&r.attribute_values, out);
    // metrics_names, metrics_values: none.
    out.extend_from_slice(&[0, 0]);
}

/// The writer of `application_log.log` rows.
#[derive(Debug)]
pub struct AppLogStore(SideWriter);

impl AppLogStore {
    /// Starts the writer for the server at `url` (checked now; connected at the first batch).
    pub fn start(url: &str, ttl_hours: u32, timeout: Duration) -> Result<Self, String> {
        let names = [
            "clickhouse_app_log.rows_inserted",
            "clickhouse_app_log.rows_dropped",
            "clickhouse_app_log.failures",
        ];
        SIDE_TABLE
            .writer("tapflow-ch-applog", names, url, ttl_hours, timeout)
            .map(AppLogStore)
    }

    pub fn counters(&self) -> Arc<SideCounters> {
        self.0.counters()
    }

    /// Queues rows (dropped and counted when the queue is full).
    pub fn write(&mut self, rows: &[AppLogRow]) {
        self.0.write_numbered(rows, |r, n, out| {
            encode(r, (u64::from(r.time) << 32) | (n & 0x3f_ffff), out);
        });
    }

    /// Waits (up to 10 s) for the queued rows to go.
    pub fn finish(self) {
        self.0.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_zeroed_ranges_are_the_resource_columns_and_rows_have_every_column() {
        assert_eq!((COLUMNS[13].0, COLUMNS[25].0), ("region_id", "subnet_id"));
        assert_eq!(
            (COLUMNS[31].0, COLUMNS[34].0),
            ("auto_instance_id", "auto_service_type")
        );
        let r = AppLogRow {
            ip: Some("10.0.0.1".parse().unwrap()),
            attribute_names: vec!["a".into()],
            attribute_values: vec!["b".into()],
            ..Default::default()
        };
        let mut out = Vec::new();
        encode(&r, 9, &mut out);
        let fixed: usize = COLUMNS
            .iter()
            .map(|(_, t)| match t {
                Ty::UInt8 | Ty::LogTypeEnum8 => 1,
                Ty::UInt16 => 2,
                Ty::UInt32 | Ty::Int32 | Ty::IPv4 | Ty::DateTime => 4,
                Ty::UInt64 | Ty::DateTime64us => 8,
                Ty::IPv6 => 16,
                // Empty strings and arrays: their length byte.
                _ => 1,
            })
            .sum();
        // The attribute arrays hold one one-byte string each.
        assert_eq!(out.len(), fixed + 2 * 2);
    }
}
