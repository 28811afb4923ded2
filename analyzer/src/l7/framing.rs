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

/// One direction of a protocol whose messages start with a header giving their length (MongoDB,
/// FastCGI): a message is waited for while the stream can hold it, read as far as it was
/// captured otherwise and its uncaptured rest skipped as it streams by; a message's time and
/// sequence number are those of its first byte; after lost bytes, the direction waits for a
/// segment that starts a message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Framed {
    skip: Skip,
    /// Time and TCP sequence number of a message head waiting for more of its bytes.
    head: Option<(u64, u32)>,
    /// Bytes were lost: wait for a segment that starts a message.
    lost: bool,
}

/// What a protocol's header says, for [`Framed::walk`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sized<H> {
    pub header: H,
    /// Bytes of the message to wait for (header included).
    pub wanted: usize,
    /// Bytes of the whole message (at least `wanted`; more is skipped unread).
    pub total: usize,
}

impl Framed {
    /// Bytes were lost: the next segment may start anywhere.
    pub fn lost(&mut self) {
        *self = Framed {
            lost: true,
            ..Framed::default()
        };
    }

    /// Walks `data` (one direction's bytes, `hold` of which the stream keeps for the parser):
    /// `read` reads a header at a message start (None: not one; its length is `header_len`),
    /// `starts` says whether a header may start the direction again after lost bytes, and each
    /// message (its first `wanted` bytes, or as many as were captured) goes to `on` with the
    /// (time, sequence number) of its first byte. Returns the bytes consumed; a header that does
    /// not read is a parse error and the direction waits for a message start.
    #[allow(clippy::too_many_arguments)]
    pub fn walk<H>(
        &mut self,
        data: &[u8],
        hold: usize,
        header_len: usize,
        x: &mut super::exchange::Exchange<'_>,
        read: impl Fn(&[u8]) -> Option<Sized<H>>,
        starts: impl Fn(&H) -> bool,
        mut on: impl FnMut(H, &[u8], (u64, u32), &mut super::exchange::Exchange<'_>),
    ) -> usize {
        if self.lost {
            match read(data) {
                Some(s) if starts(&s.header) => self.lost = false,
                _ => return data.len(),
            }
        }
        let mut at = 0;
        while at < data.len() {
            let rest = &data[at..];
            if !self.skip.is_done() {
                at += self.skip.take(rest.len());
                continue;
            }
            let Some(s) = read(rest) else {
                if rest.len() < header_len && rest.len() < hold {
                    self.head.get_or_insert((x.now_ns(), x.tcp_seq()));
                    return at;
                }
                x.parse_error();
                self.lost();
                return data.len();
            };
            // Wait for the message, or for as much of it as the stream holds.
            if rest.len() < s.wanted.min(hold) {
                self.head.get_or_insert((x.now_ns(), x.tcp_seq()));
                return at;
            }
            let msg = &rest[..s.wanted.min(rest.len())];
            let when = self.head.take().unwrap_or((x.now_ns(), x.tcp_seq()));
            on(s.header, msg, when, x);
            // Every message moves the walk on (a header claiming nothing still has itself).
            let total = s.total.max(header_len).max(1);
            let used = total.min(rest.len());
            at += used;
            self.skip = Skip((total - used) as u64);
        }
        at
    }
}
