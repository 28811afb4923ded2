//! bRPC request logs from a live capture: PaddlePaddle's RPC (`paddle.distributed.rpc`), whose
//! workers call each other through Apache bRPC in `baidu_std` (`tests/clients/brpc_peer.py`;
//! Paddle installed by the test command into /usr/local/lib/tapflow-test/paddle). The server
//! worker runs in one namespace, the client worker in another, the link mirrored to the
//! interface `tapflow run` captures (`netns::SpanLab`). The client makes three calls, then four
//! at once that the server answers in reverse order (naps of 0.8, 0.6, 0.4 and 0.2 s, over as
//! many connections), then writes two calls on a socket to the server's bRPC port, each with a
//! log id and a `traceparent` user field, which the real server refuses (ENOMETHOD for a
//! service it lacks, EREQUEST for a request that does not parse). The rows must be those calls,
//! paired, with the server's codes and texts, the log ids and the trace id.
//! Needs root and Paddle (scripts/test.sh installs it).

use std::path::Path;
use std::process::Stdio;

mod live_support;
mod netns;
use live_support::Killed;
use live_support::{
    client_ok, client_script, l7_rows, protocols_config, run_tapflow, stop_capture, wait_capturing,
};
use netns::{is_root, SpanLab};

const PY: &str = "/usr/bin/python3";
const PADDLE: &str = "/usr/local/lib/tapflow-test/paddle";
const PORT: u16 = 8002;
const MASTER: u16 = 8010;
const SERVICE: &str = "paddle.distributed.RpcBaseService";
const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";

#[test]
fn paddle_calls_concurrent_calls_and_refusals_are_logged() {
    if !is_root() || !Path::new(PADDLE).join("paddle").exists() {
        eprintln!("skipped: needs root and Paddle in {PADDLE} (scripts/test.sh installs it)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("tapflow-brpc-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let lab = SpanLab::new("br");
    let script = client_script("brpc_peer.py");
    let (port, master) = (PORT.to_string(), MASTER.to_string());
    let config = protocols_config(&dir, "HTTP, bRPC");
    let out = dir.join("live");
    let mut run = run_tapflow(&lab.capture, 120, Some(&config), &out);
    wait_capturing(&mut run, &out);
    // The server worker's bRPC port opens once the client joined Paddle's master store, which
    // the client retries until the server has opened it.
    let _server = Killed(
        lab.in_server(&[PY, &script, "serve", lab.server_ip, &port, &master])
            .env("PYTHONPATH", PADDLE)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("paddle server"),
    );
    let mut client = lab.in_client(&[
        PY,
        &script,
        "client",
        lab.server_ip,
        lab.client_ip,
        &port,
        &master,
    ]);
    client.env("PYTHONPATH", PADDLE);
    client_ok(client);
    stop_capture(&mut run);

    let rows: Vec<serde_json::Value> = l7_rows(&out)
        .into_iter()
        .filter(|r| r["server_port"] == PORT)
        .collect();
    assert!(rows.iter().all(|r| r["l7_protocol"] == 45), "{rows:#?}");
    let text = |r: &serde_json::Value, k: &str| r[k].as_str().unwrap_or("").to_string();
    let (paddle, refused): (Vec<_>, Vec<_>) = rows
        .iter()
        .partition(|r| r["response_code"] == 0 && text(r, "request_type") == "InvokeRpc");
    // Three adds and four naps, every one answered and paired.
    assert_eq!(paddle.len(), 7, "{rows:#?}");
    for r in &paddle {
        assert_eq!(text(r, "request_resource"), SERVICE, "{r}");
        assert_eq!(text(r, "endpoint"), format!("{SERVICE}/InvokeRpc"), "{r}");
        assert_eq!((&r["type"], &r["response_status"]), (&2.into(), &0.into()));
        assert_eq!(r["ip_0"], lab.client_ip, "{r}");
        assert!(r["request_id"].as_u64() > Some(0), "{r}");
        assert!(r["request_length"].as_u64() > Some(12), "{r}");
        assert!(r["response_length"].as_u64() > Some(12), "{r}");
    }
    // The naps, answered in reverse order over four connections: each row's duration is its
    // nap's (with the server's own time on top, well under the gap between two naps).
    let mut naps: Vec<u64> = paddle
        .iter()
        .filter_map(|r| r["response_duration"].as_u64())
        .filter(|&d| d >= 150_000)
        .collect();
    naps.sort();
    assert_eq!(naps.len(), 4, "{paddle:#?}");
    for (d, want) in naps.iter().zip([200_000, 400_000, 600_000, 800_000]) {
        assert!((want..want + 150_000).contains(d), "{naps:?}");
    }
    // The refusals: the real server's codes and texts, the log ids and trace id sent.
    let mut refused: Vec<_> = refused
        .iter()
        .map(|r| {
            (
                text(r, "endpoint"),
                r["response_status"].as_u64(),
                r["response_code"].as_i64(),
                text(r, "x_request_id_0"),
                text(r, "trace_id"),
                r["request_id"].as_u64(),
                text(r, "response_exception"),
            )
        })
        .collect();
    refused.sort();
    assert_eq!(refused.len(), 2, "{rows:#?}");
    let (no_method, bad_request) = (&refused[0], &refused[1]);
    assert_eq!(
        (
            &no_method.0[..],
            no_method.1,
            no_method.2,
            &no_method.3[..],
            &no_method.4[..]
        ),
        (
            "example.NoSuchService/Echo",
            Some(3),
            Some(1002),
            "4242",
            TRACE
        )
    );
    assert_eq!(no_method.5, Some(1));
    assert!(no_method.6.contains("Fail to find method"), "{no_method:?}");
    assert_eq!(
        (
            &bad_request.0[..],
            bad_request.1,
            bad_request.2,
            &bad_request.3[..],
            &bad_request.4[..]
        ),
        (
            &format!("{SERVICE}/InvokeRpc")[..],
            Some(3),
            Some(1003),
            "4343",
            TRACE
        )
    );
    assert_eq!(bad_request.5, Some(2));
    assert!(
        bad_request.6.contains("Fail to parse request"),
        "{bad_request:?}"
    );
    lab.cleanup();
    let _ = std::fs::remove_dir_all(&dir);
}
