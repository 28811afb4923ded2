//! One Pulsar connection (a client's connection to a broker or proxy, which carries all of its
//! producers and consumers on that broker). As DeepFlow writes it, every command is a row:
//!
//! - a request (`CONNECT`, `PRODUCER`, `SUBSCRIBE`, `LOOKUP`, `SEND`, `CLOSE_PRODUCER`, ...) is
//!   paired with its response by request id (`SUCCESS`, `ERROR`, `PRODUCER_SUCCESS`,
//!   `LOOKUP_RESPONSE`, ...), a `SEND` with its `SEND_RECEIPT` or `SEND_ERROR` by producer and
//!   sequence id, `CONNECT` with `CONNECTED` and a client's `PING` with the `PONG`;
//! - `MESSAGE`, `FLOW`, `ACK`, `REDELIVER_UNACKNOWLEDGED_MESSAGES`, ... are rows of their own
//!   (`type` 2), counted by their sender; an `ACK` asking for a receipt (a request id) is paired
//!   with its `ACK_RESPONSE`; a broker's `PING` and the client's `PONG`, `AUTH_CHALLENGE` and
//!   `AUTH_RESPONSE` are rows of their own too.
//!
//! Row fields (DeepFlow's `PulsarInfo`): request_type = the command (`SEND`), request_domain =
//! `CONNECT`'s `proxy_to_broker_url` (a connection through a Pulsar proxy), request_resource =
//! endpoint = the topic's last part (`orders`), named by the command or, for commands naming a
//! producer or consumer id, by the `PRODUCER` or `SUBSCRIBE` that opened it on this connection;
//! version = the lower of `CONNECT`'s and `CONNECTED`'s protocol versions; request_id = the
//! request id (a `SEND`'s: producer id and sequence id, 16 bits each); x_request_id_0 = the
//! message id `ledger:entry:partition:batch` of a `MESSAGE`; trace and span ids from the message
//! properties `tag_extraction.tracing_tag` names. tapflow adds: the `SEND_RECEIPT`'s message id
//! as x_request_id_1 (the id the consumer's `MESSAGE` row carries), and the topic of `LOOKUP`,
//! `PARTITIONED_METADATA` and the schema requests. An `ERROR`, `SEND_ERROR` or failed lookup is
//! a server error: its `ServerError` code as response_code, its message (or the code's name) as
//! response_exception. request_length / response_length = the frame's total size.

use std::fmt::Write;

use super::super::exchange::{Exchange, Pairing};
use super::super::framing::{Framed, Sized};
use super::super::parser::{Descriptor, L7Parser, Segment, Transport};
use super::super::{tags, Probe, ResponseStatus};
use super::wire::{
    command, frame, kinds, message_metadata, property, server_error_name, short_topic, Command,
    Role, FRAME_CHECKED, FRAME_HEAD, MAX_FRAME,
};
use crate::inline::InlineBytes;
use crate::record::L7FlowLog;

const COUNTER_UNKNOWN_ID: usize = 0;

/// Producers and consumers whose topics a connection remembers, each.
pub const REMEMBERED_IDS: usize = 16;

/// Pairing keys: request ids below bit 30, `CONNECT` and a client's `PING` at their own keys,
/// `SEND`s with bit 31 set.
const CONNECT_KEY: u32 = 1 << 30;
const PING_KEY: u32 = CONNECT_KEY + 1;

fn request_key(id: u64) -> u32 {
    (id as u32) & (CONNECT_KEY - 1)
}

/// DeepFlow's session id of a `SEND`: producer id and sequence id, 16 bits each.
fn send_id(producer: u64, sequence: u64) -> u32 {
    ((producer as u32 & 0xffff) << 16) | (sequence as u32 & 0xffff)
}

/// Topics by producer or consumer id, the most recent ones.
#[derive(Debug, Clone, Copy, Default)]
struct Topics {
    slots: [(u64, InlineBytes<64>); REMEMBERED_IDS],
    next: u8,
}

impl Topics {
    fn put(&mut self, id: u64, topic: &[u8]) {
        let i = match self
            .slots
            .iter()
            .position(|(k, t)| *k == id && !t.is_empty())
        {
            Some(i) => i,
            None => {
                let i = usize::from(self.next) % REMEMBERED_IDS;
                self.next = self.next.wrapping_add(1);
                i
            }
        };
        self.slots[i] = (id, InlineBytes::from_slice(short_topic(topic)));
    }

    fn get(&self, id: u64) -> Option<&[u8]> {
        self.slots
            .iter()
            .find(|(k, t)| *k == id && !t.is_empty())
            .map(|(_, t)| t.as_bytes())
    }
}

/// Pulsar state of one connection.
#[derive(Debug, Clone, Copy, Default)]
pub struct PulsarSession {
    framed: [Framed; 2],
    /// `CONNECT`'s `proxy_to_broker_url`.
    domain: InlineBytes<96>,
    /// The lower of the protocol versions `CONNECT` and `CONNECTED` gave (0: neither seen).
    version: u8,
    producers: Topics,
    consumers: Topics,
}

impl L7Parser for PulsarSession {
    const DESC: Descriptor = Descriptor {
        enabled_by_default: false,
        large_state: true,
        counters: &["l7.pulsar.unknown_ids"],
        ..Descriptor::tcp(105, "Pulsar")
    };
    type Config = ();

    /// Any command (a connection may be joined at any point, and both sides send commands): the
    /// sizes fit, the type is known and the command's own field is there; a head cut by the
    /// segment is unsure.
    fn probe(payload: &[u8], _: Transport) -> Probe {
        if payload.len() < FRAME_CHECKED {
            return if short_head_fits(payload) {
                Probe::Unsure
            } else {
                Probe::NotForUs
            };
        }
        let Some((_, cmd)) = frame(payload) else {
            return Probe::NotForUs;
        };
        let end = FRAME_HEAD + cmd as usize;
        match payload.get(FRAME_HEAD..end) {
            Some(c) if command(c).is_some() => Probe::Certain,
            Some(_) => Probe::NotForUs,
            None => Probe::Unsure,
        }
    }

    fn sent_by_client(payload: &[u8], _: Transport) -> Option<bool> {
        let (_, cmd) = frame(payload)?;
        let c = payload.get(FRAME_HEAD..FRAME_HEAD + cmd as usize)?;
        let c = command(c)?;
        match (c.role, c.kind) {
            (_, kinds::PING | kinds::PONG) => None,
            (Role::Request, _) | (_, kinds::ACK) => Some(true),
            (Role::Response, _) | (_, kinds::MESSAGE) => Some(false),
            _ => None,
        }
    }

    fn on_data(&mut self, _: &(), seg: Segment<'_>, x: &mut Exchange<'_>) -> usize {
        let d = seg.dir();
        let mut framed = self.framed[d];
        let read = |b: &[u8]| {
            frame(b).map(|(total, _)| Sized {
                header: (),
                wanted: 4 + total as usize,
                total: 4 + total as usize,
            })
        };
        let used = framed.walk(
            seg.data,
            seg.hold,
            FRAME_CHECKED,
            x,
            read,
            |_| true,
            |_, msg, at, x| self.frame(msg, at, seg.from_client, x),
        );
        self.framed[d] = framed;
        used
    }

    fn on_gap(&mut self, dir: usize, _: &mut Exchange<'_>) {
        self.framed[dir].lost();
    }
}

/// Could `b`, shorter than [`FRAME_CHECKED`], start a frame?
fn short_head_fits(b: &[u8]) -> bool {
    let be = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    let total_fits = b.len() < 4 || (8..=MAX_FRAME).contains(&be(0));
    let cmd_fits = b.len() < 8 || (be(4) >= 4 && be(4) <= be(0).saturating_sub(4));
    let type_key = b.len() < 9 || b[8] == 0x08;
    total_fits && cmd_fits && type_key
}

impl PulsarSession {
    /// One frame (`msg` as captured, size prefix included).
    fn frame(&mut self, msg: &[u8], at: (u64, u32), from_client: bool, x: &mut Exchange) {
        let Some((total, cmd)) = frame(msg) else {
            x.parse_error();
            return;
        };
        let cmd_end = (FRAME_HEAD + cmd as usize).min(msg.len());
        let Some(c) = command(&msg[FRAME_HEAD..cmd_end]) else {
            x.parse_error();
            return;
        };
        self.learn(&c);
        let topic = self.topic(&c, x);
        let after = msg.get(FRAME_HEAD + cmd as usize..).unwrap_or_default();
        let metadata = match c.kind {
            kinds::SEND | kinds::MESSAGE => message_metadata(after),
            _ => None,
        };
        let captured = msg.len() as u32;
        let size = i64::from(total);
        let version = self.version;
        let domain = self.domain;
        let tags = &x.settings().tags;
        let request_fill = |row: &mut L7FlowLog| {
            row.request_type.push_lossy(c.name.as_bytes());
            row.request_domain.push_lossy(domain.as_bytes());
            row.request_resource.push_lossy(topic.as_bytes());
            row.endpoint.push_lossy(topic.as_bytes());
            if version > 0 {
                row.version.clear();
                let _ = write!(row.version, "{version}");
            }
            row.request_id = row_request_id(&c);
            if let Some(m) = metadata {
                tags::extract(tags, from_client, |k| property(m, k), row);
            }
            if let (Some(id), kinds::SEND | kinds::MESSAGE) = (c.message_id, c.kind) {
                row.x_request_id_0.clear();
                let _ = write!(row.x_request_id_0, "{id}");
            }
            if from_client {
                row.request_length = size;
            } else {
                row.response_length = size;
            }
            outcome(&c, row);
        };
        let response_fill = |row: &mut L7FlowLog| {
            row.response_length = size;
            // CONNECTED settles the version (the lower of the two sides').
            if version > 0 {
                row.version.clear();
                let _ = write!(row.version, "{version}");
            }
            if let (Some(id), kinds::SEND_RECEIPT) = (c.message_id, c.kind) {
                row.x_request_id_1.clear();
                let _ = write!(row.x_request_id_1, "{id}");
            }
            if row.request_id.is_none() {
                row.request_id = row_request_id(&c);
            }
            outcome(&c, row);
        };
        match pairing(&c, from_client) {
            Some((Role::Request, key)) => {
                x.request_at(at.0, at.1, Some(key), captured, request_fill);
            }
            Some((_, key)) => x.response_at(at.0, at.1, Pairing::Key(key), captured, response_fill),
            None => x.lone(at, from_client, captured, request_fill),
        }
    }

    /// What a command tells of the connection: its protocol version, the proxy's broker URL,
    /// the topics of producer and consumer ids.
    fn learn(&mut self, c: &Command) {
        if let Some(v) = c.protocol_version {
            let v = v.min(u32::from(u8::MAX)) as u8;
            self.version = if self.version == 0 {
                v
            } else {
                self.version.min(v)
            };
        }
        if !c.proxy_to_broker_url.is_empty() {
            self.domain = InlineBytes::from_slice(c.proxy_to_broker_url);
        }
        if c.topic.is_empty() {
            return;
        }
        match (c.producer_id, c.consumer_id) {
            (Some(p), _) => self.producers.put(p, c.topic),
            (_, Some(k)) => self.consumers.put(k, c.topic),
            _ => {}
        }
    }

    /// The topic a row names: the command's own, or its producer's or consumer's.
    fn topic(&self, c: &Command, x: &mut Exchange) -> InlineBytes<64> {
        if !c.topic.is_empty() {
            return InlineBytes::from_slice(short_topic(c.topic));
        }
        let known = match (c.producer_id, c.consumer_id) {
            (Some(p), _) => self.producers.get(p),
            (_, Some(k)) => self.consumers.get(k),
            _ => return InlineBytes::EMPTY,
        };
        match known {
            Some(t) => InlineBytes::from_slice(t),
            None => {
                x.count(COUNTER_UNKNOWN_ID);
                InlineBytes::EMPTY
            }
        }
    }
}

/// How a command pairs, sent by the client or not: (Request, key) or (Response, key); None for
/// a row of its own.
fn pairing(c: &Command, from_client: bool) -> Option<(Role, u32)> {
    let key = match c.kind {
        kinds::CONNECT | kinds::CONNECTED => CONNECT_KEY,
        kinds::PING | kinds::PONG => PING_KEY,
        kinds::SEND | kinds::SEND_RECEIPT | kinds::SEND_ERROR => {
            0x8000_0000 | send_id(c.producer_id?, c.sequence_id?)
        }
        _ => request_key(c.request_id?),
    };
    let role = match c.kind {
        kinds::ACK => Role::Request,
        kinds::ACK_RESPONSE => Role::Response,
        _ => c.role,
    };
    // Requests come from the client, responses from the server (a broker's PING is a row of
    // its own, as is the client's PONG).
    match (role, from_client) {
        (Role::Request, true) | (Role::Response, false) => Some((role, key)),
        _ => None,
    }
}

/// The row's request id: the command's, or a `SEND`'s producer and sequence id.
fn row_request_id(c: &Command) -> Option<u32> {
    match (c.producer_id, c.sequence_id) {
        (Some(p), Some(s)) => Some(send_id(p, s)),
        _ => c.request_id.map(|id| id as u32),
    }
}

/// The response status a command gives: a server error for an error code or a failed lookup.
fn outcome(c: &Command, row: &mut L7FlowLog) {
    if c.error.is_none() && !c.failed {
        if c.role == Role::Response {
            row.response_status = ResponseStatus::Ok.code();
        }
        return;
    }
    row.response_status = ResponseStatus::ServerError.code();
    if let Some(e) = c.error {
        row.response_code = Some(e as i32);
    }
    row.response_exception.clear();
    if !c.message.is_empty() {
        row.response_exception.push_lossy(c.message);
    } else if let Some(e) = c.error {
        row.response_exception
            .push_lossy(server_error_name(e).as_bytes());
    }
}
