//! Framing helpers the parsers share: lines of the text protocols (Redis, memcached) and the
//! countdown over a message body that is skipped as it streams by (memcached, MySQL, PostgreSQL).

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

/// Bytes of a message still to skip (a body that is not parsed, read across segments).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Skip(pub u64);

impl Skip {
    /// Consumes what is left to skip out of `available` bytes; returns how many it took.
    pub fn take(&mut self, available: usize) -> usize {
        let n = self.0.min(available as u64);
        self.0 -= n;
        n as usize
    }

    pub fn is_done(&self) -> bool {
        self.0 == 0
    }
}
