//! The set of local VM / pod MACs of a virtual mirror (configured today; pushed by the server
//! as `local_segments` once the control plane lands).

/// A sorted set of MAC addresses (lookups do not allocate).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalMacs(Box<[[u8; 6]]>);

impl LocalMacs {
    pub fn new(mut macs: Vec<[u8; 6]>) -> Self {
        macs.sort_unstable();
        macs.dedup();
        LocalMacs(macs.into_boxed_slice())
    }

    #[inline]
    pub fn contains(&self, mac: &[u8; 6]) -> bool {
        !self.0.is_empty() && self.0.binary_search(mac).is_ok()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
