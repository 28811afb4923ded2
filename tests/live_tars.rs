//! Tars request logs from a live capture: Tencent's TarsNode RPC framework (`@tars/rpc` from npm,
//! installed by the test command into target/test-npm) as both the server and the client
//! (`tests/clients/tars_peer.js`), the server in one namespace, the client in another, the
//! server's port mirrored to the interface `tapflow run` captures (`netns::SpanLab`). The client
//! makes three `getUsrName` calls, calls a function the servant lacks (TARSSERVERNOFUNCERR),
//! makes two TUP calls (the name-keyed version 3 web gateways send; the second to a missing
//! function) and one `test()` call the servant never answers. The rows must be those calls,
//! paired, with their versions and return codes, the last one a timeout.
//! Needs root and Node.js (scripts/test.sh installs @tars/rpc).

use std::process::Stdio;

mod live_support;
mod netns;
use live_support::Killed;
use live_support::{
    client_ok, client_script, l7_rows, npm_modules, protocols_config, run_tapflow, stop_capture,
    wait_capturing, wait_until,
};
use netns::{is_root, SpanLab};

const PORT: u16 = 14002;
const OBJ: &str = "TARS.NodeTarsServer.NodeTarsObj";

#[test]
fn calls_tup_calls_refusals_and_a_timeout_are_logged() {
    let Some(modules) = npm_modules("@tars/rpc").filter(|_| is_root()) else {
        eprintln!("skipped: needs root, node and @tars/rpc (scripts/test.sh installs them)");
        return;
    };
    let dir = std::env::temp_dir().join(format!("tapflow-tars-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let lab = SpanLab::new("ta");
    let script = client_script("tars_peer.js");
    let port = PORT.to_string();
    let _server = Killed(
        lab.in_server(&["node", &script, &modules, "serve", lab.server_ip, &port])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tars server"),
    );
    wait_until("tars server", 15, || lab.server_port_open(PORT));
    let config = protocols_config(&dir, "HTTP, Tars");
    let out = dir.join("live");
    let mut run = run_tapflow(&lab.capture, 60, Some(&config), &out);
    wait_capturing(&mut run, &out);
    client_ok(lab.in_client(&["node", &script, &modules, "client", lab.server_ip, &port]));
    stop_capture(&mut run);

    let rows = l7_rows(&out);
    assert!(rows.iter().all(|r| r["l7_protocol"] == 46), "{rows:#?}");
    let mut got: Vec<(String, String, u64, Option<i64>, String, String)> = rows
        .iter()
        .map(|r| {
            (
                r["request_type"].as_str().unwrap_or("").to_string(),
                r["version"].as_str().unwrap_or("").to_string(),
                r["response_status"].as_u64().unwrap_or(99),
                r["response_code"].as_i64(),
                r["response_exception"].as_str().unwrap_or("").to_string(),
                r["request_resource"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    got.sort();
    let row = |f: &str, v: &str, st: u64, code: Option<i64>, exc: &str| {
        (
            f.to_string(),
            v.to_string(),
            st,
            code,
            exc.to_string(),
            OBJ.to_string(),
        )
    };
    assert_eq!(
        got,
        [
            row("add", "3", 3, Some(-3), "TARSSERVERNOFUNCERR"),
            row("getUsrName", "1", 0, Some(0), ""),
            row("getUsrName", "1", 0, Some(0), ""),
            row("getUsrName", "1", 0, Some(0), ""),
            row("getUsrName", "3", 0, Some(0), ""),
            // test() is never answered: a timeout row without a code.
            row("test", "1", 2, None, ""),
            row("yourName", "1", 3, Some(-3), "TARSSERVERNOFUNCERR"),
        ],
        "{rows:#?}"
    );
    for r in &rows {
        assert_eq!(r["ip_0"], lab.client_ip, "{r}");
        assert_eq!(
            r["endpoint"],
            format!("{OBJ}/{}", r["request_type"].as_str().unwrap()),
            "{r}"
        );
        if r["response_status"] != 2 {
            assert_eq!(r["type"], 2, "{r}");
            assert!(r["response_duration"].as_u64() > Some(0), "{r}");
        }
    }
    // The TUP calls carry the request ids the client chose.
    let mut tup_ids: Vec<u64> = rows
        .iter()
        .filter(|r| r["version"] == "3")
        .map(|r| r["request_id"].as_u64().unwrap_or(0))
        .collect();
    tup_ids.sort();
    assert_eq!(tup_ids, [1001, 1002]);
    lab.cleanup();
    let _ = std::fs::remove_dir_all(&dir);
}
