//! NATS through the whole analyzer and its line decoder.

use super::session::NatsSession;
use super::wire::{json_str, json_true, parse, Headers, Op};
use crate::l7::parser::{L7Parser, Transport};
use crate::l7::talk::{hostile_talks, s, same_rows_at_every_cut, Talk};
use crate::l7::{L7Protocol, Probe};
use crate::record::l7::{TYPE_REQUEST, TYPE_SESSION};
use crate::AnalyzerConfig;

fn talk() -> Talk {
    let mut cfg = AnalyzerConfig::default();
    cfg.l7.enabled.insert(L7Protocol::Nats);
    Talk::with(cfg, 4222)
}

const INFO: &[u8] = b"INFO {\"server_id\":\"X\",\"server_name\":\"edge-1\",\"version\":\"2.9.10\",\"headers\":true}\r\n";

#[test]
fn lines_and_probe() {
    let l = parse(b"PUB a.b INBOX.1 12").unwrap();
    assert_eq!(
        (l.op, l.subject, l.reply_to, l.total),
        (Op::Pub, &b"a.b"[..], &b"INBOX.1"[..], 12)
    );
    let l = parse(b"hmsg a 9  r 22 33").unwrap();
    assert_eq!(
        (l.op, l.sid, l.reply_to, l.header_len, l.total),
        (Op::Hmsg, &b"9"[..], &b"r"[..], 22, 33)
    );
    assert_eq!(parse(b"SUB Greeter.>  1").unwrap().sid, b"1");
    assert!(parse(b"PUB a 99999999999").is_none());
    assert!(
        parse(b"HPUB a 10 5").is_none(),
        "headers larger than the message"
    );
    assert!(parse(b"PUB a b c d").is_none());
    assert!(parse(b"PING x").is_none());
    assert!(parse(b"DEADBEEF").is_none());
    assert_eq!(json_str(INFO, "server_name"), Some(&b"edge-1"[..]));
    assert!(json_true(b"{\"verbose\": true}", "verbose"));
    assert!(!json_true(b"{\"verbose\":false,\"x\":true}", "verbose"));
    let h = Headers(b"NATS/1.0 503\r\nTraceparent: t\r\n\r\n");
    assert_eq!(
        (h.status(), h.get("traceparent")),
        (Some(503), Some(&b"t"[..]))
    );
    assert_eq!(NatsSession::probe(INFO, Transport::Tcp), Probe::Certain);
    assert_eq!(
        NatsSession::probe(b"CONNECT {\"verbose\":false}\r\n", Transport::Tcp),
        Probe::Certain
    );
    assert_eq!(NatsSession::probe(b"INF", Transport::Tcp), Probe::Unsure);
    for p in [
        &b"PING\r\n"[..],
        b"+OK\r\n",
        b"GET / HTTP/1.1\r\n",
        b"*1\r\n$4\r\nPING\r\n",
        b"\x16\x03\x01",
    ] {
        assert_eq!(
            NatsSession::probe(p, Transport::Tcp),
            Probe::NotForUs,
            "{p:?}"
        );
    }
}

#[test]
fn request_reply_trace_split_and_large_payload() {
    let mut t = talk();
    t.tcp(0.0, false, INFO);
    t.tcp(
        1.0,
        true,
        b"CONNECT {\"verbose\":false,\"headers\":true}\r\nPING\r\n",
    );
    t.tcp(1.5, false, b"PONG\r\n");
    t.tcp(2.0, true, b"SUB _INBOX.x.* 1\r\n");
    let hdr =
        "NATS/1.0\r\ntraceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n\r\n";
    let msg = format!(
        "HPUB svc.a.b _INBOX.x.1 {} {}\r\n{hdr}hi\r\n",
        hdr.len(),
        hdr.len() + 2
    );
    // The control line cut in two segments.
    t.tcp(3.0, true, &msg.as_bytes()[..10]);
    t.tcp(3.1, true, &msg.as_bytes()[10..]);
    // The reply: 200 kB over many segments.
    let mut reply = b"MSG _INBOX.x.1 1 200000\r\n".to_vec();
    reply.extend(vec![b'z'; 200_000]);
    reply.extend(b"\r\n");
    for (i, c) in reply.chunks(1400).enumerate() {
        t.tcp(5.0 + i as f64 * 0.001, false, c);
    }
    t.tcp(6.0, true, b"PUB events 2\r\nhi\r\n");
    let out = t.finish();
    let got: Vec<_> = out
        .l7
        .iter()
        .map(|r| {
            (
                s(&r.request_type).to_string(),
                s(&r.request_resource).to_string(),
                r.row_type,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("INFO".into(), "".into(), TYPE_REQUEST),
            ("CONNECT".into(), "".into(), TYPE_REQUEST),
            ("PING".into(), "".into(), TYPE_SESSION),
            ("SUB".into(), "_INBOX.x.*".into(), TYPE_REQUEST),
            ("HPUB".into(), "svc.a.b".into(), TYPE_SESSION),
            ("PUB".into(), "events".into(), TYPE_REQUEST),
        ]
    );
    let r = &out.l7[4];
    assert_eq!(s(&r.trace_id), "0af7651916cd43dd8448eb211c80319c");
    assert_eq!(
        (s(&r.endpoint), s(&r.request_domain), s(&r.version)),
        ("svc", "edge-1", "2.9.10")
    );
    // From the first segment of the request to the reply head.
    assert_eq!(r.response_duration, 2_000);
    assert_eq!(r.response_length, reply.len() as i64);
}

#[test]
fn verbose_acks_and_errors() {
    let mut t = talk();
    t.tcp(0.0, false, INFO);
    t.tcp(1.0, true, b"CONNECT {\"verbose\":true}\r\n");
    t.tcp(1.2, false, b"+OK\r\n");
    t.tcp(2.0, true, b"SUB a 1\r\nPUB a 1\r\nx\r\n");
    t.tcp(2.5, false, b"+OK\r\n+OK\r\nMSG a 1 1\r\nx\r\n");
    t.tcp(3.0, true, b"SUB bad..subject 2\r\n");
    t.tcp(3.2, false, b"-ERR 'Invalid Subject'\r\n");
    t.tcp(4.0, true, b"DEADBEEF\r\n");
    t.tcp(4.1, false, b"-ERR 'Unknown Protocol Operation'\r\n");
    let out = t.finish();
    let got: Vec<_> = out
        .l7
        .iter()
        .map(|r| {
            (
                s(&r.request_type).to_string(),
                r.row_type,
                r.response_status,
                s(&r.response_exception).to_string(),
            )
        })
        .collect();
    let row = |a: &str, b: u8, c: u8, d: &str| (a.to_string(), b, c, d.to_string());
    assert_eq!(
        got,
        [
            row("INFO", 0, 0, ""),
            row("CONNECT", 2, 0, ""),
            row("SUB", 2, 0, ""),
            row("PUB", 2, 0, ""),
            row("MSG", 0, 0, ""),
            row("SUB", 2, 4, "Invalid Subject"),
            row("-ERR", 1, 4, "Unknown Protocol Operation"),
        ]
    );
}

#[test]
fn every_cut_gives_the_same_rows() {
    let hdr =
        "NATS/1.0\r\ntraceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n\r\n";
    let conversation = [
        (false, INFO.to_vec()),
        (true, b"CONNECT {\"verbose\":true}\r\n".to_vec()),
        (false, b"+OK\r\n".to_vec()),
        (
            true,
            format!(
                "HPUB svc.a r.1 {} {}\r\n{hdr}hi\r\n",
                hdr.len(),
                hdr.len() + 2
            )
            .into_bytes(),
        ),
        (false, b"+OK\r\nMSG r.1 1 5\r\nhello\r\n".to_vec()),
        (true, b"PING\r\n".to_vec()),
        (false, b"PONG\r\n".to_vec()),
    ];
    same_rows_at_every_cut(&conversation, talk);
}

#[test]
fn hostile_streams_never_panic() {
    let seeds: [&[u8]; 4] = [
        INFO,
        b"CONNECT {\"verbose\":true}\r\nPING\r\nSUB a 1\r\n",
        b"HPUB a r 12 14\r\nNATS/1.0\r\n\r\nhi\r\n",
        b"+OK\r\nMSG r 1 2\r\nhi\r\n-ERR 'x'\r\nPONG\r\n",
    ];
    hostile_talks(&seeds, 3000, 8, talk);
}
