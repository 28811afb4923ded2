//! `tapflow trace`, the eBPF syscall tracer, against real processes on loopback: Python's
//! http.server and curl (HTTP/1), Python's ssl server and curl over TLS (plaintext through the
//! OpenSSL uprobes), redis-server and redis-cli, librdkafka's client and mock broker (Kafka, its
//! compressed batches read from the syscalls' data), DNS over UDP (a Python server and client on
//! connected and unconnected sockets, glibc's resolver), 1,000 requests from 8 curl processes;
//! and
//! without privileges (exit code 2, the missing piece named). Every request must appear once as
//! seen by the client process (c-p) and once by the server process (s-p), each row naming both
//! processes. After each run no tracer program is left loaded. Needs root (scripts/test.sh runs
//! the tests as root and mounts tracefs); skips and says so without. The tests run one at a
//! time: each tracer sees the whole host.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

mod ch_server;
mod live_support;
mod netns;
mod procs;
mod trace_support;
use live_support::{have, l7_rows, port_open, stats, wait_until, Killed};
use netns::is_root;
use trace_support::{
    assert_no_tracer_programs, assert_processes, by_side, can_trace, curl, dns_client, dns_server,
    http_server, loaded_programs, s, temp, Trace,
};

static ONE_TRACER: Mutex<()> = Mutex::new(());

#[test]
fn http_requests_between_curl_and_python_are_logged_once_per_process() {
    let _one = ONE_TRACER.lock().unwrap_or_else(|e| e.into_inner());
    if !can_trace() || !have("curl") {
        return;
    }
    let dir = temp("http");
    let port = 18471;
    let _server = http_server(&dir, port);
    let out = dir.join("out");
    let trace = Trace::start(&out, &[]);
    let base = format!("http://127.0.0.1:{port}");
    curl(&[&format!("{base}/index.html")]);
    curl(&[&format!("{base}/index.html?second=1")]);
    let st = Command::new("curl")
        .args(["-s", "-o", "/dev/null", &format!("{base}/missing")])
        .status()
        .expect("curl");
    assert!(st.success());
    let (status, rows, stats) = trace.stop();
    assert!(status.success(), "{status}");
    let sides = by_side(&rows, port);
    for side in ["c-p", "s-p"] {
        let rs = &sides[side];
        let mut got: Vec<(String, String, u64)> = rs
            .iter()
            .map(|r| {
                assert_eq!(s(r, "request_type"), "GET");
                assert_eq!(s(r, "l7_protocol_str"), "HTTP");
                assert_eq!(r["type"], 2, "request and response: {r}");
                assert!(r["response_duration"].as_u64().unwrap() > 0, "{r}");
                (
                    s(r, "request_resource").to_string(),
                    s(r, "http_user_agent").to_string(),
                    r["response_code"].as_u64().unwrap(),
                )
            })
            .collect();
        got.sort();
        let ua = got[0].1.clone();
        assert!(ua.starts_with("curl/"), "{ua}");
        assert_eq!(
            got,
            vec![
                ("/index.html".to_string(), ua.clone(), 200),
                ("/index.html?second=1".to_string(), ua.clone(), 200),
                ("/missing".to_string(), ua.clone(), 404),
            ],
            "{side}"
        );
        assert_processes(rs, "curl", "python3");
    }
    // The server's rows carry its thread's syscall trace id (read and write of one request).
    for r in &sides["s-p"] {
        assert_ne!(r["syscall_trace_id_request"], 0, "{r}");
        assert_eq!(
            r["syscall_trace_id_request"], r["syscall_trace_id_response"],
            "{r}"
        );
    }
    assert_eq!(stats["trace.bpf.ring_full"], 0);
    assert_eq!(stats["trace.decode_errors"], 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn tls_plaintext_comes_from_the_openssl_uprobes() {
    let _one = ONE_TRACER.lock().unwrap_or_else(|e| e.into_inner());
    if !can_trace() || !have("curl") || !have("openssl") {
        return;
    }
    let dir = temp("tls");
    let (cert, key) = trace_support::certificate(&dir);
    std::fs::write(dir.join("secret.txt"), "plaintext behind TLS\n").expect("file");
    let port = 18472;
    let _server = Killed(
        Command::new("/usr/bin/python3")
            .arg(live_support::client_script("tls_http_server.py"))
            .arg(port.to_string())
            .arg(&cert)
            .arg(&key)
            .current_dir(&dir)
            .stderr(Stdio::null())
            .spawn()
            .expect("tls server"),
    );
    wait_until("TLS server", 15, || port_open(&format!("127.0.0.1:{port}")));
    let out = dir.join("out");
    let trace = Trace::start(&out, &[]);
    for path in ["/secret.txt", "/nothing-here"] {
        curl(&["-k", &format!("https://127.0.0.1:{port}{path}")]);
    }
    let (status, rows, stats) = trace.stop();
    assert!(status.success());
    let sides = by_side(&rows, port);
    for side in ["c-p", "s-p"] {
        let http: Vec<&Value> = sides[side]
            .iter()
            .filter(|r| s(r, "l7_protocol_str") == "HTTP")
            .collect();
        let mut got: Vec<(&str, u64)> = http
            .iter()
            .map(|r| {
                assert_eq!(r["is_tls"], true, "{r}");
                assert_eq!(s(r, "request_type"), "GET");
                (
                    s(r, "request_resource"),
                    r["response_code"].as_u64().unwrap(),
                )
            })
            .collect();
        got.sort();
        assert_eq!(
            got,
            [("/nothing-here", 404), ("/secret.txt", 200)],
            "{side}"
        );
        let owned: Vec<Value> = http.into_iter().cloned().collect();
        assert_processes(&owned, "curl", "python3");
    }
    assert!(
        stats["trace.bpf.openssl_events"].as_u64().unwrap() >= 8,
        "{stats}"
    );
    assert!(stats["trace.libssl"]
        .as_array()
        .is_some_and(|a| !a.is_empty()));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn redis_commands_from_redis_cli_are_logged() {
    let _one = ONE_TRACER.lock().unwrap_or_else(|e| e.into_inner());
    if !can_trace() || !have("redis-server") || !have("redis-cli") {
        return;
    }
    let dir = temp("redis");
    let port = "18473";
    let _server = Killed(
        Command::new("redis-server")
            .args(["--port", port, "--bind", "127.0.0.1", "--save", ""])
            .args(["--appendonly", "no", "--dir"])
            .arg(&*dir)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server"),
    );
    wait_until("redis-server", 15, || {
        port_open(&format!("127.0.0.1:{port}"))
    });
    let out = dir.join("out");
    let trace = Trace::start(&out, &[]);
    let cmds: &[&[&str]] = &[
        &["SET", "greeting", "hello"],
        &["GET", "greeting"],
        &["INCR", "counter"],
        &["LPUSH", "list", "a", "b"],
        &["LRANGE", "list", "0", "-1"],
        &["HGET", "nothing", "field"],
        &["DEL", "greeting"],
    ];
    for c in cmds {
        let st = Command::new("redis-cli")
            .args(["-p", port])
            .args(*c)
            .stdout(Stdio::null())
            .status()
            .expect("redis-cli");
        assert!(st.success());
    }
    let (status, rows, _) = trace.stop();
    assert!(status.success());
    let sides = by_side(&rows, port.parse().unwrap());
    for side in ["c-p", "s-p"] {
        let got: Vec<&str> = sides[side]
            .iter()
            .filter(|r| s(r, "l7_protocol_str") == "Redis")
            .map(|r| s(r, "request_type"))
            .filter(|t| !t.eq_ignore_ascii_case("COMMAND"))
            .collect();
        let want: Vec<&str> = cmds.iter().map(|c| c[0]).collect();
        assert_eq!(got, want, "{side}: {:#?}", sides[side]);
        let redis: Vec<Value> = sides[side]
            .iter()
            .filter(|r| s(r, "l7_protocol_str") == "Redis")
            .cloned()
            .collect();
        assert_processes(&redis, "redis-cli", "redis-server");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The DNS rows on `port` as each side saw them: the names asked, sorted, every row a UDP
/// exchange answered with code 0 between `client` and `server`.
fn dns_names(rows: &[Value], port: u16, client: &str) -> BTreeMap<String, Vec<String>> {
    let mut m = BTreeMap::new();
    for (side, rs) in by_side(rows, port) {
        let mut got: Vec<String> = rs
            .iter()
            .map(|r| {
                assert_eq!(s(r, "l7_protocol_str"), "DNS", "{r}");
                assert_eq!(r["protocol"], 17, "{r}");
                assert_eq!(r["response_code"], 0, "{r}");
                assert_eq!(r["type"], 2, "a request paired with its answer: {r}");
                format!("{} {}", s(r, "request_type"), s(r, "request_domain"))
            })
            .collect();
        got.sort();
        assert_processes(&rs, client, "dns-server");
        m.insert(side, got);
    }
    m
}

/// DNS over UDP: a server on a socket that is not connected (recvfrom / sendto and recvmsg /
/// sendmsg: the peer comes from each call's address; a dual-stack one bound to `::`); a Python client on a connected socket
/// (two queries in one sendmmsg among them) and on unconnected ones; and glibc's own resolver
/// (`getent ahosts`, its A and AAAA queries in one sendmmsg) pointed at the server by a
/// resolv.conf mounted in a mount namespace of its own, when port 53 is free. Every query is a
/// row as each process saw it, naming both.
#[test]
fn dns_over_udp_is_logged_from_connected_and_unconnected_sockets() {
    let _one = ONE_TRACER.lock().unwrap_or_else(|e| e.into_inner());
    if !can_trace() {
        return;
    }
    let dir = temp("dns");
    // DNS is inferred on its ports only (DeepFlow's `port_number_prefilters.DNS`: 53, 5353).
    let port: u16 = 5353;
    // A dual-stack socket bound to `::`: its IPv4 peers come IPv4-mapped.
    let _server = dns_server(&[], port, 8, "dual").expect("dns server on 5353");
    // glibc's resolver asks port 53 of the resolv.conf name servers.
    let glibc = (have("unshare") && have("getent"))
        .then(|| dns_server(&[], 53, 2, ""))
        .flatten();
    std::fs::write(dir.join("resolv.conf"), "nameserver 127.0.0.1\n").expect("resolv.conf");
    let out = dir.join("out");
    let trace = Trace::start(&out, &[]);
    let mut asked: Vec<String> = dns_client(&["client", &port.to_string()])
        .iter()
        .map(|n| format!("A {n}"))
        .collect();
    assert_eq!(asked.len(), 8);
    asked.sort();
    if glibc.is_some() {
        let mount = format!(
            "mount --bind {} /etc/resolv.conf && getent ahosts glibc.example",
            dir.join("resolv.conf").display()
        );
        let st = Command::new("unshare")
            .args(["-m", "sh", "-c", &mount])
            .stdout(Stdio::null())
            .status()
            .expect("unshare");
        assert!(st.success(), "getent ahosts through glibc's resolver");
    } else {
        eprintln!("glibc's resolver not checked: port 53 of 127.0.0.1 is taken, or no unshare");
    }
    let (status, rows, stats) = trace.stop();
    assert!(status.success());
    let python = dns_names(&rows, port, "dns-client");
    for side in ["c-p", "s-p"] {
        assert_eq!(python.get(side), Some(&asked), "{side}");
    }
    if glibc.is_some() {
        let want = vec!["A glibc.example".to_string(), "AAAA glibc.example".into()];
        let resolver = dns_names(&rows, 53, "getent");
        for side in ["c-p", "s-p"] {
            assert_eq!(resolver.get(side), Some(&want), "{side}");
        }
    }
    assert!(
        stats["trace.sockets_opened"].as_u64().unwrap_or(0) >= 4,
        "{stats}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn kafka_between_librdkafka_threads_is_logged_with_compressed_batches_read() {
    // librdkafka's client and its mock broker (tests/clients/kafka_mock.py) in one process: the
    // client's broker threads (`rdk:broker1`) and the mock's (`rdk:mock`) are the two sides.
    let _one = ONE_TRACER.lock().unwrap_or_else(|e| e.into_inner());
    if !can_trace() || !live_support::python_has("confluent_kafka") {
        return;
    }
    let dir = temp("kafka");
    let out = dir.join("out");
    let trace = Trace::start(&out, &[]);
    let res = Command::new("/usr/bin/python3")
        .arg(live_support::client_script("kafka_mock.py"))
        .stderr(Stdio::null())
        .output()
        .expect("kafka_mock.py");
    assert!(res.status.success());
    let stdout = String::from_utf8_lossy(&res.stdout);
    let truth: Value =
        serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("script's JSON");
    let (status, rows, _) = trace.stop();
    assert!(status.success());
    let port: u16 = s(&truth, "bootstrap")
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("bootstrap port");
    let sides = by_side(&rows, port);
    let mut want: BTreeMap<String, usize> = BTreeMap::new();
    for (key, n) in truth["requests"].as_object().expect("requests") {
        *want
            .entry(live_support::kafka_api_name(key).to_string())
            .or_default() += n.as_u64().unwrap_or(0) as usize;
    }
    for side in ["c-p", "s-p"] {
        let kafka: Vec<&Value> = sides[side]
            .iter()
            .filter(|r| s(r, "l7_protocol_str") == "Kafka")
            .collect();
        // Every request the broker received, as each side saw it (librdkafka's mock answers
        // acks=0 produces too: those answers are rows of their own).
        let mut got: BTreeMap<String, usize> = BTreeMap::new();
        for r in kafka.iter().filter(|r| r["type"] != 1) {
            *got.entry(s(r, "request_type").to_string()).or_default() += 1;
        }
        assert_eq!(got, want, "{side}");
        // Every codec's batch gives its first record's trace id, as on the wire.
        for (ci, codec) in ["none", "gzip", "snappy", "lz4", "zstd"].iter().enumerate() {
            let trace = format!("{:08x}{:024x}", 0xC0DE_C000u32 + ci as u32, 0);
            assert!(
                kafka
                    .iter()
                    .any(|r| s(r, "request_type") == "Produce" && s(r, "trace_id") == trace),
                "{side} {codec}: {kafka:#?}"
            );
        }
        for r in &kafka {
            assert!(s(r, "process_kname_0").starts_with("rdk:broker"), "{r}");
            assert_eq!(s(r, "process_kname_1"), "rdk:mock", "{r}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_thousand_requests_from_eight_clients_are_each_logged_once() {
    let _one = ONE_TRACER.lock().unwrap_or_else(|e| e.into_inner());
    if !can_trace() || !have("curl") {
        return;
    }
    let dir = temp("many");
    let port = 18474;
    let _server = http_server(&dir, port);
    let out = dir.join("out");
    let trace = Trace::start(&out, &[]);
    let clients: Vec<Child> = (0..8)
        .map(|c| {
            let urls: Vec<String> = (0..125)
                .map(|i| format!("http://127.0.0.1:{port}/index.html?client={c}&i={i}"))
                .collect();
            Command::new("curl")
                .arg("-s")
                .args(&urls)
                .stdout(Stdio::null())
                .spawn()
                .expect("curl")
        })
        .collect();
    for mut c in clients {
        assert!(c.wait().expect("curl").success());
    }
    let (status, rows, stats) = trace.stop();
    assert!(status.success());
    let lost = stats["trace.bpf.ring_full"].as_u64().unwrap_or(0)
        + stats["trace.bpf.pending_table_full"].as_u64().unwrap_or(0)
        + stats["trace.socket_table_full"].as_u64().unwrap_or(0);
    assert_eq!(lost, 0, "events lost: {stats}");
    let sides = by_side(&rows, port);
    for side in ["c-p", "s-p"] {
        let mut paths: Vec<&str> = sides[side]
            .iter()
            .filter(|r| r["response_code"] == 200)
            .map(|r| s(r, "request_resource"))
            .collect();
        paths.sort_unstable();
        let n = paths.len();
        paths.dedup();
        assert_eq!((n, paths.len()), (1000, 1000), "{side}");
        assert_eq!(sides[side].len(), 1000, "{side}: no other rows");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn without_privileges_the_tracer_names_what_is_missing_and_exits_2() {
    let _one = ONE_TRACER.lock().unwrap_or_else(|e| e.into_inner());
    if !is_root() || !have("setpriv") {
        eprintln!("skipped: needs root (to drop to nobody) and setpriv");
        return;
    }
    let dir = temp("nopriv");
    let nobody = |args: &[&str]| {
        Command::new("setpriv")
            .args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_tapflow"))
            .args(args)
            .output()
            .expect("setpriv")
    };
    let out = dir.join("out");
    let res = nobody(&["trace", "--duration", "1", "--out", out.to_str().unwrap()]);
    assert_eq!(res.status.code(), Some(2), "{res:?}");
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(err.contains("capabilities"), "{err}");
    assert!(
        err.contains("CAP_BPF") && err.contains("CAP_PERFMON"),
        "{err}"
    );
    assert!(err.contains("FAIL"), "the check table: {err}");
    assert!(!out.join("trace.ready").exists());
    let res = nobody(&["trace", "--check"]);
    assert_eq!(res.status.code(), Some(2));
    let table = String::from_utf8_lossy(&res.stdout);
    for line in ["kernel version", "kernel BTF", "tracefs", "capabilities"] {
        assert!(table.contains(line), "{table}");
    }
    assert!(
        table.contains("other network namespaces   warn"),
        "no CAP_SYS_ADMIN: {table}"
    );
    assert_no_tracer_programs();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn run_with_ebpf_adds_process_rows_to_a_live_capture() {
    let _one = ONE_TRACER.lock().unwrap_or_else(|e| e.into_inner());
    if !can_trace() || !have("curl") {
        return;
    }
    let dir = temp("run");
    let port = 18475;
    let _server = http_server(&dir, port);
    let out = dir.join("out");
    let mut run = Killed(
        Command::new(env!("CARGO_BIN_EXE_tapflow"))
            .args(["run", "-q", "--engine", "af_packet", "--iface", "lo"])
            .args(["--duration", "30", "--ebpf", "--comm", "^(curl|python3)$"])
            // A file that is no TLS library: named at start, as `tapflow trace` names it.
            .args(["--libssl", "/bin/true"])
            .arg("--out")
            .arg(&out)
            .stderr(std::fs::File::create(dir.join("run.err")).expect("stderr file"))
            .spawn()
            .expect("tapflow run"),
    );
    wait_until("tapflow run --ebpf", 30, || {
        out.join("trace.ready").exists()
    });
    // The capture socket is open before the tracer attaches (the tracer starts last).
    for i in 0..3 {
        curl(&[&format!("http://127.0.0.1:{port}/index.html?run={i}")]);
    }
    std::thread::sleep(Duration::from_millis(500));
    let _ = Command::new("kill")
        .args(["-TERM", &run.0.id().to_string()])
        .status();
    let status = run.0.wait().expect("wait");
    assert!(status.success(), "{status}");
    assert!(!out.join("trace.ready").exists());
    assert_no_tracer_programs();
    let err = std::fs::read_to_string(dir.join("run.err")).expect("stderr");
    assert!(
        err.contains("tapflow: no TLS plaintext from ")
            && err.contains("true: defines no SSL_write and SSL_read"),
        "{err}"
    );
    let rows = l7_rows(&out);
    let st = stats(&out);
    assert!(
        st["trace.libssl_not_probed"].as_array().is_some_and(|a| a
            .iter()
            .any(|f| f.as_str().is_some_and(|f| f.contains("true: ")))),
        "{st}"
    );
    let sides = by_side(&rows, port);
    for side in ["c-p", "s-p"] {
        assert_eq!(sides[side].len(), 3, "{side}");
        assert_processes(&sides[side], "curl", "python3");
    }
    // The same requests as the packet capture on lo saw them, with the processes the tracer
    // found for their connections (by local socket lookup at the output).
    let packet_rows: Vec<&Value> = rows
        .iter()
        .filter(|r| r["server_port"] == port && r["signal_source"] == 0)
        .collect();
    assert!(packet_rows.len() >= 3, "packet rows: {}", packet_rows.len());
    for r in &packet_rows {
        assert_eq!(s(r, "process_kname_0"), "curl", "{r}");
        assert!(s(r, "process_kname_1").starts_with("python3"), "{r}");
    }
    let flows: Vec<Value> = std::fs::read_to_string(out.join("l4_flow_log.jsonl"))
        .expect("l4_flow_log")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .filter(|r: &Value| r["server_port"] == port)
        .collect();
    assert!(flows.len() >= 3, "{flows:#?}");
    for f in &flows {
        assert_eq!(s(f, "process_kname_0"), "curl", "{f}");
        assert!(s(f, "process_kname_1").starts_with("python3"), "{f}");
        assert!(f["process_id_0"].as_u64().unwrap() > 0);
    }
    assert!(
        st["processes.tagged_l4_rows"].as_u64().unwrap() >= 3,
        "{st}"
    );
    assert!(st["trace.probes"].as_u64().unwrap() > 20, "{st}");
    assert!(st["memory_plan"]
        .as_object()
        .unwrap()
        .keys()
        .any(|k| k.starts_with("syscall tracer")));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn traced_rows_are_stored_in_clickhouse_with_their_processes() {
    let _one = ONE_TRACER.lock().unwrap_or_else(|e| e.into_inner());
    if !can_trace() || !have("curl") {
        return;
    }
    let dir = temp("ch");
    let ch_dir = dir.join("clickhouse");
    std::fs::create_dir_all(&ch_dir).expect("dir");
    let Some(ch) = ch_server::ClickHouse::start(&ch_dir) else {
        return;
    };
    let port = 18476;
    let _server = http_server(&dir, port);
    let out = dir.join("out");
    let url = ch.url();
    let trace = Trace::start(&out, &["--clickhouse", &url, "--comm", "^(curl|python3)$"]);
    for path in ["/index.html", "/absent"] {
        curl(&[&format!("http://127.0.0.1:{port}{path}")]);
    }
    let (status, rows, stats) = trace.stop();
    assert!(status.success());
    assert_eq!(
        by_side(&rows, port).values().map(Vec::len).sum::<usize>(),
        4
    );
    assert_eq!(stats["clickhouse.rows_dropped"], 0, "{stats}");
    let stored = ch.rows(&format!(
        "SELECT observation_point, signal_source, process_kname_0, process_kname_1, \
         request_resource, response_code FROM flow_log.l7_flow_log WHERE server_port = {port} \
         ORDER BY observation_point, request_resource"
    ));
    let got: Vec<(String, String, String, String, i64)> = stored
        .iter()
        .map(|r| {
            assert_eq!(r["signal_source"].as_u64(), Some(3), "{r}");
            (
                s(r, "observation_point").to_string(),
                s(r, "process_kname_0").to_string(),
                s(r, "process_kname_1").to_string(),
                s(r, "request_resource").to_string(),
                r["response_code"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    let row = |side: &str, path: &str, code| {
        (
            side.to_string(),
            "curl".to_string(),
            "python3".to_string(),
            path.to_string(),
            code,
        )
    };
    assert_eq!(
        got,
        vec![
            row("c-p", "/absent", 404),
            row("c-p", "/index.html", 200),
            row("s-p", "/absent", 404),
            row("s-p", "/index.html", 200),
        ]
    );
    drop(ch);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn pid_and_comm_select_the_traced_processes() {
    let _one = ONE_TRACER.lock().unwrap_or_else(|e| e.into_inner());
    if !can_trace() || !have("curl") {
        return;
    }
    let dir = temp("select");
    let port = 18477;
    let server = http_server(&dir, port);
    let server_pid = server.0.id().to_string();
    for (args, only) in [
        (vec!["--pid", server_pid.as_str()], "s-p"),
        (vec!["--comm", "^curl$"], "c-p"),
    ] {
        let out = dir.join(only);
        let trace = Trace::start(&out, &args);
        curl(&[&format!("http://127.0.0.1:{port}/index.html")]);
        let (status, rows, stats) = trace.stop();
        assert!(status.success());
        let sides = by_side(&rows, port);
        assert_eq!(sides.keys().collect::<Vec<_>>(), [only], "{args:?}");
        assert_eq!(sides[only].len(), 1);
        let r = &sides[only][0];
        // The other end was not traced: only this side's process is named.
        let (mine, other) = if only == "c-p" {
            ("0", "1")
        } else {
            ("1", "0")
        };
        assert_ne!(r[format!("process_id_{mine}")], 0, "{r}");
        assert_eq!(r[format!("process_id_{other}")], 0, "{r}");
        if only == "c-p" {
            assert!(stats["trace.filtered_comm"].as_u64().unwrap() > 0);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn processes_are_named_by_the_matchers_and_tagged_by_the_tag_command() {
    let _one = ONE_TRACER.lock().unwrap_or_else(|e| e.into_inner());
    if !can_trace() || !have("curl") {
        return;
    }
    let dir = temp("procs");
    let port = 18478;
    let server = http_server(&dir, port);
    let pid = server.0.id();
    let tags = dir.join("tags.yaml");
    std::fs::write(
        &tags,
        format!(
            "- pid: {pid}\n  tags:\n  - key: team\n    value: web\n  - key: env\n    value: test\n"
        ),
    )
    .expect("tags");
    let config = dir.join("procs.yaml");
    std::fs::write(
        &config,
        format!(
            "inputs:\n  proc:\n    process_matcher:\n\
             \x20     - match_regex: 'http\\.server (\\d+)'\n\
             \x20       match_type: cmdline_with_args\n\
             \x20       rewrite_name: web-$1\n\
             \x20       enabled_features: [proc.gprocess_info]\n\
             \x20     - match_regex: '.*'\n\
             \x20       enabled_features: [proc.gprocess_info]\n\
             \x20   tag_extraction:\n\
             \x20     script_command: [cat, {}]\n",
            tags.display()
        ),
    )
    .expect("config");
    let out = dir.join("out");
    let trace = Trace::start(&out, &["--config", config.to_str().unwrap()]);
    curl(&[&format!("http://127.0.0.1:{port}/index.html")]);
    let (status, rows, stats) = trace.stop();
    assert!(status.success());
    let procs: Vec<Value> = std::fs::read_to_string(out.join("processes.jsonl"))
        .expect("processes.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    let web = procs
        .iter()
        .find(|p| p["pid"] == pid)
        .unwrap_or_else(|| panic!("python3 not listed: {procs:#?}"));
    assert_eq!(web["name"], format!("web-{port}"));
    assert_eq!(web["kname"], "python3");
    assert_eq!(web["matcher"], 0);
    assert_eq!(web["tags"]["team"], "web");
    assert_eq!(web["tags"]["env"], "test");
    assert!(s(web, "cmdline").contains("http.server"));
    // DeepFlow's default blacklist (kept: only the matchers were set) leaves curl out.
    assert!(procs.iter().all(|p| p["kname"] != "curl"), "{procs:#?}");
    // curl was either read and left out, or gone before /proc was read (a short-lived client;
    // its rows still carry its kernel name from BPF).
    let seen_curl =
        stats["processes.not_listed"].as_u64().unwrap() + stats["processes.gone"].as_u64().unwrap();
    assert!(seen_curl >= 1, "{stats}");
    assert!(stats["processes.tag_command_runs"].as_u64().unwrap() >= 1);
    assert_eq!(stats["processes.tag_command_errors"], 0);
    // Rows join the inventory by process id.
    let server_rows: Vec<&Value> = rows
        .iter()
        .filter(|r| r["server_port"] == port && r["observation_point"] == "s-p")
        .collect();
    assert_eq!(server_rows.len(), 1);
    assert_eq!(server_rows[0]["process_id_1"], pid);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_killed_tracer_leaves_nothing_attached() {
    let _one = ONE_TRACER.lock().unwrap_or_else(|e| e.into_inner());
    if !can_trace() || !have("bpftool") {
        return;
    }
    let dir = temp("kill");
    let out = dir.join("out");
    let mut trace = Trace::start(&out, &[]);
    assert!(
        loaded_programs().contains("enter_read"),
        "the tracer's programs are listed while it runs"
    );
    // SIGKILL: no cleanup code runs; the kernel drops the programs with the last link fd.
    let _ = trace.child.kill();
    let _ = trace.child.wait();
    let started = Instant::now();
    loop {
        let text = loaded_programs();
        if !text.contains("enter_read") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "tracer programs still loaded after SIGKILL:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = std::fs::remove_dir_all(&dir);
}
