//! Dubbo 2 protocol (Apache Dubbo's `ExchangeCodec`): the 16-byte header (magic 0xdabb, flags
//! with the serialization id, status, request id, body length) and the start of a request body
//! (Dubbo version, service path, service version, method name) in Hessian2 (id 2) or Kryo (id 8),
//! the two serializations DeepFlow reads. Attachments (trace headers) are found by their
//! Hessian2-encoded key. Bounded reads only.

use crate::inline::InlineBytes;

pub const HEADER_LEN: usize = 16;
pub const MAGIC: [u8; 2] = [0xda, 0xbb];
const FLAG_REQUEST: u8 = 0x80;
const FLAG_TWO_WAY: u8 = 0x40;
const FLAG_EVENT: u8 = 0x20;
pub const SERIALIZATION_HESSIAN2: u8 = 2;
pub const SERIALIZATION_KRYO: u8 = 8;
/// Dubbo's default `payload` limit is 8 MiB.
pub const MAX_BODY: u32 = 64 << 20;
pub const STATUS_OK: u8 = 20;

/// A message header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub flags: u8,
    pub status: u8,
    pub request_id: u64,
    pub body_len: u32,
}

impl Header {
    pub fn parse(b: &[u8]) -> Option<Self> {
        let h = b.get(..HEADER_LEN)?;
        if h[..2] != MAGIC {
            return None;
        }
        let mut id = [0u8; 8];
        id.copy_from_slice(&h[4..12]);
        let hdr = Header {
            flags: h[2],
            status: h[3],
            request_id: u64::from_be_bytes(id),
            body_len: u32::from_be_bytes([h[12], h[13], h[14], h[15]]),
        };
        let serialization = hdr.serialization();
        (hdr.body_len <= MAX_BODY && (1..=31).contains(&serialization)).then_some(hdr)
    }

    pub fn is_request(&self) -> bool {
        self.flags & FLAG_REQUEST != 0
    }

    pub fn two_way(&self) -> bool {
        self.flags & FLAG_TWO_WAY != 0
    }

    /// A heartbeat (or other event), not a call.
    pub fn is_event(&self) -> bool {
        self.flags & FLAG_EVENT != 0
    }

    pub fn serialization(&self) -> u8 {
        self.flags & 0x1f
    }

    pub fn total_len(&self) -> usize {
        HEADER_LEN + self.body_len as usize
    }
}

/// A status code's meaning: None for OK (20), Some(true) for the client's side (client timeout
/// 30, bad request 40, client error 90), Some(false) for the server's (server timeout 31, bad
/// response 50, service not found 60, service error 70, server error 80, thread pool exhausted
/// 100): `deepflow-facts.md` section 4.5.
pub fn status_class(status: u8) -> Option<(bool, &'static str)> {
    Some(match status {
        STATUS_OK => return None,
        30 => (true, "CLIENT_TIMEOUT"),
        40 => (true, "BAD_REQUEST"),
        90 => (true, "CLIENT_ERROR"),
        31 => (false, "SERVER_TIMEOUT"),
        50 => (false, "BAD_RESPONSE"),
        60 => (false, "SERVICE_NOT_FOUND"),
        70 => (false, "SERVICE_ERROR"),
        80 => (false, "SERVER_ERROR"),
        100 => (false, "SERVER_THREADPOOL_EXHAUSTED_ERROR"),
        _ => (false, "UNKNOWN_STATUS"),
    })
}

/// A decoded string: the bytes as on the wire, where Kryo's ASCII form flags its last character
/// with the high bit (`flagged`), so readers take characters through [`Text::bytes`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Text<'a> {
    raw: &'a [u8],
    flagged: bool,
}

impl<'a> Text<'a> {
    pub fn plain(raw: &'a [u8]) -> Self {
        Text {
            raw,
            flagged: false,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// The characters' bytes.
    pub fn bytes(&self) -> impl Iterator<Item = u8> + 'a {
        let n = self.raw.len();
        let flagged = self.flagged;
        self.raw
            .iter()
            .enumerate()
            .map(move |(i, c)| if flagged && i + 1 == n { c & 0x7f } else { *c })
    }

    pub fn push_to<const N: usize>(&self, dst: &mut InlineBytes<N>) {
        match self.raw.split_last() {
            Some((last, head)) if self.flagged => {
                dst.push_lossy(head);
                dst.push_lossy(&[last & 0x7f]);
            }
            _ => dst.push_lossy(self.raw),
        }
    }

    fn plausible(&self) -> bool {
        self.bytes().all(|c| c.is_ascii_graphic())
    }
}

/// A bounded reader of Hessian2 and Kryo strings.
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

    /// Skips `n` bytes (None when fewer are left).
    pub fn skip(&mut self, n: usize) -> Option<()> {
        self.b.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(())
    }

    /// The next byte, not consumed.
    pub fn peek(&self) -> Option<u8> {
        self.b.get(self.at).copied()
    }

    /// Raw bytes (a Hessian 1 type name).
    pub fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let v = self.b.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(v)
    }

    /// `n` UTF-8 characters (Hessian counts characters, not bytes).
    fn chars(&mut self, n: usize) -> Option<&'a [u8]> {
        let start = self.at;
        for _ in 0..n {
            let lead = self.u8()?;
            let more = match lead {
                0x00..=0x7f => 0,
                0xc0..=0xdf => 1,
                0xe0..=0xef => 2,
                _ => 3,
            };
            self.at += more;
        }
        self.b.get(start..self.at)
    }

    /// A Hessian2 string (compact, medium or `S`; the first chunk of an `R` chunked string); a
    /// null (`N`) reads as empty.
    pub fn hessian_str(&mut self) -> Option<&'a [u8]> {
        let tag = self.u8()?;
        let n = match tag {
            0x00..=0x1f => usize::from(tag),
            0x30..=0x33 => (usize::from(tag - 0x30) << 8) | usize::from(self.u8()?),
            b'S' | b'R' => (usize::from(self.u8()?) << 8) | usize::from(self.u8()?),
            b'N' => return Some(&[]),
            _ => return None,
        };
        self.chars(n)
    }

    /// A Kryo string (`Output.writeString`): ASCII with the last byte's high bit set, or a
    /// flagged variable-length UTF-8 length + 1 and the bytes; null and empty read as empty.
    pub fn kryo_str(&mut self) -> Option<Text<'a>> {
        let first = *self.b.get(self.at)?;
        if first & 0x80 == 0 {
            let start = self.at;
            let len = self.b[start..].iter().position(|c| c & 0x80 != 0)? + 1;
            self.at += len;
            return Some(Text {
                raw: self.b.get(start..self.at)?,
                flagged: true,
            });
        }
        self.at += 1;
        // Length + 1 in 6 bits, then 7 bits per byte.
        let mut n = u64::from(first & 0x3f);
        if first & 0x40 != 0 {
            // At most four more bytes (6 + 4 * 7 bits).
            for shift in [6, 13, 20, 27] {
                let c = self.u8()?;
                n |= u64::from(c & 0x7f) << shift;
                if c & 0x80 == 0 {
                    break;
                }
            }
        }
        let n = usize::try_from(n).ok()?;
        match n {
            0 | 1 => Some(Text::default()),
            n => self.chars(n - 1).map(Text::plain),
        }
    }
}

/// The start of a request body: what a call names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Call<'a> {
    pub dubbo_version: Text<'a>,
    pub service: Text<'a>,
    pub service_version: Text<'a>,
    pub method: Text<'a>,
}

/// A string of `serialization` (Hessian2 or Kryo).
pub fn string<'a>(r: &mut Reader<'a>, serialization: u8) -> Option<Text<'a>> {
    match serialization {
        SERIALIZATION_HESSIAN2 => r.hessian_str().map(Text::plain),
        SERIALIZATION_KRYO => r.kryo_str(),
        _ => None,
    }
}

/// Reads the call of a request body in `serialization`; None when it does not decode.
pub fn call(serialization: u8, body: &[u8]) -> Option<Call<'_>> {
    let mut r = Reader::new(body);
    let dubbo_version = string(&mut r, serialization)?;
    let service = string(&mut r, serialization)?;
    let service_version = string(&mut r, serialization)?;
    let method = string(&mut r, serialization)?;
    (dubbo_version.plausible() && !service.is_empty() && service.plausible() && method.plausible())
        .then_some(Call {
            dubbo_version,
            service,
            service_version,
            method,
        })
}

/// The value of attachment `key` in a Hessian2 request body: the compact-string key followed by
/// a string value. Keys compare exactly (Dubbo's attachments are case-sensitive).
pub fn attachment<'a>(body: &'a [u8], key: &str) -> Option<&'a [u8]> {
    let k = key.as_bytes();
    if k.is_empty() || k.len() > 31 {
        return None;
    }
    let mut from = 0;
    while let Some(p) = body[from..]
        .windows(k.len() + 1)
        .position(|w| usize::from(w[0]) == k.len() && &w[1..] == k)
    {
        let at = from + p + 1 + k.len();
        let mut r = Reader::new(body);
        r.at = at;
        if let Some(v) = r.hessian_str() {
            return Some(v);
        }
        from += p + 1;
    }
    None
}

/// The class name of an exception in a Hessian2 response (`C` class definition), if readable.
pub fn exception_class(value: &[u8]) -> Option<&[u8]> {
    let mut r = Reader::new(value);
    (r.u8()? == b'C').then(|| r.hessian_str()).flatten()
}
