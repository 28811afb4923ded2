//! MongoDB `l7_flow_log` rows of the full analyzer against tshark (`truth/l7_mongo.tsv`) and
//! DeepFlow's own result (`l7/mongo_df_msg.deepflow.result`) on the shared capture (skipped when
//! `../shared/pcaps` is absent): the request and reply tshark pairs (requestID, responseTo, RRT
//! within 1 ms), and the command document and reply printed exactly as DeepFlow prints them, with
//! DeepFlow's RRT (µs, exact).

use tapflow_analyzer::l7::L7Protocol;
use tapflow_analyzer::record::l7::TYPE_SESSION;
use tapflow_analyzer::AnalyzerConfig;

mod pcap_truth;
use pcap_truth::{analyze_capture, capture_path, pcaps, text, tsv};

const RRT_TOLERANCE_MS: f64 = 1.0;

/// MongoDB is off by default, as in DeepFlow.
fn mongo_on() -> AnalyzerConfig {
    let mut cfg = AnalyzerConfig::default();
    cfg.l7.enabled.insert(L7Protocol::Mongo);
    cfg
}

/// The quoted value after `key: "` in DeepFlow's debug line (Rust Debug escaping undone).
fn quoted(line: &str, key: &str) -> String {
    let at = line.find(&format!(" {key}: \"")).expect(key) + key.len() + 4;
    let mut out = String::new();
    let mut chars = line[at..].chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            '"' => break,
            c => out.push(c),
        }
    }
    out
}

fn number(line: &str, key: &str) -> u64 {
    let at = line.find(&format!(" {key}: ")).expect(key) + key.len() + 3;
    let digits: String = line[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().expect("a number")
}

#[test]
fn mongo_agrees_with_tshark_and_deepflow() {
    let Some(dir) = pcaps() else {
        eprintln!("../shared/pcaps absent: skipped");
        return;
    };
    let truth = tsv(&dir.join("truth/l7_mongo.tsv"));
    assert_eq!(truth.len(), 1);
    let t = &truth[0];
    let rows = analyze_capture(&capture_path(&dir, &t["file_id"]).unwrap(), mongo_on()).l7;
    assert_eq!(rows.len(), 1, "one command, paired");
    let r = &rows[0];
    assert_eq!((r.l7_protocol, r.l7_protocol_str), (81, "MongoDB"));
    assert_eq!(r.row_type, TYPE_SESSION);
    // "opcode=2013 id=0x00000028 to=0x00000000"
    let id = t["request"]
        .split(' ')
        .find_map(|f| f.strip_prefix("id=0x"))
        .map(|h| u32::from_str_radix(h, 16).unwrap());
    assert_eq!(r.request_id, id);
    let ms: f64 = t["latency_ms"].parse().unwrap();
    let rrt = r.response_duration as f64 / 1000.0;
    assert!((rrt - ms).abs() <= RRT_TOLERANCE_MS, "{rrt} vs {ms}");
    assert_eq!(r.response_status, 0);

    let result = std::fs::read_to_string(dir.join("l7/mongo_df_msg.deepflow.result")).unwrap();
    let lines: Vec<&str> = result
        .lines()
        .filter(|l| l.starts_with("MongoDBInfo"))
        .collect();
    let req = lines
        .iter()
        .find(|l| l.contains("msg_type: Request"))
        .unwrap();
    let resp = lines
        .iter()
        .find(|l| l.contains("msg_type: Response"))
        .unwrap();
    // DeepFlow's document text, cut where tapflow's fields end (256 and 128 bytes).
    let want_req = quoted(req, "request");
    assert!(want_req.len() > 256);
    assert_eq!(text(&r.request_resource), want_req[..256]);
    assert_eq!(text(&r.response_result), quoted(resp, "response")[..128]);
    assert_eq!(r.response_duration, number(resp, "rrt"), "rrt µs");
    assert_eq!(
        u64::from(r.captured_request_byte),
        number(req, "captured_request_byte")
    );
    assert_eq!(
        u64::from(r.captured_response_byte),
        number(resp, "captured_response_byte")
    );
    // What tapflow adds: the command, its database and collection.
    assert_eq!(
        (
            text(&r.request_type),
            text(&r.request_domain),
            text(&r.endpoint)
        ),
        ("find".into(), "sky-test".into(), "query".into())
    );
}

/// Request id, namespace and command of every mongo request tshark decodes in `path` (decoded as
/// MongoDB on 27017 and 30000, without TCP reassembly: the capture's handshakes are unanswered and cut).
fn tshark_requests(path: &std::path::Path) -> Option<Vec<(u32, String, String)>> {
    let out = std::process::Command::new("tshark")
        .args(["-n", "-o", "tcp.desegment_tcp_streams:FALSE", "-d"])
        .args(["tcp.port==27017,mongo", "-d", "tcp.port==30000,mongo", "-r"])
        .arg(path)
        .args([
            "-Y",
            "mongo.opcode",
            "-T",
            "fields",
            "-e",
            "mongo.request_id",
        ])
        .args([
            "-e",
            "mongo.full_collection_name",
            "-e",
            "mongo.element.name",
        ])
        .output()
        .ok()?;
    out.status.success().then(|| {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let mut f = l.split('\t');
                let id = f.next()?;
                let id = u32::from_str_radix(id.trim_start_matches("0x"), 16).ok()?;
                let ns = f.next()?.to_string();
                let command = f.next()?.split(',').next()?.to_string();
                Some((id, ns, command))
            })
            .collect()
    })
}

/// The nDPI capture: PyMongo's and the shell's OP_QUERY handshakes on 27017, and one on port
/// 30000 that tapflow finds without a port rule (the selection note calls the capture TLS; tshark
/// and tapflow both read plain MongoDB); no replies captured.
#[test]
fn legacy_queries_match_tshark() {
    let Some(dir) = pcaps() else {
        eprintln!("../shared/pcaps absent: skipped");
        return;
    };
    let path = capture_path(&dir, "mongo_ndpi").expect("capture");
    let Some(want) = tshark_requests(&path) else {
        eprintln!("tshark not installed: skipped");
        return;
    };
    assert_eq!(want.len(), 5);
    let rows = analyze_capture(&path, mongo_on()).l7;
    let got: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r.request_id.unwrap(),
                format!("{}.$cmd", text(&r.request_domain)),
                text(&r.request_type),
            )
        })
        .collect();
    assert_eq!(got, want);
    // Unanswered: timeouts at the end of the capture.
    assert!(rows
        .iter()
        .all(|r| r.l7_protocol == 81 && r.response_status == 2));
}
