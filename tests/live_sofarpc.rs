//! SOFARPC request logs from a live capture: anthunder (Ant Group's sofa-bolt-python, from PyPI)
//! as both the server (an `AioListener`) and the client (`tests/clients/sofa_peer.py`), the
//! server in one namespace, the client in another, the server's port mirrored to the interface
//! `tapflow run` captures (`netns::SpanLab`). The client makes three `hello` calls, one call to
//! a service the listener does not serve (NO_PROCESSOR) and one without a method name
//! (CLIENT_SEND_ERROR), and prints the trace id of each. The rows must be those five calls,
//! paired, with the client's trace ids, the errors classed as DeepFlow classes them.
//! Needs root and anthunder (scripts/test.sh installs it).

use std::process::Stdio;

mod live_support;
mod netns;
use live_support::Killed;
use live_support::{
    client_script, l7_rows, protocols_config, run_tapflow, stop_capture, wait_capturing, wait_until,
};
use netns::{is_root, SpanLab};

const PY: &str = "/usr/bin/python3";
const PORT: u16 = 12200;

#[test]
fn calls_and_their_errors_are_logged_with_the_clients_trace_ids() {
    if !is_root() || !live_support::python_has("anthunder") {
        eprintln!("skipped: needs root and anthunder (scripts/test.sh installs it)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("tapflow-sofarpc-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let lab = SpanLab::new("sf");
    let script = client_script("sofa_peer.py");
    let port = PORT.to_string();
    let _server = Killed(
        lab.in_server(&[PY, &script, "serve", lab.server_ip, &port])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sofa server"),
    );
    wait_until("sofa server", 10, || lab.server_port_open(PORT));
    let config = protocols_config(&dir, "HTTP, SofaRPC");
    let out = dir.join("live");
    let mut run = run_tapflow(&lab.capture, 60, Some(&config), &out);
    wait_capturing(&mut run, &out);
    let client = lab
        .in_client(&[PY, &script, "client", lab.server_ip, &port])
        .output()
        .expect("sofa client");
    let said = String::from_utf8_lossy(&client.stdout).to_string();
    assert!(
        said.trim_end().ends_with("OK"),
        "client: {said} {}",
        String::from_utf8_lossy(&client.stderr)
    );
    let traces: Vec<&str> = said
        .lines()
        .filter_map(|l| l.strip_prefix("TRACE "))
        .collect();
    assert_eq!(traces.len(), 5, "{said}");
    stop_capture(&mut run);

    let rows = l7_rows(&out);
    assert!(rows.iter().all(|r| r["l7_protocol"] == 43), "{rows:#?}");
    let calls: Vec<_> = rows.iter().filter(|r| r["type"] == 2).collect();
    assert_eq!(calls.len(), 5, "{rows:#?}");
    let got: Vec<(&str, &str, u64, i64)> = calls
        .iter()
        .map(|r| {
            (
                r["request_type"].as_str().unwrap_or(""),
                r["request_resource"].as_str().unwrap_or(""),
                r["response_status"].as_u64().unwrap_or(99),
                r["response_code"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    let greeter = "com.example.Greeter:1.0";
    assert_eq!(
        got,
        [
            ("hello", greeter, 0, 0),
            ("hello", greeter, 0, 0),
            ("hello", greeter, 0, 0),
            ("hello", "com.example.Missing:1.0", 3, 6),
            ("", greeter, 4, 8),
        ],
        "{calls:#?}"
    );
    for (r, trace) in calls.iter().zip(&traces) {
        assert_eq!(r["trace_id"], *trace, "{r}");
        assert_eq!(r["ip_0"], lab.client_ip, "{r}");
        assert!(r["request_id"].as_u64().is_some(), "{r}");
        assert!(r["response_duration"].as_u64() > Some(0), "{r}");
    }
    assert_eq!(calls[0]["endpoint"], "com.example.Greeter:1.0/hello");
    // SOFARPC 5's trace context: span and parent span (DeepFlow's parent_span_id).
    assert_eq!(
        (&calls[2]["span_id"], &calls[2]["parent_span_id"]),
        (&"0.1".into(), &"0".into()),
        "{:#}",
        calls[2]
    );
    assert!(calls[0].get("parent_span_id").is_none(), "{:#}", calls[0]);
    // "hello, world 0": the response class name (46 bytes) and 14 bytes of content.
    assert_eq!(calls[0]["response_length"], 46 + 14);
    assert_eq!(calls[3]["response_exception"], "NO_PROCESSOR");
    assert_eq!(calls[4]["response_exception"], "CLIENT_SEND_ERROR");
    // The listener answers a client's close with CONNECTION_CLOSED, which no request waits for.
    let lone: Vec<_> = rows.iter().filter(|r| r["type"] != 2).collect();
    assert!(
        lone.iter().all(|r| r["type"] == 1
            && r["response_code"] == 16
            && r["response_exception"] == "CONNECTION_CLOSED"),
        "{lone:#?}"
    );
    lab.cleanup();
    let _ = std::fs::remove_dir_all(&dir);
}
