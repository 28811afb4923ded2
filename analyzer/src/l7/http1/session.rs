//! One HTTP/1 connection: follows both directions message by message (heads parsed, bodies
//! skipped by their framing), pairs responses with requests in order (pipelining works), and fills
//! `l7_flow_log` rows (`deepflow-facts.md` section 4.5: method, Host, path, endpoint, status;
//! the bytes of failed exchanges as [`super::super::raw`] keeps them).
//!
//! Interim 1xx responses are not answers (except 101, after which the connection carries another
//! protocol and is no longer parsed; likewise a 2xx to CONNECT). A response to HEAD has no body.
//! After a gap the direction waits for a segment that starts a message.
//!
//! A request naming a Dubbo service version (`tri-service-version`) is Triple in its unary form
//! over HTTP/1.1 (Dubbo 3.3, dubbo-js): a Triple row as over HTTP/2 (service, path, version), its
//! error's JSON `message` as the exception, and the flow a Triple flow.

use super::super::exchange::{Exchange, Pairing, RequestId};
use super::super::http2::response::json_message;
use super::super::http2::session::{make_triple, TRIPLE_VERSION};
use super::super::parser::{Descriptor, L7Parser, Segment, Transport};
use super::super::protocol::L7Protocol;
use super::super::{tags, Probe, ResponseStatus};
use super::wire::{
    endpoint, header, parse_request, parse_response, probe, Body, ChunkedSkipper, Parsed,
    MAX_HEADERS,
};
use super::EMPTY_HEADER;

/// Where one direction stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum DirState {
    /// Expecting a message head.
    #[default]
    Head,
    /// Inside a body of known length: bytes left.
    Body(u64),
    Chunked(ChunkedSkipper),
    /// A response body delimited by the connection close: nothing more to parse.
    UntilClose,
}

impl DirState {
    fn after_head(body: Body) -> Self {
        match body {
            Body::None | Body::Length(0) => DirState::Head,
            Body::Length(n) => DirState::Body(n),
            Body::Chunked => DirState::Chunked(ChunkedSkipper::default()),
            Body::UntilClose => DirState::UntilClose,
        }
    }
}

/// HTTP/1 state of one flow.
#[derive(Debug, Clone, Copy, Default)]
pub struct Http1Session {
    /// [client -> server, server -> client].
    dir: [DirState; 2],
    /// Which pending requests are HEAD (bit 0 = oldest), `n_pending` of them.
    head_bits: u32,
    connect_bits: u32,
    n_pending: u8,
    /// The connection switched protocols (101, CONNECT): no longer HTTP/1.
    opaque: bool,
    /// Bytes of this direction were lost: the next segment must start a message.
    resync: [bool; 2],
    /// A request whose body came after its head, waiting for its first body bytes
    /// (`tag_extraction.raw.error_request_payload`).
    body_of: Option<RequestId>,
    /// An error response's head held until its body's first bytes come
    /// (`tag_extraction.raw.error_response_payload`): the time and sequence number it came with.
    held_error: Option<(u64, u32)>,
}

impl L7Parser for Http1Session {
    const DESC: Descriptor = Descriptor::tcp(20, "HTTP");
    type Config = ();

    fn probe(payload: &[u8], _: Transport) -> Probe {
        probe(payload)
    }

    fn sent_by_client(payload: &[u8], _: Transport) -> Option<bool> {
        Some(!payload.starts_with(b"HTTP/"))
    }

    fn on_data(&mut self, _: &(), seg: Segment<'_>, x: &mut Exchange<'_>) -> usize {
        let d = seg.dir();
        let resync = std::mem::take(&mut self.resync[d]);
        self.on_stream(seg.data, seg.hold, resync, seg.from_client, x)
    }

    fn on_gap(&mut self, dir: usize, _: &mut Exchange<'_>) {
        self.resync[dir] = true;
        if dir == 1 {
            self.held_error = None;
        }
    }
}

fn status_of(code: u16) -> ResponseStatus {
    match code {
        400..=499 => ResponseStatus::ClientError,
        500..=599 => ResponseStatus::ServerError,
        _ => ResponseStatus::Ok,
    }
}

/// The bytes of `body` that came after a head in `rest`.
fn body_bytes(rest: &[u8], body: Body) -> &[u8] {
    match body {
        Body::None => &[],
        Body::Length(n) => &rest[..rest.len().min(usize::try_from(n).unwrap_or(usize::MAX))],
        Body::Chunked | Body::UntilClose => rest,
    }
}

fn length(body: Body) -> i64 {
    match body {
        Body::Length(n) => i64::try_from(n).unwrap_or(i64::MAX),
        Body::None => 0,
        Body::Chunked | Body::UntilClose => -1,
    }
}

impl Http1Session {
    fn push_pending(&mut self, is_head: bool, is_connect: bool) {
        if self.n_pending < 32 {
            self.head_bits |= u32::from(is_head) << self.n_pending;
            self.connect_bits |= u32::from(is_connect) << self.n_pending;
            self.n_pending += 1;
        }
    }

    /// (HEAD, CONNECT) of the oldest pending request, removed.
    fn pop_pending(&mut self) -> (bool, bool) {
        if self.n_pending == 0 {
            return (false, false);
        }
        let r = (self.head_bits & 1 == 1, self.connect_bits & 1 == 1);
        self.head_bits >>= 1;
        self.connect_bits >>= 1;
        self.n_pending -= 1;
        r
    }

    /// Parses what it can of `data` (one direction's bytes in order); returns the bytes consumed
    /// (the rest is an incomplete head, offered again with more bytes).
    fn on_stream(
        &mut self,
        data: &[u8],
        hold: usize,
        resync: bool,
        from_client: bool,
        x: &mut Exchange<'_>,
    ) -> usize {
        if self.opaque {
            return data.len();
        }
        let d = usize::from(!from_client);
        if resync {
            self.dir[d] = DirState::Head;
            if probe(data) != Probe::Certain {
                return data.len();
            }
        }
        let mut at = 0;
        while at < data.len() {
            let rest = &data[at..];
            match self.dir[d] {
                DirState::UntilClose => return data.len(),
                DirState::Body(n) => {
                    let take = n.min(rest.len() as u64);
                    if from_client {
                        self.request_body(&rest[..take as usize], x);
                    }
                    at += take as usize;
                    self.dir[d] = if take == n {
                        DirState::Head
                    } else {
                        DirState::Body(n - take)
                    };
                }
                DirState::Chunked(mut sk) => match sk.skip(rest) {
                    Ok(n) => {
                        if from_client {
                            self.request_body(&rest[..n], x);
                        }
                        at += n;
                        if sk == ChunkedSkipper::Done {
                            self.dir[d] = DirState::Head;
                        } else {
                            self.dir[d] = DirState::Chunked(sk);
                            if n < rest.len() {
                                return at;
                            }
                        }
                    }
                    Err(_) => {
                        x.parse_error();
                        self.dir[d] = DirState::Head;
                        return data.len();
                    }
                },
                DirState::Head => {
                    let used = if from_client {
                        self.request(rest, x)
                    } else {
                        self.response(rest, hold, x)
                    };
                    match used {
                        Some(0) => return at,
                        Some(n) => at += n,
                        None => {
                            x.parse_error();
                            return data.len();
                        }
                    }
                    if self.opaque {
                        return data.len();
                    }
                }
            }
        }
        at
    }

    /// Parses a request head at the start of `buf`: Some(bytes used), Some(0) for an incomplete
    /// head, None for garbage.
    fn request(&mut self, buf: &[u8], x: &mut Exchange<'_>) -> Option<usize> {
        let mut slots = [EMPTY_HEADER; MAX_HEADERS];
        let h = match parse_request(buf, &mut slots) {
            Ok(Parsed::Complete(h)) => h,
            Ok(Parsed::Partial) => return Some(0),
            Err(_) => return None,
        };
        let cfg = x.settings();
        let (head, rest) = buf.split_at(h.head_len);
        let body = body_bytes(rest, h.body);
        let triple = header(h.headers, TRIPLE_VERSION);
        let id = x.request(None, h.head_len as u32, |row| {
            row.request_type.push_lossy(h.method.as_bytes());
            if let Some(host) = header(h.headers, "host") {
                row.request_domain.push_lossy(host);
            }
            row.request_resource.push_lossy(h.path.as_bytes());
            if let Some(keep) = cfg.endpoints.keep_for(h.path) {
                row.endpoint.push_lossy(endpoint(h.path, keep).as_bytes());
            }
            row.version
                .push_lossy(if h.version == 0 { b"1.0" } else { b"1.1" });
            if let Some(v) = header(h.headers, "user-agent") {
                row.http_user_agent.push_lossy(v);
            }
            if let Some(v) = header(h.headers, "referer") {
                row.http_referer.push_lossy(v);
            }
            row.request_length = length(h.body);
            tags::extract(&cfg.tags, true, |n| header(h.headers, n), row);
            tags::custom(&cfg.custom_fields.http, |n| header(h.headers, n), row);
            cfg.raw.request(head, body, row);
            if let Some(version) = triple {
                make_triple(row, h.path.as_bytes(), version);
            }
        });
        if triple.is_some() {
            x.upgrade(L7Protocol::Triple);
        }
        // The body's first bytes come in a later segment: they are added when they come.
        let later = body.is_empty() && !matches!(h.body, Body::None | Body::Length(0));
        self.body_of = (later && cfg.raw.error_request_payload > 0).then_some(id);
        self.push_pending(h.method == "HEAD", h.method == "CONNECT");
        self.dir[0] = DirState::after_head(h.body);
        Some(h.head_len)
    }

    /// The first bytes of a request body that came after its head.
    fn request_body(&mut self, bytes: &[u8], x: &mut Exchange<'_>) {
        if bytes.is_empty() {
            return;
        }
        if let Some(id) = self.body_of.take() {
            let raw = x.settings().raw;
            x.update_request(id, |row| raw.request(&[], bytes, row));
        }
    }

    /// Parses a response head at the start of `buf` (as [`Self::request`]). An error response
    /// whose body is still to come is left unconsumed (Some(0)) while `buf` fits in `hold`, so
    /// its row gets the body's first bytes; it keeps the time it came at.
    fn response(&mut self, buf: &[u8], hold: usize, x: &mut Exchange<'_>) -> Option<usize> {
        let to_head = self.n_pending > 0 && self.head_bits & 1 == 1;
        let mut slots = [EMPTY_HEADER; MAX_HEADERS];
        let h = match parse_response(buf, &mut slots, to_head) {
            Ok(Parsed::Complete(h)) => h,
            Ok(Parsed::Partial) => return Some(0),
            Err(_) => return None,
        };
        if (100..200).contains(&h.status) && h.status != 101 {
            // Interim (100 Continue, 103 Early Hints): the final response follows.
            return Some(h.head_len);
        }
        let cfg = x.settings();
        let status = status_of(h.status);
        let (head, rest) = buf.split_at(h.head_len);
        let body = body_bytes(rest, h.body);
        let body_later = body.is_empty() && !matches!(h.body, Body::None | Body::Length(0));
        if status != ResponseStatus::Ok
            && body_later
            && cfg.raw.error_response_payload > 0
            && buf.len() < hold
        {
            self.held_error.get_or_insert((x.now_ns(), x.tcp_seq()));
            return Some(0);
        }
        let (ts, seq) = self.held_error.take().unwrap_or((x.now_ns(), x.tcp_seq()));
        let (_, was_connect) = self.pop_pending();
        x.response_at(ts, seq, Pairing::Oldest, h.head_len as u32, |row| {
            row.response_code = Some(i32::from(h.status));
            row.response_status = status.code();
            if status != ResponseStatus::Ok {
                // A Triple error's message is in its JSON body (when it came with the head).
                let triple = row.l7_protocol == L7Protocol::Triple.id();
                match json_message(body).filter(|_| triple) {
                    Some(m) => row.response_exception.push_lossy(m),
                    None => row.response_exception.push_lossy(h.reason.as_bytes()),
                }
            }
            if row.version.is_empty() {
                row.version
                    .push_lossy(if h.version == 0 { b"1.0" } else { b"1.1" });
            }
            row.response_length = length(h.body);
            tags::extract(&cfg.tags, false, |n| header(h.headers, n), row);
            tags::custom(&cfg.custom_fields.http, |n| header(h.headers, n), row);
            cfg.raw.response(status, head, body, row);
        });
        self.dir[1] = DirState::after_head(h.body);
        if h.status == 101 || (was_connect && (200..300).contains(&h.status)) {
            self.opaque = true;
        }
        Some(h.head_len)
    }
}
