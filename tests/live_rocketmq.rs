//! RocketMQ with Alibaba's client, captured live from a SPAN port (`netns::SpanLab`). RocketMQ
//! has no Debian package (its name server and broker need Java): the server namespace runs a
//! name server and broker responder (`tests/clients/rocketmq_broker.py`: routes, sends stored
//! and pulled back in the store format, a refused send, an unknown topic, consumer offsets) that
//! logs every request it received and every response it sent, and the client namespace runs
//! ali-ons (npm `rocketmq`, `tests/clients/rocketmq_peer.js`: a producer sending 6 messages with
//! W3C trace properties, one refused, a lookup of a missing topic, then a push consumer receiving
//! the 6). The rows must be the requests and responses the responder logged, and the client's
//! message ids, trace and span ids. Needs root and Node.js with the npm package (scripts/test.sh
//! installs them).

use std::collections::BTreeMap;
use std::process::Stdio;

mod live_support;
mod netns;
use live_support::{
    client_script, l7_rows, npm_modules, run_tapflow, stats, stop_capture, wait_capturing,
    wait_until, Killed,
};
use netns::{is_root, SpanLab};

const PYTHON: &str = "/usr/bin/python3";
const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

/// The request codes the client sends, by name.
fn code_name(code: i64) -> &'static str {
    match code {
        11 => "PULL_MESSAGE",
        14 => "QUERY_CONSUMER_OFFSET",
        15 => "UPDATE_CONSUMER_OFFSET",
        34 => "HEART_BEAT",
        35 => "UNREGISTER_CLIENT",
        38 => "GET_CONSUMER_LIST_BY_GROUP",
        105 => "GET_ROUTEINFO_BY_TOPIC",
        310 => "SEND_MESSAGE_V2",
        _ => "?",
    }
}

#[test]
fn rocketmq_client_is_logged() {
    let Some(modules) = npm_modules("rocketmq").filter(|_| is_root()) else {
        eprintln!(
            "skipped: needs root, Node.js and npm's rocketmq (scripts/test.sh installs them)"
        );
        return;
    };
    let dir = std::env::temp_dir().join(format!("tapflow-rocketmq-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let lab = SpanLab::new("rq");
    let broker = client_script("rocketmq_broker.py");
    let wire_log = dir.join("broker.log");
    let wire_log_s = wire_log.to_string_lossy().to_string();
    let _broker = Killed(
        lab.in_server(&[PYTHON, &broker, lab.server_ip, "9876", "10911", &wire_log_s])
            .stdout(Stdio::null())
            .spawn()
            .expect("rocketmq responder"),
    );
    wait_until("the rocketmq responder", 10, || {
        lab.server_port_open(9876) && lab.server_port_open(10911)
    });
    let config = dir.join("tapflow.yaml");
    std::fs::write(
        &config,
        "processors:\n  request_log:\n    application_protocol_inference:\n      enabled_protocols: [RocketMQ]\n    tag_extraction:\n      tracing_tag:\n        apm_trace_id: [traceparent]\n        apm_span_id: [traceparent]\n",
    )
    .expect("config");
    let out = dir.join("live");
    let mut run = run_tapflow(&lab.capture, 60, Some(&config), &out);
    wait_capturing(&mut run, &out);
    let peer = client_script("rocketmq_peer.js");
    let res = lab
        .in_client(&["env", &format!("NODE_PATH={modules}"), "node", &peer])
        .args([lab.server_ip, "9876"])
        .output()
        .expect("client");
    assert!(
        res.status.success(),
        "client: {}",
        String::from_utf8_lossy(&res.stderr)
    );
    let stdout = String::from_utf8_lossy(&res.stdout);
    let done: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("client's JSON");
    stop_capture(&mut run);

    let rows = l7_rows(&out);
    let s = |r: &serde_json::Value, k: &str| r[k].as_str().unwrap_or_default().to_string();
    assert!(rows.iter().all(|r| r["l7_protocol"] == 107));
    // Every request the responder received is a row with its code's name and opaque, paired
    // with the response code the responder sent.
    let wire = std::fs::read_to_string(&wire_log).expect("responder's log");
    let mut received: BTreeMap<i64, &str> = BTreeMap::new();
    let mut answered: BTreeMap<i64, i64> = BTreeMap::new();
    for line in wire.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let (code, opaque): (i64, i64) = (f[1].parse().unwrap(), f[2].parse().unwrap());
        match f[0] {
            "recv" => received.insert(opaque, code_name(code)),
            _ => answered.insert(opaque, code).map(|_| ""),
        };
    }
    let logged: BTreeMap<i64, String> = rows
        .iter()
        .map(|r| (r["request_id"].as_i64().unwrap(), s(r, "request_type")))
        .collect();
    let want: BTreeMap<i64, String> = received.iter().map(|(o, n)| (*o, n.to_string())).collect();
    assert_eq!(logged, want, "rows by opaque against the responder's log");
    assert_eq!(logged.len(), rows.len());
    for r in &rows {
        let opaque = r["request_id"].as_i64().unwrap();
        assert_eq!(
            r["response_code"].as_i64(),
            answered.get(&opaque).copied(),
            "{r}"
        );
        assert_eq!(r["type"], 2, "{r}");
        assert_eq!(s(r, "version"), "V3_2_6_SNAPSHOT", "{r}");
    }

    // The sends: the client's message ids, trace and span, queues.
    let sends: Vec<_> = rows
        .iter()
        .filter(|r| s(r, "request_type") == "SEND_MESSAGE_V2")
        .collect();
    let sent = done["sent"].as_array().expect("sent");
    assert_eq!(sends.len(), sent.len() + 1);
    for (r, want) in sends.iter().zip(sent) {
        assert_eq!(r["response_status"], 0);
        assert_eq!(s(r, "request_domain"), "tapflow-producers");
        assert_eq!(s(r, "request_resource"), "TopicTest");
        assert_eq!(
            s(r, "endpoint"),
            format!("TopicTest-{}", want["queue"].as_str().unwrap())
        );
        assert_eq!(s(r, "x_request_id_0"), want["id"].as_str().unwrap());
        assert_eq!(s(r, "trace_id"), TRACE);
        assert_eq!(s(r, "span_id"), want["span"].as_str().unwrap());
    }
    // The refused send: SYSTEM_BUSY, a server error with the broker's remark.
    let refused = sends[sent.len()];
    assert_eq!(done["refused"], "MQClientException");
    assert_eq!(
        (
            refused["response_status"].as_u64(),
            refused["response_code"].as_i64()
        ),
        (Some(3), Some(2))
    );
    assert!(s(refused, "response_exception").starts_with("[REJECTREQUEST]system busy"));
    // The missing topic: TOPIC_NOT_EXIST, a client error, on the name server's connection.
    let missing: Vec<_> = rows
        .iter()
        .filter(|r| s(r, "request_resource") == "missing-topic")
        .collect();
    assert!(!missing.is_empty());
    for r in missing {
        assert_eq!(s(r, "request_type"), "GET_ROUTEINFO_BY_TOPIC");
        assert_eq!(
            (r["response_status"].as_u64(), r["response_code"].as_i64()),
            (Some(4), Some(17))
        );
        assert_eq!(r["server_port"], 9876);
    }
    // The pulls that found messages carry the first one's id and trace.
    let got = done["received"].as_array().expect("received");
    assert_eq!(got.len(), 6);
    let found: Vec<_> = rows
        .iter()
        .filter(|r| s(r, "request_type") == "PULL_MESSAGE" && r["response_code"] == 0)
        .collect();
    assert!(!found.is_empty());
    for r in found {
        assert_eq!(s(r, "request_domain"), "tapflow-consumers");
        assert!(
            got.iter()
                .any(|id| id.as_str() == Some(&s(r, "x_request_id_1"))),
            "{r}"
        );
        assert_eq!(s(r, "trace_id"), TRACE);
        assert!(r["response_length"].as_i64().unwrap_or(0) > 200);
    }

    let stats = stats(&out);
    assert_eq!(stats["kernel_drops"], 0);
    assert_eq!(stats["l7.parse_errors"], 0);
    let _ = std::fs::remove_dir_all(&dir);
}
