//! OpenTelemetry trace data as the collector forwards it, worked on at the protobuf wire level
//! so that nothing it does not know is lost: each `ResourceSpans` without an `app.host.ip`
//! resource attribute gets one naming the sender's address (as DeepFlow's agent adds it, so the
//! server can place an SDK's spans), and the data is cut between `ResourceSpans` into messages
//! that fit a frame. The attribute is added as a second `resource` field, which protobuf merges
//! into the first (its attributes are appended). Malformed data is refused, never half-sent.

use std::net::IpAddr;

/// What is wrong with the data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    /// Not protobuf of the expected shape (at this byte offset of the piece read).
    Malformed(usize),
    /// One `ResourceSpans` alone is larger than a message may be.
    TooLarge(usize),
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WireError::Malformed(at) => write!(f, "not OTLP trace protobuf (at byte {at})"),
            WireError::TooLarge(n) => write!(f, "one ResourceSpans of {n} bytes is too large"),
        }
    }
}

/// The attribute DeepFlow's server places SDK spans by.
pub const HOST_IP: &str = "app.host.ip";

/// One field of a message: its number, wire type and (for length-delimited ones) its bytes.
struct Field<'a> {
    number: u64,
    wire: u8,
    data: &'a [u8],
    /// The whole field, key included.
    raw: &'a [u8],
}

fn varint(b: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*at)?;
        *at += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// The fields of `msg` in order; Err at the first malformed one.
fn fields(msg: &[u8]) -> impl Iterator<Item = Result<Field<'_>, WireError>> {
    let mut at = 0usize;
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed || at >= msg.len() {
            return None;
        }
        let start = at;
        let field = (|| {
            let key = varint(msg, &mut at)?;
            let (number, wire) = (key >> 3, (key & 7) as u8);
            if number == 0 {
                return None;
            }
            let data_start = at;
            let data = match wire {
                0 => {
                    varint(msg, &mut at)?;
                    &msg[data_start..at]
                }
                1 | 5 => {
                    let n = if wire == 1 { 8 } else { 4 };
                    let d = msg.get(at..at.checked_add(n)?)?;
                    at += n;
                    d
                }
                2 => {
                    let len = usize::try_from(varint(msg, &mut at)?).ok()?;
                    let d = msg.get(at..at.checked_add(len)?)?;
                    at += len;
                    d
                }
                _ => return None,
            };
            Some(Field {
                number,
                wire,
                data,
                raw: &msg[start..at],
            })
        })();
        match field {
            Some(f) => Some(Ok(f)),
            None => {
                failed = true;
                Some(Err(WireError::Malformed(start)))
            }
        }
    })
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Field `number` (length-delimited) holding `data`.
fn put_bytes(out: &mut Vec<u8>, number: u64, data: &[u8]) {
    put_varint(out, (number << 3) | 2);
    put_varint(out, data.len() as u64);
    out.extend_from_slice(data);
}

/// Whether the `Resource` `res` has an attribute keyed `key`.
fn has_attribute(res: &[u8], key: &str) -> Result<bool, WireError> {
    for f in fields(res) {
        let f = f?;
        if f.number == 1 && f.wire == 2 {
            for kv in fields(f.data) {
                let kv = kv?;
                if kv.number == 1 && kv.wire == 2 && kv.data == key.as_bytes() {
                    return Ok(true);
                }
            }
        }
    }
    Ok(false)
}

/// Spans in a `ScopeSpans`.
fn spans_in(scope: &[u8]) -> Result<u64, WireError> {
    let mut n = 0;
    for f in fields(scope) {
        let f = f?;
        if f.number == 2 && f.wire == 2 {
            // A span must itself be well-formed protobuf.
            for g in fields(f.data) {
                g?;
            }
            n += 1;
        }
    }
    Ok(n)
}

/// `rs` (a `ResourceSpans`) with the host attribute added when missing, and its span count.
fn with_host(rs: &[u8], host: &str) -> Result<(Vec<u8>, u64), WireError> {
    let (mut has, mut spans) = (false, 0u64);
    for f in fields(rs) {
        let f = f?;
        match (f.number, f.wire) {
            (1, 2) => has |= has_attribute(f.data, HOST_IP)?,
            (2, 2) => spans += spans_in(f.data)?,
            (1 | 2, _) => return Err(WireError::Malformed(0)),
            _ => {}
        }
    }
    let mut out = Vec::with_capacity(rs.len() + 48);
    out.extend_from_slice(rs);
    if !has {
        // AnyValue { string_value = 1 }, KeyValue { key = 1, value = 2 }, Resource { attributes = 1 }.
        let (mut value, mut kv, mut res) = (Vec::new(), Vec::new(), Vec::new());
        put_bytes(&mut value, 1, host.as_bytes());
        put_bytes(&mut kv, 1, HOST_IP.as_bytes());
        put_bytes(&mut kv, 2, &value);
        put_bytes(&mut res, 1, &kv);
        put_bytes(&mut out, 1, &res);
    }
    Ok((out, spans))
}

/// The address as DeepFlow writes it: an IPv4-mapped IPv6 address as IPv4.
pub fn host_text(ip: IpAddr) -> String {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => v6.to_string(),
        },
        IpAddr::V4(v4) => v4.to_string(),
    }
}

/// `traces` (a `TracesData` or an OTLP `ExportTraceServiceRequest`: the same encoding) as
/// messages of at most `max` bytes, each a `TracesData` whose `ResourceSpans` name `host` as
/// their `app.host.ip` unless they name one; and the number of spans.
pub fn forwardable(
    traces: &[u8],
    host: &str,
    max: usize,
) -> Result<(Vec<Vec<u8>>, u64), WireError> {
    let (mut out, mut cur, mut spans) = (Vec::new(), Vec::new(), 0u64);
    // Appends one top-level field to the message being made, starting a new one when it would
    // pass `max`.
    let mut add = |field: &[u8], out: &mut Vec<Vec<u8>>| {
        if field.len() > max {
            return Err(WireError::TooLarge(field.len()));
        }
        if !cur.is_empty() && cur.len() + field.len() > max {
            out.push(std::mem::take(&mut cur));
        }
        cur.extend_from_slice(field);
        Ok(())
    };
    for f in fields(traces) {
        let f = f?;
        match (f.number, f.wire) {
            (1, 2) => {
                let (rs, n) = with_host(f.data, host)?;
                spans += n;
                let mut field = Vec::with_capacity(rs.len() + 6);
                put_bytes(&mut field, 1, &rs);
                add(&field, &mut out)?;
            }
            (1, _) => return Err(WireError::Malformed(0)),
            // TracesData has nothing else; an unknown field is kept in the message it falls in.
            _ => add(f.raw, &mut out)?,
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    Ok((out, spans))
}

#[cfg(test)]
#[path = "otel_wire_tests.rs"]
mod tests;
