//! One AMQP 0-9-1 connection. A synchronous method (Queue.Declare, Basic.Get, Channel.Open,
//! Connection.Start from the broker, ...) is a request answered by its `-Ok` (Basic.Get also by
//! GetEmpty) from the other side on the same channel; asynchronous ones (Basic.Publish,
//! Deliver, Ack, Nack, Reject, Return) and those sent with `no-wait` are request rows written at
//! once. Content header and body frames are skipped by their size (`l7.amqp.content_frames`),
//! heartbeats ignored.
//!
//! Errors: a Channel.Close or Connection.Close with a reply code other than 200 answers the
//! request the closing side's peer was waiting for on that channel (a passive Queue.Declare of a
//! missing queue gets 404 NOT_FOUND this way) and is itself a row (answered by CloseOk) with the
//! code and text; Basic.Return (an unroutable mandatory publish) likewise. Codes are classed by
//! [`super::wire::reply_class`]; DeepFlow reports every AMQP message as ok.
//!
//! Row fields (`deepflow-facts.md` section 4.5): request_type = `Class.Method`, request_domain =
//! the virtual host (from Connection.Open), request_resource and endpoint = `exchange.routing_key`
//! for Publish/Deliver/GetOk/Return (the routing key alone on the default exchange), the queue
//! for Queue methods, Basic.Consume and Basic.Get, the exchange for Exchange methods,
//! request_length / response_length = the method frame's payload size.

use super::super::exchange::{Exchange, Pairing};
use super::super::framing::Skip;
use super::super::parser::{Descriptor, L7Parser, Segment, Transport};
use super::super::{Probe, ResponseStatus};
use super::wire::{
    args, from_client, is_protocol_header, names, reply_class, role, Args, Frame, Role, FRAME_END,
    FRAME_METHOD, HEAD_LEN,
};
use crate::inline::InlineBytes;
use crate::record::L7FlowLog;

const COUNTER_CONTENT: usize = 0;
const COUNTER_PROTOCOL_HEADERS: usize = 1;
/// Synchronous requests waiting for their answer, per connection.
const WAITING: usize = 8;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Dir {
    #[default]
    Message,
    Skip(Skip),
}

/// AMQP state of one connection.
#[derive(Debug, Clone, Copy, Default)]
pub struct AmqpSession {
    dir: [Dir; 2],
    head: [Option<(u64, u32)>; 2],
    resync: [bool; 2],
    vhost: InlineBytes<64>,
    /// (requesting direction, channel) of the synchronous requests in flight.
    waiting: [Option<(u8, u16)>; WAITING],
}

fn key(d: usize, channel: u16) -> u32 {
    ((d as u32) << 16) | u32::from(channel)
}

fn method_of(payload: &[u8]) -> Option<(u16, u16)> {
    let p = payload.get(..4)?;
    Some((
        u16::from_be_bytes([p[0], p[1]]),
        u16::from_be_bytes([p[2], p[3]]),
    ))
}

/// `b` starts with a frame (whole and well ended, or cut by the end of `b`).
fn starts_frame(b: &[u8], from_client_side: bool) -> bool {
    if is_protocol_header(b) {
        return true;
    }
    let Some(f) = Frame::read(b) else {
        return false;
    };
    if b.len() >= f.total_len() && b[f.total_len() - 1] != FRAME_END {
        return false;
    }
    if f.kind != FRAME_METHOD {
        return true;
    }
    method_of(&b[HEAD_LEN..]).is_some_and(|(c, m)| {
        names(c, m).is_some() && from_client(c, m).is_none_or(|fc| fc == from_client_side)
    })
}

fn write_resource(row: &mut L7FlowLog, a: &Args<'_>) {
    let dst = &mut row.request_resource;
    if !a.routing_key.is_empty() || !a.exchange.is_empty() && a.queue.is_empty() {
        if !a.exchange.is_empty() {
            dst.push_lossy(a.exchange);
            if !a.routing_key.is_empty() {
                dst.push_lossy(b".");
            }
        }
        dst.push_lossy(a.routing_key);
    }
    if dst.is_empty() {
        dst.push_lossy(a.queue);
    }
    let r = row.request_resource;
    row.endpoint.push_lossy(r.as_bytes());
}

fn set_reply(row: &mut L7FlowLog, code: u16, text: &[u8]) {
    row.response_code = Some(i32::from(code));
    row.response_status = match reply_class(code) {
        None => ResponseStatus::Ok,
        Some(true) => ResponseStatus::ClientError,
        Some(false) => ResponseStatus::ServerError,
    }
    .code();
    if code != 200 {
        row.response_exception.push_lossy(text);
    }
}

impl L7Parser for AmqpSession {
    const DESC: Descriptor = Descriptor {
        enabled_by_default: false,
        counters: &["l7.amqp.content_frames", "l7.amqp.protocol_headers"],
        ..Descriptor::tcp(102, "AMQP")
    };
    type Config = ();

    fn probe(payload: &[u8], _: Transport) -> Probe {
        if is_protocol_header(payload) {
            return Probe::Certain;
        }
        if payload.len() < 8 && b"AMQP".starts_with(&payload[..payload.len().min(4)]) {
            return Probe::Unsure;
        }
        let Some(f) = Frame::read(payload).filter(|f| f.kind == FRAME_METHOD) else {
            return Probe::NotForUs;
        };
        let known = method_of(&payload[HEAD_LEN..]).is_some_and(|(c, m)| names(c, m).is_some());
        match payload.get(f.total_len() - 1) {
            Some(&FRAME_END) if known => Probe::Certain,
            None if known => Probe::Unsure,
            _ => Probe::NotForUs,
        }
    }

    fn sent_by_client(payload: &[u8], _: Transport) -> Option<bool> {
        if is_protocol_header(payload) {
            return Some(true);
        }
        let f = Frame::read(payload).filter(|f| f.kind == FRAME_METHOD)?;
        let (c, m) = method_of(&payload[HEAD_LEN..])?;
        let _ = f;
        from_client(c, m)
    }

    fn on_data(&mut self, _: &(), seg: Segment<'_>, x: &mut Exchange<'_>) -> usize {
        let d = seg.dir();
        let data = seg.data;
        if self.resync[d] {
            if !starts_frame(data, seg.from_client) {
                return data.len();
            }
            self.resync[d] = false;
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
            if rest.len() < 8
                && rest.starts_with(&b"AMQP"[..rest.len().min(4)])
                && rest.len() < seg.hold
            {
                return at;
            }
            if is_protocol_header(rest) {
                x.count(COUNTER_PROTOCOL_HEADERS);
                at += 8;
                continue;
            }
            let Some(f) = Frame::read(rest) else {
                if rest.len() < HEAD_LEN && rest.len() < seg.hold {
                    self.head[d].get_or_insert((x.now_ns(), x.tcp_seq()));
                    return at;
                }
                x.parse_error();
                self.resync[d] = true;
                self.head[d] = None;
                return data.len();
            };
            let total = f.total_len();
            if f.kind != FRAME_METHOD {
                if matches!(f.kind, super::wire::FRAME_HEADER | super::wire::FRAME_BODY) {
                    x.count(COUNTER_CONTENT);
                }
                self.dir[d] = Dir::Skip(Skip(total as u64));
                continue;
            }
            if rest.len() < total.min(seg.hold) {
                self.head[d].get_or_insert((x.now_ns(), x.tcp_seq()));
                return at;
            }
            let msg = &rest[..total.min(rest.len())];
            if msg.len() == total && msg[total - 1] != FRAME_END {
                x.parse_error();
                self.resync[d] = true;
                self.head[d] = None;
                return data.len();
            }
            let (ts, seq) = self.head[d].take().unwrap_or((x.now_ns(), x.tcp_seq()));
            let payload = &msg[HEAD_LEN..msg.len().min(total - 1)];
            if self.method(f, payload, d, ts, seq, x).is_none() {
                x.parse_error();
            }
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

impl AmqpSession {
    fn take_waiting(&mut self, d: usize, channel: u16) -> bool {
        let want = Some((d as u8, channel));
        match self.waiting.iter_mut().find(|w| **w == want) {
            Some(w) => {
                *w = None;
                true
            }
            None => false,
        }
    }

    fn wait(&mut self, d: usize, channel: u16) {
        let v = Some((d as u8, channel));
        if self.waiting.contains(&v) {
            return;
        }
        match self.waiting.iter_mut().find(|w| w.is_none()) {
            Some(w) => *w = v,
            None => {
                self.waiting.rotate_left(1);
                self.waiting[WAITING - 1] = v;
            }
        }
    }

    /// One method frame (`payload` = class, method and arguments, as captured) from `d`.
    fn method(
        &mut self,
        f: Frame,
        payload: &[u8],
        d: usize,
        ts: u64,
        seq: u32,
        x: &mut Exchange<'_>,
    ) -> Option<()> {
        let (class, method) = method_of(payload)?;
        let (cname, mname) = names(class, method)?;
        let a = args(class, method, &payload[4..]);
        if (class, method) == (10, 40) {
            self.vhost = InlineBytes::EMPTY;
            self.vhost.push_lossy(a.vhost);
        }
        let vhost = self.vhost;
        let size = i64::from(f.size);
        let captured = (payload.len() + HEAD_LEN + 1) as u32;
        let base = |row: &mut L7FlowLog| {
            if row.request_type.is_empty() {
                row.request_type.push_lossy(cname.as_bytes());
                row.request_type.push_lossy(b".");
                row.request_type.push_lossy(mname.as_bytes());
            }
            if row.request_domain.is_empty() {
                row.request_domain.push_lossy(vhost.as_bytes());
            }
        };
        let is_close = matches!((class, method), (10, 50) | (20, 40));
        if is_close && a.reply_code.is_some_and(|c| c != 200) && self.take_waiting(d ^ 1, f.channel)
        {
            // The peer's pending request on this channel failed.
            let code = a.reply_code.unwrap_or(0);
            x.response_at(
                ts,
                seq,
                Pairing::Key(key(d ^ 1, f.channel)),
                captured,
                |row| {
                    base(row);
                    row.response_length = size;
                    set_reply(row, code, a.reply_text);
                },
            );
        }
        match role(class, method) {
            Role::Request if !a.no_wait => {
                self.wait(d, f.channel);
                x.request_at(ts, seq, Some(key(d, f.channel)), captured, |row| {
                    base(row);
                    row.request_length = size;
                    write_resource(row, &a);
                    if let Some(code) = a.reply_code {
                        set_reply(row, code, a.reply_text);
                    }
                });
            }
            Role::Request | Role::Async => {
                x.one_way(captured, |row| {
                    base(row);
                    row.request_length = size;
                    write_resource(row, &a);
                    if let Some(code) = a.reply_code {
                        set_reply(row, code, a.reply_text);
                    }
                });
            }
            Role::Reply => {
                self.take_waiting(d ^ 1, f.channel);
                x.response_at(
                    ts,
                    seq,
                    Pairing::Key(key(d ^ 1, f.channel)),
                    captured,
                    |row| {
                        base(row);
                        row.response_length = size;
                        if row.response_code.is_none() {
                            row.response_status = ResponseStatus::Ok.code();
                        }
                        if row.request_resource.is_empty() {
                            // A server-named queue (Queue.DeclareOk), a Basic.GetOk's message.
                            write_resource(row, &a);
                        }
                    },
                );
            }
        }
        Some(())
    }
}
