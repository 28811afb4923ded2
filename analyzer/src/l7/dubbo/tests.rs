//! Dubbo through the whole analyzer: Hessian2 and Kryo calls, status errors, exceptions,
//! heartbeats, one-way calls, messages split and batched, hostile bytes.

use super::session::DubboSession;
use super::wire::{attachment, call, Header, Reader};
use crate::l7::parser::{L7Parser, Transport};
use crate::l7::talk::{hostile_talks, s, same_rows_at_every_cut, Talk};
use crate::l7::{L7Protocol, ParserKind, Probe};
use crate::record::l7::{TYPE_REQUEST, TYPE_SESSION};
use crate::AnalyzerConfig;

fn talk() -> Talk {
    let mut cfg = AnalyzerConfig::default();
    cfg.l7.enabled.insert(L7Protocol::Dubbo);
    Talk::with(cfg, 20880)
}

fn hs(s: &str) -> Vec<u8> {
    let mut v = vec![s.chars().count() as u8];
    v.extend(s.as_bytes());
    v
}

fn ks(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    *v.last_mut().unwrap() |= 0x80;
    v
}

fn msg(flags: u8, status: u8, id: u64, body: &[u8]) -> Vec<u8> {
    let mut v = vec![0xda, 0xbb, flags, status];
    v.extend(id.to_be_bytes());
    v.extend((body.len() as u32).to_be_bytes());
    v.extend_from_slice(body);
    v
}

fn hessian_call(service: &str, method: &str, attachments: &[(&str, &str)]) -> Vec<u8> {
    let mut b = [
        hs("2.0.2"),
        hs(service),
        hs("1.0.0"),
        hs(method),
        hs("Ljava/lang/String;"),
        hs("arg"),
    ]
    .concat();
    b.push(b'H');
    for (k, v) in attachments {
        b.extend(hs(k));
        b.extend(hs(v));
    }
    b.push(b'Z');
    b
}

#[test]
fn decoders_and_probe() {
    let body = hessian_call(
        "demo.UserService",
        "login",
        &[("sw8", "x"), ("path", "demo.UserService")],
    );
    let text = |t: super::wire::Text<'_>| t.bytes().collect::<Vec<u8>>();
    let c = call(2, &body).unwrap();
    assert_eq!(
        (
            text(c.dubbo_version),
            text(c.service),
            text(c.service_version),
            text(c.method)
        ),
        (
            b"2.0.2".to_vec(),
            b"demo.UserService".to_vec(),
            b"1.0.0".to_vec(),
            b"login".to_vec()
        )
    );
    assert_eq!(attachment(&body, "sw8"), Some(&b"x"[..]));
    assert_eq!(attachment(&body, "traceparent"), None);
    let kryo = [ks("2.0.2"), ks("demo.Svc"), vec![0x81], ks("get")].concat();
    let c = call(8, &kryo).unwrap();
    assert_eq!(
        (text(c.service), text(c.service_version), text(c.method)),
        (b"demo.Svc".to_vec(), vec![], b"get".to_vec())
    );
    // A Kryo UTF-8 string: flag 0x80, length + 1 = 4, then "été" is 3 characters.
    let mut r = Reader::new(&[0x84, 0xc3, 0xa9, b't', 0xc3, 0xa9]);
    assert_eq!(r.kryo_str().map(text), Some("été".as_bytes().to_vec()));
    let req = msg(0xc2, 0, 7, &body);
    assert!(Header::parse(&req).unwrap().two_way());
    assert_eq!(DubboSession::probe(&req, Transport::Tcp), Probe::Certain);
    assert_eq!(
        DubboSession::probe(&req[..1], Transport::Tcp),
        Probe::Unsure
    );
    for p in [
        &b"GET / HTTP/1.1\r\n\r\n"[..],
        &msg(0x02, 20, 7, b"\x91")[..],
        b"\xda\xbb\xc2\x00\x00\x00\x00\x00\x00\x00\x00\x01\xff\xff\xff\xff",
    ] {
        assert_eq!(
            DubboSession::probe(p, Transport::Tcp),
            Probe::NotForUs,
            "{p:?}"
        );
    }
}

#[test]
fn calls_errors_events_and_streams() {
    let mut t = talk();
    let call1 = msg(0xc2, 0, 1, &hessian_call("demo.UserService", "login", &[]));
    let call2 = msg(0xc2, 0, 2, &hessian_call("demo.ItemService", "find", &[]));
    // Two calls in one segment, answered out of order.
    t.tcp(0.0, true, &[call1, call2].concat());
    let mut err = vec![b'S', 0, 12];
    err.extend(b"no such item");
    t.tcp(1.0, false, &msg(0x02, 70, 2, &err));
    t.tcp(2.0, false, &msg(0x02, 20, 1, &[0x94, b'T', b'H', b'Z']));
    // A call that throws: status 20, response type 0 with a Hessian exception object.
    t.tcp(
        3.0,
        true,
        &msg(0xc2, 0, 3, &hessian_call("demo.UserService", "delete", &[])),
    );
    let mut exc = vec![0x90, b'C'];
    exc.extend(hs("java.lang.IllegalStateException"));
    t.tcp(3.5, false, &msg(0x02, 20, 3, &exc));
    // Heartbeat both ways (events): counted, no rows.
    t.tcp(4.0, true, &msg(0xe2, 0, 4, b"N"));
    t.tcp(4.1, false, &msg(0x22, 20, 4, b"N"));
    // One-way call (no two-way flag), then a Kryo call over many segments.
    t.tcp(
        5.0,
        true,
        &msg(0x82, 0, 5, &hessian_call("demo.Log", "append", &[])),
    );
    let mut big = [ks("2.0.2"), ks("demo.Blob"), vec![0x81], ks("put")].concat();
    big.extend(vec![b'x'; 100_000]);
    let big = msg(0xc8, 0, 6, &big);
    for c in big.chunks(1400) {
        t.tcp(6.0, true, c);
    }
    t.tcp(7.0, false, &msg(0x08, 20, 6, &[1]));
    assert_eq!(t.an.counters().l7.protocol_counter(ParserKind::Dubbo, 0), 2);
    let out = t.finish();
    let got: Vec<_> = out
        .l7
        .iter()
        .map(|r| {
            (
                s(&r.request_type).to_string(),
                r.row_type,
                r.response_status,
                r.response_code,
                s(&r.response_exception).to_string(),
            )
        })
        .collect();
    let row =
        |a: &str, b: u8, c: u8, d: Option<i32>, e: &str| (a.to_string(), b, c, d, e.to_string());
    assert_eq!(
        got,
        [
            row("find", TYPE_SESSION, 3, Some(70), "no such item"),
            row("login", TYPE_SESSION, 0, Some(20), ""),
            row(
                "delete",
                TYPE_SESSION,
                3,
                Some(20),
                "java.lang.IllegalStateException"
            ),
            row("append", TYPE_REQUEST, 0, None, ""),
            row("put", TYPE_SESSION, 0, Some(20), ""),
        ]
    );
    assert_eq!(s(&out.l7[4].endpoint), "demo.Blob/put");
}

#[test]
fn every_cut_gives_the_same_rows() {
    let conversation = [
        (
            true,
            msg(0xc2, 0, 1, &hessian_call("s.S", "m", &[("sw8", "1-a-b-2")])),
        ),
        (
            true,
            msg(
                0xc8,
                0,
                2,
                &[ks("2.0.2"), ks("k.S"), vec![0x81], ks("m")].concat(),
            ),
        ),
        (false, msg(0x08, 20, 2, &[1])),
        (false, msg(0x02, 60, 1, &[b'S', 0, 3, b'b', b'a', b'd'])),
    ];
    same_rows_at_every_cut(&conversation, talk);
}

#[test]
fn hostile_streams_never_panic() {
    let a = msg(0xc2, 0, 1, &hessian_call("s.S", "m", &[("sw8", "1-a-b-2")]));
    let b = msg(0x02, 20, 1, &[0x94, b'N']);
    let c = msg(
        0xc8,
        0,
        2,
        &[ks("2.0.2"), ks("k.S"), vec![0x81], ks("m")].concat(),
    );
    let d = msg(0x02, 60, 2, &[b'S', 0, 3, b'b', b'a', b'd']);
    let seeds: [&[u8]; 4] = [&a, &b, &c, &d];
    hostile_talks(&seeds, 3000, 8, talk);
}
