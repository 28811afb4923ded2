//! The DPDK engine for real: EAL without hugepages and virtual devices. `net_pcap` replays a
//! generated capture (records must equal `tapflow analyze` of it); `net_af_packet` on a veth pair
//! the test creates receives injected traffic, with one and two queues (two queues: PACKET_FANOUT
//! hash keeps both directions of every flow on one worker). Needs the `dpdk` build feature and
//! root (CI has both).
#![cfg(feature = "dpdk")]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use tapflow_bench::gen::{generate, GenSpec};

const BIN: &str = env!("CARGO_BIN_EXE_tapflow");

mod netns;
use netns::{is_root, VethNs};

/// (client, server, proto) -> (packets tx, packets rx, l4 bytes tx, l4 bytes rx).
type Flows = BTreeMap<(String, String, u64), (u64, u64, u64, u64)>;

/// The flows of a flow log, and the worker ids that produced them.
fn flows(log: &Path) -> (Flows, std::collections::BTreeSet<u64>) {
    let mut m = BTreeMap::new();
    let mut workers = std::collections::BTreeSet::new();
    for line in std::fs::read_to_string(log).expect("flow log").lines() {
        let r: serde_json::Value = serde_json::from_str(line).expect("json");
        let k = (
            format!("{}:{}", r["ip_0"].as_str().unwrap_or(""), r["client_port"]),
            format!("{}:{}", r["ip_1"].as_str().unwrap_or(""), r["server_port"]),
            r["protocol"].as_u64().unwrap_or(0),
        );
        let e = m.entry(k).or_insert((0, 0, 0, 0));
        e.0 += r["packet_tx"].as_u64().unwrap_or(0);
        e.1 += r["packet_rx"].as_u64().unwrap_or(0);
        e.2 += r["l4_byte_tx"].as_u64().unwrap_or(0);
        e.3 += r["l4_byte_rx"].as_u64().unwrap_or(0);
        workers.insert(r["flow_id"].as_u64().unwrap_or(0) >> 24 & 0xFF);
    }
    (m, workers)
}

fn stats(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("stats.json")).expect("stats"))
        .expect("json")
}

fn setup(tag: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("tapflow-dpdk-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let pcap = dir.join("in.pcap");
    generate(
        &GenSpec {
            flows: 96,
            seed: 9,
            ..GenSpec::default()
        },
        std::fs::File::create(&pcap).expect("pcap"),
        None,
    )
    .expect("gen");
    let st = Command::new(BIN)
        .args(["analyze", "-q", "--out"])
        .arg(dir.join("offline"))
        .arg(&pcap)
        .status()
        .expect("analyze");
    assert!(st.success());
    (dir, pcap)
}

fn eal(prefix: &str, vdev: &str) -> String {
    format!(
        "--no-huge -m 256 --no-pci --file-prefix {prefix}-{} --log-level warning --vdev {vdev}",
        std::process::id()
    )
}

#[test]
fn net_pcap_replay_matches_offline_analysis() {
    if !is_root() {
        eprintln!("skipped: DPDK EAL needs root (CI runs as root)");
        return;
    }
    let (dir, pcap) = setup("pcap");
    let out = dir.join("live");
    let st = Command::new(BIN)
        .args([
            "run",
            "-q",
            "--engine",
            "dpdk",
            "--duration",
            "3",
            "--dpdk-port",
            "net_pcap0",
            "--out",
        ])
        .arg(&out)
        .arg(format!(
            "--dpdk-eal={}",
            eal("tfp", &format!("net_pcap0,rx_pcap={}", pcap.display()))
        ))
        .status()
        .expect("tapflow run");
    assert!(st.success());
    assert_eq!(
        flows(&out.join("l4_flow_log.jsonl")).0,
        flows(&dir.join("offline/l4_flow_log.jsonl")).0
    );
    let s = stats(&out);
    assert_eq!(s["engine"], "dpdk");
    assert_eq!(s["rx_packets"], stats(&dir.join("offline"))["rx_packets"]);
    assert_eq!(
        s["ports"][0]["ipackets"], s["rx_packets"],
        "every packet the port received was analysed"
    );
    assert_eq!(s["kernel_drops"], 0);
    let _ = std::fs::remove_dir_all(dir);
}

fn af_packet_vdev(tag: &str, qpairs: u16) {
    let (dir, pcap) = setup(tag);
    let net = VethNs::with_mtu(&format!("d{tag}"), "1500");
    let out = dir.join("live");
    let q = qpairs.to_string();
    let mut run = Command::new(BIN)
        .args([
            "run",
            "--engine",
            "dpdk",
            "--queues",
            &q,
            "--duration",
            "8",
            "--dpdk-port",
            "net_af_packet0",
            "--out",
        ])
        .arg(&out)
        .arg(format!(
            "--dpdk-eal={}",
            eal(
                &format!("tfa{tag}"),
                &format!("net_af_packet0,iface={},qpairs={qpairs}", net.host)
            )
        ))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("tapflow run");
    // Send only once the port polls: the first per-second summary line says so (a fixed sleep
    // raced with EAL start-up when the machine was busy).
    let err = run.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for l in std::io::BufReader::new(err).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    let ready = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let left = ready.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) if l.contains(" pps ") => break,
            Ok(_) => {}
            Err(_) => panic!("{tag}: the DPDK run never reported capturing"),
        }
    }
    net.replay(&pcap, "20000");
    assert!(run.wait().expect("wait").success());
    let (live, workers) = flows(&out.join("l4_flow_log.jsonl"));
    assert_eq!(
        live,
        flows(&dir.join("offline/l4_flow_log.jsonl")).0,
        "{tag}: flows equal the offline analysis"
    );
    assert_eq!(
        workers.len(),
        usize::from(qpairs),
        "{tag}: every queue's worker got flows: {workers:?}"
    );
    assert_eq!(stats(&out)["kernel_drops"], 0);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn net_af_packet_on_a_veth_receives_injected_traffic() {
    if !is_root() {
        eprintln!("skipped: needs root (CI runs as root)");
        return;
    }
    af_packet_vdev("1", 1);
}

#[test]
fn two_queues_keep_both_directions_of_each_flow_on_one_worker() {
    if !is_root() {
        eprintln!("skipped: needs root (CI runs as root)");
        return;
    }
    af_packet_vdev("2", 2);
}
