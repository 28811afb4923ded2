//! One NATS connection.
//!
//! Rows: a message with a reply subject (request/reply: PUB or MSG with `reply-to`) opens a
//! request that the message on that reply subject answers, in whichever direction (a requester's
//! PUB answered by the MSG on its inbox; a service's MSG answered by its PUB to the inbox), so
//! the row's duration is the responder's time. PING pairs with the other side's PONG. In verbose
//! mode (`CONNECT {"verbose":true}`) the server acknowledges each client operation with `+OK` or
//! `-ERR`: CONNECT, SUB, UNSUB and PUB without reply subject are requests answered by them;
//! otherwise they, like INFO and MSG without reply subject, are written at once as request rows.
//! An `-ERR` that answers nothing (a protocol violation closes the connection) is a response row
//! of its own. A client subscribed to its own request subject gets the request back (same reply
//! subject): that delivery is a row of its own, not a second request.
//!
//! Row fields (`deepflow-facts.md` section 4.5): request_type = the operation (`PUB`, `HMSG`),
//! request_domain = the server's `server_name` and version = its `version` (both from INFO),
//! request_resource = the subject (UNSUB: the sid), endpoint = the subject up to its first `.`,
//! request_length / response_length = the message (control line, payload and line ends). Trace
//! and span ids come from HPUB/HMSG headers, looked up like HTTP headers. `-ERR` is an error
//! (DeepFlow reports every NATS message as ok): a server error for `Maximum Connections
//! Exceeded` and `Slow Consumer`, a client error otherwise, with the message as
//! response_exception; a reply whose header status is 503 (no responders) is a server error with
//! response_code 503.

use super::super::exchange::{Exchange, Pairing};
use super::super::framing::{line, Skip};
use super::super::parser::{Descriptor, L7Parser, Segment, Transport};
use super::super::tags;
use super::super::{Probe, ResponseStatus};
use super::wire::{json_str, json_true, op_prefix, parse, Headers, Line, Op};
use crate::inline::InlineBytes;
use crate::record::L7FlowLog;

const COUNTER_UNPAIRED_OK: usize = 0;
const COUNTER_UNKNOWN_OPS: usize = 1;
/// Verbose acknowledgements and reply subjects remembered per connection.
const RING: usize = 8;
const KEY_ACK: u32 = 0x1_0000;
const KEY_PING: u32 = 0x2_0000;
const KEY_INBOX: u32 = 0x8000_0000;
/// Longest unknown line skipped as a client's mistake (the server's max_control_line is 4 KiB).
const MAX_CONTROL_LINE: usize = 4096;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Dir {
    #[default]
    Message,
    Skip(Skip),
}

/// NATS state of one connection.
#[derive(Debug, Clone, Copy, Default)]
pub struct NatsSession {
    dir: [Dir; 2],
    head: [Option<(u64, u32)>; 2],
    resync: [bool; 2],
    verbose: bool,
    /// Keys of the client operations waiting for `+OK` / `-ERR`, oldest first (0: no row).
    acks: [u32; RING],
    acks_len: u8,
    ack_seq: u16,
    /// Keys of reply subjects a message is awaited on (0: free).
    inboxes: [u32; RING],
    next_inbox: u8,
    server_name: InlineBytes<64>,
    version: InlineBytes<8>,
}

fn fnv1a(b: &[u8]) -> u32 {
    b.iter().fold(0x811c_9dc5u32, |h, &c| {
        (h ^ u32::from(c)).wrapping_mul(0x0100_0193)
    })
}

fn inbox_key(subject: &[u8]) -> u32 {
    fnv1a(subject) | KEY_INBOX
}

fn contains_ci(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

fn err_class(msg: &[u8]) -> ResponseStatus {
    if contains_ci(msg, b"maximum connections") || contains_ci(msg, b"slow consumer") {
        ResponseStatus::ServerError
    } else {
        ResponseStatus::ClientError
    }
}

impl L7Parser for NatsSession {
    const DESC: Descriptor = Descriptor {
        enabled_by_default: false,
        counters: &["l7.nats.unpaired_ok", "l7.nats.unknown_operations"],
        ..Descriptor::tcp(104, "NATS")
    };
    type Config = ();

    fn probe(payload: &[u8], _: Transport) -> Probe {
        match line(payload) {
            Some((text, _)) => match parse(text) {
                // PING, PONG, +OK and -ERR alone are too short to tell NATS from others.
                Some(l) if !matches!(l.op, Op::Ping | Op::Pong | Op::Ok | Op::Err) => {
                    Probe::Certain
                }
                _ => Probe::NotForUs,
            },
            None if payload.len() < MAX_CONTROL_LINE && op_prefix(payload) => Probe::Unsure,
            None => Probe::NotForUs,
        }
    }

    fn sent_by_client(payload: &[u8], _: Transport) -> Option<bool> {
        parse(line(payload)?.0)?.op.from_client()
    }

    fn on_data(&mut self, _: &(), seg: Segment<'_>, x: &mut Exchange<'_>) -> usize {
        let d = seg.dir();
        let data = seg.data;
        if self.resync[d] {
            match line(data).and_then(|(t, _)| parse(t)) {
                Some(l) if l.op.from_client().is_none_or(|c| c == seg.from_client) => {
                    self.resync[d] = false;
                }
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
            let Some((text, used)) = line(rest) else {
                if rest.len() < seg.hold.min(MAX_CONTROL_LINE) {
                    self.head[d].get_or_insert((x.now_ns(), x.tcp_seq()));
                    return at;
                }
                x.parse_error();
                self.resync[d] = true;
                self.head[d] = None;
                return data.len();
            };
            let parsed =
                parse(text).filter(|l| l.op.from_client().is_none_or(|c| c == seg.from_client));
            let Some(l) = parsed else {
                x.parse_error();
                if seg.from_client
                    && text.len() < MAX_CONTROL_LINE
                    && text.iter().all(|c| c.is_ascii_graphic() || *c == b' ')
                {
                    // A client's unknown operation: the server answers it with -ERR.
                    x.count(COUNTER_UNKNOWN_OPS);
                    self.head[d] = None;
                    at += used;
                    continue;
                }
                self.resync[d] = true;
                self.head[d] = None;
                return data.len();
            };
            // HPUB/HMSG: wait for the header block when it can be held.
            let headers_end = used + l.header_len as usize;
            if l.header_len > 0 && rest.len() < headers_end && headers_end <= seg.hold {
                self.head[d].get_or_insert((x.now_ns(), x.tcp_seq()));
                return at;
            }
            let headers = Headers(&rest[used.min(rest.len())..headers_end.min(rest.len())]);
            let has_payload = matches!(l.op, Op::Pub | Op::Hpub | Op::Msg | Op::Hmsg);
            let body = if has_payload { l.total as usize + 2 } else { 0 };
            let size = used + body;
            let captured = size.min(rest.len()) as u32;
            let (ts, seq) = self.head[d].take().unwrap_or((x.now_ns(), x.tcp_seq()));
            self.message(&l, headers, size as i64, captured, d, ts, seq, x);
            at += used;
            if body > 0 {
                self.dir[d] = Dir::Skip(Skip(body as u64));
            }
        }
        at
    }

    fn on_gap(&mut self, dir: usize, _: &mut Exchange<'_>) {
        self.dir[dir] = Dir::Message;
        self.head[dir] = None;
        self.resync[dir] = true;
        if dir == 1 {
            // Acknowledgements may have been lost with the bytes.
            self.acks_len = 0;
        }
    }
}

impl NatsSession {
    fn base(&self, row: &mut L7FlowLog, op: Op) {
        if row.request_type.is_empty() {
            row.request_type.push_lossy(op.name().as_bytes());
        }
        if row.request_domain.is_empty() {
            row.request_domain.push_lossy(self.server_name.as_bytes());
        }
        if row.version.is_empty() {
            row.version.push_lossy(self.version.as_bytes());
        }
    }

    fn push_ack(&mut self, key: u32) {
        if usize::from(self.acks_len) == RING {
            self.acks.copy_within(1.., 0);
            self.acks_len -= 1;
        }
        self.acks[usize::from(self.acks_len)] = key;
        self.acks_len += 1;
    }

    fn pop_ack(&mut self) -> Option<u32> {
        if self.acks_len == 0 {
            return None;
        }
        let k = self.acks[0];
        self.acks.copy_within(1.., 0);
        self.acks_len -= 1;
        Some(k)
    }

    fn next_ack_key(&mut self) -> u32 {
        self.ack_seq = self.ack_seq.wrapping_add(1);
        KEY_ACK | u32::from(self.ack_seq)
    }

    fn awaits(&mut self, subject: &[u8]) -> Option<u32> {
        if subject.is_empty() {
            return None;
        }
        let k = inbox_key(subject);
        let slot = self.inboxes.iter_mut().find(|s| **s == k)?;
        *slot = 0;
        Some(k)
    }

    fn await_reply(&mut self, reply_to: &[u8]) -> u32 {
        let k = inbox_key(reply_to);
        let i = usize::from(self.next_inbox) % RING;
        self.inboxes[i] = k;
        self.next_inbox = ((i + 1) % RING) as u8;
        k
    }

    #[allow(clippy::too_many_arguments)]
    fn message(
        &mut self,
        l: &Line<'_>,
        headers: Headers<'_>,
        size: i64,
        captured: u32,
        d: usize,
        ts: u64,
        seq: u32,
        x: &mut Exchange<'_>,
    ) {
        let tags = &x.settings().tags;
        let request_fill = |me: &NatsSession, row: &mut L7FlowLog| {
            me.base(row, l.op);
            row.request_resource.push_lossy(l.subject);
            let end = l
                .subject
                .iter()
                .position(|c| *c == b'.')
                .unwrap_or(l.subject.len());
            row.endpoint.push_lossy(&l.subject[..end]);
            row.request_length = size;
            if !headers.0.is_empty() {
                tags::extract(tags, true, |n| headers.get(n), row);
            }
        };
        match l.op {
            Op::Info => {
                self.server_name = InlineBytes::EMPTY;
                self.server_name
                    .push_lossy(json_str(l.text, "server_name").unwrap_or(&[]));
                self.version = InlineBytes::EMPTY;
                self.version
                    .push_lossy(json_str(l.text, "version").unwrap_or(&[]));
                let me = *self;
                x.one_way(captured, |row| {
                    me.base(row, l.op);
                    row.request_length = size;
                });
            }
            Op::Connect | Op::Sub | Op::Unsub => {
                if l.op == Op::Connect {
                    self.verbose = json_true(l.text, "verbose");
                    self.acks_len = 0;
                }
                let me = *self;
                if self.verbose {
                    let k = self.next_ack_key();
                    self.push_ack(k);
                    x.request_at(ts, seq, Some(k), captured, |row| request_fill(&me, row));
                } else {
                    x.one_way(captured, |row| request_fill(&me, row));
                }
            }
            Op::Pub | Op::Hpub | Op::Msg | Op::Hmsg => {
                let from_client = d == 0;
                if let Some(k) = self.awaits(l.subject) {
                    // The reply to a request seen earlier.
                    if from_client && self.verbose {
                        self.push_ack(0);
                    }
                    let me = *self;
                    x.response_at(ts, seq, Pairing::Key(k), captured, |row| {
                        me.base(row, l.op);
                        row.response_length = size;
                        row.response_status = ResponseStatus::Ok.code();
                        if let Some(code) = headers.status() {
                            row.response_code = Some(i32::from(code));
                            if code == 503 {
                                row.response_status = ResponseStatus::ServerError.code();
                                row.response_exception.push_lossy(b"No Responders");
                            }
                        }
                        if !headers.0.is_empty() {
                            tags::extract(tags, false, |n| headers.get(n), row);
                        }
                    });
                    return;
                }
                let me = *self;
                let echo = !from_client && self.inboxes.contains(&inbox_key(l.reply_to));
                if !l.reply_to.is_empty() && !echo {
                    let k = self.await_reply(l.reply_to);
                    if from_client && self.verbose {
                        self.push_ack(0);
                    }
                    x.request_at(ts, seq, Some(k), captured, |row| request_fill(&me, row));
                } else if from_client && self.verbose {
                    let k = self.next_ack_key();
                    self.push_ack(k);
                    x.request_at(ts, seq, Some(k), captured, |row| request_fill(&me, row));
                } else {
                    x.one_way(captured, |row| request_fill(&me, row));
                }
            }
            Op::Ping => {
                let me = *self;
                x.request_at(ts, seq, Some(KEY_PING | d as u32), captured, |row| {
                    me.base(row, l.op);
                    row.request_length = size;
                });
            }
            Op::Pong => {
                let me = *self;
                x.response_at(
                    ts,
                    seq,
                    Pairing::Key(KEY_PING | (d ^ 1) as u32),
                    captured,
                    |row| {
                        me.base(row, l.op);
                        row.response_length = size;
                        row.response_status = ResponseStatus::Ok.code();
                    },
                );
            }
            Op::Ok => match self.pop_ack() {
                Some(0) => {}
                Some(k) => {
                    let me = *self;
                    x.response_at(ts, seq, Pairing::Key(k), captured, |row| {
                        me.base(row, l.op);
                        row.response_length = size;
                        row.response_status = ResponseStatus::Ok.code();
                    });
                }
                None => x.count(COUNTER_UNPAIRED_OK),
            },
            Op::Err => {
                // An -ERR answers the oldest operation waiting in verbose mode, else nothing.
                let k = match self.pop_ack() {
                    Some(k) if k != 0 => k,
                    _ => 0,
                };
                let me = *self;
                let msg = l.text.strip_prefix(b"'").unwrap_or(l.text);
                let msg = msg.strip_suffix(b"'").unwrap_or(msg);
                x.response_at(ts, seq, Pairing::Key(k), captured, |row| {
                    me.base(row, l.op);
                    row.response_length = size;
                    row.response_status = err_class(msg).code();
                    row.response_exception.push_lossy(msg);
                });
            }
        }
    }
}
