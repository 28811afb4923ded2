//! Forwarded profiles' stacks as DeepFlow's `profile.in_process` rows in the current ClickHouse
//! engine (chDB): the table tapflow makes takes the RowBinary rows `tapflow server` sends, and
//! every column reads back as the profile said (a pprof profile with a sample label, and
//! collapsed text with tags in its key). ClickHouse 18.16 gets them in tests/clickhouse.rs.

mod chdb_support;
#[allow(dead_code)]
mod procs;

use chdb_support::{have_chdb, run_chdb};
use serde_json::json;
use tapflow_control::clickhouse::profile_in_process::{column_list, encode, statements, COLUMNS};
use tapflow_control::clickhouse::Dialect;
use tapflow_control::ingest::forwarded_rows::Budget;
use tapflow_control::profile::decode;
use tapflow_control::rpc::{metric, pprof};

/// A CPU profile (pprof): `samples`/count, main -> handle, one sample labelled with a span.
fn cpu_pprof() -> Vec<u8> {
    use prost::Message;
    let strings = [
        "",
        "samples",
        "count",
        "main",
        "handle",
        "span_name",
        "GET /cart",
    ];
    let loc = |id: u64, f: u64| pprof::Location {
        id,
        line: vec![pprof::Line {
            function_id: f,
            line: 1,
        }],
        ..Default::default()
    };
    pprof::Profile {
        sample_type: vec![pprof::ValueType { r#type: 1, unit: 2 }],
        sample: vec![
            pprof::Sample {
                location_id: vec![2, 1],
                value: vec![12],
                label: vec![pprof::Label {
                    key: 5,
                    str: 6,
                    ..Default::default()
                }],
            },
            pprof::Sample {
                location_id: vec![1],
                value: vec![4],
                label: vec![],
            },
        ],
        location: vec![loc(1, 1), loc(2, 2)],
        function: [(1, 3), (2, 4)]
            .into_iter()
            .map(|(id, name)| pprof::Function {
                id,
                name,
                ..Default::default()
            })
            .collect(),
        string_table: strings.iter().map(|s| s.to_string()).collect(),
        time_nanos: 1_790_000_000_000_000_000,
        duration_nanos: 10_000_000_000,
        ..Default::default()
    }
    .encode_to_vec()
}

#[test]
fn chdb_takes_profile_stacks_as_in_process_rows() {
    if !have_chdb() {
        eprintln!("skipped: chdb is not installed (the test command installs chdb-core)");
        return;
    }
    let dir = procs::Scratch::new("ch", "chdb-profiles");
    let go = metric::Profile {
        ip: vec![0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9],
        name: "cart{env=prod}".into(),
        from: 1_790_000_000,
        until: 1_790_000_010,
        spy_name: "gospy".into(),
        format: "pprof".into(),
        data: cpu_pprof(),
        ..Default::default()
    };
    let folded = metric::Profile {
        ip: vec![10, 0, 0, 3],
        name: "batch.alloc_space".into(),
        from: 1_790_000_005,
        units: "bytes".into(),
        spy_name: "rbspy".into(),
        format: "folded".into(),
        data: b"main;alloc 4096\n".to_vec(),
        ..Default::default()
    };
    let mut body = Vec::new();
    let mut n = 0;
    for p in [&go, &folded] {
        let d = decode(6, p, 1_790_000_100_000_000, &mut Budget::default()).expect("decode");
        for r in &d.rows {
            n += 1;
            encode(r, n, &mut body);
        }
    }
    assert_eq!(n, 3);
    let file = dir.join("profiles.bin");
    std::fs::write(&file, &body).expect("write");
    let structure: Vec<String> = COLUMNS
        .iter()
        .map(|(n, ty)| format!("`{n}` {}", ty.sql(Dialect::Current)))
        .collect();
    let job = json!({
        "statements": statements(Dialect::Current, 72),
        "inserts": [{
            "table": "profile.in_process",
            "columns": column_list(),
            "structure": structure.join(", "),
            "file": file,
        }],
        "queries": {
            "rows": "SELECT toUInt32(time) AS t, vtap_id, is_ipv4, IPv4NumToString(ip4) AS v4, IPv6NumToString(ip6) AS v6, app_service, profile_event_type, profile_value_unit, profile_location_str, profile_value, profile_language_type, span_name, toUnixTimestamp64Micro(profile_create_timestamp) AS created, toUnixTimestamp64Micro(profile_in_timestamp) AS taken, tag_names, tag_values FROM profile.in_process ORDER BY app_service, profile_location_str",
            "types": "SELECT name, type FROM system.columns WHERE database = 'profile' AND table = 'in_process' AND name IN ('profile_value', 'profile_create_timestamp', 'process_start_time', 'ip6', 'compression_algo')",
        },
    });
    let got = run_chdb(&dir, &job);
    let tags = |t: &[&str]| json!(t);
    assert_eq!(
        got["rows"],
        json!([
            {"t": 1_790_000_005, "vtap_id": 6, "is_ipv4": 1, "v4": "10.0.0.3", "v6": "::",
             "app_service": "batch", "profile_event_type": "alloc_space", "profile_value_unit": "bytes",
             "profile_location_str": "main;alloc", "profile_value": 4096, "profile_language_type": "ruby",
             "span_name": "", "created": 1_790_000_005_000_000i64, "taken": 1_790_000_100_000_000i64,
             "tag_names": tags(&["app_service", "profile_language_type", "trace_id", "span_name", "app_instance"]),
             "tag_values": tags(&["batch", "ruby", "", "", ""])},
            {"t": 1_790_000_000, "vtap_id": 6, "is_ipv4": 0, "v4": "0.0.0.0", "v6": "fd00::9",
             "app_service": "cart", "profile_event_type": "cpu", "profile_value_unit": "samples",
             "profile_location_str": "main", "profile_value": 4, "profile_language_type": "Golang",
             "span_name": "", "created": 1_790_000_000_000_000i64, "taken": 1_790_000_100_000_000i64,
             "tag_names": tags(&["env", "app_service", "profile_language_type", "trace_id", "span_name", "app_instance"]),
             "tag_values": tags(&["prod", "cart", "Golang", "", "", ""])},
            {"t": 1_790_000_000, "vtap_id": 6, "is_ipv4": 0, "v4": "0.0.0.0", "v6": "fd00::9",
             "app_service": "cart", "profile_event_type": "cpu", "profile_value_unit": "samples",
             "profile_location_str": "main;handle", "profile_value": 12, "profile_language_type": "Golang",
             "span_name": "GET /cart", "created": 1_790_000_000_000_000i64, "taken": 1_790_000_100_000_000i64,
             "tag_names": tags(&["env", "span_name", "app_service", "profile_language_type", "trace_id", "span_name", "app_instance"]),
             "tag_values": tags(&["prod", "GET /cart", "cart", "Golang", "", "GET /cart", ""])},
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
    assert_eq!(types["profile_value"], "Int64");
    assert_eq!(types["profile_create_timestamp"], "DateTime64(6)");
    assert_eq!(types["process_start_time"], "DateTime64(3)");
    assert_eq!(types["ip6"], "IPv6");
    assert_eq!(types["compression_algo"], "LowCardinality(String)");
}
