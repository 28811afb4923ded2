//! Tars through the whole analyzer: TARS and TUP versions, framework return codes, one-way
//! calls, packets split, batched and longer than the hold, gaps, hostile bytes.

use super::session::TarsSession;
use super::wire::{packet, packet_len};
use crate::l7::parser::{L7Parser, Transport};
use crate::l7::talk::{hostile_talks, s, same_rows_at_every_cut, Talk};
use crate::l7::{L7Protocol, Probe};
use crate::record::l7::{TYPE_REQUEST, TYPE_SESSION};
use crate::AnalyzerConfig;

fn talk() -> Talk {
    let mut cfg = AnalyzerConfig::default();
    cfg.l7.enabled.insert(L7Protocol::Tars);
    Talk::with(cfg, 14002)
}

/// A Tars encoder of the field kinds the packets use (integers take the shortest type).
#[derive(Default)]
struct Enc(Vec<u8>);

impl Enc {
    fn head(&mut self, tag: u8, ty: u8) {
        if tag < 15 {
            self.0.push(tag << 4 | ty);
        } else {
            self.0.extend([0xf0 | ty, tag]);
        }
    }

    fn int(mut self, tag: u8, v: i64) -> Self {
        if v == 0 {
            self.head(tag, 12);
        } else if let Ok(b) = i8::try_from(v) {
            self.head(tag, 0);
            self.0.push(b as u8);
        } else if let Ok(h) = i16::try_from(v) {
            self.head(tag, 1);
            self.0.extend(h.to_be_bytes());
        } else {
            self.head(tag, 2);
            self.0.extend((v as i32).to_be_bytes());
        }
        self
    }

    fn str(mut self, tag: u8, v: &str) -> Self {
        if v.len() < 256 {
            self.head(tag, 6);
            self.0.push(v.len() as u8);
        } else {
            self.head(tag, 7);
            self.0.extend((v.len() as u32).to_be_bytes());
        }
        self.0.extend(v.as_bytes());
        self
    }

    fn bytes(mut self, tag: u8, v: &[u8]) -> Self {
        self.head(tag, 13);
        self.0.push(0x00);
        let n = Enc::default().int(0, v.len() as i64);
        self.0.extend(n.0);
        self.0.extend(v);
        self
    }

    fn empty_map(mut self, tag: u8) -> Self {
        self.head(tag, 8);
        self.0.push(0x0c);
        self
    }

    /// A map of strings (a TUP status map).
    fn string_map(mut self, tag: u8, entries: &[(&str, &str)]) -> Self {
        self.head(tag, 8);
        let n = Enc::default().int(0, entries.len() as i64);
        self.0.extend(n.0);
        for (k, v) in entries {
            let kv = Enc::default().str(0, k).str(1, v);
            self.0.extend(kv.0);
        }
        self
    }

    fn packet(self) -> Vec<u8> {
        let mut v = ((self.0.len() + 4) as u32).to_be_bytes().to_vec();
        v.extend(self.0);
        v
    }
}

fn request(version: i64, kind: i64, id: i64, servant: &str, func: &str, args: &[u8]) -> Vec<u8> {
    Enc::default()
        .int(1, version)
        .int(2, kind)
        .int(3, 0)
        .int(4, id)
        .str(5, servant)
        .str(6, func)
        .bytes(7, args)
        .int(8, 3000)
        .empty_map(9)
        .empty_map(10)
        .packet()
}

fn response(version: i64, id: i64, ret: Option<i64>, body: &[u8], desc: &str) -> Vec<u8> {
    let mut e = Enc::default()
        .int(1, version)
        .int(2, 0)
        .int(3, id)
        .int(4, 0);
    if let Some(r) = ret {
        e = e.int(5, r);
    }
    e.bytes(6, body).empty_map(7).str(8, desc).packet()
}

/// A TUP answer: a RequestPacket from the server with the result in its status map.
fn tup_answer(id: i64, func: &str, code: &str, desc: &str) -> Vec<u8> {
    Enc::default()
        .int(1, 3)
        .int(2, 0)
        .int(3, 0)
        .int(4, id)
        .str(5, OBJ)
        .str(6, func)
        .bytes(7, b"\x08\x0c")
        .int(8, 0)
        .empty_map(9)
        .string_map(
            10,
            &[("STATUS_RESULT_CODE", code), ("STATUS_RESULT_DESC", desc)],
        )
        .packet()
}

const OBJ: &str = "TARS.NodeTarsServer.NodeTarsObj";

#[test]
fn decoders_and_probe() {
    let req = request(1, 0, 2, OBJ, "getUsrName", b"\x16\x05user0");
    assert_eq!(packet_len(&req), Some(req.len() as u32));
    let p = packet(&req).unwrap();
    assert!(p.request);
    assert_eq!(
        (p.version, p.request_id, p.servant, p.func),
        (1, Some(2), OBJ.as_bytes(), &b"getUsrName"[..])
    );
    let refused = response(1, 2, Some(-3), b"", "no func");
    let r = packet(&refused).unwrap();
    assert!(!r.request);
    assert_eq!(
        (r.request_id, r.ret, r.result_desc),
        (Some(2), Some(-3), &b"no func"[..])
    );
    // A response whose buffer was cut: the return code, no description.
    let cut = response(1, 9, Some(0), &[7; 3000], "");
    let r = packet(&cut[..200]).unwrap();
    assert_eq!(
        (r.request_id, r.ret, r.result_desc),
        (Some(9), Some(0), &b""[..])
    );
    // Tag 15 and beyond: the tag in the next byte.
    let mut e = Enc::default();
    e.head(20, 12);
    assert_eq!(e.0, [0xfc, 20]);

    assert_eq!(TarsSession::probe(&req, Transport::Tcp), Probe::Certain);
    assert_eq!(
        TarsSession::sent_by_client(&req, Transport::Tcp),
        Some(true)
    );
    let answer = tup_answer(7, "f", "0", "");
    assert_eq!(
        TarsSession::sent_by_client(&answer, Transport::Tcp),
        Some(false)
    );
    assert_eq!(TarsSession::probe(&req[..3], Transport::Tcp), Probe::Unsure);
    assert_eq!(
        TarsSession::probe(&req[..20], Transport::Tcp),
        Probe::Unsure
    );
    let spaced = request(1, 0, 2, "TARS Obj", "f", b"");
    let version_9 = request(9, 0, 2, OBJ, "f", b"");
    for p in [
        &b"GET / HTTP/1.1\r\n\r\n"[..],
        &response(1, 2, Some(0), b"", ""),
        &spaced,
        &version_9,
        &tup_answer(7, "f", "0", ""),
        &[0, 0, 0, 3, 0x10, 1, 0],
    ] {
        assert_eq!(
            TarsSession::probe(p, Transport::Tcp),
            Probe::NotForUs,
            "{p:?}"
        );
    }
}

type Row = (
    String,
    String,
    u8,
    u8,
    Option<i32>,
    String,
    Option<u32>,
    String,
);

fn rows(t: Talk) -> Vec<Row> {
    t.finish()
        .l7
        .iter()
        .map(|r| {
            (
                s(&r.request_type).to_string(),
                s(&r.request_resource).to_string(),
                r.row_type,
                r.response_status,
                r.response_code,
                s(&r.response_exception).to_string(),
                r.request_id,
                s(&r.version).to_string(),
            )
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn row(f: &str, o: &str, ty: u8, st: u8, code: Option<i32>, exc: &str, id: u32, v: &str) -> Row {
    (
        f.to_string(),
        o.to_string(),
        ty,
        st,
        code,
        exc.to_string(),
        Some(id),
        v.to_string(),
    )
}

#[test]
fn calls_errors_versions_and_one_way_calls() {
    let mut t = talk();
    // Two calls in one segment, answered out of order.
    t.tcp(
        0.0,
        true,
        &[
            request(1, 0, 1, OBJ, "getUsrName", b"a"),
            request(1, 0, 2, OBJ, "getall", b"b"),
        ]
        .concat(),
    );
    t.tcp(1.0, false, &response(1, 2, Some(0), b"ok", ""));
    t.tcp(2.0, false, &response(1, 1, Some(-3), b"", ""));
    // A TUP call (version 3) refused with a description; a client-side code.
    t.tcp(3.0, true, &request(3, 0, 3, OBJ, "add", b"x"));
    t.tcp(
        3.5,
        false,
        &response(3, 3, Some(-99), b"", "BindAdapter Exception: boom"),
    );
    t.tcp(4.0, true, &request(1, 0, 4, OBJ, "route", b""));
    t.tcp(4.5, false, &response(1, 4, Some(-10), b"", ""));
    // A one-way call, then a response without iRet.
    t.tcp(5.0, true, &request(1, 1, 5, OBJ, "notify", b"n"));
    t.tcp(6.0, true, &request(1, 0, 6, OBJ, "test", b""));
    t.tcp(6.5, false, &response(1, 6, None, b"", ""));
    // TUP answers: RequestPackets from the server, the result in their status map.
    t.tcp(7.0, true, &request(3, 0, 7, OBJ, "getUsrName", b"\x08\x0c"));
    t.tcp(7.5, false, &tup_answer(7, "getUsrName", "0", ""));
    t.tcp(8.0, true, &request(3, 0, 8, OBJ, "add", b"\x08\x0c"));
    t.tcp(8.5, false, &tup_answer(8, "add", "-3", "no such function"));
    // A version 1 RequestPacket from the server is not an answer.
    t.tcp(9.0, false, &request(1, 0, 9, OBJ, "push", b""));
    let got = rows(t);
    assert_eq!(
        got,
        [
            row("getall", OBJ, TYPE_SESSION, 0, Some(0), "", 2, "1"),
            row(
                "getUsrName",
                OBJ,
                TYPE_SESSION,
                3,
                Some(-3),
                "TARSSERVERNOFUNCERR",
                1,
                "1"
            ),
            row(
                "add",
                OBJ,
                TYPE_SESSION,
                3,
                Some(-99),
                "BindAdapter Exception: boom",
                3,
                "3"
            ),
            row(
                "route",
                OBJ,
                TYPE_SESSION,
                4,
                Some(-10),
                "TARSADAPTERNULL",
                4,
                "1"
            ),
            row("notify", OBJ, TYPE_REQUEST, 0, None, "", 5, "1"),
            row("test", OBJ, TYPE_SESSION, 5, None, "", 6, "1"),
            row("getUsrName", OBJ, TYPE_SESSION, 0, Some(0), "", 7, "3"),
            row(
                "add",
                OBJ,
                TYPE_SESSION,
                3,
                Some(-3),
                "no such function",
                8,
                "3"
            ),
        ]
    );
}

#[test]
fn lengths_long_packets_gaps_and_every_cut() {
    let mut t = talk();
    let req = request(1, 0, 1, OBJ, "put", &vec![b'x'; 100_000]);
    for c in req.chunks(1400) {
        t.tcp(1.0, true, c);
    }
    let resp = response(1, 1, Some(0), &vec![b'y'; 50_000], "");
    t.tcp(2.0, false, &resp);
    let small = request(1, 0, 2, OBJ, "get", b"");
    t.tcp(3.0, true, &small);
    t.tcp(3.5, false, &response(1, 2, Some(0), b"", ""));
    let out = t.finish();
    assert_eq!(out.l7.len(), 2);
    assert_eq!(
        (out.l7[0].request_length, out.l7[0].response_length),
        (req.len() as i64, resp.len() as i64)
    );
    assert_eq!(
        s(&out.l7[0].endpoint),
        "TARS.NodeTarsServer.NodeTarsObj/put"
    );
    assert_eq!(out.l7[1].captured_request_byte as usize, small.len());

    // Lost bytes inside a packet longer than the hold: the direction waits for a packet head.
    let mut t = talk();
    t.tcp(0.0, true, &request(1, 0, 1, OBJ, "a", b""));
    t.tcp(0.5, false, &response(1, 1, Some(0), b"", ""));
    let long = request(1, 0, 2, OBJ, "b", &vec![b'z'; 4000]);
    t.tcp(1.0, true, &long[..1400]);
    t.skip(true, 1400);
    t.tcp(1.2, true, &long[2800..]);
    t.tcp(2.0, true, &request(1, 0, 3, OBJ, "c", b""));
    t.tcp(2.5, false, &response(1, 3, Some(0), b"", ""));
    let funcs: Vec<String> = rows(t).into_iter().map(|r| r.0).collect();
    assert_eq!(funcs, ["a", "c", "b"]);

    let conversation = [
        (true, request(1, 0, 1, OBJ, "getUsrName", b"abc")),
        (true, request(3, 0, 2, OBJ, "add", b"")),
        (false, response(3, 2, Some(0), b"", "")),
        (false, response(1, 1, Some(-3), b"", "")),
    ];
    same_rows_at_every_cut(&conversation, talk);
}

#[test]
fn hostile_streams_never_panic() {
    let a = request(1, 0, 1, OBJ, "getUsrName", b"\x16\x05user0");
    let b = response(1, 1, Some(0), b"\x16\x05hello", "");
    let c = request(3, 1, 2, OBJ, "f", b"");
    let d = response(1, 2, Some(-3), b"", "no such function");
    let seeds: [&[u8]; 4] = [&a, &b, &c, &d];
    hostile_talks(&seeds, 3000, 8, talk);
    // Nesting beyond the bound and lengths beyond the bytes read as nothing.
    let mut deep = vec![0, 0, 0, 0, 0x10, 1];
    deep.extend(std::iter::repeat_n(0x2a, 64));
    let n = deep.len() as u32;
    deep[..4].copy_from_slice(&n.to_be_bytes());
    assert_eq!(packet(&deep), None);
    let huge = [0, 0, 0, 40, 0x10, 1, 0x57, 0xff, 0xff, 0xff, 0xff];
    assert_eq!(packet(&huge), None);
}

#[test]
fn off_unless_enabled_and_small() {
    let mut t = Talk::with(AnalyzerConfig::default(), 14002);
    t.tcp(0.0, true, &request(1, 0, 1, OBJ, "f", b""));
    t.tcp(0.5, false, &response(1, 1, Some(0), b"", ""));
    assert!(t.finish().l7.is_empty());
    assert_eq!(std::mem::size_of::<TarsSession>(), 80);
}
