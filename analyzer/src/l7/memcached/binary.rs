//! The memcached binary protocol: the 24-byte header of requests and responses, opcode and
//! status names (<https://github.com/memcached/memcached/wiki/BinaryProtocolRevamped>).

pub const HEADER_LEN: usize = 24;
pub const MAGIC_REQUEST: u8 = 0x80;
pub const MAGIC_RESPONSE: u8 = 0x81;

/// A request or response header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub magic: u8,
    pub opcode: u8,
    pub key_len: u16,
    pub extras_len: u8,
    /// Responses: the status; requests: the vbucket.
    pub status: u16,
    pub body_len: u32,
    pub opaque: u32,
}

impl Header {
    /// The header at the start of `b`, when it is one (magic, data type 0, lengths that fit).
    pub fn parse(b: &[u8]) -> Option<Header> {
        let h = b.get(..HEADER_LEN)?;
        let u16_at = |i: usize| u16::from_be_bytes([h[i], h[i + 1]]);
        let u32_at = |i: usize| u32::from_be_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        let hdr = Header {
            magic: h[0],
            opcode: h[1],
            key_len: u16_at(2),
            extras_len: h[4],
            status: u16_at(6),
            body_len: u32_at(8),
            opaque: u32_at(12),
        };
        let fits = u32::from(hdr.key_len) + u32::from(hdr.extras_len) <= hdr.body_len;
        let known = matches!(hdr.magic, MAGIC_REQUEST | MAGIC_RESPONSE) && h[5] == 0;
        (fits && known && hdr.body_len <= super::text::MAX_DATA as u32).then_some(hdr)
    }

    /// The key (the part of it in `b`), after header and extras.
    pub fn key<'a>(&self, b: &'a [u8]) -> &'a [u8] {
        let at = HEADER_LEN + usize::from(self.extras_len);
        let end = (at + usize::from(self.key_len)).min(b.len());
        b.get(at..end).unwrap_or_default()
    }

    /// The whole message: header and body.
    pub fn total_len(&self) -> u64 {
        HEADER_LEN as u64 + u64::from(self.body_len)
    }
}

/// Quiet opcodes: the server answers only errors (and, for the gets, hits).
pub fn is_quiet(opcode: u8) -> bool {
    matches!(
        opcode,
        0x09 | 0x0d | 0x11..=0x1a | 0x1e | 0x25 | 0x26 | 0x28 | 0x29 | 0x2a
    )
}

/// The opcode's name (`Get`, `SetQ`, ...); None for one this table lacks.
pub fn opcode_name(op: u8) -> Option<&'static str> {
    const NAMES: [&str; 0x1f] = [
        "Get",
        "Set",
        "Add",
        "Replace",
        "Delete",
        "Increment",
        "Decrement",
        "Quit",
        "Flush",
        "GetQ",
        "Noop",
        "Version",
        "GetK",
        "GetKQ",
        "Append",
        "Prepend",
        "Stat",
        "SetQ",
        "AddQ",
        "ReplaceQ",
        "DeleteQ",
        "IncrementQ",
        "DecrementQ",
        "QuitQ",
        "FlushQ",
        "AppendQ",
        "PrependQ",
        "Verbosity",
        "Touch",
        "GAT",
        "GATQ",
    ];
    match op {
        0x20 => Some("SASLListMechs"),
        0x21 => Some("SASLAuth"),
        0x22 => Some("SASLStep"),
        _ => NAMES.get(usize::from(op)).copied(),
    }
}

/// A response status: its name and DeepFlow class (None = ok). A miss, an existing key and an
/// item not stored are answers, not errors.
pub fn status_class(status: u16) -> (&'static str, Option<bool>) {
    // Some(true): client error, Some(false): server error.
    match status {
        0x00 => ("No error", None),
        0x01 => ("Key not found", None),
        0x02 => ("Key exists", None),
        0x03 => ("Value too large", Some(true)),
        0x04 => ("Invalid arguments", Some(true)),
        0x05 => ("Item not stored", None),
        0x06 => ("Incr/Decr on non-numeric value", Some(true)),
        0x07 => ("The vbucket belongs to another server", Some(false)),
        0x08 => ("Authentication error", Some(true)),
        0x09 => ("Authentication continue", None),
        0x20 => ("Authentication error", Some(true)),
        0x81 => ("Unknown command", Some(true)),
        0x82 => ("Out of memory", Some(false)),
        0x83 => ("Not supported", Some(true)),
        0x84 => ("Internal error", Some(false)),
        0x85 => ("Busy", Some(false)),
        0x86 => ("Temporary failure", Some(false)),
        _ => ("Unknown status", Some(false)),
    }
}
