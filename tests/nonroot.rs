//! `tapflow run` as an unprivileged user (nobody) with exactly the capabilities its engine needs
//! (`setpriv --ambient-caps`, as the systemd unit's `AmbientCapabilities=` grants them): AF_PACKET
//! with CAP_NET_RAW alone, AF_XDP with CAP_NET_ADMIN, CAP_NET_RAW, CAP_BPF, CAP_PERFMON and
//! CAP_IPC_LOCK; each captures HTTP on a mirrored veth (`netns::SpanLab`: a real
//! `python3 -m http.server` and `curl`). Without them the run refuses to start and names what is
//! missing and how to grant it. Needs root (to build the lab and drop to nobody) and setpriv.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

mod live_support;
mod netns;
use live_support::{have, l7_rows, wait_until, Killed};
use netns::{is_root, SpanLab};

const NOBODY: &str = "65534";

fn as_nobody(caps: &str, args: &[&str]) -> Command {
    let mut c = Command::new("setpriv");
    c.args(["--reuid", NOBODY, "--regid", NOBODY, "--clear-groups"]);
    if !caps.is_empty() {
        c.arg(format!("--inh-caps={caps}"))
            .arg(format!("--ambient-caps={caps}"));
    }
    c.arg(env!("CARGO_BIN_EXE_tapflow")).args(args);
    c
}

fn run_args<'a>(engine: &'a str, iface: &'a str, out: &'a str) -> Vec<&'a str> {
    vec![
        "run",
        "-q",
        "--engine",
        engine,
        "--iface",
        iface,
        "--duration",
        "4",
        "--out",
        out,
    ]
}

fn world_writable(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(p).expect("dir");
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o777)).expect("chmod");
}

#[test]
fn capture_as_nobody_with_only_the_engines_capabilities() {
    if !is_root() || !have("setpriv") || !have("curl") || !have("python3") {
        eprintln!("skipped: needs root, setpriv, curl and python3");
        return;
    }
    let dir = std::env::temp_dir().join(format!("tapflow-nonroot-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    world_writable(&dir);
    let lab = SpanLab::new("nr");
    let _web = Killed(
        lab.in_server(&[
            "python3",
            "-m",
            "http.server",
            "8000",
            "--bind",
            lab.server_ip,
        ])
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("http.server"),
    );
    let url = format!("http://{}:8000/", lab.server_ip);
    let get = || {
        lab.in_client(&["curl", "-s", "-o", "/dev/null", "--max-time", "2", &url])
            .status()
            .is_ok_and(|s| s.success())
    };
    wait_until("http.server", 10, get);

    // Without capabilities: refused before any socket, with the fix.
    for (engine, missing) in [("af_packet", "CAP_NET_RAW"), ("af_xdp", "CAP_BPF")] {
        let out = dir.join(format!("denied-{engine}"));
        let res = as_nobody(
            "",
            &run_args(engine, &lab.capture, out.to_str().expect("utf-8")),
        )
        .output()
        .expect("tapflow");
        assert!(
            !res.status.success(),
            "{engine} must not start without capabilities"
        );
        let err = String::from_utf8_lossy(&res.stderr);
        assert!(
            err.contains("missing:") && err.contains(missing),
            "{engine}: {err}"
        );
        assert!(
            err.contains("AmbientCapabilities=") && err.contains("setcap"),
            "{err}"
        );
    }
    // One capability short of AF_XDP's set: named alone.
    let out = dir.join("short");
    let res = as_nobody(
        "+net_raw,+net_admin,+bpf,+perfmon",
        &run_args("af_xdp", &lab.capture, out.to_str().expect("utf-8")),
    )
    .output()
    .expect("tapflow");
    let err = String::from_utf8_lossy(&res.stderr);
    let memlock_unlimited = std::fs::read_to_string("/proc/self/limits").is_ok_and(|l| {
        l.lines()
            .any(|x| x.starts_with("Max locked memory") && x.contains("unlimited"))
    });
    if !memlock_unlimited {
        assert!(!res.status.success());
        assert!(
            err.contains("(missing: CAP_IPC_LOCK)") && err.contains("LimitMEMLOCK"),
            "{err}"
        );
    }

    for (engine, caps) in [
        ("af_packet", "+net_raw"),
        ("af_xdp", "+net_raw,+net_admin,+bpf,+perfmon,+ipc_lock"),
    ] {
        let out = dir.join(engine);
        let mut run = as_nobody(
            caps,
            &run_args(engine, &lab.capture, out.to_str().expect("utf-8")),
        )
        .spawn()
        .expect("tapflow run");
        std::thread::sleep(Duration::from_millis(1500));
        for _ in 0..3 {
            assert!(get(), "curl");
        }
        let st = run.wait().expect("wait");
        assert!(st.success(), "{engine} as nobody with {caps}: {st}");
        let rows = l7_rows(&out);
        let http: Vec<_> = rows
            .iter()
            .filter(|r| r["l7_protocol"] == 20 && r["request_type"] == "GET")
            .collect();
        assert_eq!(http.len(), 3, "{engine}: {rows:?}");
        assert!(http.iter().all(|r| r["response_code"] == 200));
        // The files belong to the unprivileged user.
        let meta = std::fs::metadata(out.join("l4_flow_log.jsonl")).expect("l4");
        assert_eq!(
            std::os::unix::fs::MetadataExt::uid(&meta).to_string(),
            NOBODY
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
