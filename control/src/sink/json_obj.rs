//! A JSON object written without generic serialization: keys rendered at compile time (none
//! needs escaping), integers formatted in place, IPv4 addresses and MACs formatted in place,
//! escaping only where a string needs it, all gathered in a stack buffer. The rows' writers
//! (`l4_json`, `l7_json`) are made of it; each checks its output against serde's derive.

use std::net::IpAddr;

use tapflow_analyzer::inline::InlineBytes;
use tapflow_analyzer::record::MacAddr;

/// Longest pre-rendered key (`,"name":`).
const KEY_MAX: usize = 32;

/// A pre-rendered key `,"name":`, padded to [`KEY_MAX`] bytes: written whole and cut back to
/// `len`, a fixed-size copy instead of a call to `memcpy` for each member.
pub(super) struct Key {
    bytes: [u8; KEY_MAX],
    len: usize,
}

pub(super) const fn make_key(s: &str) -> Key {
    let b = s.as_bytes();
    assert!(b.len() <= KEY_MAX, "key too long");
    let mut bytes = [b' '; KEY_MAX];
    let mut i = 0;
    while i < b.len() {
        bytes[i] = b[i];
        i += 1;
    }
    Key {
        bytes,
        len: b.len(),
    }
}

/// The [`Key`] of member `name` (keys need no escaping), rendered at compile time.
macro_rules! key {
    ($name:literal) => {{
        const K: $crate::sink::json_obj::Key =
            $crate::sink::json_obj::make_key(concat!(",\"", $name, "\":"));
        &K
    }};
}
pub(super) use key;

/// Two decimal digits of 0..100.
const DIGITS2: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Writes `v` in decimal at the start of `dst` (at least 20 bytes); returns its length. Digits
/// go straight to their place: no intermediate buffer read back in one wide load (byte stores
/// followed by a wider load of the same bytes stall store forwarding).
#[inline(always)]
fn decimal(v: u64, dst: &mut [u8]) -> usize {
    if v < 10 {
        dst[0] = b'0' + v as u8;
        return 1;
    }
    let n = v.ilog10() as usize + 1;
    let dst = &mut dst[..n];
    let (mut x, mut i) = (v, n);
    while x >= 100 {
        let d = (x % 100) as usize * 2;
        x /= 100;
        i -= 2;
        dst[i] = DIGITS2[d];
        dst[i + 1] = DIGITS2[d + 1];
    }
    if x >= 10 {
        let d = x as usize * 2;
        dst[i - 2] = DIGITS2[d];
        dst[i - 1] = DIGITS2[d + 1];
    } else {
        dst[i - 1] = b'0' + x as u8;
    }
    n
}

/// Bytes of a row gathered on the stack before they move to the output.
const STAGE: usize = 1024;

/// An object being written: every member's key starts with a comma; the first one's becomes
/// the opening brace. Bytes gather in a stack buffer whose cursor stays in a register (stores
/// into a `Vec<u8>` may alias the vector's own length, so each byte written there costs a
/// reload and a store of the length) and move to the output when it fills and at the end.
pub(super) struct Obj<'a> {
    out: &'a mut Vec<u8>,
    start: usize,
    stage: [u8; STAGE],
    n: usize,
}

impl<'a> Obj<'a> {
    pub(super) fn open(out: &'a mut Vec<u8>) -> Self {
        // A row is about 1.2 KB: one reservation, then no capacity checks that grow.
        out.reserve(2048);
        Obj {
            start: out.len(),
            out,
            stage: [0; STAGE],
            n: 0,
        }
    }

    #[inline(never)]
    fn spill(&mut self) {
        self.out.extend_from_slice(&self.stage[..self.n]);
        self.n = 0;
    }

    /// Appends the first `len` bytes of `bytes` with one fixed-size copy.
    #[inline(always)]
    fn put<const N: usize>(&mut self, bytes: &[u8; N], len: usize) {
        if self.n + N > STAGE {
            self.spill();
        }
        if let Some(dst) = self.stage.get_mut(self.n..self.n + N) {
            dst.copy_from_slice(bytes);
            self.n += len;
        }
    }

    /// The next `max` bytes of the stage (moving what it holds to the output when it has less
    /// room); the caller writes there and advances `n` by what it wrote.
    #[inline(always)]
    fn room(&mut self, max: usize) -> &mut [u8] {
        if self.n + max > STAGE {
            self.spill();
        }
        &mut self.stage[self.n..self.n + max]
    }

    /// Appends `bytes` (any length).
    fn put_slice(&mut self, bytes: &[u8]) {
        if self.n + bytes.len() > STAGE {
            self.spill();
            if bytes.len() > STAGE / 2 {
                self.out.extend_from_slice(bytes);
                return;
            }
        }
        self.stage[self.n..self.n + bytes.len()].copy_from_slice(bytes);
        self.n += bytes.len();
    }

    #[inline(always)]
    fn key(&mut self, k: &Key) {
        self.put(&k.bytes, k.len);
    }

    #[inline(always)]
    pub(super) fn u(&mut self, k: &Key, v: impl Into<u64>) {
        self.key(k);
        let n = decimal(v.into(), self.room(20));
        self.n += n;
    }

    /// A signed integer.
    pub(super) fn i(&mut self, k: &Key, v: i64) {
        self.key(k);
        let room = self.room(21);
        let n = if v < 0 {
            room[0] = b'-';
            1 + decimal(v.unsigned_abs(), &mut room[1..])
        } else {
            decimal(v as u64, room)
        };
        self.n += n;
    }

    /// `null` (a `None` serde writes).
    pub(super) fn null(&mut self, k: &Key) {
        self.key(k);
        self.put(b"null", 4);
    }

    pub(super) fn b(&mut self, k: &Key, v: bool) {
        self.key(k);
        if v {
            self.put(b"true ", 4);
        } else {
            self.put(b"false", 5);
        }
    }

    pub(super) fn s(&mut self, k: &Key, v: &str) {
        self.key(k);
        let mut escaped = Vec::new();
        match string_bytes(v, &mut escaped) {
            Some(plain) => {
                self.put(b"\"", 1);
                self.put_slice(plain);
                self.put(b"\"", 1);
            }
            None => self.put_slice(&escaped),
        }
    }

    pub(super) fn ip(&mut self, k: &Key, ip: IpAddr) {
        self.key(k);
        match ip {
            IpAddr::V4(v4) => {
                // `"255.255.255.255"`: at most 17 bytes, formatted in place.
                let buf = self.room(17);
                buf[0] = b'"';
                let mut n = 1;
                for (i, &o) in v4.octets().iter().enumerate() {
                    if i > 0 {
                        buf[n] = b'.';
                        n += 1;
                    }
                    if o >= 100 {
                        buf[n] = b'0' + o / 100;
                        n += 1;
                    }
                    if o >= 10 {
                        buf[n] = b'0' + o / 10 % 10;
                        n += 1;
                    }
                    buf[n] = b'0' + o % 10;
                    n += 1;
                }
                buf[n] = b'"';
                self.n += n + 1;
            }
            IpAddr::V6(v6) => {
                use std::io::Write;
                let mut buf = [0u8; 48];
                let mut w = &mut buf[..];
                let _ = write!(w, "\"{v6}\"");
                let n = 48 - w.len();
                self.put(&buf, n);
            }
        }
    }

    pub(super) fn mac(&mut self, k: &Key, m: MacAddr) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        self.key(k);
        let buf = self.room(19);
        buf[0] = b'"';
        for (i, b) in m.0.iter().enumerate() {
            buf[1 + i * 3] = HEX[usize::from(b >> 4)];
            buf[2 + i * 3] = HEX[usize::from(b & 15)];
            buf[3 + i * 3] = b':';
        }
        buf[18] = b'"';
        self.n += 19;
    }

    pub(super) fn inline<const N: usize>(&mut self, k: &Key, v: &InlineBytes<N>) {
        let bytes = v.as_bytes();
        // Printable ASCII without quotes or backslashes (most request fields, and the empty
        // ones): valid UTF-8 that needs no escape, known in one pass.
        if bytes
            .iter()
            .all(|&c| (0x20..0x7f).contains(&c) && c != b'"' && c != b'\\')
        {
            self.key(k);
            self.put(b"\"", 1);
            self.put_slice(bytes);
            self.put(b"\"", 1);
            return;
        }
        match std::str::from_utf8(bytes) {
            Ok(s) => self.s(k, s),
            Err(_) => self.s(k, &String::from_utf8_lossy(v.as_bytes())),
        }
    }

    pub(super) fn close(mut self) {
        self.spill();
        if self.out.len() == self.start {
            self.out.extend_from_slice(b"{}");
        } else {
            // The first key's comma.
            self.out[self.start] = b'{';
            self.out.push(b'}');
        }
    }
}

/// `s` when it needs no escaping (written between quotes as it is); otherwise None, with the
/// quoted, escaped string in `escaped`.
fn string_bytes<'s>(s: &'s str, escaped: &mut Vec<u8>) -> Option<&'s [u8]> {
    let bytes = s.as_bytes();
    if bytes.iter().any(|&c| c < 0x20 || c == b'"' || c == b'\\') {
        string(escaped, s);
        return None;
    }
    Some(bytes)
}

/// A JSON string as serde_json writes it: `"` and `\` escaped, control characters as `\n`,
/// `\r`, `\t`, `\b`, `\f` or `\u00XX`, everything else as it is.
fn string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    if !bytes.iter().any(|&c| c < 0x20 || c == b'"' || c == b'\\') {
        out.extend_from_slice(bytes);
    } else {
        for &c in bytes {
            match c {
                b'"' => out.extend_from_slice(b"\\\""),
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\t' => out.extend_from_slice(b"\\t"),
                0x08 => out.extend_from_slice(b"\\b"),
                0x0c => out.extend_from_slice(b"\\f"),
                c if c < 0x20 => {
                    const HEX: &[u8; 16] = b"0123456789abcdef";
                    out.extend_from_slice(b"\\u00");
                    out.push(HEX[usize::from(c >> 4)]);
                    out.push(HEX[usize::from(c & 15)]);
                }
                c => out.push(c),
            }
        }
    }
    out.push(b'"');
}

/// Test helper: what `write` makes of `r` parses to the JSON value serde's derive gives.
#[cfg(test)]
pub(super) fn same_as_serde<R: serde::Serialize>(write: fn(&R, &mut Vec<u8>), r: &R) {
    let mut fast = Vec::new();
    write(r, &mut fast);
    let a: serde_json::Value = serde_json::from_slice(&fast).expect("valid JSON");
    let b = serde_json::to_value(r).expect("serde");
    assert_eq!(a, b, "{}", String::from_utf8_lossy(&fast));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_and_addresses_as_std_formats_them() {
        let mut vals = vec![
            0,
            9,
            10,
            11,
            99,
            100,
            101,
            999,
            1000,
            u64::MAX,
            u64::MAX - 1,
        ];
        let mut p = 1u64;
        while let Some(n) = p.checked_mul(10) {
            vals.extend([p - 1, p, p + 1, n / 2 + 7]);
            p = n;
        }
        for v in vals {
            let mut digits = [0; 20];
            let n = decimal(v, &mut digits);
            assert_eq!(std::str::from_utf8(&digits[..n]).unwrap(), v.to_string());
        }
        for a in ["0.0.0.0", "255.255.255.255", "10.0.100.9", "1.22.133.4"] {
            let mut out = Vec::new();
            let mut o = Obj::open(&mut out);
            o.ip(key!("a"), a.parse().unwrap());
            o.close();
            assert_eq!(
                String::from_utf8(out).unwrap(),
                format!("{{\"a\":\"{a}\"}}")
            );
        }
        let mut out = Vec::new();
        Obj::open(&mut out).close();
        assert_eq!(out, b"{}");
        // Longer than the stage: spills, and a string longer than half of it goes straight out.
        let mut out = b"[".to_vec();
        let mut o = Obj::open(&mut out);
        for _ in 0..100 {
            o.u(key!("m"), u64::MAX);
        }
        o.s(key!("long"), &"x\"y".repeat(1000));
        o.s(key!("plain"), &"z".repeat(3000));
        o.mac(key!("mac"), MacAddr([1, 2, 3, 4, 5, 6]));
        o.i(key!("neg"), i64::MIN);
        o.i(key!("minus_one"), -1);
        o.i(key!("pos"), i64::MAX);
        o.null(key!("none"));
        o.close();
        let v: serde_json::Value = serde_json::from_slice(&out[1..]).expect("valid JSON");
        assert_eq!(v["neg"], i64::MIN);
        assert_eq!(v["minus_one"], -1);
        assert_eq!(v["pos"], i64::MAX);
        assert!(v["none"].is_null());
        assert_eq!(v["m"], u64::MAX);
        assert_eq!(v["long"], "x\"y".repeat(1000));
        assert_eq!(v["plain"], "z".repeat(3000));
        assert_eq!(v["mac"], "01:02:03:04:05:06");
    }

    #[test]
    fn strings_escape_as_serde_json_does() {
        for s in [
            "plain",
            "q\"b\\s",
            "\n\r\t\x08\x0c\x00\x1f",
            "ünïcödé ✓",
            "</script>",
        ] {
            let mut out = Vec::new();
            string(&mut out, s);
            assert_eq!(out, serde_json::to_vec(s).unwrap(), "{s:?}");
        }
    }
}
