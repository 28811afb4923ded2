//! `baidu_std`, the protocol bRPC speaks by default: every message is a 12-byte head (the magic
//! `PRPC`, then the body's size and the meta's size, big-endian) and a body made of an `RpcMeta`
//! (protobuf), the payload and an attachment.
//!
//! ```text
//! RpcMeta:         1 request  2 response  3 compress_type  4 correlation_id  5 attachment_size
//!                  6 chunk_info  7 authentication_data  8 stream_settings  9 user_fields (map)
//! RpcRequestMeta:  1 service_name  2 method_name  3 log_id  4 trace_id  5 span_id
//!                  6 parent_span_id  7 request_id  8 timeout_ms
//! RpcResponseMeta: 1 error_code  2 error_text
//! ```
//!
//! A request's meta has `request`, a response's `response`; the answer carries the request's
//! `correlation_id`. Streaming RPC's frames share the connection once a call opened a stream:
//! the same head with the magic `STRM`. Only the meta is read, as far as it was captured; every
//! length is checked against the bytes at hand.

use super::super::protobuf::{Fields, Value};

/// The head: magic, body size, meta size.
pub const HEAD_LEN: usize = 12;
/// bRPC refuses bodies over `max_body_size` (64 MiB by default, raised by some services);
/// longer claims are not bRPC.
pub const MAX_BODY: u32 = 1 << 30;

/// What a head starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `PRPC`: a call or its answer.
    Rpc,
    /// `STRM`: a streaming RPC frame.
    Stream,
}

/// A message head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub kind: Kind,
    /// Bytes after the head (meta, payload and attachment).
    pub body: u32,
    /// Bytes of the meta, at the start of the body.
    pub meta: u32,
}

impl Head {
    /// The message's size, head included.
    pub fn total(&self) -> usize {
        HEAD_LEN + self.body as usize
    }
}

/// The head at the start of `b`, if it is one: a known magic, a sane body holding its meta.
pub fn head(b: &[u8]) -> Option<Head> {
    let h = b.get(..HEAD_LEN)?;
    let kind = match &h[..4] {
        b"PRPC" => Kind::Rpc,
        b"STRM" => Kind::Stream,
        _ => return None,
    };
    let body = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
    let meta = u32::from_be_bytes([h[8], h[9], h[10], h[11]]);
    (body <= MAX_BODY && meta <= body).then_some(Head { kind, body, meta })
}

/// Whether `b` (shorter than a head) may be the start of one.
pub fn may_start(b: &[u8]) -> bool {
    let n = b.len().min(4);
    b"PRPC".starts_with(&b[..n]) || b"STRM".starts_with(&b[..n])
}

/// A call's meta (`RpcRequestMeta`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Request<'a> {
    pub service: &'a [u8],
    pub method: &'a [u8],
    pub log_id: Option<i64>,
}

/// An answer's meta (`RpcResponseMeta`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Response<'a> {
    pub error_code: Option<i32>,
    pub error_text: &'a [u8],
}

/// What a message's `RpcMeta` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta<'a> {
    pub request: Option<Request<'a>>,
    pub response: Option<Response<'a>>,
    pub correlation_id: Option<i64>,
    /// The meta's bytes as captured (its user fields are looked up in them).
    pub raw: &'a [u8],
}

impl Meta<'_> {
    /// DeepFlow's request id: the high half of the correlation id (bRPC's correlation id is a
    /// bthread id, its call slot in the high half and a version in the low half).
    pub fn request_id(&self) -> Option<u32> {
        self.correlation_id.map(|c| (c as u64 >> 32) as u32)
    }

    /// The key pairing a call with its answer: the whole correlation id, folded.
    pub fn pairing_key(&self) -> Option<u32> {
        self.correlation_id
            .map(|c| ((c as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as u32)
    }
}

/// The `RpcMeta` in `b` (the meta's bytes, as far as they were captured): None unless it reads
/// as one with a request or a response (a cut after its first field still reads).
pub fn meta(b: &[u8]) -> Option<Meta<'_>> {
    let mut m = Meta {
        request: None,
        response: None,
        correlation_id: None,
        raw: b,
    };
    let mut fields = Fields::new(b);
    for (n, v) in fields.by_ref() {
        match (n, v) {
            (1, Value::Bytes(r)) => m.request = Some(request(r)?),
            (2, Value::Bytes(r)) => m.response = Some(response(r)?),
            (4, Value::Varint(c)) => m.correlation_id = Some(c as i64),
            (1 | 2 | 4, _) => return None,
            _ => {}
        }
    }
    if fields.malformed() || m.request.is_some() == m.response.is_some() {
        return None;
    }
    Some(m)
}

fn request(b: &[u8]) -> Option<Request<'_>> {
    let mut r = Request::default();
    let mut fields = Fields::new(b);
    for (n, v) in fields.by_ref() {
        match (n, v) {
            (1, Value::Bytes(s)) => r.service = s,
            (2, Value::Bytes(s)) => r.method = s,
            (3, Value::Varint(id)) => r.log_id = Some(id as i64),
            (1..=3, _) => return None,
            _ => {}
        }
    }
    (!fields.malformed()).then_some(r)
}

fn response(b: &[u8]) -> Option<Response<'_>> {
    let mut r = Response::default();
    let mut fields = Fields::new(b);
    for (n, v) in fields.by_ref() {
        match (n, v) {
            // An int32: a negative code is sign-extended to ten bytes.
            (1, Value::Varint(c)) => r.error_code = Some(c as i64 as i32),
            (2, Value::Bytes(s)) => r.error_text = s,
            (1 | 2, _) => return None,
            _ => {}
        }
    }
    (!fields.malformed()).then_some(r)
}

/// The value of the user field `name` (`RpcMeta.user_fields`, a map of strings; the name
/// compared as a header name) in the meta's bytes.
pub fn user_field<'a>(meta: &'a [u8], name: &str) -> Option<&'a [u8]> {
    Fields::new(meta)
        .filter(|(n, _)| *n == 9)
        .filter_map(|(_, v)| v.bytes())
        .find_map(|entry| {
            let key = Fields::find(entry, 1)?.bytes()?;
            let key = std::str::from_utf8(key).ok()?;
            super::super::http1::same_header_name(key, name)
                .then(|| Fields::find(entry, 2).and_then(Value::bytes))
                .flatten()
        })
}
