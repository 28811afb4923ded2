//! NATS against a real `nats-server` (Debian's), captured live from a SPAN port
//! (`netns::SpanLab`): `tests/clients/nats_client.py` (sockets; Debian has no NATS client) runs a
//! service, a requester (trace header, a request without responders, a plain publish) and a
//! verbose client whose oversized publish the server refuses. The rows must be that workload.
//! Needs root and nats-server (scripts/test.sh installs it).

use std::process::Stdio;

mod live_support;
mod netns;
use live_support::{
    client_ok, client_script, have, l7_rows, protocols_config, run_tapflow, stats, stop_capture,
    wait_capturing, wait_until, Killed,
};
use netns::{is_root, SpanLab};

type Row = (String, String, u64, u64, Option<i64>, String);

#[test]
fn nats_server_workload_is_logged() {
    if !is_root() || !have("/usr/sbin/nats-server") || !have("python3") {
        eprintln!("skipped: needs root, nats-server and python3 (scripts/test.sh installs them)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("tapflow-nats-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let lab = SpanLab::new("nt");
    let conf = dir.join("nats.conf");
    std::fs::write(&conf, "max_payload: 1024\n").unwrap();
    let _server = Killed(
        lab.in_server(&["/usr/sbin/nats-server", "-a", lab.server_ip, "-p", "4222"])
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server"),
    );
    wait_until("nats-server", 10, || lab.server_port_open(4222));
    let config = protocols_config(&dir, "HTTP, NATS");
    let out = dir.join("live");
    let mut run = run_tapflow(&lab.capture, 60, Some(&config), &out);
    wait_capturing(&mut run, &out);
    let client = client_script("nats_client.py");
    client_ok(lab.in_client(&["python3", &client, lab.server_ip, "4222"]));
    stop_capture(&mut run);

    let rows = l7_rows(&out);
    assert!(rows.iter().all(|r| r["l7_protocol"] == 104), "{rows:?}");
    assert!(rows
        .iter()
        .all(|r| r["version"].as_str().is_some_and(|v| v.starts_with("2."))));
    let mut got: Vec<Row> = rows
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
            (
                s("request_type"),
                s("request_resource"),
                r["type"].as_u64().unwrap(),
                r["response_status"].as_u64().unwrap(),
                r["response_code"].as_i64(),
                s("response_exception"),
            )
        })
        .collect();
    got.sort();
    let mut want: Vec<Row> = [
        // Three connections: each gets INFO and sends CONNECT.
        ("INFO", "", 0, 0, None, ""),
        ("INFO", "", 0, 0, None, ""),
        ("INFO", "", 0, 0, None, ""),
        ("CONNECT", "", 0, 0, None, ""),
        ("CONNECT", "", 0, 0, None, ""),
        // The verbose client's CONNECT is answered by +OK.
        ("CONNECT", "", 2, 0, None, ""),
        // service 2, requester 3, verbose client 1.
        ("PING", "", 2, 0, None, ""),
        ("PING", "", 2, 0, None, ""),
        ("PING", "", 2, 0, None, ""),
        ("PING", "", 2, 0, None, ""),
        ("PING", "", 2, 0, None, ""),
        ("PING", "", 2, 0, None, ""),
        ("SUB", "svc.echo", 0, 0, None, ""),
        ("SUB", "_INBOX.b.*", 0, 0, None, ""),
        ("SUB", "a.b", 2, 0, None, ""),
        // The requester's request, answered on its inbox by the service; the service's view
        // of the same request, answered by its PUB to the inbox.
        ("HPUB", "svc.echo", 2, 0, None, ""),
        ("HMSG", "svc.echo", 2, 0, None, ""),
        ("PUB", "nobody.home", 2, 3, Some(503), "No Responders"),
        ("PUB", "events.x", 0, 0, None, ""),
        ("PUB", "a.b", 2, 0, None, ""),
        ("MSG", "a.b", 0, 0, None, ""),
        ("PUB", "a.b", 2, 4, None, "Maximum Payload Violation"),
    ]
    .iter()
    .map(|(a, b, c, d, e, f)| (a.to_string(), b.to_string(), *c, *d, *e, f.to_string()))
    .collect();
    want.sort();
    assert_eq!(got, want);
    for r in rows
        .iter()
        .filter(|r| r["request_resource"] == "svc.echo" && r["type"] == 2)
    {
        assert_eq!(r["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736", "{r}");
    }
    let stats = stats(&out);
    assert_eq!(stats["kernel_drops"], 0);
    let _ = std::fs::remove_dir_all(&dir);
}
