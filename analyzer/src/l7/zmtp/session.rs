//! One ZMTP connection (ZeroMQ 3.x: libzmq, pyzmq, JeroMQ, ...). As DeepFlow does
//! (`deepflow-facts.md` section 4.5), every frame but REQ/REP's empty delimiters is a row:
//! greetings, commands and messages are rows of their own (`type` 2) counted as requests or
//! responses by who sent them, except between REQ and REP sockets, where each message of the
//! requesting side is a request paired in order with the other side's next message.
//!
//! Row fields: request_type = the frame kind (`Greeting`, `Command`, `Message`), request_domain
//! = request_resource = the topic of a SUBSCRIBE or CANCEL command, version = the greeting's
//! (`3.1`; on every row once the greeting was seen), request_length / response_length = the
//! frame's body size on the sender's side; an ERROR command is a client error from the client,
//! a server error from the server, its reason the exception. Socket types come from the
//! READY (or INITIATE) properties; CURVE encrypts them, so a CURVE connection's messages are
//! rows of their own.
//!
//! A frame is read through `Framed`: a command is waited for while the stream holds it, a
//! message's body is skipped as it streams by; after lost bytes a direction waits for a segment
//! that starts a greeting or a frame.

use std::fmt::Write;

use super::super::exchange::{Exchange, Pairing};
use super::super::framing::{Framed, Sized};
use super::super::parser::{Descriptor, L7Parser, Segment, Transport};
use super::super::{Probe, ResponseStatus};
use super::wire::{
    command, error_reason, is_known_command, is_request_reply, parse_greeting, property,
    starts_greeting, FrameHeader, Mechanism, GREETING_LEN,
};
use crate::record::L7FlowLog;

/// What starts at a place in the stream.
#[derive(Debug, Clone, Copy)]
enum Unit {
    Greeting,
    Frame(FrameHeader),
    /// A frame header cut by the segment's end: wait for the rest of it.
    Cut,
}

/// Bytes of the shortest frame (flags and a 1-byte size): the walk's header length.
const MIN_FRAME: usize = 2;

/// ZMTP state of one connection.
#[derive(Debug, Clone, Copy, Default)]
pub struct ZmtpSession {
    /// Each direction's greeting and frames.
    framed: [Framed; 2],
    /// The greeting's version (major, minor), once seen.
    version: Option<(u8, u8)>,
    mechanism: Mechanism,
    /// The direction (0 client, 1 server) whose messages are requests: the REQ side, or the
    /// peer of a REP.
    requester: Option<u8>,
}

/// What starts `b`, for [`Framed::walk`]. Frame headers are 2 or 9 bytes: a cut one asks for
/// its length, so the walk waits for it.
fn read(b: &[u8]) -> Option<Sized<Unit>> {
    let unit = |header, wanted, total| {
        Some(Sized {
            header,
            wanted,
            total,
        })
    };
    if b.first() == Some(&0xFF) {
        return unit(Unit::Greeting, GREETING_LEN, GREETING_LEN);
    }
    match FrameHeader::read(b) {
        Some(h) => {
            let total = usize::try_from(h.total()).ok()?;
            // A command's body is read; a message's is skipped.
            unit(Unit::Frame(h), if h.command { total } else { h.len }, total)
        }
        None => {
            let len = FrameHeader::len_of(*b.first()?)?;
            if b.len() >= len {
                return None; // a whole header that is not a frame's
            }
            unit(Unit::Cut, len, len)
        }
    }
}

impl L7Parser for ZmtpSession {
    const DESC: Descriptor = Descriptor {
        enabled_by_default: false,
        ..Descriptor::tcp(106, "ZMTP")
    };
    type Config = ();

    fn probe(payload: &[u8], t: Transport) -> Probe {
        if t != Transport::Tcp {
            return Probe::NotForUs;
        }
        match starts_greeting(payload) {
            Some(true) => return Probe::Certain,
            None => return Probe::Unsure,
            Some(false) => {}
        }
        // A connection joined after its greetings: a known command (a heartbeat's PING).
        match FrameHeader::read(payload) {
            Some(h) if h.command => match payload.get(h.len..).and_then(command) {
                Some((name, _)) if is_known_command(name) => Probe::Certain,
                _ => Probe::NotForUs,
            },
            _ => Probe::NotForUs,
        }
    }

    fn sent_by_client(_: &[u8], _: Transport) -> Option<bool> {
        // Both peers send the same greeting and commands: the TCP handshake tells.
        None
    }

    fn on_data(&mut self, _: &(), seg: Segment<'_>, x: &mut Exchange<'_>) -> usize {
        let d = seg.dir();
        let mut framed = self.framed[d];
        let used = framed.walk(
            seg.data,
            seg.hold,
            MIN_FRAME,
            x,
            read,
            |_| true,
            |unit, msg, at, x| self.unit(unit, msg, seg.from_client, at, x),
        );
        self.framed[d] = framed;
        used
    }

    fn on_gap(&mut self, dir: usize, _: &mut Exchange<'_>) {
        self.framed[dir].lost();
    }
}

/// The fields every row has: the frame kind, the version, the body size on the sender's side.
fn fill_common(
    row: &mut L7FlowLog,
    kind: &str,
    version: Option<(u8, u8)>,
    (from_client, size): (bool, Option<u64>),
) {
    row.request_type.push_lossy(kind.as_bytes());
    if let Some((major, minor)) = version {
        let _ = write!(row.version, "{major}.{minor}");
    }
    if let Some(n) = size {
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        if from_client {
            row.request_length = n;
        } else {
            row.response_length = n;
        }
    }
}

impl ZmtpSession {
    /// One greeting or frame (`msg`: its first bytes, a command whole as far as captured), whose
    /// first byte came at `at` (time, TCP sequence number).
    fn unit(
        &mut self,
        unit: Unit,
        msg: &[u8],
        from_client: bool,
        at: (u64, u32),
        x: &mut Exchange<'_>,
    ) {
        let dir = u8::from(!from_client);
        let h = match unit {
            Unit::Greeting => {
                let Some(g) = parse_greeting(msg) else {
                    x.parse_error();
                    return;
                };
                self.version = Some((g.major, g.minor));
                self.mechanism = g.mechanism;
                let version = self.version;
                x.lone(at, from_client, msg.len() as u32, |row| {
                    fill_common(row, "Greeting", version, (from_client, None));
                });
                return;
            }
            Unit::Frame(h) => h,
            // The stream holds less than a frame header: nothing to read here.
            Unit::Cut => {
                x.parse_error();
                return;
            }
        };
        let version = self.version;
        let sized = (from_client, Some(h.size));
        let captured = u32::try_from(h.total()).unwrap_or(u32::MAX);
        if !h.command {
            if h.is_delimiter() {
                return;
            }
            let fill = |row: &mut L7FlowLog| fill_common(row, "Message", version, sized);
            match self.requester {
                Some(r) if r == dir => {
                    x.request_at(at.0, at.1, None, captured, fill);
                }
                Some(_) => x.response_at(at.0, at.1, Pairing::Oldest, captured, |row| {
                    if row.request_type.is_empty() {
                        fill(row); // a reply whose request was not seen
                    }
                    row.response_length = i64::try_from(h.size).unwrap_or(i64::MAX);
                    row.response_status = ResponseStatus::Ok.code();
                }),
                None => x.lone(at, from_client, captured, fill),
            }
            return;
        }
        // Only ZMTP's own commands: after lost bytes, a message body can look like a frame.
        let Some((name, data)) = msg
            .get(h.len..)
            .and_then(command)
            .filter(|(name, _)| is_known_command(name))
        else {
            x.parse_error();
            return;
        };
        if matches!(name, b"READY" | b"INITIATE") && self.mechanism != Mechanism::Curve {
            let kind = property(data, b"Socket-Type").unwrap_or_default();
            if is_request_reply(kind) {
                // REQ asks; REP answers its peer's requests.
                self.requester = Some(if kind == b"REQ" { dir } else { dir ^ 1 });
            }
        }
        x.lone(at, from_client, captured, |row| {
            fill_common(row, "Command", version, sized);
            match name {
                b"SUBSCRIBE" | b"CANCEL" => {
                    row.request_domain.push_lossy(data);
                    row.request_resource.push_lossy(data);
                }
                b"ERROR" => {
                    row.response_status = if from_client {
                        ResponseStatus::ClientError.code()
                    } else {
                        ResponseStatus::ServerError.code()
                    };
                    row.response_exception.push_lossy(error_reason(data));
                }
                _ => {}
            }
        });
    }
}
