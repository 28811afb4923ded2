//! The control plane end to end with real processes: `tapflow server` on loopback (TLS with its
//! dev certificate, a token, SQLite in a temporary directory), capture-less `tapflow agent`s and
//! `tapflow ctl`, all over real gRPC sockets.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

mod netns;
mod procs;
use netns::{is_root, VethNs};
use procs::Proc;

const BIN: &str = env!("CARGO_BIN_EXE_tapflow");
const TOKEN: &str = "s3cret-token";

/// A tapflow process with the shared token in its environment.
fn spawn(args: &[&str]) -> Proc {
    Proc::spawn_env(args, &[("TAPFLOW_TOKEN", TOKEN)])
}

struct Server {
    proc: Proc,
    addr: String,
    ca: PathBuf,
}

fn start_server(dir: &Path, listen: &str) -> Server {
    let proc = spawn(&[
        "server",
        "--listen",
        listen,
        "--data-dir",
        dir.to_str().expect("utf8"),
        "--dev-tls",
        "--lost-after",
        "2s",
    ]);
    let line = proc.expect("listening on", Duration::from_secs(20));
    let addr = line
        .split_whitespace()
        .find(|w| w.starts_with("127.0.0.1:"))
        .expect("address")
        .to_string();
    Server {
        proc,
        addr,
        ca: dir.join("dev-tls/cert.pem"),
    }
}

fn ctl(s: &Server, args: &[&str]) -> Output {
    Command::new(BIN)
        .args([
            "ctl",
            "--server",
            &s.addr,
            "--tls-ca",
            s.ca.to_str().expect("utf8"),
        ])
        .args(args)
        .env("TAPFLOW_TOKEN", TOKEN)
        .output()
        .expect("run ctl")
}

fn ctl_ok(s: &Server, args: &[&str]) -> String {
    let o = ctl(s, args);
    assert!(
        o.status.success(),
        "ctl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn json(s: &Server, args: &[&str]) -> serde_json::Value {
    let mut a = vec!["-o", "json"];
    a.extend_from_slice(args);
    serde_json::from_str(&ctl_ok(s, &a)).expect("json")
}

/// Creates an agent group; returns its id.
fn create_group(s: &Server, name: &str) -> String {
    json(s, &["agent-group", "create", name])[0]["id"]
        .as_str()
        .expect("id")
        .to_string()
}

/// Writes `yaml` to `file` and stores it with `agent-group-config VERB -f FILE` (create/update).
fn group_config(s: &Server, verb: &str, file: &Path, yaml: &str) {
    std::fs::write(file, yaml).expect("write");
    ctl_ok(
        s,
        &[
            "agent-group-config",
            verb,
            "-f",
            file.to_str().expect("utf8"),
        ],
    );
}

fn start_agent(s: &Server, name: &str, ip: &str, group: &str, state: &Path) -> Proc {
    let p = spawn(&[
        "agent",
        "--controller",
        &s.addr,
        "--tls-ca",
        s.ca.to_str().expect("utf8"),
        "--ctrl-ip",
        ip,
        "--ctrl-mac",
        "02:00:00:00:00:01",
        "--host",
        name,
        "--group",
        group,
        "--sync-interval",
        "1s",
        "--state-dir",
        state.to_str().expect("utf8"),
    ]);
    p.expect("syncing with", Duration::from_secs(10));
    p
}

fn wait_for(what: &str, within: Duration, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + within;
    while Instant::now() < end {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("{what}: not within {within:?}");
}

fn applied(state: &Path) -> String {
    std::fs::read_to_string(state.join("applied.yaml")).unwrap_or_default()
}

fn tempdir(name: &str) -> procs::Scratch {
    procs::Scratch::new("cp", name)
}

/// DeepFlow's MACVlan steps: create a group, give it a config, agents ask for the group and get
/// the config; an update reaches a running agent within a second; a config the agent cannot load
/// is refused with INVALID_CONFIGURATION while the old one keeps running.
#[test]
fn registration_group_join_push_and_invalid_config() {
    let dir = tempdir("push");
    let s = start_server(&dir.join("server"), "127.0.0.1:0");
    let gid = create_group(&s, "macvlan");
    assert!(gid.starts_with("g-") && gid.len() == 12, "{gid}");
    let cfg = dir.join("macvlan.yaml");
    group_config(
        &s,
        "create",
        &cfg,
        &format!("vtap_group_id: {gid}\ntap_interface_regex: '^(eth0|macvlan.*)$'\ntap_mode: 1\nstatic_config:\n  src-interfaces: [eth0]\n"),
    );

    let st1 = dir.join("agent1");
    let a1 = start_agent(&s, "node1", "10.9.0.1", &gid, &st1);
    let st2 = dir.join("agent2");
    let _a2 = start_agent(&s, "node2", "10.9.0.2", "g-0000000000", &st2);
    wait_for(
        "agent 1 applies its group's config",
        Duration::from_secs(5),
        || applied(&st1).contains("macvlan"),
    );
    let agents = json(&s, &["agent", "list"]);
    let by_ip = |ip: &str| {
        agents
            .as_array()
            .expect("array")
            .iter()
            .find(|a| a["ctrl_ip"] == ip)
            .cloned()
            .expect("agent listed")
    };
    assert_eq!(by_ip("10.9.0.1")["group"], "macvlan");
    assert_eq!(
        by_ip("10.9.0.2")["group"],
        "default",
        "unknown group: default"
    );
    assert_eq!(by_ip("10.9.0.1")["state"], "RUNNING");

    // Update: pushed to the running agent within a second.
    let t0 = Instant::now();
    group_config(
        &s,
        "update",
        &cfg,
        &format!("vtap_group_id: {gid}\ntap_interface_regex: '^(eth1|macvlan.*)$'\ntap_mode: 1\n"),
    );
    wait_for("pushed config applied", Duration::from_secs(1), || {
        applied(&st1).contains("eth1")
    });
    eprintln!("push reached the agent in {:?}", t0.elapsed());

    // The server refuses a config its model rejects ...
    let bad = dir.join("bad.yaml");
    std::fs::write(&bad, format!("vtap_group_id: {gid}\nbogus_key: 1\n")).expect("write");
    let o = ctl(
        &s,
        &[
            "agent-group-config",
            "update",
            "-f",
            bad.to_str().expect("utf8"),
        ],
    );
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown key bogus_key"));
    // ... and when stored anyway (agents of another version), the agent refuses it, keeps the
    // running config and says INVALID_CONFIGURATION.
    ctl_ok(
        &s,
        &[
            "agent-group-config",
            "update",
            "-f",
            bad.to_str().expect("utf8"),
            "--group",
            &gid,
            "--no-validate",
        ],
    );
    a1.expect("configuration refused", Duration::from_secs(3));
    assert!(applied(&st1).contains("eth1"), "old config still applied");
    wait_for("exception reported", Duration::from_secs(5), || {
        json(&s, &["agent", "list"])
            .as_array()
            .expect("array")
            .iter()
            .any(|a| a["ctrl_ip"] == "10.9.0.1" && a["exceptions"] == "INVALID_CONFIGURATION")
    });
    // The stored file comes back as written.
    let yaml = ctl_ok(&s, &["-o", "yaml", "agent-group-config", "list", &gid]);
    assert!(yaml.contains("bogus_key"), "{yaml}");
    // A group with a configuration and agents is not deleted without --force.
    let refused = ctl(&s, &["agent-group", "delete", &gid]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--force"));
    ctl_ok(&s, &["agent-group-config", "delete", &gid]);
    assert_eq!(
        json(&s, &["agent-group-config", "list", &gid]),
        serde_json::json!([])
    );
    ctl_ok(&s, &["agent-group", "delete", &gid, "--force"]);
    assert!(json(&s, &["agent", "list"])
        .as_array()
        .expect("array")
        .iter()
        .all(|a| a["group_id"] != gid.as_str() && a["group"] == "default"));
    s.proc.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Restarting the server loses nothing; an agent rides out an outage on its last config and
/// syncs again when the server is back; a silent agent is marked lost.
#[test]
fn server_restart_outage_and_lost_agents() {
    let dir = tempdir("restart");
    let data = dir.join("server");
    let s = start_server(&data, "127.0.0.1:0");
    let addr = s.addr.clone();
    let gid = create_group(&s, "edge");
    let cfg = dir.join("edge.yaml");
    group_config(
        &s,
        "create",
        &cfg,
        &format!("vtap_group_id: {gid}\ntap_mode: 2\n"),
    );
    let st = dir.join("agent");
    let agent = start_agent(&s, "edge1", "10.9.1.1", &gid, &st);
    wait_for("config applied", Duration::from_secs(5), || {
        applied(&st).contains("tap_mode: 2")
    });

    // Outage: the agent keeps its config and keeps trying. The server exits on SIGTERM although
    // the agent holds its Push stream open.
    let stopping = Instant::now();
    assert!(
        s.proc.stop(),
        "tapflow server did not exit on SIGTERM with an agent connected"
    );
    eprintln!("server stopped in {:?}", stopping.elapsed());
    agent.expect("failed", Duration::from_secs(10));
    assert!(applied(&st).contains("tap_mode: 2"));

    // Back on the same address and data: everything is there, the agent syncs again.
    let s = start_server(&data, &addr);
    let groups = json(&s, &["agent-group", "list", "edge"]);
    assert_eq!(groups[0]["id"], gid.as_str());
    assert_eq!(groups[0]["config"], true);
    let before = json(&s, &["agent", "list"])[0]["last_sync"]
        .as_i64()
        .expect("ts");
    wait_for("agent resyncs", Duration::from_secs(10), || {
        json(&s, &["agent", "list"])[0]["last_sync"]
            .as_i64()
            .unwrap_or(0)
            > before
    });
    group_config(
        &s,
        "update",
        &cfg,
        &format!("vtap_group_id: {gid}\ntap_mode: 1\n"),
    );
    wait_for("update after the outage", Duration::from_secs(12), || {
        applied(&st).contains("tap_mode: 1")
    });

    // Silent agent: lost after --lost-after (2 s). The agent exits on SIGTERM.
    assert!(agent.stop(), "tapflow agent did not exit on SIGTERM");
    wait_for("agent marked lost", Duration::from_secs(6), || {
        json(&s, &["agent", "list"])[0]["state"] == "LOST"
    });
    s.proc.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// TLS and the token are enforced: a wrong token and a plaintext client are refused.
#[test]
fn tls_and_token_are_enforced() {
    let dir = tempdir("auth");
    let s = start_server(&dir.join("server"), "127.0.0.1:0");
    let o = Command::new(BIN)
        .args([
            "ctl",
            "--server",
            &s.addr,
            "--tls-ca",
            s.ca.to_str().expect("utf8"),
        ])
        .args(["--token", "wrong", "agent", "list"])
        .output()
        .expect("ctl");
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("wrong token"));
    let o = Command::new(BIN)
        .args([
            "ctl",
            "--server",
            &s.addr,
            "--tls-ca",
            s.ca.to_str().expect("utf8"),
        ])
        .args(["agent", "list"])
        .env_remove("TAPFLOW_TOKEN")
        .output()
        .expect("ctl");
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("requires a token"));
    let o = Command::new(BIN)
        .args(["ctl", "--server", &s.addr, "--plaintext", "agent", "list"])
        .env("TAPFLOW_TOKEN", TOKEN)
        .output()
        .expect("ctl");
    assert!(!o.status.success(), "plaintext against TLS must fail");
    // An agent with a wrong token does not register.
    let st = dir.join("agent");
    let agent = spawn(&[
        "agent",
        "--controller",
        &s.addr,
        "--tls-ca",
        s.ca.to_str().expect("utf8"),
        "--ctrl-ip",
        "10.9.2.1",
        "--sync-interval",
        "1s",
        "--token",
        "nope",
        "--state-dir",
        st.to_str().expect("utf8"),
    ]);
    agent.expect("wrong token", Duration::from_secs(10));
    drop(agent);
    assert_eq!(
        json(&s, &["agent", "list"])
            .as_array()
            .expect("array")
            .len(),
        0
    );
    s.proc.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// `tapflow run --controller`: a live AF_PACKET capture takes its configuration from the server.
/// A change of capture mode restarts the dataplane in-process (output files kept); a change of
/// hot settings (here the default tap_type) is taken over by the running workers (a new config
/// epoch), without a restart. Traffic sent after each update is analyzed with the new settings.
#[test]
fn live_run_applies_the_controllers_configuration() {
    if !is_root() {
        eprintln!("skipped: live capture needs root (CI runs as root)");
        return;
    }
    let dir = tempdir("run");
    let s = start_server(&dir.join("server"), "127.0.0.1:0");
    let gid = create_group(&s, "span");
    let cfg = dir.join("span.yaml");
    let span_cfg = |tap_type: u32| {
        format!(
            "vtap_group_id: {gid}\ninputs:\n  cbpf:\n    common:\n      capture_mode: 2\n    physical_mirror:\n      default_capture_network_type: {tap_type}\n"
        )
    };
    group_config(&s, "create", &cfg, &span_cfg(5));

    let net = VethNs::with_mtu("cp", "1500");
    let out = dir.join("live");
    let run = spawn(&[
        "run",
        "--engine",
        "af_packet",
        "--iface",
        &net.host,
        "--quiet",
        "--out",
        out.to_str().expect("utf8"),
        "--controller",
        &s.addr,
        "--tls-ca",
        s.ca.to_str().expect("utf8"),
        "--ctrl-ip",
        "10.9.3.1",
        "--ctrl-mac",
        "02:00:00:00:03:01",
        "--group",
        &gid,
        "--sync-interval",
        "1s",
    ]);
    run.expect("restarting the dataplane", Duration::from_secs(15));
    std::thread::sleep(Duration::from_millis(500));
    let gen = dir.join("gen");
    let g = Command::new(BIN)
        .args([
            "gen",
            "--out",
            gen.to_str().expect("utf8"),
            "--name",
            "t",
            "--flows",
            "6",
            "--seed",
            "5",
        ])
        .output()
        .expect("gen");
    assert!(g.status.success());
    let pcap = gen.join("t.pcap");
    net.replay(&pcap, "2000");
    std::thread::sleep(Duration::from_millis(500));
    group_config(&s, "update", &cfg, &span_cfg(6));
    run.expect("applied without restart", Duration::from_secs(10));
    // Workers take an epoch over on their next publish tick (100 ms).
    std::thread::sleep(Duration::from_millis(500));
    net.replay(&pcap, "2000");
    std::thread::sleep(Duration::from_millis(500));
    // `tapflow run` with a controller exits on SIGTERM (flows flushed: the rows below).
    assert!(run.stop(), "tapflow run did not exit on SIGTERM");
    let log = std::fs::read_to_string(out.join("l4_flow_log.jsonl")).expect("flow log");
    let types: std::collections::BTreeSet<u64> = log
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).expect("json")["capture_network_type"]
                .as_u64()
                .unwrap_or(0)
        })
        .collect();
    assert!(
        types.contains(&5) && types.contains(&6),
        "tap types seen: {types:?}"
    );
    let stats: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("stats.json")).expect("stats"))
            .expect("json");
    assert_eq!(
        stats["reconfigurations"], 1,
        "one hot switch in the last run"
    );
    let agents = json(&s, &["agent", "list"]);
    assert_eq!(agents[0]["config_version"], 2, "{agents}");
    assert_eq!(
        agents[0]["capture"], "ANALYZER",
        "reports the capture mode of the synced config"
    );
    s.proc.stop();
    drop(net);
    let _ = std::fs::remove_dir_all(&dir);
}
