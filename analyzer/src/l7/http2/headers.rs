//! The fields of one decoded HPACK header block, bounded, for the session to look up by name.
//!
//! A block is decoded into a fresh `Headers` on the stack for each HEADERS frame. The fields'
//! bytes go side by side into one buffer that is not cleared first: with a fixed-size string per
//! field, 24 fields took 7 KiB of zeroing per block, more than decoding the block.

use arrayvec::ArrayVec;

use super::super::http1;
use super::hpack::Field;

/// Header fields kept per block (pseudo-headers come first, so they are always kept).
pub(super) const MAX_FIELDS: usize = 24;
/// Longer names are cut to this many bytes.
const NAME_MAX: usize = 48;
/// Longer values are cut to this many bytes.
const VALUE_MAX: usize = 256;

/// Where one field's name and value are in [`Headers::bytes`].
#[derive(Clone, Copy)]
struct Span {
    at: u16,
    name_len: u8,
    value_len: u16,
}

/// The first [`MAX_FIELDS`] fields of a header block, names cut at 48 bytes, values at 256.
pub(crate) struct Headers {
    bytes: ArrayVec<u8, { MAX_FIELDS * (NAME_MAX + VALUE_MAX) }>,
    fields: ArrayVec<Span, MAX_FIELDS>,
}

impl Headers {
    pub(super) fn new() -> Self {
        Headers {
            bytes: ArrayVec::new(),
            fields: ArrayVec::new(),
        }
    }

    /// Keeps `f` (cut), or nothing once [`MAX_FIELDS`] are kept.
    pub(super) fn push(&mut self, f: Field<'_>) {
        if self.fields.is_full() {
            return;
        }
        let name = &f.name[..f.name.len().min(NAME_MAX)];
        let value = &f.value[..f.value.len().min(VALUE_MAX)];
        let at = self.bytes.len();
        // Always room: every field kept takes at most NAME_MAX + VALUE_MAX.
        let kept = self.bytes.try_extend_from_slice(name);
        if kept
            .and_then(|()| self.bytes.try_extend_from_slice(value))
            .is_err()
        {
            self.bytes.truncate(at);
            return;
        }
        self.fields.push(Span {
            at: at as u16,
            name_len: name.len() as u8,
            value_len: value.len() as u16,
        });
    }

    fn name(&self, s: Span) -> &[u8] {
        let at = usize::from(s.at);
        &self.bytes[at..at + usize::from(s.name_len)]
    }

    fn value(&self, s: Span) -> &[u8] {
        let at = usize::from(s.at) + usize::from(s.name_len);
        &self.bytes[at..at + usize::from(s.value_len)]
    }

    /// The value of the first field named `name` (ASCII case-insensitive).
    pub(crate) fn get(&self, name: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|&&s| {
                std::str::from_utf8(self.name(s)).is_ok_and(|n| http1::same_header_name(n, name))
            })
            .map(|&s| self.value(s))
    }

    pub(super) fn status(&self) -> Option<u16> {
        std::str::from_utf8(self.get(":status")?).ok()?.parse().ok()
    }

    pub(super) fn is_grpc(&self) -> bool {
        self.get("content-type")
            .is_some_and(|c| c.starts_with(b"application/grpc"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field<'a>(name: &'a [u8], value: &'a [u8]) -> Field<'a> {
        Field { name, value }
    }

    #[test]
    fn fields_are_found_by_name_whatever_the_case_first_one_wins() {
        let mut h = Headers::new();
        h.push(field(b":status", b"200"));
        h.push(field(b"Content-Type", b"application/grpc+proto"));
        h.push(field(b"content-type", b"text/plain"));
        h.push(field(b"empty", b""));
        assert_eq!(h.status(), Some(200));
        assert!(h.is_grpc());
        assert_eq!(h.get("CONTENT-TYPE"), Some(&b"application/grpc+proto"[..]));
        assert_eq!(h.get("empty"), Some(&b""[..]));
        assert_eq!(h.get("missing"), None);
    }

    #[test]
    fn long_fields_are_cut_and_fields_past_the_bound_left_out() {
        let mut h = Headers::new();
        let long_name = [b'n'; 100];
        let long_value = [b'v'; 1000];
        for _ in 0..MAX_FIELDS {
            h.push(field(&long_name, &long_value));
        }
        h.push(field(b"late", b"1"));
        let n = std::str::from_utf8(&long_name[..NAME_MAX]).unwrap();
        assert_eq!(h.get(n), Some(&long_value[..VALUE_MAX]));
        assert_eq!(h.fields.len(), MAX_FIELDS);
        assert_eq!(h.get("late"), None);
    }
}
