//! Dubbo `l7_flow_log` rows of the full analyzer against DeepFlow's results for the shared
//! captures (skipped when `../shared/pcaps` is absent; tshark has no Dubbo dissector): request
//! id, service, method, endpoint, Dubbo version, sizes, status and RRT (µs, exact), and the
//! SkyWalking sw8 trace and span ids of `dubbo_df_sw8`.

use tapflow_analyzer::l7::L7Protocol;
use tapflow_analyzer::record::l7::{TYPE_REQUEST, TYPE_SESSION};
use tapflow_analyzer::AnalyzerConfig;

mod pcap_truth;
use pcap_truth::{analyze_capture, pcaps, text};

fn field<'a>(line: &'a str, key: &str) -> &'a str {
    let at = line.find(&format!(" {key}: ")).expect(key) + key.len() + 3;
    let rest = &line[at..];
    let end = [", ", " }"]
        .iter()
        .filter_map(|k| rest.find(k))
        .min()
        .unwrap_or(rest.len());
    let v = rest[..end].trim();
    let v = v
        .strip_prefix("Some(")
        .map_or(v, |v| v.trim_end_matches(')'));
    v.trim_matches('"')
}

#[test]
fn dubbo_agrees_with_deepflow_results() {
    let Some(dir) = pcaps() else {
        eprintln!("../shared/pcaps absent: skipped");
        return;
    };
    for name in ["dubbo_df_eys", "dubbo_df_hessian2", "dubbo_df_sw8"] {
        let result = std::fs::read_to_string(dir.join(format!("l7/{name}.deepflow.result")))
            .expect("result");
        let req = result
            .lines()
            .find(|l| l.contains("msg_type: Request"))
            .expect("request");
        let resp = result.lines().find(|l| l.contains("msg_type: Response"));
        let mut cfg = AnalyzerConfig::default();
        cfg.l7.enabled.insert(L7Protocol::Dubbo);
        let rows = analyze_capture(&dir.join(format!("l7/{name}.pcap")), cfg).l7;
        assert_eq!(rows.len(), 1, "{name}");
        let r = &rows[0];
        assert_eq!(r.l7_protocol, 40);
        assert_eq!(
            r.request_id.map(|i| i.to_string()).as_deref(),
            Some(field(req, "request_id"))
        );
        assert_eq!(text(&r.request_type), field(req, "method_name"), "{name}");
        assert_eq!(
            text(&r.request_resource),
            field(req, "service_name"),
            "{name}"
        );
        assert_eq!(text(&r.endpoint), field(req, "endpoint"), "{name}");
        assert_eq!(text(&r.version), field(req, "dubbo_version"), "{name}");
        assert_eq!(
            r.request_length.to_string(),
            field(req, "req_msg_size"),
            "{name}"
        );
        assert_eq!(
            r.captured_request_byte.to_string(),
            field(req, "captured_request_byte")
        );
        match resp {
            Some(resp) => {
                assert_eq!(r.row_type, TYPE_SESSION, "{name}");
                assert_eq!(
                    r.response_code.map(|c| c.to_string()).as_deref(),
                    Some(field(resp, "status_code"))
                );
                assert_eq!(r.response_status, 0);
                assert_eq!(
                    r.response_duration.to_string(),
                    field(resp, "rrt"),
                    "{name}: rrt µs"
                );
                assert_eq!(r.response_length.to_string(), field(resp, "resp_msg_size"));
                assert_eq!(
                    r.captured_response_byte.to_string(),
                    field(resp, "captured_response_byte")
                );
            }
            // The capture ends before the response: unanswered when the flow ends.
            None => assert_eq!(r.row_type, TYPE_REQUEST, "{name}"),
        }
        if name == "dubbo_df_sw8" {
            // DeepFlow's trace and span ids from the sw8 attachment (in the default
            // tracing_tag.apm_trace_id list).
            let trace = req
                .split("PrioField { prio: 128, field: \"")
                .nth(1)
                .expect("trace");
            assert_eq!(text(&r.trace_id), trace.split('"').next().expect("id"));
            let span = req
                .split("span_id: PrioField { prio: 128, field: \"")
                .nth(1)
                .expect("span");
            assert_eq!(text(&r.span_id), span.split('"').next().expect("id"));
        }
    }
}
