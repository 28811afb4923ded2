//! memcached against a real `memcached` (Debian's), captured live from a SPAN port
//! (`netns::SpanLab`): the server in one namespace, a Python client speaking the text and the
//! binary protocol (`tests/clients/memcached_client.py`, which checks every reply) in another,
//! `tapflow run` on the interface the server's port is mirrored to. The rows must be the
//! workload the client ran. Needs root and memcached (scripts/test.sh installs it).

use std::process::Stdio;

mod live_support;
mod netns;
use live_support::{
    client_ok, client_script, have, l7_rows, protocols_config, run_tapflow, stats, stop_capture,
    wait_capturing, wait_until, Killed,
};
use netns::{is_root, SpanLab};

#[test]
fn memcached_text_and_binary_workload_is_logged() {
    if !is_root() || !have("memcached") || !have("python3") {
        eprintln!("skipped: needs root, memcached and python3 (scripts/test.sh installs them)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("tapflow-memcached-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let lab = SpanLab::new("mc");
    let _server = Killed(
        lab.in_server(&[
            "memcached",
            "-u",
            "root",
            "-l",
            lab.server_ip,
            "-p",
            "11211",
        ])
        .args(["-U", "0", "-m", "64"])
        .stdout(Stdio::null())
        .spawn()
        .expect("memcached"),
    );
    wait_until("memcached", 10, || lab.server_port_open(11211));
    let config = protocols_config(&dir, "HTTP, Memcached");
    let out = dir.join("live");
    let mut run = run_tapflow(&lab.capture, 60, Some(&config), &out);
    wait_capturing(&mut run, &out);
    let client = client_script("memcached_client.py");
    client_ok(lab.in_client(&["python3", &client, lab.server_ip, "11211"]));
    stop_capture(&mut run);

    let rows = l7_rows(&out);
    assert!(rows.iter().all(|r| r["l7_protocol"] == 82));
    let got: Vec<(String, String, u64, u64, String)> = rows
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
            let n = |k: &str| r[k].as_u64().unwrap_or(99);
            let result = s("response_result");
            // Only the first word of version strings and numbers is fixed.
            let result = match result.split(' ').next() {
                Some("VERSION") => "VERSION".to_string(),
                _ => result,
            };
            (
                s("request_type"),
                s("request_resource"),
                n("type"),
                n("response_status"),
                result,
            )
        })
        .collect();
    let want: Vec<(String, String, u64, u64, String)> = [
        ("set", "set greeting 0 0 11", 2, 0, "STORED"),
        ("get", "get greeting missing", 2, 0, "VALUE greeting 0 11"),
        ("get", "get missing", 2, 0, "END"),
        (
            "incr",
            "incr greeting 1",
            2,
            4,
            "CLIENT_ERROR cannot increment or decrement non-numeric value",
        ),
        ("set", "set n 0 0 1 noreply", 0, 0, ""),
        ("incr", "incr n 10", 2, 0, "15"),
        ("delete", "delete n", 2, 0, "DELETED"),
        ("set", "set big 0 0 300000", 2, 0, "STORED"),
        ("get", "get big", 2, 0, "VALUE big 0 300000"),
        // `bogus` is not a command: not a request row; the server's ERROR is a reply alone.
        ("", "", 1, 4, "ERROR"),
        ("version", "version", 2, 0, "VERSION"),
        ("quit", "quit", 0, 0, ""),
        ("Set", "k1", 2, 0, ""),
        ("Get", "k1", 2, 0, ""),
        ("Get", "missing", 2, 0, ""),
        ("Increment", "k1", 2, 4, ""),
        ("GetQ", "missing", 0, 0, ""),
        ("GetQ", "k1", 0, 0, ""),
        ("Noop", "", 2, 0, ""),
    ]
    .iter()
    .map(|(a, b, c, d, e)| (a.to_string(), b.to_string(), *c, *d, e.to_string()))
    .collect();
    assert_eq!(got, want);
    let stats = stats(&out);
    assert_eq!(
        stats["l7.memcached.noreply"], 4,
        "noreply set, quit, two GetQ"
    );
    assert_eq!(stats["l7.memcached.quiet_replies"], 1);
    assert_eq!(stats["kernel_drops"], 0);
    let _ = std::fs::remove_dir_all(&dir);
}
