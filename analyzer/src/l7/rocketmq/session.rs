//! One RocketMQ connection (a client's to a name server or a broker). As DeepFlow writes it: a
//! request is paired with its response by `opaque`; a one-way request (`UPDATE_CONSUMER_OFFSET`
//! sent one-way, `NOTIFY_CONSUMER_IDS_CHANGED`) is a row of its own (`type` 2). A request the
//! broker sends the client (a transaction check, `GET_CONSUMER_RUNNING_INFO`) and the client's
//! answer are rows of their own too, on the broker's and the client's side.
//!
//! Row fields (DeepFlow's `RocketmqInfo`): request_type = the request code's name
//! (`SEND_MESSAGE_V2`, `PULL_MESSAGE`; the number for a code without one), request_domain = the
//! producer group of a send, the consumer group otherwise, request_resource = the topic,
//! endpoint = `topic-queueId`, version = the client's `MQVersion` (`V4_9_4`), request_id =
//! `opaque`, response_code = the response code, response_status by DeepFlow's reading of the
//! codes (`PULL_NOT_FOUND` is ok, `TOPIC_NOT_EXIST` a client error, `SYSTEM_BUSY` a server
//! error), response_exception = the remark of an error, trace and span ids from the message
//! properties a send carries and the first pulled message carries, x_request_id_0 / _1 = their
//! `UNIQ_KEY` (the client's message id), request_length / response_length = the frame's length.

use std::fmt::Write;

use super::super::exchange::{Exchange, Pairing};
use super::super::framing::{Framed, Sized};
use super::super::parser::{Descriptor, L7Parser, Segment, Transport};
use super::super::{tags, Probe, ResponseStatus};
use super::json::unescape;
use super::names::{request_code, response_status, version};
use super::wire::{frame, header, property, pulled_properties, Header, FRAME_HEAD, MAX_FRAME};
use crate::record::L7FlowLog;

/// The frame head and the first header byte (a JSON header's brace).
const FRAME_CHECKED: usize = FRAME_HEAD + 1;
/// Most bytes of a JSON header's message properties unescaped for reading.
const PROPERTIES_MAX: usize = 1024;
/// The client's message id among the properties.
const UNIQ_KEY: &[u8] = b"UNIQ_KEY";
/// Request codes of sends: their domain is the producer group.
const SENDS: [i32; 3] = [10, 310, 320];

/// RocketMQ state of one connection.
#[derive(Debug, Clone, Copy, Default)]
pub struct RocketMqSession {
    framed: [Framed; 2],
}

impl L7Parser for RocketMqSession {
    const DESC: Descriptor = Descriptor {
        enabled_by_default: false,
        ..Descriptor::tcp(107, "RocketMQ")
    };
    type Config = ();

    /// A frame whose header reads (code and opaque); a header cut by the segment is unsure.
    fn probe(payload: &[u8], _: Transport) -> Probe {
        if payload.len() < FRAME_CHECKED {
            return if short_head_fits(payload) {
                Probe::Unsure
            } else {
                Probe::NotForUs
            };
        }
        let Some((_, len, json)) = frame(payload) else {
            return Probe::NotForUs;
        };
        match payload.get(FRAME_HEAD..FRAME_HEAD + len as usize) {
            Some(h) if header(h, json).is_some() => Probe::Certain,
            Some(_) => Probe::NotForUs,
            None => Probe::Unsure,
        }
    }

    fn sent_by_client(payload: &[u8], _: Transport) -> Option<bool> {
        let (_, len, json) = frame(payload)?;
        let h = header(payload.get(FRAME_HEAD..FRAME_HEAD + len as usize)?, json)?;
        Some(!h.is_response())
    }

    fn on_data(&mut self, _: &(), seg: Segment<'_>, x: &mut Exchange<'_>) -> usize {
        let d = seg.dir();
        let mut framed = self.framed[d];
        let read = |b: &[u8]| {
            frame(b).map(|(length, _, _)| Sized {
                header: (),
                wanted: 4 + length as usize,
                total: 4 + length as usize,
            })
        };
        let used = framed.walk(
            seg.data,
            seg.hold,
            FRAME_CHECKED,
            x,
            read,
            |_| true,
            |_, msg, at, x| command(msg, at, seg.from_client, x),
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
    let length_fits = b.len() < 4 || (4..=MAX_FRAME).contains(&be(0));
    let serialization_fits = b.len() < 5 || b[4] <= 1;
    let header_fits = b.len() < 8 || {
        let header = be(4) & 0x00ff_ffff;
        header >= 2 && header <= be(0).saturating_sub(4)
    };
    length_fits && serialization_fits && header_fits
}

/// One frame (`msg` as captured, length prefix included).
fn command(msg: &[u8], at: (u64, u32), from_client: bool, x: &mut Exchange) {
    let Some((length, len, json)) = frame(msg) else {
        x.parse_error();
        return;
    };
    let head_end = (FRAME_HEAD + len as usize).min(msg.len());
    let Some(h) = header(&msg[FRAME_HEAD..head_end], json) else {
        x.parse_error();
        return;
    };
    let body = msg.get(FRAME_HEAD + len as usize..).unwrap_or_default();
    // Filled (and zeroed) only for a JSON header that carries properties: most frames do not.
    let mut buf: [u8; PROPERTIES_MAX];
    let properties: &[u8] = match (h.is_response(), h.json) {
        // A pulled message's properties (store format, not escaped).
        (true, _) if h.code == 0 => pulled_properties(body).unwrap_or_default(),
        (true, _) => &[],
        (false, true) if h.properties.is_empty() => &[],
        (false, true) => {
            buf = [0u8; PROPERTIES_MAX];
            let n = unescape(h.properties, &mut buf);
            &buf[..n]
        }
        (false, false) => h.properties,
    };
    let size = i64::from(length);
    let captured = msg.len() as u32;
    let tags = &x.settings().tags;
    let traced = |row: &mut L7FlowLog, is_request: bool| {
        if properties.is_empty() {
            return;
        }
        tags::extract(
            tags,
            is_request,
            |k| property(properties, k.as_bytes()),
            row,
        );
        if let Some(id) = property(properties, UNIQ_KEY) {
            let dst = if is_request {
                &mut row.x_request_id_0
            } else {
                &mut row.x_request_id_1
            };
            dst.clear();
            dst.push_lossy(id);
        }
    };
    let request_fill = |row: &mut L7FlowLog| {
        fill_request(&h, row);
        traced(row, true);
        row.request_length = size;
    };
    match (h.is_response(), from_client) {
        (false, true) if !h.is_oneway() => {
            x.request_at(at.0, at.1, Some(h.opaque as u32), captured, request_fill);
        }
        (false, _) => x.lone(at, from_client, captured, |row| {
            fill_request(&h, row);
            traced(row, from_client);
            if from_client {
                row.request_length = size;
            } else {
                row.response_length = size;
            }
        }),
        (true, false) => {
            x.response_at(at.0, at.1, Pairing::Key(h.opaque as u32), captured, |row| {
                fill_response(&h, row);
                traced(row, false);
                row.response_length = size;
            })
        }
        // The client's answer to the broker's request.
        (true, true) => x.lone(at, true, captured, |row| {
            fill_response(&h, row);
            row.request_id = Some(h.opaque as u32);
            row.request_length = size;
        }),
    }
}

fn fill_request(h: &Header, row: &mut L7FlowLog) {
    match request_code(h.code) {
        Some(name) => row.request_type.push_lossy(name.as_bytes()),
        None => {
            let _ = write!(row.request_type, "{}", h.code);
        }
    }
    let group = if SENDS.contains(&h.code) {
        h.producer_group
    } else {
        h.consumer_group
    };
    row.request_domain.push_lossy(group);
    row.request_resource.push_lossy(h.topic);
    if let (false, Some(q)) = (h.topic.is_empty(), h.queue_id) {
        row.endpoint.push_lossy(h.topic);
        let _ = write!(row.endpoint, "-{q}");
    }
    if let Some(v) = h.version {
        row.version.clear();
        if !version(v, &mut row.version) {
            row.version.clear();
        }
    }
    row.request_id = Some(h.opaque as u32);
}

fn fill_response(h: &Header, row: &mut L7FlowLog) {
    let status = response_status(h.code);
    row.response_code = Some(h.code);
    row.response_status = status.code();
    if status != ResponseStatus::Ok && !h.remark.is_empty() {
        row.response_exception.clear();
        if h.json {
            let mut buf = [0u8; 64];
            let n = unescape(h.remark, &mut buf);
            row.response_exception.push_lossy(&buf[..n]);
        } else {
            row.response_exception.push_lossy(h.remark);
        }
    }
    if row.version.is_empty() {
        if let Some(v) = h.version {
            if !version(v, &mut row.version) {
                row.version.clear();
            }
        }
    }
}
