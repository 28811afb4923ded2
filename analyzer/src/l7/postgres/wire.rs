//! PostgreSQL frontend/backend protocol 3.0: message framing (a type byte and a 4-byte length
//! that counts itself; the client's first message has no type byte), startup parameters,
//! CommandComplete tags and ErrorResponse fields. Pure and bounded.

/// Type byte + length.
pub const HEADER_LEN: usize = 5;
/// Longest message accepted (PostgreSQL's own limit for most messages is 1 GiB).
pub const MAX_LEN: u32 = 1 << 30;

pub const PROTOCOL_3: u32 = 196_608;
pub const SSL_REQUEST: u32 = 80_877_103;
pub const GSSENC_REQUEST: u32 = 80_877_104;
pub const CANCEL_REQUEST: u32 = 80_877_102;

/// A tagged message header at the start of `b`: (type, length of the body after the header).
pub fn header(b: &[u8]) -> Option<(u8, u32)> {
    let h = b.get(..HEADER_LEN)?;
    let len = u32::from_be_bytes([h[1], h[2], h[3], h[4]]);
    (4..=MAX_LEN).contains(&len).then(|| (h[0], len - 4))
}

/// An untagged startup-phase message at the start of `b`: (length after the 8-byte header, code).
pub fn startup_header(b: &[u8]) -> Option<(u32, u32)> {
    let h = b.get(..8)?;
    let len = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
    let code = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
    let known = matches!(
        code,
        PROTOCOL_3 | SSL_REQUEST | GSSENC_REQUEST | CANCEL_REQUEST
    );
    (known && (8..=10_000).contains(&len)).then(|| (len - 8, code))
}

/// The value of startup parameter `name` in the body (`name\0value\0...\0`).
pub fn startup_param<'a>(body: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let mut it = body.split(|b| *b == 0);
    while let Some(k) = it.next() {
        let v = it.next()?;
        if k == name {
            return Some(v);
        }
        if k.is_empty() {
            return None;
        }
    }
    None
}

/// Client message types.
pub fn is_frontend(t: u8) -> bool {
    matches!(
        t,
        b'Q' | b'P'
            | b'B'
            | b'E'
            | b'D'
            | b'C'
            | b'S'
            | b'H'
            | b'F'
            | b'X'
            | b'd'
            | b'c'
            | b'f'
            | b'p'
    )
}

/// Server message types.
pub fn is_backend(t: u8) -> bool {
    matches!(
        t,
        b'R' | b'S'
            | b'K'
            | b'Z'
            | b'T'
            | b'D'
            | b'C'
            | b'E'
            | b'N'
            | b'1'
            | b'2'
            | b'3'
            | b'n'
            | b's'
            | b't'
            | b'I'
            | b'G'
            | b'H'
            | b'W'
            | b'd'
            | b'c'
            | b'A'
            | b'V'
            | b'v'
    )
}

/// The number at the end of a CommandComplete tag (`INSERT 0 5`, `UPDATE 3`, `SELECT 10`).
pub fn tag_rows(tag: &[u8]) -> Option<u64> {
    let tag = tag.strip_suffix(b"\0").unwrap_or(tag);
    let last = tag.rsplit(|b| *b == b' ').next()?;
    if last.is_empty() || last.len() > 19 || !last.iter().all(u8::is_ascii_digit) {
        return None;
    }
    last.iter().try_fold(0u64, |a, d| {
        a.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// ErrorResponse fields: (SQLSTATE `C`, message `M`).
pub fn error_fields(body: &[u8]) -> (Option<&[u8]>, &[u8]) {
    let (mut code, mut message) = (None, &[][..]);
    for field in body.split(|b| *b == 0) {
        match field.split_first() {
            Some((b'C', v)) => code = Some(v),
            Some((b'M', v)) => message = v,
            _ => {}
        }
    }
    (code, message)
}
