//! gRPC joined mid-connection, live: `tapflow server` (the control plane, a tonic server) in one
//! namespace and Debian's grpcio client (`tests/clients/grpc_unary.py`) in another, calling Sync
//! every 200 ms over one HTTP/2 connection; the capture (`tapflow run` on the SPAN port) starts
//! only after that connection has carried requests, so HPACK's dynamic tables were built before
//! the capture. Each later call must still be one gRPC row (request and response together, never
//! a session plus an orphan response) with POST, a good status, the gRPC status where the
//! trailers can be read (else `:status`), and `headers_partial` set. A first capture that sees a
//! connection from its start is the reference: every field decoded. Needs root and
//! python3-grpcio (scripts/test.sh installs it).

use std::process::Stdio;
use std::time::Duration;

mod live_support;
mod netns;
use live_support::{
    client_script, have, l7_rows, run_tapflow, stats, stop_capture, wait_capturing, wait_until,
    Killed,
};
use netns::{is_root, SpanLab};

/// The grpcio client in the client namespace: Sync calls for `seconds`, then an unknown method.
fn client(lab: &SpanLab, seconds: &str) -> std::process::Child {
    lab.in_client(&[
        "/usr/bin/python3",
        &client_script("grpc_unary.py"),
        lab.server_ip,
    ])
    .args(["30035", seconds, "0.2"])
    .stdout(Stdio::piped())
    .spawn()
    .expect("grpc client")
}

/// The client's report: Sync calls made and the gRPC codes they got.
fn finish(c: std::process::Child) -> (u64, Vec<i64>) {
    let out = c.wait_with_output().expect("client");
    let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let mut f = line.split(' ');
    assert_eq!(f.next(), Some("OK"), "client: {line}");
    let calls = f.next().and_then(|n| n.parse().ok()).expect("calls");
    let codes = f
        .next()
        .unwrap_or("")
        .split(',')
        .filter_map(|c| c.parse().ok())
        .collect();
    (calls, codes)
}

#[test]
fn grpc_rows_after_joining_a_connection_mid_stream() {
    let grpcio = live_support::python_has("grpc");
    if !is_root() || !have("python3") || !grpcio {
        eprintln!("skipped: needs root and python3-grpcio (scripts/test.sh installs it)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("tapflow-grpc-mid-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let lab = SpanLab::new("gm");
    let _server = Killed(
        lab.in_server(&[env!("CARGO_BIN_EXE_tapflow"), "server", "--plaintext"])
            .args(["--listen", &format!("{}:30035", lab.server_ip)])
            .arg("--data-dir")
            .arg(dir.join("server"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tapflow server"),
    );
    wait_until("tapflow server", 20, || lab.server_port_open(30035));
    let config = dir.join("tapflow.yaml");
    std::fs::write(
        &config,
        "processors:\n  request_log:\n    application_protocol_inference:\n      enabled_protocols: [HTTP2]\n",
    )
    .expect("config");

    // Reference: the capture sees the connection from its first byte.
    let full = dir.join("full");
    let mut run = run_tapflow(&lab.capture, 60, Some(&config), &full);
    wait_capturing(&mut run, &full);
    let (calls, codes) = finish(client(&lab, "1"));
    stop_capture(&mut run);
    let rows = l7_rows(&full);
    let syncs: Vec<_> = rows
        .iter()
        .filter(|r| r["endpoint"] == "/agent.Synchronizer/Sync")
        .collect();
    assert_eq!(syncs.len() as u64, calls, "{rows:?}");
    for r in &syncs {
        assert_eq!(
            (r["l7_protocol"].as_u64(), r["type"].as_u64()),
            (Some(41), Some(2)),
            "{r}"
        );
        assert_eq!(r["request_type"], "POST");
        assert!(
            codes.contains(&r["response_code"].as_i64().expect("code")),
            "{r} {codes:?}"
        );
        assert!(r.get("headers_partial").is_none(), "{r}");
    }
    let unknown = rows
        .iter()
        .find(|r| r["endpoint"] == "/agent.Synchronizer/NoSuchMethod")
        .expect("the unknown method's row");
    assert_eq!(
        (
            unknown["response_code"].as_i64(),
            unknown["response_status"].as_u64()
        ),
        (Some(12), Some(3))
    );

    // Joined mid-connection: the client has called for 2 s before the capture starts.
    let c = client(&lab, "6");
    std::thread::sleep(Duration::from_secs(2));
    let mid = dir.join("mid");
    let mut run = run_tapflow(&lab.capture, 3, Some(&config), &mid);
    assert!(run.wait().expect("wait").success(), "tapflow run failed");
    let (_, codes) = finish(c);
    let rows = l7_rows(&mid);
    // About 3 s of calls every 200 ms (the first second of the run is its start-up).
    assert!(rows.len() >= 5, "{rows:?}");
    let first = rows.iter().filter_map(|r| r["request_id"].as_u64()).min();
    let last = rows.iter().filter_map(|r| r["request_id"].as_u64()).max();
    for r in &rows {
        if r["type"] == 1 && r["request_id"].as_u64() == first {
            // The call in flight when the capture started: its request was not seen.
            continue;
        }
        if r["type"] == 0 && r["request_id"].as_u64() == last && last != first {
            // The call in flight when the capture stopped: its response was not seen (a
            // request row, as DeepFlow writes one that never got its response).
            assert_eq!(r["request_type"], "POST", "{r}");
            continue;
        }
        // One row per call: every response found its request.
        assert_eq!(
            (r["l7_protocol"].as_u64(), r["type"].as_u64()),
            (Some(41), Some(2)),
            "{r}"
        );
        assert_eq!(r["request_type"], "POST", "{r}");
        assert_eq!(r["response_status"], 0, "{r}");
        let code = r["response_code"].as_i64().expect("code");
        assert!(code == 200 || codes.contains(&code), "{r}");
        assert_eq!(r["headers_partial"], true, "{r}");
        assert!(
            r["response_duration"].as_u64().is_some_and(|d| d > 0),
            "{r}"
        );
        // The path was indexed before the capture: only a literal one would be known.
        assert!(
            matches!(
                r["endpoint"].as_str(),
                Some("" | "/agent.Synchronizer/Sync")
            ),
            "{r}"
        );
    }
    let stats = stats(&mid);
    assert!(stats["l7.h2_partial_blocks"]
        .as_u64()
        .is_some_and(|n| n > 0));
    assert_eq!(stats["l7.h2_degraded"], 0);
    let _ = std::fs::remove_dir_all(&dir);
}
