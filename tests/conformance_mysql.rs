//! MySQL `l7_flow_log` rows of the full analyzer against tshark (`truth/l7_mysql.tsv`) and
//! DeepFlow's own result (`l7/mysql_df.deepflow.result`) on the shared captures (skipped when
//! `../shared/pcaps` is absent): every command tshark lists, in order, with its command number
//! and SQL, errors where tshark has them, and RRT within 1 ms; DeepFlow's request strings and
//! response statuses.

use tapflow_analyzer::l7::mysql::wire::command_name;
use tapflow_analyzer::record::l7::{TYPE_REQUEST, TYPE_SESSION};
use tapflow_analyzer::AnalyzerConfig;

mod pcap_truth;
use pcap_truth::{analyze_capture, capture_path, pcaps, text, tsv};

const RRT_TOLERANCE_MS: f64 = 1.0;

#[test]
fn mysql_commands_and_rrt_match_tshark() {
    let Some(dir) = pcaps() else {
        eprintln!("../shared/pcaps absent: skipped");
        return;
    };
    let truth = tsv(&dir.join("truth/l7_mysql.tsv"));
    let mut files: Vec<String> = truth.iter().map(|r| r["file_id"].clone()).collect();
    files.dedup();
    assert_eq!(files.len(), 2);
    for file in files {
        let want: Vec<_> = truth.iter().filter(|r| r["file_id"] == file).collect();
        let mut rows = analyze_capture(
            &capture_path(&dir, &file).unwrap(),
            AnalyzerConfig::default(),
        )
        .l7;
        // tshark lists commands only; the login (where the capture has it) is a row of its own.
        rows.retain(|r| text(&r.request_type) != "Login");
        assert_eq!(rows.len(), want.len(), "{file}: commands");
        for (r, t) in rows.iter().zip(&want) {
            assert_eq!(r.l7_protocol, 60);
            // "cmd=3 select ..." (tshark cuts the SQL at 100 characters).
            let (cmd, sql) = t["request"]
                .trim_matches('"')
                .strip_prefix("cmd=")
                .and_then(|s| s.split_once(' '))
                .expect("cmd");
            let cmd: u8 = cmd.parse().unwrap();
            assert_eq!(text(&r.request_type), command_name(cmd).unwrap(), "{file}");
            let sql = sql.replace("\"\"", "\"");
            if cmd == 3 {
                assert!(text(&r.request_resource).starts_with(&sql), "{file}: {sql}");
            }
            match t["latency_ms"].parse::<f64>() {
                Ok(ms) => {
                    assert_eq!(r.row_type, TYPE_SESSION, "{file}: {sql}");
                    let rrt = r.response_duration as f64 / 1000.0;
                    assert!(
                        (rrt - ms).abs() <= RRT_TOLERANCE_MS,
                        "{file}: {rrt} vs {ms}"
                    );
                    let error = t["error"] == "1";
                    assert_eq!(r.response_status != 0, error, "{file}: {sql}");
                }
                // COM_QUIT: no reply.
                Err(_) => assert_eq!((r.row_type, r.response_status), (TYPE_REQUEST, 0)),
            }
        }
    }
}

#[test]
fn mysql_agrees_with_deepflow_results() {
    let Some(dir) = pcaps() else {
        eprintln!("../shared/pcaps absent: skipped");
        return;
    };
    let result = std::fs::read_to_string(dir.join("l7/mysql_df.deepflow.result")).unwrap();
    // Each line: a JSON object, then " is_mysql: ...".
    let logs: Vec<serde_json::Value> = result
        .lines()
        .filter_map(|l| serde_json::from_str(l.rsplit_once(" is_mysql").map_or(l, |p| p.0)).ok())
        .collect();
    let requests: Vec<&str> = logs
        .iter()
        .filter(|v| v["msg_type"] == "Request" && v["request_type"] != 0)
        .filter_map(|v| v["request_resource"].as_str())
        .collect();
    let rows = analyze_capture(&dir.join("l7/mysql_df.pcap"), AnalyzerConfig::default()).l7;
    let queries: Vec<String> = rows
        .iter()
        .filter(|r| text(&r.request_type) == "COM_QUERY")
        .map(|r| text(&r.request_resource))
        .collect();
    assert_eq!(queries, requests);
    let ok_responses = logs
        .iter()
        .filter(|v| v["msg_type"] == "Response" && v["response_status"] == "ok")
        .count();
    // The login's OK among them: both write the login as a request answered at the end of
    // authentication, with DeepFlow's resource text.
    let sessions = rows.iter().filter(|r| r.row_type == TYPE_SESSION).count();
    assert_eq!(sessions, ok_responses);
    assert!(rows.iter().all(|r| r.response_status == 0));
    let login = logs
        .iter()
        .find(|v| v["msg_type"] == "Request" && v["request_type"] == 0)
        .and_then(|v| v["request_resource"].as_str())
        .expect("DeepFlow's login");
    assert_eq!(text(&rows[0].request_resource), login);
    assert_eq!(
        (text(&rows[0].request_type), text(&rows[0].request_domain)),
        ("Login".to_string(), "deepflow".to_string())
    );
}
