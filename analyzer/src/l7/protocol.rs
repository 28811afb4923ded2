//! Application protocols: DeepFlow's `L7Protocol` ids and names, and a set of them.

/// The protocols tapflow parses, with DeepFlow's ids (`deepflow-facts.md` section 4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum L7Protocol {
    Unknown = 0,
    Http1 = 20,
    Http2 = 21,
    Grpc = 41,
    Dns = 120,
    Tls = 121,
}

impl L7Protocol {
    /// Every parsed protocol in inference order (cheap, specific checks first; gRPC is found
    /// through HTTP/2).
    pub const INFERRED: [L7Protocol; 4] = [
        L7Protocol::Tls,
        L7Protocol::Dns,
        L7Protocol::Http1,
        L7Protocol::Http2,
    ];

    /// DeepFlow's id.
    pub fn id(self) -> u8 {
        self as u8
    }

    /// DeepFlow's name, as in `enabled_protocols` and `l7_protocol_str`.
    pub fn name(self) -> &'static str {
        match self {
            L7Protocol::Unknown => "Unknown",
            L7Protocol::Http1 => "HTTP",
            L7Protocol::Http2 => "HTTP2",
            L7Protocol::Grpc => "gRPC",
            L7Protocol::Dns => "DNS",
            L7Protocol::Tls => "TLS",
        }
    }

    /// The protocol named `name` in DeepFlow's spelling (case-insensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        [
            L7Protocol::Http1,
            L7Protocol::Http2,
            L7Protocol::Grpc,
            L7Protocol::Dns,
            L7Protocol::Tls,
        ]
        .into_iter()
        .find(|p| p.name().eq_ignore_ascii_case(name))
    }

    /// Carried over TCP (DNS over both).
    pub fn over_tcp(self) -> bool {
        !matches!(self, L7Protocol::Unknown)
    }

    /// Carried over UDP.
    pub fn over_udp(self) -> bool {
        self == L7Protocol::Dns
    }

    fn bit(self) -> u32 {
        match self {
            L7Protocol::Unknown => 0,
            L7Protocol::Http1 => 1,
            L7Protocol::Http2 => 2,
            L7Protocol::Grpc => 4,
            L7Protocol::Dns => 8,
            L7Protocol::Tls => 16,
        }
    }
}

/// DeepFlow's protocol names that tapflow does not parse yet: accepted in `enabled_protocols`
/// (with a warning from the config loader) so DeepFlow configs load.
pub const KNOWN_UNPARSED: [&str; 27] = [
    "Dubbo",
    "SofaRPC",
    "FastCGI",
    "bRPC",
    "Tars",
    "SomeIP",
    "ISO8583",
    "NetSign",
    "MySQL",
    "PostgreSQL",
    "Oracle",
    "Dameng",
    "Redis",
    "MongoDB",
    "Memcached",
    "Kafka",
    "MQTT",
    "AMQP",
    "OpenWire",
    "NATS",
    "Pulsar",
    "ZMTP",
    "RocketMQ",
    "WebSphereMQ",
    "Triple",
    "Ping",
    "Custom",
];

/// A set of protocols.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProtocolSet(u32);

impl ProtocolSet {
    /// DeepFlow's default `enabled_protocols` restricted to what tapflow parses: HTTP, HTTP2 (and
    /// so gRPC), DNS, TLS.
    pub fn deepflow_default() -> Self {
        let mut s = ProtocolSet::default();
        for p in [
            L7Protocol::Http1,
            L7Protocol::Http2,
            L7Protocol::Grpc,
            L7Protocol::Dns,
            L7Protocol::Tls,
        ] {
            s.insert(p);
        }
        s
    }

    pub fn insert(&mut self, p: L7Protocol) {
        self.0 |= p.bit();
    }

    pub fn contains(&self, p: L7Protocol) -> bool {
        p.bit() != 0 && self.0 & p.bit() != 0
    }

    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_default_set() {
        for p in L7Protocol::INFERRED {
            assert_eq!(L7Protocol::from_name(p.name()), Some(p));
        }
        assert_eq!(L7Protocol::from_name("grpc"), Some(L7Protocol::Grpc));
        assert_eq!(L7Protocol::from_name("MySQL"), None);
        let d = ProtocolSet::deepflow_default();
        assert!(d.contains(L7Protocol::Http1) && d.contains(L7Protocol::Dns));
        assert!(d.contains(L7Protocol::Grpc) && !d.contains(L7Protocol::Unknown));
    }
}
