//! [`PortSet`]: a set of TCP/UDP ports, one bit each (server ports, L7 prefilters).

/// A set of TCP/UDP ports, one bit each.
#[derive(Clone, PartialEq, Eq)]
pub struct PortSet(Box<[u64; 1024]>);

impl PortSet {
    pub fn new() -> Self {
        PortSet(Box::new([0; 1024]))
    }
    pub fn insert(&mut self, port: u16) {
        self.0[usize::from(port >> 6)] |= 1 << (port & 63);
    }
    #[inline]
    pub fn contains(&self, port: u16) -> bool {
        self.0[usize::from(port >> 6)] & (1 << (port & 63)) != 0
    }
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }
}

impl Default for PortSet {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for PortSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ports: Vec<u16> = (0..=u16::MAX)
            .filter(|p| self.contains(*p))
            .take(32)
            .collect();
        f.debug_tuple("PortSet").field(&ports).finish()
    }
}
