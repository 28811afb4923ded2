//! One HTTP/2 connection: frames of both directions, header blocks through each direction's HPACK
//! decoder, requests and responses paired by stream id, gRPC recognised by its content-type.
//!
//! Row fields (`deepflow-facts.md` section 4.5): HTTP/2 like HTTP/1 (`:method`, `:authority`,
//! `:path`, endpoint rules, `:status`), version `2`, request_id = stream id. gRPC (l7_protocol 41):
//! request_type `POST`, request_resource = the service (`pkg.Service` of `/pkg.Service/Method`),
//! endpoint = the full path, response_code = `grpc-status` from the trailers (else `:status`),
//! response_exception = `grpc-message`. RRT ends at the response's HEADERS frame; a gRPC row is
//! written when the trailers (or the end of the stream) arrive. Triple (Dubbo 3, l7_protocol 49):
//! a request naming a Dubbo service version (`tri-service-version`) is a gRPC row of protocol
//! Triple whose version is that service version (DeepFlow's test); an error in Triple's own unary
//! form (an HTTP status, not gRPC's trailers) is written at its body's first DATA frame, with the
//! body's JSON `message` as response_exception (`response.rs`).
//!
//! Joined mid-connection (no preface seen), the HPACK tables were built before the capture: each
//! header block decodes what it can (static-table fields such as `:method POST` and `:status
//! 200`, literals, entries inserted since the capture began) and the row is marked
//! `headers_partial` when a field referred to an older entry (`l7.h2_partial_blocks` counts such
//! blocks). A request stays one row with its response. A stream whose content-type was not
//! readable is recognised as gRPC by its first request DATA frame (a length-prefixed message) or
//! because the connection already carried gRPC. A lost segment or a header block too large to
//! hold drops what the decoder knew of the table (counted in `l7.h2_degraded`); it is rebuilt
//! from what later blocks insert.

use super::super::exchange::{Exchange, Pairing, RequestId};
use super::super::parser::{Descriptor, Hold, L7Parser, Segment, Transport};
use super::super::protocol::L7Protocol;
use super::super::{http1, tags, Probe, ResponseStatus};
use super::frame::{
    block_fragment, FrameHeader, FLAG_END_HEADERS, FLAG_END_STREAM, HEADER_LEN, PREFACE,
    TYPE_CONTINUATION, TYPE_DATA, TYPE_HEADERS, TYPE_PUSH_PROMISE, TYPE_RST_STREAM,
};
use super::headers::Headers;
use super::hpack::Decoder;
use super::response::{emit, emit_with_message, json_message};
use crate::record::L7FlowLog;

/// Streams followed at once per connection (the oldest is dropped beyond).
const MAX_STREAMS: usize = 16;
/// Largest header block assembled from HEADERS + CONTINUATION frames.
const BLOCK_MAX: usize = 4096;

#[derive(Debug, Clone, Copy, Default)]
struct Stream {
    /// 0 = free.
    id: u32,
    grpc: bool,
    /// The request's headers were partly unknown (its content-type among them).
    partial: bool,
    /// The request row, to make it gRPC when its DATA shows it is.
    request: Option<RequestId>,
    /// The response head: (status, time, TCP sequence number).
    resp: Option<(u16, u64, u32)>,
    /// A Triple request: an error answered in Triple's own unary form (not gRPC's) is written
    /// with the message of its JSON body.
    triple: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    /// Client side: this many preface bytes seen.
    Preface(u8),
    Frame,
    /// Inside a frame payload that is not parsed: bytes left.
    Skip(usize),
}

/// A header block being assembled from CONTINUATION frames.
#[derive(Clone)]
struct Block {
    buf: [u8; BLOCK_MAX],
    len: usize,
    stream: u32,
    end_stream: bool,
    push: bool,
    active: bool,
}

impl Default for Block {
    fn default() -> Self {
        Block {
            buf: [0; BLOCK_MAX],
            len: 0,
            stream: 0,
            end_stream: false,
            push: false,
            active: false,
        }
    }
}

/// HTTP/2 state of one connection (kept in its own slab: it is large).
#[derive(Clone)]
pub struct Http2Session {
    /// [client -> server, server -> client].
    dec: [Decoder; 2],
    dir: [Dir; 2],
    streams: [Stream; MAX_STREAMS],
    block: [Block; 2],
    degraded: bool,
    /// A gRPC request was seen: the flow's protocol is gRPC.
    grpc_seen: bool,
    /// A Triple request was seen: the flow's protocol is Triple.
    triple_seen: bool,
    /// Bytes of this direction were lost: the next segment must start a frame.
    resync: [bool; 2],
}

/// Index of `l7.h2_degraded` in the descriptor's counters.
const COUNTER_DEGRADED: usize = 0;
const COUNTER_PARTIAL: usize = 1;
const COUNTER_GRPC_BY_DATA: usize = 2;

impl L7Parser for Http2Session {
    const DESC: Descriptor = Descriptor {
        // Header blocks must be decoded whole to keep HPACK in step: hold the most.
        hold: Hold::Max,
        large_state: true,
        counters: &[
            "l7.h2_degraded",
            "l7.h2_partial_blocks",
            "l7.h2_grpc_by_data",
        ],
        ..Descriptor::tcp(21, "HTTP2")
    };
    type Config = ();

    fn probe(payload: &[u8], _: Transport) -> Probe {
        super::frame::probe(payload)
    }

    fn sent_by_client(payload: &[u8], _: Transport) -> Option<bool> {
        Some(super::frame::sent_by_client(payload))
    }

    fn reset(&mut self) {
        self.clear();
    }

    fn on_data(&mut self, _: &(), seg: Segment<'_>, x: &mut Exchange<'_>) -> usize {
        let resync = std::mem::take(&mut self.resync[seg.dir()]);
        let n = self.on_stream(seg.data, resync, seg.from_client, seg.hold, x);
        // HTTP/2 carrying gRPC makes the flow a gRPC flow, carrying Triple a Triple flow
        // (DeepFlow upgrades it the same way).
        if self.triple_seen {
            x.upgrade(L7Protocol::Triple);
        } else if self.grpc_seen {
            x.upgrade(L7Protocol::Grpc);
        }
        n
    }

    fn on_gap(&mut self, dir: usize, x: &mut Exchange<'_>) {
        // Bytes were lost: maybe a header block, which the peer's table changed with.
        self.note_lost(dir, x);
        self.block[dir].active = false;
        self.resync[dir] = true;
    }

    /// Responses whose end (gRPC trailers) never came are written as they are.
    fn on_close(&mut self, _: &(), x: &mut Exchange<'_>) {
        self.flush(x);
    }
}

impl std::fmt::Debug for Http2Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http2Session")
            .field("dir", &self.dir)
            .field("degraded", &self.degraded)
            .finish()
    }
}

impl Default for Http2Session {
    fn default() -> Self {
        Http2Session {
            dec: Default::default(),
            dir: [Dir::Preface(0), Dir::Frame],
            streams: [Stream::default(); MAX_STREAMS],
            block: Default::default(),
            degraded: false,
            grpc_seen: false,
            triple_seen: false,
            resync: [false; 2],
        }
    }
}

/// `triple`: the request's Dubbo service version (`tri-service-version`), read once by the caller.
fn fill_request(
    row: &mut L7FlowLog,
    h: Option<&Headers>,
    (grpc, triple): (bool, Option<&[u8]>),
    partial: bool,
    cfg: &super::super::L7Config,
) {
    row.version.push_lossy(b"2");
    row.headers_partial |= partial;
    let Some(h) = h else {
        return;
    };
    let path = h.get(":path").unwrap_or_default();
    if let Some(a) = h.get(":authority").or_else(|| h.get("host")) {
        row.request_domain.push_lossy(a);
    }
    if let Some(version) = triple {
        make_triple(row, path, version);
    } else if grpc {
        row.request_type.clear();
        make_grpc(row, path);
    } else {
        row.request_type
            .push_lossy(h.get(":method").unwrap_or_default());
        row.request_resource.push_lossy(path);
        if let Ok(p) = std::str::from_utf8(path) {
            if let Some(keep) = cfg.endpoints.keep_for(p) {
                row.endpoint.push_lossy(http1::endpoint(p, keep).as_bytes());
            }
        }
    }
    if let Some(v) = h.get("user-agent") {
        row.http_user_agent.push_lossy(v);
    }
    if let Some(v) = h.get("referer") {
        row.http_referer.push_lossy(v);
    }
    if let Some(n) = h
        .get("content-length")
        .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok())
    {
        row.request_length = n;
    }
    tags::extract(&cfg.tags, true, |n| h.get(n), row);
    tags::custom(&cfg.custom_fields.http2, |n| h.get(n), row);
}

/// The header of a Triple request (Dubbo 3): the Dubbo service version it calls.
pub(crate) const TRIPLE_VERSION: &str = "tri-service-version";

/// Triple's fields of a request row, as DeepFlow writes them: gRPC's, the protocol Triple and the
/// service version (`tri-service-version`) as version.
pub(crate) fn make_triple(row: &mut L7FlowLog, path: &[u8], version: &[u8]) {
    row.request_type.clear();
    row.l7_protocol = L7Protocol::Triple.id();
    row.l7_protocol_str = L7Protocol::Triple.name();
    make_grpc(row, path);
    row.version.clear();
    row.version.push_lossy(version);
}

/// gRPC's fields of a request row: `POST`, the service of `path` as resource, `path` as endpoint
/// (a Triple row stays Triple).
fn make_grpc(row: &mut L7FlowLog, path: &[u8]) {
    if row.l7_protocol != L7Protocol::Triple.id() {
        row.l7_protocol = L7Protocol::Grpc.id();
        row.l7_protocol_str = L7Protocol::Grpc.name();
    }
    if row.request_type.is_empty() {
        row.request_type.push_lossy(b"POST");
    }
    let service = path
        .strip_prefix(b"/")
        .and_then(|p| p.iter().rposition(|&c| c == b'/').map(|i| &p[..i]))
        .unwrap_or(path);
    row.request_resource.clear();
    row.request_resource.push_lossy(service);
    row.endpoint.clear();
    row.endpoint.push_lossy(path);
}

/// A DATA payload that starts with a gRPC length-prefixed message filling the frame (flag 0 or
/// 1, then the message length) when the frame is whole, or fitting in it.
fn looks_like_grpc_message(frame_len: usize, payload: &[u8]) -> bool {
    let Some(p) = payload.get(..5) else {
        return false;
    };
    let len = u32::from_be_bytes([p[1], p[2], p[3], p[4]]) as usize;
    p[0] <= 1 && len + 5 <= frame_len.max(5) && (len + 5 == frame_len || frame_len == 16_384)
}

impl Http2Session {
    /// Back to a fresh connection (states are reused).
    fn clear(&mut self) {
        for d in &mut self.dec {
            d.clear();
        }
        self.dir = [Dir::Preface(0), Dir::Frame];
        self.streams = [Stream::default(); MAX_STREAMS];
        for b in &mut self.block {
            b.active = false;
            b.len = 0;
        }
        self.degraded = false;
        self.grpc_seen = false;
        self.triple_seen = false;
        self.resync = [false; 2];
    }

    fn stream_mut(&mut self, id: u32) -> Option<&mut Stream> {
        self.streams.iter_mut().find(|s| s.id == id && id != 0)
    }

    fn open_stream(&mut self, id: u32, grpc: bool, partial: bool) {
        self.grpc_seen |= grpc;
        let slot = match self.streams.iter().position(|s| s.id == 0 || s.id == id) {
            Some(i) => i,
            // Full: forget the oldest (lowest id); its response, if any, pairs as unmatched.
            None => self
                .streams
                .iter()
                .enumerate()
                .min_by_key(|(_, s)| s.id)
                .map_or(0, |(i, _)| i),
        };
        self.streams[slot] = Stream {
            id,
            grpc,
            partial,
            request: None,
            resp: None,
            triple: false,
        };
    }

    fn note_lost(&mut self, d: usize, x: &mut Exchange<'_>) {
        self.dec[d].unsync();
        if !self.degraded {
            self.degraded = true;
            x.count(COUNTER_DEGRADED);
        }
    }

    /// Parses what it can of one direction's bytes; returns the bytes consumed (the rest is an
    /// incomplete frame, offered again with more bytes while `hold` allows).
    fn on_stream(
        &mut self,
        data: &[u8],
        resync: bool,
        from_client: bool,
        hold: usize,
        x: &mut Exchange<'_>,
    ) -> usize {
        let d = usize::from(!from_client);
        if resync {
            match FrameHeader::parse(data) {
                Some(h) if h.kind <= TYPE_CONTINUATION && h.len <= 16_384 => {
                    self.dir[d] = Dir::Frame;
                }
                _ => return data.len(),
            }
        }
        let mut at = 0;
        while at < data.len() {
            let rest = &data[at..];
            match self.dir[d] {
                Dir::Preface(n) => {
                    let want = &PREFACE[usize::from(n)..];
                    let m = want.len().min(rest.len());
                    if rest[..m] == want[..m] {
                        at += m;
                        let seen = usize::from(n) + m;
                        self.dir[d] = if seen == PREFACE.len() {
                            Dir::Frame
                        } else {
                            Dir::Preface(seen as u8)
                        };
                    } else {
                        // No preface: the connection started before the capture.
                        self.dir[d] = Dir::Frame;
                        for dec in &mut self.dec {
                            dec.joined_mid_connection();
                        }
                    }
                }
                Dir::Skip(n) => {
                    let take = n.min(rest.len());
                    at += take;
                    self.dir[d] = if take == n {
                        Dir::Frame
                    } else {
                        Dir::Skip(n - take)
                    };
                }
                Dir::Frame => {
                    let Some(h) = FrameHeader::parse(rest) else {
                        return at;
                    };
                    let total = HEADER_LEN + h.len;
                    let parsed = matches!(
                        h.kind,
                        TYPE_HEADERS | TYPE_CONTINUATION | TYPE_PUSH_PROMISE | TYPE_RST_STREAM
                    );
                    if !parsed {
                        if h.kind == TYPE_DATA && from_client {
                            let payload = &rest[HEADER_LEN.min(rest.len())..];
                            self.request_data(h.stream, h.len, payload, x);
                        }
                        if h.kind == TYPE_DATA && !from_client {
                            let payload = &rest[HEADER_LEN.min(rest.len())..];
                            self.response_data(h.stream, payload, x);
                            if h.has(FLAG_END_STREAM) {
                                self.end_of_stream(h.stream, x);
                            }
                        }
                        at += HEADER_LEN;
                        self.dir[d] = Dir::Skip(h.len);
                        continue;
                    }
                    if rest.len() < total {
                        if total <= hold {
                            return at;
                        }
                        // Too large to hold: its header block is lost.
                        if h.kind != TYPE_RST_STREAM {
                            self.note_lost(d, x);
                        }
                        at += HEADER_LEN;
                        self.dir[d] = Dir::Skip(h.len);
                        continue;
                    }
                    self.on_frame(&h, &rest[HEADER_LEN..total], from_client, x);
                    at += total;
                }
            }
        }
        at
    }

    fn on_frame(
        &mut self,
        h: &FrameHeader,
        payload: &[u8],
        from_client: bool,
        x: &mut Exchange<'_>,
    ) {
        let d = usize::from(!from_client);
        match h.kind {
            TYPE_RST_STREAM => {
                let code = payload
                    .get(..4)
                    .map_or(0, |c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
                self.reset_stream(h.stream, code, from_client, x);
            }
            TYPE_HEADERS | TYPE_PUSH_PROMISE => {
                let Some(frag) = block_fragment(h, payload) else {
                    x.parse_error();
                    self.note_lost(d, x);
                    return;
                };
                let end_stream = h.kind == TYPE_HEADERS && h.has(FLAG_END_STREAM);
                let push = h.kind == TYPE_PUSH_PROMISE;
                if h.has(FLAG_END_HEADERS) {
                    self.header_block(frag, h.stream, end_stream, push, from_client, x);
                } else if frag.len() <= BLOCK_MAX {
                    let b = &mut self.block[d];
                    b.buf[..frag.len()].copy_from_slice(frag);
                    b.len = frag.len();
                    b.stream = h.stream;
                    b.end_stream = end_stream;
                    b.push = push;
                    b.active = true;
                } else {
                    self.note_lost(d, x);
                }
            }
            TYPE_CONTINUATION => {
                let b = &mut self.block[d];
                if !b.active || b.stream != h.stream || b.len + payload.len() > BLOCK_MAX {
                    b.active = false;
                    self.note_lost(d, x);
                    return;
                }
                b.buf[b.len..b.len + payload.len()].copy_from_slice(payload);
                b.len += payload.len();
                if h.has(FLAG_END_HEADERS) {
                    b.active = false;
                    let mut buf = [0u8; BLOCK_MAX];
                    let len = b.len;
                    buf[..len].copy_from_slice(&b.buf[..len]);
                    let (stream, end_stream, push) = (b.stream, b.end_stream, b.push);
                    self.header_block(&buf[..len], stream, end_stream, push, from_client, x);
                }
            }
            _ => {}
        }
    }

    fn header_block(
        &mut self,
        block: &[u8],
        stream: u32,
        end_stream: bool,
        push: bool,
        from_client: bool,
        x: &mut Exchange<'_>,
    ) {
        let d = usize::from(!from_client);
        let mut hs = Headers::new();
        let (decoded, partial) = match self.dec[d].decode(block, |f| hs.push(f)) {
            Ok(r) => (true, !r.complete),
            Err(_) => {
                self.note_lost(d, x);
                (false, false)
            }
        };
        if partial {
            x.count(COUNTER_PARTIAL);
        }
        if push {
            return; // a promised request: kept only for the decoder's table
        }
        let captured = (block.len() + HEADER_LEN) as u32;
        let cfg = x.settings();
        if from_client {
            let open = self.streams.iter().any(|s| s.id == stream && stream != 0);
            if open || decoded && !partial && hs.get(":method").is_none() {
                return; // request trailers
            }
            // Joined mid-connection, content-type may be an entry older than the capture: a
            // connection that carried gRPC carries gRPC.
            let grpc = decoded
                && (hs.is_grpc() || partial && hs.get("content-type").is_none() && self.grpc_seen);
            self.open_stream(stream, grpc, partial);
            let h = decoded.then_some(&hs);
            let triple = h.and_then(|h| h.get(TRIPLE_VERSION));
            self.triple_seen |= triple.is_some();
            let id = x.request(Some(stream), captured, |row| {
                row.request_id = Some(stream);
                fill_request(row, h, (grpc, triple), partial, cfg);
            });
            if let Some(st) = self.stream_mut(stream) {
                st.request = Some(id);
                st.triple = triple.is_some();
            }
            return;
        }
        let status = if decoded { hs.status() } else { None };
        if status.is_some_and(|s| (100..200).contains(&s)) {
            return; // interim
        }
        let (ts, seq) = (x.now_ns(), x.tcp_seq());
        let Some(st) = self.stream_mut(stream) else {
            // A response to a request not seen (the capture began after it). A gRPC one is
            // written when its trailers bring the gRPC status.
            if decoded && hs.is_grpc() && !end_stream && status.is_some() {
                self.open_stream(stream, true, partial);
                if let Some(st) = self.stream_mut(stream) {
                    st.resp = Some((status.unwrap_or(0), ts, seq));
                }
                return;
            }
            if status.is_some() || !decoded {
                emit(
                    x,
                    stream,
                    status,
                    (ts, seq),
                    decoded.then_some(&hs),
                    (false, partial),
                    captured,
                );
            }
            return;
        };
        match (status, st.resp) {
            // The response head (or, undecoded or partly decoded, the first HEADERS of the
            // stream).
            (Some(_), None) | (None, None) if status.is_some() || !decoded || partial => {
                let s = status.unwrap_or(0);
                st.resp = Some((s, ts, seq));
                st.partial |= partial;
                let (grpc, p) = (st.grpc, st.partial);
                // A Triple error in Triple's unary form: its message comes in the body.
                let body_message = st.triple && !grpc && s >= 400;
                if !(grpc || body_message) || end_stream || !decoded {
                    st.id = 0;
                    emit(
                        x,
                        stream,
                        status,
                        (ts, seq),
                        decoded.then_some(&hs),
                        (grpc, p),
                        captured,
                    );
                }
            }
            // Trailers: the gRPC status.
            (None, Some((s, t, q))) => {
                let (grpc, p) = (st.grpc, st.partial || partial);
                st.id = 0;
                emit(
                    x,
                    stream,
                    (s != 0).then_some(s),
                    (t, q),
                    Some(&hs),
                    (grpc, p),
                    captured,
                );
            }
            _ => {}
        }
    }

    /// The connection ends: responses still waiting for their trailers are written with what
    /// their head said.
    fn flush(&mut self, x: &mut Exchange<'_>) {
        for i in 0..MAX_STREAMS {
            let st = self.streams[i];
            if let (true, Some((s, t, q))) = (st.id != 0, st.resp) {
                self.streams[i].id = 0;
                emit(
                    x,
                    st.id,
                    (s != 0).then_some(s),
                    (t, q),
                    None,
                    (st.grpc, st.partial),
                    0,
                );
            }
        }
    }

    /// A server DATA frame (as far as it is in this segment): the body of a Triple error in
    /// Triple's unary form, whose JSON `message` is the row's exception.
    fn response_data(&mut self, stream: u32, payload: &[u8], x: &mut Exchange<'_>) {
        let Some(st) = self.stream_mut(stream) else {
            return;
        };
        let Some((s, t, q)) = st.resp.filter(|_| st.triple && !st.grpc) else {
            return;
        };
        let partial = st.partial;
        st.id = 0;
        let status = (s != 0).then_some(s);
        emit_with_message(x, stream, status, (t, q), partial, json_message(payload));
    }

    /// DATA with END_STREAM from the server: a gRPC stream whose trailers never came.
    fn end_of_stream(&mut self, stream: u32, x: &mut Exchange<'_>) {
        if let Some(st) = self.stream_mut(stream) {
            if let Some((s, t, q)) = st.resp {
                let flags = (st.grpc, st.partial);
                st.id = 0;
                emit(x, stream, (s != 0).then_some(s), (t, q), None, flags, 0);
            }
        }
    }

    /// A client DATA frame: on a stream whose content-type could not be read, a gRPC message
    /// shows the stream (and the connection) is gRPC.
    fn request_data(
        &mut self,
        stream: u32,
        frame_len: usize,
        payload: &[u8],
        x: &mut Exchange<'_>,
    ) {
        let Some(st) = self.stream_mut(stream) else {
            return;
        };
        if st.grpc || !st.partial || !looks_like_grpc_message(frame_len, payload) {
            return;
        }
        st.grpc = true;
        let request = st.request;
        self.grpc_seen = true;
        x.count(COUNTER_GRPC_BY_DATA);
        if let Some(id) = request {
            x.update_request(id, |row| {
                // An HTTP/2 row's resource is the whole path.
                let path = row.request_resource;
                make_grpc(row, path.as_bytes());
            });
        }
    }

    fn reset_stream(&mut self, stream: u32, code: u32, from_client: bool, x: &mut Exchange<'_>) {
        let Some(st) = self.stream_mut(stream) else {
            return;
        };
        st.id = 0;
        let (ts, seq) = (x.now_ns(), x.tcp_seq());
        x.response_at(ts, seq, Pairing::Key(stream), 13, |row| {
            row.request_id = Some(stream);
            let status = match (code, from_client) {
                (0, _) => ResponseStatus::Ok,
                (_, true) => ResponseStatus::ClientError,
                (_, false) => ResponseStatus::ServerError,
            };
            row.response_status = status.code();
            let _ = std::fmt::Write::write_fmt(
                &mut row.response_exception,
                format_args!("RST_STREAM {code}"),
            );
        });
    }
}
