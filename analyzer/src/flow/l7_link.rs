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
