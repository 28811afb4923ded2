//! ClickHouse's HTTP interface, the small part tapflow needs: one POST per statement (the query
//! in the URL, the data in the body), `Connection: close`, the answer read to its end (bounded)
//! with chunked encoding undone. Any status but 200 is an error carrying ClickHouse's message.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// The largest answer read (ClickHouse's answers to tapflow's statements are a few bytes).
const MAX_ANSWER: u64 = 1 << 20;

/// Where the server is: `http://[user[:password]@]host[:port][/]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub password: Option<String>,
}

impl Endpoint {
    pub fn parse(url: &str) -> Result<Endpoint, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("'{url}': only http:// URLs are supported"))?;
        let rest = rest.trim_end_matches('/');
        if rest.contains('/') || rest.contains('?') {
            return Err(format!("'{url}': give the server only, http://host:8123"));
        }
        let (auth, hostport) = match rest.rsplit_once('@') {
            Some((a, h)) => (Some(a), h),
            None => (None, rest),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || hostport.starts_with('[') => (
                h.trim_start_matches('[').trim_end_matches(']'),
                p.parse::<u16>()
                    .map_err(|_| format!("'{url}': bad port '{p}'"))?,
            ),
            _ => (hostport, 8123),
        };
        if host.is_empty() {
            return Err(format!("'{url}': no host"));
        }
        let (user, password) = match auth {
            Some(a) => match a.split_once(':') {
                Some((u, p)) => (Some(u.to_string()), Some(p.to_string())),
                None => (Some(a.to_string()), None),
            },
            None => (None, None),
        };
        Ok(Endpoint {
            host: host.to_string(),
            port,
            user,
            password,
        })
    }
}

/// Why a statement failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// Could not connect, send or read.
    Io(String),
    /// ClickHouse answered with an error status.
    Status(u16, String),
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpError::Io(e) => write!(f, "{e}"),
            HttpError::Status(s, m) => write!(f, "HTTP {s}: {}", m.trim()),
        }
    }
}

fn encode_query(q: &str) -> String {
    let mut out = String::with_capacity(q.len() * 3);
    for b in q.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Runs `query` with `body` as its data; returns the answer's body.
pub fn post(
    ep: &Endpoint,
    query: &str,
    body: &[u8],
    timeout: Duration,
) -> Result<Vec<u8>, HttpError> {
    let io = |e: std::io::Error| HttpError::Io(format!("{}:{}: {e}", ep.host, ep.port));
    let addr = (ep.host.as_str(), ep.port)
        .to_socket_addrs()
        .map_err(io)?
        .next()
        .ok_or_else(|| HttpError::Io(format!("{}: no address", ep.host)))?;
    let mut s = TcpStream::connect_timeout(&addr, timeout).map_err(io)?;
    s.set_read_timeout(Some(timeout)).map_err(io)?;
    s.set_write_timeout(Some(timeout)).map_err(io)?;
    let mut head = format!(
        "POST /?query={} HTTP/1.1\r\nHost: {}:{}\r\nContent-Length: {}\r\nConnection: close\r\n",
        encode_query(query),
        ep.host,
        ep.port,
        body.len()
    );
    if let Some(u) = &ep.user {
        head.push_str(&format!("X-ClickHouse-User: {u}\r\n"));
    }
    if let Some(p) = &ep.password {
        head.push_str(&format!("X-ClickHouse-Key: {p}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).map_err(io)?;
    s.write_all(body).map_err(io)?;
    let mut answer = Vec::new();
    s.take(MAX_ANSWER).read_to_end(&mut answer).map_err(io)?;
    parse_answer(&answer)
}

/// Status and body of an HTTP/1.1 answer.
fn parse_answer(a: &[u8]) -> Result<Vec<u8>, HttpError> {
    let bad = || HttpError::Io("malformed HTTP answer".into());
    let split = a
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(bad)?;
    let head = std::str::from_utf8(&a[..split]).map_err(|_| bad())?;
    let body = &a[split + 4..];
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(bad)?;
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = if chunked {
        dechunk(body).ok_or_else(bad)?
    } else {
        body.to_vec()
    };
    if status != 200 {
        return Err(HttpError::Status(
            status,
            String::from_utf8_lossy(&body).into_owned(),
        ));
    }
    Ok(body)
}

fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = b.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&b[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        b = &b[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(b.get(..size)?);
        b = b.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let e = Endpoint::parse("http://127.0.0.1:18123/").unwrap();
        assert_eq!((e.host.as_str(), e.port), ("127.0.0.1", 18123));
        let e = Endpoint::parse("http://bob:pw@ch.local").unwrap();
        assert_eq!(e.port, 8123);
        assert_eq!(e.user.as_deref(), Some("bob"));
        assert_eq!(e.password.as_deref(), Some("pw"));
        let e = Endpoint::parse("http://[::1]:9").unwrap();
        assert_eq!((e.host.as_str(), e.port), ("::1", 9));
        assert!(Endpoint::parse("https://x").is_err());
        assert!(Endpoint::parse("http://x/db").is_err());
        assert!(Endpoint::parse("http://x:port").is_err());
    }

    #[test]
    fn answers() {
        assert_eq!(
            parse_answer(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc").unwrap(),
            b"abc"
        );
        assert_eq!(
            parse_answer(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
                .unwrap(),
            b"abcde"
        );
        assert!(matches!(
            parse_answer(b"HTTP/1.1 500 Internal\r\n\r\nCode: 60. Table x doesn't exist"),
            Err(HttpError::Status(500, _))
        ));
        assert!(parse_answer(b"garbage").is_err());
        assert!(
            parse_answer(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").is_err()
        );
        assert_eq!(encode_query("SELECT 1"), "SELECT%201");
    }
}
