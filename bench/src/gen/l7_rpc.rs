//! RPC payloads for generated conversations, encoded as the frameworks encode them: SOFARPC
//! calls over Bolt v1 (as sofa-bolt's clients write them), Tars calls in the TARS packet
//! protocol (as TarsNode writes them), bRPC calls in `baidu_std` (as Apache bRPC writes them),
//! SOME/IP calls (as someipy writes them) and FastCGI
//! requests (as nginx sends them to PHP-FPM). Each exchange says whether the server answered with an
//! error and whose (`Some(true)` the client's, `Some(false)` the server's).

use super::pb::Pb;
use super::Rng;

/// A SOFARPC call over Bolt v1 (protobuf codec, the names and trace id in the SOFA header map,
/// request id `id`) and its response: one in six fails with NO_PROCESSOR (6, a server error),
/// one in twelve with CLIENT_SEND_ERROR (8, a client error).
pub(crate) fn sofa_exchange(rng: &mut Rng, id: u32) -> (Vec<u8>, Vec<u8>, Option<bool>) {
    const REQUEST: &[u8] = b"com.alipay.sofa.rpc.core.request.SofaRequest";
    const RESPONSE: &[u8] = b"com.alipay.sofa.rpc.core.response.SofaResponse";
    let (service, method) = [
        ("com.shop.UserFacade:1.0", "login"),
        ("com.shop.StockFacade:1.0", "reserve"),
        ("com.shop.PayFacade:1.0", "charge"),
    ][rng.range(0, 2) as usize];
    let trace = format!("0a0b0c0d{:022}", rng.next_u64() % 10u64.pow(18));
    let mut map = Vec::new();
    for v in [
        "sofa_head_target_service",
        service,
        "sofa_head_method_name",
        method,
        "rpc_trace_context.sofaTraceId",
        &trace,
    ] {
        map.extend((v.len() as u32).to_be_bytes());
        map.extend(v.as_bytes());
    }
    let content = vec![0x0a; rng.range(4, 200) as usize];
    let mut q = vec![1, 1, 0, 1, 1];
    q.extend(id.to_be_bytes());
    q.push(11);
    q.extend(3000u32.to_be_bytes());
    q.extend((REQUEST.len() as u16).to_be_bytes());
    q.extend((map.len() as u16).to_be_bytes());
    q.extend((content.len() as u32).to_be_bytes());
    q.extend(REQUEST);
    q.extend(map);
    q.extend(content);
    let (status, error) = match rng.range(0, 12) {
        0 | 1 => (6u16, Some(false)),
        2 => (8, Some(true)),
        _ => (0, None),
    };
    let content = if status == 0 {
        vec![0x12; 24]
    } else {
        Vec::new()
    };
    let mut r = vec![1, 0, 0, 2, 1];
    r.extend(id.to_be_bytes());
    r.push(11);
    r.extend(status.to_be_bytes());
    r.extend((RESPONSE.len() as u16).to_be_bytes());
    r.extend(0u16.to_be_bytes());
    r.extend((content.len() as u32).to_be_bytes());
    r.extend(RESPONSE);
    r.extend(content);
    (q, r, error)
}

/// A Tars call (the TARS packet protocol, version 1; request id `id`) and its response: one in
/// six refused with TARSSERVERNOFUNCERR (-3, a server error), one in twelve TARSADAPTERNULL
/// (-10, a client error).
pub(crate) fn tars_exchange(rng: &mut Rng, id: i32) -> (Vec<u8>, Vec<u8>, Option<bool>) {
    let (servant, func) = [
        ("Shop.UserServer.UserObj", "getUser"),
        ("Shop.StockServer.StockObj", "reserve"),
        ("Shop.PayServer.PayObj", "charge"),
    ][rng.range(0, 2) as usize];
    let args = vec![0x16; rng.range(2, 120) as usize];
    let mut q = Vec::new();
    tars_int(&mut q, 1, 1);
    tars_int(&mut q, 2, 0);
    tars_int(&mut q, 3, 0);
    tars_int(&mut q, 4, i64::from(id));
    tars_str(&mut q, 5, servant);
    tars_str(&mut q, 6, func);
    tars_bytes(&mut q, 7, &args);
    tars_int(&mut q, 8, 3000);
    q.extend([0x98, 0x0c, 0xa8, 0x0c]); // empty context and status maps
    let (ret, error) = match rng.range(0, 12) {
        0 | 1 => (-3, Some(false)),
        2 => (-10, Some(true)),
        _ => (0, None),
    };
    let mut r = Vec::new();
    tars_int(&mut r, 1, 1);
    tars_int(&mut r, 2, 0);
    tars_int(&mut r, 3, i64::from(id));
    tars_int(&mut r, 4, 0);
    tars_int(&mut r, 5, ret);
    tars_bytes(
        &mut r,
        6,
        if ret == 0 {
            &args[..8.min(args.len())]
        } else {
            &[]
        },
    );
    r.extend([0x78, 0x0c]); // empty status map
    tars_str(&mut r, 8, "");
    (tars_packet(q), tars_packet(r), error)
}

/// A bRPC call (`baidu_std`; the correlation id a bthread id with call slot `slot`, as bRPC
/// makes them, and a `traceparent` user field) and its answer: one in six fails with ENOSERVICE
/// (1001), one in twelve with a user's code (-1); both are server errors, as DeepFlow classes
/// every bRPC code.
pub(crate) fn brpc_exchange(rng: &mut Rng, slot: u32) -> (Vec<u8>, Vec<u8>, Option<bool>) {
    let (service, method) = [
        ("example.EchoService", "Echo"),
        ("shop.StockService", "Reserve"),
        ("shop.PayService", "Charge"),
    ][rng.range(0, 2) as usize];
    let cid = (u64::from(slot) << 32) | rng.range(1, 9);
    let parent = format!("00-{:032x}-{:016x}-01", rng.next_u64(), rng.next_u64());
    let request = Pb::default()
        .bytes(1, service.as_bytes())
        .bytes(2, method.as_bytes())
        .int(3, rng.range(1, 1 << 20));
    let field = Pb::default()
        .bytes(1, b"traceparent")
        .bytes(2, parent.as_bytes());
    let meta = Pb::default()
        .bytes(1, &request.0)
        .int(3, 0)
        .int(4, cid)
        .bytes(9, &field.0);
    let q = brpc_message(&meta.0, &vec![0x0a; rng.range(2, 160) as usize]);
    let (code, text, error) = match rng.range(0, 12) {
        0 | 1 => (1001, "[E1001]Fail to find service", Some(false)),
        2 => (-1i64, "user failure", Some(false)),
        _ => (0, "", None),
    };
    let mut response = Pb::default().int(1, code as u64);
    if !text.is_empty() {
        response = response.bytes(2, text.as_bytes());
    }
    let meta = Pb::default().bytes(2, &response.0).int(3, 0).int(4, cid);
    let body = if code == 0 {
        vec![0x12; 24]
    } else {
        Vec::new()
    };
    (q, brpc_message(&meta.0, &body), error)
}

fn brpc_message(meta: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut m = b"PRPC".to_vec();
    m.extend(((meta.len() + payload.len()) as u32).to_be_bytes());
    m.extend((meta.len() as u32).to_be_bytes());
    m.extend(meta);
    m.extend(payload);
    m
}

/// A SOME/IP call over TCP (client 0x0011, session `session`) and its answer: one in six
/// refused with E_UNKNOWN_METHOD (3, a client error), one in twelve an ERROR with E_NOT_OK (1, a
/// server error).
pub(crate) fn someip_exchange(rng: &mut Rng, session: u16) -> (Vec<u8>, Vec<u8>, Option<bool>) {
    let (service, method) =
        [(0x1234, 0x0421), (0x1234, 0x0422), (0x4a01, 0x0001)][rng.range(0, 2) as usize];
    let payload = vec![0x5a; rng.range(0, 64) as usize];
    let (message_type, code, error) = match rng.range(0, 12) {
        0 | 1 => (0x80, 0x03, Some(true)),
        2 => (0x81, 0x01, Some(false)),
        _ => (0x80, 0x00, None),
    };
    let answer = if code == 0 { &payload[..] } else { &[][..] };
    (
        someip_message((service, method), session, 0x00, 0, &payload),
        someip_message((service, method), session, message_type, code, answer),
        error,
    )
}

/// A SOME/IP message: header (protocol and interface version 1) and payload.
fn someip_message(
    (service, method): (u16, u16),
    session: u16,
    message_type: u8,
    code: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut m = Vec::with_capacity(16 + payload.len());
    m.extend(service.to_be_bytes());
    m.extend(method.to_be_bytes());
    m.extend((8 + payload.len() as u32).to_be_bytes());
    m.extend(0x0011u16.to_be_bytes());
    m.extend(session.to_be_bytes());
    m.extend([1, 1, message_type, code]);
    m.extend(payload);
    m
}

/// A FastCGI request (request id `id`: BEGIN_REQUEST, PARAMS as nginx's `fastcgi_params` give
/// them, the empty PARAMS, the empty STDIN) and PHP-FPM's answer (STDOUT with the CGI headers
/// and body, the empty STDOUT, END_REQUEST): one in six `Status: 404 Not Found` (a client
/// error), one in twelve `Status: 500 Internal Server Error` (a server error).
pub(crate) fn fastcgi_exchange(rng: &mut Rng, id: u16) -> (Vec<u8>, Vec<u8>, Option<bool>) {
    let uri = ["/index.php?page=1", "/cart.php", "/api/orders.php?id=7"][rng.range(0, 2) as usize];
    let script = uri.split('?').next().unwrap_or(uri);
    let params: [(&str, &str); 8] = [
        ("REQUEST_METHOD", "GET"),
        ("SCRIPT_FILENAME", "/var/www/html/index.php"),
        ("SCRIPT_NAME", script),
        ("REQUEST_URI", uri),
        ("DOCUMENT_URI", script),
        ("SERVER_PROTOCOL", "HTTP/1.1"),
        ("HTTP_HOST", "shop.example.com"),
        ("HTTP_USER_AGENT", "curl/8.0"),
    ];
    let mut pairs = Vec::new();
    for (k, v) in params {
        pairs.extend([k.len() as u8, v.len() as u8]);
        pairs.extend(k.as_bytes());
        pairs.extend(v.as_bytes());
    }
    let mut q = fastcgi_record(1, id, &[0, 1, 0, 0, 0, 0, 0, 0]);
    q.extend(fastcgi_record(4, id, &pairs));
    q.extend(fastcgi_record(4, id, b""));
    q.extend(fastcgi_record(5, id, b""));
    let (head, error) = match rng.range(0, 12) {
        0 | 1 => ("Status: 404 Not Found\r\n", Some(true)),
        2 => ("Status: 500 Internal Server Error\r\n", Some(false)),
        _ => ("", None),
    };
    let body = "<html>ok</html>".repeat(rng.range(1, 40) as usize);
    let stdout = format!("{head}Content-Type: text/html; charset=UTF-8\r\n\r\n{body}");
    let mut r = fastcgi_record(6, id, stdout.as_bytes());
    r.extend(fastcgi_record(6, id, b""));
    r.extend(fastcgi_record(3, id, &[0; 8]));
    (q, r, error)
}

/// A FastCGI record: version 1, type, request id, content, no padding.
fn fastcgi_record(kind: u8, id: u16, content: &[u8]) -> Vec<u8> {
    let mut r = vec![1, kind];
    r.extend(id.to_be_bytes());
    r.extend((content.len() as u16).to_be_bytes());
    r.extend([0, 0]);
    r.extend(content);
    r
}

/// A Tars integer field in its shortest type.
fn tars_int(out: &mut Vec<u8>, tag: u8, v: i64) {
    if v == 0 {
        out.push(tag << 4 | 12);
    } else if let Ok(b) = i8::try_from(v) {
        out.extend([tag << 4, b as u8]);
    } else if let Ok(h) = i16::try_from(v) {
        out.push(tag << 4 | 1);
        out.extend(h.to_be_bytes());
    } else {
        out.push(tag << 4 | 2);
        out.extend((v as i32).to_be_bytes());
    }
}

fn tars_str(out: &mut Vec<u8>, tag: u8, s: &str) {
    out.extend([tag << 4 | 6, s.len() as u8]);
    out.extend(s.as_bytes());
}

/// A `vector<byte>` (Tars's simple list).
fn tars_bytes(out: &mut Vec<u8>, tag: u8, b: &[u8]) {
    out.extend([tag << 4 | 13, 0]);
    tars_int(out, 0, b.len() as i64);
    out.extend(b);
}

fn tars_packet(body: Vec<u8>) -> Vec<u8> {
    let mut v = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    v.extend(body);
    v
}
