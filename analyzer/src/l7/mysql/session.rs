//! One MySQL / MariaDB connection: the greeting and the authentication are followed (to learn
//! whether TLS or compression takes over), then each command (a packet with sequence id 0 from the
//! client) is a request and the first packet of the server's reply (OK, ERR, EOF or a result
//! set's column count) its response; the rest of a reply (column definitions, rows) is skipped
//! packet by packet without being held, so a result set of any size costs nothing.
//!
//! Row fields (`deepflow-facts.md` section 4.5): request_type = the command (`COM_QUERY`,
//! `COM_STMT_EXECUTE`, ...), request_resource = the SQL text (COM_QUERY, COM_STMT_PREPARE; cut
//! at 256 bytes) or the database (COM_INIT_DB, also request_domain), request_id = the statement
//! id (statement commands, and a prepare's answer); response_code = the error code of an ERR,
//! response_exception its message; response_status: SQLSTATE classes caused by the request (bad
//! SQL 42, constraint violation 23, data 22, access 28, unknown database 3D, ...) are client
//! errors, the others server errors; sql_affected_rows from OK packets.
//!
//! COM_QUIT, COM_STMT_CLOSE and COM_STMT_SEND_LONG_DATA get no reply: they are written at once as
//! request rows. A connection that switches to TLS (`l7.mysql.tls`) is not parsed further, and
//! not misparsed. One that switches to the compressed protocol (`l7.mysql.compressed`) is read
//! through it, as DeepFlow's `decompress_payload` does (`compressed.rs`): the head of each body
//! is inflated and its packets go through the same steps; a body read only in part (larger than
//! what is inflated or held) leaves its direction out of step until the next command, or the
//! next reply's first body, starts the packets afresh.

use super::super::decompress::HEAD_MAX;
use super::super::exchange::{Exchange, Pairing};
use super::super::framing::Skip;
use super::super::parser::{Descriptor, L7Parser, Segment, Transport};
use super::super::sql::{looks_like_sql, table_of, write_sql, Dialect, SqlConfig};
use super::super::tags::{extract, SqlComments};
use super::super::{Probe, ResponseStatus};
use super::compressed::{self, command_head, inflate_head, starts_body};
use super::wire::{
    command_name, header, parse_err, parse_greeting, parse_login, parse_ok_affected,
    CLIENT_COMPRESS, CLIENT_PROTOCOL_41, CLIENT_SSL, CLIENT_ZSTD_COMPRESSION, COM_FIELD_LIST,
    COM_INIT_DB, COM_QUERY, COM_QUIT, COM_STMT_CLOSE, COM_STMT_EXECUTE, COM_STMT_FETCH,
    COM_STMT_PREPARE, COM_STMT_SEND_LONG_DATA, HEADER_LEN,
};
use crate::record::L7FlowLog;

const COUNTER_TLS: usize = 0;
const COUNTER_COMPRESSED: usize = 1;

/// Where the server's reply stream stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Reply {
    /// Between replies: the next packet heads the reply to the oldest pending command.
    #[default]
    Idle,
    /// Column (or parameter) definitions still to come, then an EOF or the rows.
    Definitions(u32),
    /// Result rows until an EOF / OK (0xfe, shorter than 9 bytes) or an ERR.
    Rows,
    /// Definitions after a prepare's OK, then the reply ends.
    Skip(u32),
}

/// The protocol compression of a connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Compression {
    #[default]
    None,
    /// `CLIENT_COMPRESS`: zlib, read.
    Zlib,
    /// MySQL 8's `CLIENT_ZSTD_COMPRESSION_ALGORITHM`: counted, not read (its frames need a
    /// decoder state far larger than a command).
    Zstd,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Phase {
    /// Nothing seen yet (or joined mid-connection).
    #[default]
    Start,
    /// Greeting seen: authentication until the server's OK.
    Auth,
    Commands,
    /// Commands, through the compressed protocol.
    Compressed,
    /// TLS (or the compressed protocol, when not to be read) took over: not parsed.
    Opaque,
}

/// MySQL state of one connection.
#[derive(Debug, Clone, Copy, Default)]
pub struct MysqlSession {
    /// Bytes of the current packet still to skip, per direction.
    skip: [Skip; 2],
    phase: Phase,
    server_caps: u32,
    /// The compression both ends agreed on: it starts after authentication.
    compress: Compression,
    /// Commands waiting for their reply, oldest first (the first `pending` of a ring of 8).
    cmds: [u8; 8],
    first: u8,
    pending: u8,
    reply: Reply,
    /// Bytes of this direction were lost: wait for a segment that starts a packet.
    resync: [bool; 2],
    /// The protocol's config, as of the last segment.
    cfg: SqlConfig,
    /// The login request waits for the end of authentication.
    login_pending: bool,
    /// Compressed protocol: bytes of an ordinary packet that go on in the next body, per
    /// direction.
    inner_skip: [u32; 2],
    /// Compressed protocol: this direction's packets are in step (its bodies were read whole).
    in_step: [bool; 2],
    /// Compressed protocol: commands waiting for a reply sent since the last reply began.
    sent: u8,
    /// Compressed protocol: requests are paired by number (a reply lost in a body not read
    /// leaves its request to time out instead of taking the next reply): the last command's,
    /// and the one the next reply answers.
    cmd_key: u32,
    reply_key: u32,
}

/// A command packet (sequence id 0) at the start of `b` whose command byte is known.
fn starts_command(b: &[u8]) -> bool {
    matches!(header(b), Some((len, 0)) if len > 0)
        && b.get(HEADER_LEN)
            .is_some_and(|c| command_name(*c).is_some())
}

impl L7Parser for MysqlSession {
    const DESC: Descriptor = Descriptor {
        counters: &["l7.mysql.tls", "l7.mysql.compressed"],
        ..Descriptor::tcp(60, "MySQL")
    };
    type Config = SqlConfig;

    fn probe(b: &[u8], _: Transport) -> Probe {
        if Self::probe_compressed(b) == Probe::Certain {
            return Probe::Certain;
        }
        // A packet header cut by the segment boundary is too little to guess from.
        let Some((len, seq)) = header(b) else {
            return Probe::NotForUs;
        };
        let payload = &b[HEADER_LEN..];
        match (seq, payload.first()) {
            (_, None) => Probe::Unsure,
            // The server's greeting: protocol 10, a printable version, NUL.
            (0, Some(10)) => match parse_greeting(payload) {
                Some(g) if !g.version.is_empty() && g.version.iter().all(u8::is_ascii_graphic) => {
                    Probe::Certain
                }
                None if (len as usize) > payload.len() => Probe::Unsure,
                _ => Probe::NotForUs,
            },
            // A query (joined after the handshake): the length must fit what arrived.
            (0, Some(&COM_QUERY)) if (len as usize) + HEADER_LEN >= b.len() && len > 1 => {
                if looks_like_sql(&payload[1..]) {
                    Probe::Certain
                } else {
                    Probe::NotForUs
                }
            }
            _ => Probe::NotForUs,
        }
    }

    fn sent_by_client(b: &[u8], _: Transport) -> Option<bool> {
        if starts_body(b, 0) && command_head(b, &mut [0; HEAD_MAX]).is_some() {
            return Some(true);
        }
        match (header(b)?, b.get(HEADER_LEN)?) {
            ((_, 0), 10) => Some(false),
            ((_, 0), c) if command_name(*c).is_some() => Some(true),
            _ => None,
        }
    }

    fn on_data(&mut self, cfg: &SqlConfig, seg: Segment<'_>, x: &mut Exchange<'_>) -> usize {
        self.cfg = *cfg;
        let d = seg.dir();
        let data = seg.data;
        if self.phase == Phase::Opaque {
            return data.len();
        }
        if self.phase == Phase::Start
            && seg.from_client
            && starts_body(data, 0)
            && command_head(data, &mut [0; HEAD_MAX]).is_some()
        {
            // Joined a connection already in the compressed protocol: what the server sent
            // before is not known to end at a body's end.
            x.count(COUNTER_COMPRESSED);
            if self.cfg.keep_compressed {
                self.phase = Phase::Opaque;
                return data.len();
            }
            self.phase = Phase::Compressed;
            self.skip[1] = Skip(0);
            self.resync[1] = true;
        }
        if self.phase == Phase::Compressed {
            return self.on_compressed(seg, x);
        }
        if self.resync[d] {
            // Only a command is recognisable in the middle of a stream.
            if !(seg.from_client && starts_command(data)) {
                return data.len();
            }
            self.resync[d] = false;
        }
        let mut at = 0;
        while at < data.len() && matches!(self.phase, Phase::Start | Phase::Auth | Phase::Commands)
        {
            if !self.skip[d].is_done() {
                at += self.skip[d].take(data.len() - at);
                continue;
            }
            let rest = &data[at..];
            let Some((len, seq)) = header(rest) else {
                return at;
            };
            let total = HEADER_LEN + len as usize;
            // Enough of the payload to read what a row needs (SQL is cut at what can be held).
            let want = total.min(seg.hold.max(HEADER_LEN + 1));
            if rest.len() < want {
                return at;
            }
            let payload = &rest[HEADER_LEN..rest.len().min(total)];
            let captured = rest.len().min(total) as u32;
            if !self.packet(seg.from_client, seq, payload, captured, x) {
                x.parse_error();
                self.resync[d] = true;
                self.skip[d] = Skip(0);
                return data.len();
            }
            let used = rest.len().min(total);
            at += used;
            self.skip[d] = Skip((total - used) as u64);
        }
        match self.phase {
            Phase::Opaque => data.len(),
            // The rest of the segment is the compressed protocol's.
            Phase::Compressed if at < data.len() => {
                at + self.on_compressed(
                    Segment {
                        data: &data[at..],
                        ..seg
                    },
                    x,
                )
            }
            _ => at,
        }
    }

    fn on_gap(&mut self, dir: usize, _: &mut Exchange<'_>) {
        self.skip[dir] = Skip(0);
        self.resync[dir] = true;
    }
}

impl MysqlSession {
    /// A query in a compressed packet (a connection in the compressed protocol, joined after
    /// the login).
    fn probe_compressed(b: &[u8]) -> Probe {
        // Checked first: the buffer is not zeroed for what cannot be a compressed packet.
        if !starts_body(b, 0) {
            return Probe::NotForUs;
        }
        let mut out = [0; HEAD_MAX];
        match command_head(b, &mut out) {
            Some(p) if p[HEADER_LEN] == COM_QUERY && looks_like_sql(&p[HEADER_LEN + 1..]) => {
                Probe::Certain
            }
            _ => Probe::NotForUs,
        }
    }

    /// A segment of the compressed protocol: its compressed packets, each body's head read.
    fn on_compressed(&mut self, seg: Segment<'_>, x: &mut Exchange<'_>) -> usize {
        let d = seg.dir();
        let data = seg.data;
        if self.resync[d] {
            // Picked up again at a command, or at the first body of the reply to one.
            let (seq, may) = if seg.from_client {
                (0, true)
            } else {
                (1, self.sent > 0)
            };
            if !(may && starts_body(data, seq)) {
                if !seg.from_client {
                    // The server answers commands only: the replies to those sent so far began
                    // in the bytes lost. Their requests are left to time out.
                    self.sent = 0;
                    self.pending = 0;
                }
                return data.len();
            }
            self.resync[d] = false;
        }
        let mut at = 0;
        while at < data.len() {
            if !self.skip[d].is_done() {
                at += self.skip[d].take(data.len() - at);
                continue;
            }
            let rest = &data[at..];
            let Some(h) = compressed::header(rest) else {
                return at;
            };
            let total = compressed::HEADER_LEN + h.len as usize;
            let want = total.min(seg.hold.max(compressed::HEADER_LEN + 2));
            if rest.len() < want {
                return at;
            }
            let used = rest.len().min(total);
            self.body(
                seg.from_client,
                h,
                &rest[compressed::HEADER_LEN..used],
                used == total,
                x,
            );
            at += used;
            self.skip[d] = Skip((total - used) as u64);
        }
        at
    }

    /// The body of a compressed packet (`whole`: all of it is here).
    fn body(
        &mut self,
        from_client: bool,
        h: compressed::Header,
        body: &[u8],
        whole: bool,
        x: &mut Exchange<'_>,
    ) {
        let d = usize::from(!from_client);
        // A command, and the first body of its reply, start the packets afresh.
        let starts = if from_client {
            h.seq == 0
        } else {
            h.seq == 1 && self.sent > 0
        };
        if starts {
            self.in_step[d] = true;
            self.inner_skip[d] = 0;
            if !from_client {
                // The replies that begin here answer the commands sent since the last one
                // began; older commands lost theirs.
                self.reply = Reply::Idle;
                while self.pending > self.sent {
                    self.first = (self.first + 1) % 8;
                    self.pending -= 1;
                }
                self.reply_key = self.cmd_key.wrapping_sub(u32::from(self.sent) - 1);
                self.sent = 0;
            }
        }
        if !self.in_step[d] {
            return;
        }
        if h.plain_len == 0 {
            self.packets(from_client, body, whole, x);
            return;
        }
        let mut out = [0u8; HEAD_MAX];
        match inflate_head(body, whole, h.plain_len, &mut out) {
            Some((n, all)) => self.packets(from_client, &out[..n], all, x),
            None => {
                x.parse_error();
                self.in_step[d] = false;
            }
        }
    }

    /// The ordinary packets of a body (`whole`: `content` is all of the body).
    fn packets(&mut self, from_client: bool, content: &[u8], whole: bool, x: &mut Exchange<'_>) {
        let d = usize::from(!from_client);
        let skip = (self.inner_skip[d] as usize).min(content.len());
        self.inner_skip[d] -= skip as u32;
        let mut at = skip;
        while at < content.len() {
            let rest = &content[at..];
            let Some((len, seq)) = header(rest) else {
                // A packet header cut by the body's end.
                self.in_step[d] = false;
                return;
            };
            let total = HEADER_LEN + len as usize;
            let avail = rest.len().min(total);
            if !self.packet(from_client, seq, &rest[HEADER_LEN..avail], avail as u32, x) {
                x.parse_error();
                self.in_step[d] = false;
                return;
            }
            at += avail;
            self.inner_skip[d] = (total - avail) as u32;
        }
        if !whole {
            self.in_step[d] = false;
        }
    }

    /// One packet (its payload as far as it is here); false when it cannot be MySQL.
    fn packet(
        &mut self,
        from_client: bool,
        seq: u8,
        p: &[u8],
        captured: u32,
        x: &mut Exchange<'_>,
    ) -> bool {
        if from_client {
            return self.client_packet(seq, p, captured, x);
        }
        match self.phase {
            Phase::Start if seq == 0 => {
                let Some(g) = parse_greeting(p) else {
                    return false;
                };
                self.server_caps = g.caps;
                self.phase = Phase::Auth;
            }
            // OK or ERR ends authentication; an auth switch or more auth data continue it.
            Phase::Auth if matches!(p.first(), Some(0x00 | 0xff)) => {
                if std::mem::take(&mut self.login_pending) {
                    self.response(p, captured, x);
                }
                if self.compress != Compression::None && p.first() == Some(&0x00) {
                    x.count(COUNTER_COMPRESSED);
                    self.phase = if self.cfg.keep_compressed || self.compress == Compression::Zstd {
                        Phase::Opaque
                    } else {
                        self.in_step = [true; 2];
                        Phase::Compressed
                    };
                } else {
                    self.phase = Phase::Commands;
                }
            }
            Phase::Commands | Phase::Compressed => self.reply_packet(p, captured, x),
            _ => {}
        }
        true
    }

    /// A packet of the reply stream.
    fn reply_packet(&mut self, p: &[u8], captured: u32, x: &mut Exchange<'_>) {
        let eof = p.first() == Some(&0xfe) && p.len() < 9;
        self.reply = match self.reply {
            Reply::Idle if self.pending == 0 => Reply::Idle,
            Reply::Idle => {
                let cmd = self.cmds[usize::from(self.first)];
                self.first = (self.first + 1) % 8;
                self.pending -= 1;
                self.response(p, captured, x);
                let ends = matches!(p.first(), Some(0xff)) || eof;
                match cmd {
                    _ if ends => Reply::Idle,
                    // A prepare's OK: parameter and column definitions follow, each list closed
                    // by an EOF (counted as they come).
                    COM_STMT_PREPARE => match (p.get(5..7), p.get(7..9)) {
                        (Some(c), Some(q)) => {
                            let cols = u32::from(u16::from_le_bytes([c[0], c[1]]));
                            let params = u32::from(u16::from_le_bytes([q[0], q[1]]));
                            let n = cols + params + u32::from(cols > 0) + u32::from(params > 0);
                            if n > 0 {
                                Reply::Skip(n)
                            } else {
                                Reply::Idle
                            }
                        }
                        _ => Reply::Idle,
                    },
                    // Definitions / rows until an EOF, without a count first.
                    COM_FIELD_LIST | COM_STMT_FETCH => Reply::Rows,
                    // OK, or a result set: its column count.
                    COM_QUERY | COM_STMT_EXECUTE if p.first() != Some(&0x00) => {
                        match super::wire::lenenc(p) {
                            Some((n, _)) if n > 0 => Reply::Definitions(n.min(4096) as u32),
                            _ => Reply::Idle,
                        }
                    }
                    // Everything else is answered by one packet.
                    _ => Reply::Idle,
                }
            }
            Reply::Definitions(0) if eof => Reply::Rows,
            Reply::Definitions(0) | Reply::Rows if eof || p.first() == Some(&0xff) => Reply::Idle,
            Reply::Definitions(0) | Reply::Rows => Reply::Rows,
            Reply::Definitions(n) => Reply::Definitions(n - 1),
            // With EOF deprecated the lists are shorter: a new reply's head cannot be told from a
            // definition, so the count is trusted.
            Reply::Skip(n) if n <= 1 || eof && self.pending > 0 => Reply::Idle,
            Reply::Skip(n) => Reply::Skip(n - 1),
        };
    }

    fn client_packet(&mut self, seq: u8, p: &[u8], captured: u32, x: &mut Exchange<'_>) -> bool {
        match self.phase {
            Phase::Auth if seq == 1 => {
                // The handshake response: its capabilities.
                let caps = match p.get(..4) {
                    Some(c)
                        if u16::from_le_bytes([c[0], c[1]]) as u32 & CLIENT_PROTOCOL_41 != 0 =>
                    {
                        u32::from_le_bytes([c[0], c[1], c[2], c[3]])
                    }
                    Some(c) => u32::from(u16::from_le_bytes([c[0], c[1]])),
                    None => return false,
                };
                if caps & CLIENT_SSL != 0 && p.len() <= 32 {
                    // An SSLRequest: TLS follows.
                    x.count(COUNTER_TLS);
                    self.phase = Phase::Opaque;
                    return true;
                }
                let agreed = caps & self.server_caps;
                self.compress = if agreed & CLIENT_COMPRESS != 0 {
                    Compression::Zlib
                } else if agreed & CLIENT_ZSTD_COMPRESSION != 0 {
                    Compression::Zstd
                } else {
                    Compression::None
                };
                // The login is a request (DeepFlow's "Login username: U db: D"), answered by
                // the OK or ERR that ends authentication.
                if let Some(login) = parse_login(p, caps) {
                    x.request(None, captured, |row| {
                        row.request_type.push_lossy(b"Login");
                        row.request_resource.push_lossy(b"Login username: ");
                        row.request_resource.push_lossy(login.user);
                        row.request_resource.push_lossy(b" db: ");
                        row.request_resource.push_lossy(login.database);
                        row.request_domain.push_lossy(login.database);
                    });
                    self.login_pending = true;
                }
                true
            }
            Phase::Start | Phase::Commands | Phase::Compressed if seq == 0 => {
                let Some(&c) = p.first() else {
                    return false;
                };
                let Some(name) = command_name(c) else {
                    return false;
                };
                if self.phase == Phase::Start {
                    self.phase = Phase::Commands;
                }
                let body = &p[1..];
                let tags = &x.settings().tags;
                let sql_cfg = self.cfg;
                let fill = |row: &mut L7FlowLog| {
                    row.request_type.push_lossy(name.as_bytes());
                    match c {
                        COM_QUERY | COM_STMT_PREPARE => {
                            write_sql(
                                body,
                                Dialect::Mysql,
                                sql_cfg.obfuscate,
                                &mut row.request_resource,
                            );
                            if !sql_cfg.endpoint_disabled {
                                row.endpoint.push_lossy(table_of(body).unwrap_or_default());
                            }
                            // Trace ids from SQL comments (`/* traceparent: ... */`).
                            let comments = SqlComments::of(body);
                            extract(tags, true, |n| comments.value(n), row);
                        }
                        COM_INIT_DB => {
                            row.request_domain.push_lossy(body);
                            row.request_resource.push_lossy(body);
                        }
                        COM_FIELD_LIST => {
                            let table = body.split(|b| *b == 0).next().unwrap_or_default();
                            row.request_resource.push_lossy(table);
                        }
                        0x17..=0x1a | 0x1c => {
                            if let Some(id) = body.get(..4) {
                                row.request_id =
                                    Some(u32::from_le_bytes([id[0], id[1], id[2], id[3]]));
                            }
                        }
                        _ => {}
                    }
                };
                if matches!(c, COM_QUIT | COM_STMT_CLOSE | COM_STMT_SEND_LONG_DATA) {
                    x.one_way(captured, fill);
                } else {
                    let key = (self.phase == Phase::Compressed).then(|| {
                        self.cmd_key = self.cmd_key.wrapping_add(1);
                        self.sent = self.sent.saturating_add(1);
                        self.cmd_key
                    });
                    x.request(key, captured, fill);
                    if self.pending < 8 {
                        self.cmds[usize::from((self.first + self.pending) % 8)] = c;
                        self.pending += 1;
                    }
                }
                true
            }
            // Authentication exchanges, and the continuation packets of a long command.
            _ => true,
        }
    }

    /// The first packet of a reply.
    fn response(&mut self, p: &[u8], captured: u32, x: &mut Exchange<'_>) {
        let pairing = if self.phase == Phase::Compressed {
            self.reply_key = self.reply_key.wrapping_add(1);
            Pairing::Key(self.reply_key.wrapping_sub(1))
        } else {
            Pairing::Oldest
        };
        x.response(pairing, captured, |row| {
            if let Some(e) = parse_err(p) {
                row.response_code = Some(i32::from(e.code));
                let client = e.state.is_some_and(super::super::sql::is_client_error);
                row.response_status = if client {
                    ResponseStatus::ClientError
                } else {
                    ResponseStatus::ServerError
                }
                .code();
                row.response_exception.push_lossy(e.message);
                return;
            }
            row.response_status = ResponseStatus::Ok.code();
            if let Some(n) =
                parse_ok_affected(p).filter(|_| row.request_type.as_bytes() != b"Login")
            {
                row.sql_affected_rows = Some(n);
                // A prepare's OK carries the statement id.
                if row.request_type.as_bytes() == b"COM_STMT_PREPARE" {
                    if let Some(id) = p.get(1..5) {
                        row.request_id = Some(u32::from_le_bytes([id[0], id[1], id[2], id[3]]));
                        row.sql_affected_rows = None;
                    }
                }
            }
        });
    }
}
