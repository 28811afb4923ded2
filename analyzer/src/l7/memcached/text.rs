//! The memcached text protocol: request lines (classic and meta commands) and reply lines. Pure
//! and bounded: a line is classified from its words, lengths are checked, nothing is copied.

/// Largest data block accepted (memcached's `-I` item size limit is at most 1 GiB).
pub const MAX_DATA: u64 = 1 << 30;

/// What follows a request line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    /// A data block of this many bytes (and CRLF) follows; then the reply.
    Storage(u64),
    /// One reply (possibly a list of VALUE / STAT lines closed by END).
    Answered,
    /// No reply: `quit`.
    Quit,
}

/// A request line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    pub command: &'a [u8],
    pub kind: RequestKind,
    /// `noreply`: the server sends nothing back.
    pub noreply: bool,
}

const STORAGE: [&[u8]; 6] = [b"set", b"add", b"replace", b"append", b"prepend", b"cas"];
const RETRIEVAL: [&[u8]; 5] = [b"get", b"gets", b"gat", b"gats", b"mg"];
const KEYED: [&[u8]; 5] = [b"delete", b"incr", b"decr", b"touch", b"md"];
const OTHER: [&[u8]; 7] = [
    b"stats",
    b"flush_all",
    b"version",
    b"verbosity",
    b"mn",
    b"ma",
    b"me",
];

/// memcached's commands are lower case (it answers ERROR to `GET`).
fn is(word: &[u8], set: &[&[u8]]) -> bool {
    set.contains(&word)
}

fn number(w: &[u8]) -> Option<u64> {
    if w.is_empty() || w.len() > 19 || !w.iter().all(u8::is_ascii_digit) {
        return None;
    }
    w.iter().try_fold(0u64, |a, d| {
        a.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// The words of a line (at most 8 looked at; more are ignored).
fn words(line: &[u8]) -> ([&[u8]; 8], usize) {
    let mut out: [&[u8]; 8] = [&[]; 8];
    let mut n = 0;
    for w in line.split(|b| *b == b' ').filter(|w| !w.is_empty()) {
        if n == out.len() {
            break;
        }
        out[n] = w;
        n += 1;
    }
    (out, n)
}

/// Could `b` (no line end yet) be the start of a request line: printable, and its first word
/// the start of a command?
pub fn request_prefix(b: &[u8]) -> bool {
    let word = b.split(|c| *c == b' ').next().unwrap_or_default();
    b.len() < 256
        && b.iter()
            .all(|c| c.is_ascii_graphic() || *c == b' ' || *c == b'\r')
        && STORAGE
            .iter()
            .chain(&RETRIEVAL)
            .chain(&KEYED)
            .chain(&OTHER)
            .chain(&[&b"ms"[..], b"quit"])
            .any(|c| c.starts_with(word) || (b.contains(&b' ') && *c == word))
}

/// Classifies a request line (without its CRLF); None when it is not a memcached command.
pub fn parse_request(line: &[u8]) -> Option<Request<'_>> {
    let (w, n) = words(line);
    let command = *w.first().filter(|_| n > 0)?;
    let noreply = n > 1 && w[n - 1] == b"noreply";
    let kind = if is(command, &STORAGE) {
        // <cmd> <key> <flags> <exptime> <bytes> [<cas>] [noreply]
        let want = if command == b"cas" { 6 } else { 5 };
        if n < want {
            return None;
        }
        number(w[2])?;
        number(w[3]).or_else(|| w[3].strip_prefix(b"-").and_then(number))?;
        let bytes = number(w[4]).filter(|b| *b <= MAX_DATA)?;
        RequestKind::Storage(bytes)
    } else if command == b"ms" {
        // ms <key> <datalen> <flags>*
        let bytes = number(w.get(2).filter(|_| n > 2)?).filter(|b| *b <= MAX_DATA)?;
        RequestKind::Storage(bytes)
    } else if is(command, &RETRIEVAL) || is(command, &KEYED) {
        if n < 2 {
            return None;
        }
        RequestKind::Answered
    } else if is(command, &OTHER) {
        RequestKind::Answered
    } else if command == b"quit" {
        RequestKind::Quit
    } else {
        return None;
    };
    Some(Request {
        command,
        kind,
        noreply,
    })
}

/// How a reply line ends the reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyKind {
    /// The whole reply.
    Single,
    /// The first of a list (VALUE / STAT lines) that END closes.
    List,
    /// END: closes a list (alone, the reply to a get that found nothing).
    End,
}

/// DeepFlow's classes of a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyStatus {
    Ok,
    /// `ERROR`, `CLIENT_ERROR ...`
    ClientError,
    /// `SERVER_ERROR ...`
    ServerError,
}

/// A reply line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply<'a> {
    pub kind: ReplyKind,
    pub status: ReplyStatus,
    /// Bytes of the data block (and CRLF) after this line (`VALUE`, meta `VA`).
    pub data: Option<u64>,
    /// The error message of CLIENT_ERROR / SERVER_ERROR.
    pub message: &'a [u8],
}

const SIMPLE: [&[u8]; 15] = [
    b"STORED",
    b"NOT_STORED",
    b"EXISTS",
    b"NOT_FOUND",
    b"DELETED",
    b"TOUCHED",
    b"OK",
    b"HD",
    b"EN",
    b"NF",
    b"NS",
    b"EX",
    b"MN",
    b"ME",
    b"RESET",
];

/// Classifies a reply line (without its CRLF); None when it is not a memcached reply.
pub fn parse_reply(line: &[u8]) -> Option<Reply<'_>> {
    let (w, n) = words(line);
    let first = *w.first().filter(|_| n > 0)?;
    let reply = |kind, status, data, message| {
        Some(Reply {
            kind,
            status,
            data,
            message,
        })
    };
    let rest = line.get(first.len() + 1..).unwrap_or_default();
    match first {
        b"VALUE" if n >= 4 => {
            let bytes = number(w[3]).filter(|b| *b <= MAX_DATA)?;
            reply(ReplyKind::List, ReplyStatus::Ok, Some(bytes), &[])
        }
        b"VA" if n >= 2 => {
            let bytes = number(w[1]).filter(|b| *b <= MAX_DATA)?;
            reply(ReplyKind::Single, ReplyStatus::Ok, Some(bytes), &[])
        }
        b"STAT" => reply(ReplyKind::List, ReplyStatus::Ok, None, &[]),
        b"END" => reply(ReplyKind::End, ReplyStatus::Ok, None, &[]),
        b"ERROR" => reply(ReplyKind::Single, ReplyStatus::ClientError, None, rest),
        b"CLIENT_ERROR" => reply(ReplyKind::Single, ReplyStatus::ClientError, None, rest),
        b"SERVER_ERROR" => reply(ReplyKind::Single, ReplyStatus::ServerError, None, rest),
        b"VERSION" => reply(ReplyKind::Single, ReplyStatus::Ok, None, &[]),
        w0 if SIMPLE.contains(&w0) || number(w0).is_some() => {
            reply(ReplyKind::Single, ReplyStatus::Ok, None, &[])
        }
        _ => None,
    }
}
