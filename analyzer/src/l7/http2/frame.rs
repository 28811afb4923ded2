//! HTTP/2 frame headers (RFC 9113 section 4.1) and the connection preface.

use super::super::Probe;

/// What a client sends first.
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// Bytes of a frame header.
pub const HEADER_LEN: usize = 9;

pub const TYPE_DATA: u8 = 0;
pub const TYPE_HEADERS: u8 = 1;
pub const TYPE_RST_STREAM: u8 = 3;
pub const TYPE_SETTINGS: u8 = 4;
pub const TYPE_PUSH_PROMISE: u8 = 5;
pub const TYPE_GOAWAY: u8 = 7;
pub const TYPE_CONTINUATION: u8 = 9;

pub const FLAG_END_STREAM: u8 = 0x1;
pub const FLAG_END_HEADERS: u8 = 0x4;
pub const FLAG_PADDED: u8 = 0x8;
pub const FLAG_PRIORITY: u8 = 0x20;

/// A frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    pub len: usize,
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
}

impl FrameHeader {
    /// The header at the start of `buf`, if 9 bytes are there.
    pub fn parse(buf: &[u8]) -> Option<Self> {
        let h = buf.get(..HEADER_LEN)?;
        Some(FrameHeader {
            len: (usize::from(h[0]) << 16) | (usize::from(h[1]) << 8) | usize::from(h[2]),
            kind: h[3],
            flags: h[4],
            stream: u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff,
        })
    }

    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

/// The header block fragment of a HEADERS or PUSH_PROMISE payload (padding and priority, or the
/// promised stream id, removed); None when the lengths do not fit.
pub fn block_fragment<'a>(h: &FrameHeader, payload: &'a [u8]) -> Option<&'a [u8]> {
    let mut p = payload;
    let mut pad = 0;
    if h.kind != TYPE_CONTINUATION && h.has(FLAG_PADDED) {
        pad = usize::from(*p.first()?);
        p = &p[1..];
    }
    if h.kind == TYPE_HEADERS && h.has(FLAG_PRIORITY) {
        p = p.get(5..)?;
    }
    if h.kind == TYPE_PUSH_PROMISE {
        p = p.get(4..)?;
    }
    p.get(..p.len().checked_sub(pad)?)
}

/// Is `payload` the start of an HTTP/2 connection as seen from either side? Certain for the client
/// preface, for a server's first SETTINGS frame, and for a HEADERS frame on a client stream whose
/// block starts with a static request or status field (a connection joined mid-stream).
pub fn probe(payload: &[u8]) -> Probe {
    let n = payload.len().min(PREFACE.len());
    if payload[..n] == PREFACE[..n] {
        return if n == PREFACE.len() {
            Probe::Certain
        } else {
            Probe::Unsure
        };
    }
    let Some(h) = FrameHeader::parse(payload) else {
        return Probe::NotForUs;
    };
    match h.kind {
        TYPE_SETTINGS if h.stream == 0 && h.len % 6 == 0 && h.len <= 60 && h.flags & !1 == 0 => {
            // Every identifier known (RFC 9113 6.5.2 and extensions 8, 9).
            let body = &payload[HEADER_LEN..];
            let ok = body
                .chunks_exact(6)
                .take(h.len / 6)
                .all(|s| matches!(u16::from_be_bytes([s[0], s[1]]), 1..=6 | 8 | 9));
            if ok {
                Probe::Certain
            } else {
                Probe::NotForUs
            }
        }
        TYPE_HEADERS
            if h.stream % 2 == 1
                && h.len <= 16_384
                && h.flags
                    & !(FLAG_END_STREAM | FLAG_END_HEADERS | FLAG_PADDED | FLAG_PRIORITY)
                    == 0 =>
        {
            let frag = payload
                .get(HEADER_LEN..(HEADER_LEN + h.len).min(payload.len()))
                .and_then(|p| block_fragment(&h, p));
            match frag.and_then(|f| f.first()) {
                Some(0x82..=0x8e) => Probe::Certain,
                _ => Probe::NotForUs,
            }
        }
        _ => Probe::NotForUs,
    }
}

/// Did the client send `payload` (the start of a connection or a HEADERS frame)?
pub fn sent_by_client(payload: &[u8]) -> bool {
    if payload.starts_with(&PREFACE[..payload.len().min(PREFACE.len())]) {
        return true;
    }
    match FrameHeader::parse(payload) {
        Some(h) if h.kind == TYPE_HEADERS => {
            let frag = payload
                .get(HEADER_LEN..(HEADER_LEN + h.len).min(payload.len()))
                .and_then(|p| block_fragment(&h, p));
            matches!(frag.and_then(|f| f.first()), Some(0x82..=0x87))
        }
        _ => false,
    }
}
