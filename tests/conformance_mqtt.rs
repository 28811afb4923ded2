//! MQTT `l7_flow_log` rows of the full analyzer against the shared captures (skipped when
//! `../shared/pcaps` is absent): tshark's truth table for `mqtt_df_roundtrip` (3.1.1) and
//! `mqtt_zeek` (3.1: two connections, broker-to-subscriber publishes): every request tshark
//! pairs, with its packet type, QoS and latency within 1 ms; DeepFlow's result for the client id,
//! topics, protocol level and message sizes.

use tapflow_analyzer::l7::L7Protocol;
use tapflow_analyzer::record::l7::{TYPE_REQUEST, TYPE_SESSION};
use tapflow_analyzer::record::L7FlowLog;
use tapflow_analyzer::AnalyzerConfig;

mod pcap_truth;
use pcap_truth::{analyze_capture, pcaps, text, tsv};

const TYPES: [&str; 15] = [
    "",
    "CONNECT",
    "CONNACK",
    "PUBLISH",
    "PUBACK",
    "PUBREC",
    "PUBREL",
    "PUBCOMP",
    "SUBSCRIBE",
    "SUBACK",
    "UNSUBSCRIBE",
    "UNSUBACK",
    "PINGREQ",
    "PINGRESP",
    "DISCONNECT",
];

fn rows(name: &str) -> Vec<L7FlowLog> {
    let dir = pcaps().expect("pcaps");
    // MQTT is off by default, as in DeepFlow.
    let mut cfg = AnalyzerConfig::default();
    cfg.l7.enabled.insert(L7Protocol::Mqtt);
    analyze_capture(&dir.join(format!("l7/{name}.pcap")), cfg).l7
}

fn after<'a>(s: &'a str, key: &str) -> &'a str {
    s.split(' ').find_map(|f| f.strip_prefix(key)).unwrap_or("")
}

#[test]
fn mqtt_agrees_with_tshark() {
    let Some(dir) = pcaps() else {
        eprintln!("../shared/pcaps absent: skipped");
        return;
    };
    let truth = tsv(&dir.join("truth/l7_mqtt.tsv"));
    for name in ["mqtt_df_roundtrip", "mqtt_zeek"] {
        let rows = rows(name);
        let t0 = rows.iter().map(|r| r.start_time).min().unwrap();
        let mut paired = 0;
        for t in truth.iter().filter(|t| t["file_id"] == name) {
            let ty: usize = after(&t["request"], "msgtype=").parse().unwrap();
            let start_us = (t["req_rel_s"].parse::<f64>().unwrap() * 1e6).round() as u64;
            let r = rows
                .iter()
                .find(|r| r.start_time - t0 == start_us && text(&r.request_type) == TYPES[ty]);
            if ty == 6 {
                // PUBREL is a step of the QoS 2 row (tshark lists it alone).
                assert!(r.is_none());
                continue;
            }
            let r = r.unwrap_or_else(|| panic!("{name}: {t:?}"));
            if !t["latency_ms"].is_empty() {
                let ms: f64 = t["latency_ms"].parse().unwrap();
                assert_eq!(r.row_type, TYPE_SESSION, "{name}: {t:?}");
                assert!(
                    (r.response_duration as f64 / 1000.0 - ms).abs() < 1.0,
                    "{name}: {t:?} {}",
                    r.response_duration
                );
                assert_eq!(r.response_status, 0);
                paired += 1;
            }
        }
        let want = truth
            .iter()
            .filter(|t| t["file_id"] == name && !t["latency_ms"].is_empty())
            .count();
        assert_eq!(paired, want, "{name}");
    }
}

#[test]
fn mqtt_agrees_with_deepflow_results() {
    let Some(dir) = pcaps() else {
        eprintln!("../shared/pcaps absent: skipped");
        return;
    };
    let result = std::fs::read_to_string(dir.join("l7/mqtt_df_roundtrip.deepflow.result")).unwrap();
    let rows = rows("mqtt_df_roundtrip");
    let got: Vec<(String, String, String, i64)> = rows
        .iter()
        .map(|r| {
            (
                text(&r.request_type),
                text(&r.request_resource),
                text(&r.endpoint),
                r.request_length,
            )
        })
        .collect();
    let want: Vec<(String, String, String, i64)> = [
        ("CONNECT", "", "", 26),
        ("SUBSCRIBE", "testtopic", "testtopic", 14),
        ("UNSUBSCRIBE", "testtopic", "testtopic", 13),
        ("PINGREQ", "", "", 0),
        (
            "SUBSCRIBE",
            "yunshan,deepflow-agent,deepflow-server",
            "yunshan",
            47,
        ),
        ("PUBLISH", "deepflow-agent", "deepflow-agent", 33),
        ("PUBLISH", "deepflow-agent", "deepflow-agent", 35),
        ("PUBLISH", "deepflow-agent", "deepflow-agent", 35),
        ("DISCONNECT", "", "", 0),
    ]
    .iter()
    .map(|(a, b, c, d)| (a.to_string(), b.to_string(), c.to_string(), *d))
    .collect();
    assert_eq!(got, want);
    // DeepFlow's sizes for the same packets (req_msg_size is the remaining length).
    for (size, ty) in [
        (26, "Connect"),
        (14, "Subscribe"),
        (13, "Unsubscribe"),
        (47, "Subscribe"),
    ] {
        assert!(result.contains(&format!("pkt_type: {ty}, req_msg_size: Some({size})")));
    }
    for r in &rows {
        assert_eq!(text(&r.request_domain), "mqttx_eaf9a0c9");
        assert_eq!(text(&r.version), "4");
        assert_eq!(r.response_status, 0);
    }
    assert!(result.contains("client_id: Some(\"mqttx_eaf9a0c9\"), version: 4"));
    // QoS 0 publish and DISCONNECT are written as they are (no answer by design).
    assert_eq!(rows[5].row_type, TYPE_REQUEST);
    assert_eq!(rows[8].row_type, TYPE_REQUEST);
    // CONNACK code 0.
    assert_eq!(rows[0].response_code, Some(0));
}
