//! `tapflow trace` and Go's crypto/tls: a Go program (tests/clients/go_tls, built here with
//! Debian's Go) runs an HTTPS server and its clients on loopback; the tracer's uprobes on
//! `crypto/tls.(*Conn).Read` / `Write` (entries and every RET) give the plaintext, so every
//! request is logged once by the client side and once by the server side, marked `is_tls`.
//! Found by scanning the running processes (`--go-tls`) and named before the program starts
//! (`--go-exe`), with eight client goroutines at once, over HTTP/2 (ALPN h2) and over net.Conns
//! wrapped by the program (found through the wrappers); executables
//! that cannot be probed are named with the reason. Needs root and `go` (scripts/test.sh installs golang-go); skips and
//! says so without.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use serde_json::Value;

mod live_support;
mod netns;
mod procs;
mod trace_support;
use live_support::have;
use tapflow_dataplane::trace::go_elf::{self, NotProbed};
use trace_support::{assert_processes, by_side, can_trace, s, temp, ReadyPeer, Trace};

static ONE_TRACER: Mutex<()> = Mutex::new(());

/// Builds tests/clients/go_tls (with `flags` for `go build`): the executable, or None without Go.
fn go_build(name: &str, flags: &[&str]) -> Option<PathBuf> {
    if !have("go") {
        eprintln!("skipped: needs go (scripts/test.sh installs golang-go)");
        return None;
    }
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("go-tls");
    std::fs::create_dir_all(&work).expect("go work dir");
    let exe = work.join(name);
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/go_tls");
    let out = Command::new("go")
        .arg("build")
        .args(flags)
        .arg("-o")
        .arg(&exe)
        .arg(".")
        .current_dir(&src)
        .env("GOCACHE", work.join("cache"))
        .env("GOPATH", work.join("gopath"))
        .env("GOFLAGS", "-mod=mod")
        .env("GOTOOLCHAIN", "local")
        .output()
        .expect("go build");
    assert!(
        out.status.success(),
        "go build: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(exe)
}

fn peer_exe() -> Option<&'static PathBuf> {
    static EXE: OnceLock<Option<PathBuf>> = OnceLock::new();
    EXE.get_or_init(|| go_build("gotlspeer", &[])).as_ref()
}

/// The Go program making `requests` requests from each of `clients` goroutines (`extra`: its
/// further arguments), listening.
fn start_peer(exe: &Path, requests: usize, clients: usize, extra: &[&str]) -> ReadyPeer {
    let mut cmd = Command::new(exe);
    cmd.args([requests.to_string(), clients.to_string()])
        .args(extra);
    ReadyPeer::start(cmd)
}

/// Every request of `clients` x `requests` is one HTTP row on each side, with its status, TLS
/// and both process names; the rows of that server hold nothing else but TLS handshakes.
fn assert_every_request_once(rows: &[Value], port: u16, requests: usize, clients: usize) {
    assert_every_request_once_as(rows, port, requests, clients, "HTTP", "gotlspeer");
}

fn assert_every_request_once_as(
    rows: &[Value],
    port: u16,
    requests: usize,
    clients: usize,
    protocol: &str,
    process: &str,
) {
    let sides = by_side(rows, port);
    let mut want = BTreeMap::new();
    for c in 0..clients {
        for i in 0..requests - 1 {
            want.insert(format!("/go-tls/{c}/{i}"), 200u64);
        }
        want.insert(format!("/go-tls/{c}/missing"), 404);
    }
    for side in ["c-p", "s-p"] {
        let rows = sides.get(side).cloned().unwrap_or_default();
        let mut got = BTreeMap::new();
        for r in &rows {
            match s(r, "l7_protocol_str") {
                p if p == protocol => {}
                "TLS" => continue,
                other => panic!("{side}: a {other} row: {r}"),
            }
            assert_eq!(r["is_tls"], true, "{r}");
            assert_eq!(s(r, "request_type"), "GET", "{r}");
            assert!(r["response_duration"].as_u64().unwrap_or(0) > 0, "{r}");
            let previous = got.insert(
                s(r, "request_resource").to_string(),
                r["response_code"].as_u64().unwrap_or(0),
            );
            assert!(previous.is_none(), "{side}: logged twice: {r}");
        }
        assert_eq!(got, want, "{side}");
        let http: Vec<Value> = rows
            .into_iter()
            .filter(|r| s(r, "l7_protocol_str") == protocol)
            .collect();
        assert_processes(&http, process, process);
    }
}

#[test]
fn a_running_go_program_found_by_scanning_has_its_tls_plaintext_logged() {
    let _one = ONE_TRACER.lock().unwrap_or_else(|e| e.into_inner());
    if !can_trace() {
        return;
    }
    let Some(exe) = peer_exe() else { return };
    let dir = temp("go-tls-scan");
    let peer = start_peer(exe, 10, 1, &[]);
    let (port, pid) = (peer.port, peer.pid);
    let out = dir.join("out");
    let trace = Trace::start(
        &out,
        &["--go-tls", "--no-openssl", "--pid", &pid.to_string()],
    );
    peer.run();
    let (status, rows, stats) = trace.stop();
    assert!(status.success());
    assert_every_request_once(&rows, port, 10, 1);
    assert!(
        stats["trace.bpf.go_tls_events"].as_u64().unwrap() >= 40,
        "{stats}"
    );
    assert_eq!(stats["trace.bpf.go_tls_no_fd"], 0, "{stats}");
    let probed = stats["trace.go_executables"].as_array().expect("list");
    assert_eq!(probed.len(), 1, "{stats}");
    assert!(
        probed[0].as_str().unwrap().contains("gotlspeer (go1."),
        "{stats}"
    );
    assert_eq!(stats["trace.decode_errors"], 0);
}

/// `exe` traced by name (`--go-exe`) while it makes `requests` requests from each of `clients`
/// goroutines (`extra`: its further arguments): the rows, stats.json and the server's port.
fn traced_by_name(
    exe: &Path,
    scratch: &str,
    (requests, clients): (usize, usize),
    extra: &[&str],
) -> (Vec<Value>, Value, u16) {
    let dir = temp(scratch);
    let out = dir.join("out");
    let trace = Trace::start(
        &out,
        &[
            "--go-exe",
            exe.to_str().expect("a UTF-8 path"),
            "--no-openssl",
        ],
    );
    let peer = start_peer(exe, requests, clients, extra);
    let port = peer.port;
    peer.run();
    let (status, rows, stats) = trace.stop();
    assert!(status.success());
    (rows, stats, port)
}

#[test]
fn go_clients_started_after_the_tracer_are_each_logged_once() {
    let _one = ONE_TRACER.lock().unwrap_or_else(|e| e.into_inner());
    if !can_trace() {
        return;
    }
    let Some(exe) = peer_exe() else { return };
    // Eight goroutines with a connection each, 25 requests on each: the server's reads wait
    // for the next request, so goroutines park and resume, maybe on other threads.
    let (rows, stats, port) = traced_by_name(exe, "go-tls-named", (25, 8), &[]);
    assert_every_request_once(&rows, port, 25, 8);
    assert!(
        stats["trace.bpf.go_tls_events"].as_u64().unwrap() >= 800,
        "{stats}"
    );
    assert_eq!(stats["trace.bpf.ring_full"], 0, "{stats}");
}

#[test]
fn http2_over_go_tls_is_parsed_from_the_plaintext() {
    let _one = ONE_TRACER.lock().unwrap_or_else(|e| e.into_inner());
    if !can_trace() {
        return;
    }
    let Some(exe) = peer_exe() else { return };
    // ALPN picks h2: each client's requests are streams of one connection, HPACK-coded.
    let (rows, stats, port) = traced_by_name(exe, "go-tls-h2", (10, 3), &["h2"]);
    assert_every_request_once_as(&rows, port, 10, 3, "HTTP2", "gotlspeer");
    assert_eq!(stats["trace.decode_errors"], 0);
}

#[test]
fn tls_over_wrapped_net_conns_is_traced_through_the_wrappers() {
    let _one = ONE_TRACER.lock().unwrap_or_else(|e| e.into_inner());
    if !can_trace() {
        return;
    }
    let Some(exe) = peer_exe() else { return };
    // The server's tls.Conns over a counting wrapper of the accepted *net.TCPConn, the clients'
    // over two wrappers (each embedding the net.Conn it wraps): the socket is found through them.
    let (rows, stats, port) = traced_by_name(exe, "go-tls-wrap", (10, 2), &["wrap"]);
    assert_every_request_once(&rows, port, 10, 2);
    assert_eq!(stats["trace.bpf.go_tls_no_fd"], 0, "{stats}");
}

/// Builds the peer with `flags` as `name`, traces it by name (`--go-exe`) and checks every
/// request of 2 clients x 10 on both sides.
fn built_and_traced_by_name(name: &str, flags: &[&str]) {
    let _one = ONE_TRACER.lock().unwrap_or_else(|e| e.into_inner());
    if !can_trace() {
        return;
    }
    let Some(exe) = go_build(name, flags) else {
        return;
    };
    let (rows, stats, port) = traced_by_name(&exe, name, (10, 2), &[]);
    assert_every_request_once_as(&rows, port, 10, 2, "HTTP", name);
    assert_eq!(stats["trace.bpf.go_tls_no_fd"], 0, "{stats}");
}

#[test]
fn a_stripped_go_executable_is_probed_from_its_function_table() {
    // -s -w: no .symtab, no DWARF (how most container images ship Go programs).
    built_and_traced_by_name("gotlsstrip", &["-ldflags", "-s -w"]);
}

#[test]
fn a_position_independent_go_executable_is_probed_where_it_was_loaded() {
    // Loaded at a random address: the probes find the load bias from where they hit.
    built_and_traced_by_name("gotlspeer-pie", &["-buildmode=pie"]);
}

#[test]
fn executables_that_cannot_be_probed_are_named_with_the_reason() {
    let _one = ONE_TRACER.lock().unwrap_or_else(|e| e.into_inner());
    let Some(exe) = peer_exe() else { return };
    // What the probes are put on, read from the real executable.
    let t = go_elf::inspect(exe).expect("a Go program with crypto/tls");
    assert!(t.version.starts_with("go1."), "{t:?}");
    assert!(t.tcp_close != 0 && t.unix_close != 0, "{t:?}");
    let bytes = std::fs::read(exe).expect("read");
    for f in [&t.read, &t.write] {
        assert!(!f.returns.is_empty());
        for r in &f.returns {
            assert!(*r > f.start && *r < f.start + 8192, "{t:?}");
            assert_eq!(bytes[*r as usize], 0xc3, "a RET at {r:#x}");
        }
        // The entry probe on the stack check's jbe (emulated by the kernel, not single-stepped).
        assert!(f.entry_on_jbe, "{t:?}");
        let jbe = &bytes[f.entry as usize..f.entry as usize + 2];
        assert!(jbe[0] == 0x76 || jbe == [0x0f, 0x86], "{jbe:x?}");
    }
    // Read's bytes taken at its one call of runtime.memmove (a call: emulated too).
    let copy = t
        .read
        .copy_call
        .expect("Read's copy into the caller's buffer");
    assert_eq!(bytes[copy as usize], 0xe8, "a CALL at {copy:#x}");
    assert_ne!(t.read.entry, t.write.entry);
    // Stripped of its symbol table: the same functions from Go's own function table.
    let stripped = go_build("gotlspeer-stripped", &["-ldflags", "-s -w"]).expect("go");
    let ts = go_elf::inspect(&stripped).expect("functions from .gopclntab");
    assert_eq!(ts.version, t.version);
    assert!(ts.tcp_close != 0 && ts.unix_close != 0, "{ts:?}");
    assert!(ts.read.entry_on_jbe && ts.write.entry_on_jbe, "{ts:?}");
    assert!(ts.read.copy_call.is_some(), "{ts:?}");
    assert_eq!(ts.read.returns.len(), t.read.returns.len());
    assert_eq!(
        go_elf::inspect(Path::new("/bin/true")),
        Err(NotProbed::NotGo)
    );
    if !can_trace() {
        return;
    }
    let dir = temp("go-tls-refused");
    let out = dir.join("out");
    let trace = Trace::start(
        &out,
        &[
            "--go-exe",
            "/bin/true",
            "--go-exe",
            "/nonexistent/go-program",
            "--no-openssl",
        ],
    );
    let (status, _rows, stats) = trace.stop();
    assert!(status.success(), "the tracer runs without them");
    assert_eq!(stats["trace.go_executables"], serde_json::json!([]));
    let refused: Vec<&str> = stats["trace.go_executables_not_probed"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(refused.len(), 2, "{stats}");
    assert!(
        refused.iter().any(|r| r.contains("not a Go program")),
        "{refused:?}"
    );
    assert!(
        refused.iter().any(|r| r.contains("cannot read it")),
        "{refused:?}"
    );
}
