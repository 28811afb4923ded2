//! ZMTP 3.x framing (rfc.zeromq.org 23/ZMTP and 37/ZMTP): the 64-byte greeting, then frames of
//! a flags byte (MORE 0x01, LONG 0x02, COMMAND 0x04), a 1-byte or 8-byte size and the body.
//! Commands carry a name (`READY`, `ERROR`, `SUBSCRIBE`, ...) and data; READY and INITIATE
//! carry properties (`Socket-Type`). Everything is bounded: sizes beyond 2^31 are not frames.

/// Bytes of a greeting.
pub const GREETING_LEN: usize = 64;
/// Bytes of the longest frame header (flags and an 8-byte size).
pub const MAX_HEADER_LEN: usize = 9;

const FLAG_MORE: u8 = 0x01;
const FLAG_LONG: u8 = 0x02;
const FLAG_COMMAND: u8 = 0x04;
/// Largest frame size taken for one: libzmq's and DeepFlow's bound.
const MAX_FRAME: u64 = i32::MAX as u64;

/// The security mechanism a greeting names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mechanism {
    #[default]
    Null,
    Plain,
    /// Command data after the handshake is encrypted.
    Curve,
}

/// A greeting (signature, version, mechanism).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Greeting {
    pub major: u8,
    pub minor: u8,
    pub mechanism: Mechanism,
}

/// The greeting at the start of `b` (64 bytes), or None: a signature other than 0xFF .. 0x7F, a
/// major version other than 3, an unknown mechanism or a filler that is not zeros.
pub fn parse_greeting(b: &[u8]) -> Option<Greeting> {
    let g = b.get(..GREETING_LEN)?;
    if g[0] != 0xFF || g[9] != 0x7F || g[10] != 3 || g[32] > 1 {
        return None;
    }
    let mechanism = match &g[12..32] {
        m if m.starts_with(b"NULL\0") => Mechanism::Null,
        m if m.starts_with(b"PLAIN\0") => Mechanism::Plain,
        m if m.starts_with(b"CURVE\0") => Mechanism::Curve,
        _ => return None,
    };
    g[33..].iter().all(|&z| z == 0).then_some(Greeting {
        major: g[10],
        minor: g[11],
        mechanism,
    })
}

/// Do these bytes start a greeting (as far as they go: a greeting's first segment may carry
/// only the signature and the major version)? None when too few bytes to tell.
pub fn starts_greeting(b: &[u8]) -> Option<bool> {
    match b {
        [] => None,
        [first, ..] if *first != 0xFF => Some(false),
        b if b.len() < 10 => None,
        b => Some(b[9] == 0x7F && b.get(10).is_none_or(|&major| major == 3)),
    }
}

/// A frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    pub more: bool,
    pub command: bool,
    /// Bytes of the body.
    pub size: u64,
    /// Bytes of the header (2 or 9).
    pub len: usize,
}

impl FrameHeader {
    /// The frame header at the start of `b`; None when it is not one (reserved flag bits set, a
    /// long size under 255 or beyond 2^31, a command with MORE) or is cut.
    pub fn read(b: &[u8]) -> Option<Self> {
        let flags = *b.first()?;
        Self::len_of(flags)?;
        let command = flags & FLAG_COMMAND != 0;
        let more = flags & FLAG_MORE != 0;
        let (size, len) = if flags & FLAG_LONG != 0 {
            let size = u64::from_be_bytes(b.get(1..MAX_HEADER_LEN)?.try_into().ok()?);
            if !(255..=MAX_FRAME).contains(&size) {
                return None;
            }
            (size, MAX_HEADER_LEN)
        } else {
            (u64::from(*b.get(1)?), 2)
        };
        Some(FrameHeader {
            more,
            command,
            size,
            len,
        })
    }

    /// The length of the header a frame with these flags has (2 or 9); None for flags no frame
    /// has (reserved bits set, a command with MORE).
    pub fn len_of(flags: u8) -> Option<usize> {
        let valid = flags & !(FLAG_MORE | FLAG_LONG | FLAG_COMMAND) == 0
            && flags & (FLAG_COMMAND | FLAG_MORE) != FLAG_COMMAND | FLAG_MORE;
        valid.then_some(if flags & FLAG_LONG != 0 {
            MAX_HEADER_LEN
        } else {
            2
        })
    }

    /// Header and body bytes.
    pub fn total(&self) -> u64 {
        self.len as u64 + self.size
    }

    /// An empty frame followed by more: the delimiter REQ and REP put before a message body.
    pub fn is_delimiter(&self) -> bool {
        self.more && self.size == 0 && !self.command
    }
}

/// The command names of ZMTP 3.0 and 3.1 (and the CURVE and PLAIN handshakes).
const COMMANDS: [&[u8]; 11] = [
    b"READY",
    b"ERROR",
    b"SUBSCRIBE",
    b"CANCEL",
    b"PING",
    b"PONG",
    b"HELLO",
    b"WELCOME",
    b"INITIATE",
    b"JOIN",
    b"LEAVE",
];

/// A command's name and data (`body`: the frame's body as captured). libzmq writes ERROR's
/// name length and first letter as one byte (0x5E, `"\x5ERROR"` read as a hex escape): that is
/// read as ERROR too, as DeepFlow does.
pub fn command(body: &[u8]) -> Option<(&[u8], &[u8])> {
    if let Some(data) = body.strip_prefix(b"\x5eRROR") {
        return Some((b"ERROR", data));
    }
    let n = usize::from(*body.first()?);
    let name = body.get(1..1 + n)?;
    Some((name, body.get(1 + n..).unwrap_or(&[])))
}

/// Is `name` a ZMTP command (a probe's evidence)?
pub fn is_known_command(name: &[u8]) -> bool {
    COMMANDS.contains(&name)
}

/// The reason an ERROR command's data gives (cut to what was captured).
pub fn error_reason(data: &[u8]) -> &[u8] {
    let n = usize::from(data.first().copied().unwrap_or(0));
    data.get(1..).map_or(&[], |r| &r[..n.min(r.len())])
}

/// The value of property `name` in a READY or INITIATE command's data (as far as captured).
pub fn property<'a>(mut data: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    while let Some(&n) = data.first() {
        let n = usize::from(n);
        let key = data.get(1..1 + n)?;
        let len = u32::from_be_bytes(data.get(1 + n..5 + n)?.try_into().ok()?) as usize;
        let value = data.get(5 + n..)?;
        if key.eq_ignore_ascii_case(name) {
            return Some(&value[..len.min(value.len())]);
        }
        data = value.get(len..)?;
    }
    None
}

/// Does a socket of this type (`Socket-Type` property) answer requests in order (REQ / REP)?
pub fn is_request_reply(socket_type: &[u8]) -> bool {
    socket_type == b"REQ" || socket_type == b"REP"
}
