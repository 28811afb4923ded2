//! FastCGI's wire format (the FastCGI 1.0 specification): 8-byte record headers, name-value
//! pairs of PARAMS records, CGI response headers at the start of STDOUT. Pure and bounded: every
//! length is checked against the bytes there are; nothing allocates.

/// Bytes of a record header.
pub const HEADER_LEN: usize = 8;

pub const BEGIN_REQUEST: u8 = 1;
pub const ABORT_REQUEST: u8 = 2;
pub const END_REQUEST: u8 = 3;
pub const PARAMS: u8 = 4;
pub const STDIN: u8 = 5;
pub const STDOUT: u8 = 6;
pub const STDERR: u8 = 7;
pub const DATA: u8 = 8;
pub const GET_VALUES: u8 = 9;
pub const GET_VALUES_RESULT: u8 = 10;
pub const UNKNOWN_TYPE: u8 = 11;

/// A record header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub kind: u8,
    pub request_id: u16,
    pub content_len: u16,
    pub padding_len: u8,
}

impl Header {
    /// The header at the start of `buf`: version 1, a known record type, a zero reserved byte.
    pub fn parse(buf: &[u8]) -> Option<Header> {
        let b = buf.get(..HEADER_LEN)?;
        if b[0] != 1 || !(BEGIN_REQUEST..=UNKNOWN_TYPE).contains(&b[1]) || b[7] != 0 {
            return None;
        }
        Some(Header {
            kind: b[1],
            request_id: u16::from_be_bytes([b[2], b[3]]),
            content_len: u16::from_be_bytes([b[4], b[5]]),
            padding_len: b[6],
        })
    }

    /// Bytes of the whole record (header, content, padding).
    pub fn record_len(&self) -> usize {
        HEADER_LEN + usize::from(self.content_len) + usize::from(self.padding_len)
    }

    /// Record types the web server (the client) sends.
    pub fn from_client(&self) -> bool {
        matches!(
            self.kind,
            BEGIN_REQUEST | ABORT_REQUEST | PARAMS | STDIN | DATA | GET_VALUES
        )
    }
}

/// Does `payload` start a FastCGI conversation? A BEGIN_REQUEST record header (version 1, a
/// request id, 8 bytes of content, no padding) is certain, unless the content that came with it
/// is not a BEGIN_REQUEST body (a known role, reserved bytes zero); fewer bytes than a header
/// that could be one are unsure (None).
pub fn looks_like_begin(payload: &[u8]) -> Option<bool> {
    const BEGIN_HEAD: [u8; 2] = [1, BEGIN_REQUEST];
    let Some(h) = Header::parse(payload) else {
        let n = payload.len().min(2);
        let plausible = payload.len() < HEADER_LEN && payload[..n] == BEGIN_HEAD[..n];
        return if plausible { None } else { Some(false) };
    };
    if h.kind != BEGIN_REQUEST || h.request_id == 0 || h.content_len != 8 || h.padding_len != 0 {
        return Some(false);
    }
    let body = &payload[HEADER_LEN..payload.len().min(HEADER_LEN + 8)];
    let role_ok = match body {
        [hi, lo, ..] => (1..=3).contains(&u16::from_be_bytes([*hi, *lo])),
        [hi] => *hi == 0,
        [] => true,
    };
    Some(role_ok && body.iter().skip(3).all(|&b| b == 0))
}

/// A name or value length: one byte below 128, else four bytes with the top bit set.
fn length(buf: &[u8]) -> Option<(usize, usize)> {
    let first = *buf.first()?;
    if first >> 7 == 0 {
        return Some((usize::from(first), 1));
    }
    let b = buf.get(..4)?;
    let n = u32::from_be_bytes([b[0] & 0x7f, b[1], b[2], b[3]]);
    Some((n as usize, 4))
}

/// The name-value pairs of PARAMS content, as far as they are whole in `content` (a pair cut by
/// the capture ends the walk).
pub fn params(content: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    let mut rest = content;
    std::iter::from_fn(move || {
        let (name_len, a) = length(rest)?;
        let (value_len, b) = length(rest.get(a..)?)?;
        let at = a + b;
        let name = rest.get(at..at.checked_add(name_len)?)?;
        let end = at + name_len;
        let value = rest.get(end..end.checked_add(value_len)?)?;
        rest = &rest[end + value_len..];
        Some((name, value))
    })
}

/// The value of CGI parameter `name` in `content`.
pub fn param<'a>(content: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    params(content).find(|(n, _)| *n == name).map(|(_, v)| v)
}

/// Does parameter `name` carry HTTP header `header` (`HTTP_` + the header name in upper case,
/// '-' as '_', as CGI passes request headers)?
pub fn is_header_param(name: &[u8], header: &str) -> bool {
    let Some(rest) = name.strip_prefix(b"HTTP_") else {
        return false;
    };
    rest.len() == header.len()
        && rest.iter().zip(header.bytes()).all(|(&a, b)| {
            let b = if b == b'-' { b'_' } else { b };
            a.eq_ignore_ascii_case(&b)
        })
}

/// The CGI response header lines at the start of STDOUT content (up to the blank line or the
/// end of what was captured): (name, value) with the value trimmed.
pub fn cgi_headers(content: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    let mut rest = content;
    std::iter::from_fn(move || {
        let nl = rest.iter().position(|&b| b == b'\n')?;
        let line = rest[..nl].strip_suffix(b"\r").unwrap_or(&rest[..nl]);
        rest = &rest[nl + 1..];
        if line.is_empty() {
            return None;
        }
        let colon = line.iter().position(|&b| b == b':')?;
        Some((&line[..colon], line[colon + 1..].trim_ascii()))
    })
}

/// The status a CGI response states (`Status: 404 Not Found`): (code, reason); None without a
/// Status header (the server means 200).
pub fn cgi_status(content: &[u8]) -> Option<(u16, &[u8])> {
    let (_, v) = cgi_headers(content).find(|(n, _)| n.eq_ignore_ascii_case(b"Status"))?;
    let digits = v.get(..3)?;
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let code = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some((code, v[3..].trim_ascii()))
}
