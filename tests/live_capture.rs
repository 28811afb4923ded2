//! Live capture on a veth pair the test creates (and always removes): `tapflow run` (AF_PACKET or
//! AF_XDP) on one end, `tapflow replay` of a generated capture on the other, from inside a network
//! namespace. The flows must match `tapflow analyze` of the same capture packet for packet
//! (timing-derived fields differ: replay compresses time). Needs root; CI runs as root. Without
//! root it says so.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tapflow_bench::gen::{generate, Encap, GenSpec};

const BIN: &str = env!("CARGO_BIN_EXE_tapflow");

mod netns;
use netns::{is_root, VethNs};

type Key = (String, String, u64);
/// (packets tx, packets rx, l4 bytes tx, l4 bytes rx, flows).
type Counts = (u64, u64, u64, u64, u64);
type Flows = BTreeMap<Key, Counts>;

/// (client, server, protocol) -> (packets tx, packets rx, l4 bytes tx, l4 bytes rx, flows).
fn flows(path: &Path) -> Flows {
    let mut m = BTreeMap::new();
    for line in std::fs::read_to_string(path).expect("flow log").lines() {
        let r: serde_json::Value = serde_json::from_str(line).expect("json");
        let key = (
            format!("{}:{}", r["ip_0"].as_str().unwrap_or(""), r["client_port"]),
            format!("{}:{}", r["ip_1"].as_str().unwrap_or(""), r["server_port"]),
            r["protocol"].as_u64().unwrap_or(0),
        );
        let e = m.entry(key).or_insert((0, 0, 0, 0, 0));
        e.0 += r["packet_tx"].as_u64().unwrap_or(0);
        e.1 += r["packet_rx"].as_u64().unwrap_or(0);
        e.2 += r["l4_byte_tx"].as_u64().unwrap_or(0);
        e.3 += r["l4_byte_rx"].as_u64().unwrap_or(0);
        if r["is_new_flow"].as_bool() == Some(true) {
            e.4 += 1;
        }
    }
    m
}

/// The XDP mode `ip link` shows on `iface` ("xdp", "xdpgeneric") or None.
fn xdp_attached(iface: &str) -> Option<String> {
    let out = Command::new("ip")
        .args(["-d", "link", "show", iface])
        .output()
        .expect("ip");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    ["xdpgeneric", "xdpdrv", "xdp"]
        .iter()
        .find(|m| text.split_whitespace().any(|w| w == **m))
        .map(|m| m.to_string())
}

fn live_vs_offline(tag: &str, encap: Encap, queues: &str) -> (PathBuf, Flows) {
    live_vs_offline_with(tag, encap, queues, "af_packet", "9000", "rtc", None)
}

/// A live run (`queues` sockets per interface: `--queues`, or, with `config`, what that
/// configuration file gives) against `tapflow analyze` of the same capture.
fn live_vs_offline_with(
    tag: &str,
    encap: Encap,
    queues: &str,
    engine: &str,
    mtu: &str,
    mode: &str,
    config: Option<&str>,
) -> (PathBuf, Flows) {
    let dir = std::env::temp_dir().join(format!("tapflow-live-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let pcap = dir.join("in.pcap");
    let spec = GenSpec {
        flows: 96,
        encap,
        ..GenSpec::default()
    };
    generate(&spec, std::fs::File::create(&pcap).expect("pcap"), None).expect("generate");
    let net = VethNs::with_mtu(tag, mtu);
    let out = dir.join("live");
    let workers = match config {
        Some(yaml) => {
            let f = dir.join("tapflow.yaml");
            std::fs::write(&f, yaml).expect("config");
            vec!["--config".to_string(), f.display().to_string()]
        }
        None => vec!["--queues".to_string(), queues.to_string()],
    };
    let mut run = Command::new(BIN)
        .args(["run", "-q", "--engine", engine, "--mode", mode])
        .args(&workers)
        .args(["--duration", "4", "--iface", &net.host, "--out"])
        .arg(&out)
        .spawn()
        .expect("tapflow run");
    std::thread::sleep(Duration::from_millis(1200));
    net.replay(&pcap, "50000");
    assert!(run.wait().expect("wait").success(), "tapflow run failed");
    assert_eq!(
        xdp_attached(&net.host),
        None,
        "XDP program detached after the run"
    );
    let offline = dir.join("offline");
    let st = Command::new(BIN)
        .args(["analyze", "-q", "--out"])
        .arg(&offline)
        .arg(&pcap)
        .status()
        .expect("analyze");
    assert!(st.success());
    let live = flows(&out.join("l4_flow_log.jsonl"));
    let want = flows(&offline.join("l4_flow_log.jsonl"));
    // Packets and bytes per conversation: identical.
    let strip =
        |m: &BTreeMap<Key, (u64, u64, u64, u64, u64)>| -> BTreeMap<Key, (u64, u64, u64, u64)> {
            m.iter()
                .map(|(k, v)| (k.clone(), (v.0, v.1, v.2, v.3)))
                .collect()
        };
    assert_eq!(
        strip(&live),
        strip(&want),
        "{tag}: live flows differ from offline analysis"
    );
    let stats: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("stats.json")).expect("stats"))
            .expect("json");
    assert_eq!(stats["kernel_drops"], 0);
    // Per-queue counters: one entry per capture queue, and what they captured was analysed or
    // counted as a ring-full drop.
    let per_queue = stats["queues"].as_array().expect("queues");
    assert_eq!(
        per_queue.len(),
        queues.parse::<usize>().unwrap_or(1),
        "{tag}: per-queue entries"
    );
    let captured: u64 = per_queue
        .iter()
        .map(|q| q["captured"].as_u64().unwrap_or(0))
        .sum();
    // Every frame is accounted for: analysed + counted drops = what was on the wire.
    let offline_stats: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(offline.join("stats.json")).expect("stats"))
            .expect("json");
    let n = |v: &serde_json::Value, k: &str| v[k].as_u64().unwrap_or(0);
    assert_eq!(
        n(&stats, "rx_packets") + n(&stats, "kernel_drops") + n(&stats, "ring_full_drops"),
        n(&offline_stats, "rx_packets"),
        "{tag}: received = analysed + drops"
    );
    assert_eq!(
        captured,
        n(&stats, "rx_packets") + n(&stats, "ring_full_drops"),
        "{tag}: captured per queue"
    );
    assert_eq!(stats["engine"], engine);
    if engine == "af_xdp" {
        let frames = stats["frames"].as_u64().unwrap_or(0);
        assert!(frames > 0);
        assert_eq!(
            stats["xdp_redirected"].as_u64(),
            Some(frames),
            "every frame the XDP program saw reached the socket"
        );
        assert_eq!(stats["xdp_redirect_failed"], 0);
        // veth supports native XDP only up to about 3.5 KB MTU; above it tapflow falls back.
        assert_eq!(
            stats["xdp_mode"],
            if mtu == "1500" { "native" } else { "generic" }
        );
    }
    assert_eq!(stats["decode.ethernet.truncated"], 0);
    (dir, live)
}

#[test]
fn af_packet_live_capture_matches_offline_analysis() {
    if !is_root() {
        eprintln!("skipped: live capture needs root (CI runs as root)");
        return;
    }
    for (tag, encap) in [("p", Encap::None), ("v", Encap::Vlan), ("x", Encap::Vxlan)] {
        let (dir, _) = live_vs_offline(tag, encap, "1");
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// The worker ids (bits 24-31 of `flow_id`) that wrote the live run's flow log rows.
fn worker_ids(dir: &Path) -> std::collections::BTreeSet<u64> {
    std::fs::read_to_string(dir.join("live/l4_flow_log.jsonl"))
        .expect("log")
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).expect("json")["flow_id"]
                .as_u64()
                .unwrap_or(0)
                >> 24
                & 0xFF
        })
        .collect()
}

#[test]
fn fanout_keeps_both_directions_of_a_flow_on_one_worker() {
    if !is_root() {
        eprintln!("skipped: live capture needs root (CI runs as root)");
        return;
    }
    let (dir, live) = live_vs_offline("f", Encap::None, "2");
    // No conversation was split into one flow per direction / worker.
    for (k, v) in &live {
        assert!(v.0 > 0 || v.1 > 0, "{k:?}");
    }
    let ids = worker_ids(&dir);
    assert_eq!(ids.len(), 2, "both workers got flows: {ids:?}");
    let _ = std::fs::remove_dir_all(dir);
}

/// DeepFlow's `packet_fanout_count` in the configuration (no `--queues`): as many AF_PACKET
/// sockets, each flow on one of them (mode 0, hash).
#[test]
fn deepflow_packet_fanout_count_makes_af_packet_workers() {
    if !is_root() {
        eprintln!("skipped: live capture needs root (CI runs as root)");
        return;
    }
    let yaml = "inputs:\n  cbpf:\n    af_packet:\n      tunning:\n        packet_fanout_count: 2\n        packet_fanout_mode: 0\n";
    let (dir, live) = live_vs_offline_with(
        "fc",
        Encap::None,
        "2",
        "af_packet",
        "9000",
        "rtc",
        Some(yaml),
    );
    for (k, v) in &live {
        assert!(v.0 > 0 || v.1 > 0, "{k:?}");
    }
    let ids = worker_ids(&dir);
    assert_eq!(ids.len(), 2, "both workers got flows: {ids:?}");
    let _ = std::fs::remove_dir_all(dir);
}

/// Mirror traffic in one tunnel (ERSPAN from one switch to one collector; VXLAN between two
/// hypervisors on one UDP port pair): the kernel's hash sees one outer flow, so every frame
/// reaches one socket. Mode 7 (tapflow's steering program) hashes the innermost flows: both
/// workers get flows, each flow whole (the live rows equal the offline analysis's).
#[test]
fn ebpf_fanout_spreads_tunnelled_flows_and_keeps_each_whole() {
    if !is_root() {
        eprintln!("skipped: live capture needs root (CI runs as root)");
        return;
    }
    for (tag, encap) in [("e3", Encap::ErspanIII), ("vx", Encap::Vxlan)] {
        for mode in [0, 7] {
            let yaml = format!("inputs:\n  cbpf:\n    af_packet:\n      tunning:\n        packet_fanout_count: 2\n        packet_fanout_mode: {mode}\n");
            let (dir, live) = live_vs_offline_with(
                &format!("{tag}{mode}"),
                encap,
                "2",
                "af_packet",
                "9000",
                "rtc",
                Some(&yaml),
            );
            for (k, v) in &live {
                assert!(v.0 > 0 || v.1 > 0, "{k:?}");
            }
            let ids = worker_ids(&dir);
            let want = if mode == 7 { 2 } else { 1 };
            assert_eq!(
                ids.len(),
                want,
                "{tag}, mode {mode}: workers with flows {ids:?}"
            );
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

#[test]
fn af_xdp_native_and_generic_capture_matches_offline_analysis() {
    if !is_root() {
        eprintln!("skipped: live capture needs root (CI runs as root)");
        return;
    }
    // Native (driver) XDP on veth at MTU 1500; generic mode for jumbo VXLAN mirror frames.
    for (tag, encap, mtu, mode) in [
        ("n", Encap::None, "1500", "rtc"),
        ("g", Encap::Vxlan, "9000", "rtc"),
        ("pn", Encap::None, "1500", "pipeline"),
        ("pg", Encap::Vxlan, "9000", "pipeline"),
    ] {
        let (dir, _) = live_vs_offline_with(tag, encap, "1", "af_xdp", mtu, mode, None);
        if mode == "pipeline" {
            // One rx queue, two analyzer workers: flows spread over both (worker id in flow_id).
            let ids = worker_ids(&dir);
            assert_eq!(ids.len(), 2, "{tag}: both analyzers got flows: {ids:?}");
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[test]
fn stale_xdp_program_from_a_killed_run_is_replaced() {
    if !is_root() {
        eprintln!("skipped: live capture needs root (CI runs as root)");
        return;
    }
    let net = VethNs::with_mtu("k", "1500");
    let dir = std::env::temp_dir().join(format!("tapflow-live-k-{}", std::process::id()));
    let mut run = Command::new(BIN)
        .args([
            "run", "-q", "--engine", "af_xdp", "--iface", &net.host, "--out",
        ])
        .arg(&dir)
        .spawn()
        .expect("tapflow run");
    std::thread::sleep(Duration::from_millis(1500));
    assert!(xdp_attached(&net.host).is_some(), "attached while running");
    run.kill().expect("SIGKILL");
    let _ = run.wait();
    assert!(
        xdp_attached(&net.host).is_some(),
        "a killed run leaves its program behind"
    );
    let st = Command::new(BIN)
        .args([
            "run",
            "-q",
            "--engine",
            "af_xdp",
            "--duration",
            "1",
            "--iface",
            &net.host,
            "--out",
        ])
        .arg(&dir)
        .status()
        .expect("tapflow run");
    assert!(st.success(), "the next run replaces the stale program");
    assert_eq!(xdp_attached(&net.host), None);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn xdp_early_filter_passes_or_drops_by_ethertype() {
    if !is_root() {
        eprintln!("skipped: live capture needs root (CI runs as root)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("tapflow-live-e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let (plain, vlan) = (dir.join("plain.pcap"), dir.join("vlan.pcap"));
    generate(
        &GenSpec {
            flows: 12,
            ..GenSpec::default()
        },
        std::fs::File::create(&plain).expect("f"),
        None,
    )
    .expect("gen");
    generate(
        &GenSpec {
            flows: 12,
            encap: Encap::Vlan,
            first_flow: 100,
            ..GenSpec::default()
        },
        std::fs::File::create(&vlan).expect("f"),
        None,
    )
    .expect("gen");
    let count = |p: &Path| -> u64 {
        let st = Command::new(BIN)
            .args(["analyze", "-q", "--out"])
            .arg(dir.join("count"))
            .arg(p)
            .status()
            .expect("analyze");
        assert!(st.success());
        let s: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("count/stats.json")).expect("stats"),
        )
        .expect("json");
        s["rx_packets"].as_u64().unwrap_or(0)
    };
    let (n_plain, n_vlan) = (count(&plain), count(&vlan));
    for (flag, tag) in [
        ("--xdp-drop-ethertype", "ed"),
        ("--xdp-pass-ethertype", "ep"),
    ] {
        let net = VethNs::with_mtu(tag, "1500");
        let out = dir.join(tag);
        let mut run = Command::new(BIN)
            .args([
                "run",
                "-q",
                "--engine",
                "af_xdp",
                flag,
                "0x8100",
                "--duration",
                "3",
                "--iface",
                &net.host,
                "--out",
            ])
            .arg(&out)
            .spawn()
            .expect("run");
        std::thread::sleep(Duration::from_millis(1200));
        for p in [&plain, &vlan] {
            let st = Command::new("ip")
                .args([
                    "netns", "exec", &net.ns, BIN, "replay", "--pps", "50000", "--iface", &net.peer,
                ])
                .arg(p)
                .status()
                .expect("replay");
            assert!(st.success());
        }
        assert!(run.wait().expect("wait").success());
        let s: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("stats.json")).expect("stats"))
                .expect("json");
        assert_eq!(
            s["xdp_filtered"].as_u64(),
            Some(n_vlan),
            "{flag}: every VLAN frame filtered"
        );
        assert_eq!(
            s["rx_packets"].as_u64(),
            Some(n_plain),
            "{flag}: only untagged frames captured"
        );
        assert_eq!(s["xdp_seen"].as_u64(), Some(n_plain + n_vlan));
    }
    let _ = std::fs::remove_dir_all(dir);
}
