//! AMQP against a real RabbitMQ (Debian's) and Debian's pika client
//! (`tests/clients/amqp_client.py`), captured live from a SPAN port (`netns::SpanLab`): declare,
//! bind, publish, get, ack, and a passive declare the broker refuses with 404. The rows must be
//! that workload, with the refused declare and the broker's Channel.Close as errors. Needs root,
//! rabbitmq-server and python3-pika (scripts/test.sh installs them).

use std::process::Stdio;
use std::time::Duration;

mod live_support;
mod netns;
use live_support::{
    client_ok, client_script, have, l7_rows, protocols_config, run_tapflow, stats, stop_capture,
    wait_capturing, wait_until, Killed,
};
use netns::{is_root, SpanLab};

type Row = (String, String, u64, u64, Option<i64>);

#[test]
fn rabbitmq_workload_is_logged() {
    let server = "/usr/lib/rabbitmq/bin/rabbitmq-server";
    let pika = live_support::python_has("pika");
    if !is_root() || !have(server) || !pika {
        eprintln!(
            "skipped: needs root, rabbitmq-server and python3-pika (scripts/test.sh installs them)"
        );
        return;
    }
    let dir = std::env::temp_dir().join(format!("tapflow-amqp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let lab = SpanLab::new("aq");
    std::fs::write(
        dir.join("rabbitmq.conf"),
        format!(
            "loopback_users = none\nlisteners.tcp.1 = {}:5672\n",
            lab.server_ip
        ),
    )
    .expect("conf");
    // The broker runs as root from the temporary directory (not through the wrapper that
    // switches to the rabbitmq user), its Erlang node named for this test only.
    let d = dir.display().to_string();
    let _broker = Killed(
        lab.in_server(&[server])
            .current_dir(&dir)
            .env("HOME", &d)
            .env(
                "RABBITMQ_NODENAME",
                format!("tapflow{}@localhost", std::process::id()),
            )
            .env("RABBITMQ_CONFIG_FILE", format!("{d}/rabbitmq"))
            .env("RABBITMQ_MNESIA_BASE", format!("{d}/mnesia"))
            .env("RABBITMQ_LOG_BASE", format!("{d}/log"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", format!("{d}/plugins"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("rabbitmq-server"),
    );
    wait_until("rabbitmq-server", 90, || {
        std::thread::sleep(Duration::from_millis(500));
        lab.server_port_open(5672)
    });
    let config = protocols_config(&dir, "HTTP, AMQP");
    let out = dir.join("live");
    let mut run = run_tapflow(&lab.capture, 60, Some(&config), &out);
    wait_capturing(&mut run, &out);
    let client = client_script("amqp_client.py");
    client_ok(lab.in_client(&["/usr/bin/python3", &client, lab.server_ip, "5672"]));
    stop_capture(&mut run);
    // The Erlang VM forks epmd and helpers in the server namespace: the lab's cleanup kills
    // every process there before removing it.

    let rows = l7_rows(&out);
    assert!(rows.iter().all(|r| r["l7_protocol"] == 102), "{rows:?}");
    let mut got: Vec<Row> = rows
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
            (
                s("request_type"),
                s("request_resource"),
                r["type"].as_u64().unwrap(),
                r["response_status"].as_u64().unwrap(),
                r["response_code"].as_i64(),
            )
        })
        .collect();
    got.sort();
    let mut want: Vec<Row> = [
        ("Connection.Start", "", 2, 0, None),
        ("Connection.Tune", "", 2, 0, None),
        ("Connection.Open", "", 2, 0, None),
        ("Channel.Open", "", 2, 0, None),
        ("Queue.Declare", "tapflow.q", 2, 0, None),
        ("Exchange.Declare", "tapflow.x", 2, 0, None),
        ("Queue.Bind", "tapflow.x.rk", 2, 0, None),
        ("Basic.Publish", "tapflow.x.rk", 0, 0, None),
        ("Basic.Get", "tapflow.q", 2, 0, None),
        ("Basic.Ack", "", 0, 0, None),
        ("Basic.Get", "tapflow.q", 2, 0, None),
        // The passive declare of a missing queue: answered by the broker's Channel.Close 404,
        // itself a row answered by the client's CloseOk.
        ("Queue.Declare", "missing", 2, 4, Some(404)),
        ("Channel.Close", "", 2, 4, Some(404)),
        ("Connection.Close", "", 2, 0, Some(200)),
    ]
    .iter()
    .map(|(a, b, c, d, e)| (a.to_string(), b.to_string(), *c, *d, *e))
    .collect();
    want.sort();
    assert_eq!(got, want);
    let missing = rows
        .iter()
        .find(|r| r["request_resource"] == "missing")
        .expect("missing");
    assert!(
        missing["response_exception"]
            .as_str()
            .is_some_and(|e| e.starts_with("NOT_FOUND")),
        "{missing}"
    );
    assert!(rows.iter().all(|r| r["request_domain"] == "/"
        || r["request_type"] == "Connection.Start"
        || r["request_type"] == "Connection.Tune"));
    let stats = stats(&out);
    assert_eq!(
        stats["l7.amqp.content_frames"], 4,
        "publish and get-ok: header + body each"
    );
    assert_eq!(stats["kernel_drops"], 0);
    let _ = std::fs::remove_dir_all(&dir);
}
