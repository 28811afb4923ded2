//! What the tracer's live tests share: whether this host can trace, a running `tapflow trace`,
//! Python's http.server and curl, and the checks on the rows.

#![allow(dead_code)] // each test crate uses some of these

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::live_support::{have, l7_rows, port_open, stats, wait_until, Killed};
use crate::netns::is_root;
use crate::procs;

pub(crate) fn can_trace() -> bool {
    if !is_root() {
        eprintln!("skipped: needs root (scripts/test.sh runs the tests as root)");
        return false;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_tapflow"))
        .args(["trace", "--check"])
        .output()
        .expect("tapflow trace --check");
    if !out.status.success() {
        eprintln!(
            "skipped: this kernel cannot run the tracer:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        return false;
    }
    true
}

pub(crate) fn temp(name: &str) -> procs::Scratch {
    procs::Scratch::new("trace", name)
}

/// A running `tapflow trace`, attached (its ready file written).
pub(crate) struct Trace {
    pub(crate) child: Child,
    out: PathBuf,
}

impl Trace {
    pub(crate) fn start(out: &Path, extra: &[&str]) -> Trace {
        Trace::start_with_env(out, extra, &[])
    }

    /// [`Trace::start`] with environment variables set for the tracer.
    pub(crate) fn start_with_env(out: &Path, extra: &[&str], env: &[(&str, &str)]) -> Trace {
        let child = Command::new(env!("CARGO_BIN_EXE_tapflow"))
            .args(["trace", "-q", "--out"])
            .arg(out)
            .args(extra)
            .envs(env.iter().copied())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tapflow trace");
        let mut t = Trace {
            child,
            out: out.to_path_buf(),
        };
        let started = Instant::now();
        while !out.join("trace.ready").exists() {
            if let Ok(Some(st)) = t.child.try_wait() {
                panic!("tapflow trace exited early: {st}");
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "tracer not attached"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        t
    }

    /// SIGTERM, then the rows (after a moment for the last events to arrive).
    pub(crate) fn stop(mut self) -> (ExitStatus, Vec<Value>, Value) {
        std::thread::sleep(Duration::from_millis(500));
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let end = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                break st;
            }
            assert!(Instant::now() < end, "tapflow trace did not stop");
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(
            !self.out.join("trace.ready").exists(),
            "ready file left behind"
        );
        assert_no_tracer_programs();
        (status, l7_rows(&self.out), stats(&self.out))
    }
}

impl Drop for Trace {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `bpftool prog show`: the BPF programs loaded now.
pub(crate) fn loaded_programs() -> String {
    let out = Command::new("bpftool")
        .args(["prog", "show"])
        .output()
        .expect("bpftool");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// No tracer program is loaded any more (checked with bpftool when installed).
pub(crate) fn assert_no_tracer_programs() {
    if !have("bpftool") {
        return;
    }
    let text = loaded_programs();
    for name in [
        "enter_read",
        "exit_sendto",
        "ssl_return",
        "enter_close",
        "go_tls_return",
    ] {
        assert!(!text.contains(name), "{name} still loaded:\n{text}");
    }
}

pub(crate) fn s<'a>(r: &'a Value, k: &str) -> &'a str {
    r[k].as_str().unwrap_or_default()
}

/// The rows of connections to `port`, by observation point (c-p, s-p).
pub(crate) fn by_side(rows: &[Value], port: u16) -> BTreeMap<String, Vec<Value>> {
    let mut m: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for r in rows.iter().filter(|r| r["server_port"] == port) {
        m.entry(s(r, "observation_point").to_string())
            .or_default()
            .push(r.clone());
    }
    m
}

pub(crate) fn curl(args: &[&str]) {
    let st = Command::new("curl")
        .args(["-s", "-o", "/dev/null"])
        .args(args)
        .status()
        .expect("curl");
    assert!(st.success(), "curl {args:?}");
}

pub(crate) fn http_server(dir: &Path, port: u16) -> Killed {
    std::fs::write(dir.join("index.html"), "hello from python\n").expect("file");
    let k = Killed(
        Command::new("/usr/bin/python3")
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 http.server"),
    );
    wait_until("python3 http.server", 15, || {
        port_open(&format!("127.0.0.1:{port}"))
    });
    k
}

/// Both processes' names on every row, the row's side given by its observation point.
pub(crate) fn assert_processes(rows: &[Value], client: &str, server: &str) {
    for r in rows {
        assert_eq!(s(r, "process_kname_0"), client, "{r}");
        assert!(s(r, "process_kname_1").starts_with(server), "{r}");
        assert!(r["process_id_0"].as_u64().unwrap_or(0) > 0, "{r}");
        assert!(r["process_id_1"].as_u64().unwrap_or(0) > 0, "{r}");
        assert_eq!(r["signal_source"], 3, "{r}");
    }
}

/// `tests/clients/dns_udp.py server PORT N MODE` (MODE: "", "dual" or "any"), run by `prefix`
/// (`ip netns exec NS`, or nothing), once it is listening; None when it could not bind.
pub(crate) fn dns_server(prefix: &[&str], port: u16, n: usize, mode: &str) -> Option<Killed> {
    let mut cmd = match prefix.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg("/usr/bin/python3");
            c
        }
        None => Command::new("/usr/bin/python3"),
    };
    let mut server = Killed(
        cmd.arg(crate::live_support::client_script("dns_udp.py"))
            .args(["server", &port.to_string(), &n.to_string(), mode])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("dns server"),
    );
    let mut ready = String::new();
    let out = server.0.stdout.take().expect("stdout");
    let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(out), &mut ready);
    (ready.trim() == "ready").then_some(server)
}

/// `tests/clients/dns_udp.py ARGS` as the client; the names it asked.
pub(crate) fn dns_client(args: &[&str]) -> Vec<String> {
    let client = Command::new("/usr/bin/python3")
        .arg(crate::live_support::client_script("dns_udp.py"))
        .args(args)
        .output()
        .expect("dns client");
    assert!(
        client.status.success(),
        "{}",
        String::from_utf8_lossy(&client.stderr)
    );
    String::from_utf8_lossy(&client.stdout)
        .split_whitespace()
        .map(String::from)
        .collect()
}

/// A certificate and key for localhost, made by `openssl req` in `dir`.
pub(crate) fn certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let st = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .expect("openssl req");
    assert!(st.success());
    (cert, key)
}

/// A test peer that serves and makes its own requests (tests/clients/go_tls, tls_peer.c): it
/// prints "ready PORT" once listening, starts its clients on a line from standard input and
/// prints a line starting with "done" when they are through.
pub(crate) struct ReadyPeer {
    _child: Killed,
    stdin: std::process::ChildStdin,
    stdout: std::io::BufReader<std::process::ChildStdout>,
    pub(crate) port: u16,
    pub(crate) pid: u32,
}

impl ReadyPeer {
    /// Starts `cmd` and waits for its "ready PORT".
    pub(crate) fn start(mut cmd: Command) -> ReadyPeer {
        use std::io::BufRead;
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("test peer");
        let stdin = child.stdin.take().expect("stdin");
        let mut stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("ready line");
        let port = line
            .strip_prefix("ready ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("the test peer said {line:?}"));
        let pid = child.id();
        ReadyPeer {
            _child: Killed(child),
            stdin,
            stdout,
            port,
            pid,
        }
    }

    /// Makes its requests and waits for them all: its "done" line.
    pub(crate) fn run(mut self) -> String {
        use std::io::{BufRead, Write};
        self.stdin.write_all(b"go\n").expect("start the clients");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("done line");
        assert!(
            line.starts_with("done"),
            "the peer's clients failed: {line:?}"
        );
        line
    }
}
