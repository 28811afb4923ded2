//! HTTP/1 sessions through the whole analyzer: Triple's unary form over HTTP/1.1.

use crate::l7::protocol::L7Protocol;
use crate::l7::talk::{s, Talk};

#[test]
fn triple_over_http1_is_a_triple_row_and_flow() {
    // As dubbo-js sends Triple's unary calls over HTTP/1.1 (JSON bodies).
    let call = |method: &str| {
        let body = r#""ann""#;
        format!(
            "POST /org.demo.Greeter/{method} HTTP/1.1\r\nHost: 10.0.0.2:50051\r\n\
content-type: application/json\r\ntri-protocol-version: 1.0.0\r\ntri-service-version: 1.0.0\r\n\
tri-service-group: dubbo\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let mut t = Talk::new(50051);
    t.tcp(0.0, true, call("greet").as_bytes());
    t.tcp(
        1.0,
        false,
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nContent-Length: 11\r\n\r\n\"hello ann\"",
    );
    t.tcp(2.0, true, call("fail").as_bytes());
    let err = r#"{"code":"not_found","message":"no such greeting"}"#;
    let resp = format!(
        "HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\nContent-Length: {}\r\n\r\n{err}",
        err.len()
    );
    t.tcp(3.0, false, resp.as_bytes());
    // A plain HTTP request on another connection stays HTTP.
    let mut plain = Talk::new(8080);
    plain.tcp(0.0, true, b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n");
    plain.tcp(
        1.0,
        false,
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
    );

    let out = t.finish();
    let got: Vec<_> = out
        .l7
        .iter()
        .map(|r| {
            (
                r.l7_protocol,
                s(&r.request_type).to_string(),
                s(&r.request_resource).to_string(),
                s(&r.endpoint).to_string(),
                s(&r.version).to_string(),
                r.response_code,
                r.response_status,
                s(&r.response_exception).to_string(),
            )
        })
        .collect();
    let triple = L7Protocol::Triple.id();
    let row = |m: &str, code, status, exc: &str| {
        (
            triple,
            "POST".to_string(),
            "org.demo.Greeter".to_string(),
            format!("/org.demo.Greeter/{m}"),
            "1.0.0".to_string(),
            Some(code),
            status,
            exc.to_string(),
        )
    };
    assert_eq!(
        got,
        [
            row("greet", 200, 0, ""),
            row("fail", 404, 4, "no such greeting")
        ]
    );
    assert_eq!(out.l4[0].l7_protocol, triple);
    let p = plain.finish();
    assert_eq!(p.l7[0].l7_protocol, L7Protocol::Http1.id());
    assert_eq!(s(&p.l7[0].response_exception), "Not Found");
    assert_eq!(p.l4[0].l7_protocol, L7Protocol::Http1.id());
}
