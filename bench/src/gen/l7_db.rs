//! Database and cache payloads for generated conversations: PostgreSQL (startup, simple queries,
//! result sets, errors), memcached text commands and MongoDB OP_MSG commands with BSON documents.
//! Each exchange says whether the server answered with an error, and whose (`Some(true)` client,
//! `Some(false)` server), so the generator can state what the analyzer must log.

use super::Rng;

fn pg_msg(t: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![t];
    v.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    v.extend_from_slice(body);
    v
}

/// A PostgreSQL startup message for user `app` and database `shop`.
pub(crate) fn pg_startup() -> Vec<u8> {
    let mut body = 196_608u32.to_be_bytes().to_vec();
    body.extend_from_slice(b"user\0app\0database\0shop\0application_name\0gen\0\0");
    let mut v = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    v.extend(body);
    v
}

/// The server's answer to the startup: AuthenticationOk, parameters, key data, ReadyForQuery.
pub(crate) fn pg_ready() -> Vec<u8> {
    let mut v = pg_msg(b'R', &[0, 0, 0, 0]);
    v.extend(pg_msg(b'S', b"server_version\x0015.10\x00"));
    v.extend(pg_msg(b'S', b"client_encoding\x00UTF8\x00"));
    v.extend(pg_msg(b'K', &[0, 0, 0x30, 0x39, 1, 2, 3, 4]));
    v.extend(pg_msg(b'Z', b"I"));
    v
}

/// A simple query and the server's reply (rows, an update count or an error).
pub(crate) fn pg_exchange(rng: &mut Rng) -> (Vec<u8>, Vec<u8>, Option<bool>) {
    match rng.range(0, 2) {
        0 => {
            let q = format!(
                "SELECT id, name FROM items WHERE price < {}\0",
                rng.range(1, 999)
            );
            let mut r = pg_msg(
                b'T',
                b"\x00\x02id\x00\x00\x00\x40\x01\x00\x01\x00\x00\x00\x17\x00\x04\xff\xff\xff\xff\x00\x00name\x00\x00\x00\x40\x01\x00\x02\x00\x00\x00\x19\xff\xff\xff\xff\xff\xff\x00\x00",
            );
            let rows = rng.range(1, 30);
            for _ in 0..rows {
                let id = rng.range(1, 99_999).to_string();
                let name = format!("item-{}", rng.range(1, 99_999));
                let mut d = 2u16.to_be_bytes().to_vec();
                for col in [id.as_bytes(), name.as_bytes()] {
                    d.extend_from_slice(&(col.len() as u32).to_be_bytes());
                    d.extend_from_slice(col);
                }
                r.extend(pg_msg(b'D', &d));
            }
            r.extend(pg_msg(b'C', format!("SELECT {rows}\0").as_bytes()));
            r.extend(pg_msg(b'Z', b"I"));
            (pg_msg(b'Q', q.as_bytes()), r, None)
        }
        1 => {
            let q = format!(
                "UPDATE carts SET qty = {} WHERE user_id = {}\0",
                rng.range(1, 9),
                rng.range(1, 99_999)
            );
            let mut r = pg_msg(b'C', b"UPDATE 1\0");
            r.extend(pg_msg(b'Z', b"I"));
            (pg_msg(b'Q', q.as_bytes()), r, None)
        }
        _ => {
            let mut e = Vec::new();
            for f in [
                &b"SERROR"[..],
                b"VERROR",
                b"C42P01",
                b"Mrelation \"orders_old\" does not exist",
            ] {
                e.extend_from_slice(f);
                e.push(0);
            }
            e.push(0);
            let mut r = pg_msg(b'E', &e);
            r.extend(pg_msg(b'Z', b"I"));
            (pg_msg(b'Q', b"SELECT * FROM orders_old\0"), r, Some(true))
        }
    }
}

/// A memcached text command and its reply.
pub(crate) fn memcached_exchange(rng: &mut Rng) -> (Vec<u8>, Vec<u8>, Option<bool>) {
    let key = format!("user:{}", rng.range(1, 99_999));
    match rng.range(0, 3) {
        0 => {
            let n = rng.range(8, 400) as usize;
            let value = "v".repeat(n);
            (
                format!("set {key} 0 300 {n}\r\n{value}\r\n").into_bytes(),
                b"STORED\r\n".to_vec(),
                None,
            )
        }
        1 => {
            let n = rng.range(8, 400) as usize;
            let value = "v".repeat(n);
            (
                format!("get {key}\r\n").into_bytes(),
                format!("VALUE {key} 0 {n}\r\n{value}\r\nEND\r\n").into_bytes(),
                None,
            )
        }
        2 => (
            format!("delete {key}\r\n").into_bytes(),
            b"NOT_FOUND\r\n".to_vec(),
            None,
        ),
        _ => (
            format!("incr {key} 1\r\n").into_bytes(),
            b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n".to_vec(),
            Some(true),
        ),
    }
}

/// BSON values the generator writes.
enum Bson<'a> {
    Str(&'a str),
    I32(i32),
    I64(i64),
    F64(f64),
    Doc(Vec<(&'a str, Bson<'a>)>),
    Array(Vec<Bson<'a>>),
}

fn bson_doc(fields: &[(&str, Bson<'_>)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (key, v) in fields {
        let (kind, bytes) = match v {
            Bson::Str(s) => {
                let mut b = ((s.len() + 1) as i32).to_le_bytes().to_vec();
                b.extend_from_slice(s.as_bytes());
                b.push(0);
                (2u8, b)
            }
            Bson::I32(i) => (0x10, i.to_le_bytes().to_vec()),
            Bson::I64(i) => (0x12, i.to_le_bytes().to_vec()),
            Bson::F64(f) => (1, f.to_le_bytes().to_vec()),
            Bson::Doc(d) => (3, bson_doc(d)),
            Bson::Array(items) => {
                let keys: Vec<String> = (0..items.len()).map(|i| i.to_string()).collect();
                let mut b = Vec::new();
                for (k, item) in keys.iter().zip(items) {
                    let one = bson_doc(&[(k.as_str(), clone(item))]);
                    // The element without its document's length and terminator.
                    b.extend_from_slice(&one[4..one.len() - 1]);
                }
                let mut d = ((b.len() + 5) as i32).to_le_bytes().to_vec();
                d.extend(b);
                d.push(0);
                (4, d)
            }
        };
        body.push(kind);
        body.extend_from_slice(key.as_bytes());
        body.push(0);
        body.extend(bytes);
    }
    let mut d = ((body.len() + 5) as i32).to_le_bytes().to_vec();
    d.extend(body);
    d.push(0);
    d
}

fn clone<'a>(v: &Bson<'a>) -> Bson<'a> {
    match v {
        Bson::Str(s) => Bson::Str(s),
        Bson::I32(i) => Bson::I32(*i),
        Bson::I64(i) => Bson::I64(*i),
        Bson::F64(f) => Bson::F64(*f),
        Bson::Doc(d) => Bson::Doc(d.iter().map(|(k, v)| (*k, clone(v))).collect()),
        Bson::Array(a) => Bson::Array(a.iter().map(clone).collect()),
    }
}

/// An OP_MSG with one body section.
fn op_msg(id: u32, response_to: u32, doc: &[u8]) -> Vec<u8> {
    let mut m = ((16 + 5 + doc.len()) as u32).to_le_bytes().to_vec();
    m.extend_from_slice(&id.to_le_bytes());
    m.extend_from_slice(&response_to.to_le_bytes());
    m.extend_from_slice(&2013i32.to_le_bytes());
    m.extend_from_slice(&[0, 0, 0, 0, 0]);
    m.extend_from_slice(doc);
    m
}

/// MongoDB message `msg` as OP_COMPRESSED with zlib (same ids; the original opcode and length
/// after the header).
pub(crate) fn op_compressed(msg: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let body = &msg[16..];
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(body).expect("to memory");
    let packed = z.finish().expect("to memory");
    let mut m = ((16 + 9 + packed.len()) as u32).to_le_bytes().to_vec();
    m.extend_from_slice(&msg[4..12]);
    m.extend_from_slice(&2012i32.to_le_bytes());
    m.extend_from_slice(&msg[12..16]);
    m.extend_from_slice(&(body.len() as u32).to_le_bytes());
    m.push(2);
    m.extend(packed);
    m
}

/// A MongoDB command (request id `id`) and its reply.
pub(crate) fn mongo_exchange(rng: &mut Rng, id: u32) -> (Vec<u8>, Vec<u8>, Option<bool>) {
    let reply_id = 0x4000_0000 | id;
    let user = rng.range(1, 99_999) as i32;
    match rng.range(0, 2) {
        0 => {
            let n = rng.range(1, 20);
            let docs: Vec<Bson<'_>> = (0..n)
                .map(|k| {
                    Bson::Doc(vec![
                        ("_id", Bson::I64(k as i64)),
                        ("user", Bson::I32(user)),
                        ("total", Bson::F64(k as f64 * 9.5)),
                    ])
                })
                .collect();
            let req = bson_doc(&[
                ("find", Bson::Str("orders")),
                ("filter", Bson::Doc(vec![("user", Bson::I32(user))])),
                ("$db", Bson::Str("shop")),
            ]);
            let rep = bson_doc(&[
                (
                    "cursor",
                    Bson::Doc(vec![
                        ("firstBatch", Bson::Array(docs)),
                        ("id", Bson::I64(0)),
                        ("ns", Bson::Str("shop.orders")),
                    ]),
                ),
                ("ok", Bson::F64(1.0)),
            ]);
            (op_msg(id, 0, &req), op_msg(reply_id, id, &rep), None)
        }
        1 => {
            let req = bson_doc(&[
                ("insert", Bson::Str("events")),
                (
                    "documents",
                    Bson::Array(vec![Bson::Doc(vec![("user", Bson::I32(user))])]),
                ),
                ("$db", Bson::Str("shop")),
            ]);
            let rep = bson_doc(&[("n", Bson::I32(1)), ("ok", Bson::F64(1.0))]);
            (op_msg(id, 0, &req), op_msg(reply_id, id, &rep), None)
        }
        _ => {
            let req = bson_doc(&[
                ("aggregate", Bson::Str("archive")),
                ("pipeline", Bson::Array(vec![])),
                ("$db", Bson::Str("shop")),
            ]);
            let rep = bson_doc(&[
                ("ok", Bson::F64(0.0)),
                ("errmsg", Bson::Str("ns does not exist: shop.archive")),
                ("code", Bson::I32(26)),
                ("codeName", Bson::Str("NamespaceNotFound")),
            ]);
            (op_msg(id, 0, &req), op_msg(reply_id, id, &rep), Some(true))
        }
    }
}
