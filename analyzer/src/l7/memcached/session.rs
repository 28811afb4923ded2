//! One memcached connection. Text requests pair with replies in order; binary ones by opaque.
//!
//! Row fields (`deepflow-facts.md` section 4.5, DeepFlow's memcached parser): request_type = the
//! command (`set`, `get`; binary: the opcode name, `Get`, `SetQ`), request_resource = the request
//! line (`set foo 0 0 3`, `get a b c`; binary: the key), response_result = the reply's first line
//! (`STORED`, `VALUE foo 0 3`, `END`), response_status: `ERROR` and `CLIENT_ERROR` are client
//! errors, `SERVER_ERROR` server errors (message in response_exception); binary: response_code =
//! the status, classed by `binary::status_class`. A miss (`END`, `NOT_FOUND`, status 1) is an
//! answer, not an error.
//!
//! Requests the server does not answer are written at once as request rows (not timeouts):
//! `noreply`, `quit`, and binary quiet opcodes (`l7.memcached.noreply`); replies to quiet gets are
//! counted (`l7.memcached.quiet_replies`), not written. `captured_request_byte` /
//! `captured_response_byte` are the segment's bytes from the message on (DeepFlow's req_size /
//! res_size). Data blocks and values are skipped by
//! their length as they stream by. After a gap the direction waits for a segment that starts a
//! message. Only TCP is followed: memcached's UDP port is off by default since 1.5.6.

use std::fmt::Write;

use super::super::exchange::{Exchange, Pairing};
use super::super::framing::{line, Skip};
use super::super::parser::{Descriptor, L7Parser, Segment, Transport};
use super::super::{Probe, ResponseStatus};
use super::binary::{
    is_quiet, opcode_name, status_class, Header, HEADER_LEN, MAGIC_REQUEST, MAGIC_RESPONSE,
};
use super::text::{
    parse_reply, parse_request, request_prefix, ReplyKind, ReplyStatus, RequestKind,
};
use crate::record::L7FlowLog;

const COUNTER_NOREPLY: usize = 0;
const COUNTER_QUIET_REPLIES: usize = 1;
/// The binary Stat opcode: its reply is a series of responses with one opaque.
const OPCODE_STAT: u8 = 0x10;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Dir {
    /// At a message start.
    #[default]
    Message,
    /// Inside a data block or a binary body: bytes left.
    Skip(Skip),
}

/// memcached state of one connection.
#[derive(Debug, Clone, Copy, Default)]
pub struct MemcachedSession {
    dir: [Dir; 2],
    /// Inside a text reply list (VALUE / STAT lines until END).
    in_list: bool,
    /// The opaque of the binary Stat series being answered.
    stat_opaque: Option<u32>,
    /// Bytes of this direction were lost: wait for a segment that starts a message.
    resync: [bool; 2],
}

fn starts_message(b: &[u8], from_client: bool) -> bool {
    let magic = if from_client {
        MAGIC_REQUEST
    } else {
        MAGIC_RESPONSE
    };
    if b.first() == Some(&magic) {
        return Header::parse(b).is_some();
    }
    line(b).is_some_and(|(text, _)| {
        if from_client {
            parse_request(text).is_some()
        } else {
            parse_reply(text).is_some()
        }
    })
}

impl L7Parser for MemcachedSession {
    const DESC: Descriptor = Descriptor {
        default_ports: &[11211],
        enabled_by_default: false,
        counters: &["l7.memcached.noreply", "l7.memcached.quiet_replies"],
        ..Descriptor::tcp(82, "Memcached")
    };
    type Config = ();

    fn probe(payload: &[u8], _: Transport) -> Probe {
        match payload.first() {
            Some(&MAGIC_REQUEST) if payload.len() < HEADER_LEN => Probe::Unsure,
            Some(&MAGIC_REQUEST) => match Header::parse(payload) {
                Some(h) if opcode_name(h.opcode).is_some() => Probe::Certain,
                _ => Probe::NotForUs,
            },
            _ => match line(payload) {
                Some((text, _)) if parse_request(text).is_some() => Probe::Certain,
                // A request line cut by the segment boundary.
                None if request_prefix(payload) => Probe::Unsure,
                _ => Probe::NotForUs,
            },
        }
    }

    fn sent_by_client(payload: &[u8], _: Transport) -> Option<bool> {
        match *payload.first()? {
            MAGIC_REQUEST => Some(true),
            MAGIC_RESPONSE => Some(false),
            _ => {
                let (text, _) = line(payload)?;
                if parse_request(text).is_some() {
                    Some(true)
                } else {
                    parse_reply(text).map(|_| false)
                }
            }
        }
    }

    fn on_data(&mut self, _: &(), seg: Segment<'_>, x: &mut Exchange<'_>) -> usize {
        let d = seg.dir();
        let data = seg.data;
        if self.resync[d] {
            if !starts_message(data, seg.from_client) {
                return data.len();
            }
            self.resync[d] = false;
        }
        let mut at = 0;
        while at < data.len() {
            let rest = &data[at..];
            match self.dir[d] {
                Dir::Skip(mut skip) => {
                    at += skip.take(rest.len());
                    self.dir[d] = if skip.is_done() {
                        Dir::Message
                    } else {
                        Dir::Skip(skip)
                    };
                }
                Dir::Message => {
                    let used = if matches!(rest[0], MAGIC_REQUEST | MAGIC_RESPONSE) {
                        self.binary(rest, seg, x)
                    } else {
                        self.text(rest, seg, x)
                    };
                    match used {
                        Some(0) => return at,
                        Some(n) => at += n,
                        None => {
                            x.parse_error();
                            self.in_list = false;
                            self.dir[d] = Dir::Message;
                            self.resync[d] = true;
                            return data.len();
                        }
                    }
                }
            }
        }
        at
    }

    fn on_gap(&mut self, dir: usize, _: &mut Exchange<'_>) {
        self.dir[dir] = Dir::Message;
        if dir == 1 {
            self.in_list = false;
        }
        self.resync[dir] = true;
    }
}

impl MemcachedSession {
    /// A text line at the start of `rest`: Some(bytes consumed), Some(0) for a line not complete
    /// yet, None for one that is not memcached.
    fn text(&mut self, rest: &[u8], seg: Segment<'_>, x: &mut Exchange<'_>) -> Option<usize> {
        let d = seg.dir();
        let Some((text, used)) = line(rest) else {
            // A line longer than can be held is not one of memcached's.
            return (rest.len() < seg.hold).then_some(0);
        };
        if seg.from_client {
            let r = parse_request(text)?;
            let fill = |row: &mut L7FlowLog| {
                row.request_type.push_lossy(r.command);
                row.request_resource.push_lossy(text);
            };
            // DeepFlow's req_size / res_size: the segment's bytes from the message on.
            let captured = rest.len() as u32;
            if r.noreply || r.kind == RequestKind::Quit {
                x.count(COUNTER_NOREPLY);
                x.one_way(captured, fill);
            } else {
                x.request(None, captured, fill);
            }
            if let RequestKind::Storage(n) = r.kind {
                self.dir[d] = Dir::Skip(Skip(n + 2));
            }
            return Some(used);
        }
        let r = parse_reply(text)?;
        if self.in_list {
            // The rest of a VALUE / STAT list: no row of its own.
            match r.kind {
                ReplyKind::End => self.in_list = false,
                ReplyKind::List => {}
                ReplyKind::Single => return None,
            }
        } else {
            x.response(Pairing::Oldest, rest.len() as u32, |row| {
                row.response_result.push_lossy(text);
                let status = match r.status {
                    ReplyStatus::Ok => ResponseStatus::Ok,
                    ReplyStatus::ClientError => ResponseStatus::ClientError,
                    ReplyStatus::ServerError => ResponseStatus::ServerError,
                };
                row.response_status = status.code();
                if status != ResponseStatus::Ok {
                    let msg = if r.message.is_empty() {
                        text
                    } else {
                        r.message
                    };
                    row.response_exception.push_lossy(msg);
                }
            });
            self.in_list = r.kind == ReplyKind::List;
        }
        if let Some(n) = r.data {
            self.dir[d] = Dir::Skip(Skip(n + 2));
        }
        Some(used)
    }

    /// A binary message at the start of `rest` (same contract as [`Self::text`]).
    fn binary(&mut self, rest: &[u8], seg: Segment<'_>, x: &mut Exchange<'_>) -> Option<usize> {
        let d = seg.dir();
        let Some(h) = Header::parse(rest) else {
            return (rest.len() < HEADER_LEN).then_some(0);
        };
        if (h.magic == MAGIC_REQUEST) != seg.from_client {
            return None;
        }
        let head = HEADER_LEN + usize::from(h.extras_len) + usize::from(h.key_len);
        if rest.len() < head && head <= seg.hold {
            return Some(0);
        }
        let in_segment = (h.total_len()).min(rest.len() as u64);
        let captured = in_segment as u32;
        let key = h.key(rest);
        let name = |row: &mut L7FlowLog| match opcode_name(h.opcode) {
            Some(n) => row.request_type.push_lossy(n.as_bytes()),
            None => {
                let _ = write!(row.request_type, "0x{:02x}", h.opcode);
            }
        };
        if seg.from_client {
            let fill = |row: &mut L7FlowLog| {
                name(row);
                row.request_resource.push_lossy(key);
            };
            if is_quiet(h.opcode) {
                x.count(COUNTER_NOREPLY);
                x.one_way(captured, fill);
            } else {
                x.request(Some(h.opaque), captured, fill);
            }
        } else if is_quiet(h.opcode) {
            x.count(COUNTER_QUIET_REPLIES);
        } else if h.opcode == OPCODE_STAT && self.stat_opaque == Some(h.opaque) {
            // The rest of a Stat series: the first response answered the request.
        } else {
            self.stat_opaque = (h.opcode == OPCODE_STAT).then_some(h.opaque);
            x.response(Pairing::Key(h.opaque), captured, |row| {
                let (text, class) = status_class(h.status);
                row.response_code = Some(i32::from(h.status));
                row.response_status = match class {
                    None => ResponseStatus::Ok,
                    Some(true) => ResponseStatus::ClientError,
                    Some(false) => ResponseStatus::ServerError,
                }
                .code();
                if class.is_some() {
                    row.response_exception.push_lossy(text.as_bytes());
                }
                if row.request_type.is_empty() {
                    name(row);
                }
            });
        }
        if in_segment < h.total_len() {
            self.dir[d] = Dir::Skip(Skip(h.total_len() - in_segment));
        }
        Some(in_segment as usize)
    }
}
