//! A flow's link to the L7 layer: inference progress, or the slot of its L7 state. The flow owns
//! the link; the L7 layer owns what it points to.

/// A flow's relation to the L7 layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L7Link {
    /// No protocol found yet after this many payload packets.
    Untried(u8),
    /// L7 state in this slot.
    Tracked(u32),
    /// Not L7 (inference failed or skipped), or no state was free.
    Skip,
}

impl Default for L7Link {
    fn default() -> Self {
        L7Link::Untried(0)
    }
}

/// An [`L7Link`] in 4 bytes, as the flow slot holds it: a slot index below [`UNTRIED`],
/// `UNTRIED + n` for `Untried(n)`, [`SKIP`] for `Skip`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackedL7Link(u32);

const UNTRIED: u32 = 0xFFFF_FE00;
const SKIP: u32 = u32::MAX;

impl Default for PackedL7Link {
    fn default() -> Self {
        PackedL7Link::from(L7Link::default())
    }
}

impl From<L7Link> for PackedL7Link {
    #[inline]
    fn from(link: L7Link) -> Self {
        PackedL7Link(match link {
            L7Link::Untried(n) => UNTRIED + u32::from(n),
            // L7 tables hold far fewer slots (their capacity is a u32 count of flows, bounded
            // by memory): a slot index never reaches UNTRIED.
            L7Link::Tracked(slot) => slot.min(UNTRIED - 1),
            L7Link::Skip => SKIP,
        })
    }
}

impl From<PackedL7Link> for L7Link {
    #[inline]
    fn from(p: PackedL7Link) -> Self {
        match p.0 {
            SKIP => L7Link::Skip,
            n if n >= UNTRIED => L7Link::Untried((n - UNTRIED) as u8),
            slot => L7Link::Tracked(slot),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_round_trips() {
        for link in [
            L7Link::Untried(0),
            L7Link::Untried(255),
            L7Link::Tracked(0),
            L7Link::Tracked(UNTRIED - 1),
            L7Link::Skip,
        ] {
            assert_eq!(L7Link::from(PackedL7Link::from(link)), link);
        }
        assert_eq!(L7Link::from(PackedL7Link::default()), L7Link::Untried(0));
    }
}
