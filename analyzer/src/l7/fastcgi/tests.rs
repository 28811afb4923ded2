//! FastCGI through the whole analyzer (inference, reassembly, pairing) and its decoders.

use super::session::FastCgiSession;
use super::wire::{cgi_status, is_header_param, looks_like_begin, params, Header};
use crate::l7::parser::{L7Parser, Transport};
use crate::l7::talk::{hostile_talks, s, same_rows_at_every_cut, Talk};
use crate::l7::{L7Protocol, Probe, ResponseStatus};
use crate::record::l7::TYPE_SESSION;
use crate::AnalyzerConfig;

/// FastCGI is off by default, as in DeepFlow.
fn talk() -> Talk {
    let mut cfg = AnalyzerConfig::default();
    cfg.l7.enabled.insert(L7Protocol::FastCgi);
    Talk::with(cfg, 9000)
}

fn record(kind: u8, id: u16, content: &[u8], padding: u8) -> Vec<u8> {
    let mut r = vec![1, kind];
    r.extend(id.to_be_bytes());
    r.extend((content.len() as u16).to_be_bytes());
    r.extend([padding, 0]);
    r.extend(content);
    r.extend(std::iter::repeat_n(0, usize::from(padding)));
    r
}

fn pairs(kv: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in kv {
        for n in [k.len(), v.len()] {
            if n < 128 {
                out.push(n as u8);
            } else {
                out.extend((n as u32 | 0x8000_0000).to_be_bytes());
            }
        }
        out.extend(k.as_bytes());
        out.extend(v.as_bytes());
    }
    out
}

const BEGIN_RESPONDER: [u8; 8] = [0, 1, 0, 0, 0, 0, 0, 0];

/// A request as nginx sends it: BEGIN_REQUEST, PARAMS, the empty PARAMS, STDIN, the empty STDIN.
fn request(id: u16, kv: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut m = record(1, id, &BEGIN_RESPONDER, 0);
    m.extend(record(4, id, &pairs(kv), 3));
    m.extend(record(4, id, b"", 0));
    if !body.is_empty() {
        m.extend(record(5, id, body, 0));
    }
    m.extend(record(5, id, b"", 0));
    m
}

/// A response: STDOUT with the CGI headers and body, the empty STDOUT, END_REQUEST.
fn response(id: u16, stdout: &[u8], protocol_status: u8) -> Vec<u8> {
    let mut m = record(6, id, stdout, 5);
    m.extend(record(6, id, b"", 0));
    m.extend(record(3, id, &[0, 0, 0, 0, protocol_status, 0, 0, 0], 0));
    m
}

fn php(uri: &str) -> Vec<(&'static str, String)> {
    vec![
        ("QUERY_STRING", "a=1".into()),
        ("REQUEST_METHOD", "GET".into()),
        ("CONTENT_TYPE", "".into()),
        ("CONTENT_LENGTH", "".into()),
        ("SCRIPT_NAME", "/index.php".into()),
        ("REQUEST_URI", uri.into()),
        ("DOCUMENT_URI", "/index.php".into()),
        ("SERVER_PROTOCOL", "HTTP/1.1".into()),
        ("HTTP_HOST", "shop.example".into()),
        ("HTTP_USER_AGENT", "curl/8.0".into()),
        (
            "HTTP_TRACEPARENT",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into(),
        ),
        ("HTTP_X_REQUEST_ID", "req-7".into()),
    ]
}

fn kv<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    v.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[test]
fn a_request_and_its_response_make_one_row() {
    let mut t = talk();
    t.tcp(0.0, true, &request(1, &kv(&php("/cart?a=1")), b""));
    t.tcp(
        3.5,
        false,
        &response(
            1,
            b"Content-Type: text/html\r\nX-Request-ID: resp-7\r\n\r\n<html>",
            0,
        ),
    );
    t.tcp(10.0, true, &request(1, &kv(&php("/missing")), b""));
    t.tcp(
        12.0,
        false,
        &response(
            1,
            b"Status: 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found",
            0,
        ),
    );
    let out = t.finish();
    assert_eq!(out.l7.len(), 2, "{:#?}", out.l7);
    let r = &out.l7[0];
    assert_eq!(r.row_type, TYPE_SESSION);
    assert_eq!((r.l7_protocol, r.l7_protocol_str), (44, "FastCGI"));
    assert_eq!(
        (
            s(&r.request_type),
            s(&r.request_domain),
            s(&r.request_resource),
            s(&r.endpoint)
        ),
        ("GET", "shop.example", "/cart?a=1", "/index.php")
    );
    assert_eq!((r.request_id, s(&r.version)), (Some(1), "1"));
    assert_eq!(s(&r.http_user_agent), "curl/8.0");
    assert_eq!(s(&r.trace_id), "0af7651916cd43dd8448eb211c80319c");
    assert_eq!(s(&r.span_id), "b7ad6b7169203331");
    assert_eq!(
        (s(&r.x_request_id_0), s(&r.x_request_id_1)),
        ("req-7", "resp-7")
    );
    assert_eq!((r.response_code, r.response_status), (Some(200), 0));
    assert_eq!(r.response_duration, 3_500);
    let m = &out.l7[1];
    assert_eq!(s(&m.request_resource), "/missing");
    assert_eq!(
        (m.response_code, m.response_status, s(&m.response_exception)),
        (Some(404), ResponseStatus::ClientError.code(), "Not Found")
    );
    assert_eq!(m.response_length, 9);
    let l4 = &out.l4[0];
    assert_eq!(
        (l4.l7_request, l4.l7_response, l4.l7_client_error),
        (2, 2, 1)
    );
}

#[test]
fn multiplexed_requests_pair_by_id_and_end_request_alone_answers() {
    let mut t = talk();
    let mut both = request(1, &kv(&php("/a")), b"");
    both.extend(request(2, &kv(&php("/b")), b"x=1"));
    t.tcp(0.0, true, &both);
    // The second is answered first; the first only by END_REQUEST, overloaded.
    t.tcp(1.0, false, &response(2, b"Status: 503 Busy\r\n\r\n", 0));
    t.tcp(2.0, false, &record(3, 1, &[0, 0, 0, 0, 2, 0, 0, 0], 0));
    let out = t.finish();
    let by = |u: &str| out.l7.iter().find(|r| s(&r.request_resource) == u).unwrap();
    let (a, b) = (by("/a"), by("/b"));
    assert_eq!((b.request_id, b.response_code), (Some(2), Some(503)));
    assert_eq!(b.response_status, ResponseStatus::ServerError.code());
    assert_eq!((a.request_id, a.response_code), (Some(1), None));
    assert_eq!(s(&a.response_exception), "FCGI_OVERLOADED");
    assert_eq!(out.l7.len(), 2);
}

#[test]
fn heads_cut_anywhere_give_the_same_rows() {
    let conversation = vec![
        (true, request(1, &kv(&php("/x")), b"")),
        (false, response(1, b"Status: 500 Oops\r\n\r\nboom", 0)),
        (true, request(1, &kv(&php("/y")), b"")),
        (false, response(1, b"Content-Type: text/plain\r\n\r\nok", 0)),
    ];
    same_rows_at_every_cut(&conversation, talk);
}

#[test]
fn a_large_params_record_is_read_as_far_as_captured_and_skipped() {
    let base = php("/big");
    let mut big = kv(&base);
    let filler = "v".repeat(3000);
    big.push(("HTTP_COOKIE", filler.as_str()));
    let mut t = talk();
    let req = request(1, &big, b"");
    // Sent in MSS-sized segments.
    for (i, chunk) in req.chunks(1400).enumerate() {
        t.tcp(i as f64 * 0.1, true, chunk);
    }
    t.tcp(5.0, false, &response(1, b"\r\n", 0));
    let out = t.finish();
    assert_eq!(out.l7.len(), 1, "{:#?}", out.l7);
    assert_eq!(s(&out.l7[0].request_resource), "/big");
    assert_eq!(out.l7[0].response_code, Some(200));
}

#[test]
fn a_gap_resynchronises_on_the_next_record() {
    let mut t = talk();
    t.tcp(0.0, true, &request(1, &kv(&php("/first")), b""));
    t.skip(false, 40);
    t.tcp(
        1.0,
        false,
        &response(1, b"Status: 200 OK\r\n\r\nlost", 0)[3..],
    );
    t.tcp(2.0, true, &request(1, &kv(&php("/second")), b""));
    t.tcp(3.0, false, &response(1, b"\r\n", 0));
    let out = t.finish();
    let second = out
        .l7
        .iter()
        .find(|r| s(&r.request_resource) == "/second")
        .expect("the request after the gap");
    assert_eq!(second.response_code, Some(200));
}

#[test]
fn decoders_and_probe() {
    assert_eq!(
        looks_like_begin(&record(1, 1, &BEGIN_RESPONDER, 0)),
        Some(true)
    );
    assert_eq!(looks_like_begin(&[1, 1, 0]), None, "a cut head");
    assert_eq!(looks_like_begin(b"GET / HTTP/1.1\r\n"), Some(false));
    assert_eq!(
        looks_like_begin(&record(1, 0, &BEGIN_RESPONDER, 0)),
        Some(false),
        "request id 0 is for management records"
    );
    assert_eq!(
        FastCgiSession::probe(&record(1, 1, &BEGIN_RESPONDER, 0), Transport::Tcp),
        Probe::Certain
    );
    assert_eq!(
        FastCgiSession::sent_by_client(&record(6, 1, b"x", 0), Transport::Tcp),
        Some(false)
    );
    assert!(
        Header::parse(&[2, 1, 0, 1, 0, 0, 0, 0]).is_none(),
        "version 2"
    );
    let p = pairs(&[("A", "1"), ("LONG", &"z".repeat(200))]);
    let got: Vec<_> = params(&p).map(|(k, v)| (k.len(), v.len())).collect();
    assert_eq!(got, [(1, 1), (4, 200)]);
    assert_eq!(
        params(&p[..p.len() - 1]).count(),
        1,
        "a cut pair ends the walk"
    );
    // A four-byte length claiming more than there is.
    assert_eq!(params(&[0x80, 0xff, 0xff, 0xff, 1, b'a']).count(), 0);
    assert!(is_header_param(b"HTTP_X_REQUEST_ID", "X-Request-ID"));
    assert!(!is_header_param(b"X_REQUEST_ID", "x-request-id"));
    assert_eq!(
        cgi_status(b"Status: 302 Found\r\n\r\n"),
        Some((302, &b"Found"[..]))
    );
    assert_eq!(cgi_status(b"Content-Type: text/html\r\n\r\n"), None);
    assert_eq!(cgi_status(b"Status: abc\r\n"), None);
}

#[test]
fn hostile_records_are_bounded() {
    let seeds: Vec<Vec<u8>> = vec![
        request(1, &kv(&php("/h")), b"body"),
        response(1, b"Status: 404 X\r\n\r\n", 0),
        record(4, 1, &[0x80, 0, 0, 9, 0x7f], 200),
        record(6, 7, b"Status:", 0),
    ];
    let seeds: Vec<&[u8]> = seeds.iter().map(|s| s.as_slice()).collect();
    hostile_talks(&seeds, 300, 8, talk);
}

#[test]
fn off_unless_enabled() {
    let mut t = Talk::new(9000);
    t.tcp(0.0, true, &request(1, &kv(&php("/a")), b""));
    t.tcp(1.0, false, &response(1, b"\r\n", 0));
    assert!(t.finish().l7.is_empty());
}
