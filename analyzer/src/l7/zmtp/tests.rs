//! ZMTP through the whole analyzer (inference, framing across segments, REQ/REP pairing,
//! subscriptions, errors, gaps) and its decoders.

use super::session::ZmtpSession;
use super::wire::{command, parse_greeting, property, FrameHeader, Mechanism};
use crate::l7::parser::{L7Parser, Transport};
use crate::l7::talk::{hostile_talks, s, same_rows_at_every_cut, Talk};
use crate::l7::{L7Protocol, Probe};
use crate::record::l7::TYPE_SESSION;
use crate::AnalyzerConfig;

fn talk() -> Talk {
    let mut cfg = AnalyzerConfig::default();
    cfg.l7.enabled.insert(L7Protocol::Zmtp);
    Talk::with(cfg, 5555)
}

fn greeting(mechanism: &[u8], as_server: bool) -> Vec<u8> {
    let mut g = vec![0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 3, 1];
    let mut m = [0u8; 20];
    m[..mechanism.len()].copy_from_slice(mechanism);
    g.extend_from_slice(&m);
    g.push(u8::from(as_server));
    g.extend_from_slice(&[0; 31]);
    g
}

fn frame(flags: u8, body: &[u8]) -> Vec<u8> {
    let mut f = if body.len() > 255 {
        let mut f = vec![flags | 0x02];
        f.extend_from_slice(&(body.len() as u64).to_be_bytes());
        f
    } else {
        vec![flags, body.len() as u8]
    };
    f.extend_from_slice(body);
    f
}

fn cmd(name: &[u8], data: &[u8]) -> Vec<u8> {
    let mut body = vec![name.len() as u8];
    body.extend_from_slice(name);
    body.extend_from_slice(data);
    frame(0x04, &body)
}

fn ready(socket_type: &[u8]) -> Vec<u8> {
    let mut props = vec![11u8];
    props.extend_from_slice(b"Socket-Type");
    props.extend_from_slice(&(socket_type.len() as u32).to_be_bytes());
    props.extend_from_slice(socket_type);
    cmd(b"READY", &props)
}

/// A REQ/REP message: the empty delimiter, then the body.
fn envelope(body: &[u8]) -> Vec<u8> {
    let mut m = frame(0x01, b"");
    m.extend_from_slice(&frame(0x00, body));
    m
}

/// (row type, request_type, domain, status, exception, lengths, version).
type Row = (u8, String, String, u8, String, (i64, i64), String);

fn rows(out: &crate::record::Collected) -> Vec<Row> {
    out.l7
        .iter()
        .map(|r| {
            assert_eq!((r.l7_protocol, r.l7_protocol_str), (106, "ZMTP"));
            assert_eq!(s(&r.request_domain), s(&r.request_resource));
            (
                r.row_type,
                s(&r.request_type).to_string(),
                s(&r.request_domain).to_string(),
                r.response_status,
                s(&r.response_exception).to_string(),
                (r.request_length, r.response_length),
                s(&r.version).to_string(),
            )
        })
        .collect()
}

fn row(kind: &str, lengths: (i64, i64)) -> Row {
    (
        TYPE_SESSION,
        kind.into(),
        String::new(),
        0,
        String::new(),
        lengths,
        "3.1".into(),
    )
}

/// A REQ client and a REP server: the handshake, then two requests answered.
fn req_rep() -> Vec<(bool, Vec<u8>)> {
    vec![
        (true, greeting(b"NULL", false)),
        (false, greeting(b"NULL", false)),
        (true, ready(b"REQ")),
        (false, ready(b"REP")),
        (true, envelope(b"hello")),
        (false, envelope(b"world!")),
        (true, envelope(b"again")),
        (false, envelope(&[7; 300])),
    ]
}

#[test]
fn req_rep_messages_pair_and_the_handshake_is_logged() {
    let mut t = talk();
    for (i, (client, m)) in req_rep().iter().enumerate() {
        t.tcp(i as f64 * 10.0, *client, m);
    }
    let out = t.finish();
    assert_eq!(
        rows(&out),
        vec![
            row("Greeting", (-1, -1)),
            row("Greeting", (-1, -1)),
            row("Command", (25, -1)),
            row("Command", (-1, 25)),
            row("Message", (5, 6)),
            row("Message", (5, 300)),
        ]
    );
    // Requests pair with the next reply: 10 ms each.
    assert_eq!(out.l7[4].response_duration, 10_000);
    assert_eq!(out.l7[5].response_duration, 10_000);
    // The client is the connecting side (the one on the ephemeral port).
    assert!(out.l7.iter().all(|r| r.peers.server_port == 5555));
}

#[test]
fn lone_messages_count_by_sender_in_the_metrics_as_in_the_flow_stats() {
    let mut t = talk();
    for (i, (client, m)) in req_rep().iter().enumerate() {
        t.tcp(i as f64 * 10.0, *client, m);
    }
    t.tcp(100.0, true, &cmd(b"PING", b"\0\x10"));
    let out = t.finish();
    let rows = |f: fn(&crate::record::L7FlowLog) -> bool| out.l7.iter().filter(|r| f(r)).count();
    let flows = |f: fn(&crate::record::L4FlowLog) -> u32| out.l4.iter().map(f).sum::<u32>();
    // Client: greeting, READY, 2 requests, PING; server: greeting, READY, 2 replies.
    assert_eq!(rows(|r| r.counts_request()), 5);
    assert_eq!(rows(|r| r.counts_response()), 4);
    assert_eq!(flows(|f| f.l7_request), 5);
    assert_eq!(flows(|f| f.l7_response), 4);
}

#[test]
fn every_cut_of_the_conversation_gives_the_same_rows() {
    same_rows_at_every_cut(&req_rep(), talk);
}

#[test]
fn the_server_greeting_first_does_not_swap_the_roles() {
    let mut t = talk();
    let convo = req_rep();
    for (i, j) in [1, 0, 3, 2, 4, 5].into_iter().enumerate() {
        t.tcp(i as f64, convo[j].0, &convo[j].1);
    }
    let out = t.finish();
    let got = rows(&out);
    assert_eq!(got.last(), Some(&row("Message", (5, 6))), "{got:?}");
    assert!(out.l7.iter().all(|r| r.peers.server_port == 5555));
}

#[test]
fn pub_sub_messages_are_rows_of_their_own_and_subscriptions_name_their_topic() {
    let mut t = talk();
    t.tcp(0.0, true, &greeting(b"NULL", false));
    t.tcp(0.1, false, &greeting(b"NULL", false));
    t.tcp(0.2, true, &ready(b"SUB"));
    t.tcp(0.3, false, &ready(b"PUB"));
    t.tcp(0.4, true, &cmd(b"SUBSCRIBE", b"weather"));
    // A two-part message (topic, data) and a one-part one in one segment.
    let mut batch = frame(0x01, b"weather");
    batch.extend_from_slice(&frame(0x00, b"sunny"));
    batch.extend_from_slice(&frame(0x00, b"weather rain"));
    t.tcp(5.0, false, &batch);
    t.tcp(6.0, true, &cmd(b"CANCEL", b"weather"));
    let got = rows(&t.finish());
    let sub = |kind: &str, len| {
        (
            TYPE_SESSION,
            kind.to_string(),
            "weather".to_string(),
            0,
            String::new(),
            len,
            "3.1".to_string(),
        )
    };
    assert_eq!(
        got[4..],
        [
            sub("Command", (17, -1)),
            row("Message", (-1, 7)),
            row("Message", (-1, 5)),
            row("Message", (-1, 12)),
            sub("Command", (14, -1)),
        ]
    );
}

#[test]
fn errors_are_client_or_server_errors_by_sender() {
    let mut t = talk();
    t.tcp(0.0, true, &greeting(b"PLAIN", false));
    t.tcp(0.1, false, &greeting(b"PLAIN", true));
    t.tcp(0.2, true, &cmd(b"HELLO", b"\x04user\x04pass"));
    // libzmq's own encoding of ERROR: name length and first letter as 0x5E.
    let mut body = b"\x5eRROR".to_vec();
    body.extend_from_slice(b"\x03400");
    t.tcp(0.3, false, &frame(0x04, &body));
    t.tcp(0.4, true, &cmd(b"ERROR", b"\x0cno mechanism"));
    let got = rows(&t.finish());
    assert_eq!((got[3].3, got[3].4.as_str()), (3, "400"), "{got:?}");
    assert_eq!(
        (got[4].3, got[4].4.as_str()),
        (4, "no mechanism"),
        "{got:?}"
    );
}

#[test]
fn a_gap_resynchronises_on_the_next_frame() {
    let mut t = talk();
    let convo = req_rep();
    for (i, (client, m)) in convo[..4].iter().enumerate() {
        t.tcp(i as f64, *client, m);
    }
    // Half of a long request is lost: the rest of it is not read as frames.
    let long = envelope(&[0x04; 600]);
    t.tcp(5.0, true, &long[..300]);
    t.skip(true, 100);
    t.tcp(6.0, true, &long[400..]);
    t.tcp(7.0, false, &envelope(b"ok"));
    t.tcp(8.0, true, &envelope(b"next"));
    t.tcp(9.0, false, &envelope(b"done"));
    let got = rows(&t.finish());
    // What was read of the long request and its reply pair; the lost part made no rows.
    assert_eq!(
        got[4..],
        [row("Message", (600, 2)), row("Message", (4, 4))],
        "{got:?}"
    );
}

#[test]
fn hostile_frames_never_panic() {
    let convo = req_rep();
    let seeds: Vec<&[u8]> = convo.iter().map(|(_, m)| m.as_slice()).collect();
    hostile_talks(&seeds, 400, 12, talk);
}

#[test]
fn off_unless_enabled() {
    let mut t = Talk::new(5555);
    for (i, (client, m)) in req_rep().iter().enumerate() {
        t.tcp(i as f64, *client, m);
    }
    assert!(t.finish().l7.is_empty());
}

#[test]
fn decoders_and_probe() {
    let g = greeting(b"CURVE", true);
    let p = parse_greeting(&g).expect("greeting");
    assert_eq!((p.major, p.minor, p.mechanism), (3, 1, Mechanism::Curve));
    let mut bad = g.clone();
    bad[40] = 1;
    assert!(parse_greeting(&bad).is_none(), "filler must be zeros");
    assert!(parse_greeting(&g[..63]).is_none());

    assert_eq!(ZmtpSession::probe(&g[..11], Transport::Tcp), Probe::Certain);
    assert_eq!(ZmtpSession::probe(&g[..5], Transport::Tcp), Probe::Unsure);
    assert_eq!(ZmtpSession::probe(&g, Transport::Udp), Probe::NotForUs);
    assert_eq!(
        ZmtpSession::probe(&cmd(b"PING", b"\0\x10"), Transport::Tcp),
        Probe::Certain
    );
    assert_eq!(
        ZmtpSession::probe(&cmd(b"GET", b"/"), Transport::Tcp),
        Probe::NotForUs
    );
    assert_eq!(
        ZmtpSession::probe(b"GET / HTTP/1.1\r\n", Transport::Tcp),
        Probe::NotForUs
    );

    let h = FrameHeader::read(&frame(0x03, &[0; 256])).expect("long");
    assert_eq!((h.more, h.command, h.size, h.len), (true, false, 256, 9));
    assert!(
        FrameHeader::read(&[0x02, 0, 0, 0, 0x80, 0, 0, 0, 0]).is_none(),
        "2^31"
    );
    assert!(
        FrameHeader::read(&[0x05, 0]).is_none(),
        "a command with MORE"
    );
    assert!(FrameHeader::read(&[0x08, 0]).is_none(), "reserved bits");
    assert!(FrameHeader::read(&[0x02, 0, 0]).is_none(), "cut");

    let r = ready(b"ROUTER");
    let (name, data) = command(&r[2..]).expect("command");
    assert_eq!(name, b"READY");
    assert_eq!(property(data, b"socket-type"), Some(&b"ROUTER"[..]));
    assert_eq!(property(data, b"Identity"), None);
    assert_eq!(
        property(&data[..data.len() - 2], b"Socket-Type"),
        Some(&b"ROUT"[..])
    );
    assert_eq!(std::mem::size_of::<ZmtpSession>(), 88);
}
