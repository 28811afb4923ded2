//! The integration collector with real clients of more kinds: application logs (winston's HTTP
//! transport from npm, and Vector's JSON shape posted by curl, gzip), SkyWalking traces (Apache
//! SkyWalking's Python agent over its HTTP and gRPC protocols, a traced client service calling
//! a traced server) and OTLP over gRPC (OpenTelemetry's Python SDK), through `tapflow run` to
//! `tapflow server --ingest-listen`, which must store them as DeepFlow's server does. Needs
//! root (the capture runs on lo), node with winston, curl, apache-skywalking and the OTLP gRPC
//! exporter (scripts/test.sh installs them).

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

#[allow(dead_code)] // the ingest tests use the rest
mod ingest_support;
#[allow(dead_code)] // the collector's tests use the rest
mod integration_support;
mod live_support;
mod netns;
mod procs;
use ingest_support::{start_server, tempdir};
use integration_support::{agent, finished, free_port, gzip, http, rows};
use live_support::wait_until;
use live_support::{have, Killed};
use netns::is_root;

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

/// Where scripts/install-build-deps.sh puts Apache SkyWalking's Python agent.
const SKYWALKING: &str = "/usr/local/lib/tapflow-test/skywalking";

fn skywalking_app(role: &str, port: u16, collector: u16, protocol: &str) -> Command {
    let mut c = Command::new("/usr/bin/python3");
    c.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/skywalking_app.py"
    ))
    .args([role, &port.to_string(), &format!("127.0.0.1:{collector}")])
    .args([protocol, &format!("-{protocol}")])
    .env("PYTHONPATH", SKYWALKING);
    c
}

/// A traced `shop` calling a traced `cart` three times (one call answered 500), both agents
/// reporting to the collector on `port` over `protocol`.
fn shop_and_cart(port: u16, protocol: &str) {
    let cart_port = free_port();
    let cart = Killed(
        skywalking_app("serve", cart_port, port, protocol)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cart service"),
    );
    wait_until("the cart service", 20, || {
        http(cart_port, "GET", "/cart/0", &[], b"") == 200
    });
    let o = skywalking_app("client", cart_port, port, protocol)
        .output()
        .expect("shop service");
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "OK",
        "{protocol}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    // The cart's agent reports its last segments within its queue's second.
    std::thread::sleep(std::time::Duration::from_secs(2));
    drop(cart);
}

#[test]
fn skywalking_traces_reach_the_ingester_as_spans() {
    if !is_root() || !std::path::Path::new(SKYWALKING).join("skywalking").exists() {
        eprintln!("skipped: needs root and apache-skywalking in {SKYWALKING} (scripts/test.sh installs it)");
        return;
    }
    let dir = tempdir("integration-skywalking");
    let server = start_server(&dir.join("server"), "127.0.0.1:0", false);
    let port = free_port();
    let run = agent(&dir, "one", "", &server.ingest, port, 30);
    shop_and_cart(port, "http");
    shop_and_cart(port, "grpc");
    assert_eq!(
        http(port, "POST", "/v3/segment", &[], b"{\"spans\": 7}"),
        400
    );
    let stats = finished(run, &dir, "one");
    // Per protocol, the shop's three calls and the cart's four answers (its readiness probe
    // too).
    assert_eq!(stats["integration.skywalking_segments"], 14, "{stats}");
    assert!(
        stats["integration.span_documents"].as_u64() > Some(0),
        "{stats}"
    );
    assert!(server.proc.stop(), "tapflow server did not stop cleanly");

    let spans = rows(&dir.join("server/records/otel_spans.jsonl"));
    for protocol in ["http", "grpc"] {
        let of = |service: &str| -> Vec<&Value> {
            let name = format!("{service}-{protocol}");
            spans.iter().filter(|r| r["service_name"] == name).collect()
        };
        let (shop, cart) = (of("shop"), of("cart"));
        assert_eq!((shop.len(), cart.len()), (3, 4), "{protocol}: {spans:#?}");
        for exit in &shop {
            assert_eq!(exit["kind"], "client", "{exit}");
            assert_eq!(exit["agent_id"], 7);
            assert_eq!(exit["app_host_ip"], "127.0.0.1");
            assert_eq!(
                exit["resource"]["service.instance.id"],
                format!("shop-{protocol}-1")
            );
            assert_eq!(exit["attributes"]["http.method"], "GET");
            // The cart's entry span for this call: the same trace, this span as its parent.
            let entry = cart
                .iter()
                .find(|e| e["parent_span_id"] == exit["span_id"])
                .unwrap_or_else(|| panic!("no entry span under {exit}"));
            assert_eq!(entry["kind"], "server");
            assert_eq!(entry["trace_id"], exit["trace_id"]);
            assert_eq!(entry["name"], exit["name"]);
            let failed = exit["name"] == "/fail";
            for s in [exit, entry] {
                assert_eq!(s["status_code"], if failed { 2 } else { 1 }, "{s}");
                assert_eq!(
                    s["attributes"]["http.status_code"],
                    if failed { 500 } else { 200 },
                    "{s}"
                );
            }
        }
    }
    // The spans' application documents: a request per call on each side, the failures server
    // errors on the cart's side.
    let sum = |side: &str, field: &str| -> u64 {
        rows(&dir.join("server/records/flow_metrics.application.1m.jsonl"))
            .iter()
            .filter(|r| r["observation_point"] == side && r["agent_id"] == 7)
            .map(|r| r[field].as_u64().unwrap_or(0))
            .sum()
    };
    assert_eq!(sum("c-app", "request"), 6);
    assert_eq!(sum("s-app", "request"), 8);
    assert_eq!(sum("s-app", "server_error"), 2);
}

#[test]
fn otlp_grpc_traces_reach_the_ingester() {
    let have_grpc_exporter = Command::new("/usr/bin/python3")
        .args([
            "-c",
            "import opentelemetry.exporter.otlp.proto.grpc.trace_exporter",
        ])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !is_root() || !have_grpc_exporter {
        eprintln!("skipped: needs root and opentelemetry-exporter-otlp-proto-grpc (scripts/test.sh installs it)");
        return;
    }
    let dir = tempdir("integration-otlp-grpc");
    let server = start_server(&dir.join("server"), "127.0.0.1:0", false);
    let port = free_port();
    let run = agent(&dir, "one", "", &server.ingest, port, 12);
    // OpenTelemetry's Python SDK with its gRPC exporter (gzip), pointed at the collector's port.
    let o = Command::new("/usr/bin/python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/clients/otel_spans.py"
        ))
        .arg(format!("grpc://127.0.0.1:{port}"))
        .args(["grpc-checkout", "5"])
        .output()
        .expect("python3");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let traces: Vec<Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("trace line"))
        .collect();
    assert_eq!(traces.len(), 5);
    let stats = finished(run, &dir, "one");
    assert_eq!(stats["integration.trace_requests"], 10, "{stats}");
    assert_eq!(stats["integration.spans"], 10, "{stats}");
    assert!(server.proc.stop(), "tapflow server did not stop cleanly");
    let stored = rows(&dir.join("server/records/otel_spans.jsonl"));
    for t in &traces {
        let of: Vec<&Value> = stored
            .iter()
            .filter(|r| r["trace_id"] == t["trace_id"])
            .collect();
        assert_eq!(of.len(), 2, "{t}");
        let server_span = of
            .iter()
            .find(|r| r["kind"] == "server")
            .expect("server span");
        assert_eq!(server_span["span_id"], t["server_span_id"]);
        assert_eq!(server_span["service_name"], "grpc-checkout");
        assert_eq!(server_span["app_host_ip"], "127.0.0.1");
    }
}
