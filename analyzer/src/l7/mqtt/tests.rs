//! MQTT through the whole analyzer: 3.1.1 and 5.0 exchanges, both directions of PUBLISH, errors,
//! packets split and batched, gaps, hostile bytes.

use super::session::MqttSession;
use super::wire::{connect, FixedHeader, Head};
use crate::l7::parser::{L7Parser, Transport};
use crate::l7::talk::{hostile_talks, s, same_rows_at_every_cut, Talk};
use crate::l7::{L7Protocol, ParserKind, Probe};
use crate::record::l7::{TYPE_REQUEST, TYPE_SESSION};
use crate::AnalyzerConfig;

fn talk() -> Talk {
    let mut cfg = AnalyzerConfig::default();
    cfg.l7.enabled.insert(L7Protocol::Mqtt);
    Talk::with(cfg, 1883)
}

/// A packet: first byte, then the remaining length and `body`.
fn pkt(first: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![first];
    let mut n = body.len();
    loop {
        let mut c = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            c |= 0x80;
        }
        v.push(c);
        if n == 0 {
            break;
        }
    }
    v.extend_from_slice(body);
    v
}

fn string(s: &[u8]) -> Vec<u8> {
    let mut v = (s.len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(s);
    v
}

fn connect_pkt(level: u8, client: &str) -> Vec<u8> {
    let mut b = string(if level == 3 { b"MQIsdp" } else { b"MQTT" });
    b.extend([level, 0x02, 0, 60]);
    if level == 5 {
        b.push(0); // no properties
    }
    b.extend(string(client.as_bytes()));
    pkt(0x10, &b)
}

fn publish(qos: u8, topic: &str, id: u16, v5: bool, payload: &[u8]) -> Vec<u8> {
    let mut b = string(topic.as_bytes());
    if qos > 0 {
        b.extend(id.to_be_bytes());
    }
    if v5 {
        b.push(0);
    }
    b.extend_from_slice(payload);
    pkt(0x30 | (qos << 1), &b)
}

fn rows(out: &crate::record::Collected) -> Vec<(String, String, u8, u8, Option<i32>)> {
    out.l7
        .iter()
        .map(|r| {
            (
                s(&r.request_type).to_string(),
                s(&r.request_resource).to_string(),
                r.row_type,
                r.response_status,
                r.response_code,
            )
        })
        .collect()
}

fn row(
    t: &str,
    res: &str,
    ty: u8,
    st: u8,
    code: Option<i32>,
) -> (String, String, u8, u8, Option<i32>) {
    (t.into(), res.into(), ty, st, code)
}

#[test]
fn decoders_and_probe() {
    let c = connect_pkt(4, "dev-1");
    let Head::Ok(h) = FixedHeader::read(&c) else {
        panic!()
    };
    assert_eq!(
        (h.kind, h.remaining as usize, h.header_len),
        (1, c.len() - 2, 2)
    );
    let got = connect(&c[2..]).unwrap();
    assert_eq!((got.level, got.client_id), (4, &b"dev-1"[..]));
    assert_eq!(MqttSession::probe(&c, Transport::Tcp), Probe::Certain);
    assert_eq!(MqttSession::probe(&c[..1], Transport::Tcp), Probe::Unsure);
    assert_eq!(
        MqttSession::probe(&connect_pkt(3, "x"), Transport::Tcp),
        Probe::Certain
    );
    // Mid-connection: whole packets with a printable topic.
    assert_eq!(
        MqttSession::probe(&publish(1, "a/b", 7, false, b"hi"), Transport::Tcp),
        Probe::Certain
    );
    for p in [
        &b"GET / HTTP/1.1\r\n"[..],
        b"\xc0\x00",
        b"\x20\x02\x00\x00",
        b"0 foo bar",
        b"*1\r\n$4\r\nPING\r\n",
        b"\x16\x03\x01\x00\x05hello",
    ] {
        assert_eq!(
            MqttSession::probe(p, Transport::Tcp),
            Probe::NotForUs,
            "{p:?}"
        );
    }
    // Remaining length: 4 bytes at most, minimal.
    assert_eq!(
        FixedHeader::read(b"\x30\xff\xff\xff\xff\x01"),
        Head::Invalid
    );
    assert_eq!(FixedHeader::read(b"\x30\x80\x00"), Head::Invalid);
    assert_eq!(FixedHeader::read(b"\x30\xff"), Head::Short);
    assert_eq!(
        FixedHeader::read(b"\x62\x02"),
        Head::Ok(FixedHeader {
            kind: 6,
            flags: 2,
            remaining: 2,
            header_len: 2
        })
    );
    assert_eq!(FixedHeader::read(b"\x60\x02"), Head::Invalid);
}

#[test]
fn v311_exchanges_and_both_publish_directions() {
    let mut t = talk();
    t.tcp(0.0, true, &connect_pkt(4, "sensor-7"));
    t.tcp(1.0, false, &pkt(0x20, &[0, 0]));
    let mut sub = 1u16.to_be_bytes().to_vec();
    sub.extend(string(b"a/+"));
    sub.push(1);
    sub.extend(string(b"b/#"));
    sub.push(2);
    t.tcp(2.0, true, &pkt(0x82, &sub));
    t.tcp(3.0, false, &pkt(0x90, &[0, 1, 1, 0x80]));
    // QoS 1 from the client, QoS 2 from the client, QoS 1 from the broker (to the subscriber).
    t.tcp(4.0, true, &publish(1, "a/x", 2, false, b"p1"));
    t.tcp(5.0, false, &pkt(0x40, &[0, 2]));
    t.tcp(6.0, true, &publish(2, "a/y", 3, false, b"p2"));
    t.tcp(7.0, false, &pkt(0x50, &[0, 3]));
    t.tcp(8.0, true, &pkt(0x62, &[0, 3]));
    t.tcp(9.5, false, &pkt(0x70, &[0, 3]));
    t.tcp(10.0, false, &publish(1, "b/z", 2, false, b"to-sub"));
    t.tcp(10.5, true, &pkt(0x40, &[0, 2]));
    t.tcp(11.0, true, &publish(0, "a/q0", 0, false, b"fire"));
    t.tcp(12.0, true, &[0xc0, 0]);
    t.tcp(12.2, false, &[0xd0, 0]);
    t.tcp(13.0, true, &[0xe0, 0]);
    assert_eq!(t.an.counters().l7.protocol_counter(ParserKind::Mqtt, 0), 2);
    let out = t.finish();
    assert_eq!(
        rows(&out),
        [
            row("CONNECT", "", TYPE_SESSION, 0, Some(0)),
            row("SUBSCRIBE", "a/+,b/#", TYPE_SESSION, 4, Some(0x80)),
            row("PUBLISH", "a/x", TYPE_SESSION, 0, None),
            row("PUBLISH", "a/y", TYPE_SESSION, 0, None),
            row("PUBLISH", "b/z", TYPE_SESSION, 0, None),
            row("PUBLISH", "a/q0", TYPE_REQUEST, 0, None),
            row("PINGREQ", "", TYPE_SESSION, 0, None),
            row("DISCONNECT", "", TYPE_REQUEST, 0, None),
        ]
    );
    let l = &out.l7;
    assert!(l
        .iter()
        .all(|r| s(&r.request_domain) == "sensor-7" && s(&r.version) == "4"));
    assert_eq!(l[1].endpoint.as_bytes(), b"a/+");
    // QoS 2: the row lasts PUBLISH -> PUBCOMP.
    assert_eq!(l[3].response_duration, 3_500);
    assert_eq!(l[4].response_duration, 500);
}

#[test]
fn v5_reason_codes() {
    let mut t = talk();
    t.tcp(0.0, true, &connect_pkt(5, "c5"));
    t.tcp(1.0, false, &pkt(0x20, &[0, 0x86, 0]));
    t.tcp(2.0, true, &connect_pkt(5, "c5"));
    t.tcp(3.0, false, &pkt(0x20, &[0, 0x89, 0]));
    t.tcp(4.0, true, &publish(1, "t", 9, true, b"x"));
    t.tcp(5.0, false, &pkt(0x40, &[0, 9, 0x10, 0])); // no matching subscribers: success
    t.tcp(6.0, true, &publish(2, "t", 10, true, b"x"));
    t.tcp(7.0, false, &pkt(0x50, &[0, 10, 0x97, 0])); // quota exceeded ends the QoS 2 row
    t.tcp(8.0, true, &pkt(0xe0, &[0x04])); // disconnect with will message: not an error
    let out = t.finish();
    assert_eq!(
        rows(&out),
        [
            row("CONNECT", "", TYPE_SESSION, 4, Some(0x86)),
            row("CONNECT", "", TYPE_SESSION, 3, Some(0x89)),
            row("PUBLISH", "t", TYPE_SESSION, 0, Some(0x10)),
            row("PUBLISH", "t", TYPE_SESSION, 3, Some(0x97)),
            row("DISCONNECT", "", TYPE_REQUEST, 0, None),
        ]
    );
    assert_eq!(
        s(&out.l7[0].response_exception),
        "Bad User Name or Password"
    );
    assert_eq!(s(&out.l7[0].version), "5");
}

#[test]
fn v3_connack_classes() {
    for (code, status) in [(1u8, 4u8), (2, 4), (3, 3), (4, 4), (5, 4)] {
        let mut t = talk();
        t.tcp(0.0, true, &connect_pkt(4, "x"));
        t.tcp(1.0, false, &pkt(0x20, &[0, code]));
        let out = t.finish();
        assert_eq!(out.l7[0].response_status, status, "code {code}");
    }
}

#[test]
fn split_batched_large_and_gap() {
    let mut t = talk();
    let c = connect_pkt(4, "cli");
    t.tcp(0.0, true, &c[..3]);
    t.tcp(0.1, true, &c[3..]);
    // CONNACK + a broker publish in one segment.
    let mut two = pkt(0x20, &[0, 0]);
    two.extend(publish(0, "news", 0, false, b"hello"));
    t.tcp(1.0, false, &two);
    // A 300 kB publish over many segments, then a ping.
    let big = publish(1, "big", 5, false, &vec![7u8; 300_000]);
    for (i, chunk) in big.chunks(1400).enumerate() {
        t.tcp(2.0 + i as f64 * 0.001, true, chunk);
    }
    t.tcp(3.0, false, &pkt(0x40, &[0, 5]));
    // A lost segment inside a publish: the next whole packet is read again.
    let p = publish(1, "lost", 6, false, &[1u8; 3000]);
    t.tcp(4.0, true, &p[..1400]);
    t.skip(true, 1400);
    t.tcp(4.2, true, &p[2800..]);
    t.tcp(5.0, true, &[0xc0, 0]);
    t.tcp(5.1, false, &[0xd0, 0]);
    let out = t.finish();
    let got: Vec<_> = rows(&out).into_iter().map(|r| (r.0, r.1, r.2)).collect();
    assert_eq!(
        got,
        [
            ("CONNECT".into(), "".into(), TYPE_SESSION),
            ("PUBLISH".into(), "news".into(), TYPE_REQUEST),
            ("PUBLISH".into(), "big".into(), TYPE_SESSION),
            ("PINGREQ".into(), "".into(), TYPE_SESSION),
            // Its PUBACK never came: written unanswered when the flow ends.
            ("PUBLISH".into(), "lost".into(), TYPE_REQUEST),
        ]
    );
    assert_eq!(out.l7[2].request_length, 300_000 + 2 + 3 + 2);
}

#[test]
fn off_by_default_like_deepflow() {
    let mut t = Talk::new(1883);
    t.tcp(0.0, true, &connect_pkt(4, "x"));
    t.tcp(1.0, false, &pkt(0x20, &[0, 0]));
    assert!(t.finish().l7.is_empty());
}

#[test]
fn every_cut_gives_the_same_rows() {
    let mut sub = 1u16.to_be_bytes().to_vec();
    sub.extend(string(b"a/+"));
    sub.push(1);
    let conversation = [
        (true, connect_pkt(5, "cut-1")),
        (false, pkt(0x20, &[0, 0, 0])),
        (true, pkt(0x82, &[sub.clone(), vec![]].concat())),
        (false, pkt(0x90, &[0, 1, 0, 1])),
        (true, publish(2, "a/b", 2, true, b"payload")),
        (false, pkt(0x50, &[0, 2])),
        (true, pkt(0x62, &[0, 2])),
        (false, pkt(0x70, &[0, 2])),
    ];
    same_rows_at_every_cut(&conversation, talk);
}

#[test]
fn hostile_streams_never_panic() {
    let a = connect_pkt(5, "c");
    let b = pkt(0x20, &[0, 0, 0]);
    let c = publish(2, "t/x", 1, true, b"payload");
    let d = pkt(0x90, &[0, 1, 0, 1, 0x80]);
    let seeds: [&[u8]; 4] = [&a, &b, &c, &d];
    hostile_talks(&seeds, 3000, 6, talk);
}
