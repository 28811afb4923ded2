//! The members of a JSON object, read without allocating: RocketMQ's remoting header in its JSON
//! form (`{"code":310,"extFields":{"a":"group",...},"flag":0,...}`). Bounded: strings are
//! returned raw (escapes still in them, [`unescape`] decodes them into a caller's buffer),
//! nested values are skipped with a depth limit, and a cut or malformed object ends the walk
//! after the members read before it.

/// How deep nested values may go before a walk gives up.
const MAX_DEPTH: usize = 16;

/// A member's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    /// A string, raw (between its quotes, escapes not decoded).
    Str(&'a [u8]),
    /// An integer (a number with a fraction or exponent is `Other`).
    Int(i64),
    /// An object, braces included.
    Object(&'a [u8]),
    /// An array, `true`, `false`, `null`, a non-integer number.
    Other,
}

/// The members of the object at the start of `json`: (raw key, value).
pub fn members(json: &[u8]) -> Members<'_> {
    let mut m = Members { b: json, at: 0 };
    m.ws();
    if m.b.get(m.at) == Some(&b'{') {
        m.at += 1;
    } else {
        m.at = m.b.len();
    }
    m
}

#[derive(Debug, Clone)]
pub struct Members<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Members<'a> {
    fn ws(&mut self) {
        while self
            .b
            .get(self.at)
            .is_some_and(|c| matches!(c, b' ' | b'\t' | b'\r' | b'\n'))
        {
            self.at += 1;
        }
    }

    /// A string starting at the quote at `self.at`: its raw contents; moves past it.
    fn string(&mut self) -> Option<&'a [u8]> {
        let start = self.at + 1;
        let mut i = start;
        while i < self.b.len() {
            match self.b[i] {
                b'\\' => i += 2,
                b'"' => {
                    self.at = i + 1;
                    return Some(&self.b[start..i]);
                }
                _ => i += 1,
            }
        }
        None
    }

    /// Skips an object or array starting at `self.at`; returns its bytes.
    fn nested(&mut self) -> Option<&'a [u8]> {
        let start = self.at;
        let mut depth = 0usize;
        while self.at < self.b.len() {
            match self.b[self.at] {
                b'"' => {
                    self.string()?;
                    continue;
                }
                b'{' | b'[' => {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return None;
                    }
                }
                b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        self.at += 1;
                        return Some(&self.b[start..self.at]);
                    }
                }
                _ => {}
            }
            self.at += 1;
        }
        None
    }

    fn scalar(&mut self) -> Option<Value<'a>> {
        let start = self.at;
        while self
            .b
            .get(self.at)
            .is_some_and(|c| !matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n'))
        {
            self.at += 1;
        }
        // A scalar that runs to the end of the bytes may be cut.
        if self.at == self.b.len() || self.at == start {
            return None;
        }
        let text = std::str::from_utf8(&self.b[start..self.at]).ok()?;
        Some(text.parse::<i64>().map_or(Value::Other, Value::Int))
    }

    fn member(&mut self) -> Option<(&'a [u8], Value<'a>)> {
        self.ws();
        if self.b.get(self.at) != Some(&b'"') {
            return None;
        }
        let key = self.string()?;
        self.ws();
        if self.b.get(self.at) != Some(&b':') {
            return None;
        }
        self.at += 1;
        self.ws();
        let value = match *self.b.get(self.at)? {
            b'"' => Value::Str(self.string()?),
            b'{' => Value::Object(self.nested()?),
            b'[' => {
                self.nested()?;
                Value::Other
            }
            _ => self.scalar()?,
        };
        self.ws();
        match self.b.get(self.at) {
            Some(b',') => self.at += 1,
            Some(b'}') => self.at = self.b.len(),
            _ => return None,
        }
        Some((key, value))
    }
}

impl<'a> Iterator for Members<'a> {
    type Item = (&'a [u8], Value<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.at >= self.b.len() {
            return None;
        }
        let m = self.member();
        if m.is_none() {
            self.at = self.b.len();
        }
        m
    }
}

/// Decodes the escapes of raw string `raw` into `out`; returns the bytes written (what fits).
/// `\uXXXX` becomes UTF-8 (a surrogate becomes `?`); an unknown escape is kept as its letter.
pub fn unescape(raw: &[u8], out: &mut [u8]) -> usize {
    let mut n = 0;
    let cap = out.len();
    let mut put = |bytes: &[u8], n: &mut usize| {
        let fit = bytes.len().min(cap - *n);
        out[*n..*n + fit].copy_from_slice(&bytes[..fit]);
        *n += fit;
    };
    let mut i = 0;
    while i < raw.len() && n < cap {
        if raw[i] != b'\\' || i + 1 >= raw.len() {
            put(&raw[i..i + 1], &mut n);
            i += 1;
            continue;
        }
        let c = raw[i + 1];
        i += 2;
        let simple = match c {
            b'n' => b'\n',
            b't' => b'\t',
            b'r' => b'\r',
            b'b' => 8,
            b'f' => 12,
            b'u' => {
                let hex = raw
                    .get(i..i + 4)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u32::from_str_radix(h, 16).ok());
                let Some(code) = hex else {
                    break;
                };
                i += 4;
                let ch = char::from_u32(code).unwrap_or('?');
                let mut buf = [0u8; 4];
                put(ch.encode_utf8(&mut buf).as_bytes(), &mut n);
                continue;
            }
            other => other,
        };
        put(&[simple], &mut n);
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_members_and_skips_nested_values() {
        let j = br#"{"code":310,"extFields":{"a":"g","b":"TopicTest"},"flag":0,"language":"JAVA","list":[1,{"x":"}"}],"ok":true,"remark":null,"neg":-5}"#;
        let got: Vec<_> = members(j).collect();
        assert_eq!(got.len(), 8);
        assert_eq!(got[0], (&b"code"[..], Value::Int(310)));
        assert_eq!(
            got[1],
            (
                &b"extFields"[..],
                Value::Object(br#"{"a":"g","b":"TopicTest"}"#)
            )
        );
        assert_eq!(got[3], (&b"language"[..], Value::Str(b"JAVA")));
        assert_eq!(got[4].1, Value::Other);
        assert_eq!(got[7], (&b"neg"[..], Value::Int(-5)));
        let inner: Vec<_> = members(br#"{"a":"g","b":"TopicTest"}"#).collect();
        assert_eq!(inner[1], (&b"b"[..], Value::Str(b"TopicTest")));
    }

    #[test]
    fn a_cut_object_gives_the_members_before_the_cut() {
        let j = br#"{"code":310,"opaque":42,"remark":"a \"quoted\" word"}"#;
        for cut in 0..j.len() {
            let got: Vec<_> = members(&j[..cut]).collect();
            assert!(got.len() <= 3);
            if cut < 11 {
                assert!(got.is_empty(), "cut {cut}");
            }
        }
        assert_eq!(members(j).count(), 3);
        assert_eq!(members(b"[1,2]").count(), 0);
        assert_eq!(members(b"{\"a\" 1}").count(), 0);
        let deep = [
            b"{\"a\":".to_vec(),
            vec![b'['; 40],
            vec![b']'; 40],
            b"}".to_vec(),
        ]
        .concat();
        assert_eq!(members(&deep).count(), 0);
    }

    #[test]
    fn unescapes_into_a_bounded_buffer() {
        let mut out = [0u8; 64];
        let n = unescape(br#"KEYS\u0001k1\u0002UNIQ_KEY\u0001AB\"c\\"#, &mut out);
        assert_eq!(&out[..n], b"KEYS\x01k1\x02UNIQ_KEY\x01AB\"c\\");
        let n = unescape(br#"\u00e9\ud800x\n"#, &mut out);
        assert_eq!(&out[..n], "é?x\n".as_bytes());
        let mut small = [0u8; 3];
        assert_eq!(unescape(b"abcdef", &mut small), 3);
        assert_eq!(unescape(br#"ab\u00"#, &mut out), 2);
    }
}
