//! One MQTT connection. Each exchange is one row: CONNECT -> CONNACK, SUBSCRIBE -> SUBACK,
//! UNSUBSCRIBE -> UNSUBACK, PINGREQ -> PINGRESP, a QoS 1 PUBLISH -> PUBACK and a QoS 2 PUBLISH ->
//! PUBCOMP (PUBREC and PUBREL are steps of that row, counted in `l7.mqtt.qos2_steps`; a PUBREC
//! with an error reason ends it). PUBLISH goes both ways (a broker delivers to subscribers), so
//! packet ids are paired per sender. QoS 0 PUBLISH and DISCONNECT get no answer: they are
//! request rows written at once.
//!
//! Row fields (`deepflow-facts.md` section 4.5): request_type = the packet type (`PUBLISH`),
//! request_domain = the client id (from the CONNECT), request_resource = the topic (SUBSCRIBE /
//! UNSUBSCRIBE: the filters, comma-separated), endpoint = the topic (the first filter), version =
//! the protocol level (3 = 3.1, 4 = 3.1.1, 5 = 5.0), request_length = the request's remaining
//! length. CONNACK return codes 1, 2, 4, 5 are client errors and 3 a server error (DeepFlow); in
//! MQTT 5.0 every reason code from 0x80 on is an error, a server error for the server's own
//! conditions (unspecified, implementation specific, unavailable, busy, shutting down, quota,
//! use another server, moved) and a client error otherwise, with the reason's name as
//! response_exception; SUBACK failures (0x80 in 3.1.1) likewise.
//!
//! A packet longer than the stream holds is read as far as it was captured and the rest skipped
//! by its length; after a gap a direction waits for a segment that starts with a plausible packet.

use std::fmt::Write;

use super::super::exchange::{Exchange, Pairing};
use super::super::framing::Skip;
use super::super::parser::{Descriptor, L7Parser, Segment, Transport};
use super::super::{Probe, ResponseStatus};
use super::wire::{
    connect, printable, type_name, FixedHeader, Head, Reader, AUTH, CONNACK, CONNECT, DISCONNECT,
    PINGREQ, PINGRESP, PUBACK, PUBCOMP, PUBLISH, PUBREC, PUBREL, SUBACK, SUBSCRIBE, UNSUBACK,
    UNSUBSCRIBE, V5,
};
use crate::inline::InlineBytes;
use crate::record::L7FlowLog;

const COUNTER_QOS2_STEPS: usize = 0;
const COUNTER_AUTH: usize = 1;
/// Pairing keys of the exchanges without a packet id.
const KEY_CONNECT: u32 = 0x2_0000;
const KEY_PING: u32 = 0x3_0000;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Dir {
    #[default]
    Message,
    Skip(Skip),
}

/// MQTT state of one connection.
#[derive(Debug, Clone, Copy, Default)]
pub struct MqttSession {
    dir: [Dir; 2],
    head: [Option<(u64, u32)>; 2],
    resync: [bool; 2],
    /// Protocol level from the CONNECT (0: not seen, read as 3.1.1).
    level: u8,
    client_id: InlineBytes<64>,
}

/// The pairing key of packet id `id` sent by direction `d` (ids are per sender).
fn key(d: usize, id: u16) -> u32 {
    ((d as u32) << 16) | u32::from(id)
}

/// `b` starts with a packet that a `from_client` sender may send, and the packet is followed by
/// the end of `b` or by another packet head.
fn starts_packet(b: &[u8], from_client: bool) -> bool {
    let Head::Ok(h) = FixedHeader::read(b) else {
        return false;
    };
    if h.from_client().is_some_and(|c| c != from_client) {
        return false;
    }
    match b.get(h.total_len()..) {
        None | Some([]) => true,
        Some(next) => !matches!(FixedHeader::read(next), Head::Invalid),
    }
}

/// A 3.1/3.1.1 CONNACK return code's meaning and class (true: client error).
fn connack_v3(code: u8) -> (&'static str, bool) {
    match code {
        1 => ("unacceptable protocol version", true),
        2 => ("identifier rejected", true),
        3 => ("server unavailable", false),
        4 => ("bad user name or password", true),
        5 => ("not authorized", true),
        _ => ("reserved", false),
    }
}

/// An MQTT 5.0 reason code from 0x80 on: its name and class (true: client error).
fn reason_v5(code: u8) -> (&'static str, bool) {
    match code {
        0x80 => ("Unspecified error", false),
        0x81 => ("Malformed Packet", true),
        0x82 => ("Protocol Error", true),
        0x83 => ("Implementation specific error", false),
        0x84 => ("Unsupported Protocol Version", true),
        0x85 => ("Client Identifier not valid", true),
        0x86 => ("Bad User Name or Password", true),
        0x87 => ("Not authorized", true),
        0x88 => ("Server unavailable", false),
        0x89 => ("Server busy", false),
        0x8a => ("Banned", true),
        0x8b => ("Server shutting down", false),
        0x8c => ("Bad authentication method", true),
        0x8d => ("Keep Alive timeout", true),
        0x8e => ("Session taken over", true),
        0x8f => ("Topic Filter invalid", true),
        0x90 => ("Topic Name invalid", true),
        0x91 => ("Packet Identifier in use", true),
        0x92 => ("Packet Identifier not found", true),
        0x93 => ("Receive Maximum exceeded", true),
        0x94 => ("Topic Alias invalid", true),
        0x95 => ("Packet too large", true),
        0x96 => ("Message rate too high", true),
        0x97 => ("Quota exceeded", false),
        0x98 => ("Administrative action", true),
        0x99 => ("Payload format invalid", true),
        0x9a => ("Retain not supported", true),
        0x9b => ("QoS not supported", true),
        0x9c => ("Use another server", false),
        0x9d => ("Server moved", false),
        0x9e => ("Shared Subscriptions not supported", true),
        0x9f => ("Connection rate exceeded", true),
        0xa0 => ("Maximum connect time", true),
        0xa1 => ("Subscription Identifiers not supported", true),
        0xa2 => ("Wildcard Subscriptions not supported", true),
        _ => ("Unknown reason", false),
    }
}

/// Sets response_code and, for an error, the status and exception.
fn set_code(row: &mut L7FlowLog, code: u8, error: Option<(&str, bool)>) {
    row.response_code = Some(i32::from(code));
    if let Some((name, client)) = error {
        row.response_status = if client {
            ResponseStatus::ClientError
        } else {
            ResponseStatus::ServerError
        }
        .code();
        row.response_exception.push_lossy(name.as_bytes());
    }
}

impl L7Parser for MqttSession {
    const DESC: Descriptor = Descriptor {
        enabled_by_default: false,
        counters: &["l7.mqtt.qos2_steps", "l7.mqtt.auth"],
        ..Descriptor::tcp(101, "MQTT")
    };
    type Config = ();

    fn probe(payload: &[u8], _: Transport) -> Probe {
        let h = match FixedHeader::read(payload) {
            Head::Ok(h) => h,
            Head::Short if payload.first() == Some(&0x10) => return Probe::Unsure,
            _ => return Probe::NotForUs,
        };
        let body = &payload[h.header_len..];
        if h.kind == CONNECT {
            // A CONNECT cut by the segment: its protocol name so far must be MQTT's.
            let cut = body.len() < h.remaining as usize;
            let name_so_far = [&b"\x00\x04MQTT"[..], b"\x00\x06MQIsdp"]
                .iter()
                .any(|n| n[..n.len().min(body.len())] == body[..n.len().min(body.len())]);
            return match connect(body) {
                Some(_) => Probe::Certain,
                None if cut && name_so_far => Probe::Unsure,
                None => Probe::NotForUs,
            };
        }
        // Joined mid-connection: a PUBLISH or SUBSCRIBE with a printable topic, in a payload made
        // of whole packets.
        let mut at = 0;
        while at < payload.len() {
            match FixedHeader::read(&payload[at..]) {
                Head::Ok(n) => at += n.total_len(),
                _ => return Probe::NotForUs,
            }
        }
        if at != payload.len() {
            return Probe::NotForUs;
        }
        let mut r = Reader::new(body);
        if h.kind == SUBSCRIBE || h.kind == UNSUBSCRIBE {
            r.u16();
        } else if h.kind != PUBLISH {
            return Probe::NotForUs;
        }
        match r.string() {
            Some(topic) if printable(topic) => Probe::Certain,
            _ => Probe::NotForUs,
        }
    }

    fn sent_by_client(payload: &[u8], _: Transport) -> Option<bool> {
        match FixedHeader::read(payload) {
            Head::Ok(h) => h.from_client(),
            _ => None,
        }
    }

    fn on_data(&mut self, _: &(), seg: Segment<'_>, x: &mut Exchange<'_>) -> usize {
        let d = seg.dir();
        let data = seg.data;
        if self.resync[d] {
            if !starts_packet(data, seg.from_client) {
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
            let h = match FixedHeader::read(rest) {
                Head::Ok(h) if h.from_client().is_none_or(|c| c == seg.from_client) => h,
                Head::Short => {
                    self.head[d].get_or_insert((x.now_ns(), x.tcp_seq()));
                    return at;
                }
                _ => {
                    x.parse_error();
                    self.resync[d] = true;
                    self.head[d] = None;
                    return data.len();
                }
            };
            let total = h.total_len();
            if rest.len() < total.min(seg.hold) {
                self.head[d].get_or_insert((x.now_ns(), x.tcp_seq()));
                return at;
            }
            let msg = &rest[..total.min(rest.len())];
            let (ts, seq) = self.head[d].take().unwrap_or((x.now_ns(), x.tcp_seq()));
            if self
                .packet(h, &msg[h.header_len..], d, ts, seq, x)
                .is_none()
            {
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

impl MqttSession {
    fn v5(&self) -> bool {
        self.level == V5
    }

    fn base(&self, row: &mut L7FlowLog, h: FixedHeader) {
        if row.request_type.is_empty() {
            row.request_type.push_lossy(type_name(h.kind).as_bytes());
        }
        if row.request_domain.is_empty() {
            row.request_domain.push_lossy(self.client_id.as_bytes());
        }
        if row.version.is_empty() {
            let _ = write!(
                row.version,
                "{}",
                if self.level == 0 { 4 } else { self.level }
            );
        }
    }

    /// What every response sets: an answer is ok unless its code says otherwise.
    fn answer(&self, row: &mut L7FlowLog, h: FixedHeader) {
        self.base(row, h);
        row.response_length = i64::from(h.remaining);
        row.response_status = ResponseStatus::Ok.code();
    }

    /// One packet (`body` = after the fixed header, as captured) from direction `d`.
    fn packet(
        &mut self,
        h: FixedHeader,
        body: &[u8],
        d: usize,
        ts: u64,
        seq: u32,
        x: &mut Exchange<'_>,
    ) -> Option<()> {
        let captured = (h.header_len + body.len()) as u32;
        let mut r = Reader::new(body);
        let v5 = self.v5();
        match h.kind {
            CONNECT => {
                let c = connect(body)?;
                self.level = c.level;
                self.client_id = InlineBytes::EMPTY;
                self.client_id.push_lossy(c.client_id);
                let me = *self;
                x.request_at(ts, seq, Some(KEY_CONNECT), captured, |row| {
                    me.base(row, h);
                    row.request_length = i64::from(h.remaining);
                });
            }
            CONNACK => {
                r.u8()?; // acknowledge flags
                let code = r.u8()?;
                let error = match code {
                    0 => None,
                    c if v5 && c >= 0x80 => Some(reason_v5(c)),
                    c if v5 => Some(("Unknown reason", false)).filter(|_| c != 0),
                    c => Some(connack_v3(c)),
                };
                let me = *self;
                x.response_at(ts, seq, Pairing::Key(KEY_CONNECT), captured, |row| {
                    me.answer(row, h);
                    set_code(row, code, error);
                });
            }
            PUBLISH => {
                let topic = r.string()?;
                let qos = h.qos();
                let id = if qos > 0 { Some(r.u16()?) } else { None };
                let me = *self;
                let fill = |row: &mut L7FlowLog| {
                    me.base(row, h);
                    row.request_resource.push_lossy(topic);
                    row.endpoint.push_lossy(topic);
                    row.request_length = i64::from(h.remaining);
                };
                match id {
                    None => x.one_way(captured, fill),
                    Some(id) => {
                        x.request_at(ts, seq, Some(key(d, id)), captured, fill);
                    }
                }
            }
            PUBACK | PUBREC | PUBCOMP => {
                let id = r.u16()?;
                let reason = if v5 && h.remaining > 2 { r.u8() } else { None };
                let error = reason.filter(|c| *c >= 0x80).map(reason_v5);
                if h.kind == PUBREC && error.is_none() {
                    // The QoS 2 exchange goes on: its row ends with the PUBCOMP.
                    x.count(COUNTER_QOS2_STEPS);
                    return Some(());
                }
                let me = *self;
                x.response_at(ts, seq, Pairing::Key(key(d ^ 1, id)), captured, |row| {
                    me.answer(row, h);
                    if let Some(code) = reason {
                        set_code(row, code, error);
                    }
                });
            }
            PUBREL => {
                r.u16()?;
                x.count(COUNTER_QOS2_STEPS);
            }
            SUBSCRIBE | UNSUBSCRIBE => {
                let id = r.u16()?;
                if v5 {
                    r.properties()?;
                }
                let me = *self;
                let sub = h.kind == SUBSCRIBE;
                x.request_at(ts, seq, Some(key(d, id)), captured, |row| {
                    me.base(row, h);
                    row.request_length = i64::from(h.remaining);
                    let mut first = true;
                    while let Some(filter) = r.string() {
                        if sub && r.u8().is_none() {
                            break;
                        }
                        if first {
                            row.endpoint.push_lossy(filter);
                        } else {
                            row.request_resource.push_lossy(b",");
                        }
                        row.request_resource.push_lossy(filter);
                        first = false;
                    }
                });
            }
            SUBACK | UNSUBACK => {
                let id = r.u16()?;
                if v5 {
                    r.properties()?;
                }
                // 3.1.1 UNSUBACK has no codes; SUBACK codes are granted QoS 0-2 or failures.
                let failure = r.rest().iter().copied().find(|c| *c >= 0x80);
                let error = failure.map(|c| if v5 { reason_v5(c) } else { ("Failure", true) });
                let me = *self;
                x.response_at(ts, seq, Pairing::Key(key(d ^ 1, id)), captured, |row| {
                    me.answer(row, h);
                    if let Some(code) = failure {
                        set_code(row, code, error);
                    }
                });
            }
            PINGREQ => {
                let me = *self;
                x.request_at(ts, seq, Some(KEY_PING), captured, |row| {
                    me.base(row, h);
                    row.request_length = 0;
                });
            }
            PINGRESP => {
                let me = *self;
                x.response_at(ts, seq, Pairing::Key(KEY_PING), captured, |row| {
                    me.answer(row, h)
                });
            }
            DISCONNECT => {
                let reason = if v5 { r.u8() } else { None };
                let me = *self;
                x.one_way(captured, |row| {
                    me.base(row, h);
                    row.request_length = i64::from(h.remaining);
                    if let Some(code) = reason.filter(|c| *c >= 0x80) {
                        set_code(row, code, Some(reason_v5(code)));
                    }
                });
            }
            AUTH => x.count(COUNTER_AUTH),
            _ => return None,
        }
        Some(())
    }
}
