//! Every L7 parser through the whole analyzer (decode, flow table, reassembly, inference,
//! parsing, pairing, rows): the input is a conversation. Byte 0 picks the server port's protocol
//! hint (every protocol is enabled on every port, so inference runs on the bytes), byte 1 bit 0
//! picks UDP; then records of a u16 (bit 15: sent by the server; low 15 bits: length) and the
//! payload. Every row the conversation gives, written by the files' own JSON writers, must parse
//! as the JSON value serde's derive gives (hostile payloads reach the rows' text: the escaping).
#![no_main]

use std::net::{IpAddr, Ipv4Addr};

use libfuzzer_sys::fuzz_target;
use tapflow_analyzer::l7::protocol::ProtocolSet;
use tapflow_analyzer::l7::L7Protocol;
use tapflow_analyzer::wire::build::{self, TcpSpec};
use tapflow_analyzer::{Analyzer, AnalyzerConfig, Collected, PacketMeta, RecordRef, TextBuf};
use tapflow_control::sink::l4_json::write_l4;
use tapflow_control::sink::l7_json::write_l7;

const PORTS: [u16; 16] = [
    80, 443, 53, 3306, 5432, 6379, 27017, 11211, 9092, 1883, 4222, 5672, 20880, 50051, 8080, 9999,
];

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let port = PORTS[usize::from(data[0]) % PORTS.len()];
    let udp = data[1] & 1 == 1;
    let mut cfg = AnalyzerConfig::default();
    let mut all = ProtocolSet::default();
    for p in L7Protocol::ALL {
        all.insert(*p);
    }
    cfg.l7.enabled = all;
    cfg.l7.prefilters.clear();
    // Tables for one conversation: a fresh analyzer per input must not cost its default
    // 65 k-flow allocation.
    cfg.flow_capacity = 16;
    cfg.mirror.dedup.capacity = 16;
    cfg.l7.flow_capacity = 16;
    cfg.l7.hold_buffers = 4;
    cfg.l7.large_state_capacity = 2;
    cfg.l7.pending_capacity = 32;
    let mut an = Analyzer::new(cfg);
    let mut out = Collected::default();
    let (c, s) = (
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
    );
    let mut seq = [1000u32, 900_000u32];
    let mut ts = 1_700_000_000_000_000_000u64;
    let mut rest = &data[2..];
    let mut segments = 0;
    while rest.len() >= 2 && segments < 64 {
        let head = u16::from_be_bytes([rest[0], rest[1]]);
        let from_server = head & 0x8000 != 0;
        let len = usize::from(head & 0x7fff).min(rest.len() - 2);
        let payload = &rest[2..2 + len];
        rest = &rest[2 + len..];
        segments += 1;
        let (src, dst, sp, dp, d) = if from_server {
            (s, c, port, 40000, 1)
        } else {
            (c, s, 40000, port, 0)
        };
        let l4 = if udp {
            build::udp(src, dst, sp, dp, payload)
        } else {
            let spec = TcpSpec {
                src_port: sp,
                dst_port: dp,
                seq: seq[d],
                ack: seq[d ^ 1],
                flags: 0x18,
                window: 65535,
                ..TcpSpec::default()
            };
            seq[d] = seq[d].wrapping_add(len as u32);
            build::tcp(src, dst, &spec, payload)
        };
        let ip = build::ip(src, dst, if udp { 17 } else { 6 }, 0, 64, &l4);
        let frame = build::ethernet_ip([2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 1], &[], &ip);
        ts += 1_000_000;
        let meta = PacketMeta {
            ts_ns: ts,
            wire_len: frame.len() as u32,
            cap_len: frame.len() as u32,
            ..PacketMeta::default()
        };
        an.on_packet(&meta, &frame, &mut out);
    }
    an.finish(&mut out);
    let mut text = TextBuf::new();
    out.for_each(|r| {
        text.clear();
        let serde = match r {
            RecordRef::L4FlowLog(row) => {
                write_l4(row, &mut text);
                serde_json::to_value(row)
            }
            RecordRef::L7FlowLog(row) => {
                write_l7(row, &mut text);
                serde_json::to_value(row)
            }
            _ => return,
        };
        let ours: serde_json::Value =
            serde_json::from_slice(text.as_bytes()).expect("the writer's row is JSON");
        assert_eq!(ours, serde.expect("serde"), "the writer and serde differ");
    });
});
