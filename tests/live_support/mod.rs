#![allow(dead_code)] // each live test crate uses some of these
//! Shared by the live tests against real servers: a child process killed on drop (the server,
//! also when the test fails), a tool check, `tapflow run` on a capture interface, and the records
//! and counters a run wrote.

use std::path::Path;
use std::process::{Child, Command, Stdio};

/// Kills the child on drop.
pub(crate) struct Killed(pub(crate) Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Does Debian's python3 import `module` (a client library the test command installs)?
pub(crate) fn python_has(module: &str) -> bool {
    Command::new("/usr/bin/python3")
        .args(["-c", &format!("import {module}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Is `cmd` on the PATH (or an existing path)?
pub(crate) fn have(cmd: &str) -> bool {
    Path::new(cmd).exists()
        || Command::new("sh")
            .args(["-c", &format!("command -v {cmd}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}

/// `tapflow run` with AF_PACKET on `iface` for `seconds`, writing to `out` (with `config` when
/// given); [`wait_capturing`] before sending traffic.
pub(crate) fn run_tapflow(iface: &str, seconds: u32, config: Option<&Path>, out: &Path) -> Child {
    tapflow_run(
        Command::new(env!("CARGO_BIN_EXE_tapflow")),
        iface,
        seconds,
        config,
        out,
    )
}

/// [`run_tapflow`] inside network namespace `ns` (a server that listens on the namespace's
/// loopback only, captured there).
pub(crate) fn run_tapflow_in(
    ns: &str,
    iface: &str,
    seconds: u32,
    config: Option<&Path>,
    out: &Path,
) -> Child {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns, env!("CARGO_BIN_EXE_tapflow")]);
    tapflow_run(c, iface, seconds, config, out)
}

fn tapflow_run(
    mut c: Command,
    iface: &str,
    seconds: u32,
    config: Option<&Path>,
    out: &Path,
) -> Child {
    c.args([
        "run",
        "-q",
        "--engine",
        "af_packet",
        "--duration",
        &seconds.to_string(),
    ])
    .args(["--iface", iface])
    .arg("--out")
    .arg(out);
    if let Some(cfg) = config {
        c.arg("--config").arg(cfg);
    }
    c.spawn().expect("tapflow run")
}

/// Waits until the `run` started by [`run_tapflow`] captures. Its first `stats.json` is written
/// a second after every capture socket is open, so traffic sent after this is seen from its
/// first packet (a fixed sleep raced a slow start: a connection's handshake was missed and its
/// roles were guessed the wrong way round).
pub(crate) fn wait_capturing(run: &mut Child, out: &Path) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !out.join("stats.json").exists() {
        if let Ok(Some(status)) = run.try_wait() {
            panic!("tapflow run exited before capturing: {status}");
        }
        assert!(
            std::time::Instant::now() < deadline,
            "tapflow run did not start capturing within 60 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Ends a `run` once the traffic it was started for is over, rather than at its `--duration`
/// (which a slow client may outlast): a second for its last frames to be read, then SIGTERM, on
/// which it writes out its flows and exits; one that has not exited 30 s later is killed and
/// the test fails.
pub(crate) fn stop_capture(run: &mut Child) {
    use std::time::{Duration, Instant};
    std::thread::sleep(Duration::from_secs(1));
    let _ = Command::new("kill")
        .args(["-TERM", &run.id().to_string()])
        .status();
    let end = Instant::now() + Duration::from_secs(30);
    while Instant::now() < end {
        if let Some(status) = run.try_wait().expect("wait") {
            assert!(status.success(), "tapflow run failed: {status}");
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = run.kill();
    let _ = run.wait();
    panic!("tapflow run did not exit within 30 s of SIGTERM");
}

/// The node_modules directory the test command installs npm packages into (target/test-npm),
/// when Node.js runs and `package` is installed there.
pub(crate) fn npm_modules(package: &str) -> Option<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-npm/node_modules");
    let node = Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    (node && dir.join(package).join("package.json").exists())
        .then(|| dir.to_string_lossy().into_owned())
}

/// The `l7_flow_log` rows a run wrote.
pub(crate) fn l7_rows(out: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(out.join("l7_flow_log.jsonl"))
        .expect("l7_flow_log")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect()
}

/// The run's stats.json.
pub(crate) fn stats(out: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("stats.json")).expect("stats"))
        .expect("json")
}

/// A config file enabling `protocols` (DeepFlow names), written into `dir`.
pub(crate) fn protocols_config(dir: &Path, protocols: &str) -> std::path::PathBuf {
    let path = dir.join("tapflow.yaml");
    std::fs::write(
        &path,
        format!("processors:\n  request_log:\n    application_protocol_inference:\n      enabled_protocols: [{protocols}]\n"),
    )
    .expect("config");
    path
}

/// Runs `client` (a script of tests/clients/ that checks every reply), which must print OK.
pub(crate) fn client_ok(mut client: Command) {
    let res = client.output().expect("client");
    assert_eq!(
        String::from_utf8_lossy(&res.stdout).trim(),
        "OK",
        "client: {}",
        String::from_utf8_lossy(&res.stderr)
    );
}

/// The path of a client script in tests/clients/.
pub(crate) fn client_script(name: &str) -> String {
    format!("{}/tests/clients/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Polls `ready` until it holds; fails the test after `limit_s` seconds (a server that did not
/// start).
pub(crate) fn wait_until(what: &str, limit_s: u64, mut ready: impl FnMut() -> bool) {
    let started = std::time::Instant::now();
    while !ready() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(limit_s),
            "{what} did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Does something accept TCP connections at `addr` (a server that finished starting)?
pub(crate) fn port_open(addr: &str) -> bool {
    addr.parse().is_ok_and(|a| {
        std::net::TcpStream::connect_timeout(&a, std::time::Duration::from_millis(200)).is_ok()
    })
}

/// Kafka's names of the API keys librdkafka's clients use (the mock broker logs keys).
pub(crate) fn kafka_api_name(key: &str) -> &'static str {
    match key {
        "0" => "Produce",
        "1" => "Fetch",
        "2" => "ListOffsets",
        "3" => "Metadata",
        "8" => "OffsetCommit",
        "9" => "OffsetFetch",
        "10" => "FindCoordinator",
        "11" => "JoinGroup",
        "12" => "Heartbeat",
        "13" => "LeaveGroup",
        "14" => "SyncGroup",
        "18" => "ApiVersions",
        "19" => "CreateTopics",
        "22" => "InitProducerId",
        "68" => "ConsumerGroupHeartbeat",
        "71" => "GetTelemetrySubscriptions",
        "72" => "PushTelemetry",
        other => panic!("API key {other}: add its name"),
    }
}

/// Debian's Prometheus on 127.0.0.1:`port` with the configuration `yml` (written to
/// `dir/prometheus.yml`) and its data in `dir/tsdb`; killed when dropped.
pub(crate) fn start_prometheus(dir: &Path, port: u16, yml: &str) -> Killed {
    std::fs::write(dir.join("prometheus.yml"), yml).expect("prometheus.yml");
    Killed(
        Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus"),
    )
}
