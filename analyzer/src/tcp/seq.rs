//! Sequence numbers with wrapping (RFC 1982 serial-number) arithmetic.

/// A TCP sequence number. Comparisons are modulo 2^32: `a < b` when `b` is less than 2^31 ahead.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct SeqNumber(pub u32);

impl std::ops::Add<u32> for SeqNumber {
    type Output = SeqNumber;

    /// `self + n`, wrapping.
    #[inline]
    fn add(self, n: u32) -> SeqNumber {
        SeqNumber(self.0.wrapping_add(n))
    }
}

impl SeqNumber {
    /// Signed distance from `other` to `self` (positive when `self` is ahead).
    #[inline]
    pub fn diff(self, other: SeqNumber) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }

    #[inline]
    pub fn is_before(self, other: SeqNumber) -> bool {
        self.diff(other) < 0
    }

    #[inline]
    pub fn is_after(self, other: SeqNumber) -> bool {
        self.diff(other) > 0
    }

    /// Offset of `self` from `base`, wrapping (used for range bookkeeping).
    #[inline]
    pub fn offset_from(self, base: SeqNumber) -> u32 {
        self.0.wrapping_sub(base.0)
    }
}

#[cfg(test)]
mod tests {
    use super::SeqNumber;

    #[test]
    fn wraps_around() {
        let a = SeqNumber(u32::MAX - 10);
        let b = a + 20;
        assert_eq!(b.0, 9);
        assert!(a.is_before(b));
        assert!(b.is_after(a));
        assert_eq!(b.diff(a), 20);
        assert_eq!(a.diff(b), -20);
        assert_eq!(b.offset_from(a), 20);
    }
}
