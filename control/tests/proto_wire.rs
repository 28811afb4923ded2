//! Our `control/proto/agent.proto` against DeepFlow's field tables (`../shared/deepflow-wire.md`,
//! skipped when absent): every message's fields have DeepFlow's numbers, names, types, labels and
//! defaults. And our generated code round-trips SyncRequest / SyncResponse bytes exactly.

use std::collections::BTreeMap;
use std::path::Path;

use prost::Message;
use tapflow_control::rpc::agent::{
    CaptureNetworkType, DynamicConfig, Segment, State, SyncRequest, SyncResponse,
};

type Fields = BTreeMap<String, BTreeMap<u32, (String, String, String, String)>>;

/// message -> number -> (name, type, label, default) from `| # | field | type | label | default |`
/// tables under `### message X` headings.
fn wire_tables(text: &str) -> Fields {
    package_tables(text, "## message/agent.proto", "## message/flow_log.proto")
}

/// The tables between the `from` heading and the `to` heading.
fn package_tables(text: &str, from: &str, to: &str) -> Fields {
    let mut out = Fields::new();
    let section = text.split(from).nth(1).unwrap_or_default();
    let section = section.split(to).next().unwrap_or_default();
    let mut current: Option<String> = None;
    for line in section.lines() {
        if let Some(name) = line.strip_prefix("### message ") {
            current = Some(name.trim().to_string());
            continue;
        }
        if line.starts_with("### ") {
            current = None;
        }
        let Some(msg) = &current else { continue };
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() >= 6 {
            if let Ok(n) = cells[1].parse::<u32>() {
                out.entry(msg.clone()).or_default().insert(
                    n,
                    (
                        cells[2].to_string(),
                        cells[3].to_string(),
                        cells[4].to_string(),
                        cells[5].to_string(),
                    ),
                );
            }
        }
    }
    out
}

/// The same from our .proto (`label type name = N [default = D];` inside `message X { }`).
fn proto_fields(text: &str) -> Fields {
    let mut out = Fields::new();
    let mut current: Option<String> = None;
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("message ") {
            current = Some(rest.trim_end_matches(" {").trim().to_string());
            continue;
        }
        if line == "}" {
            current = None;
            continue;
        }
        let Some(msg) = &current else { continue };
        let (decl, default) = match line.split_once(" [default = ") {
            Some((d, rest)) => (d, rest.trim_end_matches("];").to_string()),
            None => (line.trim_end_matches(';'), String::new()),
        };
        let parts: Vec<&str> = decl.split_whitespace().collect();
        // proto2 fields have a label; proto3 singular fields have none.
        let (label, ty, name, num) = match parts[..] {
            [label, ty, name, "=", num] => (label, ty, name, num),
            [ty, name, "=", num] if !matches!(ty, "option" | "reserved") => (ty, name, num, ""),
            _ => continue,
        };
        let (label, ty, name, num) = if num.is_empty() {
            ("", label, ty, name)
        } else {
            (label, ty, name, num)
        };
        let n: u32 = num.trim_end_matches(';').parse().expect("field number");
        out.entry(msg.clone())
            .or_default()
            .insert(n, (name.into(), ty.into(), label.into(), default));
    }
    out
}

#[test]
fn field_numbers_types_and_labels_match_deepflow() {
    let wire = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/deepflow-wire.md");
    let Ok(text) = std::fs::read_to_string(&wire) else {
        eprintln!("../shared/deepflow-wire.md absent: skipped");
        return;
    };
    let want = wire_tables(&text);
    let ours = proto_fields(include_str!("../proto/agent.proto"));
    assert!(want.len() >= 14, "tables parsed: {}", want.len());
    for (msg, fields) in &want {
        let got = ours
            .get(msg)
            .unwrap_or_else(|| panic!("message {msg} missing from agent.proto"));
        assert_eq!(got, fields, "message {msg}");
    }
}

#[test]
fn flow_log_and_metric_protos_match_deepflow() {
    let wire = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/deepflow-wire.md");
    let Ok(text) = std::fs::read_to_string(&wire) else {
        eprintln!("../shared/deepflow-wire.md absent: skipped");
        return;
    };
    for (from, to, ours, min) in [
        (
            "## message/flow_log.proto",
            "## message/metric.proto",
            include_str!("../proto/flow_log.proto"),
            17,
        ),
        (
            "## message/metric.proto",
            "### enum ProfileEventType",
            include_str!("../proto/metric.proto"),
            15,
        ),
    ] {
        let want = package_tables(&text, from, to);
        let ours = proto_fields(ours);
        assert!(want.len() >= min, "{from}: tables parsed: {}", want.len());
        for (msg, fields) in &want {
            let got = ours
                .get(msg)
                .unwrap_or_else(|| panic!("message {msg} missing ({from})"));
            assert_eq!(got, fields, "message {msg}");
        }
    }
}

fn request() -> SyncRequest {
    SyncRequest {
        boot_time: Some(1_700_000_000),
        config_accepted: Some(false),
        state: Some(State::Running as i32),
        revision: Some("tapflow 0.1.0".into()),
        exception: Some(256 | 32768),
        process_name: Some("tapflow".into()),
        ctrl_ip: Some("10.0.0.7".into()),
        host: Some("node-7".into()),
        host_ips: vec!["10.0.0.7".into(), "192.168.1.7".into()],
        ctrl_mac: Some("02:00:00:00:00:07".into()),
        agent_group_id_request: Some("g-7c1a2b3c4d".into()),
        cpu_num: Some(2),
        memory_size: Some(24 << 30),
        arch: Some("x86_64".into()),
        os: Some("linux".into()),
        kernel_version: Some("6.1.0".into()),
        ..SyncRequest::default()
    }
}

#[test]
fn sync_messages_round_trip_byte_for_byte() {
    let req = request();
    let bytes = req.encode_to_vec();
    let back = SyncRequest::decode(bytes.as_slice()).expect("decode");
    assert_eq!(back, req);
    assert_eq!(back.encode_to_vec(), bytes);
    // proto2 defaults of absent fields.
    let empty = SyncRequest::decode(&[][..]).unwrap();
    assert!(empty.config_accepted());
    assert_eq!(
        empty.packet_capture_type(),
        tapflow_control::rpc::agent::PacketCaptureType::Local
    );

    let resp = SyncResponse {
        status: Some(0),
        user_config: Some("vtap_group_id: g-7c1a2b3c4d\ntap_mode: 1\n".into()),
        local_segments: vec![Segment {
            id: Some(1),
            mac: vec!["02:00:00:00:00:01".into()],
            interface_id: vec![3],
            vmac: vec![],
        }],
        capture_network_types: vec![CaptureNetworkType {
            capture_network_type: Some(4),
            vlan: Some(100),
            ..CaptureNetworkType::default()
        }],
        dynamic_config: Some(DynamicConfig {
            enabled: Some(true),
            agent_id: Some(42),
            group_id: Some("g-7c1a2b3c4d".into()),
            hostname: Some("node-7".into()),
            ..DynamicConfig::default()
        }),
        ..SyncResponse::default()
    };
    let bytes = resp.encode_to_vec();
    let back = SyncResponse::decode(bytes.as_slice()).expect("decode");
    assert_eq!(back, resp);
    assert_eq!(back.encode_to_vec(), bytes);
    // Field 2 (user_config) is a length-delimited field with tag 0x12 right after status (0x08 0x00).
    assert_eq!(&bytes[..3], &[0x08, 0x00, 0x12]);
}
