//! A fixed-capacity byte string stored inline, for names and tokens copied out of packets without
//! allocating. Longer input is cut at the capacity and marked truncated.

/// Up to `N` bytes, inline.
#[derive(Clone, Copy)]
pub struct InlineBytes<const N: usize> {
    buf: [u8; N],
    len: u16,
    truncated: bool,
}

impl<const N: usize> InlineBytes<N> {
    /// An empty string.
    pub const EMPTY: Self = InlineBytes {
        buf: [0; N],
        len: 0,
        truncated: false,
    };

    /// Copies `b`, cut to the capacity.
    pub fn from_slice(b: &[u8]) -> Self {
        let mut s = Self::EMPTY;
        let n = b.len().min(N);
        s.buf[..n].copy_from_slice(&b[..n]);
        s.len = n as u16;
        s.truncated = b.len() > N;
        s
    }

    /// Appends `b` whole, or returns false (and changes nothing) when it does not fit.
    pub fn try_push(&mut self, b: &[u8]) -> bool {
        let at = usize::from(self.len);
        let Some(dst) = self.buf.get_mut(at..at + b.len()) else {
            return false;
        };
        dst.copy_from_slice(b);
        self.len = (at + b.len()) as u16;
        true
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }

    /// True when the source was longer than the capacity.
    pub fn is_truncated(&self) -> bool {
        self.truncated
    }
}

impl<const N: usize> std::fmt::Debug for InlineBytes<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))?;
        if self.truncated {
            write!(f, "...")?;
        }
        Ok(())
    }
}

impl<const N: usize> PartialEq for InlineBytes<N> {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes() && self.truncated == other.truncated
    }
}
impl<const N: usize> Eq for InlineBytes<N> {}

impl<const N: usize> Default for InlineBytes<N> {
    fn default() -> Self {
        Self::EMPTY
    }
}

impl<const N: usize> InlineBytes<N> {
    /// Appends as much of `b` as fits; marks the string truncated when something was cut.
    pub fn push_lossy(&mut self, b: &[u8]) {
        let at = usize::from(self.len);
        let n = b.len().min(N - at);
        self.buf[at..at + n].copy_from_slice(&b[..n]);
        self.len = (at + n) as u16;
        self.truncated |= n < b.len();
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn clear(&mut self) {
        self.len = 0;
        self.truncated = false;
    }

    /// Cuts the string back to `len` bytes (no effect when it is shorter).
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len as u16);
    }

    pub fn len(&self) -> usize {
        usize::from(self.len)
    }
}

/// Serialised as a string (invalid UTF-8 replaced), without a truncation mark.
impl<const N: usize> serde::Serialize for InlineBytes<N> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&String::from_utf8_lossy(self.as_bytes()))
    }
}

/// Formatting into the buffer (cut at the capacity, never allocating): `write!(s, "{ip}")`.
impl<const N: usize> std::fmt::Write for InlineBytes<N> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.push_lossy(s.as_bytes());
        Ok(())
    }
}
