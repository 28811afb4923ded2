//! SOME/IP through the whole analyzer: calls and their answers over TCP and UDP, return-code
//! classes, fire-and-forget calls, notifications, service discovery, SOME/IP-TP segments, magic
//! cookies, messages split, batched and longer than the hold, gaps, hostile bytes.

use super::session::SomeIpSession;
use super::wire::{header, Kind};
use crate::l7::parser::{L7Parser, Transport};
use crate::l7::talk::{hostile_datagrams, hostile_talks, s, same_rows_at_every_cut, Talk};
use crate::l7::{L7Protocol, ParserKind, Probe};
use crate::record::l7::{TYPE_REQUEST, TYPE_SESSION};
use crate::record::L7FlowLog;
use crate::AnalyzerConfig;

const SERVICE: u16 = 0x1234;

fn talk() -> Talk {
    let mut cfg = AnalyzerConfig::default();
    cfg.l7.enabled.insert(L7Protocol::SomeIp);
    Talk::with(cfg, 30509)
}

/// A message: (service, method), (client, session), message type, return code, payload.
fn msg(sm: (u16, u16), cs: (u16, u16), message_type: u8, ret: u8, payload: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(16 + payload.len());
    m.extend(sm.0.to_be_bytes());
    m.extend(sm.1.to_be_bytes());
    m.extend((8 + payload.len() as u32).to_be_bytes());
    m.extend(cs.0.to_be_bytes());
    m.extend(cs.1.to_be_bytes());
    m.extend([1, 1, message_type, ret]);
    m.extend(payload);
    m
}

fn request(method: u16, session: u16, payload: &[u8]) -> Vec<u8> {
    msg((SERVICE, method), (0x11, session), 0x00, 0, payload)
}

fn answer(method: u16, session: u16, message_type: u8, ret: u8, payload: &[u8]) -> Vec<u8> {
    msg(
        (SERVICE, method),
        (0x11, session),
        message_type,
        ret,
        payload,
    )
}

/// A SOME/IP-TP segment: a TP header (offset in bytes, more segments) before the payload.
fn segment(message_type: u8, session: u16, offset: u32, more: bool, payload: &[u8]) -> Vec<u8> {
    let tp = (offset / 16) << 4 | u32::from(more);
    let body = [&tp.to_be_bytes()[..], payload].concat();
    msg((SERVICE, 0x0500), (0x11, session), message_type, 0, &body)
}

const COOKIE_FROM_CLIENT: [u8; 16] = [
    0xff, 0xff, 0, 0, 0, 0, 0, 8, 0xde, 0xad, 0xbe, 0xef, 1, 1, 1, 0,
];

/// A service discovery message: an OfferService entry (options 0 and 1: its TCP and UDP
/// endpoints; option 4, a configuration string, in its second run) and a SubscribeEventgroupAck
/// entry (option 2, a multicast group; option 3, an IPv6 endpoint).
fn sd(session: u16) -> Vec<u8> {
    let mut p = vec![0xc0, 0, 0, 0];
    p.extend(32u32.to_be_bytes());
    p.extend([
        0x01, 0, 4, 0x21, 0x12, 0x34, 0x56, 0x78, 1, 0, 0, 5, 0, 0, 0, 0,
    ]);
    p.extend([
        0x07, 2, 3, 0x11, 0x12, 0x35, 0x56, 0x78, 1, 0, 0, 3, 0, 0, 0x03, 0x21,
    ]);
    let v4 = |kind: u8, a: [u8; 4], proto: u8, port: u16| {
        let mut o = vec![0, 9, kind, 0];
        o.extend(a);
        o.extend([0, proto]);
        o.extend(port.to_be_bytes());
        o
    };
    let mut options = v4(0x04, [10, 0, 0, 2], 6, 30509);
    options.extend(v4(0x04, [10, 0, 0, 2], 17, 30510));
    options.extend(v4(0x14, [239, 1, 1, 1], 17, 30491));
    options.extend([
        0, 21, 0x06, 0, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2,
    ]);
    options.extend([0, 17]);
    options.extend(40000u16.to_be_bytes());
    options.extend([0, 6, 0x01, 0, 5, b'a', b'=', b'b', 0]);
    p.extend((options.len() as u32).to_be_bytes());
    p.extend(options);
    msg((0xffff, 0x8100), (0, session), 0x02, 0, &p)
}

#[test]
fn decoders_and_probe() {
    let req = request(0x0421, 1, b"ping");
    let h = header(&req).unwrap();
    assert_eq!(
        (h.service, h.method, h.length, h.client, h.session),
        (SERVICE, 0x0421, 12, 0x11, 1)
    );
    assert_eq!(
        (h.kind, h.size(), h.call_key()),
        (Kind::Request, 20, 0x11 << 16 | 1)
    );
    let tcp = Transport::Tcp;
    assert_eq!(SomeIpSession::probe(&req, tcp), Probe::Certain);
    let two = [req.clone(), request(0x0421, 2, b"")].concat();
    assert_eq!(SomeIpSession::probe(&two, tcp), Probe::Certain);
    // A message longer than the segment, a head cut by it, a second message cut by it.
    assert_eq!(SomeIpSession::probe(&req[..18], tcp), Probe::Unsure);
    assert_eq!(SomeIpSession::probe(&req[..10], tcp), Probe::Unsure);
    assert_eq!(SomeIpSession::probe(&two[..30], tcp), Probe::Unsure);
    assert_eq!(SomeIpSession::probe(&req, Transport::Udp), Probe::Certain);
    assert_eq!(SomeIpSession::probe(&two, Transport::Udp), Probe::Certain);
    // A datagram must be whole messages.
    assert_eq!(
        SomeIpSession::probe(&req[..18], Transport::Udp),
        Probe::NotForUs
    );
    let mut v2 = req.clone();
    v2[12] = 2;
    let mut reserved = answer(0x0421, 1, 0x80, 0x60, b"");
    let mut asks_with_code = req.clone();
    asks_with_code[15] = 1;
    let mut unknown_type = req.clone();
    unknown_type[14] = 0x40;
    let mut short = req.clone();
    short[4..8].copy_from_slice(&7u32.to_be_bytes());
    for p in [
        &b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"[..],
        &v2,
        &reserved,
        &asks_with_code,
        &unknown_type,
        &short,
        &[0, 0, 0, 0, 0x7f],
    ] {
        assert_eq!(SomeIpSession::probe(p, tcp), Probe::NotForUs, "{p:?}");
        assert_eq!(
            SomeIpSession::probe(p, Transport::Udp),
            Probe::NotForUs,
            "{p:?}"
        );
    }
    reserved[15] = 0x5e;
    assert_eq!(SomeIpSession::probe(&reserved, tcp), Probe::Certain);
    let who = |p: &[u8]| SomeIpSession::sent_by_client(p, tcp);
    assert_eq!(who(&req), Some(true));
    assert_eq!(who(&answer(1, 1, 0x81, 1, b"")), Some(false));
    assert_eq!(
        who(&msg((SERVICE, 0x8001), (0, 1), 0x02, 0, b"")),
        Some(false)
    );
    assert_eq!(who(&sd(1)), None);
    assert_eq!(who(&COOKIE_FROM_CLIENT), Some(true));
}

/// (request_type, resource, endpoint, type, status, code, exception, request_id, version,
/// client_id, request_length, response_length)
type Row = (
    String,
    String,
    String,
    u8,
    u8,
    Option<i32>,
    String,
    Option<u32>,
    String,
    String,
    i64,
    i64,
);

fn sig(r: &L7FlowLog) -> Row {
    let client = r
        .attributes
        .iter()
        .find(|(k, _)| *k == b"client_id")
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_default();
    (
        s(&r.request_type).to_string(),
        s(&r.request_resource).to_string(),
        s(&r.endpoint).to_string(),
        r.row_type,
        r.response_status,
        r.response_code,
        s(&r.response_exception).to_string(),
        r.request_id,
        s(&r.version).to_string(),
        client,
        r.request_length,
        r.response_length,
    )
}

#[allow(clippy::too_many_arguments)]
fn row(
    ty: &str,
    method: u16,
    row_type: u8,
    status: u8,
    code: Option<i32>,
    exc: &str,
    session: u32,
    lengths: (i64, i64),
) -> Row {
    (
        ty.to_string(),
        SERVICE.to_string(),
        method.to_string(),
        row_type,
        status,
        code,
        exc.to_string(),
        Some(session),
        "1.1".to_string(),
        "17".to_string(),
        lengths.0,
        lengths.1,
    )
}

#[test]
fn calls_errors_notifications_segments_and_cookies_over_tcp() {
    let mut t = talk();
    // Two calls in one segment, answered out of order; a magic cookie between them.
    t.tcp(
        0.0,
        true,
        &[
            request(0x0421, 1, b"ping"),
            COOKIE_FROM_CLIENT.to_vec(),
            request(0x0421, 2, b""),
        ]
        .concat(),
    );
    t.tcp(1.0, false, &answer(0x0421, 2, 0x80, 0, b"pong!"));
    t.tcp(2.0, false, &answer(0x0421, 1, 0x80, 0, b""));
    // An unknown method (client error), an ERROR (server error), a service's own code.
    t.tcp(3.0, true, &request(0x0999, 3, b""));
    t.tcp(3.5, false, &answer(0x0999, 3, 0x80, 0x03, b""));
    t.tcp(4.0, true, &request(0x0422, 4, b""));
    t.tcp(4.5, false, &answer(0x0422, 4, 0x81, 0x01, b""));
    t.tcp(5.0, true, &request(0x0423, 5, b""));
    t.tcp(5.5, false, &answer(0x0423, 5, 0x81, 0x21, b""));
    // A fire-and-forget call and an event.
    t.tcp(6.0, true, &msg((SERVICE, 0x0424), (0x11, 6), 0x01, 0, b"x"));
    t.tcp(
        7.0,
        false,
        &msg((SERVICE, 0x8001), (0x11, 7), 0x02, 0, b"ev"),
    );
    // A segmented call: its first segment is the row, the next ones are counted.
    t.tcp(8.0, true, &segment(0x20, 8, 0, true, &[1; 32]));
    t.tcp(8.1, true, &segment(0x20, 8, 32, false, &[2; 8]));
    t.tcp(8.5, false, &answer(0x0500, 8, 0x80, 0, b""));
    let counters = t.an.counters().l7;
    let counter = |i| counters.protocol_counter(ParserKind::SomeIp, i);
    assert_eq!((counter(0), counter(1), counter(2)), (0, 1, 1));
    let got: Vec<Row> = t.finish().l7.iter().map(sig).collect();
    let ok = Some(0);
    assert_eq!(
        got,
        [
            row("REQUEST", 0x0421, TYPE_SESSION, 0, ok, "", 2, (8, 13)),
            row("REQUEST", 0x0421, TYPE_SESSION, 0, ok, "", 1, (12, 8)),
            row(
                "REQUEST",
                0x0999,
                TYPE_SESSION,
                4,
                Some(3),
                "E_UNKNOWN_METHOD",
                3,
                (8, 8)
            ),
            row(
                "REQUEST",
                0x0422,
                TYPE_SESSION,
                3,
                Some(1),
                "E_NOT_OK",
                4,
                (8, 8)
            ),
            row(
                "REQUEST",
                0x0423,
                TYPE_SESSION,
                3,
                Some(0x21),
                "E_SERVICE_SPECIFIC",
                5,
                (8, 8)
            ),
            row(
                "REQUEST_NO_RETURN",
                0x0424,
                TYPE_REQUEST,
                0,
                None,
                "",
                6,
                (9, -1)
            ),
            row(
                "NOTIFICATION",
                0x8001,
                TYPE_SESSION,
                0,
                None,
                "",
                7,
                (-1, 10)
            ),
            row("TP_REQUEST", 0x0500, TYPE_SESSION, 0, ok, "", 8, (44, 8)),
        ]
    );
}

#[test]
fn datagrams_of_several_messages_discovery_and_calls_both_ways_over_udp() {
    let mut t = talk();
    t.udp(
        0.0,
        true,
        &[request(0x0001, 1, b"a"), request(0x0001, 2, b"bb")].concat(),
    );
    t.udp(
        1.0,
        false,
        &[
            answer(0x0001, 1, 0x80, 0, b""),
            answer(0x0001, 2, 0x81, 0x04, b""),
        ]
        .concat(),
    );
    // Service discovery on the same flow, and the server calling the client back.
    t.udp(2.0, false, &sd(1));
    t.udp(3.0, false, &request(0x0002, 9, b""));
    // A datagram whose second message does not decode: the first is read, the rest counted.
    t.udp(4.0, true, &[request(0x0003, 3, b""), vec![0; 20]].concat());
    let counters = t.an.counters().l7;
    assert_eq!(counters.protocol_counter(ParserKind::SomeIp, 0), 1);
    assert_eq!(counters.parse_errors, 1);
    let out = t.finish();
    let got: Vec<(String, u16, u8, u8, Option<u32>)> = out
        .l7
        .iter()
        .map(|r| {
            (
                s(&r.request_type).to_string(),
                s(&r.endpoint).parse().unwrap(),
                r.row_type,
                r.response_status,
                r.request_id,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("REQUEST".to_string(), 1, TYPE_SESSION, 0, Some(1)),
            ("REQUEST".to_string(), 1, TYPE_SESSION, 3, Some(2)),
            ("NOTIFICATION".to_string(), 0x8100, TYPE_SESSION, 0, Some(1)),
            ("REQUEST".to_string(), 2, TYPE_SESSION, 0, Some(9)),
            // Unanswered when the flow ends.
            ("REQUEST".to_string(), 3, TYPE_REQUEST, 2, Some(3)),
        ]
    );
    assert_eq!(s(&out.l7[2].request_resource), "65535");
    let entries = out.l7[2]
        .attributes
        .iter()
        .find(|(k, _)| *k == b"sd_entries");
    assert_eq!(
        entries.map(|(_, v)| String::from_utf8_lossy(v).into_owned()),
        Some(
            "OfferService 0x1234:0x5678 v1 @10.0.0.2:30509/tcp,10.0.0.2:30510/udp; \
             SubscribeEventgroupAck 0x1235:0x5678 v1 eg 0x0321 \
             @239.1.1.1:30491/udp,[fd00::2]:40000/udp"
                .to_string()
        )
    );
    assert_eq!(out.l7[1].response_exception.as_bytes(), b"E_NOT_READY");
    // The server's call is a row of its own, on the server's side.
    assert_eq!(out.l7[3].lone_from_client, Some(false));
}

#[test]
fn long_messages_gaps_and_every_cut() {
    let mut t = talk();
    let big = request(0x0421, 1, &vec![b'x'; 100_000]);
    for c in big.chunks(1400) {
        t.tcp(1.0, true, c);
    }
    let reply = answer(0x0421, 1, 0x80, 0, &vec![b'y'; 50_000]);
    t.tcp(2.0, false, &reply);
    let small = request(0x0421, 2, b"");
    t.tcp(3.0, true, &small);
    t.tcp(3.5, false, &answer(0x0421, 2, 0x80, 0, b""));
    let out = t.finish();
    assert_eq!(out.l7.len(), 2);
    assert_eq!(
        (out.l7[0].request_length, out.l7[0].response_length),
        (big.len() as i64 - 8, reply.len() as i64 - 8)
    );
    assert_eq!(out.l7[1].captured_request_byte as usize, small.len());

    // Lost bytes inside a message longer than the hold: the direction waits for a message head.
    let mut t = talk();
    t.tcp(0.0, true, &request(0x0001, 1, b""));
    t.tcp(0.5, false, &answer(0x0001, 1, 0x80, 0, b""));
    let long = request(0x0002, 2, &vec![b'z'; 4000]);
    t.tcp(1.0, true, &long[..1400]);
    t.skip(true, 1400);
    t.tcp(1.2, true, &long[2800..]);
    t.tcp(2.0, true, &request(0x0003, 3, b""));
    t.tcp(2.5, false, &answer(0x0003, 3, 0x80, 0, b""));
    let methods: Vec<String> = t
        .finish()
        .l7
        .iter()
        .map(|r| s(&r.endpoint).to_string())
        .collect();
    assert_eq!(methods, ["1", "3", "2"]);

    let conversation = [
        (true, request(0x0421, 1, b"abc")),
        (true, request(0x0422, 2, b"")),
        (false, answer(0x0422, 2, 0x80, 0, b"")),
        (false, msg((SERVICE, 0x8001), (0, 3), 0x02, 0, b"e")),
        (false, answer(0x0421, 1, 0x81, 0x09, b"")),
    ];
    same_rows_at_every_cut(&conversation, talk);
}

#[test]
fn hostile_streams_never_panic() {
    let a = request(0x0421, 1, b"ping");
    let b = answer(0x0421, 1, 0x80, 0, b"pong");
    let c = segment(0x20, 2, 0, true, &[0; 16]);
    let d = sd(4);
    let seeds: [&[u8]; 4] = [&a, &b, &c, &d];
    hostile_talks(&seeds, 3000, 8, talk);
    // Datagrams of several messages, with bytes changed.
    hostile_datagrams(&seeds, 2000, 8, talk);
    // A length beyond the bound is not a header.
    let mut huge = request(1, 1, b"");
    huge[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
    assert_eq!(header(&huge), None);
}

#[test]
fn off_unless_enabled_and_small() {
    let mut t = Talk::with(AnalyzerConfig::default(), 30509);
    t.tcp(0.0, true, &request(1, 1, b""));
    t.tcp(0.5, false, &answer(1, 1, 0x80, 0, b""));
    assert!(t.finish().l7.is_empty());
    assert_eq!(std::mem::size_of::<SomeIpSession>(), 80);
}
