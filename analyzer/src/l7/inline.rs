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
