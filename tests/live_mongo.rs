//! MongoDB with the real driver, captured live from a SPAN port (`netns::SpanLab`). MongoDB itself
//! has no Debian package: the server namespace runs a wire-level responder that answers with
//! pymongo's own BSON encoder (`tests/clients/mongo_wire_server.py`), and the client namespace
//! runs Debian's pymongo (`tests/clients/mongo_client.py`: handshake over OP_QUERY / OP_REPLY,
//! then OP_MSG commands with document-sequence sections, a duplicate key, a 1 MB reply over many
//! segments, an unknown command, an unacknowledged insert). `tapflow run` captures the mirrored
//! port; the rows must be the workload the driver ran. The same workload runs again with the
//! driver asking for zlib, for snappy and for zstd compression (every message after the
//! handshake OP_COMPRESSED, compressed by pymongo, python-snappy and zstandard): the rows must be
//! the same. Needs root, python3-pymongo, python3-snappy and python3-zstandard (scripts/test.sh
//! installs them).

use std::process::Stdio;

mod live_support;
mod netns;
use live_support::{
    client_ok, client_script, l7_rows, protocols_config, run_tapflow, stats, stop_capture,
    wait_capturing, wait_until, Killed,
};
use netns::{is_root, SpanLab};

/// Debian's interpreter, where python3-pymongo is installed.
const PYTHON: &str = "/usr/bin/python3";

#[test]
fn pymongo_workload_is_logged() {
    workload_is_logged("mg", None);
}

#[test]
fn zlib_compressed_workload_is_logged_the_same() {
    workload_is_logged("mgz", Some("zlib"));
}

#[test]
fn snappy_compressed_workload_is_logged_the_same() {
    if !live_support::python_has("snappy") {
        eprintln!("skipped: needs python3-snappy (scripts/test.sh installs it)");
        return;
    }
    workload_is_logged("mgs", Some("snappy"));
}

#[test]
fn zstd_compressed_workload_is_logged_the_same() {
    if !live_support::python_has("zstandard") {
        eprintln!("skipped: needs python3-zstandard (scripts/test.sh installs it)");
        return;
    }
    workload_is_logged("mgd", Some("zstd"));
}

/// The workload against the responder in lab `name`, the driver asking for `compressors`.
fn workload_is_logged(name: &str, compressors: Option<&str>) {
    if !is_root() || !live_support::python_has("pymongo") {
        eprintln!("skipped: needs root and python3-pymongo (scripts/test.sh installs them)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("tapflow-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let lab = SpanLab::new(name);
    let server = client_script("mongo_wire_server.py");
    let _server = Killed(
        lab.in_server(&[PYTHON, &server, lab.server_ip, "27017"])
            .stdout(Stdio::null())
            .spawn()
            .expect("mongo responder"),
    );
    wait_until("the mongo responder", 10, || lab.server_port_open(27017));
    let config = protocols_config(&dir, "HTTP, MongoDB");
    let out = dir.join("live");
    let mut run = run_tapflow(&lab.capture, 60, Some(&config), &out);
    wait_capturing(&mut run, &out);
    let client = client_script("mongo_client.py");
    let mut args = vec![PYTHON, &client, lab.server_ip, "27017"];
    args.extend(compressors);
    client_ok(lab.in_client(&args));
    stop_capture(&mut run);

    let rows = l7_rows(&out);
    assert!(rows.iter().all(|r| r["l7_protocol"] == 81));
    let s = |r: &serde_json::Value, k: &str| r[k].as_str().unwrap_or_default().to_string();
    // The driver's handshake (OP_QUERY isMaster on admin.$cmd, OP_REPLY), on the workload's
    // connection and the monitor's.
    let (hello, rows): (Vec<_>, Vec<_>) = rows
        .into_iter()
        .partition(|r| s(r, "request_type") == "ismaster");
    assert!(!hello.is_empty());
    for h in &hello {
        assert_eq!(
            (s(h, "request_domain"), h["type"].as_u64()),
            ("admin".into(), Some(2))
        );
        assert!(s(h, "request_resource").contains("\"name\": \"PyMongo\""));
        assert!(s(h, "response_result").starts_with("{ \"ismaster\": true"));
    }
    let got: Vec<(String, String, String, u64, u64, i64)> = rows
        .iter()
        .map(|r| {
            (
                s(r, "request_type"),
                s(r, "request_domain"),
                s(r, "endpoint"),
                r["type"].as_u64().unwrap_or(99),
                r["response_status"].as_u64().unwrap_or(99),
                r["response_code"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    let want: Vec<(String, String, String, u64, u64, i64)> = [
        ("ping", "admin", "", 2, 0, 0),
        ("insert", "shop", "orders", 2, 0, 0),
        // Duplicate _id: the server's write error (ok: 1) is a client error.
        ("insert", "shop", "orders", 2, 4, 11000),
        ("find", "shop", "orders", 2, 0, 0),
        ("insert", "shop", "orders", 2, 0, 0),
        // The 1 MB document comes back over many segments.
        ("find", "shop", "orders", 2, 0, 0),
        ("update", "shop", "orders", 2, 0, 0),
        ("delete", "shop", "orders", 2, 0, 0),
        ("frobnicate", "shop", "", 2, 4, 59),
        // w=0: moreToCome, no reply.
        ("insert", "shop", "orders", 0, 0, 0),
        ("endSessions", "admin", "", 2, 0, 0),
    ]
    .iter()
    .map(|(a, b, c, d, e, f)| (a.to_string(), b.to_string(), c.to_string(), *d, *e, *f))
    .collect();
    assert_eq!(got, want);
    assert!(s(&rows[2], "response_exception").starts_with("E11000 duplicate key error"));
    assert_eq!(
        s(&rows[8], "response_exception"),
        "no such command: 'frobnicate'"
    );
    assert!(s(&rows[3], "request_resource")
        .starts_with("{ \"find\": \"orders\", \"filter\": { \"item\": \"apple\" }"));
    let stats = stats(&out);
    assert_eq!(stats["kernel_drops"], 0);
    assert_eq!(stats["l7.parse_errors"], 0);
    // Compressed: every message after the handshake (its requests and replies, 21 of them).
    let compressed = stats["l7.mongo.compressed"].as_u64().unwrap_or(0);
    match compressors {
        None => assert_eq!(compressed, 0),
        Some(_) => assert!(compressed >= 20, "{compressed}"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}
