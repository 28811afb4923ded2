//! Reading protocol buffers' wire format without a schema or allocation, as far as a request log
//! needs it: a message's fields one by one (Pulsar's commands and message metadata). Bounded:
//! every length is checked against the bytes at hand, a varint is at most 10 bytes, and a
//! message cut by the capture yields the fields before the cut (a length-delimited field cut
//! short yields what was captured of it, then the walk ends).

/// A field's value, by wire type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    /// Wire type 0 (int32, int64, uint64, bool, enum).
    Varint(u64),
    /// Wire type 1.
    Fixed64(u64),
    /// Wire type 2 (string, bytes, a nested message): as much of it as the buffer holds.
    Bytes(&'a [u8]),
    /// Wire type 5.
    Fixed32(u32),
}

impl<'a> Value<'a> {
    pub fn varint(self) -> Option<u64> {
        match self {
            Value::Varint(v) => Some(v),
            _ => None,
        }
    }

    pub fn bytes(self) -> Option<&'a [u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }
}

/// The fields of one message, in wire order. Ends at the end of the buffer, at a field that
/// does not read (then [`Fields::malformed`] is set) or after a field cut short by the buffer's
/// end (then [`Fields::cut`] is set).
#[derive(Debug, Clone)]
pub struct Fields<'a> {
    rest: &'a [u8],
    malformed: bool,
    cut: bool,
}

impl<'a> Fields<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Fields {
            rest: buf,
            malformed: false,
            cut: false,
        }
    }

    /// A field did not read (a bad wire type, field number 0, an over-long varint).
    pub fn malformed(&self) -> bool {
        self.malformed
    }

    /// The buffer ended inside a field.
    pub fn cut(&self) -> bool {
        self.cut
    }

    /// The first field numbered `number`.
    pub fn find(buf: &'a [u8], number: u32) -> Option<Value<'a>> {
        Fields::new(buf).find_map(|(n, v)| (n == number).then_some(v))
    }

    fn stop(&mut self, cut: bool) -> Option<(u32, Value<'a>)> {
        if cut {
            self.cut = true;
        } else {
            self.malformed = true;
        }
        self.rest = &[];
        None
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = (u32, Value<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let (key, n) = match varint(self.rest) {
            Ok(v) => v,
            Err(cut) => return self.stop(cut),
        };
        let number = key >> 3;
        if number == 0 || number > u64::from(u32::MAX >> 3) {
            return self.stop(false);
        }
        let number = number as u32;
        let body = &self.rest[n..];
        let (value, used) = match key & 7 {
            0 => match varint(body) {
                Ok((v, m)) => (Value::Varint(v), m),
                Err(cut) => return self.stop(cut),
            },
            1 => match body.get(..8) {
                Some(b) => (
                    Value::Fixed64(u64::from_le_bytes(b.try_into().unwrap_or([0; 8]))),
                    8,
                ),
                None => return self.stop(true),
            },
            2 => {
                let (len, m) = match varint(body) {
                    Ok(v) => v,
                    Err(cut) => return self.stop(cut),
                };
                let avail = body.len() - m;
                if len > avail as u64 {
                    self.cut = true;
                    self.rest = &[];
                    return Some((number, Value::Bytes(&body[m..])));
                }
                let len = len as usize;
                (Value::Bytes(&body[m..m + len]), m + len)
            }
            5 => match body.get(..4) {
                Some(b) => (
                    Value::Fixed32(u32::from_le_bytes(b.try_into().unwrap_or([0; 4]))),
                    4,
                ),
                None => return self.stop(true),
            },
            _ => return self.stop(false),
        };
        self.rest = &body[used..];
        Some((number, value))
    }
}

/// A varint at the start of `b`: (value, bytes used); Err(true) when `b` ends inside it,
/// Err(false) when it runs past 10 bytes.
pub fn varint(b: &[u8]) -> Result<(u64, usize), bool> {
    let mut v = 0u64;
    for (i, &byte) in b.iter().enumerate().take(10) {
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok((v, i + 1));
        }
    }
    Err(b.len() < 10)
}

/// Writing the wire format, for tests that build messages field by field.
#[cfg(test)]
pub(crate) mod encode {
    pub(crate) fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    /// A message, its fields in the order they are added.
    #[derive(Debug, Default, Clone)]
    pub(crate) struct Pb(pub(crate) Vec<u8>);

    impl Pb {
        fn key(mut self, n: u32, wire: u8) -> Self {
            varint(&mut self.0, (u64::from(n) << 3) | u64::from(wire));
            self
        }

        pub(crate) fn int(self, n: u32, v: u64) -> Self {
            let mut m = self.key(n, 0);
            varint(&mut m.0, v);
            m
        }

        pub(crate) fn bytes(self, n: u32, b: &[u8]) -> Self {
            let mut m = self.key(n, 2);
            varint(&mut m.0, b.len() as u64);
            m.0.extend(b);
            m
        }

        pub(crate) fn msg(self, n: u32, inner: Pb) -> Self {
            self.bytes(n, &inner.0)
        }

        pub(crate) fn fixed64(self, n: u32, v: u64) -> Self {
            let mut m = self.key(n, 1);
            m.0.extend(v.to_le_bytes());
            m
        }

        pub(crate) fn fixed32(self, n: u32, v: u32) -> Self {
            let mut m = self.key(n, 5);
            m.0.extend(v.to_le_bytes());
            m
        }
    }
}

#[cfg(test)]
mod tests {
    use super::encode::Pb;
    use super::*;

    fn message() -> Vec<u8> {
        Pb::default()
            .int(1, 300)
            .bytes(2, b"hello")
            .fixed64(3, 7)
            .fixed32(4, 9)
            .int(200, u64::MAX)
            .0
    }

    #[test]
    fn reads_every_wire_type() {
        let m = message();
        let fields: Vec<_> = Fields::new(&m).collect();
        assert_eq!(
            fields,
            vec![
                (1, Value::Varint(300)),
                (2, Value::Bytes(b"hello")),
                (3, Value::Fixed64(7)),
                (4, Value::Fixed32(9)),
                (200, Value::Varint(u64::MAX)),
            ]
        );
        assert_eq!(
            Fields::find(&m, 2).and_then(Value::bytes),
            Some(&b"hello"[..])
        );
        assert_eq!(Fields::find(&m, 9), None);
    }

    #[test]
    fn a_cut_message_gives_the_fields_before_the_cut() {
        let m = message();
        for cut in 0..m.len() {
            let mut f = Fields::new(&m[..cut]);
            let got: Vec<_> = f.by_ref().collect();
            assert!(!f.malformed(), "cut {cut}");
            assert!(got.len() <= 5);
            // The string is whole or a prefix of itself.
            if let Some((_, Value::Bytes(b))) = got.get(1) {
                assert!(b"hello".starts_with(b));
            }
        }
    }

    #[test]
    fn bad_input_stops_the_walk() {
        // Field number 0, wire type 3 (groups), an over-long varint.
        for bad in [
            &[0x00, 0x01][..],
            &[0x0b, 0x01],
            &[
                0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
            ],
        ] {
            let mut f = Fields::new(bad);
            assert_eq!(f.by_ref().count(), 0);
            assert!(f.malformed());
        }
        // A length past the end: what is there, then the end.
        let mut f = Fields::new(&[0x12, 0x7f, b'a']);
        assert_eq!(f.next(), Some((2, Value::Bytes(b"a"))));
        assert_eq!(f.next(), None);
        assert!(f.cut());
    }
}
