//! NATS `l7_flow_log` rows of the full analyzer against DeepFlow's results for the shared
//! captures (skipped when `../shared/pcaps` is absent; tshark has no NATS dissector):
//! `nats_df_headers` (verbose mode, HPUB/HMSG with headers), `nats_df_err` (an unknown operation
//! answered by -ERR), `nats_df_nrpc1` (request/reply over inboxes). Every message DeepFlow
//! decodes is in a row (operation, subject), with DeepFlow's server name and version; the
//! pairing is tapflow's (documented in the parser).

use tapflow_analyzer::l7::L7Protocol;
use tapflow_analyzer::record::l7::{TYPE_REQUEST, TYPE_RESPONSE, TYPE_SESSION};
use tapflow_analyzer::record::L7FlowLog;
use tapflow_analyzer::AnalyzerConfig;

mod pcap_truth;
use pcap_truth::{analyze_capture, pcaps, text};

fn rows(name: &str) -> Vec<L7FlowLog> {
    let dir = pcaps().expect("pcaps");
    let mut cfg = AnalyzerConfig::default();
    cfg.l7.enabled.insert(L7Protocol::Nats);
    analyze_capture(&dir.join(format!("l7/{name}.pcap")), cfg).l7
}

/// (operation, subject) of each message DeepFlow decoded, in order.
fn deepflow_messages(name: &str) -> Vec<(String, String)> {
    let dir = pcaps().expect("pcaps");
    let r = std::fs::read_to_string(dir.join(format!("l7/{name}.deepflow.result")))
        .expect("deepflow result");
    r.lines()
        .filter_map(|l| {
            let m = l.split("message: ").nth(1)?;
            let op = m.split('(').next()?.to_ascii_uppercase();
            let subject = m
                .split("subject: \"")
                .nth(1)
                .or_else(|| m.split("sid: \"").nth(1).filter(|_| op == "UNSUB"))
                .and_then(|s| s.split('"').next())
                .unwrap_or("");
            Some((op, subject.to_string()))
        })
        .collect()
}

/// (type, subject, row type, status, duration > 0) of tapflow's rows.
fn summary(rows: &[L7FlowLog]) -> Vec<(String, String, u8, u8)> {
    rows.iter()
        .map(|r| {
            (
                text(&r.request_type),
                text(&r.request_resource),
                r.row_type,
                r.response_status,
            )
        })
        .collect()
}

#[test]
fn nats_headers_capture_in_verbose_mode() {
    if pcaps().is_none() {
        eprintln!("../shared/pcaps absent: skipped");
        return;
    }
    let rows = rows("nats_df_headers");
    for r in &rows {
        assert_eq!(text(&r.request_domain), "us-south-nats-demo");
        assert_eq!(text(&r.version), "2.10.7");
    }
    // Every client operation DeepFlow saw is a row answered by +OK; HMSG deliveries are rows.
    let want: Vec<(String, String)> = deepflow_messages("nats_df_headers")
        .into_iter()
        .filter(|(op, _)| !matches!(op.as_str(), "OK" | "PONG"))
        .collect();
    let mut want = want;
    let mut got: Vec<(String, String)> = rows
        .iter()
        .map(|r| (text(&r.request_type), text(&r.request_resource)))
        .collect();
    // The request on FRONT.DOOR (reply subject JOKE.22) is never answered: its row comes when
    // the flow ends.
    want.sort();
    got.sort();
    assert_eq!(got, want);
    for r in &rows {
        let op = text(&r.request_type);
        let res = text(&r.request_resource);
        let want_type = if op == "INFO" || op == "HMSG" {
            TYPE_REQUEST
        } else {
            TYPE_SESSION
        };
        if op == "HPUB" && res == "FRONT.DOOR" {
            assert_eq!(r.row_type, TYPE_REQUEST);
            continue;
        }
        assert_eq!(
            (r.row_type, r.response_status),
            (want_type, 0),
            "{op} {res}"
        );
    }
    let hpub = rows
        .iter()
        .find(|r| text(&r.request_resource) == "FRONT.DOOR")
        .unwrap();
    assert_eq!(text(&hpub.endpoint), "FRONT");
}

#[test]
fn nats_error_and_request_reply() {
    if pcaps().is_none() {
        eprintln!("../shared/pcaps absent: skipped");
        return;
    }
    let err = summary(&rows("nats_df_err"));
    let s = |a: &str, b: &str, c: u8, d: u8| (a.to_string(), b.to_string(), c, d);
    assert_eq!(
        err,
        [
            s("INFO", "", TYPE_REQUEST, 0),
            s("CONNECT", "", TYPE_SESSION, 0),
            s("PING", "", TYPE_SESSION, 0),
            // DEADBEEF is not an operation: the server's -ERR is a row of its own.
            s("-ERR", "", TYPE_RESPONSE, 4),
        ]
    );
    let e = rows("nats_df_err");
    assert_eq!(text(&e[3].response_exception), "Unknown Protocol Operation");
    // DeepFlow: the -ERR message is the same.
    assert!(
        std::fs::read_to_string(pcaps().unwrap().join("l7/nats_df_err.deepflow.result"))
            .unwrap()
            .contains("error_message: \"'Unknown Protocol Operation'\"")
    );

    let rpc = rows("nats_df_nrpc1");
    assert_eq!(
        summary(&rpc),
        [
            s("INFO", "", TYPE_REQUEST, 0),
            // Not verbose: CONNECT and SUB get no +OK.
            s("CONNECT", "", TYPE_REQUEST, 0),
            s("PING", "", TYPE_SESSION, 0),
            s("SUB", "Greeter.>", TYPE_REQUEST, 0),
            s("PING", "", TYPE_SESSION, 0),
            // Each request delivered to the service is answered by its PUB to the inbox.
            s("MSG", "Greeter.SayHello", TYPE_SESSION, 0),
            s("MSG", "Greeter.SayHello", TYPE_SESSION, 0),
        ]
    );
    let want = deepflow_messages("nats_df_nrpc1");
    assert_eq!(want.iter().filter(|(op, _)| op == "MSG").count(), 2);
    assert_eq!(want.iter().filter(|(op, _)| op == "PUB").count(), 2);
    assert!(rpc[5].response_duration > 0);
}
