//! DeepFlow's tracer settings on the real tracer. `inputs.ebpf.socket.kprobe.whitelist.ports` and
//! `blacklist.ports`: three Python http.servers on loopback, curl asks each; with a whitelist of the
//! first two ports and a blacklist of the first, only the second server's exchanges are logged
//! (by the client and by the server process), and the events of the others are counted
//! (`trace.port_filtered`). `max_capture_rate` on the real tracer: at one data event a second,
//! ten quick requests cannot all be logged whole, and the events left out are counted
//! (`trace.rate_limited`). `hooked_socket_syscalls`: curl and Python's http.server move their
//! bytes with sendto/recvfrom, so hooking only read/write logs none of their exchanges and
//! hooking sendto/recvfrom logs them. `inputs.proc.proc_dir_path`: processes are read from the
//! directory it names (a bind mount of /proc lists the server; an empty one lists nothing and
//! counts the processes as gone); `inputs.proc.enabled: false` keeps no inventory. `inputs.ebpf.socket.kprobe.enable_unix_socket`: redis-cli and
//! redis-server over a unix socket are logged by both processes (no addresses, the same made-up
//! ports from both ends; a whitelist of TCP ports does not leave them out), and not at all without
//! the key; HTTP between two Python processes over a unix seqpacket socket is logged the same
//! way. A Python http.server moved into a cgroup named as a kubelet names a container's is
//! listed in processes.jsonl with that container's id and its pod's UID. Needs root
//! (scripts/test.sh); skips and says so without. One tracer at a time: each sees the whole host.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

mod live_support;
mod netns;
mod procs;
mod trace_support;
use live_support::{have, wait_until, Killed};
use trace_support::{assert_processes, by_side, can_trace, curl, http_server, temp, Trace};

static ONE_TRACER: Mutex<()> = Mutex::new(());

#[test]
fn the_port_lists_choose_the_traced_sockets() {
    let _one = ONE_TRACER.lock().unwrap_or_else(|e| e.into_inner());
    if !can_trace() || !have("curl") {
        return;
    }
    let dir = temp("ports");
    let ports = [18481u16, 18482, 18483];
    let _servers: Vec<_> = ports.iter().map(|&p| http_server(&dir, p)).collect();
    let out = dir.join("out");
    let trace = trace_with(&out, "inputs:\n  ebpf:\n    socket:\n      kprobe:\n        whitelist:\n          ports: 18481-18482\n        blacklist:\n          ports: '18481'\n");
    for p in ports {
        curl(&[&format!("http://127.0.0.1:{p}/index.html")]);
    }
    let (status, rows, stats) = trace.stop();
    assert!(status.success(), "{status}");
    for p in [18481, 18483] {
        assert!(by_side(&rows, p).is_empty(), "port {p} is not traced");
    }
    let traced = by_side(&rows, 18482);
    for side in ["c-p", "s-p"] {
        let rs = &traced[side];
        assert_eq!(rs.len(), 1, "{side}: {rs:?}");
        assert_eq!(rs[0]["request_resource"], "/index.html");
        assert_eq!(rs[0]["response_code"], 200);
        assert_processes(rs, "curl", "python3");
    }
    assert!(
        stats["trace.port_filtered"].as_u64().unwrap_or(0) > 0,
        "{stats}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_capture_rate_bounds_the_data_events_taken() {
    let _one = ONE_TRACER.lock().unwrap_or_else(|e| e.into_inner());
    if !can_trace() || !have("curl") {
        return;
    }
    let dir = temp("rate");
    let port = 18484;
    let _server = http_server(&dir, port);
    let out = dir.join("out");
    let trace = trace_with(
        &out,
        "inputs:\n  ebpf:\n    socket:\n      tunning:\n        max_capture_rate: 1\n",
    );
    for i in 0..10 {
        curl(&[&format!("http://127.0.0.1:{port}/index.html?{i}")]);
    }
    let (status, rows, stats) = trace.stop();
    assert!(status.success(), "{status}");
    let whole = by_side(&rows, port)
        .values()
        .flatten()
        .filter(|r| r["response_code"] == 200)
        .count();
    assert!(
        whole < 20,
        "{whole} whole exchanges of 10 requests, seen twice each"
    );
    assert!(
        stats["trace.rate_limited"].as_u64().unwrap_or(0) > 0,
        "{stats}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn only_the_hooked_syscalls_are_traced() {
    let _one = ONE_TRACER.lock().unwrap_or_else(|e| e.into_inner());
    if !can_trace() || !have("curl") {
        return;
    }
    let dir = temp("hooked");
    let port = 18485;
    let _server = http_server(&dir, port);
    for (calls, logged) in [("[read, write]", false), ("[sendto, recvfrom]", true)] {
        let out = dir.join(format!("out-{logged}"));
        let trace = trace_with(&out, format!(
                "inputs:\n  ebpf:\n    socket:\n      tunning:\n        hooked_socket_syscalls: {calls}\n"
            ));
        curl(&[&format!("http://127.0.0.1:{port}/index.html")]);
        let (status, rows, _) = trace.stop();
        assert!(status.success(), "{status}");
        let sides = by_side(&rows, port);
        if logged {
            for side in ["c-p", "s-p"] {
                assert_eq!(sides[side].len(), 1, "{calls}: {side}");
                assert_eq!(sides[side][0]["response_code"], 200);
            }
        } else {
            assert!(sides.is_empty(), "{calls}: {sides:?}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// /proc bind-mounted on a directory, unmounted when dropped (also when the test fails).
struct ProcMount(std::path::PathBuf);

impl ProcMount {
    fn new(at: std::path::PathBuf) -> ProcMount {
        std::fs::create_dir_all(&at).expect("mount point");
        let st = std::process::Command::new("mount")
            .args(["--bind", "/proc"])
            .arg(&at)
            .status()
            .expect("mount");
        assert!(st.success(), "mount --bind /proc");
        ProcMount(at)
    }
}

impl Drop for ProcMount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn processes_are_read_from_proc_dir_path() {
    let _one = ONE_TRACER.lock().unwrap_or_else(|e| e.into_inner());
    if !can_trace() || !have("curl") {
        return;
    }
    let dir = temp("procdir");
    let port = 18486;
    let server = http_server(&dir, port);
    let pid = server.0.id();
    let mounted = ProcMount::new(dir.join("hostproc"));
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).expect("empty");
    for (root, listed) in [(&mounted.0, true), (&empty, false)] {
        let out = dir.join(format!("out-{listed}"));
        let trace = trace_with(&out, format!(
                "inputs:\n  proc:\n    proc_dir_path: {}\n    process_matcher:\n    - match_regex: 'http\\.server'\n      match_type: cmdline_with_args\n      enabled_features: [proc.gprocess_info]\n",
                root.display()
            ));
        curl(&[&format!("http://127.0.0.1:{port}/index.html")]);
        let (status, rows, stats) = trace.stop();
        assert!(status.success(), "{status}");
        let procs = std::fs::read_to_string(out.join("processes.jsonl")).unwrap_or_default();
        let has_server = procs
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .any(|p| p["pid"] == pid);
        assert_eq!(has_server, listed, "{}: {procs}", root.display());
        if !listed {
            assert!(stats["processes.gone"].as_u64().unwrap_or(0) > 0, "{stats}");
        }
        // Rows come either way (their kernel names from BPF).
        assert_eq!(by_side(&rows, port)["s-p"].len(), 1);
    }
    // `inputs.proc.enabled: false`: no inventory at all; the rows still name the processes.
    let out = dir.join("out-disabled");
    let trace = trace_with(&out, "inputs:\n  proc:\n    enabled: false\n");
    curl(&[&format!("http://127.0.0.1:{port}/index.html")]);
    let (status, rows, stats) = trace.stop();
    assert!(status.success(), "{status}");
    assert!(!out.join("processes.jsonl").exists());
    assert!(stats.get("processes.listed").is_none(), "{stats}");
    let served = &by_side(&rows, port)["s-p"];
    assert_eq!(served.len(), 1);
    assert_eq!(served[0]["process_kname_1"], "python3", "{}", served[0]);
    assert_eq!(served[0]["process_id_1"], pid, "{}", served[0]);
    drop(mounted);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `enable_unix_socket`: redis-cli and redis-server over a unix socket, logged by both
/// processes with the key and not at all without it.
#[test]
fn unix_socket_exchanges_are_logged_when_enabled() {
    let _one = ONE_TRACER.lock().unwrap_or_else(|e| e.into_inner());
    if !can_trace() || !have("redis-server") || !have("redis-cli") {
        return;
    }
    let dir = temp("unix");
    let sock = dir.join("redis.sock");
    let _server = Killed(
        std::process::Command::new("redis-server")
            .args([
                "--port",
                "0",
                "--save",
                "",
                "--appendonly",
                "no",
                "--unixsocket",
            ])
            .arg(&sock)
            .arg("--dir")
            .arg(&*dir)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server"),
    );
    wait_until("redis-server's unix socket", 15, || sock.exists());
    let cmds: &[&[&str]] = &[
        &["SET", "k", "v"],
        &["GET", "k"],
        &["INCR", "n"],
        &["DEL", "k"],
    ];
    let run = |name: &str, yaml: &str| {
        let out = dir.join(name);
        let trace = trace_with(&out, yaml);
        for c in cmds {
            let st = std::process::Command::new("redis-cli")
                .arg("-s")
                .arg(&sock)
                .args(*c)
                .stdout(std::process::Stdio::null())
                .status()
                .expect("redis-cli");
            assert!(st.success());
        }
        let (status, rows, _) = trace.stop();
        assert!(status.success(), "{status}");
        rows.into_iter()
            .filter(|r| r["l7_protocol_str"] == "Redis")
            .filter(|r| {
                !r["request_type"]
                    .as_str()
                    .unwrap_or("")
                    .eq_ignore_ascii_case("COMMAND")
            })
            .collect::<Vec<_>>()
    };
    // Off by default (DeepFlow's too): nothing of the unix socket.
    assert!(
        run("off", "").is_empty(),
        "traced without enable_unix_socket"
    );
    // On, with a whitelist of TCP ports that does not apply to unix sockets.
    let rows = run(
        "on",
        "inputs:\n  ebpf:\n    socket:\n      kprobe:\n        enable_unix_socket: true\n        \
         whitelist:\n          ports: '18489'\n",
    );
    let server_port = rows
        .first()
        .map(|r| r["server_port"].clone())
        .unwrap_or_default();
    assert!(server_port.as_u64().unwrap_or(0) > 0, "{rows:#?}");
    let sides = by_side(&rows, server_port.as_u64().unwrap_or(0) as u16);
    let want: Vec<&str> = cmds.iter().map(|c| c[0]).collect();
    for side in ["c-p", "s-p"] {
        let rs = &sides[side];
        let got: Vec<&str> = rs
            .iter()
            .map(|r| r["request_type"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(got, want, "{side}: {rs:#?}");
        assert_processes(rs, "redis-cli", "redis-server");
        for r in rs {
            assert_eq!(r["ip_0"], "0.0.0.0", "{r}");
            assert_eq!(r["ip_1"], "0.0.0.0", "{r}");
            assert_eq!(r["protocol"], 6, "{r}");
            assert!(r["response_duration"].as_u64().unwrap_or(0) > 0, "{r}");
        }
    }
    // Each command's two rows name the same client end.
    for (c, s) in sides["c-p"].iter().zip(&sides["s-p"]) {
        assert_eq!(c["client_port"], s["client_port"], "{c} {s}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A unix seqpacket socket (connection-oriented, each message whole) is traced as a stream one
/// is: HTTP between two Python processes, each request once per side.
#[test]
fn unix_seqpacket_exchanges_are_logged_when_enabled() {
    let _one = ONE_TRACER.lock().unwrap_or_else(|e| e.into_inner());
    if !can_trace() {
        return;
    }
    let dir = temp("seqpacket");
    let sock = dir.join("http.sock");
    let script = live_support::client_script("unix_seqpacket.py");
    let n = 5;
    let out = dir.join("out");
    let trace = trace_with(
        &out,
        "inputs:\n  ebpf:\n    socket:\n      kprobe:\n        enable_unix_socket: true\n",
    );
    let server = Killed(
        std::process::Command::new("/usr/bin/python3")
            .arg(&script)
            .args(["server", sock.to_str().expect("utf8"), &n.to_string()])
            .spawn()
            .expect("seqpacket server"),
    );
    wait_until("the seqpacket server's socket", 15, || sock.exists());
    let client = std::process::Command::new("/usr/bin/python3")
        .arg(&script)
        .args(["client", sock.to_str().expect("utf8"), &n.to_string()])
        .output()
        .expect("seqpacket client");
    assert_eq!(
        String::from_utf8_lossy(&client.stdout),
        "done\n",
        "{}",
        String::from_utf8_lossy(&client.stderr)
    );
    drop(server);
    let (status, rows, _) = trace.stop();
    assert!(status.success(), "{status}");
    let http: Vec<serde_json::Value> = rows
        .into_iter()
        .filter(|r| r["l7_protocol_str"] == "HTTP")
        .filter(|r| {
            r["request_resource"]
                .as_str()
                .is_some_and(|p| p.starts_with("/seqpacket/"))
        })
        .collect();
    let port = http
        .first()
        .and_then(|r| r["server_port"].as_u64())
        .unwrap_or_else(|| panic!("no seqpacket rows: {http:#?}")) as u16;
    let sides = by_side(&http, port);
    for side in ["c-p", "s-p"] {
        let mut got: Vec<(String, u64)> = sides[side]
            .iter()
            .map(|r| {
                assert_eq!(r["ip_0"], "0.0.0.0", "{r}");
                (
                    r["request_resource"].as_str().unwrap_or("").to_string(),
                    r["response_code"].as_u64().unwrap_or(0),
                )
            })
            .collect();
        got.sort();
        let mut want: Vec<(String, u64)> = (0..n - 1)
            .map(|i| (format!("/seqpacket/{i}"), 200))
            .chain([("/seqpacket/missing".to_string(), 404)])
            .collect();
        want.sort();
        assert_eq!(got, want, "{side}");
        assert_processes(&sides[side], "python3", "python3");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `tapflow trace` writing to `out`, with `yaml` as its config (beside `out`).
/// A cgroup made for a test (under the first hierarchy this host lets it write), removed with
/// its parents when dropped, the processes still in it moved back to the hierarchy's root.
struct TestCgroup {
    root: PathBuf,
    top: PathBuf,
    leaf: PathBuf,
}

impl TestCgroup {
    /// `path` below a cgroup of this test's own, with process `pid` moved into it; None (said
    /// why) when no hierarchy takes it.
    fn with_process(path: &str, pid: u32) -> Option<TestCgroup> {
        for root in [
            "/sys/fs/cgroup/unified",
            "/sys/fs/cgroup",
            "/sys/fs/cgroup/pids",
        ] {
            let root = PathBuf::from(root);
            if !root.join("cgroup.procs").exists() {
                continue;
            }
            let top = root.join(format!("tapflow-test-{}", std::process::id()));
            let leaf = top.join(path);
            let g = TestCgroup { root, top, leaf };
            if std::fs::create_dir_all(&g.leaf).is_ok()
                && std::fs::write(g.leaf.join("cgroup.procs"), pid.to_string()).is_ok()
            {
                return Some(g);
            }
        }
        eprintln!("skipped: no cgroup hierarchy takes a test cgroup here");
        None
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        let procs = std::fs::read_to_string(self.leaf.join("cgroup.procs")).unwrap_or_default();
        for pid in procs.lines() {
            let _ = std::fs::write(self.root.join("cgroup.procs"), pid);
        }
        // Deepest first.
        for d in self.leaf.ancestors().filter(|d| d.starts_with(&self.top)) {
            let _ = std::fs::remove_dir(d);
        }
    }
}

#[test]
fn processes_in_a_containers_cgroup_are_listed_with_its_container_and_pod() {
    let _one = ONE_TRACER.lock().unwrap_or_else(|e| e.into_inner());
    if !can_trace() || !have("curl") {
        return;
    }
    let dir = temp("cgroup");
    let port = 18491;
    let id = "3f5e7a9c1b2d4f6e8a0c2e4f6a8b0d2f4e6a8c0b2d4f6a8e0c2b4d6f8a0e2c4b";
    let uid = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
    let server = http_server(&dir, port);
    // Where a kubelet with the cgroupfs driver puts a container of a best-effort pod.
    let Some(_cgroup) =
        TestCgroup::with_process(&format!("kubepods/besteffort/pod{uid}/{id}"), server.0.id())
    else {
        return;
    };
    let out = dir.join("out");
    let trace = trace_with(&out, "");
    curl(&[&format!("http://127.0.0.1:{port}/index.html")]);
    let (status, _rows, _stats) = trace.stop();
    assert!(status.success());
    let procs: Vec<serde_json::Value> = std::fs::read_to_string(out.join("processes.jsonl"))
        .expect("processes.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    let web = procs
        .iter()
        .find(|p| p["pid"] == server.0.id())
        .unwrap_or_else(|| panic!("the server is not listed: {procs:#?}"));
    assert_eq!(web["container_id"], id, "{web}");
    assert_eq!(web["pod_uid"], uid, "{web}");
    assert_eq!(web["in_container"], true, "{web}");
    // The host's own processes have neither.
    assert!(
        procs
            .iter()
            .filter(|p| p["pid"] != server.0.id())
            .all(|p| p.get("container_id").is_none() && p.get("pod_uid").is_none()),
        "{procs:#?}"
    );
}

fn trace_with(out: &Path, yaml: impl AsRef<str>) -> Trace {
    let config = out.with_extension("yaml");
    std::fs::write(&config, yaml.as_ref()).expect("config");
    Trace::start(out, &["--config", config.to_str().expect("utf8")])
}
