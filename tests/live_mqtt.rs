//! MQTT against a real broker (Debian's Mosquitto) and its own clients (`mosquitto_pub`,
//! `mosquitto_sub`), captured live from a SPAN port (`netns::SpanLab`): a subscriber on `lab/#`
//! (QoS 2), publishers at QoS 0, 1 (MQTT 3.1.1) and 2 (MQTT 5), and two logins refused for a
//! wrong password (3.1.1 and 5). The rows must be that workload, connection by connection, with
//! the broker's deliveries to the subscriber as rows of their own. Needs root and mosquitto
//! (scripts/test.sh installs them).

use std::process::Stdio;
use std::time::Duration;

mod live_support;
mod netns;
use live_support::{
    have, l7_rows, protocols_config, run_tapflow, stats, stop_capture, wait_capturing, wait_until,
    Killed,
};
use netns::{is_root, SpanLab};

type Row = (String, String, String, u64, u64, Option<i64>, String);

#[test]
fn mosquitto_workload_is_logged() {
    if !is_root() || !have("/usr/sbin/mosquitto") || !have("mosquitto_pub") {
        eprintln!(
            "skipped: needs root, mosquitto and mosquitto-clients (scripts/test.sh installs them)"
        );
        return;
    }
    let dir = std::env::temp_dir().join(format!("tapflow-mqtt-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let lab = SpanLab::new("mq");
    let passwd = dir.join("passwd");
    std::fs::write(&passwd, "").unwrap();
    let st = std::process::Command::new("mosquitto_passwd")
        .args(["-b", passwd.to_str().unwrap(), "alice", "secret"])
        .status()
        .expect("mosquitto_passwd");
    assert!(st.success());
    let conf = dir.join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!(
            "user root\npersistence false\nlistener 1883 {}\nallow_anonymous true\npassword_file {}\n",
            lab.server_ip,
            passwd.display()
        ),
    )
    .unwrap();
    let _broker = Killed(
        lab.in_server(&["/usr/sbin/mosquitto", "-c", conf.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto"),
    );
    let ip = lab.server_ip;
    let pub_cmd = |extra: &[&str]| {
        let mut c = lab.in_client(&["mosquitto_pub", "-h", ip, "-m", "hello"]);
        c.args(extra).stdout(Stdio::null()).stderr(Stdio::null());
        c
    };
    wait_until("mosquitto", 10, || {
        pub_cmd(&["-i", "probe", "-t", "probe", "-q", "0"])
            .status()
            .is_ok_and(|s| s.success())
    });
    let config = protocols_config(&dir, "HTTP, MQTT");
    let out = dir.join("live");
    let mut run = run_tapflow(&lab.capture, 60, Some(&config), &out);
    wait_capturing(&mut run, &out);
    let sub = lab
        .in_client(&["mosquitto_sub", "-h", ip, "-V", "mqttv311", "-i", "sub-311"])
        .args(["-t", "lab/#", "-q", "2", "-C", "3", "-W", "10"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("mosquitto_sub");
    std::thread::sleep(Duration::from_millis(500));
    for (id, qos, v) in [
        ("pub-q0", "0", "mqttv311"),
        ("pub-q1", "1", "mqttv311"),
        ("pub-q2", "2", "mqttv5"),
    ] {
        let topic = format!("lab/q{qos}");
        assert!(pub_cmd(&["-V", v, "-i", id, "-t", &topic, "-q", qos])
            .status()
            .unwrap()
            .success());
        std::thread::sleep(Duration::from_millis(100));
    }
    let got = sub.wait_with_output().expect("sub");
    assert_eq!(
        String::from_utf8_lossy(&got.stdout),
        "hello\nhello\nhello\n"
    );
    for (id, v) in [("bad-311", "mqttv311"), ("bad-5", "mqttv5")] {
        let st = pub_cmd(&[
            "-V", v, "-i", id, "-u", "alice", "-P", "wrong", "-t", "lab/x",
        ])
        .status()
        .unwrap();
        assert!(
            !st.success(),
            "{id}: the broker must refuse a wrong password"
        );
    }
    stop_capture(&mut run);

    let rows = l7_rows(&out);
    assert!(rows.iter().all(|r| r["l7_protocol"] == 101), "{rows:?}");
    let mut got: Vec<Row> = rows
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
            (
                s("request_domain"),
                s("request_type"),
                s("request_resource"),
                r["type"].as_u64().unwrap(),
                r["response_status"].as_u64().unwrap(),
                r["response_code"].as_i64(),
                s("version"),
            )
        })
        .collect();
    got.sort();
    let mut want: Vec<Row> = [
        ("bad-311", "CONNECT", "", 2, 4, Some(5), "4"),
        // Mosquitto answers a wrong password with 0x87 (Not authorized) in MQTT 5.
        ("bad-5", "CONNECT", "", 2, 4, Some(0x87), "5"),
        ("pub-q0", "CONNECT", "", 2, 0, Some(0), "4"),
        ("pub-q0", "DISCONNECT", "", 0, 0, None, "4"),
        ("pub-q0", "PUBLISH", "lab/q0", 0, 0, None, "4"),
        ("pub-q1", "CONNECT", "", 2, 0, Some(0), "4"),
        ("pub-q1", "DISCONNECT", "", 0, 0, None, "4"),
        ("pub-q1", "PUBLISH", "lab/q1", 2, 0, None, "4"),
        ("pub-q2", "CONNECT", "", 2, 0, Some(0), "5"),
        ("pub-q2", "DISCONNECT", "", 0, 0, None, "5"),
        ("pub-q2", "PUBLISH", "lab/q2", 2, 0, None, "5"),
        ("sub-311", "CONNECT", "", 2, 0, Some(0), "4"),
        ("sub-311", "DISCONNECT", "", 0, 0, None, "4"),
        // The broker's deliveries: QoS 0 as it came, QoS 1 acknowledged, QoS 2 completed.
        ("sub-311", "PUBLISH", "lab/q0", 0, 0, None, "4"),
        ("sub-311", "PUBLISH", "lab/q1", 2, 0, None, "4"),
        ("sub-311", "PUBLISH", "lab/q2", 2, 0, None, "4"),
        ("sub-311", "SUBSCRIBE", "lab/#", 2, 0, None, "4"),
    ]
    .iter()
    .map(|(a, b, c, d, e, f, g)| {
        (
            a.to_string(),
            b.to_string(),
            c.to_string(),
            *d,
            *e,
            *f,
            g.to_string(),
        )
    })
    .collect();
    want.sort();
    assert_eq!(got, want);
    let stats = stats(&out);
    // PUBREC + PUBREL of the two QoS 2 exchanges.
    assert_eq!(stats["l7.mqtt.qos2_steps"], 4);
    assert_eq!(stats["kernel_drops"], 0);
    let _ = std::fs::remove_dir_all(&dir);
}
