//! FastCGI on a live capture: a real FastCGI application server (Debian's fcgiwrap, running a
//! CGI script) in one namespace, a real FastCGI client (libfcgi's `cgi-fcgi`, as a web server
//! would send the requests) in another, `tapflow run` on the interface the server's port is
//! mirrored to (`netns::SpanLab`). Each request must be one `l7_flow_log` row with the CGI
//! parameters' fields and the CGI status. Needs root, fcgiwrap and cgi-fcgi.

use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;

mod live_support;
mod netns;
use live_support::{
    have, l7_rows, protocols_config, run_tapflow, stop_capture, wait_capturing, wait_until, Killed,
};
use netns::{is_root, SpanLab};

const APP: &str = r#"#!/bin/sh
case "$REQUEST_URI" in
  /ok*) printf 'Content-Type: text/plain\r\n\r\nfine\n' ;;
  /pay*) cat >/dev/null; printf 'Status: 500 Payment Backend Down\r\nContent-Type: application/json\r\n\r\n{"error":"down"}' ;;
  *) printf 'Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\nno route to %s\n' "$REQUEST_URI" ;;
esac
"#;

const TRACEPARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

#[test]
fn fcgiwrap_requests_become_rows() {
    let fcgiwrap = "/usr/sbin/fcgiwrap";
    if !is_root() || !have(fcgiwrap) || !have("cgi-fcgi") {
        eprintln!("skipped: needs root, fcgiwrap and cgi-fcgi (libfcgi-bin)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("tapflow-fastcgi-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let app = dir.join("app.sh");
    std::fs::write(&app, APP).expect("app");
    std::fs::set_permissions(&app, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let lab = SpanLab::new("fc");
    let listen = format!("tcp:{}:9000", lab.server_ip);
    let _server = Killed(
        lab.in_server(&[fcgiwrap, "-s", &listen])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("fcgiwrap"),
    );
    wait_until("fcgiwrap", 10, || lab.server_port_open(9000));

    let cfg = protocols_config(&dir, "HTTP, FastCGI");
    let out = dir.join("out");
    let mut run = run_tapflow(&lab.capture, 60, Some(&cfg), &out);
    wait_capturing(&mut run, &out);
    let connect = format!("{}:9000", lab.server_ip);
    for (method, uri, body) in [
        ("GET", "/ok?page=1", ""),
        ("GET", "/missing", ""),
        ("POST", "/pay", "amount=42"),
    ] {
        let len = body.len().to_string();
        let script = app.to_str().unwrap();
        let mut c = lab.in_client(&[
            "env",
            "-i",
            &format!("SCRIPT_FILENAME={script}"),
            &format!("REQUEST_METHOD={method}"),
            &format!("REQUEST_URI={uri}"),
            "DOCUMENT_URI=/app.sh",
            "SCRIPT_NAME=/app.sh",
            "QUERY_STRING=",
            "SERVER_PROTOCOL=HTTP/1.1",
            "GATEWAY_INTERFACE=CGI/1.1",
            "HTTP_HOST=shop.example",
            "HTTP_USER_AGENT=curl/8.0",
            &format!("HTTP_TRACEPARENT={TRACEPARENT}"),
            &format!("CONTENT_LENGTH={len}"),
            "cgi-fcgi",
            "-bind",
            "-connect",
            &connect,
        ]);
        c.stdin(Stdio::piped()).stdout(Stdio::piped());
        let mut child = c.spawn().expect("cgi-fcgi");
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(body.as_bytes())
            .expect("body");
        let reply = child.wait_with_output().expect("cgi-fcgi");
        assert!(!reply.stdout.is_empty(), "{method} {uri}: no answer");
    }
    stop_capture(&mut run);

    let rows: Vec<_> = l7_rows(&out)
        .into_iter()
        .filter(|r| r["l7_protocol_str"] == "FastCGI")
        .collect();
    assert_eq!(rows.len(), 3, "{rows:#?}");
    let by = |uri: &str| {
        rows.iter()
            .find(|r| r["request_resource"] == uri)
            .unwrap_or_else(|| panic!("no row of {uri}: {rows:#?}"))
    };
    for (uri, method, code, status) in [
        ("/ok?page=1", "GET", 200, 0),
        ("/missing", "GET", 404, 4),
        ("/pay", "POST", 500, 3),
    ] {
        let r = by(uri);
        assert_eq!(r["type"], 2, "{r}");
        assert_eq!(r["request_type"], method, "{r}");
        assert_eq!(
            (r["response_code"].as_i64(), r["response_status"].as_u64()),
            (Some(code), Some(status)),
            "{r}"
        );
        assert_eq!(r["request_domain"], "shop.example", "{r}");
        assert_eq!(r["endpoint"], "/app.sh", "{r}");
        assert_eq!(r["http_user_agent"], "curl/8.0", "{r}");
        assert_eq!(r["trace_id"], "0af7651916cd43dd8448eb211c80319c", "{r}");
        assert_eq!(r["server_port"], 9000, "{r}");
        assert!(r["response_duration"].as_u64().unwrap_or(0) > 0, "{r}");
    }
    assert_eq!(by("/missing")["response_exception"], "Not Found");
    assert_eq!(by("/pay")["request_length"], 9);
    assert_eq!(by("/pay")["response_exception"], "Payment Backend Down");
    lab.cleanup();
    let _ = std::fs::remove_dir_all(&dir);
}
