//! The DeepFlow data path end to end with real processes: agents (`tapflow analyze` and live
//! `tapflow run`) send their records in DeepFlow's ingester framing to `tapflow server
//! --ingest-listen`, which stores them as JSON lines per table. Every record of every agent must
//! arrive exactly once and equal the agent's own row in every field DeepFlow's messages carry;
//! `protoc --decode` (not our code) reads the frames against our .proto files; malformed,
//! truncated and oversized frames are counted and do not disturb other agents; a server outage
//! costs counted records and the agent reconnects.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

mod ingest_support;
mod procs;
use ingest_support::{
    analyze_to, analyze_to_with, assert_same_rows, gen, read_json, start_server, tables, tempdir,
};

/// Two offline agents (different traffic, agent ids 11 and 12) into one server: every record of
/// each arrives once, equal to the agent's row, and names its agent.
#[test]
fn two_agents_records_arrive_once_field_by_field() {
    let dir = tempdir("offline");
    let s = start_server(&dir.join("server"), "127.0.0.1:0", false);
    let p1 = gen(&dir, "a", 3, 0, 150);
    let p2 = gen(&dir, "b", 4, 1000, 150);
    let (o1, o2) = (dir.join("out-a"), dir.join("out-b"));
    let st1 = analyze_to(&p1, &o1, &s.ingest, 11);
    let st2 = analyze_to(&p2, &o2, &s.ingest, 12);
    for st in [&st1, &st2] {
        assert_eq!(st["ingester.records_dropped"], 0, "{st}");
        assert_eq!(st["ingester.records_queued"], 0, "{st}");
        assert!(
            st["ingester.records_sent"].as_u64().unwrap_or(0) > 300,
            "{st}"
        );
    }
    assert!(s.proc.stop(), "the server did not stop cleanly");
    assert_same_rows(&[(11, &o1), (12, &o2)], &s.records, 1000);
    let stats = read_json(&s.records.join("ingest-stats.json"));
    assert_eq!(stats["connections"], 2, "{stats}");
    for k in ["bad_headers", "bad_bodies", "truncated", "rejected_agents"] {
        assert_eq!(stats[k], 0, "{k}: {stats}");
    }
}

/// `max_throughput_to_ingester`: an agent replaying a capture at full speed keeps to the rate
/// (a second's burst, then the rate), and every record still arrives once.
#[test]
fn the_sender_keeps_to_max_throughput_to_ingester() {
    let dir = tempdir("paced");
    let s = start_server(&dir.join("server"), "127.0.0.1:0", false);
    let pcap = gen(&dir, "p", 8, 0, 1500);
    // Unlimited first: how many bytes this capture's records take.
    let free = analyze_to(&pcap, &dir.join("out-free"), &s.ingest, 21);
    let bytes = free["ingester.bytes_sent"].as_u64().unwrap_or(0);
    assert_eq!(free["ingester.frames_paced"], 0, "{free}");
    // A limit that makes them take about 3 s: 1 Mbps (125,000 bytes a second).
    assert!((400_000..2_000_000).contains(&bytes), "{bytes} bytes");
    let cfg = dir.join("paced.yaml");
    std::fs::write(
        &cfg,
        "global:\n  communication:\n    max_throughput_to_ingester: 1\n",
    )
    .expect("config");
    let out = dir.join("out-paced");
    let started = std::time::Instant::now();
    let st = analyze_to_with(&pcap, &out, &s.ingest, 22, Some(&cfg));
    let took = started.elapsed().as_secs_f64();
    let sent = st["ingester.bytes_sent"].as_u64().unwrap_or(0);
    assert_eq!(sent, bytes, "{st}");
    assert_eq!(st["ingester.records_dropped"], 0, "{st}");
    assert!(
        st["ingester.frames_paced"].as_u64().unwrap_or(0) > 0,
        "{st}"
    );
    // The bytes beyond the first second's burst went at 125,000 a second at most.
    let least = (sent - 125_000) as f64 / 125_000.0;
    assert!(
        took >= least * 0.95,
        "{sent} bytes in {took:.2} s (at least {least:.2} s)"
    );
    assert!(s.proc.stop(), "the server did not stop cleanly");
    assert_same_rows(&[(21, &dir.join("out-free")), (22, &out)], &s.records, 1000);
}

/// `outputs.socket.multiple_sockets_to_ingester: true`: each message type on a connection of its
/// own (a plain listener of the test's own sees which), and every record still arrives once at
/// tapflow's server, over three connections.
#[test]
fn multiple_sockets_to_ingester_gives_each_type_its_own_connection() {
    let dir = tempdir("sockets");
    let pcap = gen(&dir, "p", 6, 0, 120);
    let cfg = dir.join("sockets.yaml");
    std::fs::write(
        &cfg,
        "outputs:\n  socket:\n    multiple_sockets_to_ingester: true\n",
    )
    .expect("config");
    // Every connection the agent makes, read to its end on a thread of its own.
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.set_nonblocking(true).expect("nonblocking");
    let addr = l.local_addr().expect("addr").to_string();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopped = std::sync::Arc::clone(&stop);
    let acceptor = std::thread::spawn(move || {
        let mut readers = Vec::new();
        loop {
            // After the agent has gone, what waits in the backlog is taken too.
            let last = stopped.load(std::sync::atomic::Ordering::Relaxed);
            match l.accept() {
                Ok((mut s, _)) => {
                    s.set_nonblocking(false).expect("blocking");
                    readers.push(std::thread::spawn(move || {
                        let mut all = Vec::new();
                        s.read_to_end(&mut all).expect("read");
                        all
                    }));
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if last {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => panic!("accept: {e}"),
            }
        }
        readers
            .into_iter()
            .map(|r| r.join().expect("reader"))
            .collect::<Vec<_>>()
    });
    let out = dir.join("out-raw");
    let st = analyze_to_with(&pcap, &out, &addr, 31, Some(&cfg));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let conns = acceptor.join().expect("acceptor");
    assert_eq!(st["ingester.records_dropped"], 0, "{st}");
    assert_eq!(st["ingester.connects"], 3, "{st}");
    let mut types_seen = Vec::new();
    let mut frames_seen = 0;
    for all in &conns {
        let mut types = std::collections::BTreeSet::new();
        let mut at = 0;
        while at < all.len() {
            let size = u32::from_be_bytes(all[at..at + 4].try_into().expect("4")) as usize;
            types.insert(all[at + 4]);
            at += size;
            frames_seen += 1;
        }
        assert_eq!(types.len(), 1, "a connection carried types {types:?}");
        types_seen.extend(types);
    }
    types_seen.sort();
    assert_eq!(types_seen, vec![3, 4, 5], "metrics, l4 rows, l7 rows");
    assert_eq!(st["ingester.frames_sent"], frames_seen, "{st}");
    // The same into tapflow's server: three connections, every record once.
    let s = start_server(&dir.join("server"), "127.0.0.1:0", false);
    let out = dir.join("out");
    let st = analyze_to_with(&pcap, &out, &s.ingest, 32, Some(&cfg));
    assert_eq!(st["ingester.records_dropped"], 0, "{st}");
    assert!(s.proc.stop(), "the server did not stop cleanly");
    let stats = read_json(&s.records.join("ingest-stats.json"));
    assert_eq!(stats["connections"], 3, "{stats}");
    assert_same_rows(&[(32, &out)], &s.records, 200);
}

/// One frame on a raw connection.
fn frame(msg_type: u8, encoder: u8, agent: u16, body: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&((19 + body.len()) as u32).to_be_bytes());
    f.push(msg_type);
    f.extend_from_slice(&0x8000u16.to_le_bytes());
    f.push(encoder);
    f.extend_from_slice(&[0; 8]); // team, org, reserved
    f.extend_from_slice(&agent.to_le_bytes());
    f.push(0);
    f.extend_from_slice(body);
    f
}

/// Sends `bytes` on a new connection and waits for the server to close it (or 3 s).
fn send_raw(addr: &str, bytes: &[u8], close_write: bool) -> bool {
    let mut s = TcpStream::connect(addr).expect("connect");
    let _ = s.write_all(bytes);
    if close_write {
        let _ = s.shutdown(std::net::Shutdown::Write);
    }
    s.set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    let mut b = [0u8; 1];
    matches!(s.read(&mut b), Ok(0) | Err(_))
}

/// Bad frames of every kind are counted and close their connection; a frame of a type tapflow
/// does not store is skipped and its connection goes on; an agent sending afterwards is served.
#[test]
fn malformed_frames_are_counted_and_others_served() {
    let dir = tempdir("malformed");
    let s = start_server(&dir.join("server"), "127.0.0.1:0", false);
    let a = &s.ingest;
    // Size below the header, size above 512,000, wrong version: bad headers.
    let mut small = frame(4, 0, 1, b"");
    small[0..4].copy_from_slice(&5u32.to_be_bytes());
    assert!(send_raw(a, &small, false), "closed after a short size");
    let mut big = frame(4, 0, 1, b"");
    big[0..4].copy_from_slice(&600_000u32.to_be_bytes());
    assert!(send_raw(a, &big, false), "closed after an oversized frame");
    let mut old = frame(4, 0, 1, b"");
    old[5] = 1;
    assert!(send_raw(a, &old, false), "closed after a wrong version");
    // A body cut short by the end of the connection.
    let mut cut = frame(5, 0, 1, &[0u8; 100]);
    cut.truncate(60);
    assert!(send_raw(a, &cut, true), "closed after a truncated frame");
    // Bodies that do not decode: not zstd; a length past the end; not protobuf.
    assert!(send_raw(a, &frame(5, 3, 1, b"not zstd at all"), false));
    assert!(send_raw(a, &frame(4, 0, 1, &[200, 0, 0, 0, 1, 2]), false));
    assert!(send_raw(
        a,
        &frame(4, 0, 1, &[3, 0, 0, 0, 0xff, 0xff, 0xff]),
        false
    ));
    // A zstd bomb: 64 MiB of zeros in a small frame.
    let zeros = Command::new("sh")
        .args(["-c", "head -c 67108864 /dev/zero | zstd -q -c"])
        .output()
        .expect("zstd");
    assert!(zeros.status.success() && zeros.stdout.len() < 500_000);
    assert!(send_raw(a, &frame(5, 3, 1, &zeros.stdout), false));
    // A self-monitoring frame (DeepflowStats, type 10) whose body is not `stats.Stats`.
    assert!(send_raw(
        a,
        &frame(10, 0, 1, &[3, 0, 0, 0, 0xff, 0xff, 0xff]),
        false
    ));
    // Forwarded integration data that does not decode: a zlib bomb of OTel traces (64 MiB of
    // zeros), traces that are not zlib, remote write whose snappy body is broken.
    let bomb = Command::new("python3")
        .args([
            "-c",
            "import sys,zlib; sys.stdout.buffer.write(zlib.compress(bytes(64 << 20), 9))",
        ])
        .output()
        .expect("python3");
    assert!(bomb.status.success() && bomb.stdout.len() < 500_000);
    let mut body = (bomb.stdout.len() as u32).to_le_bytes().to_vec();
    body.extend_from_slice(&bomb.stdout);
    assert!(send_raw(a, &frame(11, 0, 1, &body), false));
    assert!(send_raw(
        a,
        &frame(11, 0, 1, &[4, 0, 0, 0, 1, 2, 3, 4]),
        false
    ));
    assert!(send_raw(
        a,
        &frame(7, 0, 1, &[4, 0, 0, 0, 0x0a, 0x02, 0xff, 0xff]),
        false
    ));
    // Profiles that do not decode: not protobuf, and a pprof that is a gzip bomb (64 MiB of
    // zeros, past the frame's 8 MiB budget).
    assert!(send_raw(
        a,
        &frame(13, 0, 1, &[3, 0, 0, 0, 0x5a, 0x09, 0x01]),
        false
    ));
    let bomb = Command::new("python3")
        .args([
            "-c",
            "import sys,gzip\ndef v(n):\n  o=b''\n  while n>127: o+=bytes([n&127|128]); n>>=7\n  return o+bytes([n])\nd=gzip.compress(bytes(64<<20),9)\nm=b'\\x4a\\x05pprof'+b'\\x5a'+v(len(d))+d\nsys.stdout.buffer.write(len(m).to_bytes(4,'little')+m)",
        ])
        .output()
        .expect("python3");
    assert!(bomb.status.success() && bomb.stdout.len() < 500_000);
    assert!(send_raw(a, &frame(13, 0, 1, &bomb.stdout), false));
    // Application logs (type 17) that are not JSON, and a JSON string that is not an array.
    assert!(send_raw(
        a,
        &frame(17, 0, 1, &[3, 0, 0, 0, b'[', b'{', 0xff]),
        false
    ));
    assert!(send_raw(
        a,
        &frame(17, 0, 1, &[3, 0, 0, 0, b'"', b'x', b'"']),
        false
    ));
    // DeepFlow's syslog type (1) is not stored: skipped; the same connection then sends an
    // empty l4 frame and stays open.
    let mut conn = TcpStream::connect(a).expect("connect");
    conn.write_all(&frame(1, 0, 1, b"anything")).expect("write");
    conn.write_all(&frame(4, 0, 1, b"")).expect("write");
    conn.set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    let mut b = [0u8; 1];
    assert!(
        matches!(conn.read(&mut b), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut),
        "a skipped type must not close the connection"
    );
    // A real agent is served.
    let pcap = gen(&dir, "ok", 5, 0, 40);
    let out = dir.join("out");
    let st = analyze_to(&pcap, &out, a, 3);
    assert_eq!(st["ingester.records_dropped"], 0, "{st}");
    drop(conn);
    assert!(s.proc.stop(), "the server did not stop cleanly");
    assert_same_rows(&[(3, &out)], &s.records, 100);
    let stats = read_json(&s.records.join("ingest-stats.json"));
    assert_eq!(stats["bad_headers"], 3, "{stats}");
    assert_eq!(stats["truncated"], 1, "{stats}");
    assert_eq!(stats["bad_bodies"], 12, "{stats}");
    assert_eq!(stats["skipped_types"], 1, "{stats}");
    assert_eq!(stats["profile_stacks"], 0, "{stats}");
    assert_eq!(stats["app_logs"], 0, "{stats}");
}

/// Reads every frame an agent sends to a plain listener (the test's own, not tapflow's).
fn capture_frames(pcap: &Path, out: &Path) -> Vec<Vec<u8>> {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr").to_string();
    let reader = std::thread::spawn(move || {
        let (mut s, _) = l.accept().expect("accept");
        let mut all = Vec::new();
        s.read_to_end(&mut all).expect("read");
        all
    });
    let st = analyze_to(pcap, out, &addr, 9);
    assert_eq!(st["ingester.records_dropped"], 0, "{st}");
    let all = reader.join().expect("reader");
    let mut frames = Vec::new();
    let mut at = 0;
    while at < all.len() {
        let size = u32::from_be_bytes(all[at..at + 4].try_into().expect("4")) as usize;
        frames.push(all[at..at + size].to_vec());
        at += size;
    }
    frames
}

/// protobuf's varint.
fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// `protoc --decode` of the messages of frames of `msg_type`, wrapped as field 1 of a batch
/// message; returns protoc's text.
fn protoc_decode(frames: &[Vec<u8>], msg_type: u8, message: &str, dir: &Path) -> String {
    let mut batch = Vec::new();
    for f in frames.iter().filter(|f| f[4] == msg_type) {
        assert_eq!(u16::from_le_bytes([f[5], f[6]]), 0x8000, "version");
        assert_eq!(u16::from_le_bytes([f[16], f[17]]), 9, "agent id");
        let body = if f[7] == 3 {
            let o = Command::new("sh")
                .args(["-c", "zstd -d -q -c"])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .and_then(|mut c| {
                    c.stdin.take().expect("stdin").write_all(&f[19..])?;
                    c.wait_with_output()
                })
                .expect("zstd -d");
            assert!(o.status.success(), "zstd -d");
            o.stdout
        } else {
            f[19..].to_vec()
        };
        let mut at = 0;
        while at < body.len() {
            let len = u32::from_le_bytes(body[at..at + 4].try_into().expect("4")) as usize;
            batch.push(0x0a);
            varint(len as u64, &mut batch);
            batch.extend_from_slice(&body[at + 4..at + 4 + len]);
            at += 4 + len;
        }
    }
    let proto_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("control/proto");
    let (file, pkg) = message.split_once('.').expect("package.Message");
    std::fs::write(
        dir.join("batch.proto"),
        format!(
            "syntax = \"proto3\";\nimport \"{file}.proto\";\nmessage Batch {{ repeated {pkg_msg} rows = 1; }}\n",
            pkg_msg = format_args!("{file}.{pkg}")
        ),
    )
    .expect("write");
    let mut c = Command::new("protoc")
        .arg(format!("-I{}", proto_dir.display()))
        .arg(format!("-I{}", dir.display()))
        .args(["--decode=Batch", "batch.proto"])
        .current_dir(dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("protoc");
    c.stdin
        .take()
        .expect("stdin")
        .write_all(&batch)
        .expect("feed");
    let o = c.wait_with_output().expect("protoc");
    assert!(
        o.status.success(),
        "protoc: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).expect("utf8")
}

/// The values of `field:` lines at any depth of each top-level `rows { }` block.
fn row_fields(text: &str, fields: &[&str]) -> Vec<BTreeMap<String, String>> {
    let mut rows = Vec::new();
    let mut depth = 0;
    let mut cur = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if line.ends_with('{') {
            if depth == 0 {
                cur = BTreeMap::new();
            }
            depth += 1;
        } else if line == "}" {
            depth -= 1;
            if depth == 0 {
                rows.push(std::mem::take(&mut cur));
            }
        } else if let Some((k, v)) = line.split_once(": ") {
            if fields.contains(&k) && !cur.contains_key(k) {
                cur.insert(k.to_string(), unescape(v.trim_matches('"')));
            }
        }
    }
    rows
}

/// The frames tapflow sends, read by protoc against our .proto files: headers (version, agent id,
/// encoders: l7 zstd, l4 and metrics raw), and each l4 / l7 / metrics message equal to the
/// agent's JSON row in the fields compared.
#[test]
fn protoc_reads_the_frames_as_the_json_rows() {
    let dir = tempdir("protoc");
    let pcap = gen(&dir, "p", 6, 0, 120);
    let out = dir.join("out");
    let frames = capture_frames(&pcap, &out);
    let encoders: BTreeMap<u8, u8> = frames.iter().map(|f| (f[4], f[7])).collect();
    assert_eq!(
        encoders,
        BTreeMap::from([(3, 0), (4, 0), (5, 3)]),
        "type -> encoder"
    );
    let t = tables(&out);

    let text = protoc_decode(&frames, 4, "flow_log.TaggedFlow", &dir);
    let got: Vec<String> = row_fields(&text, &["flow_id", "port_src", "port_dst", "packet_count"])
        .into_iter()
        .map(|r| format!("{:?}", r))
        .collect();
    let want: Vec<String> = t["l4_flow_log"]
        .iter()
        .map(|r| {
            let mut m = BTreeMap::new();
            for (k, j) in [
                ("flow_id", "flow_id"),
                ("port_src", "client_port"),
                ("port_dst", "server_port"),
                ("packet_count", "packet_tx"),
            ] {
                if r[j].as_u64().unwrap_or(0) != 0 {
                    m.insert(k.to_string(), r[j].to_string());
                }
            }
            format!("{m:?}")
        })
        .collect();
    assert_eq!(sorted(got), sorted(want), "l4 rows");

    let text = protoc_decode(&frames, 5, "flow_log.AppProtoLogsData", &dir);
    let got: Vec<String> = row_fields(&text, &["flow_id", "req_type", "resource", "code"])
        .into_iter()
        .map(|r| format!("{:?}", r))
        .collect();
    let want: Vec<String> = t["l7_flow_log"]
        .iter()
        .map(|r| {
            let mut m = BTreeMap::new();
            m.insert("flow_id".to_string(), r["flow_id"].to_string());
            for (k, j) in [
                ("req_type", "request_type"),
                ("resource", "request_resource"),
            ] {
                if let Some(s) = r[j].as_str().filter(|s| !s.is_empty()) {
                    m.insert(k.to_string(), s.to_string());
                }
            }
            let code = r["response_code"].as_i64().unwrap_or(-32768);
            if code != 0 {
                m.insert("code".to_string(), code.to_string());
            }
            format!("{m:?}")
        })
        .collect();
    assert!(!want.is_empty());
    assert_eq!(sorted(got), sorted(want), "l7 rows");

    let text = protoc_decode(&frames, 3, "metric.Document", &dir);
    let docs = row_fields(&text, &["timestamp", "byte_tx", "request"]);
    let n_docs: usize = t
        .iter()
        .filter(|(k, _)| k.starts_with("flow_metrics."))
        .map(|(_, v)| v.len())
        .sum();
    assert_eq!(docs.len(), n_docs, "documents");
    let bytes: u64 = docs
        .iter()
        .filter_map(|d| d.get("byte_tx")?.parse::<u64>().ok())
        .sum();
    let want: u64 = ["flow_metrics.network.1m", "flow_metrics.network_map.1m"]
        .iter()
        .flat_map(|k| t[*k].iter())
        .map(|r| r["byte_tx"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(bytes, want, "byte_tx over the network documents");
}

/// protoc's text-format string escapes undone (the generated rows use printable ASCII).
fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            if let Some(n) = it.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// The ingester's address is not listening: the run ends (after one drain timeout) and every
/// record is counted as not sent; nothing hangs.
#[test]
fn an_unreachable_ingester_costs_counted_records_only() {
    let dir = tempdir("down");
    let pcap = gen(&dir, "d", 7, 0, 30);
    // A port nobody listens on: bound, then released.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let out = dir.join("out");
    // Not quiet: the closing summary says why nothing was sent.
    let o = Command::new(env!("CARGO_BIN_EXE_tapflow"))
        .arg("analyze")
        .arg(&pcap)
        .args(["--out", out.to_str().expect("utf8")])
        .args(["--ingester", &format!("127.0.0.1:{port}")])
        .output()
        .expect("analyze");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(
        stderr.contains("connection failures; last: Connection refused"),
        "{stderr}"
    );
    let st = read_json(&out.join("stats.json"));
    let written: u64 = tables(&out).values().map(|v| v.len() as u64).sum();
    assert_eq!(st["ingester.records_sent"], 0, "{st}");
    assert_eq!(
        st["ingester.records_queued"].as_u64().unwrap_or(0)
            + st["ingester.records_dropped"].as_u64().unwrap_or(0),
        written,
        "{st}"
    );
    assert!(st["ingester.failures"].as_u64().unwrap_or(0) >= 1, "{st}");
}
