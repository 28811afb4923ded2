//! DeepFlow's health-check aggregation on a live capture: a TCP listener in one namespace, a
//! client that probes it as a load balancer's tcp-check does (connect, then reset without data:
//! `tests/clients/tcp_probe.py`) in another, `tapflow run` on the interface the server's port is
//! mirrored to (`netns::SpanLab`). The kernel's own probes must be recognised (close type 20)
//! and written as one l4 row with client port 0; with the aggregation off, one row each. Needs
//! root and python3.

use std::process::Stdio;

mod live_support;
mod netns;
use live_support::{
    client_ok, client_script, have, run_tapflow, stats, stop_capture, wait_capturing, wait_until,
    Killed,
};
use netns::{is_root, SpanLab};

const PROBES: usize = 12;

/// The l4 rows a run wrote.
fn l4_rows(out: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(out.join("l4_flow_log.jsonl"))
        .expect("l4_flow_log")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect()
}

/// Probes the lab's listener with `tapflow run` capturing, `aggregate` on or off; its rows.
fn probe_run(lab: &SpanLab, dir: &std::path::Path, aggregate: bool) -> std::path::PathBuf {
    let cfg = dir.join(format!("aggregate-{aggregate}.yaml"));
    std::fs::write(
        &cfg,
        format!(
            "outputs:\n  flow_log:\n    aggregators:\n      \
             aggregate_health_check_l4_flow_log: {aggregate}\n"
        ),
    )
    .expect("config");
    let out = dir.join(format!("live-{aggregate}"));
    let mut run = run_tapflow(&lab.capture, 60, Some(&cfg), &out);
    wait_capturing(&mut run, &out);
    let probe = client_script("tcp_probe.py");
    client_ok(lab.in_client(&[
        "python3",
        &probe,
        lab.server_ip,
        "8080",
        &PROBES.to_string(),
    ]));
    stop_capture(&mut run);
    out
}

#[test]
fn a_load_balancers_probes_become_one_row() {
    if !is_root() || !have("python3") {
        eprintln!("skipped: needs root and python3");
        return;
    }
    let dir = std::env::temp_dir().join(format!("tapflow-probes-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let lab = SpanLab::new("hc");
    let listen = format!(
        "import socket,time\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n\
         s.bind(('{}',8080))\ns.listen(128)\ntime.sleep(120)\n",
        lab.server_ip
    );
    let _server = Killed(
        lab.in_server(&["python3", "-c", &listen])
            .stdout(Stdio::null())
            .spawn()
            .expect("listener"),
    );
    wait_until("the listener", 10, || lab.server_port_open(8080));

    // A probe's flow ends its RST timeout after its reset: when a minute starts meanwhile, it
    // also has a minute row (forced_report) before its closing row (close type 20).
    let each = probe_run(&lab, &dir, false);
    let rows = l4_rows(&each);
    let service: Vec<_> = rows.iter().filter(|r| r["server_port"] == 8080).collect();
    let closing: Vec<_> = service.iter().filter(|r| r["close_type"] == 20).collect();
    let ports: std::collections::BTreeSet<_> =
        closing.iter().map(|r| r["client_port"].as_u64()).collect();
    // The readiness check above connected before the run: not captured.
    assert_eq!(
        (closing.len(), ports.len()),
        (PROBES, PROBES),
        "{service:#?}"
    );
    assert!(!ports.contains(&Some(0)));
    let packets = |rows: &[&serde_json::Value]| -> u64 {
        rows.iter().filter_map(|r| r["packet_tx"].as_u64()).sum()
    };
    assert_eq!(
        packets(&service),
        3 * PROBES as u64,
        "SYN, ACK and RST of each"
    );
    assert_eq!(stats(&each)["health_check.merged"], 0);

    let merged = probe_run(&lab, &dir, true);
    let rows = l4_rows(&merged);
    let service: Vec<_> = rows.iter().filter(|r| r["server_port"] == 8080).collect();
    let closing: Vec<_> = service.iter().filter(|r| r["close_type"] == 20).collect();
    // One closing row, or two when the probes straddle a minute's start (a probe alone in its
    // minute keeps its port).
    assert!((1..=2).contains(&closing.len()), "{service:#?}");
    assert!(
        closing.iter().any(|r| r["client_port"] == 0),
        "{closing:#?}"
    );
    assert_eq!(packets(&service), 3 * PROBES as u64, "{service:#?}");
    assert_eq!(
        stats(&merged)["health_check.merged"],
        (PROBES - closing.len()) as u64
    );
    lab.cleanup();
    let _ = std::fs::remove_dir_all(&dir);
}
