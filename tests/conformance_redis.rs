//! Redis `l7_flow_log` rows of the full analyzer against tshark (`truth/l7_redis.tsv`) and
//! DeepFlow's own results (`l7/redis_df*.deepflow.result`) on the real captures of
//! `../shared/pcaps` (skipped when the folder is absent).
//!
//! tshark: per capture, as many requests as it lists, each paired reply's latency within 1 ms
//! in order, error replies with tshark's text. DeepFlow: every request it logs, in order, with
//! the same command and command line, and error replies with its message.

use std::path::Path;

use tapflow_analyzer::record::l7::TYPE_SESSION;
use tapflow_analyzer::{AnalyzerConfig, L7FlowLog};

mod pcap_truth;
use pcap_truth::{analyze_capture, capture_path, pcaps, text, tsv};

const RRT_TOLERANCE_MS: f64 = 1.0;

fn analyze(path: &Path, cfg: AnalyzerConfig) -> Vec<L7FlowLog> {
    analyze_capture(path, cfg).l7
}

/// DeepFlow's results are debug output; values as written there.
fn no_obfuscation() -> AnalyzerConfig {
    let mut cfg = AnalyzerConfig::default();
    cfg.l7.protocols.redis.obfuscate = false;
    cfg
}

#[test]
fn redis_requests_errors_and_rrt_match_tshark() {
    let Some(dir) = pcaps() else {
        eprintln!("../shared/pcaps absent: skipped");
        return;
    };
    let truth = tsv(&dir.join("truth/l7_redis.tsv"));
    let mut files: Vec<String> = truth.iter().map(|r| r["file_id"].clone()).collect();
    files.dedup();
    assert_eq!(files.len(), 3);
    for file in files {
        let rows: Vec<_> = truth.iter().filter(|r| r["file_id"] == file).collect();
        let path = capture_path(&dir, &file).expect("capture");
        let got = analyze(&path, AnalyzerConfig::default());
        assert!(got.iter().all(|r| r.l7_protocol == 80), "{file}");
        // zeek's pipeline capture: tshark lists the one segment of 4 inline commands once per
        // command; every row is a request.
        assert_eq!(got.len(), rows.len(), "{file}: requests");
        let mut paired = got.iter().filter(|r| r.row_type == TYPE_SESSION);
        for t in &rows {
            let Ok(ms) = t["latency_ms"].parse::<f64>() else {
                // tshark saw no reply: the reply of redis_df's last request (a 490 kB value
                // the capture cuts) is not reassembled by tshark; tapflow pairs it at its head,
                // as DeepFlow does.
                continue;
            };
            let r = paired.next().expect("a paired row for every tshark pair");
            let rrt = r.response_duration as f64 / 1000.0;
            assert!(
                (rrt - ms).abs() <= RRT_TOLERANCE_MS,
                "{file}: {rrt} vs {ms}"
            );
            if t["error"] == "1" {
                assert_eq!(r.response_status, 3, "{file}");
                let msg = t["response"].trim_start_matches("resp.error ");
                assert_eq!(text(&r.response_exception), msg, "{file}");
            } else {
                assert_eq!(r.response_status, 0, "{file}");
            }
        }
    }
}

#[test]
fn redis_agrees_with_deepflow_results() {
    let Some(dir) = pcaps() else {
        eprintln!("../shared/pcaps absent: skipped");
        return;
    };
    for name in ["redis_df", "redis_df_err"] {
        let result =
            std::fs::read_to_string(dir.join(format!("l7/{name}.deepflow.result"))).unwrap();
        let field = |line: &str, key: &str| {
            let at = line.find(&format!("{key}: \"")).unwrap() + key.len() + 3;
            line[at..].split('"').next().unwrap().to_string()
        };
        let requests: Vec<(String, String)> = result
            .lines()
            .filter(|l| l.contains("is_redis: true") && !field(l, "request").is_empty())
            .map(|l| (field(l, "request"), field(l, "request_type")))
            .collect();
        let errors: Vec<String> = result
            .lines()
            .filter(|l| l.contains("is_redis: true") && !field(l, "error").is_empty())
            .map(|l| field(l, "error"))
            .collect();
        let rows = analyze(&dir.join(format!("l7/{name}.pcap")), no_obfuscation());
        let got: Vec<(String, String)> = rows
            .iter()
            .map(|r| (text(&r.request_resource), text(&r.request_type)))
            .collect();
        assert_eq!(got, requests, "{name}");
        let got_errors: Vec<String> = rows
            .iter()
            .filter(|r| r.response_status == 3)
            .map(|r| format!("-{}", text(&r.response_exception)))
            .collect();
        assert_eq!(got_errors, errors, "{name}");
        assert!(rows.iter().all(|r| r.row_type == TYPE_SESSION), "{name}");
    }
}
