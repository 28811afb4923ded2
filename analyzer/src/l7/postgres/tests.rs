//! PostgreSQL through the whole analyzer (inference, reassembly, pairing) and its decoders.

use super::session::PostgresSession;
use super::wire::{error_fields, startup_param, tag_rows};
use crate::l7::parser::{L7Parser, Transport};
use crate::l7::talk::{hostile_talks, s, Talk};
use crate::l7::{L7Protocol, ParserKind, Probe};
use crate::record::l7::{TYPE_REQUEST, TYPE_SESSION};
use crate::AnalyzerConfig;

fn talk() -> Talk {
    let mut cfg = AnalyzerConfig::default();
    cfg.l7.enabled.insert(L7Protocol::Postgres);
    Talk::with(cfg, 5432)
}

fn msg(t: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![t];
    v.extend(((body.len() + 4) as u32).to_be_bytes());
    v.extend(body);
    v
}

fn cstr(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

fn startup(db: &str) -> Vec<u8> {
    let mut body = 196_608u32.to_be_bytes().to_vec();
    for p in ["user", "app", "database", db, ""] {
        body.extend(cstr(p));
    }
    let mut v = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    v.extend(body);
    v
}

fn ready() -> Vec<u8> {
    msg(b'Z', b"I")
}

fn complete(tag: &str) -> Vec<u8> {
    msg(b'C', &cstr(tag))
}

fn error(state: &str, m: &str) -> Vec<u8> {
    let mut b = Vec::new();
    for f in ["SERROR".to_string(), format!("C{state}"), format!("M{m}")] {
        b.extend(cstr(&f));
    }
    b.push(0);
    msg(b'E', &b)
}

fn login(t: &mut Talk) {
    t.tcp(0.0, true, &startup("shop"));
    let mut r = msg(b'R', &[0, 0, 0, 0]);
    r.extend(msg(b'S', b"server_version\x0016\x00"));
    r.extend(msg(b'K', &[0; 8]));
    r.extend(ready());
    t.tcp(0.1, false, &r);
}

#[test]
fn decoders_and_probe() {
    assert_eq!(tag_rows(b"INSERT 0 5\0"), Some(5));
    assert_eq!(tag_rows(b"SELECT 10"), Some(10));
    assert_eq!(tag_rows(b"BEGIN"), None);
    let e = error("42P01", "relation \"nope\" does not exist");
    assert_eq!(
        error_fields(&e[5..]),
        (
            Some(&b"42P01"[..]),
            &b"relation \"nope\" does not exist"[..]
        )
    );
    let st = startup("shop");
    assert_eq!(startup_param(&st[8..], b"database"), Some(&b"shop"[..]));
    let t = Transport::Tcp;
    assert_eq!(PostgresSession::probe(&st, t), Probe::Certain);
    assert_eq!(
        PostgresSession::probe(&msg(b'Q', &cstr("select 1")), t),
        Probe::Certain
    );
    assert_eq!(
        PostgresSession::probe(&[0, 0, 0, 8, 4, 0xd2, 0x16, 0x2f], t),
        Probe::Certain
    );
    assert_eq!(
        PostgresSession::probe(b"GET / HTTP/1.1\r\n", t),
        Probe::NotForUs
    );
    assert_eq!(PostgresSession::sent_by_client(&ready(), t), Some(false));
}

#[test]
fn simple_and_extended_queries_pair_with_ready_for_query() {
    let mut t = talk();
    login(&mut t);
    t.tcp(
        1.0,
        true,
        &msg(b'Q', &cstr("insert into t values (1), (2)")),
    );
    let mut r = complete("INSERT 0 2");
    r.extend(ready());
    t.tcp(1.2, false, &r);
    t.tcp(2.0, true, &msg(b'Q', &cstr("select * from nope")));
    let mut r = error("42P01", "relation \"nope\" does not exist");
    r.extend(ready());
    t.tcp(2.1, false, &r);
    t.tcp(3.0, true, &msg(b'Q', &cstr("select pg_sleep(1)")));
    let mut r = error("57014", "canceling statement due to statement timeout");
    r.extend(ready());
    t.tcp(3.5, false, &r);
    // Extended: Parse/Bind/Describe/Execute/Sync, then a second Bind/Execute/Sync pipelined.
    let mut c = msg(
        b'P',
        &[
            cstr("s1"),
            cstr("select id from t where id > $1"),
            vec![0, 0],
        ]
        .concat(),
    );
    c.extend(msg(
        b'B',
        &[
            cstr(""),
            cstr("s1"),
            vec![0, 0, 0, 1, 0, 0, 0, 1, b'0', 0, 0],
        ]
        .concat(),
    ));
    c.extend(msg(b'D', &[vec![b'P'], cstr("")].concat()));
    c.extend(msg(b'E', &[cstr(""), vec![0, 0, 0, 0]].concat()));
    c.extend(msg(b'S', &[]));
    c.extend(msg(
        b'B',
        &[cstr(""), cstr("s1"), vec![0, 0, 0, 0, 0, 0]].concat(),
    ));
    c.extend(msg(b'E', &[cstr(""), vec![0, 0, 0, 0]].concat()));
    c.extend(msg(b'S', &[]));
    t.tcp(4.0, true, &c);
    let mut r = msg(b'1', &[]);
    r.extend(msg(b'2', &[]));
    r.extend(msg(
        b'T',
        &[
            0, 1, b'i', b'd', 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 23, 0, 4, 255, 255, 255, 255, 0, 0,
        ],
    ));
    for _ in 0..2 {
        r.extend(msg(b'D', &[0, 1, 0, 0, 0, 1, b'2']));
    }
    r.extend(complete("SELECT 2"));
    r.extend(ready());
    r.extend(msg(b'2', &[]));
    r.extend(complete("SELECT 0"));
    r.extend(ready());
    t.tcp(4.4, false, &r);
    t.tcp(5.0, true, &msg(b'X', &[]));
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
                r.sql_affected_rows,
                s(&r.response_exception).to_string(),
            )
        })
        .collect();
    let w = |a: &str, b: &str, ty, st, rows, e: &str| {
        (a.to_string(), b.to_string(), ty, st, rows, e.to_string())
    };
    assert_eq!(
        got,
        [
            w(
                "Q",
                "insert into t values (1), (2)",
                TYPE_SESSION,
                0,
                Some(2),
                ""
            ),
            w(
                "Q",
                "select * from nope",
                TYPE_SESSION,
                4,
                None,
                "42P01 relation \"nope\" does not exist"
            ),
            w(
                "Q",
                "select pg_sleep(1)",
                TYPE_SESSION,
                3,
                None,
                "57014 canceling statement due to statement timeout"
            ),
            w(
                "P",
                "select id from t where id > $1",
                TYPE_SESSION,
                0,
                Some(2),
                ""
            ),
            w("E", "", TYPE_SESSION, 0, Some(0), ""),
            w("X", "", TYPE_REQUEST, 0, None, ""),
        ]
    );
    assert!(out.l7.iter().all(|r| s(&r.request_domain) == "shop"));
    assert_eq!(out.l7[0].response_duration, 200);
    assert_eq!(
        out.l7[4].response_duration, 400,
        "pipelined: RRT to the reply's first message"
    );
}

#[test]
fn every_split_large_results_and_copy() {
    let mut req = msg(b'Q', &cstr("select v from big"));
    req.extend(msg(b'Q', &cstr("copy t from stdin")));
    req.extend(msg(b'd', &[b'x'; 5000]));
    req.extend(msg(b'c', &[]));
    let mut rep = msg(
        b'T',
        &[
            0, 1, b'v', 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 25, 255, 255, 255, 255, 255, 255, 0, 0,
        ],
    );
    for _ in 0..3000 {
        rep.extend(msg(
            b'D',
            &[&[0, 1, 0, 0, 0, 100][..], &[b'r'; 100]].concat(),
        ));
    }
    rep.extend(complete("SELECT 3000"));
    rep.extend(ready());
    rep.extend(msg(b'G', &[0, 0, 0]));
    rep.extend(complete("COPY 1"));
    rep.extend(ready());
    for cut in (1..req.len()).step_by(97).chain([req.len() - 1]) {
        let mut t = talk();
        login(&mut t);
        t.tcp(1.0, true, &req[..cut]);
        for (i, c) in req[cut..].chunks(1400).enumerate() {
            t.tcp(1.1 + i as f64 * 0.01, true, c);
        }
        for (i, c) in rep.chunks(1400).enumerate() {
            t.tcp(2.0 + i as f64 * 0.01, false, c);
        }
        let out = t.finish();
        let got: Vec<_> = out
            .l7
            .iter()
            .map(|r| {
                (
                    s(&r.request_resource).to_string(),
                    r.row_type,
                    r.sql_affected_rows,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("select v from big".to_string(), TYPE_SESSION, Some(3000)),
                ("copy t from stdin".to_string(), TYPE_SESSION, Some(1)),
            ],
            "cut {cut}"
        );
    }
}

#[test]
fn ssl_answered_s_ends_parsing_and_n_continues() {
    let ssl = [0, 0, 0, 8, 4, 0xd2, 0x16, 0x2f];
    let mut t = talk();
    t.tcp(0.0, true, &ssl);
    t.tcp(0.1, false, b"S");
    t.tcp(
        0.2,
        true,
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 encrypted hello",
    );
    let tls = t.an.counters().l7.protocol_counter(ParserKind::Postgres, 0);
    let errors = t.an.counters().l7.parse_errors;
    assert!(t.finish().l7.is_empty());
    assert_eq!((tls, errors), (1, 0));
    let mut t = talk();
    t.tcp(0.0, true, &ssl);
    t.tcp(0.1, false, b"N");
    t.tcp(0.2, true, &startup("db1"));
    t.tcp(0.3, false, &ready());
    t.tcp(1.0, true, &msg(b'Q', &cstr("select 1")));
    let mut r = complete("SELECT 1");
    r.extend(ready());
    t.tcp(1.1, false, &r);
    let out = t.finish();
    assert_eq!(out.l7.len(), 1);
    assert_eq!(s(&out.l7[0].request_domain), "db1");
}

#[test]
fn hostile_input_never_panics() {
    let seeds = [
        startup("x"),
        msg(b'Q', &cstr("select 1")),
        [complete("SELECT 1"), ready()].concat(),
        error("42000", "bad"),
    ];
    hostile_talks(
        &seeds.iter().map(Vec::as_slice).collect::<Vec<_>>(),
        3000,
        6,
        talk,
    );
}

#[test]
fn trace_ids_from_sql_comments() {
    let mut t = talk();
    login(&mut t);
    let sql = "select 1 /* traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01 */";
    t.tcp(1.0, true, &msg(b'Q', &cstr(sql)));
    t.tcp(1.1, false, &[complete("SELECT 1"), ready()].concat());
    let out = t.finish();
    assert_eq!(s(&out.l7[0].trace_id), "0af7651916cd43dd8448eb211c80319c");
}

#[test]
fn literals_hidden_when_obfuscation_is_on() {
    let mut cfg = AnalyzerConfig::default();
    cfg.l7.enabled.insert(L7Protocol::Postgres);
    cfg.l7.protocols.postgres.obfuscate = true;
    let mut t = Talk::with(cfg, 5432);
    login(&mut t);
    t.tcp(
        1.0,
        true,
        &msg(
            b'Q',
            &cstr("select * from users where email = 'a@b.c' and id in (1, 2)"),
        ),
    );
    let mut r = complete("SELECT 0");
    r.extend(ready());
    t.tcp(1.1, false, &r);
    t.tcp(
        2.0,
        true,
        &msg(
            b'P',
            &[
                cstr(""),
                cstr("update t set v = 'x' where id = $1"),
                vec![0, 0],
            ]
            .concat(),
        ),
    );
    t.tcp(2.0, true, &msg(b'S', b""));
    let mut r = msg(b'1', b"");
    r.extend(ready());
    t.tcp(2.1, false, &r);
    let out = t.finish();
    let got: Vec<_> = out
        .l7
        .iter()
        .map(|r| s(&r.request_resource).to_string())
        .collect();
    assert_eq!(
        got,
        [
            "select * from users where email = ? and id in (?)",
            "update t set v = ? where id = $1"
        ]
    );
}
