//! Kafka with librdkafka on both sides, captured live: the confluent-kafka wheel's client, and
//! the mock cluster librdkafka carries for its own tests (a broker implementing Kafka's protocol:
//! metadata, produce, fetch, consumer groups, offsets; Kafka itself needs a JVM and has no Debian
//! package). `tests/clients/kafka_mock.py` starts the broker through librdkafka's C API, produces
//! uncompressed and in every codec (gzip, snappy, lz4, zstd) with W3C trace headers, once with
//! acks=0, once refused (the broker is told to answer TOPIC_AUTHORIZATION_FAILED), and reads
//! everything back in a consumer group. The broker listens on its namespace's loopback, so
//! tapflow captures that loopback. The rows must be the requests the broker logged (request
//! tracking, by API key), the offsets the producers were given, and the trace ids of each
//! batch's first record, compressed batches included. The loopback has a NIC's MTU (1,500;
//! 576 for the cluster) and no segmentation offload, so messages arrive in segments, not in one
//! of 64 KiB. Needs root and the confluent-kafka wheel (scripts/test.sh installs it).

use std::collections::{BTreeMap, BTreeSet};

mod live_support;
mod netns;
use live_support::{l7_rows, run_tapflow_in, stats, stop_capture, wait_capturing};
use netns::{is_root, SpanLab};

const PYTHON: &str = "/usr/bin/python3";
const SPAN: &str = "00f067aa0ba902b7";

/// What one run of `kafka_mock.py` left: the rows, stats.json and the script's truth.
struct Run {
    rows: Vec<serde_json::Value>,
    stats: serde_json::Value,
    truth: serde_json::Value,
}

/// Runs `kafka_mock.py ARGS` in a lab's server namespace while tapflow captures its loopback;
/// None (skipped) without root or the confluent-kafka wheel.
fn captured(tag: &str, args: &[&str], mtu: &str) -> Option<Run> {
    let have_client = live_support::python_has("confluent_kafka");
    if !is_root() || !have_client {
        eprintln!("skipped: needs root and confluent-kafka (scripts/test.sh installs it)");
        return None;
    }
    let dir = std::env::temp_dir().join(format!("tapflow-kafka-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    // Only the lab's server namespace is used: broker and clients share its loopback.
    let lab = SpanLab::new(tag);
    // A NIC's MTU on the namespace's loopback, and no segmentation offload: messages are
    // captured in segments of the MSS, not in one of up to 64 KiB.
    for cmd in [
        &["ip", "link", "set", "lo", "mtu", mtu][..],
        &["ethtool", "-K", "lo", "tso", "off", "gso", "off"],
    ] {
        let set = lab.in_server(cmd).status().expect("ip link / ethtool");
        assert!(set.success(), "{cmd:?}");
    }
    let out = dir.join("live");
    // Stopped when the script is done (the cluster's consumer takes 5-20 s on 2 busy cores).
    let mut run = run_tapflow_in(&lab.server_ns, "lo", 120, None, &out);
    wait_capturing(&mut run, &out);
    let script = live_support::client_script("kafka_mock.py");
    let mut argv = vec![PYTHON, script.as_str()];
    argv.extend_from_slice(args);
    let res = lab.in_server(&argv).output().expect("kafka");
    assert!(
        res.status.success(),
        "kafka_mock.py: {}",
        String::from_utf8_lossy(&res.stderr)
    );
    let stdout = String::from_utf8_lossy(&res.stdout);
    let truth: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("script's JSON");
    stop_capture(&mut run);
    let found = Run {
        rows: l7_rows(&out),
        stats: stats(&out),
        truth,
    };
    drop(lab);
    let _ = std::fs::remove_dir_all(&dir);
    Some(found)
}

fn text(r: &serde_json::Value, k: &str) -> String {
    r[k].as_str().unwrap_or_default().to_string()
}

/// Rows per API, requests and one-way messages (no lone responses), against the broker's own
/// log of the requests it handled. A request a client sent as it closed its connection (a
/// producer's metadata refresh as it is destroyed) is on the wire, and logged as a request
/// without a response, but the broker closed the connection without handling it: such rows
/// may exceed the broker's count, one for one, and only for APIs the broker answers.
fn assert_every_request_logged(run: &Run) {
    let mut want: BTreeMap<String, u64> = BTreeMap::new();
    for (key, n) in run.truth["requests"].as_object().expect("requests") {
        *want
            .entry(live_support::kafka_api_name(key).to_string())
            .or_default() += n.as_u64().expect("a count");
    }
    let mut got: BTreeMap<String, u64> = BTreeMap::new();
    let mut unanswered: BTreeMap<String, u64> = BTreeMap::new();
    for r in run.rows.iter().filter(|r| r["type"] != 1) {
        *got.entry(text(r, "request_type")).or_default() += 1;
        if r["type"] == 0 && text(r, "request_type") != "Produce" {
            *unanswered.entry(text(r, "request_type")).or_default() += 1;
        }
    }
    let mut extra = 0;
    for (api, n) in &mut got {
        let handled = want.get(api).copied().unwrap_or(0);
        let late = unanswered.get(api).copied().unwrap_or(0);
        if *n > handled && *n - handled <= late {
            extra += *n - handled;
            *n = handled;
        }
    }
    got.retain(|_, n| *n > 0);
    assert_eq!(got, want, "unanswered requests: {unanswered:?}");
    assert!(extra <= 2, "{extra} requests the broker did not handle");
}

#[test]
fn librdkafka_client_and_broker_are_logged() {
    let Some(run) = captured("kf", &[], "1500") else {
        return;
    };
    let truth = &run.truth;
    assert_eq!(truth["consumed"], 17, "{truth}");
    let rows = &run.rows;
    let s = text;
    assert!(rows.iter().all(|r| r["l7_protocol"] == 100));
    assert_every_request_logged(&run);

    // acks=0 produces are rows of their own. librdkafka's mock broker answers them anyway
    // (Kafka's brokers do not): that answer is a row of its own, with the request's id.
    let fire: Vec<_> = rows
        .iter()
        .filter(|r| s(r, "request_type") == "Produce" && r["type"] == 0)
        .collect();
    assert!(!fire.is_empty());
    for r in &fire {
        assert_eq!(s(r, "endpoint"), "orders-1");
        assert_eq!(r["response_status"], 0);
    }
    for lone in rows.iter().filter(|r| r["type"] == 1) {
        assert!(
            fire.iter().any(|f| f["request_id"] == lone["request_id"]
                && f["client_port"] == lone["client_port"]),
            "a response without its request: {lone}"
        );
    }

    // Each codec's batch: the offset its first message was given, and that message's trace id.
    let delivered = truth["delivered"].as_array().expect("delivered");
    for (ci, codec) in ["none", "gzip", "snappy", "lz4", "zstd"].iter().enumerate() {
        let first = delivered
            .iter()
            .filter(|d| d[0] == *codec)
            .min_by_key(|d| d[3].as_i64())
            .unwrap_or_else(|| panic!("{codec}: nothing delivered"));
        let offset = first[3].as_i64().unwrap();
        let row = rows
            .iter()
            .find(|r| {
                s(r, "request_type") == "Produce"
                    && s(r, "request_resource") == format!("orders-0:{offset}")
            })
            .unwrap_or_else(|| panic!("{codec}: no Produce row at offset {offset}"));
        assert_eq!(s(row, "request_domain"), "orders");
        assert_eq!(s(row, "endpoint"), "orders-0");
        assert_eq!(
            (
                row["response_code"].as_i64(),
                row["response_status"].as_i64()
            ),
            (Some(0), Some(0))
        );
        assert_eq!(s(row, "trace_id"), first[1].as_str().unwrap(), "{codec}");
        assert_eq!(
            s(row, "trace_id"),
            format!("{:08x}{:024x}", 0xC0DE_C000u32 + ci as u32, 0)
        );
        assert_eq!(s(row, "span_id"), SPAN, "{codec}");
    }

    // The refused produce.
    assert_eq!(truth["failures"][0][1], 29, "{truth}");
    let denied = rows
        .iter()
        .find(|r| s(r, "request_domain") == "ledger" && s(r, "request_type") == "Produce")
        .expect("the refused produce");
    assert_eq!(denied["response_code"], 29);
    assert_eq!(denied["response_status"], 3);
    assert_eq!(
        s(denied, "response_exception"),
        "TOPIC_AUTHORIZATION_FAILED"
    );

    // The consumer group's calls succeeded, and name the group (as DeepFlow's `group_id`).
    for call in [
        "FindCoordinator",
        "JoinGroup",
        "SyncGroup",
        "OffsetCommit",
        "OffsetFetch",
        "LeaveGroup",
    ] {
        let r = rows
            .iter()
            .find(|r| s(r, "request_type") == call && r["type"] == 2)
            .unwrap_or_else(|| panic!("no answered {call}"));
        if call != "FindCoordinator" {
            assert_eq!(r["attributes"]["group_id"], "billing", "{r}");
        }
        assert_eq!(
            (r["response_code"].as_i64(), r["response_status"].as_i64()),
            (Some(0), Some(0)),
            "{call}"
        );
    }
    // librdkafka fetches at v13+, where topics travel as ids only: a row names the topic by the
    // name a Metadata response gave its id (the consumer asks for metadata before it fetches).
    let fetches: Vec<_> = rows
        .iter()
        .filter(|r| s(r, "request_type") == "Fetch")
        .collect();
    assert!(fetches.iter().any(|r| r["response_status"] == 0));
    for r in &fetches {
        assert_eq!(s(r, "request_domain"), "orders", "{r}");
        let endpoint = s(r, "endpoint");
        assert!(endpoint == "orders-0" || endpoint == "orders-1", "{r}");
        assert!(
            s(r, "request_resource").starts_with(&format!("{endpoint}:")),
            "{r}"
        );
    }
    // A Metadata answer lists brokers, topics or both: none is left without a status.
    for r in rows
        .iter()
        .filter(|r| s(r, "request_type") == "Metadata" && r["type"] == 2)
    {
        assert_eq!(r["response_status"], 0, "{r}");
    }

    let st = &run.stats;
    let counter = |k: &str| st[format!("l7.kafka.{k}")].as_u64().unwrap_or(0);
    assert!(counter("compressed") >= 4, "{st}");
    assert_eq!(counter("compressed_unread"), 0, "{st}");
    assert_eq!(counter("acks0"), fire.len() as u64);
}

/// Three brokers, each leading one topic of 24 partitions: the consumer asks one broker for
/// metadata and fetches from every leader, by topic id (Fetch v13+). Every Fetch row names its
/// topic, those on connections that carried no Metadata response included: the worker learned
/// the names from whichever connection did. The loopback's MTU is 576: a Metadata response
/// (about 1 KB a topic) arrives in segments of 536 bytes, and the stream holds its first 1,072
/// for the parser; the topics after those are learned as the rest streams by.
#[test]
fn fetches_from_every_broker_of_a_cluster_name_their_topics() {
    let Some(run) = captured("kc", &["cluster"], "576") else {
        return;
    };
    let truth = &run.truth;
    assert_eq!(truth["consumed"], 9, "{truth}");
    assert_every_request_logged(&run);
    let topics: Vec<String> = truth["topics"]
        .as_array()
        .expect("topics")
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect();
    let conn = |r: &serde_json::Value| (r["client_port"].as_u64(), r["server_port"].as_u64());
    let with_metadata: BTreeSet<_> = run
        .rows
        .iter()
        .filter(|r| text(r, "request_type") == "Metadata" && r["type"] == 2)
        .map(conn)
        .collect();
    // Metadata answers longer than the 1,024 bytes a stream holds: the topics after those bytes
    // are learned as the rest streams by.
    assert!(
        run.rows
            .iter()
            .any(|r| text(r, "request_type") == "Metadata"
                && r["response_length"].as_i64() > Some(2048)),
        "no Metadata response beyond 2 KiB"
    );
    let fetches: Vec<_> = run
        .rows
        .iter()
        .filter(|r| text(r, "request_type") == "Fetch")
        .collect();
    // Each broker's Fetch rows name the one topic it leads.
    let mut led: BTreeMap<Option<u64>, BTreeSet<String>> = BTreeMap::new();
    for r in &fetches {
        let topic = text(r, "request_domain");
        assert!(topics.contains(&topic), "a Fetch row names {topic:?}: {r}");
        assert!(text(r, "endpoint").starts_with(&format!("{topic}-")), "{r}");
        led.entry(r["server_port"].as_u64())
            .or_default()
            .insert(topic);
    }
    assert_eq!(led.len(), 3, "fetched from every broker: {led:?}");
    assert!(led.values().all(|t| t.len() == 1), "{led:?}");
    let named: BTreeSet<_> = led.values().flatten().collect();
    assert_eq!(named.len(), topics.len(), "every topic fetched: {led:?}");
    assert!(
        fetches.iter().any(|r| !with_metadata.contains(&conn(r))),
        "some fetch connection carried no Metadata of its own"
    );
    // The partitions' Produce rows name their topics and leaders' partitions.
    for t in &topics {
        let parts: BTreeSet<_> = run
            .rows
            .iter()
            .filter(|r| text(r, "request_type") == "Produce" && text(r, "request_domain") == *t)
            .map(|r| text(r, "endpoint"))
            .collect();
        assert_eq!(parts.len(), 3, "{t}: {parts:?}");
    }
}
