//! memcached `l7_flow_log` rows of the full analyzer against DeepFlow's own result for the shared
//! capture `l7/memcached_df.pcap` (skipped when `../shared/pcaps` is absent; there is no tshark
//! truth table for memcached): every request DeepFlow logs, in order, with its command line,
//! request size, reply line, reply size and RRT (µs, exact).

use tapflow_analyzer::l7::L7Protocol;
use tapflow_analyzer::record::l7::{TYPE_REQUEST, TYPE_SESSION};
use tapflow_analyzer::AnalyzerConfig;

mod pcap_truth;
use pcap_truth::{analyze_capture, pcaps, text};

/// The value after `key: ` in one of DeepFlow's debug lines (up to the next field).
fn field<'a>(line: &'a str, key: &str) -> &'a str {
    let at = line.find(&format!(" {key}: ")).expect(key) + key.len() + 3;
    let rest = &line[at..];
    let end = [
        " req_size:",
        " result:",
        " err_msg:",
        " res_size:",
        " rtt:",
        " }",
    ]
    .iter()
    .filter_map(|k| rest.find(k))
    .min()
    .unwrap_or(rest.len());
    rest[..end].trim()
}

#[test]
fn memcached_agrees_with_deepflow_results() {
    let Some(dir) = pcaps() else {
        eprintln!("../shared/pcaps absent: skipped");
        return;
    };
    let result = std::fs::read_to_string(dir.join("l7/memcached_df.deepflow.result")).unwrap();
    let lines: Vec<&str> = result
        .lines()
        .filter(|l| l.starts_with("MemcachedInfo"))
        .collect();
    let requests: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.contains("msg_type: Request"))
        .collect();
    let responses: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.contains("msg_type: Response"))
        .collect();
    assert_eq!((requests.len(), responses.len()), (2, 2));
    // Memcached is off by default, as in DeepFlow.
    let mut cfg = AnalyzerConfig::default();
    cfg.l7.enabled.insert(L7Protocol::Memcached);
    let rows = analyze_capture(&dir.join("l7/memcached_df.pcap"), cfg).l7;
    let sessions: Vec<_> = rows.iter().filter(|r| r.row_type == TYPE_SESSION).collect();
    assert_eq!(sessions.len(), 2);
    for ((r, req), resp) in sessions.iter().zip(&requests).zip(&responses) {
        assert_eq!(r.l7_protocol, 82);
        assert_eq!(text(&r.request_resource), field(req, "request"));
        assert_eq!(
            Some(text(&r.request_type).as_str()),
            field(req, "request").split(' ').next()
        );
        assert_eq!(r.captured_request_byte.to_string(), field(req, "req_size"));
        assert_eq!(text(&r.response_result), field(resp, "result"));
        assert_eq!(
            r.captured_response_byte.to_string(),
            field(resp, "res_size")
        );
        assert_eq!(
            r.response_duration.to_string(),
            field(resp, "rtt"),
            "rrt µs"
        );
        assert_eq!(r.response_status, 0);
    }
    // DeepFlow drops `quit` ("Unhandled command"); tapflow writes it as a request without reply
    // (status ok, not a timeout), and skips the `bar` data block DeepFlow tried to parse.
    let rest: Vec<_> = rows.iter().filter(|r| r.row_type != TYPE_SESSION).collect();
    assert_eq!(rest.len(), 1);
    assert_eq!(
        (rest[0].row_type, text(&rest[0].request_type)),
        (TYPE_REQUEST, "quit".into())
    );
    assert_eq!(rest[0].response_status, 0);
}
