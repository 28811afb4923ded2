//! Application payloads for generated conversations: well-formed HTTP/1.1, HTTP/2 (h2c), DNS,
//! TLS 1.2/1.3 handshakes, MySQL and Redis messages, so that benchmarks and (later) L7 parsers
//! see realistic bytes and sizes.

use super::Rng;

fn hex(rng: &mut Rng, n: usize) -> String {
    (0..n)
        .map(|_| char::from_digit((rng.next_u64() % 16) as u32, 16).unwrap_or('0'))
        .collect()
}

const PATHS: [&str; 6] = [
    "/api/v1/orders",
    "/api/v1/users/42",
    "/static/app.js",
    "/healthz",
    "/search?q=tapflow",
    "/api/v2/items/7/reviews",
];
const HOSTS: [&str; 4] = [
    "shop.example.com",
    "api.internal",
    "cdn.example.net",
    "auth.internal",
];

/// An HTTP/1.1 request.
pub(crate) fn http1_request(rng: &mut Rng) -> Vec<u8> {
    let path = PATHS[(rng.next_u64() % PATHS.len() as u64) as usize];
    let host = HOSTS[(rng.next_u64() % HOSTS.len() as u64) as usize];
    let post = rng.range(0, 4) == 0;
    let body = if post {
        format!(
            "{{\"id\":{},\"qty\":{}}}",
            rng.range(1, 9999),
            rng.range(1, 9)
        )
    } else {
        String::new()
    };
    let mut s = format!(
        "{} {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\nAccept: application/json\r\nX-Request-ID: {}\r\ntraceparent: 00-{}-{}-01\r\n",
        if post { "POST" } else { "GET" },
        hex(rng, 16),
        hex(rng, 32),
        hex(rng, 16)
    );
    if post {
        s.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    s.push_str("\r\n");
    s.push_str(&body);
    s.into_bytes()
}

/// An HTTP/1.1 response with a body of `body_len` bytes.
pub(crate) fn http1_response(rng: &mut Rng, body_len: usize) -> Vec<u8> {
    let status = match rng.range(0, 19) {
        0 => "404 Not Found",
        1 => "500 Internal Server Error",
        _ => "200 OK",
    };
    let mut v = format!("HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {body_len}\r\nServer: nginx\r\n\r\n").into_bytes();
    v.extend((0..body_len).map(|i| b"{\"items\":[1,2,3],\"next\":null} "[i % 30]));
    v
}

fn qname(name: &str) -> Vec<u8> {
    let mut v = Vec::new();
    for label in name.split('.') {
        v.push(label.len() as u8);
        v.extend_from_slice(label.as_bytes());
    }
    v.push(0);
    v
}

const NAMES: [&str; 5] = [
    "www.example.com",
    "api.internal.corp",
    "mail.example.org",
    "nonexistent.example.com",
    "cdn.example.net",
];

/// A DNS query and its response (A record, or NXDOMAIN for the "nonexistent" name).
pub(crate) fn dns_exchange(rng: &mut Rng) -> (Vec<u8>, Vec<u8>) {
    let id = rng.next_u64() as u16;
    let name = NAMES[(rng.next_u64() % NAMES.len() as u64) as usize];
    let nx = name.starts_with("nonexistent");
    let q = qname(name);
    let mut query = Vec::new();
    query.extend_from_slice(&id.to_be_bytes());
    query.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    query.extend_from_slice(&q);
    query.extend_from_slice(&[0, 1, 0, 1]);
    let mut resp = Vec::new();
    resp.extend_from_slice(&id.to_be_bytes());
    resp.extend_from_slice(&[
        0x81,
        if nx { 0x83 } else { 0x80 },
        0,
        1,
        0,
        if nx { 0 } else { 2 },
        0,
        0,
        0,
        0,
    ]);
    resp.extend_from_slice(&q);
    resp.extend_from_slice(&[0, 1, 0, 1]);
    if !nx {
        for _ in 0..2 {
            resp.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4]);
            resp.extend_from_slice(&[93, 184, rng.range(0, 255) as u8, rng.range(1, 254) as u8]);
        }
    }
    (query, resp)
}

fn tls_record(content_type: u8, version: u16, body: &[u8]) -> Vec<u8> {
    let mut r = vec![content_type];
    r.extend_from_slice(&version.to_be_bytes());
    r.extend_from_slice(&(body.len() as u16).to_be_bytes());
    r.extend_from_slice(body);
    r
}

/// A TLS ClientHello record with SNI and ALPN.
pub(crate) fn tls_client_hello(rng: &mut Rng) -> Vec<u8> {
    let sni = HOSTS[(rng.next_u64() % HOSTS.len() as u64) as usize].as_bytes();
    let mut ext = Vec::new();
    // server_name
    let mut sn = Vec::new();
    sn.extend_from_slice(&((sni.len() + 3) as u16).to_be_bytes());
    sn.push(0);
    sn.extend_from_slice(&(sni.len() as u16).to_be_bytes());
    sn.extend_from_slice(sni);
    ext.extend_from_slice(&[0, 0]);
    ext.extend_from_slice(&(sn.len() as u16).to_be_bytes());
    ext.extend_from_slice(&sn);
    // ALPN h2, http/1.1
    let alpn = b"\x02h2\x08http/1.1";
    ext.extend_from_slice(&[0, 16]);
    ext.extend_from_slice(&((alpn.len() + 2) as u16).to_be_bytes());
    ext.extend_from_slice(&(alpn.len() as u16).to_be_bytes());
    ext.extend_from_slice(alpn);
    // supported_versions: TLS 1.3, 1.2
    ext.extend_from_slice(&[0, 43, 0, 5, 4, 3, 4, 3, 3]);
    let mut hello = vec![3, 3];
    hello.extend((0..32).map(|_| rng.next_u64() as u8));
    hello.push(32);
    hello.extend((0..32).map(|_| rng.next_u64() as u8));
    hello.extend_from_slice(&[0, 6, 0x13, 0x01, 0x13, 0x02, 0xc0, 0x2f]);
    hello.extend_from_slice(&[1, 0]);
    hello.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    hello.extend_from_slice(&ext);
    let mut hs = vec![1];
    hs.extend_from_slice(&(hello.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&hello);
    tls_record(22, 0x0301, &hs)
}

/// ServerHello + ChangeCipherSpec + encrypted handshake (certificate-sized) records.
pub(crate) fn tls_server_flight(rng: &mut Rng) -> Vec<u8> {
    let mut sh = vec![3, 3];
    sh.extend((0..32).map(|_| rng.next_u64() as u8));
    sh.push(32);
    sh.extend((0..32).map(|_| rng.next_u64() as u8));
    sh.extend_from_slice(&[0x13, 0x01, 0, 0, 6, 0, 43, 0, 2, 3, 4]);
    let mut hs = vec![2];
    hs.extend_from_slice(&(sh.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&sh);
    let mut v = tls_record(22, 0x0303, &hs);
    v.extend(tls_record(20, 0x0303, &[1]));
    let enc: Vec<u8> = (0..rng.range(2000, 4000))
        .map(|_| rng.next_u64() as u8)
        .collect();
    v.extend(tls_record(23, 0x0303, &enc));
    v
}

/// An encrypted application-data record of about `len` bytes.
pub(crate) fn tls_app_data(rng: &mut Rng, len: usize) -> Vec<u8> {
    let body: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
    tls_record(23, 0x0303, &body)
}

fn h2_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut f = (payload.len() as u32).to_be_bytes()[1..].to_vec();
    f.push(kind);
    f.push(flags);
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

fn hpack_literal(name: &str, value: &str) -> Vec<u8> {
    // Literal header field without indexing, new name (RFC 7541 6.2.2), no Huffman.
    let mut v = vec![0x00, name.len() as u8];
    v.extend_from_slice(name.as_bytes());
    v.push(value.len() as u8);
    v.extend_from_slice(value.as_bytes());
    v
}

/// The client side of an h2c (prior knowledge) gRPC-style request on stream `stream`.
pub(crate) fn http2_request(rng: &mut Rng, stream: u32, preface: bool) -> Vec<u8> {
    let mut v = Vec::new();
    if preface {
        v.extend_from_slice(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
        v.extend(h2_frame(
            4,
            0,
            0,
            &[0, 3, 0, 0, 0, 100, 0, 4, 0, 0, 0xff, 0xff],
        ));
    }
    let mut hdr = vec![0x83, 0x86]; // :method POST, :scheme http (static table)
    hdr.extend(hpack_literal(":path", "/inventory.Inventory/GetItem"));
    hdr.extend(hpack_literal(":authority", "inventory:50051"));
    hdr.extend(hpack_literal("content-type", "application/grpc"));
    hdr.extend(hpack_literal("x-request-id", &hex(rng, 16)));
    v.extend(h2_frame(1, 0x4, stream, &hdr));
    let msg: Vec<u8> = (0..rng.range(20, 200))
        .map(|_| rng.next_u64() as u8)
        .collect();
    let mut data = vec![0];
    data.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    data.extend_from_slice(&msg);
    v.extend(h2_frame(0, 0x1, stream, &data));
    v
}

/// The server side of an h2c gRPC-style response on `stream` (headers, data, trailers).
pub(crate) fn http2_response(rng: &mut Rng, stream: u32, settings: bool) -> Vec<u8> {
    let mut v = Vec::new();
    if settings {
        v.extend(h2_frame(4, 0, 0, &[0, 3, 0, 0, 0, 100]));
        v.extend(h2_frame(4, 1, 0, &[]));
    }
    let mut hdr = vec![0x88]; // :status 200
    hdr.extend(hpack_literal("content-type", "application/grpc"));
    v.extend(h2_frame(1, 0x4, stream, &hdr));
    let msg: Vec<u8> = (0..rng.range(50, 800))
        .map(|_| rng.next_u64() as u8)
        .collect();
    let mut data = vec![0];
    data.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    data.extend_from_slice(&msg);
    v.extend(h2_frame(0, 0, stream, &data));
    let status = if rng.range(0, 19) == 0 { "5" } else { "0" };
    v.extend(h2_frame(
        1,
        0x5,
        stream,
        &hpack_literal("grpc-status", status),
    ));
    v
}

fn mysql_packet(seq: u8, body: &[u8]) -> Vec<u8> {
    let mut p = (body.len() as u32).to_le_bytes()[..3].to_vec();
    p.push(seq);
    p.extend_from_slice(body);
    p
}

/// MySQL server greeting (protocol 10).
pub(crate) fn mysql_greeting(rng: &mut Rng) -> Vec<u8> {
    let mut b = vec![10];
    b.extend_from_slice(b"8.0.36\0");
    b.extend_from_slice(&(rng.next_u64() as u32).to_le_bytes());
    b.extend((0..8).map(|_| b'a' + (rng.next_u64() % 26) as u8));
    b.extend_from_slice(&[0, 0xff, 0xf7, 0x2d, 0x02, 0, 0xff, 0xc1, 0x15]);
    b.extend_from_slice(&[0; 10]);
    b.extend((0..12).map(|_| b'a' + (rng.next_u64() % 26) as u8));
    b.extend_from_slice(b"\0caching_sha2_password\0");
    mysql_packet(0, &b)
}

/// MySQL login request (seq 1) from user `app`; `compress`: asking for the compressed protocol
/// (`CLIENT_COMPRESS`, which the greeting offers).
pub(crate) fn mysql_login(compress: bool) -> Vec<u8> {
    let caps = if compress { 0x8d | 0x20 } else { 0x8d };
    let mut b = vec![caps, 0xa6, 0x0f, 0x00, 0, 0, 0, 1, 0x21];
    b.extend_from_slice(&[0; 23]);
    b.extend_from_slice(b"app\0");
    b.push(20);
    b.extend_from_slice(&[0x5a; 20]);
    b.extend_from_slice(b"shop\0caching_sha2_password\0");
    mysql_packet(1, &b)
}

/// `plain` (MySQL packets) as one packet of the compressed protocol with sequence `seq`: zlib
/// from 50 bytes on, as it is below (as MySQL's servers and clients send them).
pub(crate) fn mysql_compressed(seq: u8, plain: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let (body, plain_len) = if plain.len() >= 50 {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(plain).expect("to memory");
        (z.finish().expect("to memory"), plain.len())
    } else {
        (plain.to_vec(), 0)
    };
    let mut p = (body.len() as u32).to_le_bytes()[..3].to_vec();
    p.push(seq);
    p.extend_from_slice(&(plain_len as u32).to_le_bytes()[..3]);
    p.extend(body);
    p
}

/// MySQL OK packet with sequence `seq`.
pub(crate) fn mysql_ok(seq: u8) -> Vec<u8> {
    mysql_packet(seq, &[0, 0, 0, 2, 0, 0, 0])
}

/// MySQL COM_QUERY.
pub(crate) fn mysql_query(rng: &mut Rng) -> Vec<u8> {
    let q = match rng.range(0, 3) {
        0 => format!(
            "SELECT id, name, price FROM items WHERE id = {}",
            rng.range(1, 99999)
        ),
        1 => format!(
            "UPDATE carts SET qty = {} WHERE user_id = {}",
            rng.range(1, 9),
            rng.range(1, 99999)
        ),
        _ => "SELECT COUNT(*) FROM orders WHERE status = 'open'".to_string(),
    };
    let mut b = vec![3];
    b.extend_from_slice(q.as_bytes());
    mysql_packet(0, &b)
}

/// A small MySQL result set (1 column, `rows` rows) or an OK for updates.
pub(crate) fn mysql_result(rng: &mut Rng, rows: usize) -> Vec<u8> {
    let mut v = mysql_packet(1, &[1]);
    let mut col = Vec::new();
    for s in ["def", "shop", "items", "items", "name", "name"] {
        col.push(s.len() as u8);
        col.extend_from_slice(s.as_bytes());
    }
    col.extend_from_slice(&[0x0c, 0x21, 0, 0xfd, 0, 0, 0, 0xfd, 0, 0, 0, 0, 0]);
    v.extend(mysql_packet(2, &col));
    let mut seq = 3;
    for _ in 0..rows {
        let val = format!("item-{}", rng.range(1, 99999));
        let mut r = vec![val.len() as u8];
        r.extend_from_slice(val.as_bytes());
        v.extend(mysql_packet(seq, &r));
        seq += 1;
    }
    v.extend(mysql_packet(seq, &[0xfe, 0, 0, 2, 0, 0, 0]));
    v
}

/// A Redis command (RESP array) and its reply.
pub(crate) fn redis_exchange(rng: &mut Rng) -> (Vec<u8>, Vec<u8>) {
    let key = format!("session:{}", hex(rng, 8));
    let bulk = |s: &str| format!("${}\r\n{s}\r\n", s.len());
    match rng.range(0, 3) {
        0 => {
            let n = rng.range(8, 120) as usize;
            let val = hex(rng, n);
            (
                format!("*3\r\n{}{}{}", bulk("SET"), bulk(&key), bulk(&val)).into_bytes(),
                b"+OK\r\n".to_vec(),
            )
        }
        1 => {
            let n = rng.range(8, 120) as usize;
            let val = hex(rng, n);
            (
                format!("*2\r\n{}{}", bulk("GET"), bulk(&key)).into_bytes(),
                bulk(&val).into_bytes(),
            )
        }
        _ => (
            format!("*2\r\n{}{}", bulk("INCR"), bulk("counter:hits")).into_bytes(),
            format!(":{}\r\n", rng.range(1, 99999)).into_bytes(),
        ),
    }
}
