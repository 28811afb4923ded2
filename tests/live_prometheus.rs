//! The Prometheus endpoint against a real Prometheus server (Debian's `prometheus`, started by the
//! test on loopback with its data in a temporary directory): `tapflow run --prometheus-listen`
//! captures a generated capture replayed on a veth pair; Prometheus scrapes it every second; after
//! the replay, PromQL through Prometheus' HTTP API must give the requests, errors and frames the
//! capture holds (the same numbers `tapflow analyze` writes for the file), and `promtool check
//! metrics` must accept the exposition. Needs root, prometheus and promtool (scripts/test.sh
//! installs them).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tapflow_bench::gen::{generate, GenSpec, Scenario};

mod live_support;
mod netns;
use live_support::{have, l7_rows, start_prometheus, wait_until, Killed};
use netns::{is_root, VethNs};

const BIN: &str = env!("CARGO_BIN_EXE_tapflow");

/// Two distinct free ports (both listeners held until both are bound: ports taken one after the
/// other, each listener dropped first, can be the same port twice).
fn two_free_ports() -> (u16, u16) {
    let a = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
    let b = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
    let port = |l: &std::net::TcpListener| l.local_addr().expect("port").port();
    (port(&a), port(&b))
}

/// GET `path` on 127.0.0.1:`port`: (status line, body).
fn http_get(port: u16, path: &str) -> Option<(String, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    Some((head.lines().next()?.to_string(), body.to_string()))
}

/// `promql` percent-encoded for a query string.
fn encode(promql: &str) -> String {
    promql
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A PromQL instant query's single value (None: no series yet).
fn query(port: u16, promql: &str) -> Option<f64> {
    let q = encode(promql);
    let (status, body) = http_get(port, &format!("/api/v1/query?query={q}"))?;
    assert!(status.contains("200"), "{status}: {body}");
    let v: serde_json::Value = serde_json::from_str(&body).ok()?;
    let r = v["data"]["result"].as_array()?.first()?;
    r["value"][1].as_str()?.parse().ok()
}

/// The number of series a PromQL instant query returns.
fn series(port: u16, promql: &str) -> usize {
    let q = encode(promql);
    http_get(port, &format!("/api/v1/query?query={q}"))
        .and_then(|(_, body)| serde_json::from_str::<serde_json::Value>(&body).ok())
        .and_then(|v| v["data"]["result"].as_array().map(Vec::len))
        .unwrap_or(0)
}

#[test]
fn prometheus_scrapes_red_and_self_monitoring_series() {
    if !is_root() || !have("prometheus") || !have("promtool") {
        eprintln!("skipped: needs root, prometheus and promtool (scripts/test.sh installs them)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("tapflow-prom-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let pcap = dir.join("in.pcap");
    let spec = GenSpec {
        flows: 120,
        // RED (HTTP, DNS, MySQL, Redis) and TCP health (refused connections, retransmissions,
        // zero windows) for every dashboard panel.
        scenarios: vec![
            Scenario::Web,
            Scenario::Dns,
            Scenario::Mysql,
            Scenario::Redis,
            Scenario::ServerReset,
            Scenario::Retransmission,
            Scenario::ZeroWindow,
        ],
        ..GenSpec::default()
    };
    generate(&spec, std::fs::File::create(&pcap).expect("pcap"), None).expect("generate");
    // What the capture holds, from tapflow analyze of the file.
    let offline = dir.join("offline");
    let st = Command::new(BIN)
        .args(["analyze", "-q", "--out"])
        .arg(&offline)
        .arg(&pcap)
        .status()
        .expect("analyze");
    assert!(st.success());
    let rows = l7_rows(&offline);
    let requests = rows
        .iter()
        .filter(|r| r["type"] == 0 || r["type"] == 2)
        .count() as f64;
    let client_errors = rows.iter().filter(|r| r["response_status"] == 4).count() as f64;
    assert!(requests > 100.0 && client_errors > 0.0);

    let (tf_port, prom_port) = two_free_ports();
    let _prometheus = start_prometheus(
        &dir,
        prom_port,
        &format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: tapflow\n    static_configs:\n      - targets: ['127.0.0.1:{tf_port}']\n"
        ),
    );
    wait_until("prometheus", 30, || {
        http_get(prom_port, "/-/ready").is_some_and(|(s, _)| s.contains("200"))
    });

    let net = VethNs::with_mtu("pm", "1500");
    let out = dir.join("live");
    let mut run = Killed(
        Command::new(BIN)
            .args(["run", "-q", "--engine", "af_packet", "--duration", "14"])
            .args(["--iface", &net.host, "--prometheus-listen"])
            .arg(format!("127.0.0.1:{tf_port}"))
            .arg("--out")
            .arg(&out)
            .spawn()
            .expect("tapflow run"),
    );
    let replay = |file: &Path| {
        let st = Command::new("ip")
            .args(["netns", "exec", &net.ns, BIN, "replay", "--pps", "20000"])
            .args(["--iface", &net.peer])
            .arg(file)
            .stdout(Stdio::null())
            .status()
            .expect("replay");
        assert!(st.success());
    };
    let served = |name: &str| -> Option<f64> {
        let (_, body) = http_get(tf_port, "/metrics")?;
        body.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
    };
    // The endpoint starts before the capture: probe packets (UDP, no L7) until they are seen.
    let probe = dir.join("probe.pcap");
    let probe_spec = GenSpec {
        flows: 1,
        scenarios: vec![Scenario::SmallFlood],
        ..GenSpec::default()
    };
    generate(
        &probe_spec,
        std::fs::File::create(&probe).expect("probe"),
        None,
    )
    .expect("gen");
    let started = Instant::now();
    let before = loop {
        replay(&probe);
        std::thread::sleep(Duration::from_millis(1200));
        match served("tapflow_agent_frames_total") {
            Some(n) if n > 0.0 => break n,
            _ => assert!(
                started.elapsed() < Duration::from_secs(10),
                "capture did not start"
            ),
        }
    };
    replay(&pcap);
    let frames = {
        let mut n = 0u32;
        let mut r = tapflow_dataplane::pcap::PcapReader::open(Path::new(&pcap), 0).expect("pcap");
        while let Ok(Some(_)) = r.next_frame() {
            n += 1;
        }
        before + f64::from(n)
    };

    // Prometheus has the series tapflow served after the replay.
    let started = Instant::now();
    let want = [
        ("sum(tapflow_l7_requests_total)", requests),
        (
            "sum(tapflow_l7_errors_total{class=\"client\"})",
            client_errors,
        ),
        ("tapflow_agent_frames_total", frames),
    ];
    loop {
        let got: Vec<Option<f64>> = want.iter().map(|(q, _)| query(prom_port, q)).collect();
        if want.iter().zip(&got).all(|((_, w), g)| *g == Some(*w)) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(12),
            "Prometheus: {got:?}, expected {:?}; tapflow serves: {:?}",
            want.iter().map(|w| w.1).collect::<Vec<_>>(),
            http_get(tf_port, "/metrics").map(|(_, b)| b
                .lines()
                .filter(|l| l.starts_with("tapflow_agent_frames")
                    || l.starts_with("tapflow_agent_rx_packets"))
                .map(str::to_string)
                .collect::<Vec<_>>())
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // Per worker: the frames of the only worker.
    assert_eq!(
        query(prom_port, "sum(tapflow_agent_worker_frames_total)"),
        Some(frames)
    );
    // Per service and protocol, with latency histograms.
    assert_eq!(
        query(
            prom_port,
            "count(count by (l7_protocol) (tapflow_l7_requests_total > 0))"
        ),
        Some(4.0),
        "HTTP, DNS, MySQL, Redis"
    );
    assert!(query(
        prom_port,
        "histogram_quantile(0.9, sum by (le) (tapflow_l7_response_time_seconds_bucket))"
    )
    .is_some_and(|v| v > 0.0));
    // Every panel of the Grafana dashboard has data.
    std::thread::sleep(Duration::from_secs(3));
    let dash: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/dashboards/tapflow-network.json"
        ))
        .expect("dashboard"),
    )
    .expect("json");
    let mut exprs = 0;
    for panel in dash["panels"].as_array().expect("panels") {
        for t in panel["targets"].as_array().expect("targets") {
            let e = t["expr"].as_str().expect("expr");
            assert!(
                series(prom_port, e) > 0,
                "panel '{}': no series for {e}",
                panel["title"]
            );
            exprs += 1;
        }
    }
    assert!(exprs >= 15);
    // The exposition is valid text format.
    let (_, body) = http_get(tf_port, "/metrics").expect("metrics");
    std::fs::write(dir.join("metrics.txt"), &body).expect("write");
    let check = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "promtool check metrics < {}",
            dir.join("metrics.txt").display()
        ))
        .output()
        .expect("promtool");
    let report = String::from_utf8_lossy(&check.stderr).into_owned()
        + &String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "promtool: {report}");
    // stats.json is rewritten every second while the run goes on, and at its end.
    let live: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("stats.json")).expect("live stats"))
            .expect("json");
    assert_eq!(live["running"], true);
    assert_eq!(live["frames"].as_f64(), Some(frames));
    assert_eq!(live["l7.requests"].as_f64(), Some(requests));
    assert!(run.0.wait().expect("wait").success());
    let last: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("stats.json")).expect("stats"))
            .expect("json");
    assert!(last.get("running").is_none());
    assert!(last["metrics.documents"].as_u64().is_some_and(|n| n > 0));
    drop(net);
    let _ = std::fs::remove_dir_all(&dir);
}
