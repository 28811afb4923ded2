//! MQTT 3.1, 3.1.1 and 5.0 control packets (OASIS MQTT 3.1.1 section 2-3, MQTT 5.0 section 2-3):
//! the fixed header (type, flags, remaining length) and the fields tapflow reports of each packet.
//! Bounded reads only: a packet cut by the capture gives what was read, never a panic.

pub const CONNECT: u8 = 1;
pub const CONNACK: u8 = 2;
pub const PUBLISH: u8 = 3;
pub const PUBACK: u8 = 4;
pub const PUBREC: u8 = 5;
pub const PUBREL: u8 = 6;
pub const PUBCOMP: u8 = 7;
pub const SUBSCRIBE: u8 = 8;
pub const SUBACK: u8 = 9;
pub const UNSUBSCRIBE: u8 = 10;
pub const UNSUBACK: u8 = 11;
pub const PINGREQ: u8 = 12;
pub const PINGRESP: u8 = 13;
pub const DISCONNECT: u8 = 14;
pub const AUTH: u8 = 15;

/// Protocol level of MQTT 5.0 (3 = 3.1, 4 = 3.1.1).
pub const V5: u8 = 5;
/// Largest remaining length the encoding allows (256 MiB - 1).
pub const MAX_REMAINING: u32 = 268_435_455;

/// The packet type's name, as the specification spells it.
pub fn type_name(t: u8) -> &'static str {
    match t {
        CONNECT => "CONNECT",
        CONNACK => "CONNACK",
        PUBLISH => "PUBLISH",
        PUBACK => "PUBACK",
        PUBREC => "PUBREC",
        PUBREL => "PUBREL",
        PUBCOMP => "PUBCOMP",
        SUBSCRIBE => "SUBSCRIBE",
        SUBACK => "SUBACK",
        UNSUBSCRIBE => "UNSUBSCRIBE",
        UNSUBACK => "UNSUBACK",
        PINGREQ => "PINGREQ",
        PINGRESP => "PINGRESP",
        DISCONNECT => "DISCONNECT",
        _ => "AUTH",
    }
}

/// The fixed header of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedHeader {
    pub kind: u8,
    pub flags: u8,
    /// Bytes after the fixed header.
    pub remaining: u32,
    /// Length of the fixed header (2 to 5 bytes).
    pub header_len: usize,
}

/// Result of reading a fixed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Head {
    Ok(FixedHeader),
    /// The bytes end inside the header.
    Short,
    /// Not an MQTT fixed header (reserved type, wrong flags, bad length encoding).
    Invalid,
}

impl FixedHeader {
    pub fn read(b: &[u8]) -> Head {
        let Some(&first) = b.first() else {
            return Head::Short;
        };
        let (kind, flags) = (first >> 4, first & 0x0f);
        // Flags are fixed for every type but PUBLISH (section 2.2.2).
        let flags_ok = match kind {
            0 => false,
            PUBLISH => flags & 0x06 != 0x06,
            PUBREL | SUBSCRIBE | UNSUBSCRIBE => flags == 0x02,
            _ => flags == 0,
        };
        if !flags_ok {
            return Head::Invalid;
        }
        let mut remaining = 0u32;
        for i in 0..4 {
            let Some(&c) = b.get(1 + i) else {
                return Head::Short;
            };
            remaining |= u32::from(c & 0x7f) << (7 * i);
            if c & 0x80 == 0 {
                // A multi-byte length must not end in a zero byte (non-minimal encodings are
                // malformed only in 5.0, but no client sends them).
                if i > 0 && c == 0 {
                    return Head::Invalid;
                }
                return Head::Ok(FixedHeader {
                    kind,
                    flags,
                    remaining,
                    header_len: 2 + i,
                });
            }
        }
        Head::Invalid
    }

    pub fn total_len(&self) -> usize {
        self.header_len + self.remaining as usize
    }

    /// PUBLISH: the QoS (0, 1 or 2).
    pub fn qos(&self) -> u8 {
        (self.flags >> 1) & 0x03
    }

    /// The packet comes only from a client (Some(true)), only from a server (Some(false)), or
    /// from either (None).
    pub fn from_client(&self) -> Option<bool> {
        match self.kind {
            CONNECT | SUBSCRIBE | UNSUBSCRIBE | PINGREQ => Some(true),
            CONNACK | SUBACK | UNSUBACK | PINGRESP => Some(false),
            _ => None,
        }
    }
}

/// A bounded big-endian reader.
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    b: &'a [u8],
    pub at: usize,
}

impl<'a> Reader<'a> {
    pub fn new(b: &'a [u8]) -> Self {
        Reader { b, at: 0 }
    }

    pub fn u8(&mut self) -> Option<u8> {
        let v = *self.b.get(self.at)?;
        self.at += 1;
        Some(v)
    }

    pub fn u16(&mut self) -> Option<u16> {
        let v = self.b.get(self.at..self.at + 2)?;
        self.at += 2;
        Some(u16::from_be_bytes([v[0], v[1]]))
    }

    pub fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let v = self.b.get(self.at..end)?;
        self.at = end;
        Some(v)
    }

    /// A UTF-8 string / binary field (2-byte length).
    pub fn string(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.bytes(usize::from(n))
    }

    /// A variable byte integer (MQTT 5.0 property lengths).
    pub fn varint(&mut self) -> Option<u32> {
        let mut v = 0u32;
        for i in 0..4 {
            let c = self.u8()?;
            v |= u32::from(c & 0x7f) << (7 * i);
            if c & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    /// Skips MQTT 5.0 properties (length-prefixed).
    pub fn properties(&mut self) -> Option<()> {
        let n = self.varint()?;
        self.bytes(n as usize).map(|_| ())
    }

    pub fn rest(&self) -> &'a [u8] {
        &self.b[self.at.min(self.b.len())..]
    }
}

/// The fields of a CONNECT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connect<'a> {
    /// Protocol level: 3 (3.1), 4 (3.1.1), 5 (5.0).
    pub level: u8,
    pub client_id: &'a [u8],
}

/// Reads a CONNECT body (after the fixed header); None when it is not one.
pub fn connect(body: &[u8]) -> Option<Connect<'_>> {
    let mut r = Reader::new(body);
    let name = r.string()?;
    let level = r.u8()?;
    let ok = matches!((name, level), (b"MQTT", 4 | 5) | (b"MQIsdp", 3));
    if !ok {
        return None;
    }
    let flags = r.u8()?;
    if flags & 0x01 != 0 {
        return None; // reserved bit
    }
    r.u16()?; // keep alive
    if level == V5 {
        r.properties()?;
    }
    let client_id = r.string().unwrap_or(&[]);
    Some(Connect { level, client_id })
}

/// A printable topic name or filter (no control characters, not empty).
pub fn printable(s: &[u8]) -> bool {
    !s.is_empty() && std::str::from_utf8(s).is_ok_and(|s| !s.chars().any(char::is_control))
}
