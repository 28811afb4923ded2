//! A JSON object written without generic serialization: keys rendered at compile time (none
//! needs escaping), integers formatted in place, IPv4 addresses and MACs formatted in place,
//! escaping only where a string needs it, all written straight into the output's room (a
//! [`TextBuf`]: [`render`]). The rows' and documents' writers (`l4_json`, `l7_json`,
//! `metrics_json`) are made of it; each checks its output against serde's derive.

use std::net::IpAddr;

use tapflow_analyzer::inline::InlineBytes;
use tapflow_analyzer::record::{MacAddr, TextBuf};

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
    (field $name:ident) => {{
        const K: $crate::sink::json_obj::Key =
            $crate::sink::json_obj::make_key(concat!(",\"", stringify!($name), "\":"));
        &K
    }};
}
pub(super) use key;

/// Writes `v` in decimal at the start of `dst` (at least 20 bytes; bytes past the number may be
/// overwritten); returns its length. Eight digits at a time, computed in one register
/// ([`digits8`]) and stored whole: no chain of divisions, no byte stores.
#[inline(always)]
fn decimal(v: u64, dst: &mut [u8]) -> usize {
    if v < 10 {
        dst[0] = b'0' + v as u8;
        return 1;
    }
    let n = v.ilog10() as usize + 1;
    if n <= 8 {
        leading(v as u32, n, dst);
        return n;
    }
    let (high, low) = (v / 100_000_000, (v % 100_000_000) as u32);
    if n <= 16 {
        leading(high as u32, n - 8, dst);
    } else {
        let (top, mid) = (high / 100_000_000, (high % 100_000_000) as u32);
        leading(top as u32, n - 16, dst);
        put8(digits8(mid), &mut dst[n - 16..]);
    }
    put8(digits8(low), &mut dst[n - 8..]);
    n
}

/// `v` in decimal as the bytes of one 128-bit word, the first digit lowest, and its length;
/// None from 10^16 up. A number kept as rendered ([`Obj::u_kept`]) is stored from this register
/// both where the row is written and where it is kept: copying it from the row instead loads
/// 16 bytes the digits' 8-byte stores have just written, which the store buffer cannot forward
/// (a stall of each row's changing times).
#[inline(always)]
fn decimal16(v: u64) -> Option<(u128, usize)> {
    if v < 10 {
        return Some((u128::from(b'0' + v as u8), 1));
    }
    let n = v.ilog10() as usize + 1;
    if n <= 8 {
        return Some((u128::from(digits8(v as u32) >> (8 * (8 - n))), n));
    }
    if n > 16 {
        return None;
    }
    let (high, low) = ((v / 100_000_000) as u32, (v % 100_000_000) as u32);
    // The leading n - 8 digits (1 to 8), then the low eight.
    let lead = u128::from(digits8(high) >> (8 * (16 - n)));
    Some((lead | u128::from(digits8(low)) << (8 * (n - 8)), n))
}

/// `x` (below 10^8), `n` digits long, at the start of `dst` (8 bytes are written).
#[inline(always)]
fn leading(x: u32, n: usize, dst: &mut [u8]) {
    // The leading zeros are the low bytes: shifted out.
    put8(digits8(x) >> (8 * (8 - n)), dst);
}

#[inline(always)]
fn put8(digits: u64, dst: &mut [u8]) {
    dst[..8].copy_from_slice(&digits.to_le_bytes());
}

/// The eight decimal digits of `x` (below 10^8, leading zeros included) as ASCII, the first
/// digit in the lowest byte: the halves of four digits in 32-bit lanes, split into pairs in
/// 16-bit lanes, then into digits in bytes, each step a multiply by a reciprocal in every lane
/// at once (SWAR; the quotients are exact in these ranges: `tests::eight_digits_at_once`).
#[inline(always)]
fn digits8(x: u32) -> u64 {
    let v = u64::from(x / 10_000) | u64::from(x % 10_000) << 32;
    // x / 100 = (x * 10486) >> 20 for x < 10^4.
    let q = ((v * 10_486) >> 20) & 0x0000_007f_0000_007f;
    let v = q | (v - q * 100) << 16;
    // x / 10 = (x * 103) >> 10 for x < 100.
    let q = ((v * 103) >> 10) & 0x000f_000f_000f_000f;
    let v = q | (v - q * 10) << 8;
    v + 0x3030_3030_3030_3030
}

/// Room asked for before a row is rendered (rows are 0.5-2 KB); a row that does not fit is
/// rendered again into room of the length it measured.
pub(super) const ROW_ROOM: usize = 4096;

/// Room past a row's end for the widest fixed-size store (a padded key, a number, an address).
const STORE_MAX: usize = 64;

/// Renders `$r` as one object into `$out`'s room (a [`TextBuf`]) and keeps it: `$members`
/// (`fn(&mut Obj, &R)`, `#[inline(always)]`) writes every member; each key starts with a comma,
/// and the first one's becomes the opening brace. The bytes go straight where the output is
/// written from, with the cursor in a register (stores into a `Vec<u8>` may alias the vector's
/// own length, so each byte written there would cost a reload and a store of the length; a
/// slice of [`TextBuf`]'s initialized room has no such field). A row longer than [`ROW_ROOM`]
/// is rendered again by [`render_again`].
///
/// A macro, not a function taking the members as a closure: a closure's body is not inlined
/// into its caller, and the object's cursor then lives in memory. And no loop around the
/// members: LLVM hoists every number's formatting out of such a loop onto the stack (a build
/// with one took twice the time for a row).
macro_rules! render {
    ($out:expr, $r:expr, $members:path) => {{
        let out: &mut tapflow_analyzer::TextBuf = $out;
        let mut o = $crate::sink::json_obj::Obj::open(out, $crate::sink::json_obj::ROW_ROOM);
        $members(&mut o, $r);
        match o.close() {
            Ok(n) => out.advance(n),
            Err(need) => $crate::sink::json_obj::render_again(out, need, |o| $members(o, $r)),
        }
    }};
}
pub(super) use render;

/// Renders a row that did not fit in [`ROW_ROOM`] again (`members` writes its members), into
/// room of the length it measured (and again if that was not enough, which a row's members
/// rendered the same way twice never need).
#[cold]
#[inline(never)]
pub(super) fn render_again(
    out: &mut TextBuf,
    mut want: usize,
    mut members: impl FnMut(&mut Obj<'_>),
) {
    loop {
        let mut o = Obj::open(out, want);
        members(&mut o);
        match o.close() {
            Ok(n) => return out.advance(n),
            Err(need) => want = need.max(want * 2),
        }
    }
}

/// A number as rendered ([`Obj::u_kept`]): a row's members that repeat one value (a flow's
/// times: its start is its first packet's time, its end that of the last or of the flush that
/// closed every flow) copy its digits instead of computing them again.
#[derive(Debug, Clone, Copy)]
pub(super) struct Rendered {
    value: u64,
    len: usize,
    digits: [u8; Rendered::ROOM],
}

impl Rendered {
    /// Bytes copied in and out: the widest number (20 digits) and then some, in one store.
    const ROOM: usize = 24;
    /// Zero, as rendered.
    pub(super) const ZERO: Rendered = Rendered {
        value: 0,
        len: 1,
        digits: {
            let mut d = [0; Rendered::ROOM];
            d[0] = b'0';
            d
        },
    };

    /// Whether it holds `v`.
    #[inline(always)]
    pub(super) fn holds(&self, v: u64) -> bool {
        self.value == v
    }
}

/// An object being written into room of a [`TextBuf`] ([`render`]).
pub(super) struct Obj<'a> {
    buf: &'a mut [u8],
    /// Bytes written (or, once `short`, that would have been).
    n: usize,
    /// A store did not fit: the row is rendered again into room of at least `n` bytes.
    short: bool,
}

impl<'a> Obj<'a> {
    /// An object in exactly `want` bytes of `out`'s room, however much room it has: where a
    /// row is cut does not depend on what the buffer held before.
    #[inline(always)]
    pub(super) fn open(out: &'a mut TextBuf, want: usize) -> Self {
        Obj {
            buf: &mut out.room(want)[..want],
            n: 0,
            short: false,
        }
    }

    // Every method inlines and the rare paths never take `self` by reference in a call: the
    // object's address does not escape, so its cursor `n` stays in a register for the whole
    // row.

    /// Appends the first `len` bytes of `bytes` with one fixed-size copy.
    #[inline(always)]
    fn put<const N: usize>(&mut self, bytes: &[u8; N], len: usize) {
        match self.buf.get_mut(self.n..self.n + N) {
            Some(dst) => dst.copy_from_slice(bytes),
            None => self.short = true,
        }
        self.n += len;
    }

    /// The next `max` bytes of the room; the caller writes there and advances `n` by what it
    /// wrote. Past the room's end, its last `max` bytes (the row is rendered again anyway).
    #[inline(always)]
    fn room(&mut self, max: usize) -> &mut [u8] {
        let end = self.buf.len();
        if self.n + max > end {
            self.short = true;
            return &mut self.buf[end - max..];
        }
        &mut self.buf[self.n..self.n + max]
    }

    /// Appends `bytes` (any length).
    #[inline(always)]
    fn put_slice(&mut self, bytes: &[u8]) {
        match self.buf.get_mut(self.n..self.n + bytes.len()) {
            Some(dst) => dst.copy_from_slice(bytes),
            None => self.short = true,
        }
        self.n += bytes.len();
    }

    /// Bytes written so far (where a run of members starts: [`Obj::copy_since`]).
    #[inline(always)]
    pub(super) fn len(&self) -> usize {
        self.n
    }

    /// Appends the first `len` bytes of a run of members rendered before ([`Obj::copy_since`])
    /// with one fixed-size copy.
    #[inline(always)]
    pub(super) fn put_run<const N: usize>(&mut self, run: &[u8; N], len: usize) {
        self.put(run, len);
    }

    /// Copies what was written since `start` into `run`: its length, None when it did not fit
    /// there (or the row did not fit its room).
    #[inline(always)]
    pub(super) fn copy_since<const N: usize>(
        &self,
        start: usize,
        run: &mut [u8; N],
    ) -> Option<usize> {
        let len = self.n - start;
        if self.short || len > N {
            return None;
        }
        run[..len].copy_from_slice(&self.buf[start..self.n]);
        Some(len)
    }

    /// The object's braces (the first key's comma becomes `{`): its length, or the room it
    /// needs when it did not fit.
    #[inline(always)]
    pub(super) fn close(mut self) -> Result<usize, usize> {
        if self.n == 0 {
            self.put(b"{}", 2);
        } else {
            self.buf[0] = b'{';
            self.put(b"}", 1);
        }
        if self.short {
            Err(self.n + STORE_MAX)
        } else {
            Ok(self.n)
        }
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
    #[inline(always)]
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
    #[inline(always)]
    pub(super) fn null(&mut self, k: &Key) {
        self.key(k);
        self.put(b"null", 4);
    }

    #[inline(always)]
    pub(super) fn b(&mut self, k: &Key, v: bool) {
        self.key(k);
        if v {
            self.put(b"true ", 4);
        } else {
            self.put(b"false", 5);
        }
    }

    /// Text that may need escaping. The rows' text from the wire is [`InlineBytes`]
    /// ([`Obj::inline`]) and their names are tapflow's own ([`Obj::name`]); the tests use this
    /// for long and hostile strings.
    #[cfg(test)]
    pub(super) fn s(&mut self, k: &Key, v: &str) {
        self.key(k);
        self.escaped_text(v.as_bytes());
    }

    /// One of tapflow's own names (a close type, a status, a protocol's name: a table's
    /// `&'static str` in the analyzer, never data from the wire), which needs no escaping:
    /// copied without looking at its bytes.
    #[inline(always)]
    pub(super) fn name(&mut self, k: &Key, v: &'static str) {
        debug_assert!(!needs_escape(v.as_bytes()), "{v:?} needs escaping");
        self.key(k);
        self.put(b"\"", 1);
        self.put_slice(v.as_bytes());
        self.put(b"\"", 1);
    }

    #[inline(always)]
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
                // `"` + at most 8 groups of 4 hex digits and 7 colons + `"`.
                let buf = self.room(41);
                buf[0] = b'"';
                let n = 1 + v6_text(v6, &mut buf[1..40]);
                buf[n] = b'"';
                self.n += n + 1;
            }
        }
    }

    #[inline(always)]
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

    #[inline(always)]
    pub(super) fn inline<const N: usize>(&mut self, k: &Key, v: &InlineBytes<N>) {
        let bytes = v.as_bytes();
        // Printable ASCII without quotes or backslashes (most request fields, and the empty
        // ones): valid UTF-8 that needs no escape, known in one pass.
        if plain_text(bytes) {
            self.key(k);
            self.put(b"\"", 1);
            self.put_slice(bytes);
            self.put(b"\"", 1);
            return;
        }
        self.key(k);
        self.escaped_text(bytes);
    }

    /// A string without a key (inside a nested value): text from the wire, escaped as
    /// [`Obj::inline`] does.
    #[inline(always)]
    pub(super) fn text(&mut self, bytes: &[u8]) {
        if plain_text(bytes) {
            self.put(b"\"", 1);
            self.put_slice(bytes);
            self.put(b"\"", 1);
        } else {
            self.escaped_text(bytes);
        }
    }

    /// Text that is not plain ASCII ([`plain_text`]), quoted and escaped straight into the
    /// room ([`escape_into`]). When the rest of the room is too short, the row is rendered
    /// again with room for the longest the text can become (six bytes a byte, a control
    /// character's `\u00XX`).
    #[inline(always)]
    fn escaped_text(&mut self, bytes: &[u8]) {
        let (n, fits) = escape_at(bytes, self.buf, self.n);
        self.n += n;
        self.short |= !fits;
    }

    /// A member's key alone; the caller writes its value ([`Obj::raw`], [`Obj::num`]).
    #[inline(always)]
    pub(super) fn member(&mut self, k: &Key) {
        self.key(k);
    }

    /// Bytes written as they are (punctuation of a nested value).
    #[inline(always)]
    pub(super) fn raw(&mut self, bytes: &[u8]) {
        self.put_slice(bytes);
    }

    /// An integer without a key (inside a nested value).
    #[inline(always)]
    pub(super) fn num(&mut self, v: u64) {
        let n = decimal(v, self.room(20));
        self.n += n;
    }

    /// An integer kept as rendered in `kept`: copied from it when it holds `v`, else
    /// rendered and kept there ([`Rendered`]).
    #[inline(always)]
    pub(super) fn u_kept(&mut self, k: &Key, v: u64, kept: &mut Rendered) {
        if kept.value == v {
            return self.u_as(k, kept);
        }
        self.key(k);
        let room = self.room(Rendered::ROOM);
        let n = match decimal16(v) {
            Some((digits, n)) => {
                let bytes = digits.to_le_bytes();
                room[..16].copy_from_slice(&bytes);
                kept.digits[..16].copy_from_slice(&bytes);
                n
            }
            None => {
                let n = decimal(v, room);
                kept.digits.copy_from_slice(room);
                n
            }
        };
        kept.value = v;
        kept.len = n;
        self.n += n;
    }

    /// The integer `kept` holds, copied ([`Obj::u_kept`]).
    #[inline(always)]
    pub(super) fn u_as(&mut self, k: &Key, kept: &Rendered) {
        self.key(k);
        self.put(&kept.digits, kept.len);
    }

    /// An integer, or `null` for `None`.
    #[inline(always)]
    pub(super) fn opt_u(&mut self, k: &Key, v: Option<u64>) {
        match v {
            Some(v) => self.u(k, v),
            None => self.null(k),
        }
    }
}

/// Is every byte printable ASCII other than a quote or a backslash? Sixteen bytes at a time
/// without an early exit inside them, which the compiler turns into vector compares (a
/// byte-by-byte test that stops at the first bad byte is not).
#[inline(always)]
fn plain_text(bytes: &[u8]) -> bool {
    let ok = |c: u8| (0x20..0x7f).contains(&c) & (c != b'"') & (c != b'\\');
    let mut chunks = bytes.chunks_exact(16);
    for chunk in &mut chunks {
        if !chunk.iter().fold(true, |all, &c| all & ok(c)) {
            return false;
        }
    }
    chunks.remainder().iter().all(|&c| ok(c))
}

/// An IPv6 address as the standard library displays it (RFC 5952: lower-case hex without
/// leading zeros, the longest run of two or more zero groups, the first of equals, as `::`; an
/// IPv4-mapped address as `::ffff:a.b.c.d`), written at the start of `dst` (39 bytes); returns
/// its length. `fmt` took a fifth of an IPv6 row's time.
#[inline(never)]
fn v6_text(v6: std::net::Ipv6Addr, dst: &mut [u8]) -> usize {
    if let Some(v4) = v6.to_ipv4_mapped() {
        dst[..7].copy_from_slice(b"::ffff:");
        let mut n = 7;
        for (i, o) in v4.octets().into_iter().enumerate() {
            if i > 0 {
                dst[n] = b'.';
                n += 1;
            }
            let mut digits = [0; 20];
            let k = decimal(o.into(), &mut digits);
            dst[n..n + k].copy_from_slice(&digits[..k]);
            n += k;
        }
        return n;
    }
    let groups = v6.segments();
    // The longest run of zero groups (the first of equal runs).
    let (mut run_at, mut run_len, mut at, mut len) = (0, 0, 0, 0);
    for (i, &g) in groups.iter().enumerate() {
        if g == 0 {
            if len == 0 {
                at = i;
            }
            len += 1;
            if len > run_len {
                (run_at, run_len) = (at, len);
            }
        } else {
            len = 0;
        }
    }
    if run_len < 2 {
        return hex_groups(&groups, dst);
    }
    let mut n = hex_groups(&groups[..run_at], dst);
    dst[n..n + 2].copy_from_slice(b"::");
    n += 2;
    n + hex_groups(&groups[run_at + run_len..], &mut dst[n..])
}

/// IPv6 groups in hex without leading zeros, separated by colons.
fn hex_groups(groups: &[u16], dst: &mut [u8]) -> usize {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut n = 0;
    for (i, &g) in groups.iter().enumerate() {
        if i > 0 {
            dst[n] = b':';
            n += 1;
        }
        let digits = (16 - g.leading_zeros()).div_ceil(4).max(1);
        for d in (0..digits).rev() {
            dst[n] = HEX[usize::from((g >> (d * 4)) & 15)];
            n += 1;
        }
    }
    n
}

/// Whether a byte needs escaping in a JSON string (a control character, `"` or `\`).
#[inline(always)]
fn escapes(c: u8) -> bool {
    c < 0x20 || c == b'"' || c == b'\\'
}

/// Whether a string needs escaping in JSON.
#[inline(always)]
fn needs_escape(bytes: &[u8]) -> bool {
    bytes.iter().any(|&c| escapes(c))
}

/// `bytes` as serde_json writes a text field made of them (valid UTF-8 as it is; anything
/// else as `String::from_utf8_lossy` makes it, each invalid sequence one U+FFFD), quoted: `"`
/// and `\` escaped, control characters as `\n`, `\r`, `\t`, `\b`, `\f` or `\u00XX`,
/// everything else as it is. Written at the start of `dst`: its length, or None when `dst` is
/// too short. No allocation.
#[inline(always)]
fn escape_into(bytes: &[u8], dst: &mut [u8]) -> Option<usize> {
    let mut w = Cursor { dst, n: 0 };
    w.put(b"\"")?;
    for chunk in bytes.utf8_chunks() {
        for &c in chunk.valid().as_bytes() {
            if escapes(c) {
                let (esc, len) = escape_of(c);
                w.put(&esc[..len])?;
            } else {
                w.byte(c)?;
            }
        }
        if !chunk.invalid().is_empty() {
            w.put("\u{fffd}".as_bytes())?;
        }
    }
    w.put(b"\"")?;
    Some(w.n)
}

/// [`escape_into`] the room from `at` on: the length written and true, or when it does not
/// fit there the longest the text can become and false. Out of line, away from the rows'
/// members ([`Obj::escaped_text`]).
#[cold]
#[inline(never)]
fn escape_at(bytes: &[u8], buf: &mut [u8], at: usize) -> (usize, bool) {
    match buf.get_mut(at..).and_then(|room| escape_into(bytes, room)) {
        Some(n) => (n, true),
        None => (6 * bytes.len() + 2, false),
    }
}

/// The escape of a byte that needs one in a JSON string (a control character, `"`, `\`).
fn escape_of(c: u8) -> ([u8; 6], usize) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let two = |b: u8| ([b'\\', b, 0, 0, 0, 0], 2);
    match c {
        b'"' => two(b'"'),
        b'\\' => two(b'\\'),
        b'\n' => two(b'n'),
        b'\r' => two(b'r'),
        b'\t' => two(b't'),
        0x08 => two(b'b'),
        0x0c => two(b'f'),
        c => (
            [
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(c >> 4)],
                HEX[usize::from(c & 15)],
            ],
            6,
        ),
    }
}

/// Where [`escape_into`] writes.
struct Cursor<'a> {
    dst: &'a mut [u8],
    n: usize,
}

impl Cursor<'_> {
    fn byte(&mut self, c: u8) -> Option<()> {
        *self.dst.get_mut(self.n)? = c;
        self.n += 1;
        Some(())
    }

    fn put(&mut self, bytes: &[u8]) -> Option<()> {
        self.dst
            .get_mut(self.n..self.n + bytes.len())?
            .copy_from_slice(bytes);
        self.n += bytes.len();
        Some(())
    }
}

/// Test helper: what `write` makes of `r` parses to the JSON value serde's derive gives.
#[cfg(test)]
pub(super) fn same_as_serde<R: serde::Serialize>(write: fn(&R, &mut TextBuf), r: &R) {
    let mut fast = TextBuf::new();
    write(r, &mut fast);
    let fast = fast.as_bytes();
    let a: serde_json::Value = serde_json::from_slice(fast).expect("valid JSON");
    let b = serde_json::to_value(r).expect("serde");
    assert_eq!(a, b, "{}", String::from_utf8_lossy(fast));
}

#[cfg(test)]
#[path = "json_obj_tests.rs"]
mod tests;
