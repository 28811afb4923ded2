//! Pure decoding of HTTP/1.x message heads (RFC 9112) with httparse, zero-copy and
//! allocation-free: the caller lends a fixed array of header slots, and every field of the result
//! borrows the input.
//!
//! What the state machine on top needs and gets from here: the head (method, path, status,
//! version, headers), where it ends, and how the body that follows is framed ([`Body`]), so that
//! pipelined messages and bodies can be skipped without reading them. Limits: at most as many
//! headers as the caller's slots ([`HttpError::TooManyHeaders`] beyond), conflicting or malformed
//! Content-Length is an error (request smuggling shape), chunk-size lines are bounded.

use super::super::Probe;

/// Header slots a caller typically lends (DeepFlow parses at most this many lines too).
pub const MAX_HEADERS: usize = 64;
/// Longest chunk-size line accepted (size, extensions, CRLF).
pub const MAX_CHUNK_LINE: usize = 1024;

/// Why a head did not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpError {
    /// Not HTTP/1.x syntax (bad token, bad version, bad status).
    Invalid,
    /// More header lines than the slots lent.
    TooManyHeaders,
    /// A Content-Length that is not a number, or two that differ.
    BadContentLength,
    /// A malformed or oversized chunk-size line.
    BadChunk,
}

/// How the body after a head is framed (RFC 9112 section 6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// No body: requests without Content-Length / Transfer-Encoding; responses to HEAD; 1xx, 204
    /// and 304 responses.
    None,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked transfer coding: skip with [`ChunkedSkipper`].
    Chunked,
    /// A response body delimited by the connection close.
    UntilClose,
}

/// A request head; every slice borrows the input.
#[derive(Debug, Clone, Copy)]
pub struct RequestHead<'h, 'b> {
    pub method: &'b str,
    /// The request target as sent (origin form `/a/b?q`, or absolute form).
    pub path: &'b str,
    /// Minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version: u8,
    pub headers: &'h [httparse::Header<'b>],
    /// Bytes of the head, blank line included: the body (if any) starts here.
    pub head_len: usize,
    pub body: Body,
}

/// A response head; every slice borrows the input.
#[derive(Debug, Clone, Copy)]
pub struct ResponseHead<'h, 'b> {
    pub status: u16,
    pub reason: &'b str,
    pub version: u8,
    pub headers: &'h [httparse::Header<'b>],
    pub head_len: usize,
    pub body: Body,
}

/// A head, or the news that more bytes are needed.
#[derive(Debug, Clone, Copy)]
pub enum Parsed<T> {
    Complete(T),
    /// The head is not complete yet (no blank line so far).
    Partial,
}

fn map_err(e: httparse::Error) -> HttpError {
    match e {
        httparse::Error::TooManyHeaders => HttpError::TooManyHeaders,
        _ => HttpError::Invalid,
    }
}

/// The value of the first header called `name`, compared case-insensitively and with '-' and
/// '_' treated alike (DeepFlow's config spells header names with underscores).
pub fn header<'b>(headers: &[httparse::Header<'b>], name: &str) -> Option<&'b [u8]> {
    headers
        .iter()
        .find(|h| same_header_name(h.name, name))
        .map(|h| h.value)
}

/// Header-name equality: ASCII case-insensitive, '-' == '_'.
pub fn same_header_name(a: &str, b: &str) -> bool {
    let norm = |c: u8| match c {
        b'_' => b'-',
        c => c.to_ascii_lowercase(),
    };
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| norm(x) == norm(y))
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &v[start..end]
}

fn parse_u64(v: &[u8]) -> Option<u64> {
    let v = trim(v);
    if v.is_empty() || v.len() > 19 {
        return None;
    }
    v.iter().try_fold(0u64, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u64::from(c - b'0'))
    })
}

/// Body framing from the headers: Transfer-Encoding chunked wins over Content-Length; several
/// Content-Length headers must agree.
fn framing(headers: &[httparse::Header<'_>]) -> Result<Option<Body>, HttpError> {
    let mut chunked = false;
    let mut length: Option<u64> = None;
    for h in headers {
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            // The last coding decides (RFC 9112 6.3): "gzip, chunked" is chunked.
            let last = h.value.rsplit(|&c| c == b',').next().unwrap_or_default();
            chunked = trim(last).eq_ignore_ascii_case(b"chunked");
        } else if h.name.eq_ignore_ascii_case("content-length") {
            let n = parse_u64(h.value).ok_or(HttpError::BadContentLength)?;
            if length.is_some_and(|l| l != n) {
                return Err(HttpError::BadContentLength);
            }
            length = Some(n);
        }
    }
    Ok(if chunked {
        Some(Body::Chunked)
    } else {
        length.map(Body::Length)
    })
}

/// Decodes a request head at the start of `buf`.
pub fn parse_request<'h, 'b>(
    buf: &'b [u8],
    slots: &'h mut [httparse::Header<'b>],
) -> Result<Parsed<RequestHead<'h, 'b>>, HttpError> {
    let mut req = httparse::Request::new(slots);
    let head_len = match req.parse(buf).map_err(map_err)? {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial => return Ok(Parsed::Partial),
    };
    let (Some(method), Some(path), Some(version)) = (req.method, req.path, req.version) else {
        return Ok(Parsed::Partial);
    };
    let headers: &'h [httparse::Header<'b>] = req.headers;
    let body = framing(headers)?.unwrap_or(Body::None);
    Ok(Parsed::Complete(RequestHead {
        method,
        path,
        version,
        headers,
        head_len,
        body,
    }))
}

/// Decodes a response head at the start of `buf`; `to_head` says the request was HEAD (its
/// response has no body whatever the headers say).
pub fn parse_response<'h, 'b>(
    buf: &'b [u8],
    slots: &'h mut [httparse::Header<'b>],
    to_head: bool,
) -> Result<Parsed<ResponseHead<'h, 'b>>, HttpError> {
    let mut resp = httparse::Response::new(slots);
    let head_len = match resp.parse(buf).map_err(map_err)? {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial => return Ok(Parsed::Partial),
    };
    let (Some(status), Some(version)) = (resp.code, resp.version) else {
        return Ok(Parsed::Partial);
    };
    let headers: &'h [httparse::Header<'b>] = resp.headers;
    let no_body = to_head || (100..200).contains(&status) || status == 204 || status == 304;
    let body = if no_body {
        Body::None
    } else {
        framing(headers)?.unwrap_or(Body::UntilClose)
    };
    Ok(Parsed::Complete(ResponseHead {
        status,
        reason: resp.reason.unwrap_or(""),
        version,
        headers,
        head_len,
        body,
    }))
}

const METHODS: [&[u8]; 9] = [
    b"GET ",
    b"POST ",
    b"PUT ",
    b"DELETE ",
    b"HEAD ",
    b"OPTIONS ",
    b"PATCH ",
    b"CONNECT ",
    b"TRACE ",
];

/// Does `payload` start an HTTP/1 request (a known method and a space) or response
/// (`HTTP/1.x NNN`)? Unsure while the bytes are a prefix of one.
pub fn probe(payload: &[u8]) -> Probe {
    let starts = |p: &[u8]| {
        let n = p.len().min(payload.len());
        payload[..n] == p[..n]
    };
    for m in METHODS.iter().copied().chain([&b"HTTP/1."[..]]) {
        if starts(m) {
            if payload.len() < m.len() {
                return Probe::Unsure;
            }
            if m != b"HTTP/1." {
                return request_line(payload, m.len());
            }
            // "HTTP/1.1 200 "
            return match payload.get(7..12) {
                Some([v, b' ', a, b, c])
                    if v.is_ascii_digit() && [a, b, c].iter().all(|d| d.is_ascii_digit()) =>
                {
                    Probe::Certain
                }
                Some(_) => Probe::NotForUs,
                None => Probe::Unsure,
            };
        }
    }
    Probe::NotForUs
}

/// A request line after its method (`target_at`): with its end in view it must name the HTTP/1
/// version; cut short, its target must start like one (a path, `*`, an absolute URI or an
/// authority: not `{`, so NATS' `CONNECT {...}` is not taken for HTTP).
fn request_line(payload: &[u8], target_at: usize) -> Probe {
    let rest = &payload[target_at..];
    match rest.iter().position(|b| *b == b'\n') {
        Some(end) => {
            let line = rest[..end].strip_suffix(b"\r").unwrap_or(&rest[..end]);
            if line.len() >= 9 && line[line.len() - 9..].starts_with(b" HTTP/1.") {
                Probe::Certain
            } else {
                Probe::NotForUs
            }
        }
        None => match rest.first() {
            None => Probe::Unsure,
            Some(c) if c.is_ascii_alphanumeric() || matches!(c, b'/' | b'*' | b'[') => {
                Probe::Certain
            }
            Some(_) => Probe::NotForUs,
        },
    }
}

/// DeepFlow's default HTTP endpoint: the path without query, cut after `keep_segments` segments
/// (`/api/v1/users/42?x` with 2 -> `/api/v1`).
pub fn endpoint(path: &str, keep_segments: usize) -> &str {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let mut seen = 0;
    for (i, c) in path.char_indices() {
        if c == '/' && i > 0 {
            seen += 1;
            if seen == keep_segments {
                return &path[..i];
            }
        }
    }
    path
}

/// Where a chunked body stands while it is being skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChunkedSkipper {
    /// Expecting a chunk-size line.
    #[default]
    Size,
    /// Inside chunk data: this many bytes left, then CRLF.
    Data(u64),
    /// Expecting the CRLF after chunk data.
    DataEnd,
    /// After the last (zero) chunk: trailer lines until a blank line.
    Trailer,
    /// The body is over.
    Done,
}

impl ChunkedSkipper {
    /// Consumes what it can of `buf`; returns the bytes consumed. Stops early (consuming less
    /// than `buf`) when a line is incomplete (call again with more) or the body is done.
    pub fn skip(&mut self, buf: &[u8]) -> Result<usize, HttpError> {
        let mut at = 0usize;
        loop {
            let rest = &buf[at..];
            match *self {
                ChunkedSkipper::Done => return Ok(at),
                ChunkedSkipper::Data(left) => {
                    let take = left.min(rest.len() as u64);
                    at += take as usize;
                    *self = if take == left {
                        ChunkedSkipper::DataEnd
                    } else {
                        ChunkedSkipper::Data(left - take)
                    };
                    if take < left {
                        return Ok(at);
                    }
                }
                ChunkedSkipper::DataEnd => match rest {
                    [b'\r', b'\n', ..] => {
                        at += 2;
                        *self = ChunkedSkipper::Size;
                    }
                    [] | [b'\r'] => return Ok(at),
                    _ => return Err(HttpError::BadChunk),
                },
                ChunkedSkipper::Size | ChunkedSkipper::Trailer => {
                    let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") else {
                        if rest.len() >= MAX_CHUNK_LINE {
                            return Err(HttpError::BadChunk);
                        }
                        return Ok(at);
                    };
                    if eol + 2 > MAX_CHUNK_LINE {
                        return Err(HttpError::BadChunk);
                    }
                    let line = &rest[..eol];
                    at += eol + 2;
                    if *self == ChunkedSkipper::Trailer {
                        if line.is_empty() {
                            *self = ChunkedSkipper::Done;
                        }
                        continue;
                    }
                    let hex = line.split(|&c| c == b';').next().unwrap_or_default();
                    let hex = trim(hex);
                    if hex.is_empty() || hex.len() > 15 {
                        return Err(HttpError::BadChunk);
                    }
                    let size = hex.iter().try_fold(0u64, |acc, &c| {
                        (c as char).to_digit(16).map(|d| acc * 16 + u64::from(d))
                    });
                    *self = match size.ok_or(HttpError::BadChunk)? {
                        0 => ChunkedSkipper::Trailer,
                        n => ChunkedSkipper::Data(n),
                    };
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
