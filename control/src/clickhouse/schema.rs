//! The ClickHouse tables, written once: DeepFlow's databases, table names, columns and types for
//! `flow_log.l4_flow_log` and `flow_log.l7_flow_log` (plus the few tapflow columns DeepFlow has no
//! place for), and `flow_metrics.<table>.<1m|1s>` with the metric names of DeepFlow's documents.
//! The DDL comes in two dialects: current ClickHouse (DeepFlow's exact types, TTL) and the 18.x
//! servers of older distributions, which lack `IPv4`/`IPv6`, `DateTime64` and `LowCardinality`
//! and TTL; the replacement types there have the same RowBinary bytes, so one encoder serves both.

use tapflow_analyzer::RecordKind;

use super::deepflow_columns::{L4_DEEPFLOW, L7_CONTEXT, L7_DEEPFLOW};

/// A column type, in `deepflow-schema.md`'s spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::upper_case_acronyms)]
pub enum Ty {
    UInt8,
    UInt16,
    UInt32,
    UInt64,
    Int32,
    Int64,
    Float64,
    String,
    LowCardinalityString,
    IPv4,
    IPv6,
    DateTime,
    DateTime64us,
    DateTime64ms,
    UInt8Nullable,
    Int32Nullable,
    Int64Nullable,
    UInt64Nullable,
    ArrayUInt16,
    ArrayString,
    ArrayLowCardinalityString,
    ArrayFloat64,
    /// `application_log.log`'s `_type` (DeepFlow's log types, [`crate::app_log::LOG_TYPES`]).
    LogTypeEnum8,
}

/// Which server the DDL is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// ClickHouse 20.1 and later (DeepFlow's types).
    Current,
    /// ClickHouse 18.x / 19.x (Debian bookworm's 18.16).
    Legacy,
}

impl Dialect {
    /// The dialect of a server reporting `version` (`SELECT version()`).
    pub fn of_version(version: &str) -> Dialect {
        let major: u32 = version
            .trim()
            .split('.')
            .next()
            .and_then(|m| m.parse().ok())
            .unwrap_or(0);
        if major >= 20 {
            Dialect::Current
        } else {
            Dialect::Legacy
        }
    }
}

impl Ty {
    /// The SQL type in `dialect`.
    pub fn sql(self, dialect: Dialect) -> &'static str {
        let legacy = dialect == Dialect::Legacy;
        match self {
            Ty::UInt8 => "UInt8",
            Ty::UInt16 => "UInt16",
            Ty::UInt32 => "UInt32",
            Ty::UInt64 => "UInt64",
            Ty::Int32 => "Int32",
            Ty::Int64 => "Int64",
            Ty::Float64 => "Float64",
            Ty::String => "String",
            Ty::LowCardinalityString if legacy => "String",
            Ty::LowCardinalityString => "LowCardinality(String)",
            Ty::IPv4 if legacy => "UInt32",
            Ty::IPv4 => "IPv4",
            Ty::IPv6 if legacy => "FixedString(16)",
            Ty::IPv6 => "IPv6",
            Ty::DateTime => "DateTime",
            Ty::DateTime64us if legacy => "Int64",
            Ty::DateTime64us => "DateTime64(6)",
            Ty::DateTime64ms if legacy => "Int64",
            Ty::DateTime64ms => "DateTime64(3)",
            Ty::UInt8Nullable => "Nullable(UInt8)",
            Ty::Int32Nullable => "Nullable(Int32)",
            Ty::Int64Nullable => "Nullable(Int64)",
            Ty::UInt64Nullable => "Nullable(UInt64)",
            Ty::ArrayUInt16 => "Array(UInt16)",
            Ty::ArrayString => "Array(String)",
            Ty::ArrayLowCardinalityString if legacy => "Array(String)",
            Ty::ArrayLowCardinalityString => "Array(LowCardinality(String))",
            Ty::ArrayFloat64 => "Array(Float64)",
            Ty::LogTypeEnum8 => "Enum8('user' = 1, 'system' = 2, 'audit' = 3, 'agent' = 4)",
        }
    }
}

/// Columns tapflow adds to `l4_flow_log` (fields of its rows DeepFlow's table has no column for).
const L4_TAPFLOW: &[(&str, Ty)] = &[
    ("first_time_tx", Ty::DateTime64us),
    ("last_time_tx", Ty::DateTime64us),
    ("first_time_rx", Ty::DateTime64us),
    ("last_time_rx", Ty::DateTime64us),
    ("rtt_client_sum", Ty::Float64),
    ("rtt_client_count", Ty::UInt64),
    ("rtt_server_sum", Ty::Float64),
    ("rtt_server_count", Ty::UInt64),
    ("is_reversed", Ty::UInt8),
    // Local processes (tapflow run --ebpf), as l7_flow_log's columns of the same names.
    ("process_id_0", Ty::Int32),
    ("process_id_1", Ty::Int32),
    ("process_kname_0", Ty::String),
    ("process_kname_1", Ty::String),
];

/// Columns tapflow adds to `l7_flow_log`.
const L7_TAPFLOW: &[(&str, Ty)] = &[("mac_0", Ty::UInt64), ("mac_1", Ty::UInt64)];

/// Key columns of every flow_metrics table.
const DOC_KEY: &[(&str, Ty)] = &[
    ("time", Ty::DateTime),
    ("agent_id", Ty::UInt16),
    ("ip4", Ty::IPv4),
    ("ip6", Ty::IPv6),
    ("is_ipv4", Ty::UInt8),
    ("protocol", Ty::UInt8),
    ("server_port", Ty::UInt16),
    ("l7_protocol", Ty::UInt8),
    ("role", Ty::UInt8),
    ("tap_side", Ty::UInt8),
    ("observation_point", Ty::LowCardinalityString),
    ("capture_network_type_id", Ty::UInt8),
    ("capture_nic", Ty::UInt32),
    ("capture_nic_type", Ty::UInt8),
];

/// The other end of a path (the `_map` tables).
const DOC_PATH: &[(&str, Ty)] = &[("ip4_1", Ty::IPv4), ("ip6_1", Ty::IPv6)];

const DOC_ENDPOINT: &[(&str, Ty)] = &[("endpoint", Ty::String)];

/// DeepFlow's FlowMeter, as `network` / `network_map` columns.
const FLOW_METER: &[(&str, Ty)] = &[
    ("packet_tx", Ty::UInt64),
    ("packet_rx", Ty::UInt64),
    ("byte_tx", Ty::UInt64),
    ("byte_rx", Ty::UInt64),
    ("l3_byte_tx", Ty::UInt64),
    ("l3_byte_rx", Ty::UInt64),
    ("l4_byte_tx", Ty::UInt64),
    ("l4_byte_rx", Ty::UInt64),
    ("new_flow", Ty::UInt64),
    ("closed_flow", Ty::UInt64),
    ("l7_request", Ty::UInt64),
    ("l7_response", Ty::UInt64),
    ("syn", Ty::UInt64),
    ("synack", Ty::UInt64),
    ("rtt_sum", Ty::Float64),
    ("rtt_count", Ty::UInt64),
    ("rtt_max", Ty::UInt32),
    ("rtt_client_sum", Ty::Float64),
    ("rtt_client_count", Ty::UInt64),
    ("rtt_client_max", Ty::UInt32),
    ("rtt_server_sum", Ty::Float64),
    ("rtt_server_count", Ty::UInt64),
    ("rtt_server_max", Ty::UInt32),
    ("srt_sum", Ty::Float64),
    ("srt_count", Ty::UInt64),
    ("srt_max", Ty::UInt32),
    ("art_sum", Ty::Float64),
    ("art_count", Ty::UInt64),
    ("art_max", Ty::UInt32),
    ("rrt_sum", Ty::Float64),
    ("rrt_count", Ty::UInt64),
    ("rrt_max", Ty::UInt32),
    ("cit_sum", Ty::Float64),
    ("cit_count", Ty::UInt64),
    ("cit_max", Ty::UInt32),
    ("retrans_tx", Ty::UInt64),
    ("retrans_rx", Ty::UInt64),
    ("zero_win_tx", Ty::UInt64),
    ("zero_win_rx", Ty::UInt64),
    ("retrans_syn", Ty::UInt64),
    ("retrans_synack", Ty::UInt64),
    ("client_rst_flow", Ty::UInt64),
    ("server_rst_flow", Ty::UInt64),
    ("server_syn_miss", Ty::UInt64),
    ("client_ack_miss", Ty::UInt64),
    ("client_half_close_flow", Ty::UInt64),
    ("server_half_close_flow", Ty::UInt64),
    ("client_source_port_reuse", Ty::UInt64),
    ("client_establish_reset", Ty::UInt64),
    ("server_reset", Ty::UInt64),
    ("server_queue_lack", Ty::UInt64),
    ("server_establish_reset", Ty::UInt64),
    ("tcp_timeout", Ty::UInt64),
    ("l7_client_error", Ty::UInt64),
    ("l7_server_error", Ty::UInt64),
    ("l7_timeout", Ty::UInt64),
    ("client_ooo", Ty::UInt64),
    ("server_ooo", Ty::UInt64),
    ("flow_load", Ty::UInt64),
];

/// DeepFlow's AppMeter, as `application` / `application_map` columns.
const APP_METER: &[(&str, Ty)] = &[
    ("request", Ty::UInt64),
    ("response", Ty::UInt64),
    ("rrt_sum", Ty::Float64),
    ("rrt_count", Ty::UInt64),
    ("rrt_max", Ty::UInt32),
    ("client_error", Ty::UInt64),
    ("server_error", Ty::UInt64),
    ("timeout", Ty::UInt64),
];

/// One table.
#[derive(Debug, Clone)]
pub struct Table {
    pub kind: RecordKind,
    pub database: &'static str,
    pub name: &'static str,
    pub columns: Vec<(&'static str, Ty)>,
    pub order_by: &'static str,
    pub partition_by: &'static str,
}

impl Table {
    /// `database.`name`` for SQL.
    pub fn qualified(&self) -> String {
        format!("{}.`{}`", self.database, self.name)
    }

    pub fn is_flow_log(&self) -> bool {
        self.database == "flow_log"
    }

    /// `CREATE TABLE IF NOT EXISTS` in `dialect`, with rows kept `ttl_hours` (current dialect
    /// only: 18.x has no TTL).
    pub fn ddl(&self, dialect: Dialect, ttl_hours: u32) -> String {
        let cols: Vec<String> = self
            .columns
            .iter()
            .map(|(n, t)| format!("  `{n}` {}", t.sql(dialect)))
            .collect();
        let ttl = match dialect {
            Dialect::Current if ttl_hours > 0 => {
                format!("\nTTL time + toIntervalHour({ttl_hours})")
            }
            _ => String::new(),
        };
        format!(
            "CREATE TABLE IF NOT EXISTS {} (\n{}\n) ENGINE = MergeTree()\nPARTITION BY {}\nORDER BY ({}){ttl}",
            self.qualified(),
            cols.join(",\n"),
            self.partition_by,
            self.order_by,
        )
    }

    /// The query listing the table's columns (one name a line).
    pub fn columns_query(&self) -> String {
        format!(
            "SELECT name FROM system.columns WHERE database = '{}' AND table = '{}' FORMAT TabSeparated",
            self.database, self.name
        )
    }

    /// `ALTER TABLE ... ADD COLUMN` for each column a table made by an earlier tapflow lacks
    /// (`existing`: the names it has), in `dialect`: a new column reads as its type's default
    /// in the rows written before.
    pub fn upgrade(&self, existing: &[&str], dialect: Dialect) -> Vec<String> {
        if existing.is_empty() {
            // Nothing listed: no table to upgrade (or a server that does not say).
            return Vec::new();
        }
        self.columns
            .iter()
            .filter(|(n, _)| !existing.contains(n))
            .map(|(n, t)| {
                format!(
                    "ALTER TABLE {} ADD COLUMN `{n}` {}",
                    self.qualified(),
                    t.sql(dialect)
                )
            })
            .collect()
    }

    /// Makes the table (its database too) in `dialect` through `run`, which sends one statement,
    /// and adds the columns a table made by an earlier tapflow lacks.
    pub fn ensure(
        &self,
        dialect: Dialect,
        ttl_hours: u32,
        run: &dyn Fn(&str) -> Result<Vec<u8>, String>,
    ) -> Result<(), String> {
        run(&format!("CREATE DATABASE IF NOT EXISTS {}", self.database))?;
        run(&self.ddl(dialect, ttl_hours))
            .map_err(|e| format!("creating {}: {e}", self.qualified()))?;
        let names = run(&self.columns_query())?;
        let names = String::from_utf8_lossy(&names);
        let existing: Vec<&str> = names.lines().collect();
        for q in self.upgrade(&existing, dialect) {
            run(&q).map_err(|e| format!("upgrading {}: {e}", self.qualified()))?;
        }
        Ok(())
    }

    /// The column list for INSERT.
    pub fn column_list(&self) -> String {
        let names: Vec<String> = self.columns.iter().map(|(n, _)| format!("`{n}`")).collect();
        names.join(", ")
    }
}

fn cat(parts: &[&[(&'static str, Ty)]]) -> Vec<(&'static str, Ty)> {
    parts.iter().flat_map(|p| p.iter().copied()).collect()
}

/// Every table, one per record kind.
pub fn tables() -> Vec<Table> {
    let mut out = vec![
        Table {
            kind: RecordKind::L4FlowLog,
            database: "flow_log",
            name: "l4_flow_log",
            columns: cat(&[L4_DEEPFLOW, L4_TAPFLOW]),
            order_by: "time, flow_id",
            partition_by: "toStartOfHour(time)",
        },
        Table {
            kind: RecordKind::L7FlowLog,
            database: "flow_log",
            name: "l7_flow_log",
            columns: cat(&[L7_DEEPFLOW, L7_CONTEXT, L7_TAPFLOW]),
            order_by: "time, flow_id",
            partition_by: "toStartOfHour(time)",
        },
    ];
    for (kind, name, path, app) in [
        (RecordKind::NetworkDoc, "network.1m", false, false),
        (RecordKind::NetworkMapDoc, "network_map.1m", true, false),
        (RecordKind::ApplicationDoc, "application.1m", false, true),
        (
            RecordKind::ApplicationMapDoc,
            "application_map.1m",
            true,
            true,
        ),
        (RecordKind::NetworkDoc1s, "network.1s", false, false),
        (RecordKind::NetworkMapDoc1s, "network_map.1s", true, false),
        (RecordKind::ApplicationDoc1s, "application.1s", false, true),
        (
            RecordKind::ApplicationMapDoc1s,
            "application_map.1s",
            true,
            true,
        ),
    ] {
        let mut parts: Vec<&[(&'static str, Ty)]> = vec![DOC_KEY];
        if path {
            parts.push(DOC_PATH);
        }
        if app {
            parts.push(DOC_ENDPOINT);
            parts.push(APP_METER);
        } else {
            parts.push(FLOW_METER);
        }
        out.push(Table {
            kind,
            database: "flow_metrics",
            name,
            columns: cat(&parts),
            order_by: "time, server_port",
            partition_by: "toStartOfDay(time)",
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_table_per_record_kind_and_unique_columns() {
        let t = tables();
        for k in RecordKind::ALL {
            assert_eq!(t.iter().filter(|x| x.kind == *k).count(), 1, "{k:?}");
        }
        for table in &t {
            let mut names: Vec<_> = table.columns.iter().map(|c| c.0).collect();
            names.sort_unstable();
            let n = names.len();
            names.dedup();
            assert_eq!(names.len(), n, "{} has a duplicate column", table.name);
        }
        assert_eq!(t[0].columns.len(), 154 + L4_TAPFLOW.len());
    }

    #[test]
    fn legacy_ddl_has_no_new_types() {
        for table in tables() {
            let ddl = table.ddl(Dialect::Legacy, 72);
            for word in ["IPv4", "IPv6", "DateTime64", "LowCardinality", "TTL"] {
                assert!(!ddl.contains(word), "{}: {word}", table.name);
            }
            let ddl = table.ddl(Dialect::Current, 72);
            assert!(ddl.contains("TTL time + toIntervalHour(72)"));
        }
        assert_eq!(Dialect::of_version("18.16.1"), Dialect::Legacy);
        assert_eq!(Dialect::of_version("26.9.2.1"), Dialect::Current);
    }
}
