//! Ping request logs from a live capture: iputils' `ping` in one namespace pings a host in
//! another whose port is mirrored to the interface `tapflow run` captures (`netns::SpanLab`);
//! then the host stops answering echoes (`icmp_echo_ignore_all`) and a second `ping` goes
//! unanswered. Every answered echo must be a session row paired by identifier and sequence
//! number, every unanswered one a timeout row, and the service's application document must
//! count both. tcpdump records the same traffic: `tapflow analyze` of that file must write the
//! rows the live run wrote, with the request -> reply times tshark measures (`icmp.resptime`).
//! Needs root, ping, tcpdump and tshark (scripts/test.sh installs them).

use std::path::Path;
use std::process::{Command, Stdio};

mod live_support;
mod netns;
use live_support::{have, l7_rows, protocols_config, run_tapflow, stats, wait_capturing, Killed};
use netns::{is_root, sh, SpanLab};

/// Echoes `ping` sends in this test: 5 answered (10 packets) and 3 not.
const ECHO_PACKETS: &str = "13";

/// `ping`'s rows as (identifier, sequence number, row type, status, request / response length).
fn echoes(rows: &[serde_json::Value]) -> Vec<(u64, u64, u64, u64, i64, i64)> {
    let mut v: Vec<_> = rows
        .iter()
        .map(|r| {
            assert_eq!(r["l7_protocol"], 122, "{r}");
            assert_eq!(r["l7_protocol_str"], "Ping", "{r}");
            let id = r["request_resource"].as_str().expect("identifier");
            (
                id.parse::<u64>().expect("numeric identifier"),
                r["request_id"].as_u64().expect("sequence"),
                r["type"].as_u64().unwrap_or(9),
                r["response_status"].as_u64().unwrap_or(9),
                r["request_length"].as_i64().unwrap_or(0),
                r["response_length"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    v.sort();
    v
}

fn ping(lab: &SpanLab, count: &str) -> String {
    let out = lab
        .in_client(&[
            "ping",
            "-n",
            "-c",
            count,
            "-i",
            "0.2",
            "-s",
            "100",
            "-W",
            "1",
            lab.server_ip,
        ])
        .output()
        .expect("ping");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn application(out: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(out.join("flow_metrics.application.1m.jsonl"))
        .expect("application documents")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .filter(|d: &serde_json::Value| d["l7_protocol"] == 122)
        .collect()
}

#[test]
fn answered_and_unanswered_echoes_are_logged() {
    if !is_root() || !have("/usr/bin/ping") || !have("tcpdump") || !have("tshark") {
        eprintln!("skipped: needs root, ping, tcpdump and tshark (scripts/test.sh installs them)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("tapflow-ping-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let lab = SpanLab::new("pg");
    let config = protocols_config(&dir, "HTTP, Ping");
    let out = dir.join("live");
    let pcap = dir.join("echoes.pcap");
    let mut dump = Killed(
        Command::new("tcpdump")
            .args(["-n", "-U", "-c", ECHO_PACKETS, "-i", &lab.capture, "-w"])
            .arg(&pcap)
            .arg("icmp")
            .stderr(Stdio::null())
            .spawn()
            .expect("tcpdump"),
    );
    let mut run = run_tapflow(&lab.capture, 7, Some(&config), &out);
    wait_capturing(&mut run, &out);
    let answered = ping(&lab, "5");
    assert!(answered.contains("5 received"), "{answered}");
    sh(&[
        "ip",
        "netns",
        "exec",
        &lab.server_ns,
        "sysctl",
        "-q",
        "-w",
        "net.ipv4.icmp_echo_ignore_all=1",
    ]);
    let ignored = ping(&lab, "3");
    assert!(ignored.contains(" 0 received"), "{ignored}");
    assert!(run.wait().expect("wait").success(), "tapflow run failed");

    let rows = echoes(&l7_rows(&out));
    let sessions: Vec<_> = rows.iter().filter(|r| r.2 == 2).collect();
    let timeouts: Vec<_> = rows.iter().filter(|r| r.2 == 0).collect();
    assert_eq!(
        (sessions.len(), timeouts.len(), rows.len()),
        (5, 3, 8),
        "{rows:?}"
    );
    // One identifier per ping run, sequence numbers 1.. in each; 100 bytes of data each way.
    let seqs = |v: &[&(u64, u64, u64, u64, i64, i64)]| v.iter().map(|r| r.1).collect::<Vec<_>>();
    assert_eq!(seqs(&sessions), [1, 2, 3, 4, 5]);
    assert_eq!(seqs(&timeouts), [1, 2, 3]);
    assert!(sessions.windows(2).all(|w| w[0].0 == w[1].0));
    assert!(sessions.iter().all(|r| (r.3, r.4, r.5) == (0, 100, 100)));
    assert!(timeouts.iter().all(|r| (r.3, r.4, r.5) == (2, 100, -1)));
    // Each answered echo took time: its duration is the request -> reply time.
    for r in l7_rows(&out).iter().filter(|r| r["type"] == 2) {
        let d = r["response_duration"].as_u64().expect("duration");
        assert!(d > 0 && d < 1_000_000, "{r}");
        assert_eq!(
            r["ip_1"], lab.server_ip,
            "the pinged host is the server: {r}"
        );
    }

    // The flow names its protocol; the service's document counts requests, replies, timeouts.
    let flows = std::fs::read_to_string(out.join("l4_flow_log.jsonl")).expect("l4");
    let icmp: Vec<serde_json::Value> = flows
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .filter(|f: &serde_json::Value| f["protocol"] == 1)
        .collect();
    assert!(
        !icmp.is_empty() && icmp.iter().all(|f| f["l7_protocol"] == 122),
        "{icmp:?}"
    );
    let docs = application(&out);
    let sum = |k: &str| docs.iter().map(|d| d[k].as_u64().unwrap_or(0)).sum::<u64>();
    assert_eq!(
        (sum("request"), sum("response"), sum("timeout")),
        (8, 5, 3),
        "{docs:#?}"
    );
    assert_eq!(stats(&out)["l7.timeouts"], 3);

    // The recorded file: the same rows offline, and tshark's times.
    assert!(dump.0.wait().expect("tcpdump").success());
    let offline = dir.join("offline");
    let analyzed = Command::new(env!("CARGO_BIN_EXE_tapflow"))
        .args(["analyze", "-q", "--config"])
        .arg(&config)
        .arg("--out")
        .arg(&offline)
        .arg(&pcap)
        .status()
        .expect("tapflow analyze");
    assert!(analyzed.success());
    let times = |rows: &[serde_json::Value]| -> Vec<(u64, u64, u64)> {
        let mut v: Vec<_> = rows
            .iter()
            .filter(|r| r["type"] == 2)
            .map(|r| {
                let id = r["request_resource"]
                    .as_str()
                    .unwrap_or("")
                    .parse()
                    .unwrap_or(0);
                let seq = r["request_id"].as_u64().unwrap_or(0);
                (id, seq, r["response_duration"].as_u64().unwrap_or(0))
            })
            .collect();
        v.sort();
        v
    };
    let offline_rows = l7_rows(&offline);
    assert_eq!(echoes(&offline_rows), rows, "offline and live rows differ");
    let ours = times(&offline_rows);
    let tshark = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(&pcap)
        .args(["-Y", "icmp.resptime", "-T", "fields"])
        .args(["-e", "icmp.ident", "-e", "icmp.seq", "-e", "icmp.resptime"])
        .output()
        .expect("tshark");
    let mut theirs: Vec<(u64, u64, u64)> = String::from_utf8_lossy(&tshark.stdout)
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let ms: f64 = f[2].parse().expect("resptime");
            (
                f[0].parse().expect("ident"),
                f[1].parse().expect("seq"),
                (ms * 1000.0).round() as u64,
            )
        })
        .collect();
    theirs.sort();
    assert_eq!(ours, theirs, "ours vs tshark's icmp.resptime (µs)");
    lab.cleanup();
    let _ = std::fs::remove_dir_all(&dir);
}
