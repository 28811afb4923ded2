//! bRPC through the whole analyzer: calls answered out of order, error codes, log ids and trace
//! ids, messages split, batched and longer than the hold, streaming frames, gaps, hostile bytes.

use super::session::BrpcSession;
use super::wire::{head, meta, user_field, Kind, HEAD_LEN};
use crate::l7::parser::{L7Parser, Transport};
use crate::l7::protobuf::encode::Pb;
use crate::l7::talk::{hostile_talks, s, same_rows_at_every_cut, Talk};
use crate::l7::{L7Protocol, ParserKind, Probe};
use crate::record::l7::{TYPE_REQUEST, TYPE_SESSION};
use crate::AnalyzerConfig;

fn talk() -> Talk {
    let mut cfg = AnalyzerConfig::default();
    cfg.l7.enabled.insert(L7Protocol::Brpc);
    Talk::with(cfg, 8002)
}

const SERVICE: &str = "paddle.distributed.RpcBaseService";
const PARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

/// A bthread id as bRPC makes correlation ids: the call's slot high, a version low.
fn cid(slot: u32, version: u32) -> u64 {
    (u64::from(slot) << 32) | u64::from(version)
}

/// A message with meta `meta`, a payload and an attachment.
fn message(magic: &[u8; 4], meta: Pb, payload: &[u8], attachment: &[u8]) -> Vec<u8> {
    let meta = meta.0;
    let mut m = magic.to_vec();
    m.extend(((meta.len() + payload.len() + attachment.len()) as u32).to_be_bytes());
    m.extend((meta.len() as u32).to_be_bytes());
    m.extend(meta);
    m.extend(payload);
    m.extend(attachment);
    m
}

/// A call, as bRPC writes its meta (request, compress type, correlation id, user fields).
fn call(
    id: u64,
    service: &str,
    method: &str,
    log_id: Option<u64>,
    fields: &[(&str, &str)],
) -> Vec<u8> {
    let mut r = Pb::default()
        .bytes(1, service.as_bytes())
        .bytes(2, method.as_bytes());
    if let Some(l) = log_id {
        r = r.int(3, l);
    }
    let mut m = Pb::default().msg(1, r).int(3, 0).int(4, id);
    for (k, v) in fields {
        m = m.msg(
            9,
            Pb::default().bytes(1, k.as_bytes()).bytes(2, v.as_bytes()),
        );
    }
    message(b"PRPC", m, b"\x0a\x05hello", b"")
}

fn answer(id: u64, code: Option<i32>, text: &str, payload: &[u8]) -> Vec<u8> {
    let mut r = Pb::default();
    if let Some(c) = code {
        r = r.int(1, c as i64 as u64);
    }
    if !text.is_empty() {
        r = r.bytes(2, text.as_bytes());
    }
    message(
        b"PRPC",
        Pb::default().msg(2, r).int(3, 0).int(4, id),
        payload,
        b"",
    )
}

#[test]
fn decoders_and_probe() {
    let q = call(
        cid(3, 2),
        SERVICE,
        "InvokeRpc",
        Some(77),
        &[("traceparent", PARENT)],
    );
    let h = head(&q).unwrap();
    assert_eq!((h.kind, h.total()), (Kind::Rpc, q.len()));
    let m = meta(&q[HEAD_LEN..HEAD_LEN + h.meta as usize]).unwrap();
    let r = m.request.unwrap();
    assert_eq!(
        (r.service, r.method, r.log_id),
        (SERVICE.as_bytes(), &b"InvokeRpc"[..], Some(77))
    );
    assert_eq!(
        (m.correlation_id, m.request_id()),
        (Some(cid(3, 2) as i64), Some(3))
    );
    assert_eq!(user_field(m.raw, "TraceParent"), Some(PARENT.as_bytes()));
    assert_eq!(user_field(m.raw, "sw8"), None);
    // A negative code is sign-extended.
    let a = answer(cid(3, 2), Some(-1), "boom", b"");
    let m = meta(&a[HEAD_LEN..]).unwrap();
    assert_eq!(m.response.unwrap().error_code, Some(-1));
    assert_eq!(m.response.unwrap().error_text, b"boom");

    assert_eq!(BrpcSession::probe(&q, Transport::Tcp), Probe::Certain);
    assert_eq!(BrpcSession::probe(&a, Transport::Tcp), Probe::Certain);
    assert_eq!(BrpcSession::sent_by_client(&q, Transport::Tcp), Some(true));
    assert_eq!(BrpcSession::sent_by_client(&a, Transport::Tcp), Some(false));
    for cut in [&q[..2], &q[..11], &q[..14]] {
        assert_eq!(
            BrpcSession::probe(cut, Transport::Tcp),
            Probe::Unsure,
            "{cut:?}"
        );
    }
    let mut meta_over_body = q.clone();
    meta_over_body[8..12].copy_from_slice(&u32::MAX.to_be_bytes());
    let spaced = call(1, "a service", "m", None, &[]);
    let neither = message(b"PRPC", Pb::default().int(3, 0).int(4, 1), b"", b"");
    let both = message(
        b"PRPC",
        Pb::default()
            .msg(1, Pb::default().bytes(1, b"S").bytes(2, b"m"))
            .msg(2, Pb::default()),
        b"",
        b"",
    );
    let stream = message(b"STRM", Pb::default().int(1, 5), b"data", b"");
    for p in [
        &b"GET / HTTP/1.1\r\n\r\n"[..],
        &b"PRPx"[..],
        &meta_over_body,
        &spaced,
        &neither,
        &both,
        &stream,
    ] {
        assert_eq!(
            BrpcSession::probe(p, Transport::Tcp),
            Probe::NotForUs,
            "{p:?}"
        );
    }
}

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
);

fn rows(t: Talk) -> Vec<Row> {
    t.finish()
        .l7
        .iter()
        .map(|r| {
            (
                s(&r.request_type).to_string(),
                s(&r.request_resource).to_string(),
                s(&r.endpoint).to_string(),
                r.row_type,
                r.response_status,
                r.response_code,
                s(&r.response_exception).to_string(),
                r.request_id,
                s(&r.x_request_id_0).to_string(),
                s(&r.trace_id).to_string(),
            )
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn row(m: &str, st: u8, code: Option<i32>, exc: &str, id: u32, log: &str, trace: &str) -> Row {
    (
        m.to_string(),
        SERVICE.to_string(),
        format!("{SERVICE}/{m}"),
        TYPE_SESSION,
        st,
        code,
        exc.to_string(),
        Some(id),
        log.to_string(),
        trace.to_string(),
    )
}

#[test]
fn calls_answered_out_of_order_errors_and_trace_ids() {
    let mut t = talk();
    // Two calls in one segment (the same slot's next version is another call), answered in
    // reverse order.
    t.tcp(
        0.0,
        true,
        &[
            call(
                cid(3, 2),
                SERVICE,
                "InvokeRpc",
                Some(77),
                &[("traceparent", PARENT)],
            ),
            call(cid(3, 3), SERVICE, "Ping", None, &[]),
        ]
        .concat(),
    );
    t.tcp(1.0, false, &answer(cid(3, 3), Some(0), "", b"pong"));
    t.tcp(2.0, false, &answer(cid(3, 2), Some(0), "", b"\x0a\x02ok"));
    // A service the server lacks, a method failing with a user code, an answer without a code.
    t.tcp(3.0, true, &call(cid(6, 2), "NoSuch", "Echo", None, &[]));
    t.tcp(
        3.5,
        false,
        &answer(
            cid(6, 2),
            Some(1001),
            "[E1001]Fail to find service=NoSuch",
            b"",
        ),
    );
    t.tcp(4.0, true, &call(cid(7, 2), SERVICE, "Fail", None, &[]));
    t.tcp(
        4.5,
        false,
        &answer(cid(7, 2), Some(-1), "user failure", b""),
    );
    t.tcp(5.0, true, &call(cid(8, 2), SERVICE, "Quiet", None, &[]));
    t.tcp(5.5, false, &answer(cid(8, 2), None, "", b""));
    // Never answered.
    t.tcp(6.0, true, &call(cid(9, 2), SERVICE, "Lost", None, &[]));
    let mut got = rows(t);
    let lost = got.pop().unwrap();
    assert_eq!((lost.0.as_str(), lost.3, lost.4), ("Lost", TYPE_REQUEST, 2));
    let no_such = got.remove(2);
    assert_eq!(
        (
            no_such.0.as_str(),
            no_such.1.as_str(),
            no_such.2.as_str(),
            no_such.4,
            no_such.5
        ),
        ("Echo", "NoSuch", "NoSuch/Echo", 3, Some(1001))
    );
    assert_eq!(no_such.6, "[E1001]Fail to find service=NoSuch");
    assert_eq!(
        got,
        [
            row("Ping", 0, Some(0), "", 3, "", ""),
            row(
                "InvokeRpc",
                0,
                Some(0),
                "",
                3,
                "77",
                "0af7651916cd43dd8448eb211c80319c"
            ),
            row("Fail", 3, Some(-1), "user failure", 7, "", ""),
            row("Quiet", 0, None, "", 8, "", ""),
        ]
    );
}

#[test]
fn lengths_long_messages_streams_gaps_and_every_cut() {
    let mut t = talk();
    let mut q = call(cid(1, 1), SERVICE, "Put", None, &[]);
    // A 100 kB attachment: the body's size says so.
    let n = q.len();
    q.extend(vec![b'x'; 100_000]);
    let body = (q.len() - HEAD_LEN) as u32;
    q[4..8].copy_from_slice(&body.to_be_bytes());
    assert_eq!(head(&q).unwrap().total(), q.len());
    assert!(n < 200);
    for c in q.chunks(1400) {
        t.tcp(1.0, true, c);
    }
    let a = answer(cid(1, 1), Some(0), "", &vec![b'y'; 50_000]);
    t.tcp(2.0, false, &a);
    // Streaming frames between calls are skipped and counted.
    let frame = message(b"STRM", Pb::default().int(1, 5), &[b'z'; 3000], b"");
    t.tcp(2.5, true, &frame);
    t.tcp(2.6, false, &frame);
    let small = call(cid(2, 1), SERVICE, "Get", None, &[]);
    t.tcp(3.0, true, &small);
    t.tcp(3.5, false, &answer(cid(2, 1), Some(0), "", b""));
    let counters = t.an.counters().l7;
    assert_eq!(
        counters.protocol_counter(ParserKind::Brpc, 0),
        2,
        "stream frames"
    );
    assert_eq!(counters.parse_errors, 0);
    let out = t.finish();
    assert_eq!(out.l7.len(), 2);
    assert_eq!(
        (out.l7[0].request_length, out.l7[0].response_length),
        (q.len() as i64, a.len() as i64)
    );
    assert_eq!(out.l7[1].captured_request_byte as usize, small.len());

    // Lost bytes inside a message longer than the hold: the direction waits for a head.
    let mut t = talk();
    t.tcp(0.0, true, &call(cid(1, 1), SERVICE, "a", None, &[]));
    t.tcp(0.5, false, &answer(cid(1, 1), Some(0), "", b""));
    let mut long = call(cid(2, 1), SERVICE, "b", None, &[]);
    long.extend(vec![b'z'; 4000]);
    let body = (long.len() - HEAD_LEN) as u32;
    long[4..8].copy_from_slice(&body.to_be_bytes());
    t.tcp(1.0, true, &long[..1400]);
    t.skip(true, 1400);
    t.tcp(1.2, true, &long[2800..]);
    t.tcp(2.0, true, &call(cid(3, 1), SERVICE, "c", None, &[]));
    t.tcp(2.5, false, &answer(cid(3, 1), Some(0), "", b""));
    let methods: Vec<String> = rows(t).into_iter().map(|r| r.0).collect();
    assert_eq!(methods, ["a", "c", "b"]);

    let conversation = [
        (true, call(cid(1, 1), SERVICE, "InvokeRpc", Some(5), &[])),
        (true, call(cid(2, 1), SERVICE, "Ping", None, &[])),
        (false, answer(cid(2, 1), Some(0), "", b"")),
        (false, answer(cid(1, 1), Some(1002), "no method", b"")),
    ];
    same_rows_at_every_cut(&conversation, talk);
}

#[test]
fn hostile_streams_never_panic() {
    let a = call(
        cid(3, 2),
        SERVICE,
        "InvokeRpc",
        Some(1),
        &[("traceparent", PARENT)],
    );
    let b = answer(cid(3, 2), Some(0), "", b"\x0a\x02ok");
    let c = message(b"STRM", Pb::default().int(1, 5), b"data", b"");
    let d = answer(cid(4, 2), Some(1001), "no service", b"");
    let seeds: [&[u8]; 4] = [&a, &b, &c, &d];
    hostile_talks(&seeds, 3000, 8, talk);
    // Claims past the bound, a meta that is not protobuf.
    let mut huge = a.clone();
    huge[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
    assert_eq!(head(&huge), None);
    assert_eq!(meta(&[0xff; 20]), None);
    assert_eq!(meta(&[]), None);
}

#[test]
fn off_unless_enabled_and_small() {
    let mut t = Talk::with(AnalyzerConfig::default(), 8002);
    t.tcp(0.0, true, &call(1, SERVICE, "f", None, &[]));
    t.tcp(0.5, false, &answer(1, Some(0), "", b""));
    assert!(t.finish().l7.is_empty());
    assert_eq!(std::mem::size_of::<BrpcSession>(), 80);
}
