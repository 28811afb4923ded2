//! One SOFARPC (Bolt v1) connection. Calls pair with responses by request id; heartbeats are
//! counted (`l7.sofarpc.heartbeats`), not written; one-way calls are request rows written at once.
//!
//! Row fields (DeepFlow's `SofaRpcInfo`): request_type = the method, request_resource = the
//! target service (`sofa_head_target_service`), endpoint = `service/method`, request_id = the
//! Bolt request id, request_length / response_length = class name + header map + content,
//! response_code = the response status (0 ok; 8 `CLIENT_SEND_ERROR` a client error; any other
//! a server error, with the status name as response_exception), trace_id / span_id from
//! `rpc_trace_context.sofaTraceId` or `new_rpc_trace_context` (`tcid` / `spid`). A request
//! whose header map lacks the names has them read from its Hessian `SofaRequest` content.
//!
//! A message longer than the stream holds is read as far as it was captured and the rest skipped
//! by its length; after a gap a direction waits for a segment that starts with a header.

use super::super::exchange::{Exchange, Pairing};
use super::super::framing::{Framed, Sized};
use super::super::parser::{Descriptor, L7Parser, Segment, Transport};
use super::super::{Probe, ResponseStatus};
use super::hessian::request_names;
use super::wire::{
    header_entries, new_trace_context, plausible_class, status_name, Header, CODEC_HESSIAN,
    KEY_METHOD, KEY_NEW_TRACE_CONTEXT, KEY_SERVICE, KEY_TRACE_ID, PROTO_BOLT_V1,
    REQUEST_HEADER_LEN, STATUS_CLIENT_SEND_ERROR, TYPE_ONEWAY, TYPE_REQUEST,
};
use crate::record::L7FlowLog;

const COUNTER_HEARTBEATS: usize = 0;
/// Most of a request's content read for its Hessian names (they come first).
const CONTENT_READ: usize = 512;

/// SOFARPC state of one connection.
#[derive(Debug, Clone, Copy, Default)]
pub struct SofaRpcSession {
    framed: [Framed; 2],
}

/// What a request names.
#[derive(Debug, Clone, Copy, Default)]
struct Call<'a> {
    service: &'a [u8],
    method: &'a [u8],
    trace_id: &'a [u8],
    span_id: &'a [u8],
    parent_span_id: &'a [u8],
}

impl<'a> Call<'a> {
    fn read(h: &Header, msg: &'a [u8]) -> Self {
        let (_, map, content) = h.parts(msg);
        let mut c = Call::default();
        let mut new_context: &[u8] = &[];
        for (k, v) in header_entries(map) {
            match k {
                KEY_SERVICE => c.service = v,
                KEY_METHOD => c.method = v,
                KEY_TRACE_ID => c.trace_id = v,
                KEY_NEW_TRACE_CONTEXT => new_context = v,
                _ => {}
            }
        }
        if h.codec == CODEC_HESSIAN
            && (c.service.is_empty() || c.method.is_empty() || c.trace_id.is_empty())
        {
            let n = request_names(&content[..content.len().min(CONTENT_READ)]);
            for (mine, found) in [
                (&mut c.service, n.service),
                (&mut c.method, n.method),
                (&mut c.trace_id, n.trace_id),
            ] {
                if mine.is_empty() {
                    *mine = found;
                }
            }
            if new_context.is_empty() {
                new_context = n.new_trace_context;
            }
        }
        let (tcid, spid, pspid) = new_trace_context(new_context);
        if !tcid.is_empty() {
            c.trace_id = tcid;
        }
        c.span_id = spid;
        c.parent_span_id = pspid;
        c
    }
}

impl L7Parser for SofaRpcSession {
    const DESC: Descriptor = Descriptor {
        enabled_by_default: false,
        counters: &["l7.sofarpc.heartbeats"],
        ..Descriptor::tcp(43, "SofaRPC")
    };
    type Config = ();

    /// A request naming a class, a service and a method (DeepFlow's check: Bolt's header is too
    /// plain to trust alone); a head cut by the segment is unsure.
    fn probe(payload: &[u8], _: Transport) -> Probe {
        const START: [u8; 4] = [PROTO_BOLT_V1, TYPE_REQUEST, 0, 1];
        if payload.len() < REQUEST_HEADER_LEN {
            let n = payload.len().min(START.len());
            return if payload[..n] == START[..n] {
                Probe::Unsure
            } else {
                Probe::NotForUs
            };
        }
        let Some(h) = Header::parse(payload).filter(|h| h.kind == TYPE_REQUEST) else {
            return Probe::NotForUs;
        };
        if h.is_heartbeat() {
            return Probe::NotForUs;
        }
        let names_end = REQUEST_HEADER_LEN + usize::from(h.class_len) + usize::from(h.header_len);
        if payload.len() < names_end.min(REQUEST_HEADER_LEN + 1024) {
            return Probe::Unsure;
        }
        let (class, _, _) = h.parts(payload);
        let c = Call::read(&h, payload);
        if plausible_class(class) && !c.service.is_empty() && !c.method.is_empty() {
            Probe::Certain
        } else {
            Probe::NotForUs
        }
    }

    fn sent_by_client(payload: &[u8], _: Transport) -> Option<bool> {
        Header::parse(payload).map(|h| h.is_request())
    }

    fn on_data(&mut self, _: &(), seg: Segment<'_>, x: &mut Exchange<'_>) -> usize {
        let d = seg.dir();
        let from_client = seg.from_client;
        let mut framed = self.framed[d];
        let read = |b: &[u8]| {
            Header::parse(b)
                .filter(|h| h.is_request() == from_client)
                .map(|h| Sized {
                    header: h,
                    wanted: h.total_len(),
                    total: h.total_len(),
                })
        };
        let used = framed.walk(
            seg.data,
            seg.hold,
            REQUEST_HEADER_LEN,
            x,
            read,
            |_| true,
            |h, msg, (ts, seq), x| message(h, msg, ts, seq, x),
        );
        self.framed[d] = framed;
        used
    }

    fn on_gap(&mut self, dir: usize, _: &mut Exchange<'_>) {
        self.framed[dir].lost();
    }
}

/// One message (`msg` as captured, header included).
fn message(h: Header, msg: &[u8], ts: u64, seq: u32, x: &mut Exchange<'_>) {
    if h.is_heartbeat() {
        x.count(COUNTER_HEARTBEATS);
        return;
    }
    let id = h.request_id;
    let size = i64::from(h.body_len());
    let captured = msg.len() as u32;
    if h.is_request() {
        let c = Call::read(&h, msg);
        let fill = |row: &mut L7FlowLog| {
            row.request_type.push_lossy(c.method);
            row.request_resource.push_lossy(c.service);
            if !c.service.is_empty() || !c.method.is_empty() {
                row.endpoint.push_lossy(c.service);
                row.endpoint.push_lossy(b"/");
                row.endpoint.push_lossy(c.method);
            }
            row.trace_id.push_lossy(c.trace_id);
            row.span_id.push_lossy(c.span_id);
            row.parent_span_id.push_lossy(c.parent_span_id);
            row.request_id = Some(id);
            row.request_length = size;
        };
        if h.kind == TYPE_ONEWAY {
            x.one_way(captured, fill);
        } else {
            x.request_at(ts, seq, Some(id), captured, fill);
        }
        return;
    }
    x.response_at(ts, seq, Pairing::Key(id), captured, |row| {
        row.request_id = Some(id);
        row.response_length = size;
        row.response_code = Some(i32::from(h.status));
        row.response_status = match h.status {
            0 => ResponseStatus::Ok,
            STATUS_CLIENT_SEND_ERROR => ResponseStatus::ClientError,
            _ => ResponseStatus::ServerError,
        }
        .code();
        if h.status != 0 {
            row.response_exception
                .push_lossy(status_name(h.status).as_bytes());
        }
    });
}
