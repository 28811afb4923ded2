//! AMQP through the whole analyzer: method pairing per channel, errors by Close, no-wait,
//! content frames, frames split and batched, hostile bytes.

use super::session::AmqpSession;
use super::wire::{args, from_client, names, role, Frame, Role};
use crate::l7::parser::{L7Parser, Transport};
use crate::l7::talk::{hostile_talks, s, same_rows_at_every_cut, Talk};
use crate::l7::{L7Protocol, Probe};
use crate::record::l7::{TYPE_REQUEST, TYPE_SESSION};
use crate::AnalyzerConfig;

fn talk() -> Talk {
    let mut cfg = AnalyzerConfig::default();
    cfg.l7.enabled.insert(L7Protocol::Amqp);
    Talk::with(cfg, 5672)
}

fn frame(kind: u8, channel: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![kind];
    v.extend(channel.to_be_bytes());
    v.extend((payload.len() as u32).to_be_bytes());
    v.extend_from_slice(payload);
    v.push(0xce);
    v
}

fn method(channel: u16, class: u16, m: u16, args: &[u8]) -> Vec<u8> {
    let mut p = class.to_be_bytes().to_vec();
    p.extend(m.to_be_bytes());
    p.extend_from_slice(args);
    frame(1, channel, &p)
}

fn short(s: &str) -> Vec<u8> {
    let mut v = vec![s.len() as u8];
    v.extend(s.as_bytes());
    v
}

fn queue_declare(q: &str, bits: u8) -> Vec<u8> {
    let mut a = vec![0, 0];
    a.extend(short(q));
    a.push(bits);
    a.extend([0, 0, 0, 0]); // arguments table
    a
}

fn close(code: u16, text: &str) -> Vec<u8> {
    let mut a = code.to_be_bytes().to_vec();
    a.extend(short(text));
    a.extend([0, 50, 0, 10]);
    a
}

#[test]
fn tables_and_probe() {
    assert_eq!(names(60, 40), Some(("Basic", "Publish")));
    assert_eq!(names(40, 51), Some(("Exchange", "UnbindOk")));
    assert_eq!(names(60, 41), None);
    assert_eq!(role(50, 10), Role::Request);
    assert_eq!(role(60, 72), Role::Reply);
    assert_eq!(role(60, 60), Role::Async);
    assert_eq!(
        (
            from_client(10, 10),
            from_client(10, 11),
            from_client(20, 40)
        ),
        (Some(false), Some(true), None)
    );
    let a = args(60, 40, &[0, 0, 3, b'e', b'x', b'1', 2, b'r', b'k', 0]);
    assert_eq!((a.exchange, a.routing_key), (&b"ex1"[..], &b"rk"[..]));
    assert_eq!(
        Frame::read(b"\x08\x00\x00\x00\x00\x00\x00"),
        Some(Frame {
            kind: 8,
            channel: 0,
            size: 0
        })
    );
    assert_eq!(Frame::read(b"\x08\x00\x01\x00\x00\x00\x00"), None);
    assert_eq!(
        AmqpSession::probe(b"AMQP\x00\x00\x09\x01", Transport::Tcp),
        Probe::Certain
    );
    assert_eq!(AmqpSession::probe(b"AMQ", Transport::Tcp), Probe::Unsure);
    assert_eq!(
        AmqpSession::probe(&method(1, 50, 10, &queue_declare("q", 0)), Transport::Tcp),
        Probe::Certain
    );
    for p in [
        &b"GET / HTTP/1.1\r\n"[..],
        b"\x01\x00\x01\x00\x00\x00\x04\x00\x63\x00\x01\xce",
        b"*1\r\n$4\r\nPING\r\n",
    ] {
        assert_eq!(
            AmqpSession::probe(p, Transport::Tcp),
            Probe::NotForUs,
            "{p:?}"
        );
    }
}

#[test]
fn pairs_per_channel_errors_no_wait_and_content() {
    let mut t = talk();
    t.tcp(0.0, true, b"AMQP\x00\x00\x09\x01");
    let mut open = vec![];
    open.extend(short("/prod"));
    open.extend([0, 0]);
    t.tcp(1.0, true, &method(0, 10, 40, &open));
    t.tcp(2.0, false, &method(0, 10, 41, &[0]));
    // Two channels with a declare in flight each, answered in reverse order.
    t.tcp(
        3.0,
        true,
        &[
            method(1, 50, 10, &queue_declare("a", 0)),
            method(2, 50, 10, &queue_declare("b", 0)),
        ]
        .concat(),
    );
    t.tcp(
        4.0,
        false,
        &method(2, 50, 11, &[short("b"), vec![0; 8]].concat()),
    );
    t.tcp(
        4.5,
        false,
        &method(1, 50, 11, &[short("a"), vec![0; 8]].concat()),
    );
    // no-wait: nothing will answer it.
    t.tcp(5.0, true, &method(1, 50, 10, &queue_declare("nw", 0x10)));
    // A publish with its content header and a body larger than a segment.
    let mut publish = vec![0, 0];
    publish.extend(short("orders"));
    publish.extend(short("eu.new"));
    publish.push(0);
    let mut msg = method(1, 60, 40, &publish);
    msg.extend(frame(
        2,
        1,
        &[0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xf4, 0, 0],
    ));
    msg.extend(frame(3, 1, &vec![b'x'; 5000]));
    for c in msg.chunks(1400) {
        t.tcp(6.0, true, c);
    }
    // A passive declare the broker refuses by closing the channel.
    t.tcp(
        7.0,
        true,
        &method(1, 50, 10, &queue_declare("missing", 0x01)),
    );
    t.tcp(
        8.0,
        false,
        &method(1, 20, 40, &close(404, "NOT_FOUND - no queue 'missing'")),
    );
    t.tcp(8.5, true, &method(1, 20, 41, &[]));
    t.tcp(9.0, false, &frame(8, 0, &[]));
    let out = t.finish();
    let got: Vec<_> = out
        .l7
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
        .collect();
    let row =
        |a: &str, b: &str, c: u8, d: u8, e: Option<i32>| (a.to_string(), b.to_string(), c, d, e);
    assert_eq!(
        got,
        [
            row("Connection.Open", "", TYPE_SESSION, 0, None),
            row("Queue.Declare", "b", TYPE_SESSION, 0, None),
            row("Queue.Declare", "a", TYPE_SESSION, 0, None),
            row("Queue.Declare", "nw", TYPE_REQUEST, 0, None),
            row("Basic.Publish", "orders.eu.new", TYPE_REQUEST, 0, None),
            row("Queue.Declare", "missing", TYPE_SESSION, 4, Some(404)),
            row("Channel.Close", "", TYPE_SESSION, 4, Some(404)),
        ]
    );
    assert!(out.l7.iter().all(|r| s(&r.request_domain) == "/prod"));
    assert_eq!(
        s(&out.l7[5].response_exception),
        "NOT_FOUND - no queue 'missing'"
    );
    assert_eq!(out.l7[2].response_duration, 1_500);
}

#[test]
fn every_cut_gives_the_same_rows() {
    let mut publish = vec![0, 0];
    publish.extend(short("x"));
    publish.extend(short("k"));
    publish.push(0);
    let conversation = [
        (true, b"AMQP\x00\x00\x09\x01".to_vec()),
        (true, method(1, 50, 10, &queue_declare("q", 0))),
        (false, method(1, 50, 11, &[short("q"), vec![0; 8]].concat())),
        (
            true,
            [method(1, 60, 40, &publish), frame(3, 1, b"body")].concat(),
        ),
        (true, method(1, 50, 10, &queue_declare("missing", 1))),
        (false, method(1, 20, 40, &close(404, "NOT_FOUND"))),
        (true, method(1, 20, 41, &[])),
    ];
    same_rows_at_every_cut(&conversation, talk);
}

#[test]
fn hostile_streams_never_panic() {
    let a = [
        b"AMQP\x00\x00\x09\x01".to_vec(),
        method(1, 50, 10, &queue_declare("q", 0)),
    ]
    .concat();
    let b = method(1, 50, 11, &[short("q"), vec![0; 8]].concat());
    let c = [
        method(1, 60, 40, &[0, 0, 1, b'x', 1, b'y', 0]),
        frame(3, 1, b"body"),
    ]
    .concat();
    let d = method(1, 20, 40, &close(406, "PRECONDITION_FAILED"));
    let seeds: [&[u8]; 4] = [&a, &b, &c, &d];
    hostile_talks(&seeds, 3000, 8, talk);
}
