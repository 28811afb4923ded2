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

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

#[allow(dead_code)] // the ingest tests use the rest
mod ingest_support;
mod integration_support;
mod live_support;
mod netns;
mod procs;
use ingest_support::{start_server, tempdir};
use integration_support::{agent, declared, finished, free_port, gzip, http, rows};
use live_support::{have, start_prometheus};
use netns::is_root;

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
    assert_eq!(http(port, "POST", "/api/v1/nothing", &[], b""), 404);

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
