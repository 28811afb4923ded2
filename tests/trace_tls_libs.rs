//! `tapflow trace` and TLS libraries besides the system's shared OpenSSL: an HTTPS server and
//! its client (tests/clients/tls_peer.c, two processes) built here with gcc against BoringSSL
//! (Debian's android-libboringssl, which has `SSL_read` / `SSL_write` and not OpenSSL's `_ex`
//! pair) and against OpenSSL's static libraries (the library inside the executable, named with
//! `--libssl` or found in the running process's executable). Every request is logged once by the client side and once by the server side,
//! marked `is_tls`, with both processes. Needs root, gcc, openssl, android-libboringssl-dev and
//! libssl-dev (scripts/test.sh installs them); skips and says so without.

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
use trace_support::{assert_processes, by_side, can_trace, certificate, s, temp, ReadyPeer, Trace};

static ONE_TRACER: Mutex<()> = Mutex::new(());

const BORINGSSL_HEADER: &str = "/usr/include/android/openssl/ssl.h";
const BORINGSSL_LIBS: &str = "/usr/lib/x86_64-linux-gnu/android";

/// A build of tests/clients/tls_peer.c named `name` (gcc's `flags` after the source), or None
/// (said why) when `needs` is missing.
fn build(name: &str, needs: &[&str], flags: &[&str]) -> Option<PathBuf> {
    if !have("gcc") || !have("openssl") {
        eprintln!("skipped: needs gcc and openssl");
        return None;
    }
    if let Some(missing) = needs.iter().find(|p| !Path::new(p).exists()) {
        eprintln!("skipped: needs {missing} (scripts/test.sh installs it)");
        return None;
    }
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("tls-libs");
    std::fs::create_dir_all(&work).expect("work dir");
    let exe = work.join(name);
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/tls_peer.c");
    let out = Command::new("gcc")
        .args(["-O1", "-Wall", "-Werror"])
        .arg(&src)
        .args(flags)
        .arg("-o")
        .arg(&exe)
        .output()
        .expect("gcc");
    assert!(
        out.status.success(),
        "gcc {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(exe)
}

fn boringssl_peer() -> Option<&'static PathBuf> {
    static EXE: OnceLock<Option<PathBuf>> = OnceLock::new();
    EXE.get_or_init(|| {
        let rpath = format!("-Wl,-rpath,{BORINGSSL_LIBS}");
        build(
            "boringpeer",
            &[BORINGSSL_HEADER, BORINGSSL_LIBS],
            &[
                "-I/usr/include/android",
                &format!("-L{BORINGSSL_LIBS}"),
                &rpath,
                "-lssl",
                "-lcrypto",
            ],
        )
    })
    .as_ref()
}

fn static_openssl_peer() -> Option<&'static PathBuf> {
    static EXE: OnceLock<Option<PathBuf>> = OnceLock::new();
    EXE.get_or_init(|| {
        build(
            "staticpeer",
            &["/usr/lib/x86_64-linux-gnu/libssl.a"],
            &[
                "-Wl,-Bstatic",
                "-lssl",
                "-lcrypto",
                "-Wl,-Bdynamic",
                "-ldl",
                "-lpthread",
            ],
        )
    })
    .as_ref()
}

/// The peer `exe` with a new certificate in `dir`, making `requests` requests, listening.
fn start_peer(exe: &Path, dir: &Path, requests: usize) -> ReadyPeer {
    let (cert, key) = certificate(dir);
    let mut cmd = Command::new(exe);
    cmd.arg(&cert).arg(&key).arg(requests.to_string());
    ReadyPeer::start(cmd)
}

/// Every request is one HTTP row on each side, with its status, `is_tls` and both processes
/// (`process`); nothing else but the TLS handshake's row on that port.
fn assert_every_request_once(rows: &[Value], port: u16, requests: usize, process: &str) {
    let mut want = BTreeMap::new();
    for i in 0..requests - 1 {
        want.insert(format!("/tls-lib/{i}"), 200u64);
    }
    want.insert("/tls-lib/missing".to_string(), 404);
    let sides = by_side(rows, port);
    for side in ["c-p", "s-p"] {
        let rows = sides.get(side).cloned().unwrap_or_default();
        let mut got = BTreeMap::new();
        let mut http = Vec::new();
        for r in rows {
            match s(&r, "l7_protocol_str") {
                "HTTP" => {}
                "TLS" => continue,
                other => panic!("{side}: a {other} row: {r}"),
            }
            assert_eq!(r["is_tls"], true, "{r}");
            assert_eq!(s(&r, "request_type"), "GET", "{r}");
            let previous = got.insert(
                s(&r, "request_resource").to_string(),
                r["response_code"].as_u64().unwrap_or(0),
            );
            assert!(previous.is_none(), "{side}: logged twice: {r}");
            http.push(r);
        }
        assert_eq!(got, want, "{side}");
        assert_processes(&http, process, process);
    }
}

fn listed(stats: &Value, key: &str) -> Vec<String> {
    stats[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key} in {stats}"))
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn boringssl_mapped_by_a_running_process_is_found_and_its_plaintext_logged() {
    let _one = ONE_TRACER.lock().unwrap_or_else(|e| e.into_inner());
    if !can_trace() {
        return;
    }
    let Some(exe) = boringssl_peer() else { return };
    let dir = temp("tls-boringssl");
    let requests = 20;
    let peer = start_peer(exe, &dir, requests);
    let port = peer.port;
    let trace = Trace::start(&dir.join("out"), &["--comm", "^boringpeer$"]);
    peer.run();
    let (status, rows, stats) = trace.stop();
    assert!(status.success());
    assert_every_request_once(&rows, port, requests, "boringpeer");
    let libs = listed(&stats, "trace.libssl");
    assert!(
        libs.iter()
            .any(|l| l.ends_with("android/libssl.so.0 (BoringSSL: SSL_write SSL_read)")),
        "{libs:?}"
    );
    assert!(
        listed(&stats, "trace.libssl_not_probed").is_empty(),
        "{stats}"
    );
    // A write and a read on each side of every request.
    assert!(
        stats["trace.bpf.openssl_events"].as_u64().unwrap() >= 4 * requests as u64,
        "{stats}"
    );
    assert_eq!(stats["trace.bpf.openssl_no_fd"], 0, "{stats}");
    assert_eq!(stats["trace.decode_errors"], 0);
}

#[test]
fn openssl_linked_into_an_executable_is_probed_there_when_named() {
    let _one = ONE_TRACER.lock().unwrap_or_else(|e| e.into_inner());
    if !can_trace() {
        return;
    }
    let Some(exe) = static_openssl_peer() else {
        return;
    };
    let dir = temp("tls-static");
    // Named before it runs: the probes are on the file, so processes started later count.
    let trace = Trace::start(
        &dir.join("out"),
        &[
            "--libssl",
            exe.to_str().expect("path"),
            "--comm",
            "^staticpeer$",
        ],
    );
    let requests = 12;
    let peer = start_peer(exe, &dir, requests);
    let port = peer.port;
    peer.run();
    let (status, rows, stats) = trace.stop();
    assert!(status.success());
    assert_every_request_once(&rows, port, requests, "staticpeer");
    let libs = listed(&stats, "trace.libssl");
    let want = format!(
        "{} (OpenSSL: SSL_write SSL_read SSL_write_ex SSL_read_ex)",
        exe.display()
    );
    assert!(libs.contains(&want), "{libs:?}");
    assert_eq!(stats["trace.bpf.openssl_no_fd"], 0, "{stats}");
}

#[test]
fn openssl_linked_into_a_running_executable_is_found_by_the_scan() {
    let _one = ONE_TRACER.lock().unwrap_or_else(|e| e.into_inner());
    if !can_trace() {
        return;
    }
    let Some(exe) = static_openssl_peer() else {
        return;
    };
    let dir = temp("tls-static-scan");
    let requests = 6;
    let peer = start_peer(exe, &dir, requests);
    let port = peer.port;
    // Not named: the running process's executable defines SSL_write and SSL_read itself.
    let trace = Trace::start(&dir.join("out"), &["--comm", "^staticpeer$"]);
    peer.run();
    let (status, rows, stats) = trace.stop();
    assert!(status.success());
    assert_every_request_once(&rows, port, requests, "staticpeer");
    let libs = listed(&stats, "trace.libssl");
    assert!(
        libs.iter()
            .any(|l| l
                .ends_with("staticpeer (OpenSSL: SSL_write SSL_read SSL_write_ex SSL_read_ex)")),
        "{libs:?}"
    );
}

#[test]
fn files_that_are_not_tls_libraries_are_named_with_the_reason() {
    let _one = ONE_TRACER.lock().unwrap_or_else(|e| e.into_inner());
    if !can_trace() {
        return;
    }
    let dir = temp("tls-not-libs");
    let text = dir.join("notes.txt");
    std::fs::write(&text, "not an ELF file\n").expect("file");
    let trace = Trace::start(
        &dir.join("out"),
        &[
            "--libssl",
            "/bin/true",
            "--libssl",
            text.to_str().expect("path"),
        ],
    );
    let (status, _rows, stats) = trace.stop();
    assert!(status.success(), "the tracer runs without them");
    let failed = listed(&stats, "trace.libssl_not_probed");
    assert!(
        failed.iter().any(|f| f.ends_with(
            "true: defines no SSL_write and SSL_read: not an OpenSSL-compatible library"
        )),
        "{failed:?}"
    );
    assert!(
        failed
            .iter()
            .any(|f| f.starts_with(&text.display().to_string()) && f.contains("not a 64-bit")),
        "{failed:?}"
    );
}
