//! MongoDB through the whole analyzer (inference, reassembly, pairing) and its decoders.

use super::bson::{render, Doc, Value};
use super::session::MongoSession;
use super::wire::{Header, OP_MSG};
use crate::inline::InlineBytes;
use crate::l7::parser::{L7Parser, Transport};
use crate::l7::talk::{hostile_talks, s, Talk};
use crate::l7::{L7Protocol, ParserKind, Probe, ResponseStatus};
use crate::record::l7::{TYPE_REQUEST, TYPE_SESSION};
use crate::AnalyzerConfig;

/// MongoDB is off by default, as in DeepFlow.
fn talk() -> Talk {
    let mut cfg = AnalyzerConfig::default();
    cfg.l7.enabled.insert(L7Protocol::Mongo);
    Talk::with(cfg, 27017)
}

/// A BSON value for the test encoder.
enum B<'a> {
    S(&'a str),
    I(i32),
    L(i64),
    F(f64),
    D(Vec<(&'a str, B<'a>)>),
    A(Vec<B<'a>>),
    Bin(u8, &'a [u8]),
    Ts(u32, u32),
    Oid([u8; 12]),
    Time(i64),
    Bool(bool),
    Null,
}

fn doc(fields: Vec<(&str, B<'_>)>) -> Vec<u8> {
    let mut body = Vec::new();
    for (k, v) in fields {
        element(&mut body, k, v);
    }
    let mut d = ((body.len() + 5) as i32).to_le_bytes().to_vec();
    d.extend(body);
    d.push(0);
    d
}

fn element(out: &mut Vec<u8>, key: &str, v: B<'_>) {
    let (kind, bytes): (u8, Vec<u8>) = match v {
        B::S(s) => {
            let mut b = ((s.len() + 1) as i32).to_le_bytes().to_vec();
            b.extend(s.as_bytes());
            b.push(0);
            (2, b)
        }
        B::I(i) => (0x10, i.to_le_bytes().to_vec()),
        B::L(i) => (0x12, i.to_le_bytes().to_vec()),
        B::F(f) => (1, f.to_le_bytes().to_vec()),
        B::D(fields) => (3, doc(fields)),
        B::A(items) => {
            let keys: Vec<String> = (0..items.len()).map(|i| i.to_string()).collect();
            let fields = keys.iter().map(String::as_str).zip(items).collect();
            (4, doc(fields))
        }
        B::Bin(sub, b) => {
            let mut v = (b.len() as i32).to_le_bytes().to_vec();
            v.push(sub);
            v.extend(b);
            (5, v)
        }
        B::Ts(t, i) => (
            0x11,
            ((u64::from(t) << 32) | u64::from(i)).to_le_bytes().to_vec(),
        ),
        B::Oid(id) => (7, id.to_vec()),
        B::Time(ms) => (9, ms.to_le_bytes().to_vec()),
        B::Bool(b) => (8, vec![u8::from(b)]),
        B::Null => (0x0a, vec![]),
    };
    out.push(kind);
    out.extend(key.as_bytes());
    out.push(0);
    out.extend(bytes);
}

fn message(id: u32, to: u32, opcode: i32, body: &[u8]) -> Vec<u8> {
    let mut m = ((16 + body.len()) as u32).to_le_bytes().to_vec();
    m.extend(id.to_le_bytes());
    m.extend(to.to_le_bytes());
    m.extend(opcode.to_le_bytes());
    m.extend(body);
    m
}

fn op_msg(id: u32, to: u32, flags: u32, body: Vec<(&str, B<'_>)>) -> Vec<u8> {
    let mut b = flags.to_le_bytes().to_vec();
    b.push(0);
    b.extend(doc(body));
    message(id, to, OP_MSG, &b)
}

fn find(id: u32, coll: &str, name: &str) -> Vec<u8> {
    op_msg(
        id,
        0,
        0,
        vec![
            ("find", B::S(coll)),
            ("filter", B::D(vec![("name", B::S(name))])),
            ("$db", B::S("shop")),
        ],
    )
}

fn ok_reply(id: u32, to: u32) -> Vec<u8> {
    op_msg(
        id,
        to,
        0,
        vec![
            (
                "cursor",
                B::D(vec![
                    ("firstBatch", B::A(vec![B::D(vec![("n", B::I(1))])])),
                    ("id", B::L(0)),
                ]),
            ),
            ("ok", B::F(1.0)),
        ],
    )
}

fn error_reply(id: u32, to: u32, code: i32, msg: &str) -> Vec<u8> {
    op_msg(
        id,
        to,
        0,
        vec![
            ("ok", B::F(0.0)),
            ("errmsg", B::S(msg)),
            ("code", B::I(code)),
        ],
    )
}

fn counter(t: &Talk, i: usize) -> u64 {
    t.an.counters().l7.protocol_counter(ParserKind::Mongo, i)
}

#[test]
fn documents_print_as_deepflow_does() {
    let d = doc(vec![
        ("find", B::S("query")),
        ("filter", B::D(vec![("name", B::S("drpanda5"))])),
        (
            "lsid",
            B::D(vec![("id", B::Bin(4, &[0x66, 0x77, 0x32, 0xcf]))]),
        ),
        ("t", B::Ts(1_730_962_788, 1)),
        (
            "_id",
            B::Oid(*b"\x67\x2c\x2b\xc7\xf4\xef\x2b\xe0\x5f\x1d\xdc\xc4"),
        ),
        ("at", B::Time(1_730_962_788_120)),
        ("a", B::A(vec![B::I(1), B::Bool(true), B::Null])),
        ("ok", B::F(1.0)),
        ("e", B::D(vec![])),
    ]);
    let mut out = InlineBytes::<512>::EMPTY;
    render(&Doc::parse(&d).unwrap(), &mut out);
    assert_eq!(
        s(&out),
        "{ \"find\": \"query\", \"filter\": { \"name\": \"drpanda5\" }, \
         \"lsid\": { \"id\": Binary(0x4, Zncyzw==) }, \"t\": Timestamp(1730962788, 1), \
         \"_id\": ObjectId(\"672c2bc7f4ef2be05f1ddcc4\"), \
         \"at\": DateTime(\"2024-11-07T06:59:48.12Z\"), \"a\": [1, true, null], \"ok\": 1, \
         \"e\": {} }"
    );
    // Cut documents print as far as they go; the output stops at its capacity.
    let mut short = InlineBytes::<16>::EMPTY;
    render(&Doc::parse(&d[..30]).unwrap(), &mut short);
    assert_eq!(s(&short), "{ \"find\": \"query");
    let cut = Doc::parse(&d[..40]).unwrap();
    assert_eq!(cut.iter().count(), 2, "find and the cut filter document");
    assert!(matches!(cut.get(b"filter"), Some(Value::Doc(_))));
    assert!(Doc::parse(&[4, 0, 0, 0]).is_none());
}

#[test]
fn decoders_and_probe() {
    let t = Transport::Tcp;
    let req = find(7, "orders", "x");
    assert_eq!(MongoSession::probe(&req, t), Probe::Certain);
    assert_eq!(MongoSession::probe(&req[..10], t), Probe::Unsure);
    assert_eq!(MongoSession::probe(&req[..21], t), Probe::Unsure);
    assert_eq!(MongoSession::probe(&ok_reply(9, 7), t), Probe::Certain);
    assert_eq!(
        MongoSession::probe(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", t),
        Probe::NotForUs
    );
    assert_eq!(
        MongoSession::probe(b"*1\r\n$4\r\nPING\r\n", t),
        Probe::NotForUs
    );
    // A known opcode with a document that does not fit the message.
    let mut bad = req.clone();
    bad[21] = 0xff;
    assert_eq!(MongoSession::probe(&bad, t), Probe::NotForUs);
    assert_eq!(MongoSession::sent_by_client(&req, t), Some(true));
    assert_eq!(
        MongoSession::sent_by_client(&ok_reply(9, 7), t),
        Some(false)
    );
    let h = Header::parse(&req).unwrap();
    assert_eq!((h.request_id, h.opcode), (7, OP_MSG));
}

#[test]
fn commands_pair_by_response_to() {
    let mut t = talk();
    // Two requests in flight, answered out of order.
    t.tcp(0.0, true, &find(1, "orders", "a"));
    t.tcp(0.5, true, &find(2, "users", "b"));
    t.tcp(1.5, false, &ok_reply(100, 2));
    t.tcp(
        3.0,
        false,
        &error_reply(101, 1, 13, "not authorized on shop"),
    );
    t.tcp(
        4.0,
        true,
        &op_msg(
            3,
            0,
            0,
            vec![
                ("insert", B::S("orders")),
                ("documents", B::A(vec![B::D(vec![("_id", B::I(1))])])),
                ("$db", B::S("shop")),
            ],
        ),
    );
    t.tcp(
        4.2,
        false,
        &op_msg(
            102,
            3,
            0,
            vec![
                ("n", B::I(0)),
                (
                    "writeErrors",
                    B::A(vec![B::D(vec![
                        ("index", B::I(0)),
                        ("code", B::I(11000)),
                        ("errmsg", B::S("E11000 duplicate key error")),
                    ])]),
                ),
                ("ok", B::F(1.0)),
            ],
        ),
    );
    t.tcp(
        5.0,
        true,
        &op_msg(4, 0, 0, vec![("ping", B::I(1)), ("$db", B::S("admin"))]),
    );
    t.tcp(5.1, false, &error_reply(103, 4, 91, "shutdown in progress"));
    // moreToCome: no reply.
    t.tcp(
        6.0,
        true,
        &op_msg(
            5,
            0,
            2,
            vec![("insert", B::S("log")), ("$db", B::S("shop"))],
        ),
    );
    let out = t.finish();
    let got: Vec<_> = out
        .l7
        .iter()
        .map(|r| {
            (
                s(&r.request_type).to_string(),
                s(&r.request_domain).to_string(),
                s(&r.endpoint).to_string(),
                r.request_id,
                r.response_status,
                r.response_code,
                s(&r.response_exception).to_string(),
                r.response_duration,
                r.row_type,
            )
        })
        .collect();
    let row = |ty: &str, db: &str, coll: &str, id, st: ResponseStatus, code, exc: &str, us, rt| {
        (
            ty.to_string(),
            db.to_string(),
            coll.to_string(),
            Some(id),
            st.code(),
            code,
            exc.to_string(),
            us,
            rt,
        )
    };
    use ResponseStatus::*;
    assert_eq!(
        got,
        [
            row("find", "shop", "users", 2, Ok, None, "", 1000, TYPE_SESSION),
            row(
                "find",
                "shop",
                "orders",
                1,
                ClientError,
                Some(13),
                "not authorized on shop",
                3000,
                TYPE_SESSION
            ),
            row(
                "insert",
                "shop",
                "orders",
                3,
                ClientError,
                Some(11000),
                "E11000 duplicate key error",
                200,
                TYPE_SESSION
            ),
            row(
                "ping",
                "admin",
                "",
                4,
                ServerError,
                Some(91),
                "shutdown in progress",
                100,
                TYPE_SESSION
            ),
            row("insert", "shop", "log", 5, Ok, None, "", 0, TYPE_REQUEST),
        ]
    );
    assert_eq!(
        s(&out.l7[0].request_resource),
        "{ \"find\": \"users\", \"filter\": { \"name\": \"b\" }, \"$db\": \"shop\" }"
    );
    assert!(
        s(&out.l7[0].response_result).starts_with("{ \"cursor\": { \"firstBatch\": [{ \"n\": 1 }]")
    );
    let l4 = &out.l4[0];
    assert_eq!((l4.l7_client_error, l4.l7_server_error), (2, 1));
}

#[test]
fn legacy_opcodes_exhaust_and_compression() {
    let mut t = talk();
    // OP_QUERY on admin.$cmd, answered by OP_REPLY.
    let mut q = 0u32.to_le_bytes().to_vec();
    q.extend(b"admin.$cmd\0");
    q.extend(0u32.to_le_bytes());
    q.extend((-1i32).to_le_bytes());
    q.extend(doc(vec![("isMaster", B::I(1))]));
    t.tcp(0.0, true, &message(1, 0, 2004, &q));
    let mut r = 0u32.to_le_bytes().to_vec();
    r.extend(0u64.to_le_bytes());
    r.extend(0u32.to_le_bytes());
    r.extend(1u32.to_le_bytes());
    r.extend(doc(vec![("ismaster", B::Bool(true)), ("ok", B::F(1.0))]));
    t.tcp(0.4, false, &message(50, 1, 1, &r));
    // A failed legacy query: QueryFailure and $err.
    let mut q2 = 0u32.to_le_bytes().to_vec();
    q2.extend(b"shop.orders\0");
    q2.extend([0; 8]);
    q2.extend(doc(vec![("a", B::I(1))]));
    t.tcp(1.0, true, &message(2, 0, 2004, &q2));
    let mut r2 = 2u32.to_le_bytes().to_vec();
    r2.extend([0; 16]);
    r2.extend(doc(vec![("$err", B::S("bad query")), ("code", B::I(2))]));
    t.tcp(1.1, false, &message(51, 2, 1, &r2));
    // An exhaust cursor: three replies to one request.
    t.tcp(2.0, true, &find(3, "c", "z"));
    t.tcp(2.1, false, &op_msg(60, 3, 2, vec![("ok", B::F(1.0))]));
    t.tcp(2.2, false, &op_msg(61, 60, 2, vec![("ok", B::F(1.0))]));
    t.tcp(2.3, false, &op_msg(62, 61, 0, vec![("ok", B::F(1.0))]));
    // Compressed request and reply whose snappy bodies do not decompress: not read.
    let mut c = 2013u32.to_le_bytes().to_vec();
    c.extend(200u32.to_le_bytes());
    c.push(1);
    c.extend([0xaa; 40]);
    t.tcp(3.0, true, &message(4, 0, 2012, &c));
    t.tcp(3.2, false, &message(63, 4, 2012, &c));
    // A legacy insert: no reply.
    let mut ins = 0u32.to_le_bytes().to_vec();
    ins.extend(b"shop.log\0");
    ins.extend(doc(vec![("m", B::S("x"))]));
    t.tcp(4.0, true, &message(5, 0, 2002, &ins));
    assert_eq!((counter(&t, 0), counter(&t, 1)), (2, 2));
    let out = t.finish();
    let got: Vec<_> = out
        .l7
        .iter()
        .map(|r| {
            (
                s(&r.request_type).to_string(),
                s(&r.request_domain).to_string(),
                s(&r.endpoint).to_string(),
                r.response_status,
                r.response_code,
                r.row_type,
            )
        })
        .collect();
    let ok = ResponseStatus::Ok.code();
    let row = |a: &str, b: &str, c: &str, st, code, rt| {
        (a.to_string(), b.to_string(), c.to_string(), st, code, rt)
    };
    assert_eq!(
        got,
        [
            row("isMaster", "admin", "", ok, None, TYPE_SESSION),
            row(
                "find",
                "shop",
                "orders",
                ResponseStatus::ClientError.code(),
                Some(2),
                TYPE_SESSION
            ),
            row("find", "shop", "c", ok, None, TYPE_SESSION),
            row("OP_COMPRESSED", "", "", ok, None, TYPE_SESSION),
            row("insert", "shop", "log", ok, None, TYPE_REQUEST),
        ]
    );
    assert_eq!(s(&out.l7[1].response_exception), "bad query");
}

#[test]
fn every_split_and_large_messages() {
    let mut req = find(1, "orders", "a");
    req.extend(find(2, "orders", "b"));
    // A reply far larger than a segment: 3000 documents in the batch, `ok` at its end.
    let batch: Vec<B<'_>> = (0..3000).map(|i| B::D(vec![("n", B::I(i))])).collect();
    let mut rep = op_msg(
        10,
        1,
        0,
        vec![
            ("cursor", B::D(vec![("firstBatch", B::A(batch))])),
            ("ok", B::F(1.0)),
        ],
    );
    rep.extend(error_reply(11, 2, 50, "operation exceeded time limit"));
    for cut in (1..req.len()).chain([rep.len() / 3, rep.len() - 1]) {
        let mut t = talk();
        let rc = cut.min(req.len() - 1);
        t.tcp(1.0, true, &req[..rc]);
        t.tcp(1.1, true, &req[rc..]);
        for (i, c) in rep.chunks(1400).enumerate() {
            t.tcp(2.0 + i as f64 * 0.01, false, c);
        }
        let out = t.finish();
        let got: Vec<_> = out
            .l7
            .iter()
            .map(|r| (r.request_id, r.response_status, r.row_type))
            .collect();
        assert_eq!(
            got,
            [
                (Some(1), ResponseStatus::Ok.code(), TYPE_SESSION),
                (Some(2), ResponseStatus::ServerError.code(), TYPE_SESSION)
            ],
            "cut {cut}"
        );
        // The request's time is its first byte's.
        assert_eq!(
            out.l7[0].start_time,
            (super::super::talk::T0 + 1_000_000) / 1000
        );
    }
}

#[test]
fn joined_mid_connection_and_hostile_input() {
    // Joined inside a large reply: the next messages still pair.
    let mut t = talk();
    t.tcp(0.0, false, &[0x41; 700]);
    t.tcp(1.0, true, &find(8, "c", "q"));
    t.tcp(1.1, false, &ok_reply(80, 8));
    let out = t.finish();
    assert!(out.l7.len() <= 1);
    let mut t = talk();
    t.tcp(1.0, true, &find(8, "c", "q"));
    t.skip(false, 300);
    t.tcp(1.1, false, &ok_reply(80, 8));
    t.tcp(2.0, true, &find(9, "c", "q"));
    t.tcp(2.1, false, &ok_reply(81, 9));
    let out = t.finish();
    assert_eq!(out.l7.last().map(|r| r.row_type), Some(TYPE_SESSION));
    let seeds = [
        find(1, "c", "x"),
        ok_reply(2, 1),
        error_reply(3, 1, 11000, "dup"),
        op_msg(4, 0, 0, vec![("hello", B::I(1)), ("$db", B::S("admin"))]),
    ];
    hostile_talks(
        &seeds.iter().map(Vec::as_slice).collect::<Vec<_>>(),
        3000,
        8,
        talk,
    );
}

#[test]
fn off_by_default_like_deepflow() {
    let mut t = Talk::new(27017);
    t.tcp(0.0, true, &find(1, "c", "q"));
    t.tcp(0.1, false, &ok_reply(2, 1));
    assert!(t.finish().l7.is_empty());
}

/// `m` (a whole message) as OP_COMPRESSED with `compressor`: 0 none, 1 snappy (literals, and a
/// run written as a back-reference where `m` repeats a byte), 2 zlib, 3 zstd.
fn compressed(m: &[u8], compressor: u8) -> Vec<u8> {
    use std::io::Write;
    let body = &m[16..];
    let packed = match compressor {
        0 => body.to_vec(),
        1 => {
            let mut v = vec![];
            let mut n = body.len();
            while n >= 0x80 {
                v.push(n as u8 | 0x80);
                n >>= 7;
            }
            v.push(n as u8);
            // Literals of up to 60 bytes; a run of 8 equal bytes as one literal byte and a copy.
            let mut i = 0;
            while i < body.len() {
                let run = body[i..].iter().take_while(|&&b| b == body[i]).count();
                if run >= 8 {
                    let len = run.min(64);
                    v.extend([0, body[i], 2 | (((len - 1) as u8 - 1) << 2), 1, 0]);
                    i += len;
                    continue;
                }
                let end = (i + 60).min(body.len());
                v.push(((end - i - 1) as u8) << 2);
                v.extend(&body[i..end]);
                i = end;
            }
            v
        }
        3 => zstd::bulk::compress(body, 3).unwrap(),
        _ => {
            let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            z.write_all(body).unwrap();
            z.finish().unwrap()
        }
    };
    let h = |at: usize| u32::from_le_bytes(m[at..at + 4].try_into().unwrap());
    let mut c = h(12).to_le_bytes().to_vec();
    c.extend((body.len() as u32).to_le_bytes());
    c.push(compressor);
    c.extend(packed);
    message(h(4), h(8), 2012, &c)
}

/// A find and its reply, a failing command, and a fire-and-forget insert, all compressed.
fn compressed_conversation(compressor: u8) -> Vec<(bool, Vec<u8>)> {
    let w0 = op_msg(
        12,
        0,
        2,
        vec![
            ("insert", B::S("log")),
            (
                "documents",
                B::A(vec![B::D(vec![("m", B::S(&"w".repeat(40)))])]),
            ),
            ("$db", B::S("shop")),
        ],
    );
    vec![
        (
            true,
            compressed(&find(10, "users", &"a".repeat(30)), compressor),
        ),
        (false, compressed(&ok_reply(70, 10), compressor)),
        (
            true,
            compressed(
                &op_msg(11, 0, 0, vec![("frob", B::I(1)), ("$db", B::S("shop"))]),
                compressor,
            ),
        ),
        (
            false,
            compressed(
                &error_reply(71, 11, 59, "no such command: 'frob'"),
                compressor,
            ),
        ),
        (true, compressed(&w0, compressor)),
    ]
}

#[test]
fn compressed_messages_are_read_as_the_messages_they_carry() {
    for compressor in [0, 1, 2, 3] {
        let mut t = talk();
        for (i, (client, m)) in compressed_conversation(compressor).iter().enumerate() {
            t.tcp(i as f64, *client, m);
        }
        assert_eq!(counter(&t, 0), 5, "compressor {compressor}");
        let errors = t.an.counters().l7.parse_errors;
        let out = t.finish();
        assert_eq!(errors, 0);
        let got: Vec<_> = out
            .l7
            .iter()
            .map(|r| {
                (
                    s(&r.request_type).to_string(),
                    s(&r.endpoint).to_string(),
                    r.response_code,
                    r.row_type,
                    r.request_id,
                )
            })
            .collect();
        let row = |a: &str, b: &str, code, ty, id| (a.to_string(), b.to_string(), code, ty, id);
        assert_eq!(
            got,
            [
                row("find", "users", None, TYPE_SESSION, Some(10)),
                row("frob", "", Some(59), TYPE_SESSION, Some(11)),
                row("insert", "log", None, TYPE_REQUEST, Some(12)),
            ],
            "compressor {compressor}"
        );
        assert!(
            s(&out.l7[0].request_resource).starts_with("{ \"find\": \"users\", \"filter\""),
            "compressor {compressor}"
        );
        assert_eq!(s(&out.l7[1].response_exception), "no such command: 'frob'");
        // The lengths are the compressed messages' (the bytes on the wire).
        let c = compressed_conversation(compressor);
        assert_eq!(out.l7[0].captured_request_byte, c[0].1.len() as u32);
    }
}

#[test]
fn compressed_messages_cut_anywhere_give_the_same_rows() {
    for compressor in [1, 2, 3] {
        crate::l7::talk::same_rows_at_every_cut(&compressed_conversation(compressor), talk);
    }
}

#[test]
fn hostile_compressed_messages_never_panic() {
    let c: Vec<_> = [1, 2, 3]
        .into_iter()
        .flat_map(compressed_conversation)
        .map(|(_, m)| m)
        .collect();
    let seeds: Vec<&[u8]> = c.iter().map(Vec::as_slice).collect();
    hostile_talks(&seeds, 3000, 8, talk);
}
