//! The ClickHouse store against real engines: Debian's `clickhouse-server` 18.16 (started here on
//! loopback in a temporary directory; the HTTP protocol, batching, the legacy DDL, retries while
//! it is stopped) and chDB (the current engine in-process, PyPI `chdb-core`: DeepFlow's exact DDL
//! and types, loading the very RowBinary bodies tapflow sent). Every field of every record must
//! land in its column with its value; the SQL of docs/queries.md runs on both.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod ch_fields;
mod ch_server;
mod chdb_support;
mod procs;
use ch_fields::{assert_table, field_sets, jsonl, select, TABLES};
use ch_server::ClickHouse;
use chdb_support::{have_chdb, run_chdb};
use procs::Proc;
use serde_json::Value;
use tapflow_control::clickhouse::{tables, ClickHouseConfig, ClickHouseSink, Dialect};
use tapflow_control::sink::Sink;

const BIN: &str = env!("CARGO_BIN_EXE_tapflow");

fn tempdir(name: &str) -> procs::Scratch {
    procs::Scratch::new("ch", name)
}

fn gen(dir: &Path, name: &str, flows: u32) -> PathBuf {
    let o = Command::new(BIN)
        .args(["gen", "--out", dir.to_str().expect("utf8"), "--name", name])
        .args(["--seed", "21", "--flows", &flows.to_string()])
        .output()
        .expect("gen");
    assert!(o.status.success());
    dir.join(format!("{name}.pcap"))
}

fn analyze(pcap: &Path, out: &Path, extra: &[&str]) -> Value {
    let o = Command::new(BIN)
        .arg("analyze")
        .arg(pcap)
        .args(["--quiet", "--out", out.to_str().expect("utf8")])
        .args(extra)
        .output()
        .expect("analyze");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_str(&std::fs::read_to_string(out.join("stats.json")).expect("stats"))
        .expect("json")
}

/// `tapflow analyze --clickhouse` into ClickHouse 18.16: the legacy DDL, batched RowBinary over
/// HTTP; every field of every row of every table reads back equal.
#[test]
fn clickhouse_18_stores_every_field() {
    let dir = tempdir("legacy");
    let Some(ch) = ClickHouse::start(&dir) else {
        return;
    };
    let pcap = gen(&dir, "t", 180);
    let out = dir.join("out");
    let st = analyze(&pcap, &out, &["--clickhouse", &ch.url()]);
    assert_eq!(st["clickhouse.rows_dropped"], 0, "{st}");
    assert_eq!(st["clickhouse.rows_queued"], 0, "{st}");
    for (file, table, fields, rows) in field_sets(&out) {
        let got = ch.rows(&select(&fields, Dialect::Legacy, table));
        assert_table(file, &fields, &rows, &got);
    }
    // The legacy types.
    let t = ch.query("SELECT type FROM system.columns WHERE database = 'flow_log' AND table = 'l4_flow_log' AND name = 'ip4_0'");
    assert_eq!(t.trim(), "UInt32");
}

/// Tables an earlier tapflow made (the network tables without `flow_load`) get the columns
/// added since, and take the new rows: the old rows read the new column as 0.
#[test]
fn clickhouse_18_tables_of_an_earlier_version_get_the_new_columns() {
    let dir = tempdir("upgrade");
    let Some(ch) = ClickHouse::start(&dir) else {
        return;
    };
    ch.query("CREATE DATABASE IF NOT EXISTS flow_metrics");
    let network: Vec<_> = tables()
        .into_iter()
        .filter(|t| t.name.starts_with("network"))
        .collect();
    assert_eq!(network.len(), 4);
    for t in &network {
        let mut old = t.clone();
        old.columns.retain(|(n, _)| *n != "flow_load");
        assert_eq!(old.columns.len() + 1, t.columns.len());
        ch.query(&old.ddl(Dialect::Legacy, 0));
        ch.query(&format!(
            "INSERT INTO {} (time, server_port, packet_tx) VALUES (1000000, 7, 1)",
            t.qualified()
        ));
    }
    let pcap = gen(&dir, "t", 60);
    let out = dir.join("out");
    let st = analyze(&pcap, &out, &["--clickhouse", &ch.url()]);
    assert_eq!(st["clickhouse.rows_dropped"], 0, "{st}");
    let table = "flow_metrics.`network_map.1m`";
    let old = ch.query(&format!(
        "SELECT flow_load FROM {table} WHERE server_port = 7"
    ));
    assert_eq!(old.trim(), "0", "the row written before");
    let docs = jsonl(&out.join("flow_metrics.network_map.1m.jsonl"));
    let want: u64 = docs
        .iter()
        .map(|d| d["flow_load"].as_u64().expect("flow_load"))
        .sum();
    assert!(want > 0);
    let got = ch.query(&format!(
        "SELECT sum(flow_load) FROM {table} WHERE server_port != 7"
    ));
    assert_eq!(got.trim(), want.to_string());
}

/// Statements and bodies a fake server received.
type Seen = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// A fake ClickHouse that records every statement and body and answers 200 (a current version).
fn fake_clickhouse() -> (String, Seen) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", l.local_addr().expect("addr"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = Arc::clone(&seen);
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut c) = conn else { continue };
            let mut req = Vec::new();
            let mut buf = [0u8; 65536];
            // Read the head, then the body by Content-Length.
            let (head_end, len) = loop {
                let n = c.read(&mut buf).unwrap_or(0);
                if n == 0 {
                    break (0, 0);
                }
                req.extend_from_slice(&buf[..n]);
                if let Some(p) = req.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&req[..p]).to_string();
                    let len = head
                        .lines()
                        .find_map(|l| l.strip_prefix("Content-Length: "))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    break (p + 4, len);
                }
            };
            if head_end == 0 {
                continue;
            }
            while req.len() < head_end + len {
                let n = c.read(&mut buf).unwrap_or(0);
                if n == 0 {
                    break;
                }
                req.extend_from_slice(&buf[..n]);
            }
            let head = String::from_utf8_lossy(&req[..head_end]).to_string();
            let target = head.split_whitespace().nth(1).unwrap_or("").to_string();
            let query = percent_decode(target.trim_start_matches("/?query="));
            let body = req[head_end..].to_vec();
            let answer = if query == "SELECT version()" {
                "26.9.2.1\n"
            } else {
                ""
            };
            let _ = write!(
                c,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                answer.len()
            );
            s.lock().expect("lock").push((query, body));
        }
    });
    (url, seen)
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() + 1 {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `name` -> `type` of a `SELECT name, type FROM system.columns` result.
fn column_types(rows: &Value) -> BTreeMap<String, String> {
    rows.as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["name"].as_str().unwrap_or("").into(),
                r["type"].as_str().unwrap_or("").into(),
            )
        })
        .collect()
}

/// DeepFlow's exact DDL and types, in the current ClickHouse engine (chDB): the statements and
/// RowBinary bodies tapflow sent (to a recording stand-in) are replayed into chDB and every
/// field reads back equal.
#[test]
fn chdb_takes_the_ddl_and_batches_tapflow_sends() {
    if !have_chdb() {
        eprintln!("skipped: chdb is not installed (the test command installs chdb-core)");
        return;
    }
    let dir = tempdir("chdb");
    let (url, seen) = fake_clickhouse();
    let pcap = gen(&dir, "t", 200);
    let out = dir.join("out");
    // A TTL far enough for the generated capture's old timestamps (rows past their TTL are
    // deleted by ClickHouse's merges).
    let st = analyze(
        &pcap,
        &out,
        &[
            "--clickhouse",
            &url,
            "--flow-log-ttl-hours",
            "1000000",
            "--flow-metrics-ttl-hours",
            "1000000",
        ],
    );
    assert_eq!(st["clickhouse.rows_dropped"], 0, "{st}");
    let seen = seen.lock().expect("lock").clone();
    let all = tables();
    let mut statements = Vec::new();
    let mut inserts = Vec::new();
    for (i, (q, body)) in seen.iter().enumerate() {
        if q.starts_with("CREATE") {
            assert!(
                !q.contains("CREATE TABLE") || q.contains("TTL time + toIntervalHour("),
                "current dialect has TTL: {q}"
            );
            statements.push(q.clone());
        } else if let Some(rest) = q.strip_prefix("INSERT INTO ") {
            let (table, _) = rest.split_once(" (").expect("column list");
            let t = all
                .iter()
                .find(|t| t.qualified() == table)
                .unwrap_or_else(|| panic!("insert into unknown {table}"));
            let file = dir.join(format!("batch-{i}.bin"));
            std::fs::write(&file, body).expect("write");
            let structure: Vec<String> = t
                .columns
                .iter()
                .map(|(n, ty)| format!("`{n}` {}", ty.sql(Dialect::Current)))
                .collect();
            inserts.push(serde_json::json!({
                "table": table,
                "columns": t.column_list(),
                "structure": structure.join(", "),
                "file": file,
            }));
        }
    }
    assert!(
        statements.len() >= 12,
        "DDL statements: {}",
        statements.len()
    );
    let sets = field_sets(&out);
    let mut queries = serde_json::Map::new();
    for (file, table, fields, _) in &sets {
        queries.insert(
            (*file).into(),
            select(fields, Dialect::Current, table).into(),
        );
    }
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/queries.md"))
            .expect("docs/queries.md");
    let blocks = sql_blocks(&doc);
    for (i, (_, q)) in blocks.iter().enumerate() {
        queries.insert(format!("doc{i}"), q.clone().into());
    }
    queries.insert(
        "types".into(),
        "SELECT name, type FROM system.columns WHERE database = 'flow_log' AND table = 'l4_flow_log' AND name IN ('ip4_0', 'ip6_0', 'start_time', 'observation_point')".into(),
    );
    let got = run_chdb(
        &dir,
        &serde_json::json!({"statements": statements, "inserts": inserts, "queries": queries}),
    );
    for (file, _, fields, rows) in &sets {
        let g = got[*file].as_array().cloned().unwrap_or_default();
        assert_table(file, fields, rows, &g);
    }
    let types = column_types(&got["types"]);
    for (i, (title, _)) in blocks.iter().enumerate() {
        let n = got[format!("doc{i}")].as_array().map_or(0, Vec::len);
        assert!(n > 0, "docs/queries.md {title}: no rows in chDB");
    }
    assert_eq!(types["ip4_0"], "IPv4");
    assert_eq!(types["ip6_0"], "IPv6");
    assert_eq!(types["start_time"], "DateTime64(6)");
    assert_eq!(types["observation_point"], "LowCardinality(String)");
}

/// Agents' self-monitoring table in the current engine (chDB): `tapflow server`'s DDL for
/// `deepflow_system.deepflow_system` (DeepFlow's columns and types) and its RowBinary rows.
#[test]
fn chdb_takes_the_deepflow_system_table() {
    use tapflow_control::clickhouse::system;
    if !have_chdb() {
        eprintln!("skipped: chdb is not installed (the test command installs chdb-core)");
        return;
    }
    let dir = tempdir("chdb-system");
    let counters = vec![
        ("frames".to_string(), 42.0),
        ("decode.bad".to_string(), 1.0),
    ];
    let mut body = Vec::new();
    for m in tapflow_control::ingest::self_stats::messages(1_790_000_000, "probe-1", &counters) {
        system::encode(9, &m, &mut body);
    }
    let file = dir.join("system.bin");
    std::fs::write(&file, &body).expect("write");
    let structure: Vec<String> = system::COLUMNS
        .iter()
        .map(|(n, ty)| format!("`{n}` {}", ty.sql(Dialect::Current)))
        .collect();
    let job = serde_json::json!({
        "statements": system::statements(Dialect::Current, 1_000_000),
        "inserts": [{
            "table": system::TABLE,
            "columns": system::column_list(),
            "structure": structure.join(", "),
            "file": file,
        }],
        "queries": {
            "rows": format!("SELECT virtual_table_name, agent_id, toUnixTimestamp(time) AS t, tag_values, metrics_float_names, metrics_float_values FROM {} ORDER BY virtual_table_name", system::TABLE),
            "types": "SELECT name, type FROM system.columns WHERE database = 'deepflow_system' AND table = 'deepflow_system' ORDER BY name",
        },
    });
    let got = run_chdb(&dir, &job);
    assert_eq!(
        got["rows"],
        serde_json::json!([
            {"virtual_table_name": "tapflow_agent", "agent_id": 9, "t": 1_790_000_000u64,
             "tag_values": ["probe-1"], "metrics_float_names": ["frames"], "metrics_float_values": [42]},
            {"virtual_table_name": "tapflow_decode", "agent_id": 9, "t": 1_790_000_000u64,
             "tag_values": ["probe-1"], "metrics_float_names": ["bad"], "metrics_float_values": [1]},
        ])
    );
    let types = column_types(&got["types"]);
    assert_eq!(types["virtual_table_name"], "LowCardinality(String)");
    assert_eq!(types["tag_names"], "Array(LowCardinality(String))");
    assert_eq!(types["metrics_float_values"], "Array(Float64)");
    assert_eq!(types["time"], "DateTime");
}

/// OpenTelemetry spans as `flow_log.l7_flow_log` rows in the current engine (chDB): DeepFlow's
/// DDL and the RowBinary `tapflow server` inserts for forwarded spans.
#[test]
fn chdb_takes_spans_as_l7_flow_log_rows() {
    use tapflow_control::clickhouse::otel_l7;
    if !have_chdb() {
        eprintln!("skipped: chdb is not installed (the test command installs chdb-core)");
        return;
    }
    let dir = tempdir("chdb-otel");
    let table = tables()
        .into_iter()
        .find(|t| t.kind == tapflow_analyzer::RecordKind::L7FlowLog)
        .expect("l7 table");
    let mut body = Vec::new();
    for (n, r) in otel_l7::span_rows(4, &traces_data()).iter().enumerate() {
        assert!(otel_l7::encode(&table, r, n as u64 + 1, &mut body).is_empty());
    }
    let file = dir.join("spans.bin");
    std::fs::write(&file, &body).expect("write");
    let structure: Vec<String> = table
        .columns
        .iter()
        .map(|(n, ty)| format!("`{n}` {}", ty.sql(Dialect::Current)))
        .collect();
    let job = serde_json::json!({
        "statements": ["CREATE DATABASE IF NOT EXISTS flow_log", table.ddl(Dialect::Current, 1_000_000)],
        "inserts": [{
            "table": table.qualified(),
            "columns": table.column_list(),
            "structure": structure.join(", "),
            "file": file,
        }],
        "queries": {
            "rows": "SELECT signal_source, observation_point, span_kind, app_service, app_instance, toString(ip4_0) AS c, toString(ip4_1) AS s, request_type, request_resource, response_code, response_status, response_exception, trace_id, span_id, parent_span_id, response_duration, metrics_names, has(attribute_names, 'http.method') AS m FROM flow_log.l7_flow_log ORDER BY span_kind",
        },
    });
    let got = run_chdb(&dir, &job);
    assert_eq!(
        got["rows"],
        serde_json::json!([
            {"signal_source": 4, "observation_point": "s-app", "span_kind": 2, "app_service": "cart",
             "app_instance": "cart-1", "c": "10.0.0.9", "s": "10.0.0.2", "request_type": "GET",
             "request_resource": "/cart/7", "response_code": 500, "response_status": 3,
             "response_exception": "", "trace_id": "ab".repeat(16), "span_id": "0000000000000001",
             "parent_span_id": "", "response_duration": 250_000, "metrics_names": ["http.response_content_length"], "m": 1},
            {"signal_source": 4, "observation_point": "c-app", "span_kind": 3, "app_service": "cart",
             "app_instance": "cart-1", "c": "10.0.0.2", "s": "10.0.0.5", "request_type": "SELECT",
             "request_resource": "SELECT 1", "response_code": 2, "response_status": 3,
             "response_exception": "timeout", "trace_id": "ab".repeat(16), "span_id": "0000000000000002",
             "parent_span_id": "0000000000000001", "response_duration": 1000, "metrics_names": [], "m": 0},
        ])
    );
}

/// Trace data of one service: a server span (HTTP, 500) and its client child (MySQL, an error).
fn traces_data() -> tapflow_control::rpc::otel::TracesData {
    use tapflow_control::rpc::otel::{self, any_value::Value as V};
    let kv = |k: &str, v: V| otel::KeyValue {
        key: k.into(),
        value: Some(otel::AnyValue { value: Some(v) }),
    };
    let t0 = 1_790_000_000_000_000_000u64;
    otel::TracesData {
        resource_spans: vec![otel::ResourceSpans {
            resource: Some(otel::Resource {
                attributes: vec![
                    kv("service.name", V::StringValue("cart".into())),
                    kv("service.instance.id", V::StringValue("cart-1".into())),
                    kv("app.host.ip", V::StringValue("10.0.0.2".into())),
                ],
                dropped_attributes_count: 0,
            }),
            scope_spans: vec![otel::ScopeSpans {
                scope: None,
                spans: vec![
                    otel::Span {
                        trace_id: vec![0xab; 16],
                        span_id: vec![0, 0, 0, 0, 0, 0, 0, 1],
                        name: "GET /cart".into(),
                        kind: otel::SpanKind::Server as i32,
                        start_time_unix_nano: t0,
                        end_time_unix_nano: t0 + 250_000_000,
                        attributes: vec![
                            kv("http.method", V::StringValue("GET".into())),
                            kv("http.target", V::StringValue("/cart/7".into())),
                            kv("http.status_code", V::IntValue(500)),
                            kv("net.peer.ip", V::StringValue("10.0.0.9".into())),
                            kv("http.response_content_length", V::IntValue(42)),
                        ],
                        ..Default::default()
                    },
                    otel::Span {
                        trace_id: vec![0xab; 16],
                        span_id: vec![0, 0, 0, 0, 0, 0, 0, 2],
                        parent_span_id: vec![0, 0, 0, 0, 0, 0, 0, 1],
                        name: "SELECT".into(),
                        kind: otel::SpanKind::Client as i32,
                        start_time_unix_nano: t0 + 1_000_000,
                        end_time_unix_nano: t0 + 2_000_000,
                        attributes: vec![
                            kv("db.system", V::StringValue("mysql".into())),
                            kv("db.operation", V::StringValue("SELECT".into())),
                            kv("db.statement", V::StringValue("SELECT 1".into())),
                            kv("net.peer.ip", V::StringValue("10.0.0.5".into())),
                        ],
                        status: Some(otel::Status {
                            message: "timeout".into(),
                            code: otel::StatusCode::Error as i32,
                        }),
                        ..Default::default()
                    },
                ],
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

/// ClickHouse stopped while records arrive: the sink keeps what its bounded queue holds, counts
/// what it drops, and writes the rest once the server is back.
#[test]
fn clickhouse_down_then_back() {
    let dir = tempdir("down");
    let Some(mut ch) = ClickHouse::start(&dir) else {
        return;
    };
    // Create the schema while it is up (a first small run), then stop it.
    let pcap = gen(&dir, "t", 60);
    let out = dir.join("out");
    analyze(&pcap, &out, &["--clickhouse", &ch.url()]);
    let before: u64 = ch
        .query("SELECT count() FROM flow_log.l4_flow_log")
        .trim()
        .parse()
        .expect("count");
    ch.stop();
    let rows = jsonl(&out.join("l4_flow_log.jsonl"));
    let mut cfg = ClickHouseConfig::new(ch.url());
    cfg.batch_bytes = 4096;
    cfg.queue_batches = 4;
    cfg.drain_timeout = Duration::from_secs(30);
    let mut sink = ClickHouseSink::start(cfg).expect("sink");
    let counters = sink.counters();
    // The l4 rows of the capture, 20 times over.
    let batch = offline_records(&pcap);
    let n = batch.l4.len() as u64;
    for _ in 0..20 {
        sink.write_batch(&batch);
        sink.tick(u64::MAX / 2);
    }
    let total = n * 20;
    // Queue full: some batches dropped, counted.
    std::thread::sleep(Duration::from_millis(500));
    assert!(counters.queue.records_dropped() > 0);
    ch.resume();
    sink.flush().expect("flush");
    let inserted = counters.inserted[0].load(std::sync::atomic::Ordering::Relaxed);
    let dropped = counters.queue.records_dropped();
    assert!(inserted > 0, "nothing written after the restart");
    assert_eq!(
        inserted + dropped,
        total,
        "every row inserted or counted as dropped"
    );
    assert!(counters.failures.load(std::sync::atomic::Ordering::Relaxed) >= 1);
    let after: u64 = ch
        .query("SELECT count() FROM flow_log.l4_flow_log")
        .trim()
        .parse()
        .expect("count");
    assert_eq!(after - before, inserted);
    assert_eq!(rows.len() as u64, n);
    drop(sink);
}

/// The l4 rows of a capture, in memory.
fn offline_records(pcap: &Path) -> tapflow_analyzer::RecordBatch {
    use tapflow_analyzer::{Analyzer, AnalyzerConfig, RecordBatch};
    use tapflow_dataplane::pcap::PcapReader;
    use tapflow_dataplane::OfflineRun;
    let mut a = Analyzer::new(AnalyzerConfig::default());
    let mut all = RecordBatch::default();
    let mut run = OfflineRun::new(&mut a);
    let mut r = PcapReader::open(pcap, 0).expect("pcap");
    run.drain(&mut r, &mut all, |_, _| {}).expect("drain");
    run.finish(&mut all);
    let mut l4 = RecordBatch::default();
    l4.l4 = all.l4;
    l4
}

/// A DeepflowStats frame (an agent's self-monitoring report) from agent `agent_id`, as
/// `tapflow run` sends it.
fn report_frame(agent_id: u16, counters: &[(&str, f64)]) -> Vec<u8> {
    use tapflow_control::ingest::frame::{FrameBuilder, MessageType, Origin};
    let counters: Vec<(String, f64)> = counters.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    let mut b = FrameBuilder::new(MessageType::DeepflowStats, 1024);
    for m in tapflow_control::ingest::self_stats::messages(1_790_000_000, "probe-1", &counters) {
        b.push(&m);
    }
    let origin = Origin {
        agent_id,
        ..Origin::default()
    };
    b.take_frame(origin, false).expect("frame")
}

/// `tapflow server --ingest-listen --clickhouse`: what an agent sends lands in ClickHouse, its
/// self-monitoring reports in `deepflow_system.deepflow_system`, the spans it forwards in
/// `flow_log.l7_flow_log` (signal_source 4).
#[test]
fn server_stores_agents_records_in_clickhouse() {
    let dir = tempdir("server");
    let Some(ch) = ClickHouse::start(&dir) else {
        return;
    };
    let url = ch.url();
    let s = Proc::spawn_env(
        &[
            "server",
            "--listen",
            "127.0.0.1:0",
            "--plaintext",
            "--data-dir",
            dir.join("srv").to_str().expect("utf8"),
            "--ingest-listen",
            "127.0.0.1:0",
            "--clickhouse",
            &url,
        ],
        &[],
    );
    let line = s.expect("receiving records on", Duration::from_secs(20));
    let ingest = line
        .split_whitespace()
        .find(|w| w.starts_with("127.0.0.1:"))
        .expect("addr")
        .to_string();
    let pcap = gen(&dir, "t", 80);
    let out = dir.join("out");
    analyze(&pcap, &out, &["--ingester", &ingest, "--agent-id", "5"]);
    let mut conn = std::net::TcpStream::connect(&ingest).expect("connect");
    conn.write_all(&report_frame(
        5,
        &[("frames", 42.0), ("l7.kafka.compressed", 3.0)],
    ))
    .expect("report");
    // Forwarded spans, zlib-compressed as an agent's collector sends them by default.
    let spans = {
        use prost::Message;
        use tapflow_control::ingest::frame::{FrameBuilder, MessageType, Origin};
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&traces_data().encode_to_vec()).expect("zlib");
        let mut b = FrameBuilder::new(MessageType::OpenTelemetryCompressed, 1024);
        b.push_bytes(&z.finish().expect("zlib"));
        let origin = Origin {
            agent_id: 5,
            ..Origin::default()
        };
        b.take_frame(origin, false).expect("frame")
    };
    conn.write_all(&spans).expect("spans");
    // A forwarded profile: collapsed text of two stacks.
    let profile = {
        use prost::Message;
        use tapflow_control::ingest::frame::{FrameBuilder, MessageType, Origin};
        let p = tapflow_control::rpc::metric::Profile {
            ip: vec![10, 0, 0, 3],
            name: "batch.cpu{job=nightly}".into(),
            from: 1_790_000_000,
            format: "folded".into(),
            spy_name: "rbspy".into(),
            data: b"main;work 7\nmain 3\n".to_vec(),
            ..Default::default()
        };
        let mut b = FrameBuilder::new(MessageType::Profile, 1024);
        b.push_bytes(&p.encode_to_vec());
        let origin = Origin {
            agent_id: 5,
            ..Origin::default()
        };
        b.take_frame(origin, false).expect("frame")
    };
    conn.write_all(&profile).expect("profile");
    // Forwarded application logs, in a zstd frame as agents send them.
    let logs = {
        use tapflow_control::ingest::frame::{FrameBuilder, MessageType, Origin};
        let mut b = FrameBuilder::new(MessageType::ApplicationLog, 1024);
        b.push_bytes(
            br#"[{"message":"disk full","timestamp":"2026-12-08T01:00:00.5Z","level":"error","app_service":"db","json":{"mount":"/var"}}]"#,
        );
        let origin = Origin {
            agent_id: 5,
            ..Origin::default()
        };
        b.take_frame(origin, true).expect("frame")
    };
    conn.write_all(&logs).expect("logs");
    drop(conn);
    std::thread::sleep(Duration::from_millis(500));
    assert!(s.stop_within(Duration::from_secs(20)), "server stop");
    let system = ch.query(
        "SELECT virtual_table_name, agent_id, arrayStringConcat(tag_values, ','), arrayStringConcat(metrics_float_names, ','), toString(metrics_float_values) FROM deepflow_system.deepflow_system ORDER BY virtual_table_name FORMAT TSV",
    );
    assert_eq!(
        system,
        "tapflow_agent\t5\tprobe-1\tframes\t[42]\ntapflow_l7\t5\tprobe-1\tkafka_compressed\t[3]\n"
    );
    let st: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("srv/records/ingest-stats.json")).expect("stats"),
    )
    .expect("json");
    assert_eq!(st["clickhouse_system.rows_inserted"], 2, "{st}");
    assert_eq!(st["clickhouse_otel.rows_inserted"], 2, "{st}");
    assert_eq!(st["clickhouse_profile.rows_inserted"], 2, "{st}");
    assert_eq!(st["clickhouse_app_log.rows_inserted"], 1, "{st}");
    let logs = ch.query(
        "SELECT toUInt32(time), timestamp, toString(_type), severity_number, body, app_service, agent_id, IPv4NumToString(ip4), arrayStringConcat(attribute_names, ','), arrayStringConcat(attribute_values, ',') FROM application_log.log FORMAT TSV",
    );
    assert_eq!(
        logs,
        "1796691600\t1796691600500000\tuser\t3\tdisk full\tdb\t5\t127.0.0.1\tmount\t/var\n"
    );
    let stacks = ch.query(
        "SELECT toUInt32(time), vtap_id, IPv4NumToString(ip4), app_service, profile_event_type, profile_location_str, profile_value, profile_language_type, arrayStringConcat(tag_values, ',') FROM profile.in_process ORDER BY profile_location_str FORMAT TSV",
    );
    assert_eq!(
        stacks,
        "1790000000\t5\t10.0.0.3\tbatch\tcpu\tmain\t3\truby\tnightly,batch,ruby,,,\n\
         1790000000\t5\t10.0.0.3\tbatch\tcpu\tmain;work\t7\truby\tnightly,batch,ruby,,,\n"
    );
    let otel = ch.query(
        "SELECT observation_point, app_service, request_resource, response_status, trace_id, parent_span_id FROM flow_log.l7_flow_log WHERE signal_source = 4 AND agent_id = 5 ORDER BY span_id FORMAT TSV",
    );
    let t = "ab".repeat(16);
    assert_eq!(
        otel,
        format!(
            "s-app\tcart\t/cart/7\t3\t{t}\t\nc-app\tcart\tSELECT 1\t3\t{t}\t0000000000000001\n"
        )
    );
    assert_eq!(st["deepflow_stats"], 2, "{st}");
    assert_eq!(
        jsonl(&dir.join("srv/records/deepflow_system.jsonl")).len(),
        2
    );
    for (file, table) in TABLES {
        let n = jsonl(&out.join(format!("{file}.jsonl"))).len();
        let got: usize = ch
            .query(&format!(
                "SELECT count() FROM {table} WHERE agent_id = 5 AND {}",
                if table.contains("l7_flow_log") {
                    "signal_source != 4"
                } else {
                    "1"
                }
            ))
            .trim()
            .parse()
            .expect("count");
        assert_eq!(got, n, "{table}");
    }
}

/// Each SQL block of docs/queries.md runs on ClickHouse 18.16 and returns rows (the chDB test
/// runs them on the current engine).
#[test]
fn documented_queries_run_on_clickhouse_18() {
    let dir = tempdir("queries");
    let Some(ch) = ClickHouse::start(&dir) else {
        return;
    };
    let pcap = gen(&dir, "t", 200);
    analyze(&pcap, &dir.join("out"), &["--clickhouse", &ch.url()]);
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/queries.md"))
            .expect("docs/queries.md");
    let blocks = sql_blocks(&doc);
    assert!(blocks.len() >= 12, "SQL blocks: {}", blocks.len());
    for (title, q) in blocks {
        let rows = ch
            .try_query(&format!("{q} FORMAT JSONEachRow"))
            .unwrap_or_else(|| panic!("{title}: refused:\n{q}"));
        assert!(!rows.trim().is_empty(), "{title}: no rows");
    }
}

/// (heading, SQL) of each ```sql block.
fn sql_blocks(doc: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut title = String::new();
    let mut cur: Option<String> = None;
    for line in doc.lines() {
        if let Some(t) = line.strip_prefix("### ") {
            title = t.to_string();
        }
        match (&mut cur, line.trim()) {
            (None, "```sql") => cur = Some(String::new()),
            (Some(q), "```") => {
                out.push((title.clone(), q.trim().trim_end_matches(';').to_string()));
                cur = None;
            }
            (Some(q), _) => {
                q.push_str(line);
                q.push('\n');
            }
            _ => {}
        }
    }
    out
}
