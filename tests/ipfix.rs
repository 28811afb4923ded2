//! IPFIX export against a real collector: pmacct's `nfacctd` (Debian's `pmacct`, started by the
//! test on loopback, printing to a CSV file) receives `tapflow analyze --ipfix` of a generated
//! capture (every scenario: TCP, UDP, ICMP, resets, retransmissions, port reuse); per direction of
//! every conversation, the packets and IP bytes it prints must equal the flow log rows. Needs
//! pmacct (scripts/test.sh installs it); skipped without it.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tapflow_bench::gen::{generate, GenSpec, Scenario};

mod live_support;
use live_support::{have, Killed};

const BIN: &str = env!("CARGO_BIN_EXE_tapflow");

/// (source, destination, source port, destination port, protocol) -> (packets, bytes).
type Directions = BTreeMap<(String, String, u16, u16, u8), (u64, u64)>;

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("port")
}

fn from_rows(path: &std::path::Path) -> Directions {
    let mut m = Directions::new();
    for line in std::fs::read_to_string(path).expect("rows").lines() {
        let r: serde_json::Value = serde_json::from_str(line).expect("json");
        let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
        let n = |k: &str| r[k].as_u64().unwrap_or(0);
        let port = |k: &str| n(k) as u16;
        let l2 = 14 + if n("vlan") != 0 { 4 } else { 0 };
        let proto = n("protocol") as u8;
        for (src, dst, sp, dp, pk, by) in [
            (
                s("ip_0"),
                s("ip_1"),
                port("client_port"),
                port("server_port"),
                n("packet_tx"),
                n("byte_tx"),
            ),
            (
                s("ip_1"),
                s("ip_0"),
                port("server_port"),
                port("client_port"),
                n("packet_rx"),
                n("byte_rx"),
            ),
        ] {
            if pk == 0 {
                continue;
            }
            let e = m.entry((src, dst, sp, dp, proto)).or_default();
            e.0 += pk;
            e.1 += by - pk * l2;
        }
    }
    m
}

/// nfacctd's CSV (header lines skipped; repeated rows of a key summed).
fn from_collector(path: &std::path::Path) -> Directions {
    let mut m = Directions::new();
    let Ok(text) = std::fs::read_to_string(path) else {
        return m;
    };
    for line in text.lines() {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() < 7 || f[0] == "SRC_IP" {
            continue;
        }
        let (Ok(sp), Ok(dp), Ok(pk), Ok(by)) = (
            f[2].parse::<u16>(),
            f[3].parse::<u16>(),
            f[5].parse::<u64>(),
            f[6].parse::<u64>(),
        ) else {
            continue;
        };
        let proto = match f[4] {
            "tcp" => 6,
            "udp" => 17,
            "icmp" => 1,
            other => other.parse().unwrap_or(0),
        };
        let e = m
            .entry((f[0].to_string(), f[1].to_string(), sp, dp, proto))
            .or_default();
        e.0 += pk;
        e.1 += by;
    }
    m
}

#[test]
fn nfacctd_receives_every_flow_with_its_counters() {
    if !have("nfacctd") {
        eprintln!("skipped: needs pmacct's nfacctd (scripts/test.sh installs it)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("tapflow-ipfix-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let port = free_udp_port();
    let csv = dir.join("flows.csv");
    std::fs::write(
        dir.join("nfacctd.conf"),
        format!(
            "daemonize: false\nnfacctd_ip: 127.0.0.1\nnfacctd_port: {port}\nplugins: print[out]\n\
             aggregate[out]: src_host, dst_host, src_port, dst_port, proto\n\
             print_output[out]: csv\nprint_output_file[out]: {}\nprint_output_file_append[out]: true\n\
             print_refresh_time[out]: 1\n",
            csv.display()
        ),
    )
    .expect("conf");
    let _collector = Killed(
        Command::new("nfacctd")
            .arg("-f")
            .arg(dir.join("nfacctd.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nfacctd"),
    );
    // nfacctd has no readiness signal: its UDP port is bound once it listens.
    let started = Instant::now();
    while std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "nfacctd did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let pcap = dir.join("in.pcap");
    let spec = GenSpec {
        flows: Scenario::ALL.len() as u64 * 6,
        scenarios: Scenario::ALL.to_vec(),
        ..GenSpec::default()
    };
    generate(&spec, std::fs::File::create(&pcap).expect("pcap"), None).expect("generate");
    let out = dir.join("out");
    let st = Command::new(BIN)
        .args([
            "analyze",
            "-q",
            "--ipfix",
            &format!("127.0.0.1:{port}"),
            "--out",
        ])
        .arg(&out)
        .arg(&pcap)
        .status()
        .expect("analyze");
    assert!(st.success());
    let want = from_rows(&out.join("l4_flow_log.jsonl"));
    assert!(want.len() > 100);
    let started = Instant::now();
    loop {
        let got = from_collector(&csv);
        if got == want {
            break;
        }
        if started.elapsed() > Duration::from_secs(15) {
            let missing: Vec<_> = want
                .iter()
                .filter(|(k, v)| got.get(*k) != Some(*v))
                .take(5)
                .collect();
            panic!(
                "nfacctd has {} directions, tapflow wrote {}; first differences: {missing:?} (collector: {:?})",
                got.len(),
                want.len(),
                missing.first().and_then(|(k, _)| got.get(*k))
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let _ = std::fs::remove_dir_all(&dir);
}
