//! Kafka `l7_flow_log` rows of the full analyzer against the shared captures (skipped when
//! `../shared/pcaps` is absent): DeepFlow's own results for `kafka_df_produce2` (v2),
//! `kafka_df_produce9` (v9, flexible) and `kafka_df_fetch12` (v12, flexible; tshark decodes
//! neither of the last two) field by field, and tshark's truth table (correlation ids, API key,
//! error code, latency within 1 ms).

use tapflow_analyzer::record::l7::TYPE_SESSION;
use tapflow_analyzer::AnalyzerConfig;

mod pcap_truth;
use pcap_truth::{analyze_capture, pcaps, text, tsv};

/// The value of `key` in one of DeepFlow's `KafkaInfo { .. }` debug lines.
fn field<'a>(line: &'a str, key: &str) -> &'a str {
    let at = line.find(&format!(" {key}: ")).expect(key) + key.len() + 3;
    let rest = &line[at..];
    let end = rest.find(", ").unwrap_or(rest.len());
    rest[..end].trim()
}

/// `Some("x")` / `Some(3)` / `"x"` -> x; `None` -> "".
fn inner(v: &str) -> &str {
    let v = v
        .strip_prefix("Some(")
        .map_or(v, |v| v.trim_end_matches(')'));
    if v == "None" {
        return "";
    }
    v.trim_matches('"')
}

#[test]
fn kafka_agrees_with_deepflow_results() {
    let Some(dir) = pcaps() else {
        eprintln!("../shared/pcaps absent: skipped");
        return;
    };
    for name in ["kafka_df_produce2", "kafka_df_produce9", "kafka_df_fetch12"] {
        let result =
            std::fs::read_to_string(dir.join(format!("l7/{name}.deepflow.result"))).unwrap();
        let lines: Vec<&str> = result
            .lines()
            .filter(|l| l.starts_with("KafkaInfo"))
            .collect();
        let req = lines
            .iter()
            .find(|l| l.contains("msg_type: Request"))
            .unwrap();
        let resp = lines
            .iter()
            .find(|l| l.contains("msg_type: Response"))
            .unwrap();
        // Kafka is in DeepFlow's default protocol list: no config needed.
        let rows = analyze_capture(
            &dir.join(format!("l7/{name}.pcap")),
            AnalyzerConfig::default(),
        )
        .l7;
        assert_eq!(rows.len(), 1, "{name}");
        let r = &rows[0];
        assert_eq!((r.row_type, r.l7_protocol), (TYPE_SESSION, 100), "{name}");
        assert_eq!(
            text(&r.request_type),
            inner(field(req, "command")),
            "{name}"
        );
        assert_eq!(
            r.request_id.unwrap().to_string(),
            inner(field(req, "correlation_id"))
        );
        assert_eq!(text(&r.version), field(req, "api_version"), "{name}");
        assert_eq!(
            text(&r.request_domain),
            inner(field(req, "topic_name")),
            "{name}"
        );
        assert_eq!(text(&r.endpoint), inner(field(req, "endpoint")), "{name}");
        // The session's resource: the request's (Fetch offset) or else the response's (Produce
        // base offset).
        let resource = match inner(field(req, "resource")) {
            "" => inner(field(resp, "resource")),
            v => v,
        };
        assert_eq!(text(&r.request_resource), resource, "{name}");
        assert_eq!(
            r.request_length.to_string(),
            inner(field(req, "req_msg_size"))
        );
        assert_eq!(
            r.response_length.to_string(),
            inner(field(resp, "resp_msg_size"))
        );
        assert_eq!(
            r.captured_request_byte.to_string(),
            field(req, "captured_request_byte"),
            "{name}"
        );
        assert_eq!(
            r.captured_response_byte.to_string(),
            field(resp, "captured_response_byte"),
            "{name}"
        );
        assert_eq!(
            r.response_code.unwrap().to_string(),
            inner(field(resp, "status_code"))
        );
        assert_eq!(r.response_status, 0, "{name}: status Ok");
        assert_eq!(
            r.response_duration.to_string(),
            field(resp, "rrt"),
            "{name}: rrt µs"
        );
    }
}

#[test]
fn kafka_agrees_with_tshark() {
    let Some(dir) = pcaps() else {
        eprintln!("../shared/pcaps absent: skipped");
        return;
    };
    let truth = tsv(&dir.join("truth/l7_kafka.tsv"));
    let mut checked = 0;
    for name in ["kafka_df_produce2", "kafka_df_produce9", "kafka_df_fetch12"] {
        let rows = analyze_capture(
            &dir.join(format!("l7/{name}.pcap")),
            AnalyzerConfig::default(),
        )
        .l7;
        for t in truth.iter().filter(|t| t["file_id"] == name) {
            // tshark: "api_key=0 corr=47 err=" (api_key empty on a response it decoded alone).
            let corr: u32 = t["request"]
                .split(' ')
                .find_map(|f| f.strip_prefix("corr="))
                .unwrap()
                .parse()
                .unwrap();
            let r = rows
                .iter()
                .find(|r| r.request_id == Some(corr))
                .expect("corr");
            if let Some(k) = t["request"]
                .split(' ')
                .find_map(|f| f.strip_prefix("api_key="))
            {
                if !k.is_empty() {
                    let name = ["Produce", "Fetch"][k.parse::<usize>().unwrap()];
                    assert_eq!(text(&r.request_type), name);
                }
            }
            if !t["latency_ms"].is_empty() {
                let ms: f64 = t["latency_ms"].parse().unwrap();
                assert!((r.response_duration as f64 / 1000.0 - ms).abs() < 1.0);
                let err = t["response"]
                    .split(' ')
                    .find_map(|f| f.strip_prefix("err="));
                assert_eq!(r.response_code.map(|c| c.to_string()).as_deref(), err);
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 5);
}
