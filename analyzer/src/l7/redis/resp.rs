//! RESP2/RESP3 framing, walked as a stream: a [`Walker`] follows one direction message by message
//! without holding a whole message. Header lines (`*3`, `$5`, `+OK`, `-ERR ...`) are read whole
//! (the caller holds a cut line until its end arrives); bulk payloads are passed through in
//! pieces, so a value of any size costs nothing but a byte count. Nesting is bounded
//! ([`MAX_DEPTH`]); lengths are bounded ([`MAX_BULK`], [`MAX_ELEMENTS`]). Everything hostile is
//! a [`RespError`], never a panic or unbounded work.

/// Deepest nesting of aggregates followed (Redis itself nests replies a few levels deep).
pub const MAX_DEPTH: usize = 8;
/// Largest bulk string accepted (Redis's `proto-max-bulk-len` default, 512 MiB).
pub const MAX_BULK: u64 = 512 * 1024 * 1024;
/// Most elements of one aggregate (replies can be long, so this only rejects absurd counts).
pub const MAX_ELEMENTS: u64 = u32::MAX as u64;

/// Why a direction's bytes are not RESP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RespError {
    /// A type byte that RESP does not have.
    BadType(u8),
    /// A length or count that is not a number, negative (other than -1) or too large.
    BadLength,
    /// Aggregates nested deeper than [`MAX_DEPTH`].
    TooDeep,
    /// A bulk payload not followed by CRLF.
    MissingCrlf,
}

pub use super::super::framing::line;

/// A RESP integer (`-1` allowed): at most 19 digits.
pub fn int(b: &[u8]) -> Option<i64> {
    let (neg, digits) = match b {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, b),
    };
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let v = digits.iter().try_fold(0i64, |a, d| {
        a.checked_mul(10)?.checked_add(i64::from(d - b'0'))
    })?;
    Some(if neg { -v } else { v })
}

/// Is `b` a RESP2/RESP3 type byte?
pub fn is_type(b: u8) -> bool {
    matches!(
        b,
        b'+' | b'-'
            | b':'
            | b'$'
            | b'*'
            | b'_'
            | b'#'
            | b','
            | b'('
            | b'!'
            | b'='
            | b'%'
            | b'~'
            | b'|'
            | b'>'
    )
}

/// What the walker saw, reported to the session as it goes.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// A message starts; its type byte.
    Start(u8),
    /// A one-line value (`+`, `-`, `:`, `_`, `#`, `,`, `(`) at `depth` (0 = the message itself),
    /// as element `index` of its parent; the line after the type byte. `cut` when the line was
    /// longer than what could be held (only its start is here).
    Line {
        depth: usize,
        index: u64,
        kind: u8,
        text: &'a [u8],
        cut: bool,
    },
    /// A piece of a bulk string (`$`, `!`, `=`) at `depth`, element `index`; `first` on its
    /// first piece. A null bulk gives no piece.
    Bulk {
        depth: usize,
        index: u64,
        kind: u8,
        piece: &'a [u8],
        first: bool,
    },
    /// An aggregate header at `depth` (`*`, `>`, `~`, `%`, `|`) with its element count (-1 null).
    Aggregate { depth: usize, kind: u8, count: i64 },
    /// The message ended.
    End,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Mode {
    /// Before a value's header line.
    #[default]
    Header,
    /// Inside a bulk payload: bytes left (payload + CRLF), and whether its first piece was seen.
    Bulk { left: u64, started: bool, kind: u8 },
    /// Skipping the rest of a line too long to hold.
    SkipLine,
}

/// One aggregate being walked: elements still to come and the index of the next one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Level {
    left: u32,
    next: u32,
}

/// The position inside one direction's stream of RESP messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Walker {
    mode: Mode,
    stack: [Level; MAX_DEPTH],
    /// Bit d: level d is an attribute (`|`), whose elements describe the value that follows and
    /// which is not a value itself.
    attributes: u8,
    depth: u8,
    /// Inside a message.
    active: bool,
}

impl Walker {
    /// Inside a message (its start was seen, its end not yet).
    pub fn in_message(&self) -> bool {
        self.active
    }

    /// Forgets everything (after a gap).
    pub fn reset(&mut self) {
        *self = Walker::default();
    }

    fn depth(&self) -> usize {
        usize::from(self.depth)
    }

    /// Element index of the value about to be read, in its parent (0 at the top).
    fn index(&self) -> u64 {
        match self.depth() {
            0 => 0,
            d => u64::from(self.stack[d - 1].next),
        }
    }

    /// A value ended: count it in its parent, closing every aggregate it completes. True when
    /// the whole message ended.
    fn value_done(&mut self) -> bool {
        loop {
            let d = self.depth();
            if d == 0 {
                self.active = false;
                return true;
            }
            let lvl = &mut self.stack[d - 1];
            lvl.left -= 1;
            lvl.next += 1;
            if lvl.left > 0 {
                return false;
            }
            let attribute = self.attributes & (1 << (d - 1)) != 0;
            self.depth -= 1;
            if attribute {
                // The attribute is done; the value it annotates comes next at this level.
                return false;
            }
        }
    }

    fn open(&mut self, count: u64, attribute: bool) -> Result<(), RespError> {
        let d = self.depth();
        if d >= MAX_DEPTH {
            return Err(RespError::TooDeep);
        }
        self.stack[d] = Level {
            left: u32::try_from(count).map_err(|_| RespError::BadLength)?,
            next: 0,
        };
        if attribute {
            self.attributes |= 1 << d;
        } else {
            self.attributes &= !(1 << d);
        }
        self.depth += 1;
        Ok(())
    }

    /// Walks `data` (the direction's next bytes), reporting to `on`, up to the end of the current
    /// message ([`Event::End`]) at most. Returns the bytes consumed: besides a message end, it
    /// stops early only before a header line that is not complete yet, which the caller offers
    /// again with more bytes (`hold`: the most the caller can hold; a longer line is
    /// reported cut and skipped to its end).
    pub fn walk(
        &mut self,
        data: &[u8],
        hold: usize,
        mut on: impl FnMut(Event<'_>),
    ) -> Result<usize, RespError> {
        let mut at = 0;
        while at < data.len() {
            let rest = &data[at..];
            match self.mode {
                Mode::SkipLine => match rest.iter().position(|b| *b == b'\n') {
                    Some(nl) => {
                        at += nl + 1;
                        self.mode = Mode::Header;
                        if self.value_done() {
                            on(Event::End);
                            return Ok(at);
                        }
                    }
                    None => return Ok(data.len()),
                },
                Mode::Bulk {
                    left,
                    started,
                    kind,
                } => {
                    let take = (rest.len() as u64).min(left) as usize;
                    let payload_left = left.saturating_sub(2);
                    let piece = &rest[..take.min(payload_left as usize)];
                    if !piece.is_empty() || !started {
                        on(Event::Bulk {
                            depth: self.depth(),
                            index: self.index(),
                            kind,
                            piece,
                            first: !started,
                        });
                    }
                    // The CRLF after the payload must be there.
                    let tail = take.saturating_sub(2);
                    for (i, b) in rest[tail..take].iter().enumerate() {
                        let expect = match left - (tail + i) as u64 {
                            2 => b'\r',
                            1 => b'\n',
                            _ => continue,
                        };
                        if *b != expect {
                            return Err(RespError::MissingCrlf);
                        }
                    }
                    at += take;
                    let left = left - take as u64;
                    if left == 0 {
                        self.mode = Mode::Header;
                        if self.value_done() {
                            on(Event::End);
                            return Ok(at);
                        }
                    } else {
                        self.mode = Mode::Bulk {
                            left,
                            started: true,
                            kind,
                        };
                    }
                }
                Mode::Header => {
                    let kind = rest[0];
                    if !is_type(kind) {
                        return Err(RespError::BadType(kind));
                    }
                    let Some((text, used)) = line(&rest[1..]) else {
                        if rest.len() >= hold {
                            // A line longer than can be held: report its start, skip the rest.
                            if !self.active {
                                self.active = true;
                                on(Event::Start(kind));
                            }
                            if matches!(kind, b'+' | b'-' | b':' | b'_' | b'#' | b',' | b'(') {
                                on(Event::Line {
                                    depth: self.depth(),
                                    index: self.index(),
                                    kind,
                                    text: &rest[1..],
                                    cut: true,
                                });
                                self.mode = Mode::SkipLine;
                                return Ok(data.len());
                            }
                            return Err(RespError::BadLength);
                        }
                        return Ok(at);
                    };
                    if !self.active {
                        self.active = true;
                        on(Event::Start(kind));
                    }
                    at += 1 + used;
                    match kind {
                        b'$' | b'!' | b'=' => {
                            let n = int(text).ok_or(RespError::BadLength)?;
                            if n == -1 && kind == b'$' {
                                if self.value_done() {
                                    on(Event::End);
                                    return Ok(at);
                                }
                                continue;
                            }
                            let n = u64::try_from(n).map_err(|_| RespError::BadLength)?;
                            if n > MAX_BULK {
                                return Err(RespError::BadLength);
                            }
                            self.mode = Mode::Bulk {
                                left: n + 2,
                                started: false,
                                kind,
                            };
                        }
                        b'*' | b'>' | b'~' | b'%' | b'|' => {
                            let n = int(text).ok_or(RespError::BadLength)?;
                            on(Event::Aggregate {
                                depth: self.depth(),
                                kind,
                                count: n,
                            });
                            if n == -1 && matches!(kind, b'*' | b'%' | b'~') || n == 0 {
                                if kind == b'|' {
                                    continue;
                                }
                                if self.value_done() {
                                    on(Event::End);
                                    return Ok(at);
                                }
                                continue;
                            }
                            let n = u64::try_from(n).map_err(|_| RespError::BadLength)?;
                            let count = if matches!(kind, b'%' | b'|') {
                                n * 2
                            } else {
                                n
                            };
                            if count > MAX_ELEMENTS {
                                return Err(RespError::BadLength);
                            }
                            self.open(count, kind == b'|')?;
                        }
                        _ => {
                            on(Event::Line {
                                depth: self.depth(),
                                index: self.index(),
                                kind,
                                text,
                                cut: false,
                            });
                            if self.value_done() {
                                on(Event::End);
                                return Ok(at);
                            }
                        }
                    }
                }
            }
        }
        Ok(at)
    }
}
