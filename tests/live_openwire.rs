//! OpenWire request logs from a live capture: Debian's ActiveMQ 5.17 broker (with a user and
//! password) in one namespace, ActiveMQ's own `producer` and `consumer` commands (its Java
//! client) in another, the broker's port mirrored to the interface `tapflow run` captures
//! (`netns::SpanLab`). A producer with a wrong password is refused; a producer sends 3 messages
//! to queue ORDERS and a consumer takes them (tight encoding, ActiveMQ's default); a producer
//! sends 2 messages to queue LOOSE.Q in the loose encoding. tcpdump records the same traffic:
//! tshark's OpenWire dissector (loose encoding only) gives each command's type, id, response
//! flag, correlation id and destination, which the rows of that connection must repeat.
//! Needs root, ActiveMQ, tcpdump and tshark (scripts/test.sh installs them).

use std::process::{Command, Stdio};

mod live_support;
mod netns;
use live_support::Killed;
use live_support::{
    have, l7_rows, protocols_config, run_tapflow, stop_capture, wait_capturing, wait_until,
};
use netns::{is_root, SpanLab};

const HOME: &str = "/usr/share/activemq";
const PORT: u16 = 61616;

fn broker_xml(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("activemq.xml");
    std::fs::write(
        &path,
        format!(
            r#"<beans xmlns="http://www.springframework.org/schema/beans"
       xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
       xsi:schemaLocation="http://www.springframework.org/schema/beans http://www.springframework.org/schema/beans/spring-beans.xsd
                           http://activemq.apache.org/schema/core http://activemq.apache.org/schema/core/activemq-core.xsd">
  <broker xmlns="http://activemq.apache.org/schema/core" brokerName="tapflow-test"
          persistent="false" useJmx="false" dataDirectory="{data}">
    <plugins>
      <simpleAuthenticationPlugin>
        <users>
          <authenticationUser username="app" password="secret" groups="users"/>
        </users>
      </simpleAuthenticationPlugin>
    </plugins>
    <transportConnectors>
      <transportConnector name="openwire" uri="tcp://0.0.0.0:{PORT}"/>
    </transportConnectors>
  </broker>
</beans>
"#,
            data = dir.join("data").display()
        ),
    )
    .expect("activemq.xml");
    path
}

/// ActiveMQ's launcher with `args`, its base in `dir`.
fn activemq(lab_cmd: impl Fn(&[&str]) -> Command, dir: &std::path::Path, args: &[&str]) -> Command {
    let base = format!("-Dactivemq.base={}", dir.display());
    let conf = format!("-Dactivemq.conf={}", dir.display());
    let data = format!("-Dactivemq.data={}", dir.join("data").display());
    let jar = format!("{HOME}/bin/activemq.jar");
    let mut argv = vec![
        "java",
        "-Xmx256m",
        "-Dactivemq.home=/usr/share/activemq",
        &base,
        &conf,
        &data,
        "-jar",
        &jar,
    ];
    argv.extend_from_slice(args);
    let mut c = lab_cmd(&argv);
    c.stdout(Stdio::null()).stderr(Stdio::null());
    c
}

#[test]
fn a_refused_login_producers_in_both_encodings_and_a_consumer_are_logged() {
    if !is_root() || !have("java") || !have("tcpdump") || !have("tshark") {
        eprintln!("skipped: needs root, java, tcpdump and tshark (scripts/test.sh installs them)");
        return;
    }
    if !std::path::Path::new(HOME).join("bin/activemq.jar").exists() {
        eprintln!("skipped: needs ActiveMQ (scripts/test.sh installs it)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("tapflow-openwire-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("data")).expect("dir");
    let lab = SpanLab::new("ow");
    let xml = format!("xbean:file:{}", broker_xml(&dir).display());
    let _broker = Killed(
        activemq(|a| lab.in_server(a), &dir, &["start", &xml])
            .spawn()
            .expect("activemq"),
    );
    wait_until("activemq", 60, || lab.server_port_open(PORT));
    let pcap = dir.join("openwire.pcap");
    let dump = Killed(
        Command::new("tcpdump")
            .args(["-n", "-U", "--immediate-mode", "-i", &lab.capture, "-w"])
            .arg(&pcap)
            .arg(format!("tcp port {PORT}"))
            .stderr(Stdio::null())
            .spawn()
            .expect("tcpdump"),
    );
    let config = protocols_config(&dir, "HTTP, OpenWire");
    let out = dir.join("live");
    let mut run = run_tapflow(&lab.capture, 60, Some(&config), &out);
    wait_capturing(&mut run, &out);
    let url = format!("tcp://{}:{PORT}", lab.server_ip);
    let loose = format!("{url}?wireFormat.tightEncodingEnabled=false");
    let client = |args: &[&str]| {
        activemq(|a| lab.in_client(a), &dir, args)
            .status()
            .expect("activemq client")
    };
    // The refused login exits non-zero by design.
    let refused = client(&[
        "producer",
        "--brokerUrl",
        &url,
        "--user",
        "app",
        "--password",
        "wrong",
        "--destination",
        "queue://ORDERS",
        "--messageCount",
        "1",
    ]);
    assert!(!refused.success());
    let auth = ["--user", "app", "--password", "secret"];
    for args in [
        &[
            "producer",
            "--brokerUrl",
            &url,
            "--destination",
            "queue://ORDERS",
            "--messageCount",
            "3",
        ][..],
        &[
            "consumer",
            "--brokerUrl",
            &url,
            "--destination",
            "queue://ORDERS",
            "--messageCount",
            "3",
        ],
        &[
            "producer",
            "--brokerUrl",
            &loose,
            "--destination",
            "queue://LOOSE.Q",
            "--messageCount",
            "2",
        ],
    ] {
        let mut argv = args.to_vec();
        argv.extend_from_slice(&auth);
        assert!(client(&argv).success(), "{args:?}");
    }
    stop_capture(&mut run);
    drop(dump);

    let rows = l7_rows(&out);
    assert!(rows.iter().all(|r| r["l7_protocol"] == 103), "{rows:#?}");
    let kind = |r: &serde_json::Value| r["request_type"].as_str().unwrap_or("").to_string();
    let on = |port: &serde_json::Value| -> Vec<&serde_json::Value> {
        rows.iter().filter(|r| r["client_port"] == *port).collect()
    };
    // The refused login: ConnectionInfo answered by the broker's exception. Other errors are
    // the broker's too: while it waits 2 s to close the refused connection it answers any
    // command with the same exception, and a client that closes a consumer after its
    // connection (ActiveMQ's client races so, now and then) gets a ConnectionError.
    const REFUSED: &str = "User name [app] or password is invalid.";
    let errors: Vec<_> = rows.iter().filter(|r| r["response_status"] == 3).collect();
    let refusal: Vec<_> = errors
        .iter()
        .filter(|r| kind(r) == "ConnectionInfo")
        .collect();
    assert_eq!(refusal.len(), 1, "{}", table(&rows));
    assert_eq!(refusal[0]["response_exception"], REFUSED);
    assert!(
        errors.iter().all(|r| {
            let refused_again =
                r["client_port"] == refusal[0]["client_port"] && r["response_exception"] == REFUSED;
            let async_error = kind(r) == "ConnectionError"
                && r["response_exception"]
                    .as_str()
                    .is_some_and(|e| !e.is_empty());
            refused_again || async_error
        }),
        "{}",
        table(&rows)
    );
    // The tight producer's and the consumer's messages name the queue, cached or not.
    let sent: Vec<_> = rows
        .iter()
        .filter(|r| kind(r) == "ActiveMQTextMessage" && r["request_resource"] == "ORDERS")
        .collect();
    assert_eq!(sent.len(), 3, "{}", table(&rows));
    assert!(sent
        .iter()
        .all(|r| r["type"] == 2 && r["response_duration"].as_u64() > Some(0)));
    let dispatched = rows
        .iter()
        .filter(|r| kind(r) == "MessageDispatch" && r["request_resource"] == "ORDERS")
        .count();
    assert_eq!(dispatched, 3, "{}", table(&rows));
    let acks = rows.iter().filter(|r| kind(r) == "MessageAck").count();
    assert!(acks >= 1, "{}", table(&rows));
    assert!(
        rows.iter().all(|r| r["version"] == "12"),
        "{}",
        table(&rows)
    );
    assert!(
        rows.iter().any(|r| kind(r) == "BrokerInfo"
            && r["request_domain"]
                .as_str()
                .is_some_and(|d| d.starts_with("tcp://"))),
        "{}",
        table(&rows)
    );

    // The loose connection against tshark's dissection of the recorded file.
    let tshark = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(&pcap)
        .args([
            "-Y",
            "openwire.command.id",
            "-T",
            "fields",
            "-E",
            "occurrence=f",
            "-e",
            "tcp.srcport",
            "-e",
            "openwire.command",
            "-e",
            "openwire.command.id",
            "-e",
            "openwire.command.response_required",
            "-e",
            "openwire.response.correlationid",
            "-e",
            "openwire.destination.name",
        ])
        .output()
        .expect("tshark");
    let text = String::from_utf8_lossy(&tshark.stdout).to_string();
    let frames: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    assert!(!frames.is_empty(), "tshark dissected no loose command");
    // The loose connection's client port: the one tshark saw that is not the broker's.
    let port: u64 = frames
        .iter()
        .find(|f| f[0] != PORT.to_string())
        .and_then(|f| f[0].parse().ok())
        .expect("a loose client frame");
    let port_text = port.to_string();
    let port = serde_json::Value::from(port);
    let mine = on(&port);
    // Each client command's type, id and destination (tshark names types by number).
    let mut theirs: Vec<(u64, u64, String)> = frames
        .iter()
        .filter(|f| f[0] == port_text && f[1] != "1")
        .map(|f| {
            (
                f[1].parse().unwrap_or(0),
                f[2].parse().unwrap_or(u64::MAX),
                f.get(5).unwrap_or(&"").to_string(),
            )
        })
        .collect();
    let mut ours: Vec<(u64, u64, String)> = mine
        .iter()
        .filter(|r| r["request_length"].as_i64() > Some(0) && kind(r) != "WireFormatInfo")
        .map(|r| {
            (
                command_type(&kind(r)),
                r["request_id"].as_u64().unwrap_or(u64::MAX),
                r["request_resource"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    theirs.sort();
    ours.sort();
    // tshark names a destination only where the frame carries it (not a cache reference).
    let named = |v: &[(u64, u64, String)]| -> Vec<(u64, u64)> {
        v.iter().map(|(t, i, _)| (*t, *i)).collect()
    };
    assert_eq!(named(&ours), named(&theirs), "{text}");
    for (t, i, d) in &theirs {
        if !d.is_empty() {
            assert!(ours.contains(&(*t, *i, d.clone())), "{t} {i} {d}: {ours:?}");
        }
    }
    // Every correlation id the broker answered is a paired row.
    let answered: Vec<u64> = frames
        .iter()
        .filter(|f| f[0] == PORT.to_string() && f[1] == "30")
        .filter_map(|f| f.get(4)?.parse().ok())
        .collect();
    for id in answered {
        assert!(
            mine.iter()
                .any(|r| r["request_id"] == id && r["response_length"].as_i64() > Some(0)),
            "correlation id {id} not paired: {mine:#?}"
        );
    }
    lab.cleanup();
    let _ = std::fs::remove_dir_all(&dir);
}

/// OpenWire's number of a command type name.
fn command_type(name: &str) -> u64 {
    [
        (2, "BrokerInfo"),
        (3, "ConnectionInfo"),
        (4, "SessionInfo"),
        (5, "ConsumerInfo"),
        (6, "ProducerInfo"),
        (10, "KeepAliveInfo"),
        (11, "ShutdownInfo"),
        (12, "RemoveInfo"),
        (18, "ConnectionControl"),
        (21, "MessageDispatch"),
        (22, "MessageAck"),
        (28, "ActiveMQTextMessage"),
        (30, "Response"),
    ]
    .iter()
    .find(|(_, n)| *n == name)
    .map_or(0, |(t, _)| *t)
}

/// One line per row: client port, command, destination, request / response size, status,
/// exception.
fn table(rows: &[serde_json::Value]) -> String {
    rows.iter()
        .map(|r| {
            format!(
                "{} {} {} {}/{} {} {}\n",
                r["client_port"],
                r["request_type"],
                r["request_resource"],
                r["request_length"],
                r["response_length"],
                r["response_status"],
                r["response_exception"]
            )
        })
        .collect()
}
