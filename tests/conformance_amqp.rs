//! AMQP `l7_flow_log` rows of the full analyzer against the shared captures (skipped when
//! `../shared/pcaps` is absent): every method frame tshark decodes (`truth/l7_amqp.tsv`) is a
//! row (requests and asynchronous methods) or answers one (replies), and the request/reply
//! durations of `amqp_df_1` equal DeepFlow's (µs, exact).

use tapflow_analyzer::l7::amqp::wire::{names, role, Role};
use tapflow_analyzer::l7::L7Protocol;
use tapflow_analyzer::record::l7::TYPE_SESSION;
use tapflow_analyzer::record::L7FlowLog;
use tapflow_analyzer::AnalyzerConfig;

mod pcap_truth;
use pcap_truth::{analyze_capture, pcaps, text, tsv};

fn rows(name: &str) -> Vec<L7FlowLog> {
    let dir = pcaps().expect("pcaps");
    let mut cfg = AnalyzerConfig::default();
    cfg.l7.enabled.insert(L7Protocol::Amqp);
    analyze_capture(&dir.join(format!("l7/{name}.pcap")), cfg).l7
}

#[test]
fn amqp_methods_agree_with_tshark() {
    let Some(dir) = pcaps() else {
        eprintln!("../shared/pcaps absent: skipped");
        return;
    };
    let truth = tsv(&dir.join("truth/l7_amqp.tsv"));
    for name in ["amqp_df_1", "amqp_ndpi"] {
        let rows = rows(name);
        let mut want = Vec::new();
        let mut replies = 0;
        for t in truth.iter().filter(|t| t["file_id"] == name) {
            let (c, m) = t["class_method"].split_once('.').expect("class.method");
            let (c, m): (u16, u16) = (c.parse().expect("class"), m.parse().expect("method"));
            let (cn, mn) = names(c, m).expect("known method");
            match role(c, m) {
                Role::Reply => replies += 1,
                _ => want.push(format!("{cn}.{mn}")),
            }
        }
        let mut got: Vec<String> = rows.iter().map(|r| text(&r.request_type)).collect();
        want.sort();
        got.sort();
        assert_eq!(got, want, "{name}");
        let sessions = rows.iter().filter(|r| r.row_type == TYPE_SESSION).count();
        assert_eq!(sessions, replies, "{name}: every reply answers a request");
        assert!(rows.iter().all(|r| r.response_status == 0), "{name}");
    }
}

#[test]
fn amqp_durations_equal_deepflow() {
    let Some(dir) = pcaps() else {
        eprintln!("../shared/pcaps absent: skipped");
        return;
    };
    let result = std::fs::read_to_string(dir.join("l7/amqp_df_1.deepflow.result")).expect("result");
    let want: Vec<u64> = result
        .lines()
        .filter(|l| l.contains("msg_type: Response"))
        .map(|l| {
            let at = l.find("rtt: ").expect("rtt") + 5;
            l[at..].split(',').next().expect("n").parse().expect("rtt")
        })
        .collect();
    let mut sessions: Vec<&L7FlowLog> = Vec::new();
    let all = rows("amqp_df_1");
    sessions.extend(all.iter().filter(|r| r.row_type == TYPE_SESSION));
    sessions.sort_by_key(|r| r.end_time);
    let got: Vec<u64> = sessions.iter().map(|r| r.response_duration).collect();
    assert_eq!(got, want);
    assert!(all.iter().any(|r| text(&r.request_domain) == "/"));
}
