//! `tag_extraction.raw` on a live capture: a real HTTP/1.1 service (Python's http.server,
//! `tests/clients/http_errors.py`) in one namespace answers a success, a 404 and a 503 to a
//! client in another, and `tapflow run` captures the mirrored port (`netns::SpanLab`). The
//! failed exchanges' rows must carry the bytes the server and the client really sent (DeepFlow's
//! default of 256 bytes of an error response's body, plus the request's head and body as
//! configured); the success carries none. The same service writing each response's head and
//! body apart (http.server's default) must give the same rows. Needs root and python3.

use std::process::Stdio;

mod live_support;
mod netns;
use live_support::{
    client_ok, client_script, have, l7_rows, run_tapflow, stop_capture, wait_capturing, wait_until,
    Killed,
};
use netns::{is_root, SpanLab};

#[test]
fn failed_requests_carry_what_was_sent() {
    if !is_root() || !have("python3") {
        eprintln!("skipped: needs root and python3");
        return;
    }
    let dir = std::env::temp_dir().join(format!("tapflow-http-errors-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let lab = SpanLab::new("he");
    let script = client_script("http_errors.py");
    let _servers = [("serve", "8080"), ("serve-apart", "8081")].map(|(how, port)| {
        Killed(
            lab.in_server(&["python3", &script, how, lab.server_ip, port])
                .stdout(Stdio::null())
                .spawn()
                .expect("server"),
        )
    });
    wait_until("the servers", 10, || {
        lab.server_port_open(8080) && lab.server_port_open(8081)
    });

    let cfg = dir.join("raw.yaml");
    std::fs::write(
        &cfg,
        "processors:\n  request_log:\n    tag_extraction:\n      raw:\n        \
         error_request_header: 64\n        error_request_payload: 64\n",
    )
    .expect("config");
    let out = dir.join("out");
    let mut run = run_tapflow(&lab.capture, 60, Some(&cfg), &out);
    wait_capturing(&mut run, &out);
    for port in ["8080", "8081"] {
        client_ok(lab.in_client(&["python3", &script, "ask", lab.server_ip, port]));
    }
    stop_capture(&mut run);

    let rows = l7_rows(&out);
    for port in [8080, 8081] {
        check(&rows, port);
    }
    lab.cleanup();
    let _ = std::fs::remove_dir_all(&dir);
}

/// The rows of the three requests to the server on `port`.
fn check(rows: &[serde_json::Value], port: u16) {
    let by_path = |p: &str| -> &serde_json::Value {
        rows.iter()
            .find(|r| r["request_resource"] == p && r["server_port"] == port)
            .unwrap_or_else(|| panic!("no row of {p} on {port}: {rows:#?}"))
    };
    let text = |r: &serde_json::Value, a: &str| -> String {
        r["attributes"][a].as_str().unwrap_or_default().to_string()
    };

    let ok = by_path("/ok");
    assert_eq!(
        (ok["response_code"].as_i64(), ok["response_status"].as_u64()),
        (Some(200), Some(0))
    );
    assert!(
        ok.get("attributes").is_none(),
        "a success keeps nothing: {ok}"
    );

    let missing = by_path("/missing");
    assert_eq!(missing["response_code"], 404);
    let head = text(missing, "request_header");
    assert!(head.starts_with("GET /missing HTTP/1.1\r\n"), "{missing}");
    assert_eq!(head.len(), 64, "cut to error_request_header: {missing}");
    let page = text(missing, "response_payload");
    assert!(
        page.contains("Error code: 404") && page.contains("no route to /missing"),
        "http.server's error page: {missing}"
    );
    assert!(page.len() <= 256, "DeepFlow's default size: {missing}");
    assert!(
        missing["attributes"].get("request_payload").is_none(),
        "a GET has no body"
    );

    let pay = by_path("/pay");
    assert_eq!(
        (
            pay["response_code"].as_i64(),
            pay["response_status"].as_u64()
        ),
        (Some(503), Some(3))
    );
    assert!(
        text(pay, "request_header").starts_with("POST /pay HTTP/1.1\r\n"),
        "{pay}"
    );
    assert_eq!(text(pay, "request_payload"), r#"{"amount": 42}"#, "{pay}");
    assert_eq!(
        text(pay, "response_payload"),
        r#"{"error":"db is down"}"#,
        "{pay}"
    );
    assert!(
        pay["attributes"].get("response_header").is_none(),
        "not asked for"
    );
    // The rows keep the times of the response heads.
    for r in [ok, missing, pay] {
        assert!(r["response_duration"].as_u64().unwrap_or(0) > 0, "{r}");
    }
}
