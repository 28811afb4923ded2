//! Redis against a real `redis-server` (Debian's), captured live from a SPAN port: the server runs
//! in one network namespace, `redis-cli` and `redis-benchmark` in another, and the server's port
//! is mirrored (both directions) to the interface `tapflow run` captures on (`netns::SpanLab`).
//! Every command the clients sent must come out as an `l7_flow_log` row, paired with its reply;
//! pipelined benchmark requests too. Needs root and the Redis packages (scripts/test.sh installs
//! them); skips and says so without.

use std::path::Path;
use std::process::Stdio;

mod live_support;
mod netns;
use live_support::{have, run_tapflow, stats, stop_capture, wait_capturing, wait_until, Killed};
use netns::{is_root, SpanLab};

const PORT: &str = "6391";

fn cli(lab: &SpanLab, args: &[&str]) -> String {
    let out = lab
        .in_client(&["redis-cli", "-h", lab.server_ip, "-p", PORT])
        .args(args)
        .output()
        .expect("redis-cli");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn rows(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .expect("l7_flow_log")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect()
}

#[test]
fn redis_server_commands_and_pipelines_are_logged() {
    if !is_root() || !have("redis-server") || !have("redis-benchmark") {
        eprintln!(
            "skipped: needs root and redis-server / redis-tools (scripts/test.sh installs them)"
        );
        return;
    }
    let dir = std::env::temp_dir().join(format!("tapflow-redis-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let lab = SpanLab::new("rd");
    let server = Killed(lab.redis_server(PORT, &dir));
    wait_until("redis-server", 10, || cli(&lab, &["PING"]).trim() == "PONG");
    let out = dir.join("live");
    let mut run = run_tapflow(&lab.capture, 60, None, &out);
    wait_capturing(&mut run, &out);
    assert_eq!(cli(&lab, &["SET", "greeting", "hello world"]).trim(), "OK");
    assert_eq!(cli(&lab, &["GET", "greeting"]).trim(), "hello world");
    assert!(cli(&lab, &["LPUSH", "greeting", "x"]).contains("WRONGTYPE"));
    // A value over many segments, both ways.
    let big = dir.join("big");
    std::fs::write(&big, vec![b'v'; 200_000]).expect("big");
    let st = lab
        .in_client(&[
            "redis-cli",
            "-h",
            lab.server_ip,
            "-p",
            PORT,
            "-x",
            "SET",
            "big",
        ])
        .stdin(std::fs::File::open(&big).expect("open"))
        .stdout(Stdio::null())
        .status()
        .expect("redis-cli -x");
    assert!(st.success());
    assert_eq!(cli(&lab, &["STRLEN", "big"]).trim(), "200000");
    assert_eq!(cli(&lab, &["GET", "big"]).len(), 200_001);
    // Pipelined: 16 requests in flight per connection, 2 connections.
    let st = lab
        .in_client(&["redis-benchmark", "-h", lab.server_ip, "-p", PORT])
        .args(["-n", "2000", "-c", "2", "-P", "16", "-q"])
        .args(["-t", "set,get"])
        .stdout(Stdio::null())
        .status()
        .expect("redis-benchmark");
    assert!(st.success());
    stop_capture(&mut run);
    drop(server);

    let rows = rows(&out.join("l7_flow_log.jsonl"));
    let redis: Vec<_> = rows.iter().filter(|r| r["l7_protocol"] == 80).collect();
    let find = |ty: &str, res: &str| {
        redis
            .iter()
            .find(|r| r["request_type"] == ty && r["request_resource"] == res)
            .unwrap_or_else(|| panic!("no row {ty} {res}"))
    };
    let set = find("SET", "SET greeting ?");
    assert_eq!(
        (set["type"].as_u64(), set["response_status"].as_u64()),
        (Some(2), Some(0))
    );
    assert!(set["response_duration"].as_u64().unwrap() > 0);
    assert_eq!(find("GET", "GET greeting")["response_status"], 0);
    let err = find("LPUSH", "LPUSH greeting ?");
    assert_eq!(err["response_status"], 3);
    assert!(err["response_exception"]
        .as_str()
        .unwrap()
        .starts_with("WRONGTYPE"));
    assert_eq!(find("SET", "SET big ?")["response_status"], 0);
    assert_eq!(find("GET", "GET big")["type"], 2);
    // The benchmark: every request a row paired with its reply.
    let bench = |ty: &str| {
        redis
            .iter()
            .filter(|r| r["request_type"] == ty)
            .filter(|r| {
                r["request_resource"]
                    .as_str()
                    .unwrap()
                    .contains("key:__rand_int__")
            })
            .filter(|r| r["type"] == 2 && r["response_status"] == 0)
            .count()
    };
    assert_eq!(bench("SET"), 2000, "benchmark SETs");
    assert_eq!(bench("GET"), 2000, "benchmark GETs");
    assert!(
        redis.iter().all(|r| r["type"] == 2),
        "every request answered: {:?}",
        redis.iter().find(|r| r["type"] != 2)
    );
    let stats = stats(&out);
    assert_eq!(stats["l7.parse_errors"], 0);
    assert_eq!(stats["kernel_drops"], 0);
    let _ = std::fs::remove_dir_all(&dir);
}
