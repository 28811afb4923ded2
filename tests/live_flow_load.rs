//! `flow_load` (DeepFlow's concurrent connections) on a live capture: a client in one namespace
//! opens a pool of connections to Debian's `redis-server` in another
//! (`tests/clients/redis_pool.py`), one connection stays busy for seconds while the others sit
//! idle, then all close; `tapflow run` captures the mirrored port (`netns::SpanLab`) with
//! 1-second metrics. Every second the busy connection has a row in, the path's `network_map`
//! document must count the whole pool, idle connections included (the count a row-per-flow sum
//! would miss), and so must the service's server-end `network` document; the minute document
//! too. Needs root, python3 and redis-server.

use std::path::Path;

mod live_support;
mod netns;
use live_support::{have, run_tapflow, wait_capturing, wait_until, Killed};
use netns::{is_root, SpanLab};

const PORT: &str = "6391";
const POOL: u64 = 6;

fn docs(out: &Path, file: &str) -> Vec<serde_json::Value> {
    std::fs::read_to_string(out.join(file))
        .unwrap_or_else(|e| panic!("{file}: {e}"))
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect()
}

#[test]
fn a_pool_of_idle_connections_counts_in_every_second() {
    if !is_root() || !have("python3") || !have("redis-server") {
        eprintln!("skipped: needs root, python3 and redis-server (scripts/test.sh installs it)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("tapflow-flow-load-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let lab = SpanLab::new("fl");
    let _server = Killed(lab.redis_server(PORT, &dir));
    wait_until("redis-server", 10, || {
        lab.server_port_open(PORT.parse().expect("port"))
    });
    let cfg = dir.join("second.yaml");
    std::fs::write(
        &cfg,
        "outputs:\n  flow_metrics:\n    filters:\n      second_metrics: true\n",
    )
    .expect("config");
    let out = dir.join("out");
    let mut run = run_tapflow(&lab.capture, 9, Some(&cfg), &out);
    wait_capturing(&mut run, &out);
    let script = live_support::client_script("redis_pool.py");
    let pool = lab
        .in_client(&[
            "python3",
            &script,
            lab.server_ip,
            PORT,
            &POOL.to_string(),
            "4",
        ])
        .output()
        .expect("client");
    assert!(
        pool.status.success(),
        "{}",
        String::from_utf8_lossy(&pool.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&pool.stdout).lines().count() as u64,
        POOL
    );
    assert!(run.wait().expect("wait").success(), "tapflow run failed");

    let service = |d: &&serde_json::Value| d["server_port"] == 6391;
    let seconds = docs(&out, "flow_metrics.network_map.1s.jsonl");
    let seconds: Vec<&serde_json::Value> = seconds.iter().filter(service).collect();
    // Seconds the busy connection alone had rows in (no connection opened or closed).
    let busy: Vec<&&serde_json::Value> = seconds
        .iter()
        .filter(|d| d["new_flow"] == 0 && d["closed_flow"] == 0)
        .collect();
    assert!(busy.len() >= 2, "{seconds:#?}");
    for d in &busy {
        assert_eq!(d["flow_load"], POOL, "the idle connections count: {d}");
    }
    // The busy connection's PINGs (one each 200 ms): a second of them, from one connection.
    assert!(
        busy.iter().any(|d| d["l7_request"].as_u64() >= Some(4)),
        "{busy:#?}"
    );
    let opened: u64 = seconds
        .iter()
        .map(|d| d["new_flow"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(opened, POOL);
    // The service's end sums its clients' paths: one client here.
    let ends = docs(&out, "flow_metrics.network.1s.jsonl");
    let server_end: Vec<&serde_json::Value> = ends
        .iter()
        .filter(service)
        .filter(|d| d["direction"] == 2 && d["new_flow"] == 0 && d["closed_flow"] == 0)
        .collect();
    assert!(!server_end.is_empty());
    assert!(
        server_end.iter().all(|d| d["flow_load"] == POOL),
        "{server_end:#?}"
    );
    // Each minute the pool was open in: the whole pool.
    let minutes = docs(&out, "flow_metrics.network_map.1m.jsonl");
    let minutes: Vec<&serde_json::Value> = minutes.iter().filter(service).collect();
    assert!(!minutes.is_empty());
    assert!(
        minutes.iter().all(|d| d["flow_load"] == POOL),
        "{minutes:#?}"
    );
    lab.cleanup();
    let _ = std::fs::remove_dir_all(&dir);
}
