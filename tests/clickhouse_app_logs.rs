//! Forwarded application logs as DeepFlow's `application_log.log` rows in the current ClickHouse
//! engine (chDB): the table tapflow makes (DeepFlow's columns, its `_type` enum, hourly
//! partitions, order keys) takes the RowBinary rows `tapflow server` sends, and every column
//! reads back as the entries said (Vector's shape with a Kubernetes pod, winston's with an
//! audit type). ClickHouse 18.16 gets them in tests/clickhouse.rs.

mod chdb_support;
#[allow(dead_code)]
mod procs;

use chdb_support::{have_chdb, run_chdb};
use serde_json::json;
use tapflow_control::app_log::decode;
use tapflow_control::clickhouse::application_log::{column_list, encode, statements, COLUMNS};
use tapflow_control::clickhouse::Dialect;

#[test]
fn chdb_takes_application_logs_as_log_rows() {
    if !have_chdb() {
        eprintln!("skipped: chdb is not installed (the test command installs chdb-core)");
        return;
    }
    let dir = procs::Scratch::new("ch", "chdb-app-logs");
    let msg = br#"[
        {"message": "GET /cart 200", "timestamp": "2026-12-08T01:00:00.250Z", "level": "INFO",
         "_df_log_type": "user", "app_service": "shop", "json": {"status": 200},
         "kubernetes": {"pod_name": "shop-1", "pod_ip": "fd00::7"}},
        {"message": "admin logged in", "timestamp": "2026-12-08T09:00:01+08:00",
         "level": "warning", "_df_log_type": "audit", "app_service": "console", "user_id": 3}
    ]"#;
    let d = decode(5, Some("10.0.0.9".parse().unwrap()), msg).expect("decode");
    assert_eq!((d.rows.len(), d.skipped), (2, 0));
    let mut body = Vec::new();
    for (i, r) in d.rows.iter().enumerate() {
        encode(r, (u64::from(r.time) << 32) | i as u64, &mut body);
    }
    let file = dir.join("logs.bin");
    std::fs::write(&file, &body).expect("write");
    let structure: Vec<String> = COLUMNS
        .iter()
        .map(|(n, ty)| format!("`{n}` {}", ty.sql(Dialect::Current)))
        .collect();
    let job = json!({
        "statements": statements(Dialect::Current, 72),
        "inserts": [{
            "table": "application_log.log",
            "columns": column_list(),
            "structure": structure.join(", "),
            "file": file,
        }],
        "queries": {
            "rows": "SELECT toUInt32(time) AS t, toUnixTimestamp64Micro(timestamp) AS us, toString(_type) AS type, severity_text, severity_number, body, app_service, agent_id, user_id, is_ipv4, IPv4NumToString(ip4) AS v4, IPv6NumToString(ip6) AS v6, attribute_names, attribute_values, length(metrics_names) AS m FROM application_log.log ORDER BY time",
            "types": "SELECT name, type FROM system.columns WHERE database = 'application_log' AND table = 'log' AND name IN ('_type', 'timestamp', 'severity_text', 'attribute_names', 'metrics_values', 'ip6')",
            "keys": "SELECT sorting_key, partition_key FROM system.tables WHERE database = 'application_log' AND name = 'log'",
        },
    });
    let got = run_chdb(&dir, &job);
    assert_eq!(
        got["rows"],
        json!([
            {"t": 1_796_691_600u32, "us": 1_796_691_600_250_000i64, "type": "user",
             "severity_text": "INFO", "severity_number": 5, "body": "GET /cart 200",
             "app_service": "shop", "agent_id": 5, "user_id": 0, "is_ipv4": 0,
             "v4": "0.0.0.0", "v6": "fd00::7",
             "attribute_names": ["status", "pod_ip", "pod_name"],
             "attribute_values": ["200", "fd00::7", "shop-1"], "m": 0},
            {"t": 1_796_691_601u32, "us": 1_796_691_601_000_000i64, "type": "audit",
             "severity_text": "warning", "severity_number": 4, "body": "admin logged in",
             "app_service": "console", "agent_id": 5, "user_id": 3, "is_ipv4": 1,
             "v4": "10.0.0.9", "v6": "::", "attribute_names": [], "attribute_values": [],
             "m": 0},
        ])
    );
    let types: std::collections::BTreeMap<String, String> = got["types"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["name"].as_str().unwrap_or("").into(),
                r["type"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    assert_eq!(
        types["_type"],
        "Enum8('user' = 1, 'system' = 2, 'audit' = 3, 'agent' = 4)"
    );
    assert_eq!(types["timestamp"], "DateTime64(6)");
    assert_eq!(types["severity_text"], "LowCardinality(String)");
    assert_eq!(types["attribute_names"], "Array(LowCardinality(String))");
    assert_eq!(types["metrics_values"], "Array(Float64)");
    assert_eq!(types["ip6"], "IPv6");
    assert_eq!(
        got["keys"][0]["sorting_key"],
        "_type, app_service, time, timestamp"
    );
    assert_eq!(got["keys"][0]["partition_key"], "toStartOfHour(time)");
}
