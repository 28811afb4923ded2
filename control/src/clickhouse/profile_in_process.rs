//! `profile.in_process`: the stacks of profiles agents forward, as DeepFlow's server keeps them
//! (its `server/ingester/profile/dbwriter` columns and order keys; a row per distinct stack of
//! a profile and event, [`crate::profile`]), plus the sending agent as DeepFlow's `vtap_id`.
//! The cloud and Kubernetes tag columns are DeepFlow's, left 0: no resource tagging here.
//! `tapflow server --ingest-listen --clickhouse` writes them through a writer of their own
//! ([`SideWriter`]), so the records' store never waits on it.

use std::sync::Arc;
use std::time::Duration;

use super::rows::{ip_columns, string, strings};
use super::schema::{Dialect, Ty};
use super::side_writer::{SideCounters, SideTable, SideWriter};
use crate::profile::ProfileRow;

/// The database and the table.
pub const TABLE: &str = "profile.in_process";

/// DeepFlow's columns, in its order.
pub const COLUMNS: &[(&str, Ty)] = &[
    ("time", Ty::DateTime),
    ("_id", Ty::UInt64),
    ("ip4", Ty::IPv4),
    ("ip6", Ty::IPv6),
    ("is_ipv4", Ty::UInt8),
    ("app_service", Ty::String),
    ("profile_location_str", Ty::String),
    ("profile_value", Ty::Int64),
    ("profile_value_unit", Ty::String),
    ("profile_event_type", Ty::String),
    ("profile_create_timestamp", Ty::DateTime64us),
    ("profile_in_timestamp", Ty::DateTime64us),
    ("profile_language_type", Ty::String),
    ("profile_id", Ty::String),
    ("trace_id", Ty::String),
    ("span_name", Ty::String),
    ("app_instance", Ty::String),
    ("tag_names", Ty::ArrayString),
    ("tag_values", Ty::ArrayString),
    ("compression_algo", Ty::LowCardinalityString),
    ("process_id", Ty::UInt32),
    ("process_start_time", Ty::DateTime64ms),
    ("vtap_id", Ty::UInt16),
    ("region_id", Ty::UInt16),
    ("az_id", Ty::UInt16),
    ("subnet_id", Ty::UInt16),
    ("l3_epc_id", Ty::Int32),
    ("host_id", Ty::UInt16),
    ("pod_id", Ty::UInt32),
    ("pod_node_id", Ty::UInt32),
    ("pod_ns_id", Ty::UInt16),
    ("pod_cluster_id", Ty::UInt16),
    ("pod_group_id", Ty::UInt32),
    ("netns_id", Ty::UInt32),
    ("l3_device_type", Ty::UInt8),
    ("l3_device_id", Ty::UInt32),
    ("service_id", Ty::UInt32),
];

/// The table: DeepFlow's hourly partitions and order keys.
pub const SIDE_TABLE: SideTable = SideTable {
    name: TABLE,
    columns: COLUMNS,
    partition: "toStartOfHour(time)",
    legacy_partition: "toStartOfHour(time)",
    order_by: "app_service, time, ip4, ip6",
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

/// One row as RowBinary; `id` is its `_id` (DeepFlow's: time in the high half, the agent and a
/// counter in the low).
pub fn encode(r: &ProfileRow, id: u64, out: &mut Vec<u8>) {
    out.extend_from_slice(&r.time.to_le_bytes());
    out.extend_from_slice(&id.to_le_bytes());
    let (ip4, ip6, is_v4) = ip_columns(r.ip);
    out.extend_from_slice(&ip4.to_le_bytes());
    out.extend_from_slice(&ip6);
    out.push(is_v4);
    string(r.app_service.as_bytes(), out);
    string(r.location.as_bytes(), out);
    out.extend_from_slice(&r.value.to_le_bytes());
    string(r.unit.as_bytes(), out);
    string(r.event_type.as_bytes(), out);
    out.extend_from_slice(&r.create_us.to_le_bytes());
    out.extend_from_slice(&r.in_us.to_le_bytes());
    for s in [
        &r.language,
        &r.profile_id,
        &r.trace_id,
        &r.span_name,
        &r.app_instance,
    ] {
        string(s.as_bytes(), out);
    }
    strings(&r.tag_names, out);
    strings(&r.tag_values, out);
    // compression_algo: the stack is stored as text.
    string(b"", out);
    out.extend_from_slice(&r.process_id.to_le_bytes());
    out.extend_from_slice(&r.process_start_ms.to_le_bytes());
    out.extend_from_slice(&r.agent_id.to_le_bytes());
    // The resource tags, 0 (region .. service_id).
    for (_, t) in &COLUMNS[23..] {
        super::rows::zero(*t, out);
    }
}

/// The writer of `profile.in_process` rows.
#[derive(Debug)]
pub struct ProfileStore(SideWriter);

impl ProfileStore {
    /// Starts the writer for the server at `url` (checked now; connected at the first batch).
    pub fn start(url: &str, ttl_hours: u32, timeout: Duration) -> Result<Self, String> {
        let names = [
            "clickhouse_profile.rows_inserted",
            "clickhouse_profile.rows_dropped",
            "clickhouse_profile.failures",
        ];
        SIDE_TABLE
            .writer("tapflow-ch-profile", names, url, ttl_hours, timeout)
            .map(ProfileStore)
    }

    pub fn counters(&self) -> Arc<SideCounters> {
        self.0.counters()
    }

    /// Queues rows (dropped and counted when the queue is full).
    pub fn write(&mut self, rows: &[ProfileRow]) {
        self.0.write_numbered(rows, |r, n, out| {
            let id = (u64::from(r.time) << 32)
                | ((u64::from(r.agent_id) & 0x3fff) << 18)
                | (n & 0x3_ffff);
            encode(r, id, out);
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
    fn the_resource_columns_start_after_vtap_id_and_rows_have_every_column() {
        assert_eq!(COLUMNS[22].0, "vtap_id");
        assert_eq!(COLUMNS[23].0, "region_id");
        let r = ProfileRow {
            ip: Some("10.0.0.1".parse().unwrap()),
            tag_names: vec!["a".into()],
            tag_values: vec!["b".into()],
            ..Default::default()
        };
        let mut out = Vec::new();
        encode(&r, 9, &mut out);
        // Fixed widths plus the strings' and arrays' length bytes.
        let fixed: usize = COLUMNS
            .iter()
            .map(|(_, t)| match t {
                Ty::UInt8 => 1,
                Ty::UInt16 => 2,
                Ty::UInt32 | Ty::IPv4 | Ty::DateTime | Ty::Int32 => 4,
                Ty::UInt64 | Ty::Int64 | Ty::DateTime64us | Ty::DateTime64ms => 8,
                Ty::IPv6 => 16,
                Ty::String | Ty::LowCardinalityString => 1,
                Ty::ArrayString => 1 + 2,
                _ => unreachable!(),
            })
            .sum();
        assert_eq!(out.len(), fixed);
    }
}
