//! PostgreSQL `l7_flow_log` rows of the full analyzer against tshark (`truth/l7_pgsql.tsv`) and
//! DeepFlow's own result (`l7/pgsql_df_all.deepflow.result`) on the shared captures (skipped when
//! `../shared/pcaps` is absent).
//!
//! tshark: one row per request cycle (a simple Query, or Parse/Bind/.../Sync), in order, with its
//! SQL, and RRT within 1 ms of tshark's latency, or shorter where the reply spans several
//! segments: tshark times the frame that completes its reassembled messages, tapflow (DeepFlow's
//! definition) the reply's first message; at most 3 such rows. DeepFlow: its request rows (it
//! parses each packet alone and loses a few) are found, in order, among tapflow's.

use tapflow_analyzer::l7::L7Protocol;
use tapflow_analyzer::record::l7::{TYPE_REQUEST, TYPE_SESSION};
use tapflow_analyzer::AnalyzerConfig;

mod pcap_truth;
use pcap_truth::{analyze_capture, capture_path, pcaps, text, tsv};

const RRT_TOLERANCE_MS: f64 = 1.0;

/// PostgreSQL is off by default, as in DeepFlow.
fn config() -> AnalyzerConfig {
    let mut cfg = AnalyzerConfig::default();
    cfg.l7.enabled.insert(L7Protocol::Postgres);
    cfg
}

#[test]
fn pgsql_cycles_and_rrt_match_tshark() {
    let Some(dir) = pcaps() else {
        eprintln!("../shared/pcaps absent: skipped");
        return;
    };
    let truth = tsv(&dir.join("truth/l7_pgsql.tsv"));
    let mut files: Vec<String> = truth.iter().map(|r| r["file_id"].clone()).collect();
    files.dedup();
    assert_eq!(files.len(), 2);
    let mut spanning = 0;
    for file in files {
        let want: Vec<_> = truth.iter().filter(|r| r["file_id"] == file).collect();
        let rows = analyze_capture(&capture_path(&dir, &file).unwrap(), config()).l7;
        // Terminate has no tshark row (no reply): tapflow writes it as a request alone.
        let (answered, alone): (Vec<_>, Vec<_>) =
            rows.iter().partition(|r| r.row_type == TYPE_SESSION);
        assert!(alone
            .iter()
            .all(|r| r.row_type == TYPE_REQUEST && text(&r.request_type) == "X"));
        assert_eq!(answered.len(), want.len(), "{file}: cycles");
        for (r, t) in answered.iter().zip(&want) {
            assert_eq!(r.l7_protocol, 61);
            let (msgs, sql) = t["request"].split_once(" | ").expect("request");
            let sql = sql.trim_matches('"').replace("\\n", "\n");
            let typ = if msgs.starts_with("Simple query") {
                "Q"
            } else if msgs.contains("Parse") {
                "P"
            } else {
                "E"
            };
            assert_eq!(text(&r.request_type), typ, "{file}");
            let prefix: String = sql.chars().take(40).collect();
            assert!(
                text(&r.request_resource).starts_with(prefix.trim_end()),
                "{file}: {sql}"
            );
            let ms: f64 = t["latency_ms"].parse().unwrap();
            let rrt = r.response_duration as f64 / 1000.0;
            if (rrt - ms).abs() > RRT_TOLERANCE_MS {
                assert!(rrt < ms, "{file}: {rrt} vs tshark {ms}");
                spanning += 1;
            }
            assert_eq!(r.response_status, 0);
        }
    }
    assert!(spanning <= 3, "{spanning} replies timed differently");
}

#[test]
fn pgsql_agrees_with_deepflow_results() {
    let Some(dir) = pcaps() else {
        eprintln!("../shared/pcaps absent: skipped");
        return;
    };
    let result = std::fs::read_to_string(dir.join("l7/pgsql_df_all.deepflow.result")).unwrap();
    let requests: Vec<(String, String)> = result
        .lines()
        .filter_map(|l| {
            serde_json::from_str::<serde_json::Value>(l.rsplit_once(" is_pgsql")?.0).ok()
        })
        .filter(|v| v["msg_type"] == "Request")
        .map(|v| {
            let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
            (s("request_type"), s("request_resource"))
        })
        .collect();
    assert_eq!(requests.len(), 30);
    let rows = analyze_capture(&dir.join("l7/pgsql_df_all.pcap"), config()).l7;
    let ours: Vec<(String, String)> = rows
        .iter()
        .map(|r| (text(&r.request_type), text(&r.request_resource)))
        .collect();
    // DeepFlow's rows, in order, among tapflow's (SQL compared over tapflow's 256 bytes).
    let mut it = ours.iter();
    for (typ, sql) in &requests {
        let cut: String = sql.chars().take(256).collect();
        assert!(
            it.any(|(t, s)| t == typ && cut.starts_with(s.as_str())),
            "DeepFlow's {typ} {sql:.40} not found in order"
        );
    }
}
