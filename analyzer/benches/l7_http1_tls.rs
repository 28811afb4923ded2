//! HTTP/1 head and TLS hello decoding per message (absolute figures for regressions; the HTTP/1
//! head parse is httparse underneath, so there is no independent peer to compare with).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tapflow_analyzer::l7::{http1, tls};

const REQUEST: &[u8] = b"GET /api/v1/orders/1234?expand=items HTTP/1.1\r\nHost: shop.example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/120.0\r\nAccept: application/json\r\nAccept-Encoding: gzip, deflate, br\r\nX-Request-ID: 6f1c2a9e-5d1b-4c7e-9a57-3c2b1f0e8d11\r\ntraceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\nCookie: session=abcdef0123456789\r\n\r\n";
const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 512\r\nDate: Sun, 22 Nov 2026 05:00:00 GMT\r\nServer: nginx\r\nCache-Control: no-store\r\n\r\n";

fn client_hello() -> Vec<u8> {
    let ext = |ty: u16, body: &[u8]| {
        let mut v = ty.to_be_bytes().to_vec();
        v.extend_from_slice(&(body.len() as u16).to_be_bytes());
        v.extend_from_slice(body);
        v
    };
    let sni = b"\x00\x13\x00\x00\x10api.example.com.";
    let mut exts = ext(0, sni);
    exts.extend(ext(16, b"\x00\x0c\x02h2\x08http/1.1"));
    exts.extend(ext(43, &[4, 0x03, 0x04, 0x03, 0x03]));
    exts.extend(ext(10, &[0, 4, 0, 0x1d, 0, 0x17]));
    exts.extend(ext(51, &[0u8; 40]));
    let mut m = vec![3, 3];
    m.extend_from_slice(&[7; 32]);
    m.push(32);
    m.extend_from_slice(&[9; 32]);
    m.extend_from_slice(&[0, 6, 0x13, 0x01, 0x13, 0x02, 0xc0, 0x2f, 1, 0]);
    m.extend_from_slice(&(exts.len() as u16).to_be_bytes());
    m.extend(exts);
    let mut hs = vec![1];
    hs.extend_from_slice(&(m.len() as u32).to_be_bytes()[1..]);
    hs.extend(m);
    let mut rec = vec![22, 3, 1];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend(hs);
    rec
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("l7_messages");
    g.throughput(Throughput::Elements(1));
    g.bench_function("http1_request_head", |b| {
        b.iter(|| {
            let mut slots = [http1::EMPTY_HEADER; http1::MAX_HEADERS];
            let ok = matches!(
                http1::parse_request(black_box(REQUEST), &mut slots),
                Ok(http1::Parsed::Complete(_))
            );
            black_box(ok)
        })
    });
    g.bench_function("http1_response_head", |b| {
        b.iter(|| {
            let mut slots = [http1::EMPTY_HEADER; http1::MAX_HEADERS];
            let ok = matches!(
                http1::parse_response(black_box(RESPONSE), &mut slots, false),
                Ok(http1::Parsed::Complete(_))
            );
            black_box(ok)
        })
    });
    let hello = client_hello();
    let h = tls::parse_hello(&hello).expect("client hello");
    assert_eq!(h.sni.expect("sni").as_bytes(), b"api.example.com.");
    g.bench_function("tls_client_hello", |b| {
        b.iter(|| black_box(tls::parse_hello(black_box(&hello))).is_ok())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
