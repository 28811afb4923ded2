//! memcached through the whole analyzer (inference, reassembly, pairing) and its decoders.

use super::binary::Header;
use super::session::MemcachedSession;
use super::text::{parse_reply, parse_request, ReplyKind, RequestKind};
use crate::l7::parser::{L7Parser, Transport};
use crate::l7::talk::{hostile_talks, s, Talk};
use crate::l7::{L7Protocol, ParserKind, Probe};
use crate::record::l7::{TYPE_REQUEST, TYPE_SESSION};
use crate::AnalyzerConfig;

fn talk() -> Talk {
    let mut cfg = AnalyzerConfig::default();
    cfg.l7.enabled.insert(L7Protocol::Memcached);
    Talk::with(cfg, 11211)
}

fn counter(t: &Talk, i: usize) -> u64 {
    t.an.counters()
        .l7
        .protocol_counter(ParserKind::Memcached, i)
}

/// (request_type, request_resource, row type, status, result, exception).
fn rows(out: &crate::record::Collected) -> Vec<(String, String, u8, u8, String, String)> {
    out.l7
        .iter()
        .map(|r| {
            (
                s(&r.request_type).to_string(),
                s(&r.request_resource).to_string(),
                r.row_type,
                r.response_status,
                s(&r.response_result).to_string(),
                s(&r.response_exception).to_string(),
            )
        })
        .collect()
}

fn row(
    t: &str,
    res: &str,
    ty: u8,
    st: u8,
    result: &str,
    exc: &str,
) -> (String, String, u8, u8, String, String) {
    (t.into(), res.into(), ty, st, result.into(), exc.into())
}

#[test]
fn decoders_and_probe() {
    let r = parse_request(b"set foo 0 0 3").unwrap();
    assert_eq!(
        (r.command, r.kind, r.noreply),
        (&b"set"[..], RequestKind::Storage(3), false)
    );
    assert_eq!(
        parse_request(b"cas k 0 0 5 77 noreply").unwrap().kind,
        RequestKind::Storage(5)
    );
    assert!(
        parse_request(b"cas k 0 0 5").is_none(),
        "cas needs its unique"
    );
    assert!(parse_request(b"set k 0 0 x").is_none());
    assert!(
        parse_request(b"GET / HTTP/1.1").is_none(),
        "commands are lower case"
    );
    assert_eq!(
        parse_request(b"get a b c").unwrap().kind,
        RequestKind::Answered
    );
    assert_eq!(parse_request(b"quit").unwrap().kind, RequestKind::Quit);
    assert_eq!(
        parse_request(b"ms k 10 T0").unwrap().kind,
        RequestKind::Storage(10)
    );
    assert_eq!(parse_reply(b"VALUE foo 0 3").unwrap().data, Some(3));
    assert_eq!(parse_reply(b"END").unwrap().kind, ReplyKind::End);
    assert_eq!(
        parse_reply(b"CLIENT_ERROR bad data chunk").unwrap().message,
        b"bad data chunk"
    );
    assert!(parse_reply(b"HELLO").is_none());
    let t = Transport::Tcp;
    assert_eq!(MemcachedSession::probe(b"get foo\r\n", t), Probe::Certain);
    assert_eq!(
        MemcachedSession::probe(b"get foo", t),
        Probe::Unsure,
        "cut before its end"
    );
    assert_eq!(MemcachedSession::probe(b"s", t), Probe::Unsure);
    assert_eq!(MemcachedSession::probe(b"hello there", t), Probe::NotForUs);
    assert_eq!(MemcachedSession::probe(b"\x80\x00", t), Probe::Unsure);
    assert_eq!(
        MemcachedSession::sent_by_client(b"STORED\r\n", t),
        Some(false)
    );
    let mut bin = vec![0x80, 0x00, 0, 3, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 9];
    bin.extend([0; 8]);
    bin.extend(b"foo");
    assert_eq!(MemcachedSession::probe(&bin, t), Probe::Certain);
    let h = Header::parse(&bin).unwrap();
    assert_eq!((h.opaque, h.key(&bin)), (9, &b"foo"[..]));
    bin[11] = 1;
    assert!(Header::parse(&bin).is_none(), "key longer than the body");
}

#[test]
fn text_commands_pair_in_order() {
    let mut t = talk();
    t.tcp(0.0, true, b"set foo 0 0 3\r\nbar\r\n");
    t.tcp(0.4, false, b"STORED\r\n");
    t.tcp(1.0, true, b"get foo nope\r\n");
    t.tcp(1.2, false, b"VALUE foo 0 3\r\nbar\r\nEND\r\n");
    t.tcp(2.0, true, b"get nope\r\n");
    t.tcp(2.1, false, b"END\r\n");
    t.tcp(3.0, true, b"incr n 5\r\n");
    t.tcp(
        3.1,
        false,
        b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n",
    );
    t.tcp(4.0, true, b"delete foo noreply\r\nstats\r\n");
    t.tcp(4.3, false, b"STAT pid 1\r\nSTAT uptime 2\r\nEND\r\n");
    t.tcp(5.0, true, b"set big 0 0 1\r\nxy\r\n");
    t.tcp(5.1, false, b"SERVER_ERROR out of memory storing object\r\n");
    let noreply = counter(&t, 0);
    let out = t.finish();
    assert_eq!(
        rows(&out),
        [
            row("set", "set foo 0 0 3", TYPE_SESSION, 0, "STORED", ""),
            row("get", "get foo nope", TYPE_SESSION, 0, "VALUE foo 0 3", ""),
            row("get", "get nope", TYPE_SESSION, 0, "END", ""),
            row(
                "incr",
                "incr n 5",
                TYPE_SESSION,
                4,
                "CLIENT_ERROR cannot increment or decrement non-numeric value",
                "cannot increment or decrement non-numeric value"
            ),
            row("delete", "delete foo noreply", TYPE_REQUEST, 0, "", ""),
            row("stats", "stats", TYPE_SESSION, 0, "STAT pid 1", ""),
            // "xy" is longer than the 1 byte announced: what follows the block is not a command
            // (a parse error, the direction resynchronises); the reply still pairs.
            row(
                "set",
                "set big 0 0 1",
                TYPE_SESSION,
                3,
                "SERVER_ERROR out of memory storing object",
                "out of memory storing object"
            ),
        ]
    );
    assert_eq!(noreply, 1);
    assert_eq!(out.l7[0].response_duration, 400);
    let l4 = &out.l4[0];
    assert_eq!((l4.l7_protocol, l4.l7_request, l4.l7_response), (82, 7, 6));
    assert_eq!((l4.l7_client_error, l4.l7_server_error), (1, 1));
}

#[test]
fn every_split_gives_the_same_rows() {
    let req = b"set a 0 0 5\r\nhello\r\nget a b\r\nget c\r\n".to_vec();
    let rep = b"STORED\r\nVALUE a 0 5\r\nhello\r\nVALUE b 0 1\r\nx\r\nEND\r\nEND\r\n".to_vec();
    for cut in 1..req.len().max(rep.len()) {
        let (rc, pc) = (cut.min(req.len() - 1), cut.min(rep.len() - 1));
        let mut t = talk();
        t.tcp(0.0, true, &req[..rc]);
        t.tcp(0.1, true, &req[rc..]);
        t.tcp(0.5, false, &rep[..pc]);
        t.tcp(0.6, false, &rep[pc..]);
        let out = t.finish();
        let got: Vec<_> = out
            .l7
            .iter()
            .map(|r| {
                (
                    s(&r.request_resource).to_string(),
                    s(&r.response_result).to_string(),
                )
            })
            .collect();
        let want = [
            ("set a 0 0 5", "STORED"),
            ("get a b", "VALUE a 0 5"),
            ("get c", "END"),
        ];
        let want: Vec<_> = want
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert_eq!(got, want, "cut {cut}");
    }
}

#[test]
fn values_of_any_size_stream_by() {
    let mut t = talk();
    let value = vec![b'v'; 500_000];
    let mut set = b"set big 0 0 500000\r\n".to_vec();
    set.extend(&value);
    set.extend(b"\r\n");
    for (i, c) in set.chunks(1400).enumerate() {
        t.tcp(i as f64 * 0.01, true, c);
    }
    t.tcp(10.0, false, b"STORED\r\n");
    t.tcp(11.0, true, b"get big\r\n");
    let mut reply = b"VALUE big 0 500000\r\n".to_vec();
    reply.extend(&value);
    reply.extend(b"\r\nEND\r\n");
    for (i, c) in reply.chunks(1400).enumerate() {
        t.tcp(12.0 + i as f64 * 0.01, false, c);
    }
    t.tcp(20.0, true, b"version\r\n");
    t.tcp(20.5, false, b"VERSION 1.6.18\r\n");
    let out = t.finish();
    assert_eq!(out.l7.len(), 3);
    assert!(out
        .l7
        .iter()
        .all(|r| r.row_type == TYPE_SESSION && r.response_status == 0));
    assert_eq!(
        out.l7[1].response_duration, 1_000,
        "RRT to the reply's first line"
    );
    assert_eq!(s(&out.l7[2].response_result), "VERSION 1.6.18");
}

/// A binary message: magic, opcode, key, opaque, status, body (extras + key + value).
fn bin(
    magic: u8,
    op: u8,
    key: &[u8],
    extras: usize,
    value: &[u8],
    status: u16,
    opaque: u32,
) -> Vec<u8> {
    let body = extras + key.len() + value.len();
    let mut v = vec![magic, op];
    v.extend((key.len() as u16).to_be_bytes());
    v.push(extras as u8);
    v.push(0);
    v.extend(status.to_be_bytes());
    v.extend((body as u32).to_be_bytes());
    v.extend(opaque.to_be_bytes());
    v.extend([0; 8]);
    v.extend(vec![0; extras]);
    v.extend(key);
    v.extend(value);
    v
}

#[test]
fn binary_pairs_by_opaque_and_keeps_quiet_replies_out() {
    let mut t = talk();
    let mut burst = bin(0x80, 0x01, b"k1", 8, b"value", 0, 1); // Set
    burst.extend(bin(0x80, 0x09, b"k2", 0, b"", 0, 2)); // GetQ (miss: no reply)
    burst.extend(bin(0x80, 0x09, b"k1", 0, b"", 0, 3)); // GetQ (hit: a reply)
    burst.extend(bin(0x80, 0x00, b"zz", 0, b"", 0, 4)); // Get (miss)
    burst.extend(bin(0x80, 0x0a, b"", 0, b"", 0, 5)); // Noop
    t.tcp(0.0, true, &burst);
    // Replies out of order: Noop first, then the rest.
    let mut replies = bin(0x81, 0x0a, b"", 0, b"", 0, 5);
    replies.extend(bin(0x81, 0x01, b"", 0, b"", 0, 1));
    replies.extend(bin(0x81, 0x09, b"", 4, b"value", 0, 3));
    replies.extend(bin(0x81, 0x00, b"", 0, b"Not found", 1, 4));
    t.tcp(0.2, false, &replies);
    t.tcp(1.0, true, &bin(0x80, 0x05, b"k1", 20, b"", 0, 6)); // Increment
    t.tcp(1.1, false, &bin(0x81, 0x05, b"", 0, b"non-numeric", 6, 6));
    let (noreply, quiet) = (counter(&t, 0), counter(&t, 1));
    let out = t.finish();
    let got: Vec<_> = out
        .l7
        .iter()
        .map(|r| {
            (
                s(&r.request_type).to_string(),
                s(&r.request_resource).to_string(),
                r.row_type,
                r.response_code,
                r.response_status,
            )
        })
        .collect();
    let want = [
        ("GetQ", "k2", TYPE_REQUEST, None, 0),
        ("GetQ", "k1", TYPE_REQUEST, None, 0),
        ("Noop", "", TYPE_SESSION, Some(0), 0),
        ("Set", "k1", TYPE_SESSION, Some(0), 0),
        ("Get", "zz", TYPE_SESSION, Some(1), 0),
        ("Increment", "k1", TYPE_SESSION, Some(6), 4),
    ];
    let want: Vec<_> = want
        .iter()
        .map(|(a, b, c, d, e)| (a.to_string(), b.to_string(), *c, *d, *e))
        .collect();
    assert_eq!(got, want);
    assert_eq!((noreply, quiet), (2, 1));
    assert_eq!(
        s(&out.l7[5].response_exception),
        "Incr/Decr on non-numeric value"
    );
}

#[test]
fn hostile_streams_never_panic() {
    let seeds: [&[u8]; 4] = [
        b"set foo 0 0 3\r\nbar\r\nget foo\r\n",
        b"VALUE foo 0 3\r\nbar\r\nEND\r\nSTORED\r\n",
        b"\x80\x01\x00\x02\x08\x00\x00\x00\x00\x00\x00\x0f\x00\x00\x00\x01\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0k1hello",
        b"ms k 2 T0\r\nhi\r\nmg k v\r\nVA 2\r\nhi\r\nHD\r\n",
    ];
    hostile_talks(&seeds, 3000, 6, talk);
}

#[test]
fn off_by_default_like_deepflow() {
    let mut t = Talk::new(11211);
    t.tcp(0.0, true, b"get foo\r\n");
    t.tcp(0.1, false, b"END\r\n");
    assert!(t.finish().l7.is_empty());
}
