use super::*;

const GET: &[u8] = b"GET /api/v1/users/42?verbose=1 HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: curl/8.0\r\nX-Request-ID: abc-123\r\nX-Forwarded-For: 203.0.113.9\r\n\r\n";
const POST: &[u8] =
    b"POST /orders HTTP/1.1\r\nHost: shop.example\r\nContent-Length: 11\r\n\r\n{\"qty\": 1}\n";
const RESP_CHUNKED: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n";

fn slots() -> [httparse::Header<'static>; MAX_HEADERS] {
    [httparse::EMPTY_HEADER; MAX_HEADERS]
}

#[test]
fn request_head_fields() {
    let mut s = slots();
    let Ok(Parsed::Complete(h)) = parse_request(GET, &mut s) else {
        panic!("complete")
    };
    assert_eq!(h.method, "GET");
    assert_eq!(h.path, "/api/v1/users/42?verbose=1");
    assert_eq!(h.version, 1);
    assert_eq!(h.head_len, GET.len());
    assert_eq!(h.body, Body::None);
    assert_eq!(header(h.headers, "host"), Some(&b"shop.example"[..]));
    assert_eq!(header(h.headers, "X_Request_ID"), Some(&b"abc-123"[..]));
    assert_eq!(
        header(h.headers, "x_forwarded_for"),
        Some(&b"203.0.113.9"[..])
    );
    assert_eq!(header(h.headers, "referer"), None);
    assert_eq!(endpoint(h.path, 2), "/api/v1");
}

#[test]
fn every_cut_of_a_head_is_partial_never_an_error() {
    for msg in [GET, POST] {
        let head_end = msg.windows(4).position(|w| w == b"\r\n\r\n").expect("head") + 4;
        for cut in 0..head_end {
            let mut s = slots();
            assert!(
                matches!(parse_request(&msg[..cut], &mut s), Ok(Parsed::Partial)),
                "cut {cut}"
            );
        }
    }
    let head_end = RESP_CHUNKED
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("head")
        + 4;
    for cut in 0..head_end {
        let mut s = slots();
        assert!(
            matches!(
                parse_response(&RESP_CHUNKED[..cut], &mut s, false),
                Ok(Parsed::Partial)
            ),
            "cut {cut}"
        );
    }
}

#[test]
fn pipelined_requests_are_found_one_after_the_other() {
    let mut stream = POST.to_vec();
    stream.extend_from_slice(GET);
    let mut s = slots();
    let Ok(Parsed::Complete(first)) = parse_request(&stream, &mut s) else {
        panic!("first")
    };
    assert_eq!(first.body, Body::Length(11));
    let next = first.head_len + 11;
    let mut s = slots();
    let Ok(Parsed::Complete(second)) = parse_request(&stream[next..], &mut s) else {
        panic!("second")
    };
    assert_eq!(second.method, "GET");
}

#[test]
fn response_body_framing() {
    let cases: [(&[u8], bool, Body); 7] = [
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
            false,
            Body::Length(5),
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
            true,
            Body::None,
        ),
        (
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n",
            false,
            Body::None,
        ),
        (b"HTTP/1.1 204 No Content\r\n\r\n", false, Body::None),
        (b"HTTP/1.1 100 Continue\r\n\r\n", false, Body::None),
        (b"HTTP/1.0 200 OK\r\n\r\n", false, Body::UntilClose),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            false,
            Body::Chunked,
        ),
    ];
    for (msg, to_head, want) in cases {
        let mut s = slots();
        let Ok(Parsed::Complete(h)) = parse_response(msg, &mut s, to_head) else {
            panic!("{}", String::from_utf8_lossy(msg))
        };
        assert_eq!(h.body, want, "{}", String::from_utf8_lossy(msg));
    }
}

#[test]
fn hostile_heads_are_errors() {
    let mut s = slots();
    assert_eq!(
        parse_request(
            b"GET / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            &mut s
        )
        .err(),
        Some(HttpError::BadContentLength)
    );
    let mut s = slots();
    assert_eq!(
        parse_request(b"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", &mut s).err(),
        Some(HttpError::BadContentLength)
    );
    let mut s = slots();
    assert_eq!(
        parse_request(
            b"GET / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
            &mut s
        )
        .err(),
        Some(HttpError::BadContentLength)
    );
    let mut many = b"GET / HTTP/1.1\r\n".to_vec();
    for i in 0..MAX_HEADERS + 1 {
        many.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    let mut s = slots();
    assert_eq!(
        parse_request(&many, &mut s).err(),
        Some(HttpError::TooManyHeaders)
    );
    let mut s = slots();
    assert_eq!(
        parse_request(b"G\x00T / HTTP/1.1\r\n\r\n", &mut s).err(),
        Some(HttpError::Invalid)
    );
}

#[test]
fn chunked_bodies_are_skipped_at_any_split() {
    let mut s = slots();
    let Ok(Parsed::Complete(h)) = parse_response(RESP_CHUNKED, &mut s, false) else {
        panic!("head")
    };
    let body = &RESP_CHUNKED[h.head_len..];
    // Whole.
    let mut k = ChunkedSkipper::default();
    assert_eq!(k.skip(body), Ok(body.len()));
    assert_eq!(k, ChunkedSkipper::Done);
    // Fed in two pieces at every split, re-offering what was not consumed.
    for split in 0..=body.len() {
        let mut k = ChunkedSkipper::default();
        let used = k.skip(&body[..split]).expect("first part");
        assert!(used <= split);
        let rest = &body[used..];
        assert_eq!(k.skip(rest), Ok(rest.len()), "split {split}");
        assert_eq!(k, ChunkedSkipper::Done, "split {split}");
    }
    // Bytes after the body are left for the next message.
    let mut more = body.to_vec();
    more.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
    let mut k = ChunkedSkipper::default();
    assert_eq!(k.skip(&more), Ok(body.len()));
}

#[test]
fn bad_chunks_are_errors() {
    for bad in [&b"zz\r\n"[..], b"5\r\nhelloXX", b"1234567890abcdef0\r\n"] {
        let mut k = ChunkedSkipper::default();
        assert_eq!(k.skip(bad), Err(HttpError::BadChunk), "{bad:?}");
    }
    let mut k = ChunkedSkipper::default();
    assert_eq!(k.skip(&[b'1'; MAX_CHUNK_LINE]), Err(HttpError::BadChunk));
}

#[test]
fn probe_three_states() {
    assert_eq!(probe(b"GET / HTTP/1.1\r\n"), Probe::Certain);
    assert_eq!(probe(b"POS"), Probe::Unsure);
    assert_eq!(probe(b"HTTP/1.1 404 Not Found\r\n"), Probe::Certain);
    assert_eq!(probe(b"HTTP/1."), Probe::Unsure);
    assert_eq!(probe(b"HTTP/1.1 abc"), Probe::NotForUs);
    assert_eq!(probe(b"\x16\x03\x01\x02\x00"), Probe::NotForUs);
    assert_eq!(probe(b"GETX / HTTP/1.1"), Probe::NotForUs);
}

#[test]
fn endpoints() {
    assert_eq!(endpoint("/api/v1/users/42", 2), "/api/v1");
    assert_eq!(endpoint("/api", 2), "/api");
    assert_eq!(endpoint("/a/b?x=/c/d", 2), "/a/b");
    assert_eq!(endpoint("/", 2), "/");
    assert_eq!(endpoint("/a/b/c", 1), "/a");
}

#[test]
fn random_mutations_never_panic() {
    for base in [GET, POST, RESP_CHUNKED] {
        crate::l7::mutate::mutations(base, 50_000, 0x2545_f491_4f6c_dd1d, |m| {
            let mut s = slots();
            let _ = parse_request(m, &mut s);
            let mut s = slots();
            let _ = parse_response(m, &mut s, false);
            let _ = probe(m);
            let _ = ChunkedSkipper::default().skip(m);
        });
    }
}

#[test]
fn request_lines_must_be_http() {
    use crate::l7::Probe;
    assert_eq!(probe(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"), Probe::Certain);
    assert_eq!(probe(b"GET /index.html"), Probe::Certain, "cut head");
    assert_eq!(
        probe(b"CONNECT example.com:443 HTTP/1.1\r\n"),
        Probe::Certain
    );
    // NATS' client hello and a line without the version.
    assert_eq!(
        probe(b"CONNECT {\"verbose\":false,\"pedantic\":false}\r\n"),
        Probe::NotForUs
    );
    assert_eq!(probe(b"CONNECT {\"verbose\""), Probe::NotForUs);
    assert_eq!(probe(b"GET key\r\n"), Probe::NotForUs);
    assert_eq!(probe(b"GET "), Probe::Unsure);
}
