//! Triple request logs from a live capture: Apache Dubbo's JavaScript implementation
//! (`@apachedubbo/dubbo` and `@apachedubbo/dubbo-node` from npm, installed by the test command
//! into target/test-npm) as both the server and the client (`tests/clients/triple_peer.js`), the
//! server in one namespace, the client in another, the server's port mirrored to the interface
//! `tapflow run` captures (`netns::SpanLab`). The client calls service `org.demo.Greeter`,
//! version 1.0.0, with the Triple protocol over HTTP/2, and again over HTTP/1.1 (Triple's unary
//! form): `greet` three times and `fail`, which the server refuses with NOT_FOUND (HTTP 404, its
//! message in a JSON body). The rows must be Triple rows (DeepFlow's id 49) with the service
//! version as their version, the refusal's message as its exception, and the flow a Triple flow.
//! Needs root and Node.js (scripts/test.sh installs the packages).

use std::process::Stdio;

mod live_support;
mod netns;
use live_support::Killed;
use live_support::{
    client_ok, client_script, l7_rows, npm_modules, protocols_config, run_tapflow, stop_capture,
    wait_capturing, wait_until,
};
use netns::{is_root, SpanLab};

#[test]
fn triple_calls_and_a_refusal_are_logged_with_their_service_version() {
    triple_over("2", 50071, "tr", "Triple");
}

#[test]
fn triple_over_http1_is_logged_as_triple() {
    // HTTP/1.1 is HTTP's parser: HTTP must be on (it is by default).
    triple_over("1.1", 50072, "t1", "HTTP, Triple");
}

/// The calls over HTTP `http` ("2" or "1.1") to a server on `port`, in lab `tag`, with
/// `protocols` enabled.
fn triple_over(http: &str, port_number: u16, tag: &str, protocols: &str) {
    let Some(modules) = npm_modules("@apachedubbo/dubbo-node").filter(|_| is_root()) else {
        eprintln!(
            "skipped: needs root, node and @apachedubbo/dubbo-node (scripts/test.sh installs them)"
        );
        return;
    };
    let dir = std::env::temp_dir().join(format!("tapflow-triple-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let lab = SpanLab::new(tag);
    let script = client_script("triple_peer.js");
    let port = port_number.to_string();
    let _server = Killed(
        lab.in_server(&[
            "node",
            &script,
            &modules,
            "serve",
            lab.server_ip,
            &port,
            http,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("triple server"),
    );
    wait_until("triple server", 15, || lab.server_port_open(port_number));
    // Naming Triple turns HTTP/2 on, as in DeepFlow.
    let config = protocols_config(&dir, protocols);
    let out = dir.join("live");
    let mut run = run_tapflow(&lab.capture, 60, Some(&config), &out);
    wait_capturing(&mut run, &out);
    client_ok(lab.in_client(&[
        "node",
        &script,
        &modules,
        "client",
        lab.server_ip,
        &port,
        http,
    ]));
    stop_capture(&mut run);

    let rows = l7_rows(&out);
    let got: Vec<(String, u64, u64)> = rows
        .iter()
        .map(|r| {
            assert_eq!(r["l7_protocol"], 49, "{r}");
            assert_eq!(r["l7_protocol_str"], "Triple", "{r}");
            assert_eq!(r["request_type"], "POST", "{r}");
            assert_eq!(r["request_resource"], "org.demo.Greeter", "{r}");
            assert_eq!(r["version"], "1.0.0", "{r}");
            assert_eq!(r["type"], 2, "{r}");
            assert_eq!(r["ip_0"], lab.client_ip, "{r}");
            assert!(r["response_duration"].as_u64() > Some(0), "{r}");
            (
                r["endpoint"].as_str().unwrap_or("").to_string(),
                r["response_code"].as_u64().unwrap_or(0),
                r["response_status"].as_u64().unwrap_or(99),
            )
        })
        .collect();
    let greet = ("/org.demo.Greeter/greet".to_string(), 200, 0);
    assert_eq!(
        got,
        [
            greet.clone(),
            greet.clone(),
            greet,
            // NOT_FOUND travels as HTTP 404 in Triple's own unary form: a client error.
            ("/org.demo.Greeter/fail".to_string(), 404, 4),
        ],
        "{rows:#?}"
    );
    // The server's message comes in the error's JSON body.
    assert_eq!(
        rows[3]["response_exception"], "no such greeting",
        "{rows:#?}"
    );
    let l4 = std::fs::read_to_string(out.join("l4_flow_log.jsonl")).expect("l4");
    // The flow's last row: when the run crosses a minute just after the connection opens, the
    // minute's row comes first, written before the first request showed it was Triple.
    let flow: serde_json::Value = l4
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json"))
        .rfind(|r| r["server_port"] == port_number)
        .expect("the Triple flow");
    assert_eq!(flow["l7_protocol_str"], "Triple", "{flow}");
    lab.cleanup();
    let _ = std::fs::remove_dir_all(&dir);
}
