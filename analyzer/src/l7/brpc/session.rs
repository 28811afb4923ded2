//! One bRPC (`baidu_std`) connection. Calls pair with their answers by correlation id (a
//! connection may carry many calls at once, answered in any order).
//!
//! Row fields (DeepFlow's `BrpcInfo`): request_type = the method (`method_name`),
//! request_resource = the service (`service_name`), endpoint = `service/method`, request_id =
//! the high half of the correlation id (bRPC's call slot), x_request_id_0 = the request's
//! `log_id`, trace and span ids from the meta's user fields that `tag_extraction.tracing_tag`
//! names, request_length / response_length = the message's size (head included),
//! response_code = `error_code`, response_exception = `error_text`; any code but 0 is a server
//! error (as DeepFlow classes them), an answer without a code is ok.
//!
//! A message longer than the stream holds is read as far as it was captured (its meta comes
//! first) and the rest skipped by its length. Streaming RPC frames (`STRM`) on the connection
//! are skipped by their length and counted. After a gap a direction waits for a segment that
//! starts with a head.

use std::fmt::Write;

use super::super::exchange::{Exchange, Pairing};
use super::super::framing::{Framed, Sized};
use super::super::parser::{Descriptor, L7Parser, Segment, Transport};
use super::super::{tags, Probe, ResponseStatus};
use super::wire::{head, may_start, meta, user_field, Head, Kind, Meta, HEAD_LEN};
use crate::record::L7FlowLog;

const COUNTER_STREAM_FRAMES: usize = 0;

/// bRPC state of one connection.
#[derive(Debug, Clone, Copy, Default)]
pub struct BrpcSession {
    framed: [Framed; 2],
}

/// A plausible service or method name: printable ASCII, not empty.
fn plausible(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(u8::is_ascii_graphic)
}

/// The head and meta of a message at the start of `b`, if both read.
fn message_meta(b: &[u8]) -> Option<(Head, Meta<'_>)> {
    let h = head(b).filter(|h| h.kind == Kind::Rpc)?;
    let end = (HEAD_LEN + h.meta as usize).min(b.len());
    Some((h, meta(&b[HEAD_LEN..end])?))
}

impl L7Parser for BrpcSession {
    const DESC: Descriptor = Descriptor {
        enabled_by_default: false,
        counters: &["l7.brpc.stream_frames"],
        ..Descriptor::tcp(45, "bRPC")
    };
    type Config = ();

    /// A call naming a service and a method, or an answer (a capture that starts mid
    /// connection); a head cut by the segment is unsure.
    fn probe(payload: &[u8], _: Transport) -> Probe {
        if payload.len() < HEAD_LEN {
            return if may_start(payload) {
                Probe::Unsure
            } else {
                Probe::NotForUs
            };
        }
        let Some(h) = head(payload).filter(|h| h.kind == Kind::Rpc) else {
            return Probe::NotForUs;
        };
        // A meta cut by the segment may not name its method yet.
        let cut = payload.len() < HEAD_LEN + h.meta as usize;
        match message_meta(payload) {
            Some((_, m)) => match m.request {
                Some(r) if plausible(r.service) && plausible(r.method) => Probe::Certain,
                Some(_) if cut => Probe::Unsure,
                Some(_) => Probe::NotForUs,
                None => Probe::Certain,
            },
            None if cut => Probe::Unsure,
            None => Probe::NotForUs,
        }
    }

    fn sent_by_client(payload: &[u8], _: Transport) -> Option<bool> {
        message_meta(payload).map(|(_, m)| m.request.is_some())
    }

    fn on_data(&mut self, _: &(), seg: Segment<'_>, x: &mut Exchange<'_>) -> usize {
        let d = seg.dir();
        let from_client = seg.from_client;
        let mut framed = self.framed[d];
        let read = |b: &[u8]| {
            head(b).map(|h| Sized {
                header: h,
                wanted: h.total(),
                total: h.total(),
            })
        };
        let used = framed.walk(
            seg.data,
            seg.hold,
            HEAD_LEN,
            x,
            read,
            |h| h.kind == Kind::Rpc,
            |h, msg, (ts, seq), x| message(h, msg, from_client, ts, seq, x),
        );
        self.framed[d] = framed;
        used
    }

    fn on_gap(&mut self, dir: usize, _: &mut Exchange<'_>) {
        self.framed[dir].lost();
    }
}

/// One message (`msg`: as much of it as was captured, head first).
fn message(h: Head, msg: &[u8], from_client: bool, ts: u64, seq: u32, x: &mut Exchange<'_>) {
    if h.kind == Kind::Stream {
        x.count(COUNTER_STREAM_FRAMES);
        return;
    }
    let Some((_, m)) = message_meta(msg).filter(|(_, m)| m.request.is_some() == from_client) else {
        x.parse_error();
        return;
    };
    let size = h.total() as i64;
    let captured = msg.len() as u32;
    if let Some(r) = m.request {
        let tags = &x.settings().tags;
        let find = |k: &str| user_field(m.raw, k);
        let fill = |row: &mut L7FlowLog| {
            row.request_type.push_lossy(r.method);
            row.request_resource.push_lossy(r.service);
            row.endpoint.push_lossy(r.service);
            row.endpoint.push_lossy(b"/");
            row.endpoint.push_lossy(r.method);
            row.request_id = m.request_id();
            row.request_length = size;
            tags::extract(tags, true, find, row);
            if let Some(id) = r.log_id {
                row.x_request_id_0.clear();
                let _ = write!(row.x_request_id_0, "{id}");
            }
        };
        x.request_at(ts, seq, m.pairing_key(), captured, fill);
        return;
    }
    let r = m.response.unwrap_or_default();
    let pairing = match m.pairing_key() {
        Some(k) => Pairing::Key(k),
        None => Pairing::Oldest,
    };
    x.response_at(ts, seq, pairing, captured, |row| {
        if row.request_id.is_none() {
            row.request_id = m.request_id();
        }
        row.response_length = size;
        row.response_code = r.error_code;
        row.response_status = match r.error_code {
            Some(c) if c != 0 => ResponseStatus::ServerError,
            _ => ResponseStatus::Ok,
        }
        .code();
        row.response_exception.push_lossy(r.error_text);
    });
}
