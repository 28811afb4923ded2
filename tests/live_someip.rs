//! SOME/IP request logs from a live capture: someipy (a SOME/IP and SOME/IP-SD implementation
//! from PyPI, installed by the test command) as both the server and the client
//! (`tests/clients/someip_peer.py`), the server in one namespace, the client in another, the
//! server's link mirrored to the interface `tapflow run` captures (`netns::SpanLab`). The peers
//! find each other by service discovery over multicast. Over TCP the client calls a method three
//! times, a method the service lacks (E_UNKNOWN_METHOD) and one that answers ERROR / E_NOT_OK;
//! over UDP it calls a method twice and subscribes to an event group. The rows must be those
//! calls, paired, with their return codes, the events as notifications and the SD messages;
//! every one of them as tshark's SOME/IP dissector reads the same traffic, recorded by tcpdump.
//! Needs root, someipy, tcpdump and tshark (scripts/test.sh installs them).

use std::collections::BTreeSet;
use std::process::{Command, Stdio};

mod live_support;
mod netns;
use live_support::{
    client_script, have, l7_rows, protocols_config, run_tapflow, stats, stop_capture,
    wait_capturing, wait_until, Killed,
};
use netns::{is_root, SpanLab};

const TCP_SERVICE: u64 = 0x1234;
const UDP_SERVICE: u64 = 0x1235;

/// tshark's `fields` of the frames `filter` selects in `pcap` (not those quoted by ICMP errors),
/// with the SOME/IP ports decoded as SOME/IP; every occurrence of a field, `;`-separated.
fn tshark_fields(pcap: &std::path::Path, filter: &str, fields: &[&str]) -> String {
    let mut c = Command::new("tshark");
    c.args(["-n", "-r"]).arg(pcap);
    for port in ["tcp.port==30509", "udp.port==30510", "udp.port==30490"] {
        c.args(["-d", &format!("{port},someip")]);
    }
    c.args(["-Y", &format!("{filter} && !icmp"), "-T", "fields"]);
    c.args(["-E", "occurrence=a", "-E", "aggregator=;"]);
    for f in fields {
        c.args(["-e", f]);
    }
    let out = c.stderr(Stdio::null()).output().expect("tshark");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn hex(v: &str) -> u64 {
    u64::from_str_radix(v.trim_start_matches("0x"), 16).expect("hex")
}

/// (service, method, session, message type) of each SOME/IP message tshark reads in `pcap`.
fn tshark_messages(pcap: &std::path::Path) -> Vec<(u64, u64, u64, u64)> {
    let fields = [
        "someip.serviceid",
        "someip.methodid",
        "someip.sessionid",
        "someip.messagetype",
    ];
    let mut messages = Vec::new();
    for line in tshark_fields(pcap, "someip", &fields).lines() {
        let cols: Vec<Vec<&str>> = line.split('\t').map(|c| c.split(';').collect()).collect();
        // A frame may carry several messages: one value of each field per message.
        for (i, service) in cols[0].iter().enumerate() {
            messages.push((
                hex(service),
                hex(cols[1][i]),
                hex(cols[2][i]),
                hex(cols[3][i]),
            ));
        }
    }
    messages
}

/// What tshark's SOME/IP-SD dissector reads in one message: its entry types and its IPv4
/// endpoint options (`address:port/tcp|udp`, sorted).
type SdSeen = (Vec<u64>, Vec<String>);

/// Each SOME/IP-SD message tshark reads in `pcap`, by (sender, session id).
fn tshark_sd_entries(pcap: &std::path::Path) -> std::collections::HashMap<(String, u64), SdSeen> {
    let fields = [
        "ip.src",
        "someip.sessionid",
        "someipsd.entry.type",
        "someipsd.option.ipv4address",
        "someipsd.option.port",
        "someipsd.option.proto",
    ];
    let list = |c: Option<&&str>| -> Vec<String> {
        c.map_or(Vec::new(), |c| {
            c.split(';')
                .filter(|k| !k.is_empty())
                .map(str::to_string)
                .collect()
        })
    };
    tshark_fields(pcap, "someipsd", &fields)
        .lines()
        .filter_map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            let kinds = list(c.get(2)).iter().map(|k| hex(k)).collect();
            let (addrs, ports, protos) = (list(c.get(3)), list(c.get(4)), list(c.get(5)));
            let mut endpoints: Vec<String> = addrs
                .iter()
                .zip(&ports)
                .zip(&protos)
                .map(|((a, p), t)| {
                    let t = if t == "6" || t == "0x06" {
                        "tcp"
                    } else {
                        "udp"
                    };
                    format!("{a}:{p}/{t}")
                })
                .collect();
            endpoints.sort();
            endpoints.dedup();
            Some(((c[0].to_string(), hex(c.get(1)?)), (kinds, endpoints)))
        })
        .collect()
}

#[test]
fn calls_refusals_events_and_discovery_are_logged_as_tshark_reads_them() {
    if !is_root()
        || !live_support::python_has("someipy.service_discovery")
        || !have("tcpdump")
        || !have("tshark")
    {
        eprintln!(
            "skipped: needs root, someipy, tcpdump and tshark (scripts/test.sh installs them)"
        );
        return;
    }
    let dir = std::env::temp_dir().join(format!("tapflow-someip-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let lab = SpanLab::new("sp");
    lab.route_multicast();
    let script = client_script("someip_peer.py");
    let _server = Killed(
        lab.in_server(&["/usr/bin/python3", &script, "server", lab.server_ip])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("someip server"),
    );
    wait_until("someip server", 15, || lab.server_port_open(30509));
    let pcap = dir.join("someip.pcap");
    let dump = Killed(
        Command::new("tcpdump")
            .args(["-n", "-U", "--immediate-mode", "-i", &lab.capture, "-w"])
            .arg(&pcap)
            .arg("udp or tcp")
            .stderr(Stdio::null())
            .spawn()
            .expect("tcpdump"),
    );
    let config = protocols_config(&dir, "HTTP, SomeIP");
    let out = dir.join("live");
    let mut run = run_tapflow(&lab.capture, 60, Some(&config), &out);
    wait_capturing(&mut run, &out);
    let client = lab
        .in_client(&["/usr/bin/python3", &script, "client", lab.client_ip])
        .output()
        .expect("someip client");
    let printed = String::from_utf8_lossy(&client.stdout).to_string();
    assert!(
        client.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&client.stderr)
    );
    stop_capture(&mut run);
    // tcpdump writes each packet as it is captured (--immediate-mode: no block timeout to wait
    // out; -U: packet by packet).
    std::thread::sleep(std::time::Duration::from_millis(300));
    drop(dump);

    let rows = l7_rows(&out);
    assert!(rows.iter().all(|r| r["l7_protocol"] == 47), "{rows:#?}");
    let num = |r: &serde_json::Value, k: &str| -> u64 {
        r[k].as_str()
            .and_then(|v| v.parse().ok())
            .unwrap_or(u64::MAX)
    };
    // The calls the client printed, as the rows have them.
    let mut calls: Vec<(u64, u64, u64, u64)> = Vec::new();
    for line in printed.lines().filter(|l| l.contains("\"method\"")) {
        let c: serde_json::Value = serde_json::from_str(line).expect("json");
        let service = if c["transport"] == "tcp" {
            TCP_SERVICE
        } else {
            UDP_SERVICE
        };
        calls.push((
            service,
            c["method"].as_u64().unwrap(),
            c["session"].as_u64().unwrap(),
            c["return_code"].as_u64().unwrap(),
        ));
    }
    assert_eq!(calls.len(), 7, "{printed}");
    let mut paired: Vec<(u64, u64, u64, u64)> = rows
        .iter()
        .filter(|r| r["request_type"] == "REQUEST")
        .map(|r| {
            assert_eq!(r["type"], 2, "{r}");
            assert_eq!(r["ip_0"], lab.client_ip, "{r}");
            assert!(r["response_duration"].as_u64() > Some(0), "{r}");
            (
                num(r, "request_resource"),
                num(r, "endpoint"),
                r["request_id"].as_u64().unwrap(),
                r["response_code"].as_u64().unwrap(),
            )
        })
        .collect();
    paired.sort();
    calls.sort();
    assert_eq!(paired, calls, "{rows:#?}");
    let by_method = |m: u64| rows.iter().find(|r| num(r, "endpoint") == m).expect("row");
    let unknown = by_method(0x0999);
    assert_eq!(
        (&unknown["response_status"], &unknown["response_exception"]),
        (&4.into(), &"E_UNKNOWN_METHOD".into())
    );
    let refused = by_method(0x0422);
    assert_eq!(
        (&refused["response_status"], &refused["response_exception"]),
        (&3.into(), &"E_NOT_OK".into())
    );
    assert_eq!(by_method(0x0001)["version"], "1.1");
    // The events the client received, on the server's side of their flow.
    let events: Vec<&serde_json::Value> = rows
        .iter()
        .filter(|r| {
            r["request_type"] == "NOTIFICATION" && num(r, "request_resource") == UDP_SERVICE
        })
        .collect();
    assert!(events.len() >= 2, "{rows:#?}");
    for e in &events {
        assert_eq!(num(e, "endpoint"), 0x8001, "{e}");
        assert_eq!(e["ip_1"], lab.server_ip, "{e}");
        assert!(e["captured_response_byte"].as_u64() > Some(0), "{e}");
    }
    // Service discovery: rows of their own, as many as counted.
    let sd: Vec<&serde_json::Value> = rows
        .iter()
        .filter(|r| num(r, "request_resource") == 0xffff)
        .collect();
    assert!(!sd.is_empty(), "{rows:#?}");
    assert!(sd.iter().all(|r| num(r, "endpoint") == 0x8100));
    assert_eq!(
        stats(&out)["l7.someip.sd_messages"].as_u64(),
        Some(sd.len() as u64)
    );
    // Their entries: the offers, the client's subscription and its acknowledgement.
    let entries = |r: &serde_json::Value| {
        r["attributes"]["sd_entries"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    // The offers name the server's endpoints; the subscription the client's.
    let offer_tcp = format!("OfferService 0x1234:0x5678 v1 @{}:30509/tcp", lab.server_ip);
    let subscribe = format!(
        "SubscribeEventgroup 0x1235:0x5678 v1 eg 0x0321 @{}:",
        lab.client_ip
    );
    for want in [
        offer_tcp.as_str(),
        subscribe.as_str(),
        "SubscribeEventgroupAck 0x1235:0x5678 v1 eg 0x0321",
    ] {
        assert!(
            sd.iter().any(|r| entries(r).contains(want)),
            "{want}: {sd:#?}"
        );
    }
    // Each SD row's entry kinds and endpoints are those tshark's SOME/IP-SD dissector reads in
    // that message.
    let sd_seen = tshark_sd_entries(&pcap);
    for r in &sd {
        let sender = if r["captured_request_byte"].as_u64() > Some(0) {
            &r["ip_0"]
        } else {
            &r["ip_1"]
        };
        let key = (
            sender.as_str().unwrap_or("").to_string(),
            r["request_id"].as_u64().unwrap_or(0),
        );
        let kinds: Vec<u64> = entries(r)
            .split("; ")
            .map(|e| match e.split(' ').next().unwrap_or("") {
                "FindService" => 0,
                "OfferService" | "StopOfferService" => 1,
                "SubscribeEventgroup" | "StopSubscribeEventgroup" => 6,
                _ => 7,
            })
            .collect();
        // The endpoints the entries name (after `@`) are the message's endpoint options.
        let mut endpoints: Vec<String> = entries(r)
            .split("; ")
            .filter_map(|e| e.split_once(" @"))
            .flat_map(|(_, eps)| eps.split(','))
            .map(str::to_string)
            .collect();
        endpoints.sort();
        endpoints.dedup();
        assert_eq!(
            sd_seen.get(&key),
            Some(&(kinds, endpoints)),
            "{key:?}: {r:#}"
        );
    }

    // Against tshark: every call and answer it reads is a row; every row is a message it reads.
    let seen = tshark_messages(&pcap);
    let tshark_calls: BTreeSet<(u64, u64, u64)> = seen
        .iter()
        .filter(|m| m.3 == 0x00)
        .map(|m| (m.0, m.1, m.2))
        .collect();
    let row_calls: BTreeSet<(u64, u64, u64)> = paired.iter().map(|c| (c.0, c.1, c.2)).collect();
    assert_eq!(tshark_calls, row_calls, "{seen:?}");
    let answers = seen.iter().filter(|m| m.3 == 0x80 || m.3 == 0x81).count();
    assert_eq!(answers, paired.len(), "{seen:?}");
    let notified: BTreeSet<(u64, u64, u64)> = seen
        .iter()
        .filter(|m| m.3 == 0x02)
        .map(|m| (m.0, m.1, m.2))
        .collect();
    for r in events.iter().chain(&sd) {
        let m = (
            num(r, "request_resource"),
            num(r, "endpoint"),
            r["request_id"].as_u64().unwrap(),
        );
        assert!(notified.contains(&m), "{m:?} not in {seen:?}");
    }
    lab.cleanup();
    let _ = std::fs::remove_dir_all(&dir);
}
