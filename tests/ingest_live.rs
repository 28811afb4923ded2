//! The DeepFlow data path with live captures (root): `tapflow run` agents on veth pairs sending to
//! `tapflow server --ingest-listen`, with a controller and a token, and through a server outage.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

mod ingest_support;
mod netns;
mod procs;
use ingest_support::{
    analyze_to, assert_same_rows, gen, read_json, start_server, tables, tempdir, Server, TOKEN,
};
use netns::{is_root, VethNs};
use procs::Proc;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_tapflow");

fn live_root_only() -> bool {
    if !is_root() {
        eprintln!("skipped: live capture needs root (CI runs as root)");
        return false;
    }
    true
}

/// `tapflow ctl ... -o json` against the plaintext server with the token.
fn ctl_json(s: &Server, args: &[&str]) -> Value {
    let o = Command::new(BIN)
        .args(["ctl", "--server", &s.grpc, "--plaintext", "-o", "json"])
        .args(args)
        .env("TAPFLOW_TOKEN", TOKEN)
        .output()
        .expect("ctl");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).expect("json")
}

/// A live `tapflow run` on `iface` sending to `ingester` (None: to the address its controller's
/// configuration gives); with `controller`, it syncs with it (its agent id comes from there) as
/// `name`, in `group` when given.
fn run_agent(
    iface: &str,
    out: &Path,
    ingester: Option<&str>,
    controller: Option<(&Server, &str, &str)>,
    group: Option<&str>,
) -> Proc {
    let mut args = vec![
        "run",
        "--engine",
        "af_packet",
        "--iface",
        iface,
        "--out",
        out.to_str().expect("utf8"),
    ];
    if let Some(i) = ingester {
        args.extend(["--ingester", i]);
    }
    if let Some(g) = group {
        args.extend(["--group", g]);
    }
    if let Some((s, name, mac)) = controller {
        args.extend([
            "--controller",
            &s.grpc,
            "--plaintext",
            "--ctrl-ip",
            "127.0.0.1",
            "--ctrl-mac",
            mac,
            "--host",
            name,
            "--sync-interval",
            "1s",
        ]);
    }
    Proc::spawn_env(&args, &[("TAPFLOW_TOKEN", TOKEN)])
}

/// Two live agents on their own veth pairs, registered with a server that has a token: each gets
/// its agent id from the controller, and every record of each arrives once under that id. Agent
/// a is told where the ingester is by `--ingester`, agent b by its group's configuration
/// (`global.communication.ingester_ip` / `ingester_port` from the controller). A sender the
/// control plane does not know is refused (counted), its records not stored.
#[test]
fn live_agents_with_a_controller_and_token() {
    if !live_root_only() {
        return;
    }
    let dir = tempdir("live");
    let s = start_server(&dir.join("server"), "127.0.0.1:0", true);
    let (na, nb) = (
        VethNs::with_mtu("ia", "1500"),
        VethNs::with_mtu("ib", "1500"),
    );
    let (oa, ob) = (dir.join("out-a"), dir.join("out-b"));
    let group = ctl_json(&s, &["agent-group", "create", "mirrors"])[0]["id"]
        .as_str()
        .expect("group id")
        .to_string();
    let (host, port) = s.ingest.split_once(':').expect("host:port");
    let cfg = dir.join("group.yaml");
    std::fs::write(
        &cfg,
        format!(
            "vtap_group_id: {group}\nglobal:\n  communication:\n    ingester_ip: {host}\n    ingester_port: {port}\n  self_monitoring:\n    interval: 1s\n"
        ),
    )
    .expect("write");
    let o = Command::new(BIN)
        .args([
            "ctl",
            "--server",
            &s.grpc,
            "--plaintext",
            "agent-group-config",
            "create",
            "-f",
        ])
        .arg(&cfg)
        .env("TAPFLOW_TOKEN", TOKEN)
        .output()
        .expect("ctl");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let a = run_agent(
        &na.host,
        &oa,
        Some(&s.ingest),
        Some((&s, "agent-a", "02:00:00:00:0a:01")),
        None,
    );
    let b = run_agent(
        &nb.host,
        &ob,
        None,
        Some((&s, "agent-b", "02:00:00:00:0b:01")),
        Some(&group),
    );
    // Both registered, and a sync later their ids are in force.
    let mut ids = BTreeMap::new();
    for _ in 0..100 {
        let agents = ctl_json(&s, &["agent", "list"]);
        for a in agents.as_array().into_iter().flatten() {
            if let (Some(h), Some(id)) = (a["host"].as_str(), a["id"].as_u64()) {
                ids.insert(h.to_string(), id as u16);
            }
        }
        if ids.contains_key("agent-a") && ids.contains_key("agent-b") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        ids.contains_key("agent-a") && ids.contains_key("agent-b"),
        "agents registered: {ids:?}"
    );
    std::thread::sleep(Duration::from_millis(2500));
    let pa = gen(&dir, "a", 8, 0, 60);
    let pb = gen(&dir, "b", 9, 2000, 60);
    na.replay(&pa, "3000");
    nb.replay(&pb, "3000");
    // Long enough for agent b's next self-monitoring report (every second) to count the frames.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        a.stop_within(Duration::from_secs(20)),
        "agent a did not stop cleanly"
    );
    assert!(
        b.stop_within(Duration::from_secs(20)),
        "agent b did not stop cleanly"
    );
    // A sender with an id the server never gave.
    let stranger = dir.join("out-x");
    let px = gen(&dir, "x", 10, 4000, 10);
    let st = analyze_to(&px, &stranger, &s.ingest, 999);
    assert!(
        st["ingester.records_sent"].as_u64().unwrap_or(0) > 0,
        "{st}"
    );
    for (name, out) in [("a", &oa), ("b", &ob)] {
        let st = read_json(&out.join("stats.json"));
        assert_eq!(st["ingester.records_dropped"], 0, "agent {name}: {st}");
        assert_eq!(st["ingester.records_queued"], 0, "agent {name}: {st}");
    }
    assert!(s.proc.stop(), "the server did not stop cleanly");
    let id = |h: &str| *ids.get(h).unwrap_or_else(|| panic!("agent {h} in {ids:?}"));
    assert_same_rows(
        &[(id("agent-a"), &oa), (id("agent-b"), &ob)],
        &s.records,
        200,
    );
    let stats = read_json(&s.records.join("ingest-stats.json"));
    assert!(
        stats["rejected_agents"].as_u64().unwrap_or(0) >= 1,
        "{stats}"
    );
    // Agent b reports its own counters every second (its group's `self_monitoring.interval`),
    // as DeepflowStats frames: `deepflow_system` rows, one per module, under its id.
    let system = std::fs::read_to_string(s.records.join("deepflow_system.jsonl")).expect("rows");
    let rows: Vec<Value> = system
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    let b_agent: Vec<&Value> = rows
        .iter()
        .filter(|r| r["agent_id"] == id("agent-b") && r["virtual_table_name"] == "tapflow_agent")
        .collect();
    assert!(b_agent.len() >= 2, "reports of agent b: {rows:?}");
    let last = b_agent.last().expect("a report");
    assert_eq!(last["tag_names"][0], "host");
    let names = last["metrics_float_names"].as_array().expect("names");
    let frames = names.iter().position(|n| n == "frames").expect("frames");
    assert!(
        last["metrics_float_values"][frames].as_f64().unwrap_or(0.0) > 0.0,
        "{last}"
    );
    assert!(rows
        .iter()
        .any(|r| r["virtual_table_name"] == "tapflow_ingester" && r["agent_id"] == id("agent-b")));
    assert!(
        stats["deepflow_stats"].as_u64().unwrap_or(0) >= 2,
        "{stats}"
    );
}

/// The server is killed while a live agent sends and started again on the same port: the agent
/// reconnects, records after the restart arrive, what was lost is counted, nothing crashes.
#[test]
fn server_outage_and_restart() {
    if !live_root_only() {
        return;
    }
    let dir = tempdir("outage");
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let ingest = format!("127.0.0.1:{port}");
    let s1 = start_server(&dir.join("server1"), &ingest, false);
    let net = VethNs::with_mtu("io", "1500");
    let out = dir.join("out");
    let agent = run_agent(&net.host, &out, Some(&ingest), None, None);
    std::thread::sleep(Duration::from_millis(1500));
    net.replay(&gen(&dir, "one", 11, 0, 40), "4000");
    std::thread::sleep(Duration::from_millis(1500));
    // Killed, not stopped: what it held is gone.
    drop(s1);
    net.replay(&gen(&dir, "two", 12, 1000, 40), "4000");
    std::thread::sleep(Duration::from_secs(2));
    let s2 = start_server(&dir.join("server2"), &ingest, false);
    net.replay(&gen(&dir, "three", 13, 2000, 40), "4000");
    // Reconnect backoff is at most 15 s; flows are reported when they end or at the stop.
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        agent.stop_within(Duration::from_secs(30)),
        "the agent did not stop cleanly"
    );
    assert!(s2.proc.stop(), "the server did not stop cleanly");
    let st = read_json(&out.join("stats.json"));
    assert!(st["ingester.connects"].as_u64().unwrap_or(0) >= 2, "{st}");
    assert!(st["ingester.failures"].as_u64().unwrap_or(0) >= 1, "{st}");
    let written: usize = tables(&out).values().map(Vec::len).sum();
    let stored = tables(&s2.records);
    let after: usize = stored.values().map(Vec::len).sum();
    assert!(after > 0, "nothing arrived after the restart");
    let sent = st["ingester.records_sent"].as_u64().unwrap_or(0) as usize;
    let dropped = st["ingester.records_dropped"].as_u64().unwrap_or(0) as usize;
    assert!(sent + dropped <= written, "{st}: {written} written");
    let stored_l4 = stored.get("l4_flow_log").cloned().unwrap_or_default();
    assert!(!stored_l4.is_empty(), "l4 rows after the restart");
}
