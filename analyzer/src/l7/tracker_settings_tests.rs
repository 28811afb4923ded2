//! The request log settings through the whole analyzer: the blacklist (`tag_filters`), the
//! custom header fields (`custom_fields`), the bytes of failed exchanges (`raw`) and
//! `copy_apm_trace_id`.

use super::tests::{
    dns_answer, dns_query, h2_frame, h2_lit, END_HEADERS, END_STREAM, H2_PREFACE, REQ, RESP,
};
use crate::l7::talk::{s, Talk};
use crate::AnalyzerConfig;

/// A blacklist of `field` `op` `value` for `proto`'s rows.
fn blacklisting(
    proto: crate::l7::L7Protocol,
    field: &str,
    op: &str,
    value: &str,
) -> AnalyzerConfig {
    use crate::l7::blacklist::{Rule, RuleField, RuleOp};
    let mut cfg = AnalyzerConfig::default();
    cfg.l7.blacklist.add(
        proto,
        Rule {
            field: RuleField::from_name(field).unwrap(),
            op: RuleOp::from_name(op).unwrap(),
            value: value.as_bytes().to_vec(),
        },
    );
    cfg
}

#[test]
fn blacklisted_requests_are_neither_written_nor_counted() {
    let health = b"GET /healthz HTTP/1.1\r\nHost: shop.example\r\n\r\n";
    let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let cfg = blacklisting(
        crate::l7::L7Protocol::Http1,
        "endpoint",
        "prefix",
        "/health",
    );
    let mut t = Talk::with(cfg, 8080);
    t.tcp(0.0, true, health);
    t.tcp(3.0, false, ok);
    t.tcp(10.0, true, REQ);
    t.tcp(22.5, false, RESP);
    t.tcp(30.0, true, health);
    t.tcp(31.0, false, ok);
    // Unanswered at the end: a timeout, but on the list.
    t.tcp(40.0, true, health);
    let c = t.an.counters().l7;
    let out = t.finish();
    let rows: Vec<_> = out.l7.iter().map(|r| s(&r.request_resource)).collect();
    assert_eq!(rows, ["/api/v1/users/42?x=1"]);
    let l4 = &out.l4[0];
    assert_eq!(
        (
            l4.l7_request,
            l4.l7_response,
            l4.l7_client_error,
            l4.l7_timeout
        ),
        (1, 1, 1, 0)
    );
    assert_eq!((l4.rrt_count, l4.rrt_sum, l4.rrt_max), (1, 12_500, 12_500));
    assert_eq!((c.blacklisted, c.requests, c.responses), (3, 4, 3));
    assert_eq!(c.timeouts, 0);
}

#[test]
fn blacklisted_dns_names_time_out_silently_and_orphans_are_checked() {
    let cfg = blacklisting(
        crate::l7::L7Protocol::Dns,
        "request_resource",
        "equal",
        "probe.example",
    );
    let mut t = Talk::with(cfg, 53);
    t.udp(0.0, true, &dns_query(1, "probe.example", 1));
    t.udp(1.0, true, &dns_query(2, "shop.example", 1));
    t.udp(
        2.0,
        false,
        &dns_answer(2, "shop.example", 0, Some([10, 0, 0, 9])),
    );
    // An answer whose query was not seen, for a name on the list.
    t.udp(3.0, false, &dns_answer(7, "probe.example", 0, None));
    // The first query's window passes.
    t.udp(16_000.0, true, &dns_query(3, "shop.example", 1));
    t.udp(16_001.0, false, &dns_answer(3, "shop.example", 0, None));
    let c = t.an.counters().l7;
    let out = t.finish();
    let rows: Vec<_> = out.l7.iter().map(|r| r.request_id).collect();
    assert_eq!(rows, [Some(2), Some(3)]);
    let (req, resp, timeout): (u32, u32, u32) = out.l4.iter().fold((0, 0, 0), |a, r| {
        (a.0 + r.l7_request, a.1 + r.l7_response, a.2 + r.l7_timeout)
    });
    assert_eq!((req, resp, timeout), (2, 2, 0));
    assert_eq!(c.blacklisted, 2);
}

#[test]
fn custom_fields_keep_the_named_headers_as_attributes() {
    use crate::l7::config::CustomField;
    let mut cfg = AnalyzerConfig::default();
    cfg.l7.custom_fields.http = ["X-Tenant", "user_agent", "Server", "x-absent"]
        .map(CustomField::new)
        .to_vec();
    let req = b"GET /a HTTP/1.1\r\nHost: h\r\nx-tenant:  blue \r\nUser-Agent: t/1\r\n\r\n";
    let resp = b"HTTP/1.1 200 OK\r\nServer: nginx\r\nX-Tenant: red\r\nContent-Length: 0\r\n\r\n";
    let mut t = Talk::with(cfg, 8080);
    t.tcp(0.0, true, req);
    t.tcp(2.0, false, resp);
    let out = t.finish();
    let attrs = out.l7[0].attributes.text_pairs();
    // The request's value first; names lower case with '_'.
    let want = [
        ("x_tenant", "blue"),
        ("user_agent", "t/1"),
        ("server", "nginx"),
    ];
    assert_eq!(attrs, want.map(|(n, v)| (n.to_string(), v.to_string())));
}

#[test]
fn custom_fields_of_http2_come_from_hpack_headers() {
    use crate::l7::config::CustomField;
    let mut cfg = AnalyzerConfig::default();
    cfg.l7.custom_fields.http2 = vec![CustomField::new("x-tenant")];
    // HTTP/1's list does not apply to HTTP/2.
    cfg.l7.custom_fields.http = vec![CustomField::new("x-other")];
    let mut t = Talk::with(cfg, 8080);
    let mut c = H2_PREFACE.to_vec();
    c.extend(h2_frame(4, 0, 0, &[]));
    let mut b1 = vec![0x82, 0x86];
    b1.extend(h2_lit(":path", "/x", false));
    b1.extend(h2_lit("x-tenant", "green", false));
    b1.extend(h2_lit("x-other", "no", false));
    c.extend(h2_frame(1, END_HEADERS | END_STREAM, 1, &b1));
    t.tcp(0.0, true, &c);
    t.tcp(
        2.0,
        false,
        &h2_frame(1, END_HEADERS | END_STREAM, 1, &[0x88]),
    );
    let out = t.finish();
    let attrs: Vec<_> = out.l7[0].attributes.iter().collect();
    assert_eq!(attrs, [(&b"x_tenant"[..], &b"green"[..])]);
}

fn attrs(row: &crate::record::L7FlowLog) -> Vec<(String, String)> {
    row.attributes.text_pairs()
}

fn pairs(want: &[(&str, &str)]) -> Vec<(String, String)> {
    want.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

#[test]
fn raw_bytes_of_failed_http_exchanges_are_kept_as_attributes() {
    use crate::l7::raw::RawCapture;
    let post = b"POST /pay HTTP/1.1\r\nHost: h\r\nContent-Length: 8\r\n\r\n{\"a\": 1}";
    let fail =
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 22\r\n\r\n{\"error\":\"db is down\"}";
    let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let get = b"GET /gone HTTP/1.1\r\nHost: h\r\n\r\n";
    let not_found = b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nno route\n";

    // DeepFlow's default: 256 bytes of an error response's body, nothing of a success.
    let mut t = Talk::with(AnalyzerConfig::default(), 8080);
    t.tcp(0.0, true, post);
    t.tcp(2.0, false, fail);
    t.tcp(3.0, true, post);
    t.tcp(4.0, false, ok);
    t.tcp(5.0, true, get);
    t.tcp(6.0, false, not_found);
    let out = t.finish();
    assert_eq!(
        attrs(&out.l7[0]),
        pairs(&[("response_payload", "{\"error\":\"db is down\"}")])
    );
    assert!(out.l7[1].attributes.is_empty(), "a success keeps nothing");
    assert_eq!(
        attrs(&out.l7[2]),
        pairs(&[("response_payload", "no route\n")])
    );

    // Every part, cut to its size; a request's bytes leave again when it succeeds; an
    // unanswered request keeps them.
    let mut cfg = AnalyzerConfig::default();
    cfg.l7.raw = RawCapture {
        error_request_header: 18,
        error_request_payload: 100,
        error_response_header: 12,
        error_response_payload: 5,
    };
    let mut t = Talk::with(cfg, 8080);
    t.tcp(0.0, true, post);
    t.tcp(2.0, false, fail);
    t.tcp(3.0, true, post);
    t.tcp(4.0, false, ok);
    t.tcp(5.0, true, get);
    let out = t.finish();
    assert_eq!(
        attrs(&out.l7[0]),
        pairs(&[
            ("request_header", "POST /pay HTTP/1.1"),
            ("request_payload", "{\"a\": 1}"),
            ("response_header", "HTTP/1.1 503"),
            ("response_payload", "{\"err"),
        ])
    );
    assert!(out.l7[1].attributes.is_empty());
    assert_eq!(out.l7[2].response_status, 2, "a timeout");
    assert_eq!(
        attrs(&out.l7[2]),
        pairs(&[("request_header", "GET /gone HTTP/1.1")])
    );

    // A request body sent after its head (as Python's http.client does) is added when it comes.
    let mut cfg = AnalyzerConfig::default();
    cfg.l7.raw.error_request_payload = 100;
    let mut t = Talk::with(cfg, 8080);
    let (head, body) = post.split_at(post.len() - 8);
    t.tcp(0.0, true, head);
    t.tcp(0.5, true, body);
    t.tcp(2.0, false, fail);
    let out = t.finish();
    assert_eq!(
        attrs(&out.l7[0]),
        pairs(&[
            ("request_payload", "{\"a\": 1}"),
            ("response_payload", "{\"error\":\"db is down\"}"),
        ])
    );

    // An error response whose body follows its head (Python's http.server): the row waits for
    // the body's first bytes and keeps the head's time; a success is written at its head.
    let mut t = Talk::with(AnalyzerConfig::default(), 8080);
    let (fail_head, fail_body) = fail.split_at(fail.len() - 22);
    t.tcp(0.0, true, get);
    t.tcp(2.0, false, fail_head);
    t.tcp(2.5, false, fail_body);
    t.tcp(3.0, true, get);
    let (ok_head, ok_body) = ok.split_at(ok.len() - 2);
    t.tcp(4.0, false, ok_head);
    t.tcp(4.5, false, ok_body);
    let out = t.finish();
    assert_eq!(
        attrs(&out.l7[0]),
        pairs(&[("response_payload", "{\"error\":\"db is down\"}")])
    );
    let rrt = |r: &crate::record::L7FlowLog| r.end_time - r.start_time;
    assert_eq!(
        (rrt(&out.l7[0]), rrt(&out.l7[1])),
        (2_000, 1_000),
        "times of the heads"
    );
    assert_eq!(out.l7[0].response_code, Some(503));
    assert!(out.l7[1].attributes.is_empty());

    // Off.
    let mut cfg = AnalyzerConfig::default();
    cfg.l7.raw = RawCapture::OFF;
    let mut t = Talk::with(cfg, 8080);
    t.tcp(0.0, true, post);
    t.tcp(2.0, false, fail);
    assert!(t.finish().l7[0].attributes.is_empty());
}

#[test]
fn copy_apm_trace_id_keeps_the_trace_id_as_an_attribute() {
    let req = b"GET /a HTTP/1.1\r\nHost: h\r\ntraceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n\r\n";
    let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    for copy in [false, true] {
        let mut cfg = AnalyzerConfig::default();
        cfg.l7.tags.copy_apm_trace_id = copy;
        let mut t = Talk::with(cfg, 8080);
        t.tcp(0.0, true, req);
        t.tcp(2.0, false, resp);
        let out = t.finish();
        assert_eq!(s(&out.l7[0].trace_id), "0af7651916cd43dd8448eb211c80319c");
        let want: &[(&str, &str)] = if copy {
            &[("apm_trace_id", "0af7651916cd43dd8448eb211c80319c")]
        } else {
            &[]
        };
        assert_eq!(attrs(&out.l7[0]), pairs(want));
    }
}
