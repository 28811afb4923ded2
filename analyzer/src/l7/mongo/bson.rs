//! A BSON reader over borrowed bytes that may be cut short (a document bigger than the segment):
//! elements are read until the bytes end or stop making sense, nothing is copied or allocated.
//! [`render`] writes a document the way DeepFlow's agent prints it (the `bson` crate's `Display`:
//! `{ "find": "c", "filter": { "a": 1 } }`), into a bounded buffer, stopping when it is full.

use std::fmt::Write;

use super::super::base64::{self, Base64};
use crate::inline::InlineBytes;

/// Deepest nesting rendered (deeper documents print as `{...}`).
const MAX_DEPTH: u8 = 32;

/// A document's elements (the bytes after its length, up to its end or to where the bytes stop).
#[derive(Debug, Clone, Copy)]
pub struct Doc<'a> {
    elements: &'a [u8],
}

impl<'a> Doc<'a> {
    /// The document starting at `b`: its length must be at least 5; the bytes may stop before
    /// its end.
    pub fn parse(b: &'a [u8]) -> Option<Doc<'a>> {
        let len = i32_at(b, 0)?;
        if len < 5 {
            return None;
        }
        // The elements, without the terminating zero.
        let end = (len as usize - 1).min(b.len());
        Some(Doc {
            elements: &b[4..end],
        })
    }

    pub fn iter(&self) -> Elements<'a> {
        Elements {
            rest: self.elements,
        }
    }

    /// The first element (a command document's command).
    pub fn first(&self) -> Option<(&'a [u8], Value<'a>)> {
        self.iter().next()
    }

    /// The first element named `key` among the readable ones.
    pub fn get(&self, key: &[u8]) -> Option<Value<'a>> {
        self.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }
}

/// One element's value.
#[derive(Debug, Clone, Copy)]
pub enum Value<'a> {
    Double(f64),
    Str(&'a [u8]),
    Doc(Doc<'a>),
    Array(Doc<'a>),
    Binary(u8, &'a [u8]),
    Undefined,
    ObjectId(&'a [u8]),
    Bool(bool),
    DateTime(i64),
    Null,
    Regex(&'a [u8], &'a [u8]),
    DbPointer(&'a [u8], &'a [u8]),
    Code(&'a [u8]),
    Symbol(&'a [u8]),
    Int32(i32),
    Timestamp { time: u32, increment: u32 },
    Int64(i64),
    Decimal128(&'a [u8]),
    MinKey,
    MaxKey,
}

impl Value<'_> {
    /// A number as an integer (`ok: 1.0`, `code: 11000`).
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::Int32(i) => Some(i64::from(i)),
            Value::Int64(i) => Some(i),
            Value::Double(f) if f.is_finite() => Some(f as i64),
            Value::Bool(b) => Some(i64::from(b)),
            _ => None,
        }
    }
}

/// The elements of a document, in order, until the bytes end or make no sense.
#[derive(Debug, Clone)]
pub struct Elements<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Elements<'a> {
    type Item = (&'a [u8], Value<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        let (&kind, b) = self.rest.split_first()?;
        let (key, b) = cstring(b)?;
        let Some((value, used)) = value(kind, b) else {
            self.rest = &[];
            return None;
        };
        self.rest = b.get(used..).unwrap_or_default();
        Some((key, value))
    }
}

fn i32_at(b: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn i64_at(b: &[u8], at: usize) -> Option<i64> {
    Some(i64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// A NUL-terminated string at the start of `b`, and what follows it.
pub fn cstring(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let nul = b.iter().position(|c| *c == 0)?;
    Some((&b[..nul], &b[nul + 1..]))
}

/// A BSON string (int32 length including the NUL, bytes, NUL): (text, bytes used).
fn string(b: &[u8]) -> Option<(&[u8], usize)> {
    let n = usize::try_from(i32_at(b, 0)?).ok()?;
    if n == 0 {
        return None;
    }
    let text = b.get(4..4 + n)?;
    Some((&text[..n - 1], 4 + n))
}

/// A nested document: whole, or cut where the bytes end (then it is the last readable value).
fn nested(b: &[u8]) -> Option<(Doc<'_>, usize)> {
    let n = usize::try_from(i32_at(b, 0)?).ok()?;
    let d = Doc::parse(b)?;
    Some((d, n.min(b.len())))
}

fn value(kind: u8, b: &[u8]) -> Option<(Value<'_>, usize)> {
    Some(match kind {
        0x01 => (Value::Double(f64::from_bits(i64_at(b, 0)? as u64)), 8),
        0x02 => {
            let (s, n) = string(b)?;
            (Value::Str(s), n)
        }
        0x03 => {
            let (d, n) = nested(b)?;
            (Value::Doc(d), n)
        }
        0x04 => {
            let (d, n) = nested(b)?;
            (Value::Array(d), n)
        }
        0x05 => {
            let n = usize::try_from(i32_at(b, 0)?).ok()?;
            let sub = *b.get(4)?;
            (Value::Binary(sub, b.get(5..5 + n)?), 5 + n)
        }
        0x06 => (Value::Undefined, 0),
        0x07 => (Value::ObjectId(b.get(..12)?), 12),
        0x08 => (Value::Bool(*b.first()? != 0), 1),
        0x09 => (Value::DateTime(i64_at(b, 0)?), 8),
        0x0a => (Value::Null, 0),
        0x0b => {
            let (pattern, r) = cstring(b)?;
            let (options, _) = cstring(r)?;
            (
                Value::Regex(pattern, options),
                pattern.len() + options.len() + 2,
            )
        }
        0x0c => {
            let (ns, n) = string(b)?;
            (Value::DbPointer(ns, b.get(n..n + 12)?), n + 12)
        }
        0x0d => {
            let (s, n) = string(b)?;
            (Value::Code(s), n)
        }
        0x0e => {
            let (s, n) = string(b)?;
            (Value::Symbol(s), n)
        }
        0x0f => {
            let total = usize::try_from(i32_at(b, 0)?).ok()?;
            let (code, _) = string(b.get(4..)?)?;
            b.get(..total)?;
            (Value::Code(code), total)
        }
        0x10 => (Value::Int32(i32_at(b, 0)?), 4),
        0x11 => {
            let v = i64_at(b, 0)? as u64;
            (
                Value::Timestamp {
                    time: (v >> 32) as u32,
                    increment: v as u32,
                },
                8,
            )
        }
        0x12 => (Value::Int64(i64_at(b, 0)?), 8),
        0x13 => (Value::Decimal128(b.get(..16)?), 16),
        0xff => (Value::MinKey, 0),
        0x7f => (Value::MaxKey, 0),
        _ => return None,
    })
}

/// Is `kind` a BSON element type?
pub fn is_element_type(kind: u8) -> bool {
    matches!(kind, 0x01..=0x13 | 0x7f | 0xff)
}

/// Writes `doc` as DeepFlow prints it into `out`, stopping once `out` is full.
pub fn render<const N: usize>(doc: &Doc<'_>, out: &mut InlineBytes<N>) {
    render_doc(doc, out, 0);
}

fn render_doc<const N: usize>(doc: &Doc<'_>, out: &mut InlineBytes<N>, depth: u8) {
    if depth >= MAX_DEPTH {
        out.push_lossy(b"{...}");
        return;
    }
    out.push_lossy(b"{");
    let mut first = true;
    for (k, v) in doc.iter() {
        if out.is_truncated() {
            return;
        }
        out.push_lossy(if first { b" \"" } else { b", \"" });
        first = false;
        out.push_lossy(k);
        out.push_lossy(b"\": ");
        render_value(&v, out, depth);
    }
    out.push_lossy(if first { b"}" } else { b" }" });
}

fn render_array<const N: usize>(doc: &Doc<'_>, out: &mut InlineBytes<N>, depth: u8) {
    if depth >= MAX_DEPTH {
        out.push_lossy(b"[...]");
        return;
    }
    out.push_lossy(b"[");
    for (i, (_, v)) in doc.iter().enumerate() {
        if out.is_truncated() {
            return;
        }
        if i > 0 {
            out.push_lossy(b", ");
        }
        render_value(&v, out, depth);
    }
    out.push_lossy(b"]");
}

fn render_value<const N: usize>(v: &Value<'_>, out: &mut InlineBytes<N>, depth: u8) {
    // Writes into InlineBytes never fail (they cut at the capacity).
    let _ = match *v {
        Value::Double(f) => write!(out, "{f}"),
        Value::Str(s) => {
            out.push_lossy(b"\"");
            out.push_lossy(s);
            out.write_str("\"")
        }
        Value::Doc(d) => {
            render_doc(&d, out, depth + 1);
            Ok(())
        }
        Value::Array(d) => {
            render_array(&d, out, depth + 1);
            Ok(())
        }
        Value::Binary(sub, bytes) => {
            let _ = write!(out, "Binary({sub:#x}, ");
            base64::encode(bytes, Base64::Standard, out);
            out.write_str(")")
        }
        Value::Undefined => out.write_str("undefined"),
        Value::ObjectId(id) => {
            out.push_lossy(b"ObjectId(\"");
            hex(id, out);
            out.write_str("\")")
        }
        Value::Bool(b) => write!(out, "{b}"),
        Value::DateTime(ms) => {
            out.push_lossy(b"DateTime(\"");
            rfc3339(ms, out);
            out.write_str("\")")
        }
        Value::Null => out.write_str("null"),
        Value::Regex(p, o) => {
            out.push_lossy(b"/");
            out.push_lossy(p);
            out.push_lossy(b"/");
            out.push_lossy(o);
            Ok(())
        }
        Value::DbPointer(ns, id) => {
            out.push_lossy(b"DbPointer(");
            out.push_lossy(ns);
            out.push_lossy(b", ");
            hex(id, out);
            out.write_str(")")
        }
        Value::Code(c) => {
            out.push_lossy(c);
            Ok(())
        }
        Value::Symbol(s) => {
            out.push_lossy(b"Symbol(\"");
            out.push_lossy(s);
            out.write_str("\")")
        }
        Value::Int32(i) => write!(out, "{i}"),
        Value::Timestamp { time, increment } => write!(out, "Timestamp({time}, {increment})"),
        Value::Int64(i) => write!(out, "{i}"),
        Value::Decimal128(b) => {
            out.push_lossy(b"Decimal128(0x");
            hex(b, out);
            out.write_str(")")
        }
        Value::MinKey => out.write_str("MinKey"),
        Value::MaxKey => out.write_str("MaxKey"),
    };
}

fn hex<const N: usize>(b: &[u8], out: &mut InlineBytes<N>) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for c in b {
        out.push_lossy(&[DIGITS[usize::from(c >> 4)], DIGITS[usize::from(c & 15)]]);
    }
}

/// Milliseconds since the epoch as RFC 3339 in UTC (`2024-11-07T06:59:48.123Z`; fractions
/// without trailing zeros).
fn rfc3339<const N: usize>(ms: i64, out: &mut InlineBytes<N>) {
    let secs = ms.div_euclid(1000);
    let frac = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let tod = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        tod / 3600,
        tod / 60 % 60,
        tod % 60
    );
    if frac != 0 {
        let mut f = frac;
        let mut digits = 3;
        while f % 10 == 0 {
            f /= 10;
            digits -= 1;
        }
        let _ = write!(out, ".{f:0digits$}");
    }
    out.push_lossy(b"Z");
}
