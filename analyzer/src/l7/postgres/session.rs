//! One PostgreSQL connection. The client's messages form cycles: a simple Query is one, and in
//! the extended protocol everything up to a Sync (Parse, Bind, Describe, Execute, ...) is one;
//! each cycle is a request. The server's messages up to ReadyForQuery are its response (paired in
//! order, so pipelined cycles pair), written when ReadyForQuery arrives with RRT to the reply's
//! first message; DataRows and COPY data are skipped without being held.
//!
//! Row fields (`deepflow-facts.md` section 4.5, DeepFlow's parser): request_type = the message
//! type of the request as DeepFlow names it (`Q` simple query, `P` a cycle that parses a
//! statement, `E` one that executes a prepared one, `X` terminate), request_resource = the SQL
//! text (Query, Parse), request_domain = the database of the startup message; sql_affected_rows
//! = the number in the CommandComplete tag (`INSERT 0 5`, `SELECT 10`); an ErrorResponse makes a
//! client error when its SQLSTATE class is caused by the request (`l7/sql.rs`), else a server
//! error, with `<SQLSTATE> <message>` in response_exception. An SSLRequest answered 'S' ends
//! parsing (`l7.pgsql.tls`); answered 'N', the plaintext startup follows.

use super::super::exchange::{Exchange, Pairing, RequestId};
use super::super::framing::Skip;
use super::super::parser::{Descriptor, L7Parser, Segment, Transport};
use super::super::sql::{is_client_error, looks_like_sql, table_of, write_sql, Dialect, SqlConfig};
use super::super::tags::{extract, SqlComments};
use super::super::{Probe, ResponseStatus};
use super::wire::{
    error_fields, header, is_backend, is_frontend, startup_header, startup_param, tag_rows,
    GSSENC_REQUEST, HEADER_LEN, PROTOCOL_3, SSL_REQUEST,
};
use crate::inline::InlineBytes;
use crate::record::L7FlowLog;

const COUNTER_TLS: usize = 0;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Phase {
    /// The client's untagged startup-phase message comes first (or the capture joined later).
    #[default]
    Start,
    /// An SSLRequest / GSSENCRequest waits for its one-byte answer.
    EncryptionAnswer,
    /// Tagged messages.
    Messages,
    /// TLS took over: not parsed.
    Opaque,
}

/// The reply being read.
#[derive(Debug, Clone, Copy, Default)]
struct Reply {
    head_ns: u64,
    head_seq: u32,
    bytes: u32,
    started: bool,
    error: Option<bool>,
    exception: InlineBytes<64>,
    rows: Option<u64>,
}

/// PostgreSQL state of one connection.
#[derive(Debug, Clone, Copy, Default)]
pub struct PostgresSession {
    /// Bytes of the current message still to skip, per direction.
    skip: [Skip; 2],
    phase: Phase,
    /// The client's cycle being built (until Sync): its request row and the type written.
    open: Option<(RequestId, u8)>,
    /// Cycles sent whose ReadyForQuery has not come yet.
    pending: u8,
    reply: Reply,
    database: InlineBytes<64>,
    /// Bytes of this direction were lost: wait for a segment that starts a message.
    resync: [bool; 2],
    /// The protocol's config, as of the last segment.
    cfg: SqlConfig,
}

/// The query of a Parse body (`statement\0query\0...`).
fn parse_query(body: &[u8]) -> &[u8] {
    body.split(|b| *b == 0).nth(1).unwrap_or_default()
}

fn cstr(body: &[u8]) -> &[u8] {
    body.split(|b| *b == 0).next().unwrap_or_default()
}

impl L7Parser for PostgresSession {
    const DESC: Descriptor = Descriptor {
        // Not in DeepFlow's default enabled_protocols.
        enabled_by_default: false,
        counters: &["l7.pgsql.tls"],
        ..Descriptor::tcp(61, "PostgreSQL")
    };
    type Config = SqlConfig;

    fn probe(b: &[u8], _: Transport) -> Probe {
        if let Some((_, code)) = startup_header(b) {
            return match code {
                PROTOCOL_3
                    if b.get(8..).is_some_and(|p| {
                        p.starts_with(b"user\0") || p.starts_with(b"database\0")
                    }) =>
                {
                    Probe::Certain
                }
                SSL_REQUEST | GSSENC_REQUEST if b.len() == 8 => Probe::Certain,
                _ => Probe::NotForUs,
            };
        }
        match header(b) {
            Some((b'Q', len)) if len as usize + HEADER_LEN >= b.len() => {
                if looks_like_sql(&b[HEADER_LEN..]) {
                    Probe::Certain
                } else {
                    Probe::NotForUs
                }
            }
            Some((b'P', _)) if looks_like_sql(parse_query(&b[HEADER_LEN..])) => Probe::Certain,
            _ => Probe::NotForUs,
        }
    }

    fn sent_by_client(b: &[u8], _: Transport) -> Option<bool> {
        if startup_header(b).is_some() {
            return Some(true);
        }
        match header(b)?.0 {
            b'Q' | b'P' | b'B' | b'X' => Some(true),
            b'R' | b'Z' | b'T' | b'K' | b'1' | b'2' => Some(false),
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
        if self.resync[d] {
            let ok = match header(data) {
                Some((t, _)) if seg.from_client => matches!(t, b'Q' | b'P' | b'B'),
                Some((t, _)) => t == b'Z' || t == b'T' || t == b'1' || t == b'C',
                None => false,
            };
            if !ok {
                return data.len();
            }
            self.resync[d] = false;
        }
        let mut at = 0;
        while at < data.len() && self.phase != Phase::Opaque {
            if !self.skip[d].is_done() {
                at += self.skip[d].take(data.len() - at);
                continue;
            }
            let rest = &data[at..];
            let used = if seg.from_client {
                self.client(rest, seg.hold, x)
            } else {
                self.server(rest, seg.hold, x)
            };
            match used {
                Some((0, _)) => return at,
                Some((n, skip)) => {
                    at += n;
                    self.skip[d] = Skip(u64::from(skip));
                }
                None => {
                    x.parse_error();
                    self.resync[d] = true;
                    self.skip[d] = Skip(0);
                    return data.len();
                }
            }
        }
        if self.phase == Phase::Opaque {
            return data.len();
        }
        at
    }

    fn on_gap(&mut self, dir: usize, _: &mut Exchange<'_>) {
        self.skip[dir] = Skip(0);
        self.resync[dir] = true;
    }
}

/// How much of a message of `total` bytes to have before handling it: the whole message up to
/// what can be held when its body is read, else just the header.
fn want(total: usize, body_needed: bool, hold: usize, header: usize) -> usize {
    if body_needed {
        total.min(hold.max(header))
    } else {
        header
    }
}

impl PostgresSession {
    /// One client message at the start of `rest`: Some((bytes consumed, bytes left to skip)),
    /// Some((0, _)) when more bytes are needed, None when it is not PostgreSQL.
    fn client(&mut self, rest: &[u8], hold: usize, x: &mut Exchange<'_>) -> Option<(usize, u32)> {
        if self.phase == Phase::Start {
            if let Some((len, code)) = startup_header(rest) {
                let total = 8 + len as usize;
                if rest.len() < want(total, true, hold, 8) {
                    return Some((0, 0));
                }
                let used = rest.len().min(total);
                match code {
                    PROTOCOL_3 => {
                        let body = &rest[8..used];
                        let db = startup_param(body, b"database")
                            .or_else(|| startup_param(body, b"user"));
                        self.database = InlineBytes::from_slice(db.unwrap_or_default());
                        self.phase = Phase::Messages;
                    }
                    SSL_REQUEST | GSSENC_REQUEST => self.phase = Phase::EncryptionAnswer,
                    _ => {}
                }
                return Some((used, (total - used) as u32));
            }
        }
        let Some((t, len)) = header(rest) else {
            return (rest.len() < HEADER_LEN).then_some((0, 0));
        };
        if !is_frontend(t) {
            return None;
        }
        self.phase = Phase::Messages;
        let total = HEADER_LEN + len as usize;
        if rest.len() < want(total, matches!(t, b'Q' | b'P'), hold, HEADER_LEN) {
            return Some((0, 0));
        }
        let used = rest.len().min(total);
        let body = &rest[HEADER_LEN..used];
        let db = self.database;
        let tags = &x.settings().tags;
        let sql_cfg = self.cfg;
        let sql = |row: &mut L7FlowLog, text: &[u8]| {
            write_sql(
                text,
                Dialect::Postgres,
                sql_cfg.obfuscate,
                &mut row.request_resource,
            );
            if !sql_cfg.endpoint_disabled {
                row.endpoint.push_lossy(table_of(text).unwrap_or_default());
            }
        };
        // Trace ids from SQL comments (`/* traceparent: ... */`).
        let trace = |row: &mut L7FlowLog, sql: &[u8]| {
            let comments = SqlComments::of(sql);
            extract(tags, true, |n| comments.value(n), row);
        };
        match t {
            b'Q' => {
                self.close_cycle();
                x.request(None, used as u32, |row| {
                    row.request_type.push_lossy(b"Q");
                    sql(row, cstr(body));
                    row.request_domain.push_lossy(db.as_bytes());
                    trace(row, cstr(body));
                });
                self.pending = self.pending.saturating_add(1);
            }
            b'P' | b'B' | b'D' | b'E' | b'C' | b'H' | b'F' => {
                let typ = t;
                match self.open {
                    None => {
                        let id = x.request(None, used as u32, |row| {
                            row.request_type.push_lossy(&[typ]);
                            if t == b'P' {
                                sql(row, parse_query(body));
                                trace(row, parse_query(body));
                            }
                            row.request_domain.push_lossy(db.as_bytes());
                        });
                        self.open = Some((id, typ));
                    }
                    // A Parse makes the cycle a "P" with its SQL; an Execute an "E" unless it
                    // parsed.
                    Some((id, cur))
                        if (t == b'P' && cur != b'P')
                            || (t == b'E' && cur != b'P' && cur != b'E') =>
                    {
                        x.update_request(id, |row| {
                            row.request_type.clear();
                            row.request_type.push_lossy(&[typ]);
                            if t == b'P' {
                                sql(row, parse_query(body));
                                trace(row, parse_query(body));
                            }
                        });
                        self.open = Some((id, typ));
                    }
                    Some(_) => {}
                }
            }
            b'S' => self.close_cycle(),
            b'X' => {
                self.close_cycle();
                x.one_way(used as u32, |row| {
                    row.request_type.push_lossy(b"X");
                    row.request_domain.push_lossy(db.as_bytes());
                });
            }
            // COPY data from the client, password messages.
            _ => {}
        }
        Some((used, (total - used) as u32))
    }

    /// A Sync (or a Query) ends the cycle being built: its reply ends with ReadyForQuery.
    fn close_cycle(&mut self) {
        if self.open.take().is_some() {
            self.pending = self.pending.saturating_add(1);
        }
    }

    /// One server message (same contract as [`Self::client`]).
    fn server(&mut self, rest: &[u8], hold: usize, x: &mut Exchange<'_>) -> Option<(usize, u32)> {
        if self.phase == Phase::EncryptionAnswer {
            return match rest[0] {
                b'S' | b'G' => {
                    x.count(COUNTER_TLS);
                    self.phase = Phase::Opaque;
                    Some((1, 0))
                }
                b'N' => {
                    self.phase = Phase::Start;
                    Some((1, 0))
                }
                _ => None,
            };
        }
        let Some((t, len)) = header(rest) else {
            return (rest.len() < HEADER_LEN).then_some((0, 0));
        };
        if !is_backend(t) {
            return None;
        }
        let total = HEADER_LEN + len as usize;
        if rest.len() < want(total, matches!(t, b'C' | b'E'), hold, HEADER_LEN) {
            return Some((0, 0));
        }
        let used = rest.len().min(total);
        let body = &rest[HEADER_LEN..used];
        let awaited = self.pending > 0 || self.open.is_some();
        if awaited && !self.reply.started {
            self.reply = Reply {
                head_ns: x.now_ns(),
                head_seq: x.tcp_seq(),
                started: true,
                ..Reply::default()
            };
        }
        if self.reply.started {
            self.reply.bytes = self.reply.bytes.saturating_add(used as u32);
        }
        match t {
            b'C' if self.reply.started => self.reply.rows = tag_rows(body),
            b'E' if self.reply.started => {
                let (state, message) = error_fields(body);
                let r = &mut self.reply;
                r.error = Some(state.is_some_and(is_client_error));
                r.exception = InlineBytes::EMPTY;
                if let Some(s) = state {
                    r.exception.push_lossy(s);
                    r.exception.push_lossy(b" ");
                }
                r.exception.push_lossy(message);
            }
            b'Z' if self.pending > 0 => {
                self.pending -= 1;
                let r = std::mem::take(&mut self.reply);
                x.response_at(r.head_ns, r.head_seq, Pairing::Oldest, r.bytes, |row| {
                    row.response_status = match r.error {
                        None => ResponseStatus::Ok,
                        Some(true) => ResponseStatus::ClientError,
                        Some(false) => ResponseStatus::ServerError,
                    }
                    .code();
                    row.response_exception.push_lossy(r.exception.as_bytes());
                    row.sql_affected_rows = r.rows;
                });
            }
            _ => {}
        }
        Some((used, (total - used) as u32))
    }
}
