//! SIGHUP makes `tapflow run` read its `--config` file again, with the controller's live/restart
//! split: an invalid file is refused and the running configuration stays; a hot change (request
//! log protocols) applies without restart; a table size change restarts the dataplane; the run
//! still ends cleanly; the flow log filters switch live (the outputs outlive the dataplane) and
//! other output settings are named as applying at the next start; the capture filter switches
//! live, and one libpcap refuses leaves the running one in place.
//! Captures on loopback; needs root (and libpcap for the capture filter).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod netns;
use netns::is_root;

const BIN: &str = env!("CARGO_BIN_EXE_tapflow");

/// The tests capture on the same loopback: one at a time, so that none sees another's traffic.
static LOOPBACK: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn loopback() -> std::sync::MutexGuard<'static, ()> {
    LOOPBACK.lock().unwrap_or_else(|e| e.into_inner())
}

fn hup(pid: u32) {
    let st = Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(st.success());
}

/// Waits until the run's standard error has `needle` (read from the file it goes to).
fn wait_for_line(log: &std::path::Path, needle: &str) -> String {
    let started = Instant::now();
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.contains(needle) {
            return text;
        }
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "no {needle:?} in:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A fresh scratch directory named `name`.
fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tapflow-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    dir
}

/// `tapflow run` on loopback for `seconds` with `--config cfg`, records into `dir/out`, its
/// standard error into `dir/stderr.txt` (returned).
fn start_run(
    dir: &std::path::Path,
    cfg: &std::path::Path,
    seconds: u32,
) -> (std::process::Child, std::path::PathBuf) {
    let log = dir.join("stderr.txt");
    let run = Command::new(BIN)
        .args(["run", "-q", "--engine", "af_packet", "--iface", "lo"])
        .args(["--duration", &seconds.to_string(), "--config"])
        .arg(cfg)
        .arg("--out")
        .arg(dir.join("out"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("tapflow run");
    (run, log)
}

#[test]
fn sighup_reloads_the_config_file() {
    let _lo = loopback();
    if !is_root() {
        eprintln!("skipped: needs root (capture on loopback)");
        return;
    }
    let dir = scratch("reload");
    let cfg = dir.join("tapflow.yaml");
    let protocols = |list: &str| {
        format!("processors:\n  request_log:\n    application_protocol_inference:\n      enabled_protocols: [{list}]\n")
    };
    std::fs::write(&cfg, protocols("HTTP")).expect("config");
    let (mut run, log) = start_run(&dir, &cfg, 12);
    let pid = run.id();
    std::thread::sleep(Duration::from_millis(1500));

    std::fs::write(&cfg, "processors:\n  flow_log:\n    nope: 1\n").expect("bad config");
    hup(pid);
    wait_for_line(&log, "refused");
    assert!(run.try_wait().expect("wait").is_none(), "still running");

    std::fs::write(&cfg, protocols("HTTP, Redis, MySQL")).expect("config");
    hup(pid);
    wait_for_line(&log, "from the reloaded file applied without restart");

    std::fs::write(
        &cfg,
        format!(
            "{}  flow_log:\n    tunning:\n      concurrent_flow_limit: 20000\n",
            protocols("HTTP")
        ),
    )
    .expect("config");
    hup(pid);
    let text = wait_for_line(&log, "restarting the dataplane");
    assert!(text.contains("concurrent_flow_limit"), "{text}");

    let status = run.wait().expect("wait");
    assert!(
        status.success(),
        "{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let stats: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("out/stats.json")).expect("stats"))
            .expect("json");
    assert!(stats.get("running").is_none(), "the final stats.json");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The ports of the l4 rows in `out`.
fn l4_ports(out: &std::path::Path) -> Vec<(u64, u64)> {
    std::fs::read_to_string(out.join("l4_flow_log.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let r: serde_json::Value = serde_json::from_str(l).expect("json row");
            let port = |k: &str| r[k].as_u64().expect("port");
            (port("client_port"), port("server_port"))
        })
        .collect()
}

/// Sends one UDP datagram on loopback to `port` from each of `flows` sockets (a flow each, ended
/// by the `others` timeout).
fn udp_to(port: u16, flows: usize) {
    let sockets: Vec<_> = (0..flows)
        .map(|_| std::net::UdpSocket::bind("127.0.0.1:0").expect("bind"))
        .collect();
    for s in &sockets {
        s.send_to(b"tapflow filter test", ("127.0.0.1", port))
            .expect("send");
    }
}

#[test]
fn sighup_switches_the_flow_log_filters_and_throttles_live() {
    let _lo = loopback();
    if !is_root() {
        eprintln!("skipped: needs root (capture on loopback)");
        return;
    }
    let dir = scratch("reload-filters");
    let cfg = dir.join("tapflow.yaml");
    let config = |types: &str, throttle: &str, keys: u32| {
        format!(
            "processors:\n  flow_log:\n    conntrack:\n      timeouts:\n        others: 1s\n\
             outputs:\n  flow_log:\n    filters:\n      l4_capture_network_types: [{types}]\n\
             \x20   {throttle}\n\
             \x20 flow_metrics:\n    tunning:\n      max_keys_per_window: {keys}\n"
        )
    };
    std::fs::write(&cfg, config("-1", "", 4096)).expect("config");
    let (mut run, log) = start_run(&dir, &cfg, 10);
    let out = dir.join("out");
    std::thread::sleep(Duration::from_millis(1500));
    // Reported while no l4 row is kept: its timeout (1 s) has passed when the next packet moves
    // the analyzer's time on (a run's time comes with its packets).
    udp_to(40_001, 1);
    std::thread::sleep(Duration::from_millis(1600));
    udp_to(40_003, 1);
    // Timers fire on whole-second slots, and a finished row reaches the outputs in the worker's
    // next batch (every 100 ms).
    std::thread::sleep(Duration::from_millis(2000));

    let throttle = "throttles:\n      l4_throttle: 100";
    std::fs::write(&cfg, config("0", throttle, 1024)).expect("config");
    hup(run.id());
    wait_for_line(&log, "from the reloaded file applied without restart");
    // The metric aggregation stays as it was opened, and says so.
    wait_for_line(
        &log,
        "outputs.flow_metrics from the reloaded file apply at the next start of tapflow",
    );
    std::thread::sleep(Duration::from_millis(300));
    // 1,000 flows at once, throttled to 100 rows a second: at most 400 kept in a 4-second
    // period, at most 800 if the flows straddle two.
    udp_to(40_002, 1000);

    let status = run.wait().expect("wait");
    assert!(
        status.success(),
        "{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let ports = l4_ports(&out);
    // By server port: a client's ephemeral port may be any number, 40001 too.
    let has = |p: u64| ports.iter().any(|&(_, s)| s == p);
    assert!(
        has(40_002),
        "the flows after the reload are kept: {ports:?}"
    );
    assert!(!has(40_001), "the flow before it was filtered: {ports:?}");
    let kept = ports.iter().filter(|&&(_, s)| s == 40_002).count() as u64;
    let stats: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("stats.json")).expect("stats"))
            .expect("stats json");
    let throttled = stats["throttled.l4_rows"]
        .as_u64()
        .expect("throttled.l4_rows");
    // The flow to 40 003 may be reported after the reload too (kept or throttled).
    assert!(
        kept <= 800 && throttled >= 200 && kept + throttled <= 1001,
        "kept {kept}, throttled {throttled}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sighup_switches_the_capture_filter_live() {
    let _lo = loopback();
    // tcpdump stands for libpcap, which it needs too.
    if !is_root() || Command::new("tcpdump").arg("--version").output().is_err() {
        eprintln!("skipped: needs root and libpcap (tcpdump)");
        return;
    }
    let dir = scratch("reload-capture-filter");
    let cfg = dir.join("tapflow.yaml");
    let config = |expr: &str| {
        format!(
            "inputs:\n  cbpf:\n    af_packet:\n      extra_bpf_filter: '{expr}'\n\
             processors:\n  flow_log:\n    conntrack:\n      timeouts:\n        others: 1s\n"
        )
    };
    std::fs::write(&cfg, config("udp dst port 41001")).expect("config");
    let (mut run, log) = start_run(&dir, &cfg, 8);
    std::thread::sleep(Duration::from_millis(1500));
    udp_to(41_001, 1);
    udp_to(41_002, 1);
    std::thread::sleep(Duration::from_millis(300));

    std::fs::write(&cfg, config("udp dst port 41003")).expect("config");
    hup(run.id());
    wait_for_line(&log, "from the reloaded file applied without restart");
    std::thread::sleep(Duration::from_millis(300));
    udp_to(41_001, 1);
    udp_to(41_003, 1);
    std::thread::sleep(Duration::from_millis(300));

    // An expression libpcap refuses: the running filter stays.
    std::fs::write(&cfg, config("udp dst port")).expect("config");
    hup(run.id());
    wait_for_line(&log, "syntax error");
    std::thread::sleep(Duration::from_millis(300));
    udp_to(41_003, 1);
    udp_to(41_002, 1);

    let status = run.wait().expect("wait");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(status.success(), "{text}");
    assert!(text.contains("refused"), "{text}");
    // Flows, not rows: a flow whose life straddles a minute has a row in each.
    let flows: std::collections::BTreeSet<(u64, u64)> =
        l4_ports(&dir.join("out")).into_iter().collect();
    let servers: Vec<u64> = flows.iter().map(|&(_, s)| s).collect();
    let count = |p: u64| servers.iter().filter(|&&s| s == p).count();
    assert_eq!(
        (count(41_001), count(41_002), count(41_003)),
        (1, 0, 2),
        "{flows:?}\n{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
