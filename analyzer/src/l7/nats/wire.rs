//! NATS client protocol lines (<https://docs.nats.io/reference/reference-protocols/nats-protocol>):
//! the operation, its arguments, the size of the payload that follows, and the header block of
//! HPUB / HMSG (`NATS/1.0 [status]` then `Key: Value` lines). Operations are case-insensitive;
//! arguments are separated by runs of spaces or tabs. Nothing allocates.

/// A protocol operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Info,
    Connect,
    Pub,
    Hpub,
    Sub,
    Unsub,
    Msg,
    Hmsg,
    Ping,
    Pong,
    Ok,
    Err,
}

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::Info => "INFO",
            Op::Connect => "CONNECT",
            Op::Pub => "PUB",
            Op::Hpub => "HPUB",
            Op::Sub => "SUB",
            Op::Unsub => "UNSUB",
            Op::Msg => "MSG",
            Op::Hmsg => "HMSG",
            Op::Ping => "PING",
            Op::Pong => "PONG",
            Op::Ok => "+OK",
            Op::Err => "-ERR",
        }
    }

    /// Sent by clients only (Some(true)), servers only (Some(false)), or both (None).
    pub fn from_client(self) -> Option<bool> {
        match self {
            Op::Connect | Op::Pub | Op::Hpub | Op::Sub | Op::Unsub => Some(true),
            Op::Info | Op::Msg | Op::Hmsg | Op::Ok | Op::Err => Some(false),
            Op::Ping | Op::Pong => None,
        }
    }
}

/// One control line, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    pub op: Op,
    /// PUB/HPUB/MSG/HMSG/SUB: the subject; UNSUB: the sid.
    pub subject: &'a [u8],
    pub reply_to: &'a [u8],
    /// SUB/MSG/HMSG: the subscription id.
    pub sid: &'a [u8],
    /// HPUB/HMSG: header bytes (part of `total`).
    pub header_len: u32,
    /// Bytes after the line (payload, headers included), without the closing CRLF.
    pub total: u32,
    /// INFO/CONNECT: the JSON object; -ERR: the message.
    pub text: &'a [u8],
}

/// Largest payload accepted (the server's max_payload is 1 MiB by default, 64 MiB at most).
pub const MAX_PAYLOAD: u32 = 64 << 20;

fn number(b: &[u8]) -> Option<u32> {
    if b.is_empty() || b.len() > 10 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = b.iter().fold(0u64, |n, c| n * 10 + u64::from(c - b'0'));
    u32::try_from(n).ok().filter(|n| *n <= MAX_PAYLOAD)
}

fn token_ok(b: &[u8]) -> bool {
    !b.is_empty() && b.iter().all(|c| c.is_ascii_graphic())
}

/// Decodes a control line (without its line end); None when it is not NATS.
pub fn parse(line: &[u8]) -> Option<Line<'_>> {
    let word_end = line
        .iter()
        .position(|c| *c == b' ' || *c == b'\t')
        .unwrap_or(line.len());
    let (word, rest) = line.split_at(word_end);
    let mut args = rest
        .split(|c| *c == b' ' || *c == b'\t')
        .filter(|a| !a.is_empty());
    let mut a: [&[u8]; 5] = [&[]; 5];
    let mut n = 0;
    for (i, arg) in args.by_ref().take(5).enumerate() {
        a[i] = arg;
        n = i + 1;
    }
    let extra = args.next().is_some();
    const WORDS: [(&[u8], Op); 12] = [
        (b"INFO", Op::Info),
        (b"CONNECT", Op::Connect),
        (b"PUB", Op::Pub),
        (b"HPUB", Op::Hpub),
        (b"SUB", Op::Sub),
        (b"UNSUB", Op::Unsub),
        (b"MSG", Op::Msg),
        (b"HMSG", Op::Hmsg),
        (b"PING", Op::Ping),
        (b"PONG", Op::Pong),
        (b"+OK", Op::Ok),
        (b"-ERR", Op::Err),
    ];
    let op = WORDS
        .iter()
        .find(|(w, _)| w.eq_ignore_ascii_case(word))
        .map(|(_, op)| *op)?;
    let mut l = Line {
        op,
        subject: &[],
        reply_to: &[],
        sid: &[],
        header_len: 0,
        total: 0,
        text: &[],
    };
    let trimmed = rest.trim_ascii();
    match op {
        Op::Info | Op::Connect => {
            if !trimmed.starts_with(b"{") {
                return None;
            }
            l.text = trimmed;
        }
        Op::Err => l.text = trimmed.trim_ascii_start(),
        Op::Ping | Op::Pong | Op::Ok => {
            if n != 0 {
                return None;
            }
        }
        Op::Pub if !extra && (n == 2 || n == 3) => {
            l.subject = a[0];
            l.reply_to = if n == 3 { a[1] } else { &[] };
            l.total = number(a[n - 1])?;
        }
        Op::Hpub if !extra && (n == 3 || n == 4) => {
            l.subject = a[0];
            l.reply_to = if n == 4 { a[1] } else { &[] };
            l.header_len = number(a[n - 2])?;
            l.total = number(a[n - 1])?;
        }
        Op::Msg if !extra && (n == 3 || n == 4) => {
            l.subject = a[0];
            l.sid = a[1];
            l.reply_to = if n == 4 { a[2] } else { &[] };
            l.total = number(a[n - 1])?;
        }
        Op::Hmsg if n == 4 || n == 5 => {
            l.subject = a[0];
            l.sid = a[1];
            l.reply_to = if n == 5 { a[2] } else { &[] };
            l.header_len = number(a[n - 2])?;
            l.total = number(a[n - 1])?;
        }
        Op::Sub if !extra && (n == 2 || n == 3) => {
            l.subject = a[0];
            l.sid = a[n - 1];
        }
        Op::Unsub if !extra && (n == 1 || n == 2) => {
            l.subject = a[0];
            l.sid = a[0];
        }
        _ => return None,
    }
    if l.header_len > l.total {
        return None;
    }
    let tokens_ok = [l.subject, l.reply_to, l.sid]
        .iter()
        .all(|t| t.is_empty() || token_ok(t));
    tokens_ok.then_some(l)
}

/// Does `b` start with an operation word (complete or cut), so a line may still be coming?
pub fn op_prefix(b: &[u8]) -> bool {
    const OPS: [&[u8]; 12] = [
        b"INFO ",
        b"CONNECT ",
        b"PUB ",
        b"HPUB ",
        b"SUB ",
        b"UNSUB ",
        b"MSG ",
        b"HMSG ",
        b"PING",
        b"PONG",
        b"+OK",
        b"-ERR",
    ];
    !b.is_empty()
        && OPS.iter().any(|op| {
            let n = b.len().min(op.len());
            b[..n].eq_ignore_ascii_case(&op[..n])
        })
}

/// The string value of `"key"` in a flat JSON object (escapes are not decoded; the value ends
/// at the first unescaped quote).
pub fn json_str<'a>(json: &'a [u8], key: &str) -> Option<&'a [u8]> {
    let v = json_value(json, key)?;
    let v = v.strip_prefix(b"\"")?;
    let mut i = 0;
    while i < v.len() {
        match v[i] {
            b'\\' => i += 2,
            b'"' => return Some(&v[..i]),
            _ => i += 1,
        }
    }
    None
}

/// `"key": true` in a flat JSON object.
pub fn json_true(json: &[u8], key: &str) -> bool {
    json_value(json, key).is_some_and(|v| v.starts_with(b"true"))
}

fn json_value<'a>(json: &'a [u8], key: &str) -> Option<&'a [u8]> {
    let k = key.as_bytes();
    let mut from = 0;
    while let Some(p) = json[from..]
        .windows(k.len() + 2)
        .position(|w| w[0] == b'"' && &w[1..=k.len()] == k && w[k.len() + 1] == b'"')
    {
        let after = &json[from + p + k.len() + 2..];
        let after = after.trim_ascii_start();
        if let Some(v) = after.strip_prefix(b":") {
            return Some(v.trim_ascii_start());
        }
        from += p + 1;
    }
    None
}

/// The header block of HPUB/HMSG: its status code (`NATS/1.0 503`) and headers by name
/// (case-insensitive, `-` and `_` alike).
#[derive(Debug, Clone, Copy)]
pub struct Headers<'a>(pub &'a [u8]);

impl<'a> Headers<'a> {
    /// The status code of the version line, if any.
    pub fn status(&self) -> Option<u16> {
        let first = self.0.split(|c| *c == b'\n').next()?;
        let first = first.strip_prefix(b"NATS/1.0")?.trim_ascii();
        let code = first.split(|c| *c == b' ').next()?;
        std::str::from_utf8(code).ok()?.parse().ok()
    }

    pub fn get(&self, name: &str) -> Option<&'a [u8]> {
        self.0.split(|c| *c == b'\n').skip(1).find_map(|l| {
            let l = l.strip_suffix(b"\r").unwrap_or(l);
            let colon = l.iter().position(|c| *c == b':')?;
            let key = std::str::from_utf8(&l[..colon]).ok()?;
            super::super::http1::same_header_name(key, name).then(|| l[colon + 1..].trim_ascii())
        })
    }
}
