//! SOFARPC through the whole analyzer: header-map and Hessian names, trace contexts, status
//! errors, heartbeats, one-way calls, messages split, batched and longer than the hold, gaps,
//! hostile bytes.

use super::hessian::request_names;
use super::session::SofaRpcSession;
use super::wire::{header_entries, new_trace_context, Header};
use crate::l7::parser::{L7Parser, Transport};
use crate::l7::talk::{hostile_talks, s, same_rows_at_every_cut, Talk};
use crate::l7::{L7Protocol, ParserKind, Probe};
use crate::record::l7::{TYPE_REQUEST, TYPE_RESPONSE, TYPE_SESSION};
use crate::AnalyzerConfig;

const REQUEST_CLASS: &str = "com.alipay.sofa.rpc.core.request.SofaRequest";
const RESPONSE_CLASS: &str = "com.alipay.sofa.rpc.core.response.SofaResponse";

fn talk() -> Talk {
    let mut cfg = AnalyzerConfig::default();
    cfg.l7.enabled.insert(L7Protocol::SofaRpc);
    Talk::with(cfg, 12200)
}

fn header_map(entries: &[(&str, &str)]) -> Vec<u8> {
    let mut v = Vec::new();
    for (k, val) in entries {
        for x in [k, val] {
            v.extend((x.len() as u32).to_be_bytes());
            v.extend(x.as_bytes());
        }
    }
    v
}

/// A request (`kind` 1) or one-way call (2) of command `cmd` with codec `codec`.
fn request(kind: u8, cmd: u16, id: u32, codec: u8, map: &[u8], content: &[u8]) -> Vec<u8> {
    let mut v = vec![1, kind];
    v.extend(cmd.to_be_bytes());
    v.push(1);
    v.extend(id.to_be_bytes());
    v.push(codec);
    v.extend(3000u32.to_be_bytes());
    v.extend((REQUEST_CLASS.len() as u16).to_be_bytes());
    v.extend((map.len() as u16).to_be_bytes());
    v.extend((content.len() as u32).to_be_bytes());
    v.extend(REQUEST_CLASS.as_bytes());
    v.extend(map);
    v.extend(content);
    v
}

fn call(id: u32, service: &str, method: &str, content: &[u8]) -> Vec<u8> {
    let map = header_map(&[
        ("sofa_head_target_service", service),
        ("sofa_head_method_name", method),
        (
            "rpc_trace_context.sofaTraceId",
            "0a0b0c0d1683255362727100010001",
        ),
        ("service", service),
    ]);
    request(1, 1, id, 11, &map, content)
}

fn response(cmd: u16, id: u32, status: u16, content: &[u8]) -> Vec<u8> {
    let mut v = vec![1, 0];
    v.extend(cmd.to_be_bytes());
    v.push(1);
    v.extend(id.to_be_bytes());
    v.push(11);
    v.extend(status.to_be_bytes());
    v.extend((RESPONSE_CLASS.len() as u16).to_be_bytes());
    v.extend(0u16.to_be_bytes());
    v.extend((content.len() as u32).to_be_bytes());
    v.extend(RESPONSE_CLASS.as_bytes());
    v.extend(content);
    v
}

fn hs(s: &str) -> Vec<u8> {
    let mut v = vec![s.len() as u8];
    v.extend(s.as_bytes());
    v
}

/// A `SofaRequest` in SOFA Hessian's class-definition form, as SOFARPC's Hessian serializer
/// writes it: the names in the fields, the trace in `requestProps`, the argument types last.
fn hessian_request(service: &str, method: &str, trace: &str, new_context: Option<&str>) -> Vec<u8> {
    let mut v = vec![b'O', 0x90 + REQUEST_CLASS.len() as u8];
    v.extend(REQUEST_CLASS.as_bytes());
    v.push(0x95);
    for f in [
        "targetAppName",
        "methodName",
        "targetServiceUniqueName",
        "requestProps",
        "methodArgSigs",
    ] {
        v.extend(hs(f));
    }
    v.extend([b'o', 0x90, b'N']);
    v.extend(hs(method));
    v.push(b'S');
    v.extend((service.len() as u16).to_be_bytes());
    v.extend(service.as_bytes());
    v.push(b'M');
    v.extend([hs("protocol"), hs("bolt"), hs("retries"), vec![0x93]].concat());
    if let Some(c) = new_context {
        v.extend(hs("new_rpc_trace_context"));
        v.push(b'S');
        v.extend((c.len() as u16).to_be_bytes());
        v.extend(c.as_bytes());
    }
    v.extend(hs("rpc_trace_context"));
    v.push(b'M');
    v.extend([hs("sofaRpcId"), hs("0.1"), hs("sofaTraceId"), hs(trace)].concat());
    v.extend(b"zz");
    v.extend([b'V', b't', 0, 7]);
    v.extend(b"[string");
    v.extend([b'n', 1]);
    v.extend(hs("java.lang.String"));
    v.extend(b"z");
    v.extend(hs("argument"));
    v
}

#[test]
fn decoders_and_probe() {
    let req = call(7, "com.example.Greeter:1.0", "hello", b"\x0a\x05world");
    let h = Header::parse(&req).unwrap();
    assert_eq!((h.kind, h.cmd, h.request_id, h.codec), (1, 1, 7, 11));
    assert_eq!(h.total_len(), req.len());
    let (class, map, content) = h.parts(&req);
    assert_eq!(class, REQUEST_CLASS.as_bytes());
    assert_eq!(header_entries(map).count(), 4);
    assert_eq!(content, b"\x0a\x05world");
    let r = Header::parse(&response(2, 7, 6, b"")).unwrap();
    assert_eq!((r.kind, r.status, r.class_len), (0, 6, 46));

    let content = hessian_request(
        "com.example.Greeter:1.0",
        "hello",
        "t1",
        Some("tcid=t2&spid=0.1&pspid=0&sample=true&"),
    );
    let names = request_names(&content);
    assert_eq!(names.service, b"com.example.Greeter:1.0");
    assert_eq!(names.method, b"hello");
    assert_eq!(names.trace_id, b"t1");
    assert_eq!(
        new_trace_context(names.new_trace_context),
        (&b"t2"[..], &b"0.1"[..], &b"0"[..])
    );
    // A pair without its closing '&' is not read (SOFARPC always writes it).
    assert_eq!(new_trace_context(b"tcid=abc").0, b"");
    assert_eq!(request_names(b"\x01\x02garbage"), Default::default());

    assert_eq!(SofaRpcSession::probe(&req, Transport::Tcp), Probe::Certain);
    assert_eq!(
        SofaRpcSession::probe(&req[..3], Transport::Tcp),
        Probe::Unsure
    );
    assert_eq!(
        SofaRpcSession::probe(&req[..60], Transport::Tcp),
        Probe::Unsure
    );
    let hessian_only = request(1, 1, 8, 1, &[], &hessian_request("s.S:1.0", "m", "t", None));
    assert_eq!(
        SofaRpcSession::probe(&hessian_only, Transport::Tcp),
        Probe::Certain
    );
    let heartbeat = request(1, 0, 9, 1, &[], &[]);
    let nameless = request(1, 1, 9, 11, &header_map(&[("uid", "")]), b"x");
    let mut spaced = call(9, "s.S", "m", b"");
    spaced[22] = b' ';
    for p in [
        &b"GET / HTTP/1.1\r\n\r\n"[..],
        &heartbeat,
        &nameless,
        &spaced,
        &response(2, 7, 0, b"x"),
    ] {
        assert_eq!(
            SofaRpcSession::probe(p, Transport::Tcp),
            Probe::NotForUs,
            "{p:?}"
        );
    }
}

type Row = (String, String, u8, u8, Option<i32>, String, Option<u32>);

fn sig(r: &crate::record::L7FlowLog) -> Row {
    (
        s(&r.request_type).to_string(),
        s(&r.request_resource).to_string(),
        r.row_type,
        r.response_status,
        r.response_code,
        s(&r.response_exception).to_string(),
        r.request_id,
    )
}

fn rows(t: Talk) -> Vec<Row> {
    t.finish().l7.iter().map(sig).collect()
}

fn row(m: &str, svc: &str, ty: u8, st: u8, code: Option<i32>, exc: &str, id: u32) -> Row {
    (
        m.to_string(),
        svc.to_string(),
        ty,
        st,
        code,
        exc.to_string(),
        Some(id),
    )
}

#[test]
fn calls_errors_heartbeats_and_one_way_calls() {
    let mut t = talk();
    let svc = "com.example.Greeter:1.0";
    // Two calls in one segment, answered out of order.
    t.tcp(
        0.0,
        true,
        &[call(1, svc, "hello", b"a"), call(2, svc, "bye", b"b")].concat(),
    );
    t.tcp(1.0, false, &response(2, 2, 0, b"ok"));
    t.tcp(2.0, false, &response(2, 1, 6, b""));
    // The listener's CONNECTION_CLOSED after the answer: a lone response.
    t.tcp(2.5, false, &response(2, 1, 0x10, b""));
    t.tcp(3.0, true, &call(3, svc, "", b"x"));
    t.tcp(3.5, false, &response(2, 3, 8, b""));
    // Heartbeats both ways: counted, no rows.
    t.tcp(4.0, true, &request(1, 0, 4, 1, &[], &[]));
    t.tcp(4.1, false, &response(0, 4, 0, b""));
    // A one-way call, then a Hessian call without names in its header map.
    let mut oneway = call(5, svc, "log", b"line");
    oneway[1] = 2;
    t.tcp(5.0, true, &oneway);
    let content = hessian_request(
        "com.example.Legacy:1.0",
        "find",
        "t1",
        Some("tcid=ac110001&spid=0.2&pspid=0&sample=true&"),
    );
    t.tcp(6.0, true, &request(1, 1, 6, 1, &[], &content));
    t.tcp(6.5, false, &response(2, 6, 0, b""));
    assert_eq!(
        t.an.counters().l7.protocol_counter(ParserKind::SofaRpc, 0),
        2
    );
    let out = t.finish();
    let got: Vec<Row> = out.l7.iter().map(sig).collect();
    let legacy = "com.example.Legacy:1.0";
    assert_eq!(
        got,
        [
            row("bye", svc, TYPE_SESSION, 0, Some(0), "", 2),
            row("hello", svc, TYPE_SESSION, 3, Some(6), "NO_PROCESSOR", 1),
            row("", "", TYPE_RESPONSE, 3, Some(16), "CONNECTION_CLOSED", 1),
            row("", svc, TYPE_SESSION, 4, Some(8), "CLIENT_SEND_ERROR", 3),
            row("log", svc, TYPE_REQUEST, 0, None, "", 5),
            row("find", legacy, TYPE_SESSION, 0, Some(0), "", 6),
        ]
    );
    let hello = &out.l7[1];
    assert_eq!(s(&hello.endpoint), "com.example.Greeter:1.0/hello");
    assert_eq!(s(&hello.trace_id), "0a0b0c0d1683255362727100010001");
    assert_eq!(hello.request_length, 44 + 194 + 1);
    assert_eq!(hello.response_length, 46);
    assert_eq!(
        (hello.captured_request_byte, hello.captured_response_byte),
        (22 + 44 + 194 + 1, 20 + 46)
    );
    assert_eq!(s(&out.l7[2].endpoint), "");
    // The new trace context wins over rpc_trace_context.sofaTraceId; its pspid is the parent.
    assert_eq!(
        (
            s(&out.l7[5].trace_id),
            s(&out.l7[5].span_id),
            s(&out.l7[5].parent_span_id)
        ),
        ("ac110001", "0.2", "0")
    );
    assert!(out.l7[0].parent_span_id.is_empty());
}

#[test]
fn long_messages_gaps_and_every_cut() {
    let svc = "com.example.Blob:1.0";
    let mut t = talk();
    let big = call(1, svc, "put", &vec![b'x'; 100_000]);
    for c in big.chunks(1400) {
        t.tcp(1.0, true, c);
    }
    t.tcp(2.0, false, &response(2, 1, 0, &vec![b'y'; 50_000]));
    t.tcp(3.0, true, &call(2, svc, "get", b""));
    t.tcp(3.5, false, &response(2, 2, 0, b""));
    let got = rows(t);
    assert_eq!(
        got,
        [
            row("put", svc, TYPE_SESSION, 0, Some(0), "", 1),
            row("get", svc, TYPE_SESSION, 0, Some(0), "", 2)
        ]
    );

    // Lost bytes in the middle of a request longer than the hold (read as far as it came): the
    // direction waits for a header again.
    let mut t = talk();
    t.tcp(0.0, true, &call(1, svc, "a", b""));
    t.tcp(0.5, false, &response(2, 1, 0, b""));
    let second = call(2, svc, "b", &vec![b'z'; 4000]);
    t.tcp(1.0, true, &second[..1400]);
    t.skip(true, 1400);
    t.tcp(1.2, true, &second[2800..]);
    t.tcp(2.0, true, &call(3, svc, "c", b""));
    t.tcp(2.5, false, &response(2, 3, 0, b""));
    let methods: Vec<String> = rows(t).into_iter().map(|r| r.0).collect();
    assert_eq!(methods, ["a", "c", "b"]);

    let conversation = [
        (true, call(1, svc, "put", b"abc")),
        (
            true,
            request(1, 1, 2, 1, &[], &hessian_request(svc, "get", "t", None)),
        ),
        (false, response(2, 2, 0, b"")),
        (false, response(2, 1, 2, b"boom")),
    ];
    same_rows_at_every_cut(&conversation, talk);
}

#[test]
fn hostile_streams_never_panic() {
    let a = call(1, "s.S:1.0", "m", b"abc");
    let b = response(2, 1, 0, b"ok");
    let c = request(
        1,
        1,
        2,
        1,
        &[],
        &hessian_request("k.S", "n", "t", Some("tcid=a&")),
    );
    let d = response(2, 2, 6, b"");
    let seeds: [&[u8]; 4] = [&a, &b, &c, &d];
    hostile_talks(&seeds, 3000, 8, talk);
    for cut in 0..c.len() {
        let _ = request_names(&c[22 + REQUEST_CLASS.len()..][..cut.saturating_sub(66)]);
    }
}

#[test]
fn off_unless_enabled_and_small() {
    let mut t = Talk::with(AnalyzerConfig::default(), 12200);
    t.tcp(0.0, true, &call(1, "s.S:1.0", "m", b""));
    t.tcp(0.5, false, &response(2, 1, 0, b""));
    assert!(t.finish().l7.is_empty());
    assert_eq!(std::mem::size_of::<SofaRpcSession>(), 80);
}
