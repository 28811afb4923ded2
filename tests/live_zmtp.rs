//! ZMTP request logs from a live capture: pyzmq peers over Debian's libzmq
//! (`tests/clients/zmq_peer.py`), the server in one namespace, the client in another, the
//! server's port mirrored to the interface `tapflow run` captures (`netns::SpanLab`). The client
//! makes three REQ/REP round trips, subscribes to "weather" on a PUB socket and takes two
//! messages, then logs in with PLAIN and a wrong password, which the server's ZAP handler
//! refuses. The rows must be that workload: the greetings and READY commands of each
//! connection, the round trips paired, the subscription named, the refusal a server error.
//! Needs root and python3-zmq (scripts/test.sh installs it).

use std::process::Stdio;

mod live_support;
mod netns;
use live_support::Killed;
use live_support::{
    client_ok, client_script, l7_rows, protocols_config, run_tapflow, stop_capture, wait_capturing,
    wait_until,
};
use netns::{is_root, SpanLab};

const PY: &str = "/usr/bin/python3";

#[test]
fn req_rep_pub_sub_and_a_refused_login_are_logged() {
    if !is_root() || !live_support::python_has("zmq") {
        eprintln!("skipped: needs root and python3-zmq (scripts/test.sh installs it)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("tapflow-zmtp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let lab = SpanLab::new("zm");
    let script = client_script("zmq_peer.py");
    let _server = Killed(
        lab.in_server(&[PY, &script, "serve", lab.server_ip])
            .stdout(Stdio::null())
            .spawn()
            .expect("zmq server"),
    );
    wait_until("zmq server", 10, || lab.server_port_open(5557));
    let config = protocols_config(&dir, "HTTP, ZMTP");
    let out = dir.join("live");
    let mut run = run_tapflow(&lab.capture, 60, Some(&config), &out);
    wait_capturing(&mut run, &out);
    client_ok(lab.in_client(&[PY, &script, "client", lab.server_ip]));
    stop_capture(&mut run);

    let rows = l7_rows(&out);
    assert!(rows.iter().all(|r| r["l7_protocol"] == 106), "{rows:#?}");
    let on = |port: u64| -> Vec<&serde_json::Value> {
        rows.iter().filter(|r| r["server_port"] == port).collect()
    };
    let kind = |r: &serde_json::Value| r["request_type"].as_str().unwrap_or("").to_string();

    // REQ/REP: two greetings (ZMTP 3.1), two READY, three round trips paired.
    let rep = on(5555);
    let messages: Vec<_> = rep.iter().filter(|r| kind(r) == "Message").collect();
    assert_eq!(messages.len(), 3, "{rep:#?}");
    for m in &messages {
        assert_eq!(m["type"], 2, "{m}");
        assert_eq!(m["response_status"], 0, "{m}");
        assert_eq!(m["request_length"], 6, "'ping N': {m}");
        assert_eq!(m["response_length"], 6, "'pong N': {m}");
        assert!(m["response_duration"].as_u64() > Some(0), "{m}");
        assert_eq!(
            m["ip_0"], lab.client_ip,
            "the connecting side is the client: {m}"
        );
    }
    let greetings: Vec<_> = rep.iter().filter(|r| kind(r) == "Greeting").collect();
    assert_eq!(greetings.len(), 2, "{rep:#?}");
    assert!(
        greetings.iter().all(|g| g["version"] == "3.1"),
        "{greetings:#?}"
    );
    assert_eq!(rep.iter().filter(|r| kind(r) == "Command").count(), 2);

    // PUB/SUB: the subscription names its topic; published messages are rows of their own.
    let sub = on(5556);
    let subscribe: Vec<_> = sub
        .iter()
        .filter(|r| kind(r) == "Command" && r["request_resource"] == "weather")
        .collect();
    assert_eq!(subscribe.len(), 1, "{sub:#?}");
    assert_eq!(subscribe[0]["request_domain"], "weather");
    let published: Vec<_> = sub.iter().filter(|r| kind(r) == "Message").collect();
    assert!(published.len() >= 2, "{sub:#?}");
    assert!(
        published
            .iter()
            .all(|m| m["request_length"] == -1 && m["response_length"].as_i64() >= Some(15)),
        "only 'weather sunny N' reaches a subscriber: {published:#?}"
    );

    // PLAIN with a wrong password: the server's ERROR is a server error with its reason.
    let guarded = on(5557);
    let errors: Vec<_> = guarded
        .iter()
        .filter(|r| r["response_status"] == 3)
        .collect();
    assert!(!errors.is_empty(), "{guarded:#?}");
    assert!(
        errors
            .iter()
            .all(|e| kind(e) == "Command" && e["response_exception"] == "400"),
        "{errors:#?}"
    );

    // The application metrics count each message by its sender, as the flows' L7 stats do
    // (DeepFlow's): a client's greeting is a request, a server's a response.
    let jsonl = |file: &str| -> Vec<serde_json::Value> {
        std::fs::read_to_string(out.join(file))
            .unwrap_or_else(|e| panic!("{file}: {e}"))
            .lines()
            .map(|l| serde_json::from_str(l).expect("json"))
            .filter(|d: &serde_json::Value| d["l7_protocol"] == 106)
            .collect()
    };
    let sum = |v: &[serde_json::Value], k: &str| -> u64 {
        v.iter().map(|d| d[k].as_u64().unwrap_or(0)).sum()
    };
    let (docs, flows) = (
        jsonl("flow_metrics.application.1m.jsonl"),
        jsonl("l4_flow_log.jsonl"),
    );
    assert_eq!(
        (sum(&docs, "request"), sum(&docs, "response")),
        (sum(&flows, "l7_request"), sum(&flows, "l7_response")),
        "{docs:#?}"
    );
    assert!(sum(&docs, "request") >= 5 + 3 + 2, "{docs:#?}");
    lab.cleanup();
    let _ = std::fs::remove_dir_all(&dir);
}
