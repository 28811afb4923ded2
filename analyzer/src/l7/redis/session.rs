//! One Redis connection: each direction walked as a RESP stream ([`super::resp::Walker`]),
//! requests paired with replies in order (pipelining works), pub/sub pushes kept out of the
//! pairing.
//!
//! Row fields (`deepflow-facts.md` section 4.5): request_type = the command as sent (`GET`,
//! `hset`), request_resource = the command line (arguments joined by spaces, cut at 256 bytes;
//! with obfuscation, every argument after the key is `?`), response_status = server error for an
//! error reply (`-ERR ...`, RESP3 `!` blob errors) with the message (without its `-`) in
//! response_exception, else ok.
//!
//! Requests are RESP arrays of bulk strings or inline commands (`PING\r\n`). A request row is
//! opened at the request's first byte and completed as the request streams in (its arguments go
//! straight into the waiting row); a reply completes its row as soon as its head is read (its
//! type, the length of a value, an error message, the first element of an array in a subscribed
//! connection), so RRT ends at the reply's first byte and a value of any size is skipped as it
//! streams by, even when the capture ends inside it. `captured_request_byte` /
//! `captured_response_byte` count the message's bytes in the segment where it starts.
//! Pushes are not replies: RESP3 `>` frames, and in a subscribed connection (after
//! SUBSCRIBE/PSUBSCRIBE/SSUBSCRIBE) `message`/`pmessage`/`smessage` arrays and confirmations
//! beyond the pending requests; they are counted (`l7.redis.pushes`). After a gap, a message in
//! progress is written as far as it was read, and the direction waits for a segment that starts
//! a message.

use super::super::exchange::{Exchange, Pairing, RequestId};
use super::super::parser::{Descriptor, L7Parser, Segment, Transport};
use super::super::{Probe, ResponseStatus};
use super::resp::{int, is_type, line, Event, RespError, Walker};
use crate::inline::InlineBytes;
use crate::record::L7FlowLog;

const COUNTER_PUSHES: usize = 0;
const COUNTER_INLINE: usize = 1;

/// Redis settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedisConfig {
    /// `tag_extraction.obfuscate_protocols` names Redis (DeepFlow's default): arguments after
    /// the key are written as `?`.
    pub obfuscate: bool,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig { obfuscate: true }
    }
}

/// The request being read: its row waits in the pending pool and is completed as the request
/// streams in, so the session holds no copy of it.
#[derive(Debug, Clone, Copy, Default)]
struct Request {
    id: Option<RequestId>,
    /// Bytes of the request in the segment where it starts (`captured_request_byte`).
    bytes: u32,
    command: InlineBytes<16>,
}

/// The reply being read.
#[derive(Debug, Clone, Copy, Default)]
struct Reply {
    head_ns: u64,
    head_seq: u32,
    bytes: u32,
    /// Type byte.
    kind: u8,
    /// The first element of an array reply (pushes are `message`, ...).
    first: InlineBytes<16>,
    error: InlineBytes<64>,
    /// Enough is known to write the row (or count the push).
    ready: bool,
    /// The row was written (or the push counted).
    done: bool,
}

/// Adds a piece of request argument `index` (0 = the command) to the command line of `row`.
fn arg_piece(row: &mut L7FlowLog, index: u64, piece: &[u8], first: bool, obfuscate: bool) {
    if index == 0 {
        row.request_type.push_lossy(piece);
    } else if first {
        row.request_resource.push_lossy(b" ");
    }
    if obfuscate && index >= 2 {
        if first {
            row.request_resource.push_lossy(b"?");
        }
    } else {
        row.request_resource.push_lossy(piece);
    }
}

/// Redis state of one connection.
#[derive(Debug, Clone, Copy, Default)]
pub struct RedisSession {
    walker: [Walker; 2],
    request: Request,
    reply: Reply,
    /// Requests written and not answered yet.
    pending: u32,
    /// The client subscribed to channels: the server pushes messages.
    subscribed: bool,
    /// Bytes of this direction were lost: wait for a segment that starts a message.
    resync: [bool; 2],
}

/// Commands recognised when sent inline (`PING\r\n`, `SET k v\r\n`, as telnet users and
/// scripts do), in upper case only: common ones that no other text protocol starts a connection
/// with (memcached's `get` / `set` are lower case, and memcached is tried first on its port).
const INLINE_COMMANDS: [&[u8]; 30] = [
    b"PING",
    b"GET",
    b"SET",
    b"DEL",
    b"EXISTS",
    b"INCR",
    b"DECR",
    b"INCRBY",
    b"EXPIRE",
    b"TTL",
    b"MGET",
    b"MSET",
    b"HGET",
    b"HSET",
    b"HGETALL",
    b"HDEL",
    b"LPUSH",
    b"RPUSH",
    b"LPOP",
    b"RPOP",
    b"LRANGE",
    b"SADD",
    b"SMEMBERS",
    b"ZADD",
    b"ZRANGE",
    b"KEYS",
    b"SCAN",
    b"SELECT",
    b"MULTI",
    b"PUBLISH",
];

/// An inline command line: Certain when its first word is one of [`INLINE_COMMANDS`] and the
/// line is complete.
fn probe_inline(b: &[u8]) -> Probe {
    let Some((text, _)) = line(b) else {
        return Probe::NotForUs;
    };
    let word = text.split(|c| *c == b' ').next().unwrap_or_default();
    if !word.iter().all(u8::is_ascii_uppercase) {
        return Probe::NotForUs;
    }
    // `GET / HTTP/1.1` is HTTP's.
    let http = text.len() > 9 && text[text.len() - 9..].starts_with(b" HTTP/");
    if eq_any(word, &INLINE_COMMANDS) && !http {
        Probe::Certain
    } else {
        Probe::NotForUs
    }
}

/// Does `b` start a request: an array (`*<n>\r\n$<len>\r\n<letters>`, Certain when the
/// command's first bytes are letters, Unsure when `b` ends before that) or a known inline
/// command?
fn probe_request(b: &[u8]) -> Probe {
    let Some(rest) = b.strip_prefix(b"*") else {
        return probe_inline(b);
    };
    let Some((count, used)) = line(rest) else {
        return number_prefix(rest);
    };
    if !matches!(int(count), Some(1..=1_048_576)) || !count.iter().all(u8::is_ascii_digit) {
        return Probe::NotForUs;
    }
    let rest = &rest[used..];
    let Some(bulk) = rest.strip_prefix(b"$") else {
        return if rest.is_empty() {
            Probe::Unsure
        } else {
            Probe::NotForUs
        };
    };
    let Some((len, used)) = line(bulk) else {
        return number_prefix(bulk);
    };
    let Some(len @ 1..=32) = int(len) else {
        return Probe::NotForUs;
    };
    let cmd = &bulk[used..];
    let cmd = &cmd[..cmd.len().min(len as usize)];
    if !cmd
        .iter()
        .all(|c| c.is_ascii_alphabetic() || *c == b'.' || *c == b'_')
    {
        return Probe::NotForUs;
    }
    if cmd.is_empty() {
        Probe::Unsure
    } else {
        Probe::Certain
    }
}

/// A number line cut short (`12`, `12\r`): Unsure, anything else: NotForUs.
fn number_prefix(b: &[u8]) -> Probe {
    let digits = b.strip_suffix(b"\r").unwrap_or(b);
    if b.len() < 9 && digits.iter().all(u8::is_ascii_digit) {
        Probe::Unsure
    } else {
        Probe::NotForUs
    }
}

/// Can a reply stream resume at `b` (a type byte and, for lengths, a number)?
fn starts_reply(b: &[u8]) -> bool {
    match b {
        [t @ (b'$' | b'*' | b'!' | b'=' | b'%' | b'~' | b'>' | b'|'), rest @ ..] => {
            let _ = t;
            line(rest).is_some_and(|(n, _)| int(n).is_some())
        }
        [t, ..] => is_type(*t),
        [] => false,
    }
}

fn eq_any(word: &[u8], names: &[&[u8]]) -> bool {
    names.iter().any(|n| word.eq_ignore_ascii_case(n))
}

impl L7Parser for RedisSession {
    const DESC: Descriptor = Descriptor {
        counters: &["l7.redis.pushes", "l7.redis.inline_commands"],
        ..Descriptor::tcp(80, "Redis")
    };
    type Config = RedisConfig;

    fn probe(payload: &[u8], _: Transport) -> Probe {
        probe_request(payload)
    }

    fn sent_by_client(payload: &[u8], _: Transport) -> Option<bool> {
        match payload.first()? {
            b'*' => Some(true),
            t if is_type(*t) => Some(false),
            t if t.is_ascii_alphabetic() => Some(true),
            _ => None,
        }
    }

    fn on_data(&mut self, cfg: &RedisConfig, seg: Segment<'_>, x: &mut Exchange<'_>) -> usize {
        let d = seg.dir();
        let data = seg.data;
        if self.resync[d] {
            let ok = if seg.from_client {
                probe_request(data) != Probe::NotForUs
            } else {
                starts_reply(data)
            };
            if !ok {
                return data.len();
            }
            self.resync[d] = false;
        }
        let mut at = 0;
        while at < data.len() {
            let rest = &data[at..];
            if seg.from_client && !self.walker[0].in_message() && rest[0] != b'*' {
                match self.inline(rest, seg.hold, cfg, x) {
                    Some(0) => return at,
                    Some(n) => {
                        at += n;
                        continue;
                    }
                    None => {
                        x.parse_error();
                        self.resync[0] = true;
                        return data.len();
                    }
                }
            }
            let mut ended = false;
            let walked = if seg.from_client {
                self.walk_request(rest, seg.hold, cfg, x, &mut ended)
            } else {
                self.walk_reply(rest, seg.hold, x, &mut ended)
            };
            let Ok(n) = walked else {
                x.parse_error();
                self.walker[d].reset();
                self.resync[d] = true;
                return data.len();
            };
            at += n;
            if ended {
                self.finish(d, x);
            }
            if n == 0 {
                break;
            }
        }
        at
    }

    fn on_gap(&mut self, dir: usize, x: &mut Exchange<'_>) {
        if self.walker[dir].in_message() {
            // Written as far as it was read, so that pairing stays in step.
            self.finish(dir, x);
        }
        self.walker[dir].reset();
        self.resync[dir] = true;
    }
}

impl RedisSession {
    fn walk_request(
        &mut self,
        data: &[u8],
        hold: usize,
        cfg: &RedisConfig,
        x: &mut Exchange<'_>,
        ended: &mut bool,
    ) -> Result<usize, RespError> {
        let req = &mut self.request;
        let obfuscate = cfg.obfuscate;
        let n = self.walker[0].walk(data, hold, |ev| match ev {
            Event::Start(_) => {
                *req = Request {
                    id: Some(x.request(None, 0, |_| {})),
                    ..Request::default()
                };
            }
            Event::Bulk {
                depth: 1,
                index,
                piece,
                first,
                ..
            } => {
                if index == 0 {
                    req.command.push_lossy(piece);
                }
                if let Some(id) = req.id {
                    x.update_request(id, |row| arg_piece(row, index, piece, first, obfuscate));
                }
            }
            Event::Line {
                depth: 1,
                index,
                text,
                ..
            } => {
                if let Some(id) = req.id {
                    x.update_request(id, |row| arg_piece(row, index, text, true, obfuscate));
                }
            }
            Event::End => *ended = true,
            _ => {}
        })?;
        if req.bytes == 0 && req.id.is_some() {
            req.bytes = n as u32;
            if let Some(id) = req.id {
                x.update_request(id, |row| row.captured_request_byte = n as u32);
            }
        }
        Ok(n)
    }

    fn walk_reply(
        &mut self,
        data: &[u8],
        hold: usize,
        x: &mut Exchange<'_>,
        ended: &mut bool,
    ) -> Result<usize, RespError> {
        let rep = &mut self.reply;
        let subscribed = self.subscribed;
        let (head_ns, head_seq) = (x.now_ns(), x.tcp_seq());
        let n = self.walker[1].walk(data, hold, |ev| match ev {
            Event::Start(kind) => {
                *rep = Reply {
                    head_ns,
                    head_seq,
                    kind,
                    ..Reply::default()
                };
            }
            Event::Line {
                depth: 0,
                kind: b'-',
                text,
                ..
            } => rep.error.push_lossy(text),
            Event::Bulk {
                depth: 0,
                kind,
                piece,
                ..
            } => {
                if kind == b'!' {
                    rep.error.push_lossy(piece);
                }
                rep.ready = true;
            }
            Event::Aggregate { depth: 0, kind, .. } => {
                // In a subscribed connection the first element tells a push from a reply.
                rep.ready |= kind == b'>' || !subscribed;
            }
            Event::Bulk {
                depth: 1,
                index: 0,
                piece,
                ..
            } => {
                rep.first.push_lossy(piece);
                rep.ready = true;
            }
            Event::End => {
                rep.ready = true;
                *ended = true;
            }
            _ => {}
        })?;
        if !rep.done {
            rep.bytes = rep.bytes.saturating_add(n as u32);
        }
        if rep.ready && !rep.done {
            rep.done = true;
            let m = *rep;
            self.reply_head(&m, x);
        }
        Ok(n)
    }

    /// An inline command line at the start of `buf`: Some(bytes used), Some(0) when the line is
    /// not complete yet, None when it is not a command.
    fn inline(
        &mut self,
        buf: &[u8],
        hold: usize,
        cfg: &RedisConfig,
        x: &mut Exchange<'_>,
    ) -> Option<usize> {
        let (text, used) = match line(buf) {
            Some(l) => l,
            None if buf.len() < hold => return Some(0),
            None => (buf, buf.len()),
        };
        if !text.first().is_some_and(u8::is_ascii_alphabetic) {
            return None;
        }
        let mut req = Request {
            bytes: used as u32,
            ..Request::default()
        };
        let id = x.request(None, used as u32, |row| {
            for (i, word) in text
                .split(|b| *b == b' ')
                .filter(|w| !w.is_empty())
                .enumerate()
            {
                if i == 0 {
                    req.command.push_lossy(word);
                }
                arg_piece(row, i as u64, word, true, cfg.obfuscate);
            }
        });
        req.id = Some(id);
        x.count(COUNTER_INLINE);
        self.request = req;
        self.finish(0, x);
        Some(used)
    }

    /// The message of direction `d` ended (or was cut by a gap).
    fn finish(&mut self, d: usize, x: &mut Exchange<'_>) {
        if d == 0 {
            let req = std::mem::take(&mut self.request);
            let command = req.command.as_bytes();
            if eq_any(command, &[b"SUBSCRIBE", b"PSUBSCRIBE", b"SSUBSCRIBE"]) {
                self.subscribed = true;
            } else if eq_any(command, &[b"RESET", b"QUIT"]) {
                self.subscribed = false;
            }
            self.pending = self.pending.saturating_add(1);
            return;
        }
        let m = std::mem::take(&mut self.reply);
        if !m.done {
            self.reply_head(&m, x);
        }
    }

    /// Enough of a reply is known: writes its row (RRT to its head), or counts it as a push.
    fn reply_head(&mut self, m: &Reply, x: &mut Exchange<'_>) {
        let is_push = m.kind == b'>'
            || (self.subscribed
                && m.kind == b'*'
                && (self.pending == 0
                    || eq_any(m.first.as_bytes(), &[b"message", b"pmessage", b"smessage"])));
        if is_push {
            x.count(COUNTER_PUSHES);
            return;
        }
        self.pending = self.pending.saturating_sub(1);
        let is_error = matches!(m.kind, b'-' | b'!');
        x.response_at(m.head_ns, m.head_seq, Pairing::Oldest, m.bytes, |row| {
            if is_error {
                row.response_status = ResponseStatus::ServerError.code();
                row.response_exception.push_lossy(m.error.as_bytes());
            } else {
                row.response_status = ResponseStatus::Ok.code();
            }
        });
    }
}
