//! Pulsar with Apache's own client, captured live from a SPAN port (`netns::SpanLab`). Pulsar has
//! no Debian package (its broker needs Java, ZooKeeper and BookKeeper): the server namespace
//! runs a broker-side responder (`tests/clients/pulsar_broker.py`: lookups answered as a Pulsar
//! proxy does, producers, sends stored and pushed back to consumers byte for byte, acks, closes;
//! a forbidden topic refused)
//! that logs every command it received and sent, and the client namespace runs the pulsar-client
//! wheel's C++ client (`tests/clients/pulsar_client.py`: 8 sends with W3C trace properties, a
//! batch of 4, a refused producer, a consumer receiving and acknowledging all 12 messages). The
//! rows must be the commands the responder logged, the message ids the client was given and
//! received, and its trace and span ids. Needs root and the pulsar-client wheel (scripts/test.sh
//! installs it).

use std::collections::BTreeMap;
use std::process::Stdio;

mod live_support;
mod netns;
use live_support::{l7_rows, run_tapflow, stats, stop_capture, wait_capturing, wait_until, Killed};
use netns::{is_root, SpanLab};

const PYTHON: &str = "/usr/bin/python3";
const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

#[test]
fn pulsar_client_is_logged() {
    let have_client = live_support::python_has("pulsar");
    if !is_root() || !have_client {
        eprintln!("skipped: needs root and pulsar-client (scripts/test.sh installs it)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("tapflow-pulsar-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let lab = SpanLab::new("pl");
    let broker = live_support::client_script("pulsar_broker.py");
    let wire_log = dir.join("broker.log");
    let wire_log_s = wire_log.to_string_lossy().to_string();
    let _broker = Killed(
        lab.in_server(&[PYTHON, &broker, lab.server_ip, "6650", &wire_log_s])
            .stdout(Stdio::null())
            .spawn()
            .expect("pulsar responder"),
    );
    wait_until("the pulsar responder", 10, || lab.server_port_open(6650));
    let config = dir.join("tapflow.yaml");
    std::fs::write(
        &config,
        "processors:\n  request_log:\n    application_protocol_inference:\n      enabled_protocols: [Pulsar]\n    tag_extraction:\n      tracing_tag:\n        apm_trace_id: [traceparent]\n        apm_span_id: [traceparent]\n",
    )
    .expect("config");
    let out = dir.join("live");
    let mut run = run_tapflow(&lab.capture, 60, Some(&config), &out);
    wait_capturing(&mut run, &out);
    let client = live_support::client_script("pulsar_client.py");
    let res = lab
        .in_client(&[PYTHON, &client, lab.server_ip, "6650"])
        .output()
        .expect("client");
    assert!(
        res.status.success(),
        "client: {}",
        String::from_utf8_lossy(&res.stderr)
    );
    // The client library's own log lines come first; the JSON is the last line.
    let stdout = String::from_utf8_lossy(&res.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    let done: serde_json::Value = serde_json::from_str(last).expect("client's JSON");
    stop_capture(&mut run);

    let rows = l7_rows(&out);
    let s = |r: &serde_json::Value, k: &str| r[k].as_str().unwrap_or_default().to_string();
    assert!(rows.iter().all(|r| r["l7_protocol"] == 105));
    // Every command the client sent is a row of its type, and every MESSAGE the responder
    // pushed; no response went without its request.
    let wire = std::fs::read_to_string(&wire_log).expect("responder's log");
    let mut sent_by_client: BTreeMap<String, usize> = BTreeMap::new();
    for line in wire.lines() {
        match line.split_once(' ') {
            Some(("recv", kind)) => *sent_by_client.entry(kind.to_string()).or_default() += 1,
            Some(("sent", "MESSAGE")) => *sent_by_client.entry("MESSAGE".into()).or_default() += 1,
            _ => {}
        }
    }
    let mut logged: BTreeMap<String, usize> = BTreeMap::new();
    for r in &rows {
        *logged.entry(s(r, "request_type")).or_default() += 1;
    }
    assert_eq!(
        logged, sent_by_client,
        "rows by type against the responder's log"
    );
    assert_eq!(sent_by_client["SEND"], 9);
    assert_eq!(sent_by_client["MESSAGE"], 9);
    for r in &rows {
        assert_eq!(s(r, "version"), "19", "{r}");
        assert_eq!(r["type"], 2, "{r}");
    }

    // The responder answers lookups as a Pulsar proxy does (connect through the service URL):
    // the client's second connection names the broker in its CONNECT, and its rows carry it.
    let broker = "broker-0.pulsar.internal:6650";
    let connects: Vec<String> = rows
        .iter()
        .filter(|r| s(r, "request_type") == "CONNECT")
        .map(|r| s(r, "request_domain"))
        .collect();
    assert_eq!(connects, ["", broker]);
    for r in &rows {
        let lookup = ["LOOKUP", "PARTITIONED_METADATA"].contains(&s(r, "request_type").as_str());
        if !lookup && s(r, "request_type") != "CONNECT" {
            assert_eq!(s(r, "request_domain"), broker, "{r}");
        }
    }

    // The sends one by one: the message id the client was given, its trace and span.
    let sends: Vec<_> = rows
        .iter()
        .filter(|r| s(r, "request_type") == "SEND")
        .collect();
    let single = done["sent"].as_array().expect("sent");
    for (i, want) in single.iter().enumerate() {
        let r = sends[i];
        assert_eq!(s(r, "request_resource"), "orders");
        assert_eq!(s(r, "endpoint"), "orders");
        assert_eq!(r["response_status"], 0);
        assert_eq!(r["request_id"], i as u64);
        assert_eq!(s(r, "x_request_id_1"), want["id"].as_str().unwrap());
        assert_eq!(s(r, "trace_id"), TRACE);
        assert_eq!(s(r, "span_id"), want["span"].as_str().unwrap());
        assert!(r["response_duration"].as_u64().is_some(), "{r}");
    }
    // The batch of 4: one SEND from the second producer (id 1, sequence 0).
    let batch = sends[8];
    assert_eq!(batch["request_id"], 1 << 16);
    let received: Vec<&str> = done["received"]
        .as_array()
        .expect("received")
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(received.len(), 12);
    // The client sees the batch's messages as ledger:entry:-1:0..3; the frame names the entry.
    let batch_entry = received[8].rsplit_once(':').unwrap().0;
    assert_eq!(s(batch, "x_request_id_1"), format!("{batch_entry}:-1"));

    // The consumer's messages carry the ids the producer's receipts gave, and the trace.
    let messages: Vec<_> = rows
        .iter()
        .filter(|r| s(r, "request_type") == "MESSAGE")
        .collect();
    for (i, m) in messages.iter().enumerate() {
        assert_eq!(s(m, "x_request_id_0"), s(sends[i], "x_request_id_1"), "{m}");
        assert_eq!(s(m, "request_resource"), "orders");
        assert!(m["response_length"].as_i64().unwrap_or(0) > 0);
    }
    assert_eq!(s(messages[0], "trace_id"), TRACE);
    assert_eq!(
        s(messages[0], "span_id"),
        single[0]["span"].as_str().unwrap()
    );

    // The refused producer: the broker's AuthorizationError.
    let refused: Vec<_> = rows
        .iter()
        .filter(|r| s(r, "request_type") == "PRODUCER" && r["response_status"] != 0)
        .collect();
    assert_eq!(done["refused"], "AuthorizationError");
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0]["response_status"], 3);
    assert_eq!(refused[0]["response_code"], 4);
    assert_eq!(s(refused[0], "request_resource"), "forbidden");
    assert_eq!(
        s(refused[0], "response_exception"),
        "not authorized on persistent://public/default/forbidden"
    );
    // Everything else the client asked was answered.
    let answered = rows
        .iter()
        .filter(|r| !["FLOW", "MESSAGE", "ACK"].contains(&s(r, "request_type").as_str()))
        .filter(|r| r["response_status"] == 0 && r["response_length"].as_i64().unwrap_or(0) > 0)
        .count();
    let lone = ["FLOW", "MESSAGE", "ACK"]
        .iter()
        .map(|k| logged.get(*k).copied().unwrap_or(0))
        .sum::<usize>();
    assert_eq!(answered + lone + 1, rows.len());

    let stats = stats(&out);
    assert_eq!(stats["kernel_drops"], 0);
    assert_eq!(stats["l7.parse_errors"], 0);
    assert_eq!(stats["l7.pulsar.unknown_ids"], 0);
    let _ = std::fs::remove_dir_all(&dir);
}
