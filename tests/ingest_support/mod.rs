//! Shared by the ingest tests: a `tapflow server` with `--ingest-listen`, generated captures,
//! agents' and server's JSON lines tables, and the row comparison (every field DeepFlow's messages
//! carry, as multisets per table, with each stored row's agent id).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use super::procs::Proc;

const BIN: &str = env!("CARGO_BIN_EXE_tapflow");
pub(crate) const TOKEN: &str = "ingest-token";

/// Row fields DeepFlow's messages have no field for (docs/ingest.md): not compared.
const L4_NOT_CARRIED: &[&str] = &[
    "rtt_client_sum",
    "rtt_client_count",
    "rtt_server_sum",
    "rtt_server_count",
    "reversed",
];
/// The documents' latency histograms (DeepFlow keeps sum/count/max only).
const DOC_NOT_CARRIED: &[&str] = &["rtt", "srt", "art", "rrt"];

pub(crate) fn tempdir(name: &str) -> crate::procs::Scratch {
    crate::procs::Scratch::new("ingest", name)
}

pub(crate) struct Server {
    pub(crate) proc: Proc,
    #[allow(dead_code)] // the live tests' agents sync with it
    pub(crate) grpc: String,
    pub(crate) ingest: String,
    pub(crate) records: PathBuf,
}

/// `tapflow server` (plaintext gRPC) receiving records on `ingest` ("127.0.0.1:0" for any port).
pub(crate) fn start_server(dir: &Path, ingest: &str, token: bool) -> Server {
    let args = [
        "server",
        "--listen",
        "127.0.0.1:0",
        "--plaintext",
        "--data-dir",
        dir.to_str().expect("utf8"),
        "--ingest-listen",
        ingest,
    ];
    let env: &[(&str, &str)] = if token {
        &[("TAPFLOW_TOKEN", TOKEN)]
    } else {
        &[]
    };
    let proc = Proc::spawn_env(&args, env);
    let addr_in = |line: String| {
        line.split_whitespace()
            .find(|w| w.starts_with("127.0.0.1:"))
            .expect("address")
            .to_string()
    };
    let grpc = addr_in(proc.expect("listening on", Duration::from_secs(20)));
    let ingest = addr_in(proc.expect("receiving records on", Duration::from_secs(5)));
    Server {
        proc,
        grpc,
        ingest,
        records: dir.join("records"),
    }
}

/// A generated capture: `flows` conversations of every scenario.
pub(crate) fn gen(dir: &Path, name: &str, seed: u32, first_flow: u32, flows: u32) -> PathBuf {
    let o = Command::new(BIN)
        .args(["gen", "--out", dir.to_str().expect("utf8"), "--name", name])
        .args([
            "--seed",
            &seed.to_string(),
            "--first-flow",
            &first_flow.to_string(),
        ])
        .args(["--flows", &flows.to_string()])
        .output()
        .expect("gen");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    dir.join(format!("{name}.pcap"))
}

/// `tapflow analyze PCAP --ingester ADDR --agent-id ID`; returns its stats.json.
pub(crate) fn analyze_to(pcap: &Path, out: &Path, ingester: &str, agent_id: u16) -> Value {
    analyze_to_with(pcap, out, ingester, agent_id, None)
}

/// [`analyze_to`] with `--config CONFIG`.
pub(crate) fn analyze_to_with(
    pcap: &Path,
    out: &Path,
    ingester: &str,
    agent_id: u16,
    config: Option<&Path>,
) -> Value {
    let mut c = Command::new(BIN);
    c.arg("analyze")
        .arg(pcap)
        .args(["--quiet", "--out", out.to_str().expect("utf8")])
        .args(["--ingester", ingester, "--agent-id", &agent_id.to_string()]);
    if let Some(cfg) = config {
        c.arg("--config").arg(cfg);
    }
    let o = c.output().expect("analyze");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    read_json(&out.join("stats.json"))
}

pub(crate) fn read_json(p: &Path) -> Value {
    let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).expect("json")
}

/// Every `*.jsonl` table in `dir`: name -> rows.
pub(crate) fn tables(dir: &Path) -> BTreeMap<String, Vec<Value>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).expect("dir").flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(table) = name.strip_suffix(".jsonl") else {
            continue;
        };
        let text = std::fs::read_to_string(e.path()).expect("read");
        let rows = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("row"))
            .collect();
        out.insert(table.to_string(), rows);
    }
    out
}

/// A row as comparable text: the fields DeepFlow's messages carry (agent_id taken out).
fn carried(table: &str, mut row: Value) -> String {
    let m = row.as_object_mut().expect("object");
    m.remove("agent_id");
    if table == "l4_flow_log" {
        for k in L4_NOT_CARRIED {
            m.remove(*k);
        }
        // DeepFlow's flow message has no retransmitted-SYN counts: its ingester takes them as
        // the SYNs (SYN-ACKs) less one, which a flow's later row, whose SYNs are all repeats
        // (a SYN retried across a minute), does not meet.
        for (retrans, count) in [
            ("retrans_syn", "syn_count"),
            ("retrans_synack", "synack_count"),
        ] {
            let derived = m
                .get(count)
                .and_then(Value::as_u64)
                .unwrap_or(0)
                .saturating_sub(1);
            m.insert(retrans.to_string(), derived.into());
        }
    }
    if table.starts_with("flow_metrics.") {
        for k in DOC_NOT_CARRIED {
            if m.get(*k).is_some_and(Value::is_object) {
                m.remove(*k);
            }
        }
    }
    serde_json::to_string(&row).expect("json")
}

/// Asserts that the server's rows are exactly the agents' rows (as multisets, per table), and
/// that each server row names its agent.
pub(crate) fn assert_same_rows(agents: &[(u16, &Path)], server: &Path, min_rows: usize) {
    let stored = tables(server);
    let mut total = 0;
    let mut want_tables: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut want_agents: BTreeMap<String, BTreeMap<u64, usize>> = BTreeMap::new();
    for (id, dir) in agents {
        for (t, rows) in tables(dir) {
            total += rows.len();
            *want_agents
                .entry(t.clone())
                .or_default()
                .entry(u64::from(*id))
                .or_default() += rows.len();
            let e = want_tables.entry(t.clone()).or_default();
            e.extend(rows.into_iter().map(|r| carried(&t, r)));
        }
    }
    assert!(total >= min_rows, "the agents wrote {total} rows");
    for (t, mut want) in want_tables {
        let rows = stored.get(&t).cloned().unwrap_or_default();
        let mut by_agent: BTreeMap<u64, usize> = BTreeMap::new();
        for r in &rows {
            *by_agent
                .entry(r["agent_id"].as_u64().unwrap_or(0))
                .or_default() += 1;
        }
        let mut got: Vec<String> = rows.into_iter().map(|r| carried(&t, r)).collect();
        want.sort();
        got.sort();
        if got.len() != want.len() {
            let missing: Vec<&String> = want.iter().filter(|w| !got.contains(w)).collect();
            let extra: Vec<&String> = got.iter().filter(|g| !want.contains(g)).collect();
            let stats =
                std::fs::read_to_string(server.join("ingest-stats.json")).unwrap_or_default();
            panic!(
                "{t}: {} rows stored vs {} sent\nmissing: {missing:#?}\nextra: {extra:#?}\nserver: {stats}",
                got.len(),
                want.len()
            );
        }
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g, w, "{t}: a stored row differs from the agent's");
        }
        let expected_agents = want_agents.get(&t).cloned().unwrap_or_default();
        let expected_agents: BTreeMap<u64, usize> = expected_agents
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .collect();
        assert_eq!(by_agent, expected_agents, "{t}: rows per agent_id");
    }
}
