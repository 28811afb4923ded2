//! Ping through the whole analyzer (the ICMP path into the L7 layer, pairing, timeouts) and
//! its decoder.

use super::session::PingSession;
use super::wire::{parse_echo, Echo};
use crate::l7::parser::{L7Parser, Transport};
use crate::l7::talk::{s, Talk, MS, T0};
use crate::l7::{L7Protocol, Probe};
use crate::record::l7::{TYPE_REQUEST, TYPE_RESPONSE, TYPE_SESSION};
use crate::wire::build;
use crate::AnalyzerConfig;

const DATA: [u8; 56] = [0x5a; 56];

fn talk() -> Talk {
    let mut cfg = AnalyzerConfig::default();
    cfg.l7.enabled.insert(L7Protocol::Ping);
    Talk::with(cfg, 0)
}

/// (row type, request_resource, request_id, status, request/response lengths, duration µs).
type Row = (u8, String, Option<u32>, u8, (i64, i64), u64);

fn rows(out: &crate::record::Collected) -> Vec<Row> {
    out.l7
        .iter()
        .map(|r| {
            assert_eq!(r.l7_protocol, 122);
            assert_eq!(r.l7_protocol_str, "Ping");
            assert!(r.request_type.is_empty() && r.endpoint.is_empty());
            (
                r.row_type,
                s(&r.request_resource).to_string(),
                r.request_id,
                r.response_status,
                (r.request_length, r.response_length),
                r.response_duration,
            )
        })
        .collect()
}

#[test]
fn echoes_pair_by_identifier_and_sequence() {
    let mut t = talk();
    // Two pings between the same hosts share the flow; their replies come out of order.
    t.echo(0.0, false, (700, 1), &DATA);
    t.echo(0.5, false, (701, 1), &DATA[..16]);
    t.echo(2.0, true, (701, 1), &DATA[..16]);
    t.echo(3.0, true, (700, 1), &DATA);
    t.echo(1000.0, false, (700, 2), &DATA);
    t.echo(1001.5, true, (700, 2), &DATA);
    let out = t.finish();
    assert_eq!(
        rows(&out),
        vec![
            (TYPE_SESSION, "701".into(), Some(1), 0, (16, 16), 1500),
            (TYPE_SESSION, "700".into(), Some(1), 0, (56, 56), 3000),
            (TYPE_SESSION, "700".into(), Some(2), 0, (56, 56), 1500),
        ]
    );
    let r = &out.l7[0];
    assert_eq!(r.start_time, (T0 + MS / 2) / 1_000);
    assert_eq!(r.captured_request_byte, 24);
    // The flow's L7 performance and protocol.
    let l4: Vec<_> = out.l4.iter().filter(|f| f.l7_protocol == 122).collect();
    assert_eq!(l4.len(), 1, "{:?}", out.l4);
    let (req, resp) = l4
        .iter()
        .fold((0, 0), |(a, b), f| (a + f.l7_request, b + f.l7_response));
    assert_eq!((req, resp), (3, 3));
    assert_eq!(l4[0].l7_protocol_str, "Ping");
}

#[test]
fn unanswered_requests_time_out_and_lone_replies_are_responses() {
    let mut t = talk();
    t.echo(0.0, false, (9, 1), &DATA);
    t.echo(1000.0, false, (9, 2), &DATA);
    t.echo(1000.4, true, (9, 2), &DATA);
    // A reply whose request the capture missed.
    t.echo(2000.0, true, (9, 7), &DATA);
    let out = t.finish();
    let mut got = rows(&out);
    got.sort();
    assert_eq!(
        got,
        vec![
            (TYPE_REQUEST, "9".into(), Some(1), 2, (56, -1), 0),
            (TYPE_RESPONSE, "9".into(), Some(7), 0, (-1, 56), 0),
            (TYPE_SESSION, "9".into(), Some(2), 0, (56, 56), 400),
        ]
    );
    let timeouts: u32 = out.l4.iter().map(|f| f.l7_timeout).sum();
    assert_eq!(timeouts, 1);
}

#[test]
fn icmpv6_echoes_are_read_too() {
    let mut t = talk();
    let (c, srv) = (
        "2001:db8::1".parse().unwrap(),
        "2001:db8::2".parse().unwrap(),
    );
    for (at, reply, (src, dst)) in [(0.0, false, (c, srv)), (0.25, true, (srv, c))] {
        let msg = build::icmp_echo(src, dst, reply, 3, 4, &DATA[..8]);
        t.frame(at, build::ip(src, dst, build::icmp_proto(src), 0, 64, &msg));
    }
    let out = t.finish();
    assert_eq!(
        rows(&out),
        vec![(TYPE_SESSION, "3".into(), Some(4), 0, (8, 8), 250)]
    );
}

#[test]
fn off_unless_enabled_and_other_icmp_is_never_a_row() {
    // DeepFlow's default enabled_protocols leave Ping out.
    let mut t = Talk::new(0);
    t.echo(0.0, false, (1, 1), &DATA);
    t.echo(1.0, true, (1, 1), &DATA);
    let out = t.finish();
    assert!(out.l7.is_empty());
    assert!(out.l4.iter().all(|f| f.l7_protocol == 0));

    // Destination unreachable, a timestamp request, an echo with a code: no rows, no panic.
    let mut t = talk();
    let (c, srv) = (crate::l7::talk::cip(), crate::l7::talk::sip());
    for (i, m) in [
        vec![3u8, 1, 0, 0, 0, 0, 0, 0, 0x45, 0],
        vec![13, 0, 0, 0, 0, 1, 0, 1],
        vec![8, 5, 0, 0, 0, 1, 0, 1],
        vec![8, 0, 0],
    ]
    .into_iter()
    .enumerate()
    {
        t.frame(i as f64, build::ip(c, srv, 1, 0, 64, &m));
    }
    let out = t.finish();
    assert!(out.l7.is_empty(), "{:?}", out.l7);
}

#[test]
fn hostile_echo_bytes_never_panic() {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for round in 0..2_000u32 {
        let mut t = talk();
        for i in 0..4 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 40) as usize;
            let mut m: Vec<u8> = (0..len).map(|j| (x >> (j % 8 * 8)) as u8).collect();
            if let Some(b) = m.first_mut() {
                *b = [0, 8, 128, 129][(round as usize + i) % 4];
            }
            let (c, srv) = (crate::l7::talk::cip(), crate::l7::talk::sip());
            let (src, dst) = if i % 2 == 0 { (c, srv) } else { (srv, c) };
            t.frame(i as f64, build::ip(src, dst, 1, 0, 64, &m));
        }
        assert!(t.finish().l7.len() <= 4, "round {round}");
    }
}

#[test]
fn decoder_and_probe() {
    let req = build::icmp_echo(
        crate::l7::talk::cip(),
        crate::l7::talk::sip(),
        false,
        0x1234,
        0xfffe,
        b"abc",
    );
    let e = parse_echo(&req).expect("echo");
    assert_eq!(
        e,
        Echo {
            is_reply: false,
            id: 0x1234,
            seq: 0xfffe,
            data_len: 3
        }
    );
    assert_eq!(e.key(), 0x1234_fffe);
    assert!(parse_echo(&req[..7]).is_none());
    assert_eq!(PingSession::probe(&req, Transport::Icmp), Probe::Certain);
    assert_eq!(PingSession::probe(&req, Transport::Udp), Probe::NotForUs);
    assert_eq!(
        PingSession::sent_by_client(&req, Transport::Icmp),
        Some(true)
    );
    let mut reply = req.clone();
    reply[0] = 0;
    assert_eq!(
        PingSession::sent_by_client(&reply, Transport::Icmp),
        Some(false)
    );
    assert_eq!(std::mem::size_of::<PingSession>(), 0);
}
