//! A bounded pool of fixed-size blocks of per-flow state that only some flows need (a TCP
//! direction's extra sequence ranges, an ICMP flow's outstanding echo requests): taken on demand,
//! given back when the flow closes, never more than the capacity reserved at start (no
//! allocation beyond it); a block wanted when none is left is counted, and the flow does without.
//!
//! A flow holds a [`BlockRef`] (4 bytes) instead of the block itself.

/// A block held by a flow (index + 1; 0: none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BlockRef(u32);

impl BlockRef {
    pub const NONE: BlockRef = BlockRef(0);

    pub fn is_some(self) -> bool {
        self.0 != 0
    }
}

/// Blocks of `T`.
#[derive(Debug)]
pub struct BlockPool<T> {
    blocks: Vec<T>,
    free: Vec<u32>,
    capacity: usize,
    /// A block was wanted and none was left.
    pub exhausted: u64,
}

impl<T: Copy + Default> BlockPool<T> {
    pub fn new(capacity: usize) -> Self {
        BlockPool {
            blocks: Vec::with_capacity(capacity),
            free: Vec::with_capacity(capacity),
            capacity,
            exhausted: 0,
        }
    }

    /// What a pool of `capacity` blocks takes at most, bytes.
    pub fn memory_bytes(capacity: usize) -> usize {
        capacity * (std::mem::size_of::<T>() + 4)
    }

    /// Blocks in use.
    pub fn in_use(&self) -> usize {
        self.blocks.len() - self.free.len()
    }

    /// A fresh (default) block, or None when all are taken (counted).
    pub fn take(&mut self) -> Option<BlockRef> {
        if let Some(i) = self.free.pop() {
            self.blocks[i as usize] = T::default();
            return Some(BlockRef(i + 1));
        }
        if self.blocks.len() < self.capacity {
            // Within the capacity reserved at start: no allocation.
            self.blocks.push(T::default());
            return Some(BlockRef(self.blocks.len() as u32));
        }
        self.exhausted += 1;
        None
    }

    /// The block `r` refers to (None for [`BlockRef::NONE`]).
    pub fn get(&self, r: BlockRef) -> Option<&T> {
        r.0.checked_sub(1).and_then(|i| self.blocks.get(i as usize))
    }

    /// The block `r` refers to, to change (None for [`BlockRef::NONE`]).
    pub fn get_mut(&mut self, r: BlockRef) -> Option<&mut T> {
        r.0.checked_sub(1)
            .and_then(|i| self.blocks.get_mut(i as usize))
    }

    /// Gives `r`'s block back and clears `r`.
    pub fn release(&mut self, r: &mut BlockRef) {
        if let Some(i) = r.0.checked_sub(1) {
            self.free.push(i);
            *r = BlockRef::NONE;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_reused_and_counted() {
        let mut p: BlockPool<[u8; 4]> = BlockPool::new(2);
        let mut a = p.take().unwrap();
        let b = p.take().unwrap();
        assert!(p.take().is_none());
        assert_eq!(p.exhausted, 1);
        p.get_mut(a).unwrap()[0] = 9;
        p.release(&mut a);
        assert_eq!(a, BlockRef::NONE);
        assert!(p.get_mut(a).is_none());
        let c = p.take().unwrap();
        assert_eq!(
            p.get_mut(c).unwrap(),
            &[0; 4],
            "a reused block starts fresh"
        );
        assert_ne!(b, c);
        assert_eq!(p.in_use(), 2);
        assert_eq!(BlockPool::<[u8; 4]>::memory_bytes(10), 80);
    }
}
