//! Pure decoding of the TLS handshake's first messages (RFC 8446 section 4.1, RFC 5246 7.4.1):
//! ClientHello (SNI, ALPN offered, versions offered, cipher-suite count) and ServerHello
//! (negotiated version and cipher suite, selected ALPN). Bounded and allocation-free; the
//! encrypted stream that follows is not looked at.
//!
//! The hello must sit in the first handshake record of `buf` (it does in practice: a hello is far
//! below the 16 KiB record limit); a hello cut by the end of `buf` is [`TlsError::Truncated`], so
//! the caller can wait for more bytes.

use super::super::inline::InlineBytes;
use super::super::Probe;

/// TLS record header length.
pub const RECORD_HEADER_LEN: usize = 5;
/// Longest server name kept (RFC 1035 name limit).
pub const MAX_SNI: usize = 255;
/// Longest ALPN protocol id kept (ids are at most 255 bytes; real ones are short).
pub const MAX_ALPN: usize = 32;

const CONTENT_HANDSHAKE: u8 = 22;
const HS_CLIENT_HELLO: u8 = 1;
const HS_SERVER_HELLO: u8 = 2;
const EXT_SERVER_NAME: u16 = 0;
const EXT_ALPN: u16 = 16;
const EXT_SUPPORTED_VERSIONS: u16 = 43;

/// Why a hello did not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsError {
    /// `buf` ends before the hello does.
    Truncated,
    /// Not a handshake record, or not a hello.
    NotHello,
    /// A length field that points outside its enclosing structure.
    BadLength,
}

/// Which hello.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HelloKind {
    Client,
    Server,
}

/// What a hello says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hello {
    pub kind: HelloKind,
    /// The record layer's version.
    pub record_version: u16,
    /// `legacy_version` of the hello (0x0303 for TLS 1.2 and 1.3).
    pub legacy_version: u16,
    /// Client: the highest version offered in supported_versions (GREASE ignored); server: the
    /// version selected there. None without the extension (then `legacy_version` applies).
    pub supported_version: Option<u16>,
    /// Client: the server name asked for.
    pub sni: Option<InlineBytes<MAX_SNI>>,
    /// Client: the first ALPN protocol offered; server: the one selected.
    pub alpn: Option<InlineBytes<MAX_ALPN>>,
    /// Server: the cipher suite chosen.
    pub cipher_suite: Option<u16>,
    /// Client: how many cipher suites were offered.
    pub cipher_suites_offered: u16,
}

impl Hello {
    /// The negotiated (server) or highest offered (client) protocol version.
    pub fn version(&self) -> u16 {
        self.supported_version.unwrap_or(self.legacy_version)
    }
}

/// A bounds-checked reader over one structure.
struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, at: 0 }
    }
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], TlsError> {
        let s = self
            .buf
            .get(self.at..self.at + n)
            .ok_or(TlsError::BadLength)?;
        self.at += n;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, TlsError> {
        Ok(self.bytes(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, TlsError> {
        let b = self.bytes(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    /// A sub-structure with a 1- or 2-byte length prefix.
    fn vec8(&mut self) -> Result<&'a [u8], TlsError> {
        let n = self.u8()?;
        self.bytes(usize::from(n))
    }
    fn vec16(&mut self) -> Result<&'a [u8], TlsError> {
        let n = self.u16()?;
        self.bytes(usize::from(n))
    }
    fn is_empty(&self) -> bool {
        self.at >= self.buf.len()
    }
}

fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && (v >> 8) == (v & 0xff)
}

/// Decodes the ClientHello or ServerHello at the start of `buf` (a TCP payload starting with a
/// TLS record).
pub fn parse_hello(buf: &[u8]) -> Result<Hello, TlsError> {
    let rec = buf.get(..RECORD_HEADER_LEN).ok_or(TlsError::Truncated)?;
    if rec[0] != CONTENT_HANDSHAKE || rec[1] != 3 {
        return Err(TlsError::NotHello);
    }
    let record_version = u16::from_be_bytes([rec[1], rec[2]]);
    let rec_len = usize::from(u16::from_be_bytes([rec[3], rec[4]]));
    let body = &buf[RECORD_HEADER_LEN..];
    let hs = body.get(..4).ok_or(TlsError::Truncated)?;
    let kind = match hs[0] {
        HS_CLIENT_HELLO => HelloKind::Client,
        HS_SERVER_HELLO => HelloKind::Server,
        _ => return Err(TlsError::NotHello),
    };
    let hs_len = (usize::from(hs[1]) << 16) | (usize::from(hs[2]) << 8) | usize::from(hs[3]);
    if hs_len + 4 > rec_len {
        return Err(TlsError::BadLength);
    }
    let msg = body.get(4..4 + hs_len).ok_or(TlsError::Truncated)?;
    let mut r = Reader::new(msg);
    let legacy_version = r.u16()?;
    r.bytes(32)?; // random
    let session_id = r.vec8()?;
    if session_id.len() > 32 {
        return Err(TlsError::BadLength);
    }
    let mut hello = Hello {
        kind,
        record_version,
        legacy_version,
        supported_version: None,
        sni: None,
        alpn: None,
        cipher_suite: None,
        cipher_suites_offered: 0,
    };
    match kind {
        HelloKind::Client => {
            let suites = r.vec16()?;
            hello.cipher_suites_offered = (suites.len() / 2) as u16;
            r.vec8()?; // compression methods
        }
        HelloKind::Server => {
            hello.cipher_suite = Some(r.u16()?);
            r.u8()?; // compression method
        }
    }
    if r.is_empty() {
        return Ok(hello); // no extensions (old clients)
    }
    let mut exts = Reader::new(r.vec16()?);
    while !exts.is_empty() {
        let ty = exts.u16()?;
        let mut data = Reader::new(exts.vec16()?);
        match (ty, kind) {
            (EXT_SERVER_NAME, HelloKind::Client) => {
                let mut list = Reader::new(data.vec16()?);
                while !list.is_empty() {
                    let name_type = list.u8()?;
                    let name = list.vec16()?;
                    if name_type == 0 && hello.sni.is_none() {
                        hello.sni = Some(InlineBytes::from_slice(name));
                    }
                }
            }
            (EXT_ALPN, _) => {
                let mut list = Reader::new(data.vec16()?);
                if !list.is_empty() {
                    hello.alpn = Some(InlineBytes::from_slice(list.vec8()?));
                }
            }
            (EXT_SUPPORTED_VERSIONS, HelloKind::Client) => {
                let mut list = Reader::new(data.vec8()?);
                while !list.is_empty() {
                    let v = list.u16()?;
                    if !is_grease(v) && hello.supported_version.is_none_or(|m| v > m) {
                        hello.supported_version = Some(v);
                    }
                }
            }
            (EXT_SUPPORTED_VERSIONS, HelloKind::Server) => {
                hello.supported_version = Some(data.u16()?);
            }
            _ => {}
        }
    }
    Ok(hello)
}

/// Is `payload` the start of a TLS handshake (a hello)? Unsure while shorter than the record and
/// handshake headers.
pub fn probe(payload: &[u8]) -> Probe {
    match payload {
        [CONTENT_HANDSHAKE, 3, minor, _, _, hs, ..]
            if *minor <= 4 && (*hs == HS_CLIENT_HELLO || *hs == HS_SERVER_HELLO) =>
        {
            Probe::Certain
        }
        [] | [CONTENT_HANDSHAKE] | [CONTENT_HANDSHAKE, 3] => Probe::Unsure,
        [CONTENT_HANDSHAKE, 3, minor, ..] if *minor <= 4 && payload.len() < 6 => Probe::Unsure,
        _ => Probe::NotForUs,
    }
}

#[cfg(test)]
#[path = "wire_tests.rs"]
pub(crate) mod tests;
