//! One Dubbo connection. Requests pair with responses by request id; heartbeats and other events
//! are counted (`l7.dubbo.events`), not written; one-way calls are request rows written at once.
//!
//! Row fields (`deepflow-facts.md` section 4.5): request_type = the method, request_resource =
//! the service, endpoint = `service/method`, version = the Dubbo version (`2.0.2`), request_id =
//! the request id (its low 32 bits), request_length / response_length = the body length,
//! response_code = the status (20 OK; 30/40/90 client errors; 31/50/60/70/80/100 server errors,
//! with the error message the body carries as response_exception, else the status name). A
//! status-20 response carrying an exception (response type 0 or 3) is a server error whose
//! exception is the exception's class name (Hessian2). Trace and span ids come from the
//! request's attachments (Hessian2), looked up by `tracing_tag.apm_trace_id` / `apm_span_id`.
//!
//! A message longer than the stream holds is read as far as it was captured and the rest skipped
//! by its length; after a gap a direction waits for a segment that starts with a header.

use super::super::exchange::{Exchange, Pairing};
use super::super::framing::Skip;
use super::super::parser::{Descriptor, L7Parser, Segment, Transport};
use super::super::tags;
use super::super::{Probe, ResponseStatus};
use super::wire::{
    attachment, call, exception_class, status_class, string, Header, Reader, HEADER_LEN, MAGIC,
    SERIALIZATION_HESSIAN2, SERIALIZATION_KRYO, STATUS_OK,
};
use crate::record::L7FlowLog;

const COUNTER_EVENTS: usize = 0;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Dir {
    #[default]
    Message,
    Skip(Skip),
}

/// Dubbo state of one connection.
#[derive(Debug, Clone, Copy, Default)]
pub struct DubboSession {
    dir: [Dir; 2],
    head: [Option<(u64, u32)>; 2],
    resync: [bool; 2],
}

impl L7Parser for DubboSession {
    const DESC: Descriptor = Descriptor {
        enabled_by_default: false,
        counters: &["l7.dubbo.events"],
        ..Descriptor::tcp(40, "Dubbo")
    };
    type Config = ();

    fn probe(payload: &[u8], _: Transport) -> Probe {
        if payload.len() < HEADER_LEN {
            let n = payload.len().min(2);
            return if payload[..n] == MAGIC[..n] {
                Probe::Unsure
            } else {
                Probe::NotForUs
            };
        }
        let Some(h) = Header::parse(payload).filter(Header::is_request) else {
            return Probe::NotForUs;
        };
        if h.is_event() {
            return Probe::Certain;
        }
        match call(h.serialization(), &payload[HEADER_LEN..]) {
            Some(_) => Probe::Certain,
            // The body is cut by the segment before the call's names.
            None if payload.len() < h.total_len() && payload.len() < HEADER_LEN + 256 => {
                Probe::Unsure
            }
            None => Probe::NotForUs,
        }
    }

    fn sent_by_client(payload: &[u8], _: Transport) -> Option<bool> {
        Header::parse(payload).map(|h| h.is_request())
    }

    fn on_data(&mut self, _: &(), seg: Segment<'_>, x: &mut Exchange<'_>) -> usize {
        let d = seg.dir();
        let data = seg.data;
        if self.resync[d] {
            match Header::parse(data) {
                Some(h) if h.is_request() == seg.from_client => self.resync[d] = false,
                _ => return data.len(),
            }
        }
        let mut at = 0;
        while at < data.len() {
            let rest = &data[at..];
            if let Dir::Skip(mut skip) = self.dir[d] {
                at += skip.take(rest.len());
                self.dir[d] = if skip.is_done() {
                    Dir::Message
                } else {
                    Dir::Skip(skip)
                };
                continue;
            }
            let Some(h) = Header::parse(rest).filter(|h| h.is_request() == seg.from_client) else {
                if rest.len() < HEADER_LEN
                    && rest[..rest.len().min(2)] == MAGIC[..rest.len().min(2)]
                {
                    self.head[d].get_or_insert((x.now_ns(), x.tcp_seq()));
                    return at;
                }
                x.parse_error();
                self.resync[d] = true;
                self.head[d] = None;
                return data.len();
            };
            let total = h.total_len();
            if rest.len() < total.min(seg.hold) {
                self.head[d].get_or_insert((x.now_ns(), x.tcp_seq()));
                return at;
            }
            let msg = &rest[..total.min(rest.len())];
            let (ts, seq) = self.head[d].take().unwrap_or((x.now_ns(), x.tcp_seq()));
            message(h, &msg[HEADER_LEN..], msg.len() as u32, ts, seq, x);
            at += msg.len();
            if msg.len() < total {
                self.dir[d] = Dir::Skip(Skip((total - msg.len()) as u64));
            }
        }
        at
    }

    fn on_gap(&mut self, dir: usize, _: &mut Exchange<'_>) {
        self.dir[dir] = Dir::Message;
        self.head[dir] = None;
        self.resync[dir] = true;
    }
}

/// One message (`body` as captured).
fn message(h: Header, body: &[u8], captured: u32, ts: u64, seq: u32, x: &mut Exchange<'_>) {
    if h.is_event() {
        x.count(COUNTER_EVENTS);
        return;
    }
    let id = h.request_id as u32;
    let size = i64::from(h.body_len);
    if h.is_request() {
        let c = call(h.serialization(), body).unwrap_or_default();
        let tags = &x.settings().tags;
        let hessian = h.serialization() == SERIALIZATION_HESSIAN2;
        let fill = |row: &mut L7FlowLog| {
            c.method.push_to(&mut row.request_type);
            c.service.push_to(&mut row.request_resource);
            c.service.push_to(&mut row.endpoint);
            row.endpoint.push_lossy(b"/");
            c.method.push_to(&mut row.endpoint);
            c.dubbo_version.push_to(&mut row.version);
            row.request_id = Some(id);
            row.request_length = size;
            if hessian {
                tags::extract(tags, true, |k| attachment(body, k), row);
            }
        };
        if h.two_way() {
            x.request_at(ts, seq, Some(id), captured, fill);
        } else {
            x.one_way(captured, fill);
        }
        return;
    }
    let serialization = h.serialization();
    x.response_at(ts, seq, Pairing::Key(id), captured, |row| {
        row.request_id = Some(id);
        row.response_length = size;
        row.response_code = Some(i32::from(h.status));
        match status_class(h.status) {
            None => {
                row.response_status = ResponseStatus::Ok.code();
                // Response type 0 / 3: the call threw.
                let kind = match serialization {
                    SERIALIZATION_HESSIAN2 => body.first().map(|b| b.wrapping_sub(0x90)),
                    SERIALIZATION_KRYO => body.first().copied(),
                    _ => None,
                };
                if matches!(kind, Some(0 | 3)) && h.status == STATUS_OK {
                    row.response_status = ResponseStatus::ServerError.code();
                    let class = (serialization == SERIALIZATION_HESSIAN2)
                        .then(|| exception_class(&body[1..]))
                        .flatten();
                    row.response_exception
                        .push_lossy(class.unwrap_or(b"exception"));
                }
            }
            Some((client, name)) => {
                row.response_status = if client {
                    ResponseStatus::ClientError
                } else {
                    ResponseStatus::ServerError
                }
                .code();
                match string(&mut Reader::new(body), serialization).filter(|m| !m.is_empty()) {
                    Some(m) => m.push_to(&mut row.response_exception),
                    None => row.response_exception.push_lossy(name.as_bytes()),
                }
            }
        }
    });
}
