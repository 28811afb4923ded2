//! The MongoDB wire protocol: the 16-byte message header and the bodies tapflow reads (OP_MSG,
//! the legacy OP_QUERY / OP_REPLY / OP_GET_MORE and fire-and-forget writes, OP_COMPRESSED).
//! Decoders take the message's bytes as far as they were captured.

use super::bson::{cstring, is_element_type, Doc};

pub const HEADER_LEN: usize = 16;
/// Largest message a server accepts (`maxMessageSizeBytes`, 48 MB).
pub const MAX_MESSAGE_LEN: u32 = 48_000_000;

pub const OP_REPLY: i32 = 1;
pub const OP_UPDATE: i32 = 2001;
pub const OP_INSERT: i32 = 2002;
pub const OP_QUERY: i32 = 2004;
pub const OP_GET_MORE: i32 = 2005;
pub const OP_DELETE: i32 = 2006;
pub const OP_KILL_CURSORS: i32 = 2007;
pub const OP_COMPRESSED: i32 = 2012;
pub const OP_MSG: i32 = 2013;

/// OP_MSG flag bits.
pub const FLAG_CHECKSUM_PRESENT: u32 = 1;
pub const FLAG_MORE_TO_COME: u32 = 2;
const FLAG_EXHAUST_ALLOWED: u32 = 1 << 16;
/// OP_REPLY flag: the query failed (the document holds `$err`).
pub const REPLY_QUERY_FAILURE: u32 = 2;

/// The standard message header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The whole message, header included.
    pub len: u32,
    pub request_id: u32,
    pub response_to: u32,
    pub opcode: i32,
}

impl Header {
    /// A header with a plausible length and a known opcode.
    pub fn parse(b: &[u8]) -> Option<Header> {
        let len = u32_at(b, 0)?;
        let h = Header {
            len,
            request_id: u32_at(b, 4)?,
            response_to: u32_at(b, 8)?,
            opcode: u32_at(b, 12)? as i32,
        };
        let min = HEADER_LEN as u32 + 4;
        ((min..=MAX_MESSAGE_LEN).contains(&len) && opcode_name(h.opcode).is_some()).then_some(h)
    }

    /// Sent by a client (requests and the legacy writes), judging by the opcode and responseTo.
    pub fn from_client(&self) -> bool {
        match self.opcode {
            OP_REPLY => false,
            OP_MSG | OP_COMPRESSED => self.response_to == 0,
            _ => true,
        }
    }
}

pub fn opcode_name(op: i32) -> Option<&'static str> {
    Some(match op {
        OP_REPLY => "OP_REPLY",
        OP_UPDATE => "OP_UPDATE",
        OP_INSERT => "OP_INSERT",
        OP_QUERY => "OP_QUERY",
        OP_GET_MORE => "OP_GET_MORE",
        OP_DELETE => "OP_DELETE",
        OP_KILL_CURSORS => "OP_KILL_CURSORS",
        OP_COMPRESSED => "OP_COMPRESSED",
        OP_MSG => "OP_MSG",
        _ => return None,
    })
}

pub fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The body document (section kind 0) of an OP_MSG whose captured bytes are `msg` (header
/// included), and its flags. Document sequences (kind 1) before it are skipped.
pub fn op_msg_body(msg: &[u8]) -> Option<(u32, Doc<'_>)> {
    let flags = u32_at(msg, HEADER_LEN)?;
    let mut at = HEADER_LEN + 4;
    loop {
        match *msg.get(at)? {
            0 => return Some((flags, Doc::parse(msg.get(at + 1..)?)?)),
            1 => {
                let size = u32_at(msg, at + 1)? as usize;
                if size < 5 {
                    return None;
                }
                at += 1 + size;
            }
            _ => return None,
        }
    }
}

/// Does `msg` (a header and what follows) read as a MongoDB message up to where it can be
/// checked? None: too few bytes to tell.
pub fn looks_valid(msg: &[u8]) -> Option<bool> {
    if msg.len() < HEADER_LEN {
        // The length and opcode fields must already make sense where present.
        let len_ok = u32_at(msg, 0).is_none_or(|l| (20..=MAX_MESSAGE_LEN).contains(&l));
        return if len_ok { None } else { Some(false) };
    }
    let Some(h) = Header::parse(msg) else {
        return Some(false);
    };
    let len = h.len as usize;
    // Fields after the header: enough of them to check the first document's head.
    let doc_at = match h.opcode {
        OP_MSG => {
            let flags = u32_at(msg, HEADER_LEN)?;
            let known = FLAG_CHECKSUM_PRESENT | FLAG_MORE_TO_COME | FLAG_EXHAUST_ALLOWED;
            if flags & !known != 0 {
                return Some(false);
            }
            match *msg.get(HEADER_LEN + 4)? {
                0 => HEADER_LEN + 5,
                // A document sequence: size, then an identifier.
                1 => {
                    let size = u32_at(msg, HEADER_LEN + 5)?;
                    if size < 5 || HEADER_LEN + 5 + size as usize > len {
                        return Some(false);
                    }
                    return Some(true);
                }
                _ => return Some(false),
            }
        }
        OP_QUERY => {
            let name = msg.get(HEADER_LEN + 4..)?;
            match cstring(name) {
                Some((ns, _)) if ns.contains(&b'.') && ns.iter().all(|c| c.is_ascii_graphic()) => {
                    HEADER_LEN + 4 + ns.len() + 1 + 8
                }
                Some(_) => return Some(false),
                None if name.len() < 128 => return None,
                None => return Some(false),
            }
        }
        OP_REPLY => HEADER_LEN + 20,
        OP_COMPRESSED => {
            let original = u32_at(msg, HEADER_LEN)?;
            let ok = opcode_name(original as i32).is_some() && original as i32 != OP_COMPRESSED;
            return Some(ok);
        }
        // The legacy writes: a namespace after 4 bytes.
        _ => return Some(msg.len() >= HEADER_LEN + 4),
    };
    let doc_len = u32_at(msg, doc_at)?;
    if doc_len < 5 || doc_at + doc_len as usize > len {
        return Some(false);
    }
    if doc_len == 5 {
        return Some(true);
    }
    msg.get(doc_at + 4).map(|k| is_element_type(*k))
}

/// The database and collection of a namespace (`db.collection`).
pub fn split_namespace(ns: &[u8]) -> (&[u8], &[u8]) {
    match ns.iter().position(|c| *c == b'.') {
        Some(dot) => (&ns[..dot], &ns[dot + 1..]),
        None => (ns, &[]),
    }
}
