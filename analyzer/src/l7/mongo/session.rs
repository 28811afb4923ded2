//! One MongoDB connection. Requests pair with replies by the reply's `responseTo`.
//!
//! Row fields: request_type = the command (the first key of the command document: `find`,
//! `insert`, `hello`; a legacy query on a collection is `find`, the legacy writes `insert`,
//! `update`, `delete`, `killCursors`, `getMore`; `OP_COMPRESSED` for a compressed message),
//! request_domain = the database (`$db`, or the namespace's), endpoint = the collection (the
//! command's value when it names one), request_resource = the command document as DeepFlow prints
//! it (`{ "find": "c", "filter": { ... }, "$db": "d" }`, cut at 256 bytes), request_id = the
//! message's requestID; response_result = the reply document (cut at 128 bytes). DeepFlow's own
//! request_type is the opcode name (`OP_MSG`): tapflow names the command instead.
//!
//! Errors: a reply with `ok: 0` (or a legacy reply with the QueryFailure flag) and the first of
//! its `writeErrors` / its `writeConcernError` give response_code (`code`) and
//! response_exception (`errmsg`); codes caused by the request ([`is_client_error`]: bad values,
//! parse errors, unknown commands or namespaces, authentication, duplicate keys, validation) are
//! client errors, others server errors.
//!
//! Requests without a reply (OP_MSG with moreToCome, the legacy writes) are written at once as
//! request rows. Exhaust replies after the first are counted (`l7.mongo.exhaust_replies`), not
//! written. Compressed messages (`l7.mongo.compressed`) are read as the message they carry (the
//! head of its body decompressed: snappy, zlib, zstd or none; those that do not decompress stay
//! `OP_COMPRESSED` rows, paired but not read), with the compressed message's length. A message larger
//! than the segment is read as far as it was captured (DeepFlow's payload cut) and the rest
//! skipped by its length; after a gap the direction waits for a segment that starts a message.

use super::super::decompress_zstd::ZstdHeads;
use super::super::exchange::{Exchange, Pairing};
use super::super::framing::{Framed, Sized};
use super::super::parser::{Descriptor, L7Parser, Segment, Transport};
use super::super::{Probe, ResponseStatus};
use super::bson::{cstring, render, Doc, Value};
use super::compressed::{carried, Buffer};
use super::wire::{
    looks_valid, op_msg_body, split_namespace, u32_at, Header, FLAG_MORE_TO_COME, HEADER_LEN,
    OP_COMPRESSED, OP_DELETE, OP_GET_MORE, OP_INSERT, OP_KILL_CURSORS, OP_MSG, OP_QUERY, OP_REPLY,
    OP_UPDATE, REPLY_QUERY_FAILURE,
};
use crate::record::L7FlowLog;

const COUNTER_COMPRESSED: usize = 0;
const COUNTER_EXHAUST: usize = 1;

/// MongoDB state of one connection.
#[derive(Debug, Clone, Copy, Default)]
pub struct MongoSession {
    /// Each direction's messages.
    framed: [Framed; 2],
    /// The requestID of the last exhaust reply (moreToCome): the next one answers it.
    exhaust: Option<u32>,
}

/// Error codes caused by the request rather than the server (MongoDB's `error_codes.yml`).
pub fn is_client_error(code: i64) -> bool {
    matches!(
        code,
        2 // BadValue
        | 4 // NoSuchKey
        | 9 // FailedToParse
        | 11 // UserNotFound
        | 13 // Unauthorized
        | 14 // TypeMismatch
        | 18 // AuthenticationFailed
        | 26 // NamespaceNotFound
        | 27 // IndexNotFound
        | 40 // ConflictingUpdateOperators
        | 48 // NamespaceExists
        | 52 // DollarPrefixedFieldName
        | 59 // CommandNotFound
        | 66 // ImmutableField
        | 67 // CannotCreateIndex
        | 72 // InvalidOptions
        | 73 // InvalidNamespace
        | 85 // IndexOptionsConflict
        | 86 // IndexKeySpecsConflict
        | 121 // DocumentValidationFailure
        | 11000 // DuplicateKey
        | 11001 // legacy DuplicateKey
    )
}

/// The error a reply document reports: (code, message).
fn reply_error<'a>(doc: &Doc<'a>, failed: bool) -> Option<(Option<i64>, &'a [u8])> {
    let fields = |d: &Doc<'a>| {
        let code = d.get(b"code").and_then(|v| v.as_i64());
        let msg = match d.get(b"errmsg").or_else(|| d.get(b"$err")) {
            Some(Value::Str(s)) => s,
            _ => &[][..],
        };
        (code, msg)
    };
    let not_ok = doc.get(b"ok").and_then(|v| v.as_i64()) == Some(0);
    if failed || not_ok {
        return Some(fields(doc));
    }
    if let Some(Value::Array(errors)) = doc.get(b"writeErrors") {
        if let Some((_, Value::Doc(first))) = errors.first() {
            return Some(fields(&first));
        }
    }
    if let Some(Value::Doc(wce)) = doc.get(b"writeConcernError") {
        return Some(fields(&wce));
    }
    None
}

fn fill_response(row: &mut L7FlowLog, doc: Option<Doc<'_>>, failed: bool) {
    row.response_status = ResponseStatus::Ok.code();
    let Some(doc) = doc else {
        return;
    };
    render(&doc, &mut row.response_result);
    if let Some((code, msg)) = reply_error(&doc, failed) {
        row.response_code = code.map(|c| c as i32);
        row.response_exception.push_lossy(msg);
        row.response_status = if code.is_some_and(is_client_error) {
            ResponseStatus::ClientError
        } else {
            ResponseStatus::ServerError
        }
        .code();
    }
}

/// A command document: the command, its collection, its database.
fn fill_command(row: &mut L7FlowLog, doc: &Doc<'_>, db: Option<&[u8]>) {
    // A legacy wrapped query: `{ $query: { count: "c" }, $readPreference: ... }`.
    let inner = match doc.first() {
        Some((b"$query" | b"query", Value::Doc(d))) => d,
        _ => *doc,
    };
    if let Some((command, value)) = inner.first() {
        row.request_type.push_lossy(command);
        if let Value::Str(coll) = value {
            row.endpoint.push_lossy(coll);
        }
    }
    let db = match doc.get(b"$db") {
        Some(Value::Str(d)) => Some(d),
        _ => db,
    };
    if let Some(d) = db {
        row.request_domain.push_lossy(d);
    }
    render(doc, &mut row.request_resource);
}

/// A legacy message naming a namespace after 4 bytes (OP_INSERT's flags, the others' zero).
fn fill_namespace(row: &mut L7FlowLog, msg: &[u8], name: &[u8]) {
    row.request_type.push_lossy(name);
    if let Some((ns, _)) = msg.get(HEADER_LEN + 4..).and_then(cstring) {
        let (db, coll) = split_namespace(ns);
        row.request_domain.push_lossy(db);
        row.endpoint.push_lossy(coll);
        row.request_resource.push_lossy(ns);
    }
}

impl L7Parser for MongoSession {
    const DESC: Descriptor = Descriptor {
        enabled_by_default: false,
        counters: &["l7.mongo.compressed", "l7.mongo.exhaust_replies"],
        ..Descriptor::tcp(81, "MongoDB")
    };
    type Config = ();

    fn probe(payload: &[u8], _: Transport) -> Probe {
        match looks_valid(payload) {
            Some(true) => Probe::Certain,
            None => Probe::Unsure,
            Some(false) => Probe::NotForUs,
        }
    }

    fn sent_by_client(payload: &[u8], _: Transport) -> Option<bool> {
        Header::parse(payload).map(|h| h.from_client())
    }

    fn on_data(&mut self, _: &(), seg: Segment<'_>, x: &mut Exchange<'_>) -> usize {
        let d = seg.dir();
        let from_client = seg.from_client;
        let mut framed = self.framed[d];
        let read = |b: &[u8]| {
            Header::parse(b).map(|h| Sized {
                header: h,
                wanted: h.len as usize,
                total: h.len as usize,
            })
        };
        let used = framed.walk(
            seg.data,
            seg.hold,
            HEADER_LEN,
            x,
            read,
            |h| h.from_client() == from_client,
            |h, msg, at, x| self.message(from_client, h, msg, at, x),
        );
        self.framed[d] = framed;
        used
    }

    fn on_gap(&mut self, dir: usize, _: &mut Exchange<'_>) {
        self.framed[dir].lost();
        if dir == 1 {
            self.exhaust = None;
        }
    }
}

impl MongoSession {
    /// A message (`msg`: as far as it was captured) first seen at `at` (time, TCP sequence
    /// number); a compressed one is read as the message it carries.
    fn message(
        &mut self,
        from_client: bool,
        h: Header,
        msg: &[u8],
        at: (u64, u32),
        x: &mut Exchange<'_>,
    ) {
        let captured = msg.len() as u32;
        // Zeroed only for compressed messages.
        let mut buf: Buffer;
        let (h, msg) = if h.opcode == OP_COMPRESSED {
            x.count(COUNTER_COMPRESSED);
            buf = [0; std::mem::size_of::<Buffer>()];
            open(msg, &mut buf, x.zstd()).unwrap_or((h, msg))
        } else {
            (h, msg)
        };
        if from_client {
            self.request(h, msg, captured, at, x);
        } else {
            self.reply(h, msg, captured, at, x);
        }
    }

    /// A request (`msg`: as far as it was captured, or as it was carried compressed).
    fn request(
        &mut self,
        h: Header,
        msg: &[u8],
        captured: u32,
        (ts, seq): (u64, u32),
        x: &mut Exchange<'_>,
    ) {
        let key = Some(h.request_id);
        match h.opcode {
            OP_MSG => {
                let body = op_msg_body(msg);
                let fill = |row: &mut L7FlowLog| {
                    row.request_id = Some(h.request_id);
                    match &body {
                        Some((_, doc)) => fill_command(row, doc, None),
                        None => row.request_type.push_lossy(b"OP_MSG"),
                    }
                };
                let more_to_come = body.is_some_and(|(f, _)| f & FLAG_MORE_TO_COME != 0);
                if more_to_come {
                    x.one_way(captured, fill);
                } else {
                    x.request_at(ts, seq, key, captured, fill);
                }
            }
            OP_QUERY => {
                x.request_at(ts, seq, key, captured, |row| {
                    row.request_id = Some(h.request_id);
                    let Some((ns, after)) = msg.get(HEADER_LEN + 4..).and_then(cstring) else {
                        row.request_type.push_lossy(b"OP_QUERY");
                        return;
                    };
                    let (db, coll) = split_namespace(ns);
                    let query = after.get(8..).and_then(Doc::parse);
                    if coll == b"$cmd" {
                        match query {
                            Some(q) => fill_command(row, &q, Some(db)),
                            None => row.request_type.push_lossy(b"OP_QUERY"),
                        }
                    } else {
                        row.request_type.push_lossy(b"find");
                        row.request_domain.push_lossy(db);
                        row.endpoint.push_lossy(coll);
                        if let Some(q) = query {
                            render(&q, &mut row.request_resource);
                        }
                    }
                });
            }
            OP_GET_MORE => {
                x.request_at(ts, seq, key, captured, |row| {
                    row.request_id = Some(h.request_id);
                    fill_namespace(row, msg, b"getMore");
                });
            }
            // Not read (a body that does not decompress, an unknown compressor).
            OP_COMPRESSED => {
                x.request_at(ts, seq, key, captured, |row| {
                    row.request_id = Some(h.request_id);
                    row.request_type.push_lossy(b"OP_COMPRESSED");
                });
            }
            OP_INSERT | OP_UPDATE | OP_DELETE | OP_KILL_CURSORS => {
                let name: &[u8] = match h.opcode {
                    OP_INSERT => b"insert",
                    OP_UPDATE => b"update",
                    OP_DELETE => b"delete",
                    _ => b"killCursors",
                };
                x.one_way(captured, |row| {
                    row.request_id = Some(h.request_id);
                    if h.opcode == OP_KILL_CURSORS {
                        row.request_type.push_lossy(name);
                    } else {
                        fill_namespace(row, msg, name);
                    }
                });
            }
            // A reply opcode from the client: not MongoDB as we know it.
            _ => x.parse_error(),
        }
    }

    /// A reply (`msg`: as far as it was captured, or as it was carried compressed).
    fn reply(
        &mut self,
        h: Header,
        msg: &[u8],
        captured: u32,
        (ts, seq): (u64, u32),
        x: &mut Exchange<'_>,
    ) {
        let (doc, failed, more_to_come) = match h.opcode {
            OP_MSG => match op_msg_body(msg) {
                Some((flags, doc)) => (Some(doc), false, flags & FLAG_MORE_TO_COME != 0),
                None => (None, false, false),
            },
            OP_REPLY => {
                let flags = u32_at(msg, HEADER_LEN).unwrap_or(0);
                let doc = msg.get(HEADER_LEN + 20..).and_then(Doc::parse);
                (doc, flags & REPLY_QUERY_FAILURE != 0, false)
            }
            OP_COMPRESSED => (None, false, false),
            _ => {
                x.parse_error();
                return;
            }
        };
        if self.exhaust.is_some() && self.exhaust == Some(h.response_to) {
            // The rest of an exhaust cursor's stream: the first reply answered the request.
            x.count(COUNTER_EXHAUST);
        } else {
            x.response_at(ts, seq, Pairing::Key(h.response_to), captured, |row| {
                fill_response(row, doc, failed);
                if row.request_type.is_empty() {
                    row.request_id = Some(h.response_to);
                }
            });
        }
        self.exhaust = more_to_come.then_some(h.request_id);
    }
}

/// The message a compressed one carries, and its header: None when it is not read (a body that
/// does not decompress, a carried header that is not a message's).
fn open<'a>(msg: &[u8], buf: &'a mut Buffer, zstd: &mut ZstdHeads) -> Option<(Header, &'a [u8])> {
    let inner = carried(msg, buf, zstd)?;
    let h = Header::parse(inner).filter(|h| h.opcode != OP_COMPRESSED)?;
    Some((h, inner))
}
