//! A request log row's custom attributes (DeepFlow's `attribute_names` / `attribute_values`):
//! the headers `processors.request_log.tag_extraction.custom_fields` names, the bytes of error
//! exchanges `tag_extraction.raw` keeps (the L7 layer's `raw` module) and the trace id
//! `copy_apm_trace_id` copies, kept inline.
//!
//! Entries are packed as `[name length: 1 byte][name][value length: 2 bytes, LE][value]` (names
//! of at most 255 bytes) in [`CAPACITY`] bytes, so any bytes a header or a body carries are kept
//! as they came; a value is cut to the room left, an entry whose name does not fit is left out,
//! and either marks the row ([`Attributes::is_truncated`]).

use crate::inline::InlineBytes;

/// Bytes for every entry of a row.
pub const CAPACITY: usize = 512;

/// Bytes an entry takes besides its name and value.
pub const ENTRY_OVERHEAD: usize = 3;

/// Name/value pairs, inline.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Attributes {
    packed: InlineBytes<CAPACITY>,
    cut: bool,
}

impl Attributes {
    pub const EMPTY: Attributes = Attributes {
        packed: InlineBytes::EMPTY,
        cut: false,
    };

    pub fn is_empty(&self) -> bool {
        self.packed.is_empty()
    }

    /// Empties it without touching its bytes (what [`Attributes::EMPTY`] compares equal to).
    pub fn clear(&mut self) {
        self.packed.clear();
        self.cut = false;
    }

    /// A value was cut or an entry left out.
    pub fn is_truncated(&self) -> bool {
        self.cut
    }

    /// Adds `name` = `value`, the value cut to the room left; false (and the row marked) when
    /// not even the name fits.
    pub fn push(&mut self, name: &[u8], value: &[u8]) -> bool {
        let name = &name[..name.len().min(255)];
        let room = CAPACITY - self.packed.len();
        let Some(left) = room.checked_sub(ENTRY_OVERHEAD + name.len()) else {
            self.cut = true;
            return false;
        };
        let keep = value.len().min(left);
        self.cut |= keep < value.len();
        let value = &value[..keep];
        self.packed.push_lossy(&[name.len() as u8]);
        self.packed.push_lossy(name);
        self.packed.push_lossy(&(value.len() as u16).to_le_bytes());
        self.packed.push_lossy(value);
        true
    }

    /// Takes out every entry named `name`.
    pub fn remove(&mut self, name: &[u8]) {
        if !self.contains(name) {
            return;
        }
        let mut kept = Attributes {
            packed: InlineBytes::EMPTY,
            cut: self.cut,
        };
        for (n, v) in self.iter().filter(|(n, _)| *n != name) {
            kept.push(n, v);
        }
        *self = kept;
    }

    /// Whether an entry named `name` is there.
    pub fn contains(&self, name: &[u8]) -> bool {
        self.iter().any(|(n, _)| n == name)
    }

    /// The entries in the order they were added.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        let mut rest = self.packed.as_bytes();
        std::iter::from_fn(move || {
            let (&n, r) = rest.split_first()?;
            let (name, r) = r.split_at_checked(usize::from(n))?;
            let (v, r) = r.split_first_chunk::<2>()?;
            let (value, r) = r.split_at_checked(usize::from(u16::from_le_bytes(*v)))?;
            rest = r;
            Some((name, value))
        })
    }

    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// The entries as text (invalid UTF-8 replaced), for tests to compare.
    #[cfg(test)]
    pub(crate) fn text_pairs(&self) -> Vec<(String, String)> {
        self.iter()
            .map(|(n, v)| {
                (
                    String::from_utf8_lossy(n).into_owned(),
                    String::from_utf8_lossy(v).into_owned(),
                )
            })
            .collect()
    }
}

/// A JSON object of the entries (names and values as text, invalid UTF-8 replaced).
impl serde::Serialize for Attributes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.len()))?;
        for (n, v) in self.iter() {
            m.serialize_entry(&String::from_utf8_lossy(n), &String::from_utf8_lossy(v))?;
        }
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_come_back_in_order_with_any_bytes() {
        let mut a = Attributes::default();
        assert!(a.is_empty());
        assert!(a.push(b"user_agent", b"curl/8"));
        assert!(a.push(b"cookie", b"\x00\xff;a=b"));
        assert!(a.push(b"empty", b""));
        let got: Vec<_> = a.iter().collect();
        assert_eq!(
            got,
            [
                (&b"user_agent"[..], &b"curl/8"[..]),
                (b"cookie", b"\x00\xff;a=b"),
                (b"empty", b"")
            ]
        );
        assert_eq!(a.len(), 3);
        assert!(a.contains(b"cookie") && !a.contains(b"cook"));
        assert!(!a.is_truncated());
    }

    #[test]
    fn long_values_are_cut_and_what_does_not_fit_is_left_out() {
        let mut a = Attributes::default();
        assert!(a.push(b"a", &[b'x'; 100]));
        assert!(!a.is_truncated());
        assert!(a.push(b"b", &[b'y'; 600]), "cut to the room left");
        assert!(a.is_truncated());
        assert_eq!(a.iter().nth(1).unwrap().1.len(), CAPACITY - 104 - 4);
        assert!(!a.push(b"c", b"z"), "no room for the name");
        assert_eq!(a.len(), 2);
    }

    #[test]
    fn entries_are_removed_by_name() {
        let mut a = Attributes::default();
        a.push(b"x", b"1");
        a.push(b"request_header", &[b'h'; 300]);
        a.push(b"y", b"2");
        a.remove(b"request_header");
        let got: Vec<_> = a.iter().collect();
        assert_eq!(got, [(&b"x"[..], &b"1"[..]), (b"y", b"2")]);
        a.remove(b"absent");
        assert_eq!(a.len(), 2);
        assert!(!a.is_truncated());
        a.remove(b"x");
        a.remove(b"y");
        assert!(a.is_empty());
    }

    #[test]
    fn serialises_as_an_object() {
        let mut a = Attributes::default();
        a.push(b"x_user", b"42");
        a.push(b"bad", b"\xff");
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            "{\"x_user\":\"42\",\"bad\":\"\u{fffd}\"}"
        );
    }
}
