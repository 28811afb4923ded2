//! The integration collector (`inputs.integration`, DeepFlow's port 38086) with real clients: a
//! `tapflow run` sending to `tapflow server --ingest-listen` takes OpenTelemetry's Python SDK
//! exporting spans over OTLP/HTTP (gzip), a real Prometheus server's remote write (with one of
//! its headers named in `prometheus_extra_labels`) and Telegraf line protocol posted by curl (gzip), and
//! forwards them over its ingester connection; the server must store every span (with the
//! sender's address as `app.host.ip`), Prometheus' own samples with the extra label, and every
//! line. Malformed, oversized and unknown requests are refused and counted, and
//! `feature_control` drops what it turns off. Profiles: Pyroscope's Python SDK, 0.8 (its ingest
//! API, as DeepFlow's agent takes it) and 1.x (its push API), and collapsed text posted by curl,
//! stored by the server as stacks. Application logs: winston (npm) through its HTTP transport,
//! and Vector's JSON shape posted by curl (gzip), stored by the server as DeepFlow stores them.
//! Needs root (the capture runs on lo), Python's opentelemetry-sdk and pyroscope-io,
//! prometheus, node with winston and curl (scripts/test.sh installs them).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

#[allow(dead_code)] // the ingest tests use the rest
mod ingest_support;
mod live_support;
mod netns;
mod procs;
use ingest_support::{start_server, tempdir};
use live_support::{have, start_prometheus, wait_until, Killed};
use netns::is_root;

const BIN: &str = env!("CARGO_BIN_EXE_tapflow");

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
    l.local_addr().expect("addr").port()
}

/// An HTTP/1.1 request to 127.0.0.1:`port`: the status code.
fn http(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> u16 {
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
fn declared(port: u16, path: &str, len: usize) -> u16 {
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

fn gzip(data: &[u8]) -> Vec<u8> {
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

fn rows(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn have_otel_sdk() -> bool {
    Command::new("/usr/bin/python3")
        .args([
            "-c",
            "import opentelemetry.exporter.otlp.proto.http.trace_exporter",
        ])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `tapflow run` on lo with `config`, sending to `ingest`, its collector on `port`.
fn agent(dir: &Path, name: &str, config: &str, ingest: &str, port: u16, secs: u32) -> Killed {
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
fn finished(mut run: Killed, dir: &Path, name: &str) -> Value {
    let end = Instant::now() + Duration::from_secs(60);
    while run.0.try_wait().expect("wait").is_none() {
        assert!(Instant::now() < end, "tapflow run did not stop");
        std::thread::sleep(Duration::from_millis(100));
    }
    let stats = std::fs::read_to_string(dir.join(name).join("stats.json")).expect("stats.json");
    serde_json::from_str(&stats).expect("json")
}

fn spans(port: u16, service: &str, n: usize) -> Vec<Value> {
    let o = Command::new("/usr/bin/python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/clients/otel_spans.py"
        ))
        .arg(format!("http://127.0.0.1:{port}/api/v1/otel/trace"))
        .args([service, &n.to_string()])
        .output()
        .expect("python3");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("trace line"))
        .collect()
}

#[test]
fn traces_remote_write_and_telegraf_reach_the_ingester() {
    if !is_root() || !have_otel_sdk() || !have("prometheus") || !have("curl") {
        eprintln!("skipped: needs root, opentelemetry-sdk, prometheus and curl (scripts/test.sh installs them)");
        return;
    }
    let dir = tempdir("integration");
    let server = start_server(&dir.join("server"), "127.0.0.1:0", false);
    let (port, prom_port) = (free_port(), free_port());
    let config = "inputs:\n  integration:\n    prometheus_extra_labels:\n      enabled: true\n      extra_labels: [X-Prometheus-Remote-Write-Version, X-Absent]\n";
    let run = agent(&dir, "one", config, &server.ingest, port, 20);

    // Prometheus scrapes itself every second and remote-writes to the collector.
    let prometheus = start_prometheus(
        &dir,
        prom_port,
        &format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: self\n    static_configs:\n      - targets: ['127.0.0.1:{prom_port}']\nremote_write:\n  - url: http://127.0.0.1:{port}/api/v1/prometheus\n    queue_config:\n      batch_send_deadline: 1s\n"
        ),
    );

    let traces = spans(port, "checkout", 9);
    assert_eq!(traces.len(), 9);
    let lines = "cpu,host=web-1 usage_idle=97.5 1700000000000000000\nmem,host=web-1 used=512i 1700000000000000000\n\ndisk\\ io,host=web-1 reads=3i\n";
    let gz = gzip(lines.as_bytes());
    let st = Command::new("curl")
        .args([
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--data-binary",
            "@-",
        ])
        .args(["-H", "Content-Encoding: gzip"])
        .arg(format!("http://127.0.0.1:{port}/api/v1/telegraf"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().expect("stdin").write_all(&gz)?;
            c.wait_with_output()
        })
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&st.stdout), "200");

    // Refusals: not protobuf, bad gzip, too large, unknown path.
    assert_eq!(
        http(
            port,
            "POST",
            "/api/v1/otel/trace",
            &[],
            b"{\"resourceSpans\":[]}"
        ),
        400
    );
    let bad_gz = [("Content-Encoding", "gzip")];
    assert_eq!(
        http(port, "POST", "/api/v1/telegraf", &bad_gz, b"not gzip"),
        400
    );
    assert_eq!(declared(port, "/api/v1/telegraf", 3 << 20), 413);
    assert_eq!(http(port, "POST", "/v3/segments", &[], b""), 404);

    // Prometheus' samples with the label of the header it sends with every request (Debian's
    // Prometheus 2.42 does not send remote_write's configured `headers`).
    let samples = server.records.join("prometheus_samples.jsonl");
    let tagged_up = || {
        rows(&samples).iter().any(|r| {
            r["metric"] == "up"
                && r["labels"]["job"] == "self"
                && r["labels"]["x-prometheus-remote-write-version"] == "0.1.0"
        })
    };
    let end = Instant::now() + Duration::from_secs(40);
    while !tagged_up() {
        assert!(Instant::now() < end, "no remote-written `up` sample stored");
        std::thread::sleep(Duration::from_millis(500));
    }
    drop(prometheus);
    let stats = finished(run, &dir, "one");
    let docs_one = stats["integration.span_documents"].as_u64().unwrap_or(0);
    let n = |k: &str| {
        stats[k]
            .as_u64()
            .unwrap_or_else(|| panic!("{k} in {stats}"))
    };
    assert_eq!(n("integration.spans"), 18);
    assert_eq!(
        n("integration.trace_requests"),
        19,
        "18 exports and one refused"
    );
    assert_eq!(n("integration.telegraf_lines"), 3);
    assert!(n("integration.prometheus_requests") > 0);
    assert_eq!(n("integration.malformed"), 2);
    assert_eq!(n("integration.too_large"), 1);
    assert_eq!(n("integration.not_found"), 1);
    assert_eq!(
        n("integration.queue_full") + n("integration.no_ingester"),
        0
    );
    assert!(n("ingester.forward_frames_sent") >= 19);
    assert_eq!(n("ingester.forward_frames_lost"), 0);

    // A second agent: traces uncompressed, metrics turned off.
    let config = "inputs:\n  integration:\n    compression:\n      trace: false\n    feature_control:\n      metric_integration_disabled: true\n";
    let port2 = free_port();
    let run = agent(&dir, "two", config, &server.ingest, port2, 8);
    let more = spans(port2, "payments", 2);
    assert_eq!(
        http(port2, "POST", "/api/v1/telegraf", &[], b"dropped v=1\n"),
        200
    );
    let stats = finished(run, &dir, "two");
    let docs_two = stats["integration.span_documents"].as_u64().unwrap_or(0);
    assert_eq!(stats["integration.disabled"], 1);
    assert_eq!(stats["integration.spans"], 4);
    assert!(server.proc.stop(), "tapflow server did not stop cleanly");

    let stored = rows(&dir.join("server/records/otel_spans.jsonl"));
    assert_eq!(stored.len(), 22, "every span once");
    for t in traces.iter().chain(&more) {
        let id = t["trace_id"].as_str().expect("id");
        let of: Vec<&Value> = stored.iter().filter(|r| r["trace_id"] == id).collect();
        assert_eq!(of.len(), 2, "{id}");
        let server_span = of
            .iter()
            .find(|r| r["kind"] == "server")
            .expect("server span");
        let client_span = of
            .iter()
            .find(|r| r["kind"] == "client")
            .expect("client span");
        assert_eq!(server_span["span_id"], t["server_span_id"]);
        assert_eq!(client_span["parent_span_id"], t["server_span_id"]);
        assert_eq!(client_span["attributes"]["db.system"], "mysql");
        for r in &of {
            assert_eq!(r["agent_id"], 7);
            assert_eq!(r["app_host_ip"], "127.0.0.1", "{r}");
            assert_eq!(r["resource"]["service.instance.id"], "i-1");
        }
        let error = t["error"] == true;
        assert_eq!(
            server_span["status_code"],
            if error { 2 } else { 0 },
            "{server_span}"
        );
        assert_eq!(
            server_span["attributes"]["http.status_code"],
            if error { 500 } else { 200 }
        );
    }
    assert_eq!(
        stored
            .iter()
            .filter(|r| r["service_name"] == "payments")
            .count(),
        4
    );
    let lines = rows(&dir.join("server/records/telegraf.jsonl"));
    let measurements: Vec<&str> = lines
        .iter()
        .filter_map(|r| r["measurement"].as_str())
        .collect();
    assert_eq!(
        measurements,
        ["cpu", "mem", "disk\\ io"],
        "the disabled agent's line is not there"
    );
    assert!(lines.iter().all(|r| r["agent_id"] == 7));
    // The collector's counters reach the server with the agent's self-monitoring reports.
    let reports = rows(&dir.join("server/records/deepflow_system.jsonl"));
    assert!(
        reports
            .iter()
            .any(|r| r["virtual_table_name"] == "tapflow_integration"
                && r["metrics_float_names"]
                    .as_array()
                    .is_some_and(|n| n.iter().any(|x| x == "spans"))),
        "no tapflow_integration report"
    );
    // The spans' application documents (sent when the runs stopped): per minute, a request per
    // span on the client's (`c-app`) and the server's (`s-app`) address, errors as the spans'.
    let sum = |file: &str, side: &str, field: &str| -> u64 {
        rows(&dir.join(format!("server/records/flow_metrics.{file}.1m.jsonl")))
            .iter()
            .filter(|r| r["observation_point"] == side && r["agent_id"] == 7)
            .map(|r| r[field].as_u64().unwrap_or(0))
            .sum()
    };
    let errors = traces
        .iter()
        .chain(&more)
        .filter(|t| t["error"] == true)
        .count() as u64;
    assert_eq!(sum("application", "c-app", "request"), 11);
    assert_eq!(sum("application", "s-app", "request"), 11);
    assert_eq!(sum("application", "s-app", "server_error"), errors);
    assert_eq!(
        sum("application", "c-app", "server_error"),
        0,
        "no client span is an error"
    );
    assert_eq!(sum("application_map", "s-app", "request"), 11);
    assert_eq!(sum("application", "s-app", "rrt_count"), 11);
    // Every document the server got was counted by its run, the windows sent at the stop too.
    let stored_docs: usize = ["application", "application_map"]
        .iter()
        .map(|f| {
            rows(&dir.join(format!("server/records/flow_metrics.{f}.1m.jsonl")))
                .iter()
                .filter(|r| {
                    r["agent_id"] == 7
                        && matches!(
                            r["observation_point"].as_str(),
                            Some("c-app" | "s-app" | "app")
                        )
                })
                .count()
        })
        .sum();
    assert!(docs_one > 0, "the first run's documents went at its stop");
    assert_eq!(docs_one + docs_two, stored_docs as u64);
    let ingest: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("server/records/ingest-stats.json")).expect("stats"),
    )
    .expect("json");
    assert_eq!(ingest["otel_spans"], 22);
    assert_eq!(ingest["telegraf_lines"], 3);
    assert_eq!(ingest["bad_bodies"], 0);
}

/// Where scripts/install-build-deps.sh puts pyroscope-io 0.8 (the ingest API's SDK; 1.x, the
/// push API's, is installed as usual).
const PYROSCOPE_LEGACY: &str = "/usr/local/lib/tapflow-test/pyroscope-0.8";

fn have_pyroscope() -> bool {
    Command::new("/usr/bin/python3")
        .args(["-c", "import pyroscope"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
        && Path::new(PYROSCOPE_LEGACY).join("pyroscope").is_dir()
}

/// Pyroscope's Python SDK burning CPU for `secs` in app `app`, uploading to `address`; with
/// `legacy`, its 0.8 SDK. Its version.
fn pyroscope(address: &str, app: &str, secs: u32, legacy: bool) -> String {
    let mut c = Command::new("/usr/bin/python3");
    c.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/pyroscope_burn.py"
    ))
    .args([address, app, &secs.to_string()]);
    if legacy {
        c.env("PYTHONPATH", PYROSCOPE_LEGACY);
    }
    let o = c.output().expect("python3");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// A Java Flight Recorder recording of tests/clients/java/Burner.java running `ms`, gzipped, and
/// the counts `jfr summary` gives of its CPU samples and allocations outside TLABs.
fn java_recording(dir: &Path, ms: u32) -> (std::path::PathBuf, u64, u64) {
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/java");
    let ok = |c: &mut Command| {
        let o = c.output().expect("java tools");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    ok(Command::new("javac")
        .args(["-d", dir.to_str().expect("utf8")])
        .arg(format!("{src}/Burner.java")));
    let rec = dir.join("burner.jfr");
    ok(Command::new("java")
        .arg(format!(
            "-XX:StartFlightRecording=filename={},settings={src}/profile.jfc",
            rec.display()
        ))
        .args([
            "-cp",
            dir.to_str().expect("utf8"),
            "Burner",
            &ms.to_string(),
        ]));
    let summary = ok(Command::new("jfr").arg("summary").arg(&rec));
    let count = |event: &str| -> u64 {
        summary
            .lines()
            .find(|l| l.split_whitespace().next() == Some(event))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or(0)
    };
    let gz = dir.join("burner.jfr.gz");
    std::fs::write(&gz, gzip(&std::fs::read(&rec).expect("recording"))).expect("gz");
    (
        gz,
        count("jdk.ExecutionSample"),
        count("jdk.ObjectAllocationOutsideTLAB"),
    )
}

#[test]
fn profiles_reach_the_ingester_as_stacks() {
    if !is_root() || !have_pyroscope() || !have("curl") || !have("javac") {
        eprintln!("skipped: needs root, pyroscope-io (0.8 and 1.x), curl and a JDK (scripts/test.sh installs them)");
        return;
    }
    let dir = tempdir("integration-profiles");
    let (recording, cpu_samples, big_allocations) = java_recording(&dir, 2000);
    assert!(
        cpu_samples > 50 && big_allocations > 100,
        "{cpu_samples} {big_allocations}"
    );
    let server = start_server(&dir.join("server"), "127.0.0.1:0", false);
    let port = free_port();
    let run = agent(&dir, "one", "", &server.ingest, port, 25);

    // The 0.8 SDK where DeepFlow's documentation points it; the 1.x SDK at the port itself.
    let legacy = std::thread::spawn(move || {
        pyroscope(
            &format!("http://127.0.0.1:{port}/api/v1/profile"),
            "legacy-app",
            4,
            true,
        )
    });
    let modern = pyroscope(&format!("http://127.0.0.1:{port}"), "modern-app", 4, false);
    let legacy = legacy.join().expect("legacy sdk");
    assert!(legacy.starts_with("0.8"), "{legacy}");
    assert!(modern.starts_with("1."), "{modern}");

    // Collapsed text (a ruby profiler's), a format the server does not read, a broken push.
    let folded = Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}"])
        .args(["--data-binary", "main;work 7\nmain 3\n"])
        .arg(format!(
            "http://127.0.0.1:{port}/api/v1/profile/ingest?name=batch.cpu%7Bjob%3Dnightly%7D&from=1700000000&until=1700000010&format=folded&spyName=rbspy&sampleRate=100"
        ))
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&folded.stdout), "200");
    let trie = "/api/v1/profile/ingest?name=other-app&format=trie&from=1700000000";
    assert_eq!(http(port, "POST", trie, &[], b"not read"), 200);
    // A Java Flight Recorder recording, as Pyroscope's Java agent posts it: a form's gzipped
    // `jfr` part.
    let jfr = Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-F"])
        .arg(format!("jfr=@{};filename=jfr", recording.display()))
        .arg(format!(
            "http://127.0.0.1:{port}/api/v1/profile/ingest?name=java-app&from=1700000100&until=1700000110&format=jfr&spyName=javaspy&sampleRate=100"
        ))
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&jfr.stdout), "200");
    let push = "/push.v1.PusherService/Push";
    assert_eq!(http(port, "POST", push, &[], b"\xff\xff"), 400);
    let stats = finished(run, &dir, "one");
    assert!(
        stats["integration.profile_requests"].as_u64() >= Some(5),
        "{stats}"
    );
    assert_eq!(stats["integration.malformed"], 1);
    assert_eq!(stats["ingester.forward_frames_lost"], 0);

    // An agent with profiles turned off answers and drops them.
    let config =
        "inputs:\n  integration:\n    feature_control:\n      profile_integration_disabled: true\n";
    let port2 = free_port();
    let run = agent(&dir, "two", config, &server.ingest, port2, 4);
    let off = "/api/v1/profile/ingest?name=dropped&format=folded";
    assert_eq!(http(port2, "POST", off, &[], b"main 1\n"), 200);
    let stats = finished(run, &dir, "two");
    assert_eq!(stats["integration.disabled"], 1);
    assert!(server.proc.stop(), "tapflow server did not stop cleanly");

    let stored = rows(&dir.join("server/records/profiles.jsonl"));
    let of =
        |app: &str| -> Vec<&Value> { stored.iter().filter(|r| r["app_service"] == app).collect() };
    for app in ["legacy-app", "modern-app"] {
        let r = of(app);
        assert!(!r.is_empty(), "no {app} stacks in {stored:?}");
        assert!(
            r.iter().any(|r| r["profile_location_str"]
                .as_str()
                .is_some_and(|s| s.ends_with("burn_cpu") || s.contains(";burn_cpu;"))),
            "{app}: no stack through burn_cpu: {r:?}"
        );
        for x in &r {
            assert_eq!(x["agent_id"], 7);
            assert_eq!(x["ip"], "127.0.0.1");
            assert_eq!(x["profile_event_type"], "cpu", "{x}");
            assert_eq!(x["profile_language_type"], "python");
            assert_eq!(x["tags"]["region"], "eu", "{x}");
            assert!(x["profile_value"].as_i64() > Some(0));
        }
    }
    // The 0.8 SDK's own sampling rate and times come with its query.
    assert!(of("legacy-app")
        .iter()
        .all(|r| r["sample_rate"] == 100 && r["format"] == "pprof"));
    let batch: Vec<(String, i64)> = of("batch")
        .iter()
        .map(|r| {
            assert_eq!(r["profile_language_type"], "ruby");
            assert_eq!(r["tags"]["job"], "nightly");
            assert_eq!(r["time"], 1_700_000_000);
            (
                r["profile_location_str"].as_str().unwrap_or("").to_string(),
                r["profile_value"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        batch,
        [("main".to_string(), 3), ("main;work".to_string(), 7)]
    );
    assert!(of("dropped").is_empty());
    // The recording's samples and allocations, each once, on Burner's frames.
    let java = of("java-app");
    let total = |event: &str| -> i64 {
        java.iter()
            .filter(|r| r["profile_event_type"] == event)
            .map(|r| r["profile_value"].as_i64().unwrap_or(0))
            .sum()
    };
    // A sample without a stack (none seen so far) is not a stack.
    let cpu = total("cpu");
    assert!(
        cpu <= cpu_samples as i64 && cpu + 3 >= cpu_samples as i64,
        "{cpu} of {cpu_samples}"
    );
    assert_eq!(total("alloc_outside_tlab_objects"), big_allocations as i64);
    assert!(total("alloc_outside_tlab_bytes") >= big_allocations as i64 * 65536);
    assert!(java.iter().any(|r| r["profile_event_type"] == "cpu"
        && r["profile_location_str"] == "Burner.main;Burner.spin"
        && r["profile_language_type"] == "Java"));
    assert!(java.iter().all(|r| r["time"] == 1_700_000_100));
    let ingest: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("server/records/ingest-stats.json")).expect("stats"),
    )
    .expect("json");
    assert_eq!(ingest["profile_stacks"], stored.len());
    assert_eq!(ingest["profiles_unsupported"], 1, "{ingest}");
    assert_eq!(ingest["profiles_malformed"], 0, "{ingest}");
    assert_eq!(ingest["bad_bodies"], 0);
}

#[test]
fn application_logs_reach_the_ingester() {
    let Some(modules) = live_support::npm_modules("winston").filter(|_| is_root() && have("curl"))
    else {
        eprintln!("skipped: needs root, node, winston and curl (scripts/test.sh installs them)");
        return;
    };
    let dir = tempdir("integration-logs");
    let server = start_server(&dir.join("server"), "127.0.0.1:0", false);
    let port = free_port();
    let run = agent(&dir, "one", "", &server.ingest, port, 12);
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();

    // A Node.js service's logs through winston's HTTP transport.
    let o = Command::new("node")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/clients/winston_logs.js"
        ))
        .arg(&modules)
        .arg(port.to_string())
        .output()
        .expect("node");
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "OK",
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // Vector's shape (its HTTP sink's JSON array, gzip), with a pod; one entry without a time.
    let vector = br#"[{"message":"GET /healthz 200","timestamp":"2026-12-08T01:00:00.123456Z","level":"INFO","_df_log_type":"user","app_service":"web","kubernetes":{"pod_name":"web-0","pod_ip":"10.244.1.5"},"json":{"status":200}},{"message":"no time"}]"#;
    let vector = gzip(vector);
    let sent = Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}"])
        .args([
            "-H",
            "Content-Encoding: gzip",
            "-H",
            "Content-Type: application/json",
        ])
        .args(["--data-binary", "@-"])
        .arg(format!("http://127.0.0.1:{port}/api/v1/log"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().expect("stdin").write_all(&vector)?;
            c.wait_with_output()
        })
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&sent.stdout), "200");
    assert_eq!(http(port, "POST", "/api/v1/log", &[], b"not json"), 400);
    let stats = finished(run, &dir, "one");
    assert_eq!(stats["integration.log_requests"], 5, "{stats}");
    assert_eq!(stats["integration.logs"], 8, "{stats}");
    assert_eq!(stats["integration.malformed"], 1);
    assert_eq!(stats["ingester.forward_frames_lost"], 0);

    // An agent with logs turned off answers and drops them.
    let config =
        "inputs:\n  integration:\n    feature_control:\n      log_integration_disabled: true\n";
    let port2 = free_port();
    let run = agent(&dir, "two", config, &server.ingest, port2, 4);
    let dropped = br#"[{"message":"dropped","timestamp":"2026-12-08T01:00:00Z"}]"#;
    assert_eq!(http(port2, "POST", "/api/v1/log", &[], dropped), 200);
    let stats = finished(run, &dir, "two");
    assert_eq!(stats["integration.disabled"], 1);
    assert!(server.proc.stop(), "tapflow server did not stop cleanly");

    let stored = rows(&dir.join("server/records/application_logs.jsonl"));
    let mut got: Vec<(String, String, String, u64, String)> = stored
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or("").to_string();
            assert_eq!(r["agent_id"], 7, "{r}");
            (
                s("app_service"),
                s("body"),
                s("_type"),
                r["severity_number"].as_u64().unwrap_or(0),
                s("ip"),
            )
        })
        .collect();
    got.sort();
    let row = |a: &str, b: &str, t: &str, sev: u64, ip: &str| {
        (
            a.to_string(),
            b.to_string(),
            t.to_string(),
            sev,
            ip.to_string(),
        )
    };
    let lo = "127.0.0.1";
    assert_eq!(
        got,
        [
            row("checkout", "cart recalculated", "user", 6, lo),
            row("checkout", "order placed", "user", 5, lo),
            row("checkout", "payment declined", "user", 3, lo),
            row("checkout", "stock low", "user", 4, lo),
            row("console", "user admin logged in", "audit", 5, lo),
            row("console", "user auditor logged in", "audit", 5, lo),
            row("web", "GET /healthz 200", "user", 5, "10.244.1.5"),
        ],
        "{stored:#?}"
    );
    let by_body = |b: &str| stored.iter().find(|r| r["body"] == b).expect(b);
    // winston's times are its clock's, to the millisecond; its json object's keys attributes.
    let placed = by_body("order placed");
    assert!(placed["time"].as_u64() >= Some(before), "{placed}");
    assert_eq!(
        placed["timestamp"].as_i64().unwrap_or(0) % 1000,
        0,
        "{placed}"
    );
    assert_eq!(
        placed["attribute_names"],
        serde_json::json!(["amount", "order_id"])
    );
    assert_eq!(
        placed["attribute_values"],
        serde_json::json!(["12.5", "1001"])
    );
    assert_eq!(by_body("user admin logged in")["severity_text"], "info");
    let web = by_body("GET /healthz 200");
    assert_eq!(web["timestamp"], 1_796_691_600_123_456i64);
    assert_eq!(
        web["attribute_names"],
        serde_json::json!(["status", "pod_ip", "pod_name"])
    );
    let ingest: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("server/records/ingest-stats.json")).expect("stats"),
    )
    .expect("json");
    assert_eq!(ingest["app_logs"], 7, "{ingest}");
    assert_eq!(ingest["app_logs_skipped"], 1, "{ingest}");
    assert_eq!(ingest["bad_bodies"], 0);
}
