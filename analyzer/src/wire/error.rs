//! Typed decode failures: a layer and a kind, both `Copy`, counted per pair.

/// The protocol layer at which decoding stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Layer {
    Ethernet = 0,
    Vlan,
    Mpls,
    Ipv4,
    Ipv6,
    Tcp,
    Udp,
    Icmp,
    Vxlan,
    Geneve,
    Gre,
    Erspan,
}

impl Layer {
    /// Number of layers, for counter arrays.
    pub const COUNT: usize = 12;
    /// All layers in counter order.
    pub const ALL: [Layer; Self::COUNT] = [
        Layer::Ethernet,
        Layer::Vlan,
        Layer::Mpls,
        Layer::Ipv4,
        Layer::Ipv6,
        Layer::Tcp,
        Layer::Udp,
        Layer::Icmp,
        Layer::Vxlan,
        Layer::Geneve,
        Layer::Gre,
        Layer::Erspan,
    ];

    /// Lower-case name used in counters and reports.
    pub const fn name(self) -> &'static str {
        match self {
            Layer::Ethernet => "ethernet",
            Layer::Vlan => "vlan",
            Layer::Mpls => "mpls",
            Layer::Ipv4 => "ipv4",
            Layer::Ipv6 => "ipv6",
            Layer::Tcp => "tcp",
            Layer::Udp => "udp",
            Layer::Icmp => "icmp",
            Layer::Vxlan => "vxlan",
            Layer::Geneve => "geneve",
            Layer::Gre => "gre",
            Layer::Erspan => "erspan",
        }
    }
}

/// Why decoding stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ErrorKind {
    /// The frame ends before the header does.
    Truncated = 0,
    /// A length or version field is impossible.
    Malformed,
    /// Valid but not something we decode (e.g. GRE version 1, unknown ERSPAN frame type).
    Unsupported,
}

impl ErrorKind {
    /// Number of kinds, for counter arrays.
    pub const COUNT: usize = 3;
    /// All kinds in counter order.
    pub const ALL: [ErrorKind; Self::COUNT] = [
        ErrorKind::Truncated,
        ErrorKind::Malformed,
        ErrorKind::Unsupported,
    ];

    /// Lower-case name used in counters and reports.
    pub const fn name(self) -> &'static str {
        match self {
            ErrorKind::Truncated => "truncated",
            ErrorKind::Malformed => "malformed",
            ErrorKind::Unsupported => "unsupported",
        }
    }
}

/// A decode failure: where and why. Cheap to return and to count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DecodeError {
    pub layer: Layer,
    pub kind: ErrorKind,
}

impl DecodeError {
    pub(crate) const fn truncated(layer: Layer) -> Self {
        Self {
            layer,
            kind: ErrorKind::Truncated,
        }
    }
    pub(crate) const fn malformed(layer: Layer) -> Self {
        Self {
            layer,
            kind: ErrorKind::Malformed,
        }
    }
    pub(crate) const fn unsupported(layer: Layer) -> Self {
        Self {
            layer,
            kind: ErrorKind::Unsupported,
        }
    }

    /// Index into a `[u64; Layer::COUNT * ErrorKind::COUNT]` counter array.
    pub const fn counter_index(self) -> usize {
        self.layer as usize * ErrorKind::COUNT + self.kind as usize
    }
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.layer.name(), self.kind.name())
    }
}

impl std::error::Error for DecodeError {}
