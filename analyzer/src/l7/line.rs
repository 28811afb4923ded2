//! Line framing shared by the text protocols (Redis, memcached).

/// A complete line at the start of `buf`: (the line without its CRLF or LF, bytes used including
/// the line end). None while no line end has arrived.
pub fn line(buf: &[u8]) -> Option<(&[u8], usize)> {
    let nl = buf.iter().position(|b| *b == b'\n')?;
    let end = if nl > 0 && buf[nl - 1] == b'\r' {
        nl - 1
    } else {
        nl
    };
    Some((&buf[..end], nl + 1))
}
