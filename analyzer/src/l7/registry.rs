//! The one list of L7 protocols. Each line names a protocol (its enum variant, its field name in
//! per-protocol tables, its parser type); [`l7_registry!`] generates from it the protocol enum
//! with DeepFlow's ids and names, the inference order, the per-protocol config struct, one state
//! pool per protocol and the static dispatch over them. Protocols found through another one's
//! parser (gRPC through HTTP/2) are listed under `derived`.
//!
//! Adding a protocol: a folder implementing [`L7Parser`] and one line in `parsers` below
//! (`docs/adding-a-protocol.md`).

use super::config::L7Config;
use super::exchange::Exchange;
use super::parser::{Descriptor, L7Parser, Segment, Transport};
use super::pool::StatePool;
use super::Probe;

macro_rules! l7_registry {
    (
        parsers { $($(#[$doc:meta])* $var:ident: $field:ident => $ty:ty,)+ }
        derived { $($(#[$ddoc:meta])* $dvar:ident = $did:literal, $dname:literal via $parent:ident,)* }
    ) => {
        /// The protocols tapflow knows, with DeepFlow's ids (`deepflow-facts.md` section 4.1).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum L7Protocol {
            Unknown = 0,
            $($(#[$doc])* $var = <$ty as L7Parser>::DESC.id,)+
            $($(#[$ddoc])* $dvar = $did,)*
        }

        /// The protocols that have a parser of their own, in inference order (the registry's
        /// order: cheap, specific probes first).
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ParserKind {
            $($var,)+
        }

        impl ParserKind {
            pub const ALL: &'static [ParserKind] = &[$(ParserKind::$var,)+];
            pub const COUNT: usize = Self::ALL.len();

            pub const fn desc(self) -> &'static Descriptor {
                match self {
                    $(ParserKind::$var => &<$ty as L7Parser>::DESC,)+
                }
            }

            pub fn protocol(self) -> L7Protocol {
                match self {
                    $(ParserKind::$var => L7Protocol::$var,)+
                }
            }

            /// Does `payload` look like this protocol?
            pub fn probe(self, payload: &[u8], t: Transport) -> Probe {
                match self {
                    $(ParserKind::$var => <$ty as L7Parser>::probe(payload, t),)+
                }
            }

            /// Did the client send `payload`?
            pub fn sent_by_client(self, payload: &[u8], t: Transport) -> Option<bool> {
                match self {
                    $(ParserKind::$var => <$ty as L7Parser>::sent_by_client(payload, t),)+
                }
            }
        }

        impl L7Protocol {
            /// Every protocol with an id (not Unknown).
            pub const ALL: &'static [L7Protocol] =
                &[$(L7Protocol::$var,)+ $(L7Protocol::$dvar,)*];

            /// DeepFlow's name, as in `enabled_protocols` and `l7_protocol_str`.
            pub fn name(self) -> &'static str {
                match self {
                    L7Protocol::Unknown => "Unknown",
                    $(L7Protocol::$var => <$ty as L7Parser>::DESC.name,)+
                    $(L7Protocol::$dvar => $dname,)*
                }
            }

            /// The parser that reads this protocol (gRPC: HTTP/2's).
            pub fn parser(self) -> Option<ParserKind> {
                match self {
                    L7Protocol::Unknown => None,
                    $(L7Protocol::$var => Some(ParserKind::$var),)+
                    $(L7Protocol::$dvar => Some(ParserKind::$parent),)*
                }
            }

            /// The protocols found through `self`'s parser (HTTP2 -> gRPC, Triple).
            pub fn derived(self) -> impl Iterator<Item = L7Protocol> {
                const DERIVED: &[(L7Protocol, L7Protocol)] =
                    &[$((L7Protocol::$parent, L7Protocol::$dvar),)*];
                DERIVED
                    .iter()
                    .filter(move |(parent, _)| *parent == self)
                    .map(|(_, d)| *d)
            }
        }

        /// Settings of each protocol alone.
        #[derive(Debug, Clone, Default, PartialEq)]
        pub struct ProtocolConfigs {
            $(pub $field: <$ty as L7Parser>::Config,)+
        }

        /// One state pool per protocol (a worker's).
        #[derive(Debug)]
        pub struct Pools {
            $($field: StatePool<$ty>,)+
        }

        impl Pools {
            pub fn new(cfg: &L7Config) -> Self {
                Pools { $($field: StatePool::new(cfg.pool_capacity(ParserKind::$var)),)+ }
            }

            /// Most memory the pools can take with `cfg`. A flow has one parser and L7 slots are
            /// `flow_capacity`, so the small-state pools together hold at most that many states:
            /// the largest of them counts; each large-state pool counts whole.
            pub fn memory_bytes(cfg: &L7Config) -> u64 {
                let mut small = 0u64;
                let mut large = 0u64;
                $(
                    let bytes = StatePool::<$ty>::memory_bytes(cfg.pool_capacity(ParserKind::$var));
                    if ParserKind::$var.desc().large_state {
                        large += bytes;
                    } else {
                        small = small.max(bytes);
                    }
                )+
                small + large
            }

            /// A fresh state of `k`, or None when its pool is full.
            pub fn alloc(&mut self, k: ParserKind) -> Option<u32> {
                match k {
                    $(ParserKind::$var => self.$field.alloc(),)+
                }
            }

            pub fn release(&mut self, k: ParserKind, i: u32) {
                match k {
                    $(ParserKind::$var => self.$field.release(i),)+
                }
            }

            /// States in use over every pool.
            pub fn in_use(&self) -> usize {
                0 $(+ self.$field.in_use())+
            }

            pub fn on_data(
                &mut self,
                k: ParserKind,
                i: u32,
                cfg: &ProtocolConfigs,
                seg: Segment<'_>,
                x: &mut Exchange<'_>,
            ) -> usize {
                match k {
                    $(ParserKind::$var => match self.$field.get_mut(i) {
                        Some(p) => p.on_data(&cfg.$field, seg, x),
                        None => seg.data.len(),
                    },)+
                }
            }

            pub fn on_gap(&mut self, k: ParserKind, i: u32, dir: usize, x: &mut Exchange<'_>) {
                match k {
                    $(ParserKind::$var => if let Some(p) = self.$field.get_mut(i) {
                        p.on_gap(dir, x);
                    },)+
                }
            }

            pub fn on_close(
                &mut self,
                k: ParserKind,
                i: u32,
                cfg: &ProtocolConfigs,
                x: &mut Exchange<'_>,
            ) {
                match k {
                    $(ParserKind::$var => if let Some(p) = self.$field.get_mut(i) {
                        p.on_close(&cfg.$field, x);
                    },)+
                }
            }
        }
    };
}

l7_registry! {
    parsers {
        Tls: tls => super::tls::TlsSession,
        Dns: dns => super::dns::DnsSession,
        Http1: http1 => super::http1::Http1Session,
        Http2: http2 => super::http2::Http2Session,
        Mqtt: mqtt => super::mqtt::MqttSession,
        Nats: nats => super::nats::NatsSession,
        Amqp: amqp => super::amqp::AmqpSession,
        Dubbo: dubbo => super::dubbo::DubboSession,
        SofaRpc: sofarpc => super::sofarpc::SofaRpcSession,
        Tars: tars => super::tars::TarsSession,
        Brpc: brpc => super::brpc::BrpcSession,
        OpenWire: openwire => super::openwire::OpenWireSession,
        Pulsar: pulsar => super::pulsar::PulsarSession,
        RocketMq: rocketmq => super::rocketmq::RocketMqSession,
        SomeIp: someip => super::someip::SomeIpSession,
        FastCgi: fastcgi => super::fastcgi::FastCgiSession,
        Memcached: memcached => super::memcached::MemcachedSession,
        Redis: redis => super::redis::RedisSession,
        Mongo: mongo => super::mongo::MongoSession,
        Mysql: mysql => super::mysql::MysqlSession,
        Postgres: postgres => super::postgres::PostgresSession,
        Kafka: kafka => super::kafka::KafkaSession,
        Zmtp: zmtp => super::zmtp::ZmtpSession,
        Ping: ping => super::ping::PingSession,
    }
    derived {
        /// HTTP/2 carrying `application/grpc` (DeepFlow: "configure as HTTP2").
        Grpc = 41, "gRPC" via Http2,
        /// HTTP/2 requests naming a Dubbo service version (`tri-service-version`): Dubbo 3's
        /// Triple (DeepFlow: "configure as HTTP2").
        Triple = 49, "Triple" via Http2,
    }
}

/// A set of parsers: bit `i` for `ParserKind::ALL[i]`, so walking its bits from the lowest is
/// walking the registry's (inference) order.
pub type ParserBits = u64;

const _: () = assert!(ParserKind::COUNT <= ParserBits::BITS as usize);

/// The parsers read from each transport, as [`ParserBits`] (indexed by `Transport as usize`).
const CARRIED_BY: [ParserBits; 3] = [
    ParserKind::carried_bits(Transport::Tcp),
    ParserKind::carried_bits(Transport::Udp),
    ParserKind::carried_bits(Transport::Icmp),
];

impl ParserKind {
    const fn carried_bits(t: Transport) -> ParserBits {
        let mut bits = 0;
        let mut i = 0;
        while i < Self::COUNT {
            let d = Self::ALL[i].desc();
            let carried = match t {
                Transport::Tcp => d.tcp,
                Transport::Udp => d.udp,
                Transport::Icmp => d.icmp,
            };
            if carried {
                bits |= 1 << i;
            }
            i += 1;
        }
        bits
    }

    /// The parsers read from transport `t`.
    pub fn carried_by(t: Transport) -> ParserBits {
        CARRIED_BY[t as usize]
    }

    /// This parser's bit in [`ParserBits`].
    pub fn bit(self) -> ParserBits {
        1 << self as usize
    }

    /// The parsers of `bits`, in registry order.
    pub fn each(mut bits: ParserBits) -> impl Iterator<Item = ParserKind> {
        std::iter::from_fn(move || {
            let i = bits.trailing_zeros() as usize;
            bits &= bits.wrapping_sub(1);
            Self::ALL.get(i).copied()
        })
    }
}

impl L7Protocol {
    /// DeepFlow's id.
    pub fn id(self) -> u8 {
        self as u8
    }

    /// The protocol with DeepFlow's id `id` (records received from another agent).
    pub fn from_id(id: u8) -> Option<Self> {
        Self::ALL.iter().copied().find(|p| p.id() == id)
    }

    /// The protocol named `name` in DeepFlow's spelling (case-insensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|p| p.name().eq_ignore_ascii_case(name))
    }

    /// The descriptor of the parser that reads this protocol.
    pub fn desc(self) -> Option<&'static Descriptor> {
        self.parser().map(ParserKind::desc)
    }

    /// Carried over TCP.
    pub fn over_tcp(self) -> bool {
        self.desc().is_some_and(|d| d.tcp)
    }

    /// Carried over UDP.
    pub fn over_udp(self) -> bool {
        self.desc().is_some_and(|d| d.udp)
    }

    /// Read from ICMP messages.
    pub fn over_icmp(self) -> bool {
        self.desc().is_some_and(|d| d.icmp)
    }
}
