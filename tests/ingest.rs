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
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

mod netns;
mod procs;
use netns::{is_root, VethNs};
use procs::Proc;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_tapflow");
const TOKEN: &str = "ingest-token";

/// Row fields DeepFlow's messages have no field for (docs/ingest.md): not compared.
const L4_NOT_CARRIED: &[&str] = &[
    "rtt_client_sum",
    "rtt_client_count",
    "rtt_server_sum",
    "rtt_server_count",
    "reversed",
];
/// The documents' latency histograms (DeepFlow keeps sum/count/max only).
const DOC_NOT_CARRIED: &[&str] = &["rtt", "srt", "art", "rrt"];

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tapflow-ingest-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

struct Server {
    proc: Proc,
    #[allow(dead_code)] // the live test's agents sync with it
    grpc: String,
    ingest: String,
    records: PathBuf,
}

/// `tapflow server` (plaintext gRPC) receiving records on `ingest` ("127.0.0.1:0" for any port).
fn start_server(dir: &Path, ingest: &str, token: bool) -> Server {
    let args = [
        "server",
        "--listen",
        "127.0.0.1:0",
        "--plaintext",
        "--data-dir",
        dir.to_str().expect("utf8"),
        "--ingest-listen",
        ingest,
    ];
    let env: &[(&str, &str)] = if token {
        &[("TAPFLOW_TOKEN", TOKEN)]
    } else {
        &[]
    };
    let proc = Proc::spawn_env(&args, env);
    let addr_in = |line: String| {
        line.split_whitespace()
            .find(|w| w.starts_with("127.0.0.1:"))
            .expect("address")
            .to_string()
    };
    let grpc = addr_in(proc.expect("listening on", Duration::from_secs(20)));
    let ingest = addr_in(proc.expect("receiving records on", Duration::from_secs(5)));
    Server {
        proc,
        grpc,
        ingest,
        records: dir.join("records"),
    }
}

/// A generated capture: `flows` conversations of every scenario.
fn gen(dir: &Path, name: &str, seed: u32, first_flow: u32, flows: u32) -> PathBuf {
    let o = Command::new(BIN)
        .args(["gen", "--out", dir.to_str().expect("utf8"), "--name", name])
        .args([
            "--seed",
            &seed.to_string(),
            "--first-flow",
            &first_flow.to_string(),
        ])
        .args(["--flows", &flows.to_string()])
        .output()
        .expect("gen");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    dir.join(format!("{name}.pcap"))
}

/// `tapflow analyze PCAP --ingester ADDR --agent-id ID`; returns its stats.json.
fn analyze_to(pcap: &Path, out: &Path, ingester: &str, agent_id: u16) -> Value {
    let o = Command::new(BIN)
        .arg("analyze")
        .arg(pcap)
        .args(["--quiet", "--out", out.to_str().expect("utf8")])
        .args(["--ingester", ingester, "--agent-id", &agent_id.to_string()])
        .output()
        .expect("analyze");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    read_json(&out.join("stats.json"))
}

fn read_json(p: &Path) -> Value {
    let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).expect("json")
}

/// Every `*.jsonl` table in `dir`: name -> rows.
fn tables(dir: &Path) -> BTreeMap<String, Vec<Value>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).expect("dir").flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(table) = name.strip_suffix(".jsonl") else {
            continue;
        };
        let text = std::fs::read_to_string(e.path()).expect("read");
        let rows = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("row"))
            .collect();
        out.insert(table.to_string(), rows);
    }
    out
}

/// A row as comparable text: the fields DeepFlow's messages carry (agent_id taken out).
fn carried(table: &str, mut row: Value) -> String {
    let m = row.as_object_mut().expect("object");
    m.remove("agent_id");
    if table == "l4_flow_log" {
        for k in L4_NOT_CARRIED {
            m.remove(*k);
        }
    }
    if table.starts_with("flow_metrics.") {
        for k in DOC_NOT_CARRIED {
            if m.get(*k).is_some_and(Value::is_object) {
                m.remove(*k);
            }
        }
    }
    serde_json::to_string(&row).expect("json")
}

/// Asserts that the server's rows are exactly the agents' rows (as multisets, per table), and
/// that each server row names its agent.
fn assert_same_rows(agents: &[(u16, &Path)], server: &Path, min_rows: usize) {
    let stored = tables(server);
    let mut total = 0;
    let mut want_tables: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut want_agents: BTreeMap<String, BTreeMap<u64, usize>> = BTreeMap::new();
    for (id, dir) in agents {
        for (t, rows) in tables(dir) {
            total += rows.len();
            *want_agents
                .entry(t.clone())
                .or_default()
                .entry(u64::from(*id))
                .or_default() += rows.len();
            let e = want_tables.entry(t.clone()).or_default();
            e.extend(rows.into_iter().map(|r| carried(&t, r)));
        }
    }
    assert!(total >= min_rows, "the agents wrote {total} rows");
    for (t, mut want) in want_tables {
        let rows = stored.get(&t).cloned().unwrap_or_default();
        let mut by_agent: BTreeMap<u64, usize> = BTreeMap::new();
        for r in &rows {
            *by_agent
                .entry(r["agent_id"].as_u64().unwrap_or(0))
                .or_default() += 1;
        }
        let mut got: Vec<String> = rows.into_iter().map(|r| carried(&t, r)).collect();
        want.sort();
        got.sort();
        assert_eq!(got.len(), want.len(), "{t}: rows stored vs sent");
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g, w, "{t}: a stored row differs from the agent's");
        }
        let expected_agents = want_agents.get(&t).cloned().unwrap_or_default();
        let expected_agents: BTreeMap<u64, usize> = expected_agents
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .collect();
        assert_eq!(by_agent, expected_agents, "{t}: rows per agent_id");
    }
}

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
    // DeepFlow's stats type (10) is skipped; the same connection then sends an empty l4 frame
    // and stays open.
    let mut conn = TcpStream::connect(a).expect("connect");
    conn.write_all(&frame(10, 0, 1, b"anything"))
        .expect("write");
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
    assert_eq!(stats["bad_bodies"], 4, "{stats}");
    assert_eq!(stats["skipped_types"], 1, "{stats}");
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
    let st = analyze_to(&pcap, &out, &format!("127.0.0.1:{port}"), 1);
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

fn live_root_only() -> bool {
    if !is_root() {
        eprintln!("skipped: live capture needs root (CI runs as root)");
        return false;
    }
    true
}

/// `tapflow ctl ... -o json` against the plaintext server with the token.
fn ctl_json(s: &Server, args: &[&str]) -> Value {
    let o = Command::new(BIN)
        .args(["ctl", "--server", &s.grpc, "--plaintext", "-o", "json"])
        .args(args)
        .env("TAPFLOW_TOKEN", TOKEN)
        .output()
        .expect("ctl");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).expect("json")
}

/// A live `tapflow run` on `iface` sending to `ingester` (None: to the address its controller's
/// configuration gives); with `controller`, it syncs with it (its agent id comes from there) as
/// `name`, in `group` when given.
fn run_agent(
    iface: &str,
    out: &Path,
    ingester: Option<&str>,
    controller: Option<(&Server, &str, &str)>,
    group: Option<&str>,
) -> Proc {
    let mut args = vec![
        "run",
        "--engine",
        "af_packet",
        "--iface",
        iface,
        "--out",
        out.to_str().expect("utf8"),
    ];
    if let Some(i) = ingester {
        args.extend(["--ingester", i]);
    }
    if let Some(g) = group {
        args.extend(["--group", g]);
    }
    if let Some((s, name, mac)) = controller {
        args.extend([
            "--controller",
            &s.grpc,
            "--plaintext",
            "--ctrl-ip",
            "127.0.0.1",
            "--ctrl-mac",
            mac,
            "--host",
            name,
            "--sync-interval",
            "1s",
        ]);
    }
    Proc::spawn_env(&args, &[("TAPFLOW_TOKEN", TOKEN)])
}

/// Replays `pcap` from the namespace end of `net` (the agent captures the host end).
fn replay(net: &VethNs, pcap: &Path, pps: &str) {
    let st = Command::new("ip")
        .args([
            "netns", "exec", &net.ns, BIN, "replay", "--iface", &net.peer, "--pps", pps,
        ])
        .arg(pcap)
        .status()
        .expect("replay");
    assert!(st.success(), "replay");
}

/// Two live agents on their own veth pairs, registered with a server that has a token: each gets
/// its agent id from the controller, and every record of each arrives once under that id. Agent
/// a is told where the ingester is by `--ingester`, agent b by its group's configuration
/// (`global.communication.ingester_ip` / `ingester_port` from the controller). A sender the
/// control plane does not know is refused (counted), its records not stored.
#[test]
fn live_agents_with_a_controller_and_token() {
    if !live_root_only() {
        return;
    }
    let dir = tempdir("live");
    let s = start_server(&dir.join("server"), "127.0.0.1:0", true);
    let (na, nb) = (
        VethNs::with_mtu("ia", "1500"),
        VethNs::with_mtu("ib", "1500"),
    );
    let (oa, ob) = (dir.join("out-a"), dir.join("out-b"));
    let group = ctl_json(&s, &["agent-group", "create", "mirrors"])[0]["id"]
        .as_str()
        .expect("group id")
        .to_string();
    let (host, port) = s.ingest.split_once(':').expect("host:port");
    let cfg = dir.join("group.yaml");
    std::fs::write(
        &cfg,
        format!(
            "vtap_group_id: {group}\nglobal:\n  communication:\n    ingester_ip: {host}\n    ingester_port: {port}\n"
        ),
    )
    .expect("write");
    let o = Command::new(BIN)
        .args([
            "ctl",
            "--server",
            &s.grpc,
            "--plaintext",
            "agent-group-config",
            "create",
            "-f",
        ])
        .arg(&cfg)
        .env("TAPFLOW_TOKEN", TOKEN)
        .output()
        .expect("ctl");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let a = run_agent(
        &na.host,
        &oa,
        Some(&s.ingest),
        Some((&s, "agent-a", "02:00:00:00:0a:01")),
        None,
    );
    let b = run_agent(
        &nb.host,
        &ob,
        None,
        Some((&s, "agent-b", "02:00:00:00:0b:01")),
        Some(&group),
    );
    // Both registered, and a sync later their ids are in force.
    let mut ids = BTreeMap::new();
    for _ in 0..100 {
        let agents = ctl_json(&s, &["agent", "list"]);
        for a in agents.as_array().into_iter().flatten() {
            if let (Some(h), Some(id)) = (a["host"].as_str(), a["id"].as_u64()) {
                ids.insert(h.to_string(), id as u16);
            }
        }
        if ids.contains_key("agent-a") && ids.contains_key("agent-b") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        ids.contains_key("agent-a") && ids.contains_key("agent-b"),
        "agents registered: {ids:?}"
    );
    std::thread::sleep(Duration::from_millis(2500));
    let pa = gen(&dir, "a", 8, 0, 60);
    let pb = gen(&dir, "b", 9, 2000, 60);
    replay(&na, &pa, "3000");
    replay(&nb, &pb, "3000");
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        a.stop_within(Duration::from_secs(20)),
        "agent a did not stop cleanly"
    );
    assert!(
        b.stop_within(Duration::from_secs(20)),
        "agent b did not stop cleanly"
    );
    // A sender with an id the server never gave.
    let stranger = dir.join("out-x");
    let px = gen(&dir, "x", 10, 4000, 10);
    let st = analyze_to(&px, &stranger, &s.ingest, 999);
    assert!(
        st["ingester.records_sent"].as_u64().unwrap_or(0) > 0,
        "{st}"
    );
    for (name, out) in [("a", &oa), ("b", &ob)] {
        let st = read_json(&out.join("stats.json"));
        assert_eq!(st["ingester.records_dropped"], 0, "agent {name}: {st}");
        assert_eq!(st["ingester.records_queued"], 0, "agent {name}: {st}");
    }
    assert!(s.proc.stop(), "the server did not stop cleanly");
    let id = |h: &str| *ids.get(h).unwrap_or_else(|| panic!("agent {h} in {ids:?}"));
    assert_same_rows(
        &[(id("agent-a"), &oa), (id("agent-b"), &ob)],
        &s.records,
        200,
    );
    let stats = read_json(&s.records.join("ingest-stats.json"));
    assert!(
        stats["rejected_agents"].as_u64().unwrap_or(0) >= 1,
        "{stats}"
    );
}

/// The server is killed while a live agent sends and started again on the same port: the agent
/// reconnects, records after the restart arrive, what was lost is counted, nothing crashes.
#[test]
fn server_outage_and_restart() {
    if !live_root_only() {
        return;
    }
    let dir = tempdir("outage");
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let ingest = format!("127.0.0.1:{port}");
    let s1 = start_server(&dir.join("server1"), &ingest, false);
    let net = VethNs::with_mtu("io", "1500");
    let out = dir.join("out");
    let agent = run_agent(&net.host, &out, Some(&ingest), None, None);
    std::thread::sleep(Duration::from_millis(1500));
    replay(&net, &gen(&dir, "one", 11, 0, 40), "4000");
    std::thread::sleep(Duration::from_millis(1500));
    // Killed, not stopped: what it held is gone.
    drop(s1);
    replay(&net, &gen(&dir, "two", 12, 1000, 40), "4000");
    std::thread::sleep(Duration::from_secs(2));
    let s2 = start_server(&dir.join("server2"), &ingest, false);
    replay(&net, &gen(&dir, "three", 13, 2000, 40), "4000");
    // Reconnect backoff is at most 15 s; flows are reported when they end or at the stop.
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        agent.stop_within(Duration::from_secs(30)),
        "the agent did not stop cleanly"
    );
    assert!(s2.proc.stop(), "the server did not stop cleanly");
    let st = read_json(&out.join("stats.json"));
    assert!(st["ingester.connects"].as_u64().unwrap_or(0) >= 2, "{st}");
    assert!(st["ingester.failures"].as_u64().unwrap_or(0) >= 1, "{st}");
    let written: usize = tables(&out).values().map(Vec::len).sum();
    let stored = tables(&s2.records);
    let after: usize = stored.values().map(Vec::len).sum();
    assert!(after > 0, "nothing arrived after the restart");
    let sent = st["ingester.records_sent"].as_u64().unwrap_or(0) as usize;
    let dropped = st["ingester.records_dropped"].as_u64().unwrap_or(0) as usize;
    assert!(sent + dropped <= written, "{st}: {written} written");
    let stored_l4 = stored.get("l4_flow_log").cloned().unwrap_or_default();
    assert!(!stored_l4.is_empty(), "l4 rows after the restart");
}
