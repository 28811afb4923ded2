//! MySQL through the whole analyzer (inference, reassembly, pairing) and its decoders.

use super::session::MysqlSession;
use super::wire::{lenenc, parse_err, parse_greeting};
use crate::l7::parser::{L7Parser, Transport};
use crate::l7::talk::{hostile_talks, s, same_rows_at_every_cut, Talk};
use crate::l7::{ParserKind, Probe};
use crate::record::l7::{TYPE_REQUEST, TYPE_SESSION};
use crate::record::{Collected, L7FlowLog};

fn pkt(seq: u8, payload: &[u8]) -> Vec<u8> {
    let n = payload.len() as u32;
    let mut v = vec![n as u8, (n >> 8) as u8, (n >> 16) as u8, seq];
    v.extend_from_slice(payload);
    v
}

/// Protocol 10 greeting with `caps` (low and high halves).
fn greeting(caps: u32) -> Vec<u8> {
    let mut p = vec![10];
    p.extend(b"10.11.6-MariaDB\0");
    p.extend(42u32.to_le_bytes());
    p.extend(b"abcdefgh\0");
    p.extend((caps as u16).to_le_bytes());
    p.push(33);
    p.extend([2, 0]);
    p.extend(((caps >> 16) as u16).to_le_bytes());
    p.extend([21; 11]);
    pkt(0, &p)
}

fn handshake_response(caps: u32) -> Vec<u8> {
    let mut p = caps.to_le_bytes().to_vec();
    p.extend(16_777_216u32.to_le_bytes());
    p.push(33);
    p.extend([0; 23]);
    p.extend(b"root\0\0");
    pkt(1, &p)
}

fn query(sql: &str) -> Vec<u8> {
    let mut p = vec![0x03];
    p.extend(sql.as_bytes());
    pkt(0, &p)
}

fn ok(seq: u8, affected: u8) -> Vec<u8> {
    pkt(seq, &[0x00, affected, 0, 2, 0, 0, 0])
}

fn err(code: u16, state: &str, msg: &str) -> Vec<u8> {
    let mut p = vec![0xff];
    p.extend(code.to_le_bytes());
    p.push(b'#');
    p.extend(state.as_bytes());
    p.extend(msg.as_bytes());
    pkt(1, &p)
}

/// A result set of `rows` one-column rows: column count, definition, EOF, rows, EOF.
fn result_set(rows: usize, value: &[u8]) -> Vec<u8> {
    let mut v = pkt(1, &[1]);
    v.extend(pkt(
        2,
        b"\x03def\x00\x00\x00\x01a\x00\x0c\x21\x00\x0b\x00\x00\x00\x08\x81\x00\x00\x00\x00",
    ));
    v.extend(pkt(3, &[0xfe, 0, 0, 2, 0]));
    for i in 0..rows {
        let mut r = vec![value.len() as u8];
        r.extend(value);
        v.extend(pkt((4 + i) as u8, &r));
    }
    v.extend(pkt((4 + rows) as u8, &[0xfe, 0, 0, 2, 0]));
    v
}

const CAPS: u32 = 0x0000_a20f; // PROTOCOL_41 | long password | ... (no SSL, no compression)

fn login(t: &mut Talk) {
    t.tcp(0.0, false, &greeting(CAPS | 0x20 | 0x800));
    t.tcp(0.1, true, &handshake_response(CAPS));
    t.tcp(0.2, false, &ok(2, 0));
}

/// The rows after the login's.
fn after_login(out: &Collected) -> impl Iterator<Item = &L7FlowLog> {
    out.l7.iter().filter(|r| s(&r.request_type) != "Login")
}

fn counter(t: &Talk, i: usize) -> u64 {
    t.an.counters().l7.protocol_counter(ParserKind::Mysql, i)
}

#[test]
fn decoders_and_probe() {
    let g = greeting(CAPS);
    let p = parse_greeting(&g[4..]).unwrap();
    assert_eq!(
        (p.version, p.connection_id, p.caps),
        (&b"10.11.6-MariaDB"[..], 42, CAPS)
    );
    let e = err(1064, "42000", "syntax");
    let e = parse_err(&e[4..]).unwrap();
    assert_eq!(
        (e.code, e.state, e.message),
        (1064, Some(&b"42000"[..]), &b"syntax"[..])
    );
    assert_eq!(lenenc(&[0xfc, 0x10, 0x27]), Some((10_000, 3)));
    let t = Transport::Tcp;
    assert_eq!(MysqlSession::probe(&g, t), Probe::Certain);
    assert_eq!(MysqlSession::probe(&query("select 1"), t), Probe::Certain);
    assert_eq!(MysqlSession::probe(&g[..2], t), Probe::NotForUs);
    assert_eq!(MysqlSession::probe(&g[..20], t), Probe::Unsure);
    assert_eq!(
        MysqlSession::probe(b"GET / HTTP/1.1\r\n", t),
        Probe::NotForUs
    );
    assert_eq!(MysqlSession::sent_by_client(&g, t), Some(false));
    assert_eq!(MysqlSession::sent_by_client(&query("x"), t), Some(true));
}

#[test]
fn commands_pair_with_the_head_of_their_replies() {
    let mut t = Talk::new(3306);
    login(&mut t);
    t.tcp(1.0, true, &query("select a from t"));
    t.tcp(1.3, false, &result_set(3, b"xyz"));
    t.tcp(2.0, true, &query("insert into t values (1), (2)"));
    t.tcp(2.1, false, &ok(1, 2));
    t.tcp(3.0, true, &query("selec 1"));
    t.tcp(
        3.1,
        false,
        &err(1064, "42000", "You have an error in your SQL syntax"),
    );
    t.tcp(4.0, true, &query("select * from nope"));
    t.tcp(
        4.1,
        false,
        &err(1146, "42S02", "Table 'test.nope' doesn't exist"),
    );
    t.tcp(5.0, true, &query("select 1"));
    t.tcp(
        5.1,
        false,
        &err(1205, "HY000", "Lock wait timeout exceeded"),
    );
    t.tcp(6.0, true, &pkt(0, b"\x02shop"));
    t.tcp(6.1, false, &ok(1, 0));
    t.tcp(7.0, true, &pkt(0, b"\x16select ? from t"));
    // The prepare's OK (one column, one parameter), then their definitions, each list closed.
    let mut prepared = pkt(1, &[0x00, 7, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0]);
    let def = b"\x03def\x00\x00\x00\x01?\x00\x0c\x3f\x00\x00\x00\x00\x00\xfd\x80\x00\x00\x00\x00";
    prepared.extend(pkt(2, def));
    prepared.extend(pkt(3, &[0xfe, 0, 0, 2, 0]));
    prepared.extend(pkt(4, def));
    prepared.extend(pkt(5, &[0xfe, 0, 0, 2, 0]));
    t.tcp(7.1, false, &prepared);
    t.tcp(8.0, true, &pkt(0, &[0x17, 7, 0, 0, 0, 0, 1, 0, 0, 0]));
    t.tcp(8.2, false, &ok(1, 1));
    t.tcp(9.0, true, &pkt(0, &[0x19, 7, 0, 0, 0]));
    t.tcp(9.5, true, &pkt(0, &[0x01]));
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
                r.request_id,
                r.sql_affected_rows,
            )
        })
        .collect();
    let w = |a: &str, b: &str, ty, st, code, id, rows| {
        (a.to_string(), b.to_string(), ty, st, code, id, rows)
    };
    assert_eq!(
        got,
        [
            w("Login", "Login username: root db: ", 2, 0, None, None, None),
            w(
                "COM_QUERY",
                "select a from t",
                TYPE_SESSION,
                0,
                None,
                None,
                None
            ),
            w(
                "COM_QUERY",
                "insert into t values (1), (2)",
                TYPE_SESSION,
                0,
                None,
                None,
                Some(2)
            ),
            w(
                "COM_QUERY",
                "selec 1",
                TYPE_SESSION,
                4,
                Some(1064),
                None,
                None
            ),
            w(
                "COM_QUERY",
                "select * from nope",
                TYPE_SESSION,
                4,
                Some(1146),
                None,
                None
            ),
            w(
                "COM_QUERY",
                "select 1",
                TYPE_SESSION,
                3,
                Some(1205),
                None,
                None
            ),
            w("COM_INIT_DB", "shop", TYPE_SESSION, 0, None, None, Some(0)),
            w(
                "COM_STMT_PREPARE",
                "select ? from t",
                TYPE_SESSION,
                0,
                None,
                Some(7),
                None
            ),
            w(
                "COM_STMT_EXECUTE",
                "",
                TYPE_SESSION,
                0,
                None,
                Some(7),
                Some(1)
            ),
            w("COM_STMT_CLOSE", "", TYPE_REQUEST, 0, None, Some(7), None),
            w("COM_QUIT", "", TYPE_REQUEST, 0, None, None, None),
        ]
    );
    // The table each statement works on is its endpoint.
    let endpoints: Vec<_> = out.l7.iter().map(|r| s(&r.endpoint)).collect();
    assert_eq!(
        endpoints,
        ["", "t", "t", "", "nope", "", "", "t", "", "", ""]
    );
    // The login: handshake response at 0.1 ms, OK at 0.2 ms.
    assert_eq!(out.l7[0].response_duration, 100);
    assert_eq!(out.l7[1].response_duration, 300);
    assert_eq!(s(&out.l7[6].request_domain), "shop");
    assert_eq!(
        s(&out.l7[4].response_exception),
        "Table 'test.nope' doesn't exist"
    );
    let l4 = &out.l4[0];
    assert_eq!((l4.l7_protocol, l4.l7_request, l4.l7_response), (60, 11, 9));
    assert_eq!((l4.l7_client_error, l4.l7_server_error), (2, 1));
}

#[test]
fn every_split_and_large_result_sets() {
    let mut req = query("select v from big");
    req.extend(query("select 2"));
    let mut rep = result_set(2000, &[b'r'; 200]);
    rep.extend(ok(1, 0));
    for cut in (1..req.len()).chain([rep.len() / 3, rep.len() - 1]) {
        let mut t = Talk::new(3306);
        login(&mut t);
        let rc = cut.min(req.len() - 1);
        t.tcp(1.0, true, &req[..rc]);
        t.tcp(1.1, true, &req[rc..]);
        for (i, c) in rep.chunks(1400).enumerate() {
            t.tcp(2.0 + i as f64 * 0.01, false, c);
        }
        let out = t.finish();
        let got: Vec<_> = after_login(&out)
            .map(|r| (s(&r.request_resource).to_string(), r.row_type))
            .collect();
        assert_eq!(
            got,
            [
                ("select v from big".to_string(), TYPE_SESSION),
                ("select 2".to_string(), TYPE_SESSION)
            ],
            "cut {cut}"
        );
    }
}

#[test]
fn tls_and_compression_end_parsing_cleanly() {
    let mut t = Talk::new(3306);
    t.tcp(0.0, false, &greeting(CAPS | 0x800));
    let mut ssl = (CAPS | 0x800).to_le_bytes().to_vec();
    ssl.extend(16_777_216u32.to_le_bytes());
    ssl.push(33);
    ssl.extend([0; 23]);
    t.tcp(0.1, true, &pkt(1, &ssl));
    t.tcp(
        0.2,
        true,
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 hello, encrypted",
    );
    t.tcp(
        0.3,
        false,
        b"\x16\x03\x03\x00\x5a\x02\x00\x00\x56\x03\x03 server hello",
    );
    assert_eq!(counter(&t, 0), 1);
    let errors = t.an.counters().l7.parse_errors;
    assert!(t.finish().l7.is_empty());
    assert_eq!(errors, 0, "not misparsed");

    // `decompress_payload: false`: the compressed protocol is counted and left alone.
    let mut cfg = crate::AnalyzerConfig::default();
    cfg.l7.protocols.mysql.keep_compressed = true;
    let mut t = Talk::with(cfg, 3306);
    t.tcp(0.0, false, &greeting(CAPS | 0x20));
    t.tcp(0.1, true, &handshake_response(CAPS | 0x20));
    t.tcp(0.2, false, &ok(2, 0));
    t.tcp(
        1.0,
        true,
        b"\x0f\x00\x00\x00\x00\x00\x00\x0b\x00\x00\x00\x03select 1",
    );
    assert_eq!(counter(&t, 1), 1);
    let rows = t.finish().l7;
    assert_eq!(rows.len(), 1);
    assert_eq!(s(&rows[0].request_type), "Login");
}

#[test]
fn zstd_compression_is_counted_and_left_alone() {
    // MySQL 8's zstd protocol compression (CLIENT_ZSTD_COMPRESSION_ALGORITHM): not read.
    let zstd = 0x400_0000;
    let mut t = Talk::new(3306);
    t.tcp(0.0, false, &greeting(CAPS | zstd));
    t.tcp(0.1, true, &handshake_response(CAPS | zstd));
    t.tcp(0.2, false, &ok(2, 0));
    let mut frame = vec![0x11, 0, 0, 0, 0x0d, 0, 0];
    frame.extend([
        0x28, 0xb5, 0x2f, 0xfd, 0x20, 0x0d, 0x69, 0, 0, 0, 0, 0, 3, 0x73, 0x65, 0x6c, 0x65,
    ]);
    t.tcp(1.0, true, &frame);
    t.tcp(1.1, false, &frame);
    assert_eq!(counter(&t, 1), 1);
    let errors = t.an.counters().l7.parse_errors;
    let rows = t.finish().l7;
    assert_eq!(errors, 0);
    assert_eq!(rows.len(), 1);
    assert_eq!(s(&rows[0].request_type), "Login");
}

/// A compressed packet: `plain` zlib-compressed (or sent as it is).
fn cpkt(seq: u8, plain: &[u8], compress: bool) -> Vec<u8> {
    use std::io::Write;
    let (body, plain_len) = if compress {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(plain).unwrap();
        (z.finish().unwrap(), plain.len() as u32)
    } else {
        (plain.to_vec(), 0)
    };
    let n = body.len() as u32;
    let mut v = vec![n as u8, (n >> 8) as u8, (n >> 16) as u8, seq];
    v.extend(&plain_len.to_le_bytes()[..3]);
    v.extend(body);
    v
}

/// A compressed conversation after a login with compression: (from the client, segment).
fn compressed_conversation() -> Vec<(bool, Vec<u8>)> {
    let long = format!("select name from items where name = '{}'", "x".repeat(300));
    // A reply of 40 rows split in two bodies, the cut inside a packet.
    let rows = result_set(40, &[b'v'; 90]);
    let mut pipelined = query("select 3");
    pipelined.extend(query("insert into t values (4)"));
    let mut two_replies = result_set(1, b"3");
    two_replies.extend(ok(1, 1));
    vec![
        (true, cpkt(0, &query("select 1"), false)),
        (false, cpkt(1, &result_set(1, b"1"), true)),
        (true, cpkt(0, &query(&long), true)),
        (
            false,
            cpkt(
                1,
                &err(1146, "42S02", "Table 'test.items' doesn't exist"),
                true,
            ),
        ),
        (true, cpkt(0, &query("select v from t"), false)),
        (false, cpkt(1, &rows[..1777], true)),
        (false, cpkt(2, &rows[1777..], true)),
        (true, cpkt(0, &pipelined, true)),
        (false, cpkt(1, &two_replies, false)),
    ]
}

fn compressed_login(t: &mut Talk) {
    t.tcp(0.0, false, &greeting(CAPS | 0x20));
    t.tcp(0.1, true, &handshake_response(CAPS | 0x20));
    t.tcp(0.2, false, &ok(2, 0));
}

#[test]
fn the_compressed_protocol_is_read() {
    let mut t = Talk::new(3306);
    compressed_login(&mut t);
    for (i, (client, m)) in compressed_conversation().iter().enumerate() {
        t.tcp(1.0 + i as f64, *client, m);
    }
    assert_eq!(counter(&t, 1), 1);
    let errors = t.an.counters().l7.parse_errors;
    let out = t.finish();
    assert_eq!(errors, 0);
    let got: Vec<_> = after_login(&out)
        .map(|r| {
            (
                s(&r.request_resource).to_string(),
                r.row_type,
                r.response_code,
                r.sql_affected_rows,
            )
        })
        .collect();
    let long = format!("select name from items where name = '{}'", "x".repeat(300));
    let w = |q: &str, code, rows| (q.to_string(), TYPE_SESSION, code, rows);
    assert_eq!(
        got,
        [
            w("select 1", None, None),
            w(&long[..256], Some(1146), None),
            w("select v from t", None, None),
            w("select 3", None, None),
            w("insert into t values (4)", None, Some(1)),
        ]
    );
}

#[test]
fn compressed_bodies_cut_anywhere_give_the_same_rows() {
    same_rows_at_every_cut(&compressed_conversation(), || {
        let mut t = Talk::new(3306);
        compressed_login(&mut t);
        t
    });
}

#[test]
fn large_compressed_replies_and_bad_bodies_lose_only_their_own_rows() {
    let mut t = Talk::new(3306);
    compressed_login(&mut t);
    // A reply of 200 KB in bodies of 16 KB: its first body's head is read, the rest skipped.
    t.tcp(1.0, true, &cpkt(0, &query("select v from big"), false));
    let big = result_set(2000, &[b'r'; 100]);
    for (i, part) in big.chunks(16_384).enumerate() {
        let body = cpkt(1 + i as u8, part, true);
        for c in body.chunks(1400) {
            t.tcp(1.1 + i as f64 * 0.01, false, c);
        }
    }
    // A body that does not compress (longer than what is held): its head is inflated from the
    // held part of it.
    t.tcp(1.5, true, &cpkt(0, &query("select r from noise"), false));
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut noisy = result_set(0, b"");
    noisy.truncate(noisy.len() - 9);
    for i in 0..30u8 {
        let mut row = vec![200];
        row.extend((0..200).map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        }));
        noisy.extend(pkt(4 + i, &row));
    }
    noisy.extend(pkt(34, &[0xfe, 0, 0, 2, 0]));
    let body = cpkt(1, &noisy, true);
    assert!(body.len() > 5000);
    for c in body.chunks(1400) {
        t.tcp(1.6, false, c);
    }
    t.tcp(2.0, true, &cpkt(0, &query("select 2"), true));
    t.tcp(2.1, false, &cpkt(1, &result_set(1, b"2"), true));
    // A body that is not zlib: a parse error, and the next command is read again.
    t.tcp(3.0, true, &cpkt(0, &query("select 3"), true));
    let mut bad = cpkt(1, &result_set(1, b"3"), true);
    bad[7] = 0x13;
    t.tcp(3.1, false, &bad);
    t.tcp(4.0, true, &cpkt(0, &query("select 4"), false));
    t.tcp(4.1, false, &cpkt(1, &ok(1, 0), false));
    // The first segment of a reply lost: picked up again at the next reply's first body.
    t.tcp(5.0, true, &cpkt(0, &query("select 5"), true));
    let lost = cpkt(1, &result_set(3, b"five"), false);
    t.skip(false, 20);
    t.tcp(5.1, false, &lost[20..]);
    t.tcp(6.0, true, &cpkt(0, &query("select 6"), true));
    t.tcp(6.1, false, &cpkt(1, &err(1064, "42000", "syntax"), true));
    let errors = t.an.counters().l7.parse_errors;
    let out = t.finish();
    assert_eq!(errors, 1);
    let got: Vec<_> = after_login(&out)
        .map(|r| {
            (
                s(&r.request_resource).to_string(),
                r.row_type,
                r.response_status,
                r.response_code,
            )
        })
        .collect();
    let w = |q: &str, status, code| (q.to_string(), TYPE_SESSION, status, code);
    // The replies lost (the bad body, the lost segment) leave their requests to time out (status
    // 2, written at the end); every other reply pairs with its own command.
    assert_eq!(
        got,
        [
            w("select v from big", 0, None),
            w("select r from noise", 0, None),
            w("select 2", 0, None),
            w("select 4", 0, None),
            w("select 6", 4, Some(1064)),
            ("select 3".to_string(), TYPE_REQUEST, 2, None),
            ("select 5".to_string(), TYPE_REQUEST, 2, None),
        ]
    );
}

#[test]
fn hostile_compressed_bodies_never_panic() {
    let c = compressed_conversation();
    let mut seeds: Vec<&[u8]> = c.iter().map(|(_, m)| m.as_slice()).collect();
    let login = [greeting(CAPS | 0x20), ok(2, 0)];
    seeds.push(&login[0]);
    hostile_talks(&seeds, 3000, 8, || {
        let mut t = Talk::new(3306);
        compressed_login(&mut t);
        t
    });
}

#[test]
fn joined_mid_connection_and_hostile_input() {
    let mut t = Talk::new(3306);
    t.tcp(0.0, true, &query("select now()"));
    t.tcp(0.1, false, &result_set(1, b"2026"));
    assert_eq!(t.finish().l7.len(), 1);
    let seeds = [
        query("select 1"),
        result_set(3, b"abc"),
        err(1064, "42000", "bad"),
        greeting(CAPS),
    ];
    hostile_talks(
        &seeds.iter().map(Vec::as_slice).collect::<Vec<_>>(),
        3000,
        6,
        || Talk::new(3306),
    );
}

#[test]
fn trace_ids_from_sql_comments() {
    let mut t = Talk::new(3306);
    login(&mut t);
    t.tcp(
        1.0,
        true,
        &query(
            "/* traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01 */ select 1",
        ),
    );
    t.tcp(1.1, false, &result_set(1, b"1"));
    t.tcp(
        2.0,
        true,
        &query("select 2 /*traceparent='00-11111111111111111111111111111111-2222222222222222-01',tracestate='x'*/"),
    );
    t.tcp(2.1, false, &result_set(1, b"2"));
    t.tcp(3.0, true, &query("select '/*' from t"));
    t.tcp(3.1, false, &result_set(1, b"3"));
    let out = t.finish();
    let ids: Vec<_> = after_login(&out)
        .map(|r| (s(&r.trace_id).to_string(), s(&r.span_id).to_string()))
        .collect();
    assert_eq!(
        ids,
        [
            (
                "0af7651916cd43dd8448eb211c80319c".to_string(),
                "b7ad6b7169203331".to_string()
            ),
            (
                "11111111111111111111111111111111".to_string(),
                "2222222222222222".to_string()
            ),
            (String::new(), String::new()),
        ]
    );
}

#[test]
fn literals_hidden_when_obfuscation_is_on() {
    let mut cfg = crate::AnalyzerConfig::default();
    cfg.l7.protocols.mysql.obfuscate = true;
    let mut t = Talk::with(cfg, 3306);
    login(&mut t);
    t.tcp(
        1.0,
        true,
        &query("insert into t values (1, 'secret'), (2, \"pw\")"),
    );
    t.tcp(1.1, false, &ok(1, 2));
    let mut prep = vec![0x16];
    prep.extend(b"select * from t where id = ? and name <> 'x'");
    t.tcp(2.0, true, &pkt(0, &prep));
    t.tcp(
        2.1,
        false,
        &err(1146, "42S02", "Table 'shop.t' doesn't exist"),
    );
    let out = t.finish();
    let got: Vec<_> = after_login(&out)
        .map(|r| s(&r.request_resource).to_string())
        .collect();
    assert_eq!(
        got,
        [
            "insert into t values (?), (?)",
            "select * from t where id = ? and name <> ?"
        ]
    );
}

#[test]
fn login_is_a_row_answered_by_the_end_of_authentication() {
    // A database named in the login, an auth switch, then access denied.
    let mut t = Talk::new(3306);
    t.tcp(0.0, false, &greeting(CAPS | 0x0008_0000));
    let mut p = (CAPS | 0x0020_0000).to_le_bytes().to_vec();
    p.extend(16_777_216u32.to_le_bytes());
    p.push(33);
    p.extend([0; 23]);
    p.extend(b"app\0");
    p.extend([3, 1, 2, 3]);
    p.extend(b"shop\0mysql_native_password\0");
    t.tcp(0.1, true, &pkt(1, &p));
    t.tcp(0.2, false, &pkt(2, b"\xfemysql_native_password\0salt"));
    t.tcp(0.3, true, &pkt(3, &[9; 20]));
    t.tcp(
        1.3,
        false,
        &err(1045, "28000", "Access denied for user 'app'"),
    );
    let rows = t.finish().l7;
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(
        (
            s(&r.request_type),
            s(&r.request_resource),
            s(&r.request_domain)
        ),
        ("Login", "Login username: app db: shop", "shop")
    );
    assert_eq!((r.row_type, r.response_status), (TYPE_SESSION, 4));
    assert_eq!(
        (r.response_code, r.response_duration),
        (Some(1045), 1_200_000 / 1000)
    );
    assert_eq!(r.sql_affected_rows, None);
}

#[test]
fn a_compressed_connection_joined_after_its_login_is_read() {
    let mut t = Talk::new(3306);
    let long = format!("select name from items where name = '{}'", "y".repeat(80));
    t.tcp(1.0, true, &cpkt(0, &query(&long), true));
    t.tcp(1.1, false, &cpkt(1, &result_set(2, b"ab"), true));
    t.tcp(2.0, true, &cpkt(0, &query("select 1"), false));
    t.tcp(2.1, false, &cpkt(1, &err(1146, "42S02", "no table"), false));
    assert_eq!(counter(&t, 1), 1);
    let out = t.finish();
    let got: Vec<_> = out
        .l7
        .iter()
        .map(|r| {
            (
                s(&r.request_resource).to_string(),
                r.row_type,
                r.response_code,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (long, TYPE_SESSION, None),
            ("select 1".to_string(), TYPE_SESSION, Some(1146)),
        ]
    );
    // `decompress_payload: false`: counted, no row (not even a misread one).
    let mut cfg = crate::AnalyzerConfig::default();
    cfg.l7.protocols.mysql.keep_compressed = true;
    let mut t = Talk::with(cfg, 3306);
    t.tcp(1.0, true, &cpkt(0, &query("select 1"), false));
    t.tcp(1.1, false, &cpkt(1, &ok(1, 0), false));
    assert_eq!(counter(&t, 1), 1);
    assert!(t.finish().l7.is_empty());
    // A compressed command is the client's, and a compressed query is MySQL.
    let q = cpkt(0, &query("select id from t"), true);
    assert_eq!(MysqlSession::probe(&q, Transport::Tcp), Probe::Certain);
    assert_eq!(MysqlSession::sent_by_client(&q, Transport::Tcp), Some(true));
    let reply = cpkt(1, &result_set(1, b"1"), true);
    assert_eq!(MysqlSession::probe(&reply, Transport::Tcp), Probe::NotForUs);
}
