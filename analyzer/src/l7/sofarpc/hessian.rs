//! The names a Hessian-encoded `SofaRequest` carries in the content of a Bolt request (callers
//! that leave them out of the header map): the object's class definition (SOFA Hessian's `O`
//! form: an int length and the class name, or Hessian 2's `C` with a string), its field names,
//! then the instance's values in field order. `methodName` and `targetServiceUniqueName` are
//! strings; `requestProps` is a map whose `sofaTraceId` (directly or in the nested
//! `rpc_trace_context` map) and `new_rpc_trace_context` strings carry the trace. Scalars of
//! other fields are skipped; the walk stops at the first value it cannot skip (a list, a
//! nested object), which in a `SofaRequest` comes after the names. Bounded: at most
//! [`MAX_FIELDS`] fields, maps nested [`MAX_DEPTH`] deep.

use super::super::dubbo::wire::Reader;

pub const MAX_FIELDS: usize = 16;
const MAX_DEPTH: u8 = 3;

/// What the walk found (empty when absent).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestNames<'a> {
    pub service: &'a [u8],
    pub method: &'a [u8],
    pub trace_id: &'a [u8],
    pub new_trace_context: &'a [u8],
}

/// Reads the names of a `SofaRequest` object at the start of `content`.
pub fn request_names(content: &[u8]) -> RequestNames<'_> {
    let mut names = RequestNames::default();
    let mut r = Reader::new(content);
    let _ = walk_object(&mut r, &mut names);
    names
}

fn walk_object<'a>(r: &mut Reader<'a>, names: &mut RequestNames<'a>) -> Option<()> {
    let instance = match r.u8()? {
        // SOFA Hessian: 'O', the class name's length as an int and its bytes; then 'o' + ref.
        b'O' => {
            let n = int(r)?;
            r.skip(usize::try_from(n).ok()?)?;
            b'o'
        }
        // Hessian 2: 'C', the class name as a string; then 'O' + ref (or 0x60 + ref).
        b'C' => {
            r.hessian_str()?;
            b'O'
        }
        _ => return None,
    };
    let count = usize::try_from(int(r)?).ok()?;
    if count > MAX_FIELDS {
        return None;
    }
    let mut fields: [&[u8]; MAX_FIELDS] = [&[]; MAX_FIELDS];
    for f in fields.iter_mut().take(count) {
        *f = r.hessian_str()?;
    }
    match r.u8()? {
        t if t == instance => {
            int(r)?;
        }
        0x60..=0x6f if instance == b'O' => {}
        _ => return None,
    }
    for field in &fields[..count] {
        match r.peek()? {
            b'M' | b'H' => map(r, 0, names)?,
            _ => {
                let v = value(r)?;
                match *field {
                    b"methodName" => names.method = v,
                    b"targetServiceUniqueName" => names.service = v,
                    _ => {}
                }
            }
        }
    }
    Some(())
}

/// A map (`M` with an optional Hessian 1 `t` type, or `H`) of string keys, up to its end
/// (`z` or `Z`).
fn map<'a>(r: &mut Reader<'a>, depth: u8, names: &mut RequestNames<'a>) -> Option<()> {
    if depth >= MAX_DEPTH {
        return None;
    }
    r.u8()?;
    if r.peek()? == b't' {
        r.u8()?;
        let n = (usize::from(r.u8()?) << 8) | usize::from(r.u8()?);
        r.skip(n)?;
    }
    loop {
        if matches!(r.peek()?, b'z' | b'Z') {
            r.u8()?;
            return Some(());
        }
        let key = value(r)?;
        if matches!(r.peek()?, b'M' | b'H') {
            map(r, depth + 1, names)?;
            continue;
        }
        let v = value(r)?;
        match key {
            b"sofaTraceId" => names.trace_id = v,
            b"new_rpc_trace_context" => names.new_trace_context = v,
            _ => {}
        }
    }
}

/// A scalar: a string's bytes, or empty for null, booleans and numbers.
fn value<'a>(r: &mut Reader<'a>) -> Option<&'a [u8]> {
    let tag = r.peek()?;
    let skip = match tag {
        0x00..=0x1f | 0x30..=0x33 | b'S' => return r.hessian_str(),
        b'N' | b'T' | b'F' => 1,
        // Compact ints and longs, doubles 0.0 / 1.0.
        0x80..=0xbf | 0xe0..=0xef | 0x5b | 0x5c => 1,
        0xc0..=0xcf | 0xf0..=0xff | 0x5d => 2,
        0xd0..=0xd7 | 0x38..=0x3f | 0x5e => 3,
        b'I' | 0x59 | 0x5f | 0x4b => 5,
        b'L' | b'D' | 0x4a => 9,
        _ => return None,
    };
    r.skip(skip)?;
    Some(&[])
}

/// A Hessian int.
fn int(r: &mut Reader<'_>) -> Option<i64> {
    let b0 = i64::from(r.u8()?);
    Some(match b0 {
        0x80..=0xbf => b0 - 0x90,
        0xc0..=0xcf => ((b0 - 0xc8) << 8) + i64::from(r.u8()?),
        0xd0..=0xd7 => ((b0 - 0xd4) << 16) + (i64::from(r.u8()?) << 8) + i64::from(r.u8()?),
        0x49 => {
            let b = r.bytes(4)?;
            i64::from(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        }
        _ => return None,
    })
}
