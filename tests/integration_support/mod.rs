//! What the integration collector's tests share: a `tapflow run` with its collector on lo
//! sending to a `tapflow server`, plain HTTP requests to it, and the rows the server stored.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::live_support::{wait_until, Killed};

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_tapflow");

pub(crate) fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
    l.local_addr().expect("addr").port()
}

/// An HTTP/1.1 request to 127.0.0.1:`port`: the status code.
pub(crate) fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> u16 {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return 0;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    if s.write_all(head.as_bytes()).is_err() {
        return 0;
    }
    // A refused body may be cut short by the server: what it answered still counts.
    let _ = s.write_all(body);
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf)
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// A POST declaring a body of `len` bytes, sent without it: the status code (a body refused
/// for its declared size is answered before it is read).
pub(crate) fn declared(port: u16, path: &str, len: usize) -> u16 {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return 0;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let head = format!("POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: {len}\r\n\r\n");
    if s.write_all(head.as_bytes()).is_err() {
        return 0;
    }
    let mut buf = [0u8; 256];
    let n = s.read(&mut buf).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n])
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

pub(crate) fn gzip(data: &[u8]) -> Vec<u8> {
    let mut c = Command::new("gzip")
        .arg("-c")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("gzip");
    c.stdin
        .take()
        .expect("stdin")
        .write_all(data)
        .expect("write");
    let o = c.wait_with_output().expect("gzip");
    o.stdout
}

pub(crate) fn rows(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// `tapflow run` on lo with `config`, sending to `ingest`, its collector on `port`.
pub(crate) fn agent(
    dir: &Path,
    name: &str,
    config: &str,
    ingest: &str,
    port: u16,
    secs: u32,
) -> Killed {
    let cfg = dir.join(format!("{name}.yaml"));
    std::fs::write(&cfg, config).expect("config");
    let run = Killed(
        Command::new(BIN)
            .args(["run", "-q", "--engine", "af_packet", "--iface", "lo"])
            .args(["--duration", &secs.to_string(), "--agent-id", "7"])
            .args(["--ingester", ingest, "--integration-listen"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--config")
            .arg(&cfg)
            .arg("--out")
            .arg(dir.join(name))
            .spawn()
            .expect("tapflow run"),
    );
    wait_until("the integration collector", 20, || {
        http(port, "GET", "/", &[], b"") == 200
    });
    run
}

/// Waits for the run to end by itself; its stats.json.
pub(crate) fn finished(mut run: Killed, dir: &Path, name: &str) -> Value {
    let end = Instant::now() + Duration::from_secs(60);
    while run.0.try_wait().expect("wait").is_none() {
        assert!(Instant::now() < end, "tapflow run did not stop");
        std::thread::sleep(Duration::from_millis(100));
    }
    let stats = std::fs::read_to_string(dir.join(name).join("stats.json")).expect("stats.json");
    serde_json::from_str(&stats).expect("json")
}
