//! The `flow_metrics` documents: tags (DeepFlow's MiniField, the fields each table keys on) and
//! meters (FlowMeter, AppMeter), with tapflow's latency histograms. How rows fill them is in
//! the `aggregate` module (the layer above the records). Field names follow DeepFlow's metric.proto; the ends are `ip` (single-end tables)
//! or `ip_0` / `ip_1` (client / server, the `_map` tables) as in the flow logs.

use std::hash::{Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::Serialize;

use super::histogram::Histogram;
use crate::inline::InlineBytes;

/// DeepFlow's `direction` of a document's end: the end is the client / the server.
pub const DIRECTION_CLIENT: u8 = 1;
pub const DIRECTION_SERVER: u8 = 2;

/// What a document is keyed by.
#[derive(Debug, Clone, Eq, Serialize)]
pub struct Tags {
    /// The end (single-end tables), or the client (`_map` tables; `0.0.0.0` / `::` for an
    /// Internet client: DeepFlow's cardinality rule).
    #[serde(rename = "ip")]
    pub ip: IpAddr,
    /// The server (`_map` tables only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_1: Option<IpAddr>,
    pub is_ipv4: bool,
    pub protocol: u8,
    /// The service port (0 for an inactive service with `inactive_server_port_aggregation`).
    pub server_port: u16,
    pub l7_protocol: u8,
    pub l7_protocol_str: &'static str,
    /// Single-end tables: 1 the end is the client, 2 the server. `_map` tables: 1 (client to
    /// server).
    pub direction: u8,
    pub tap_side: u8,
    pub observation_point: &'static str,
    pub capture_network_type: u8,
    pub tap_port: u64,
    /// Application tables: the request's endpoint.
    #[serde(skip_serializing_if = "InlineBytes::is_empty")]
    pub endpoint: InlineBytes<128>,
    /// The sending agent on documents a `tapflow server` received (absent when 0).
    #[serde(skip_serializing_if = "no_agent")]
    pub agent_id: u16,
}

/// serde: documents of this agent carry no agent id.
fn no_agent(id: &u16) -> bool {
    *id == 0
}

/// An address as 128 bits (IPv4 in the low 32) and whether it is IPv6. Read through a
/// reference, one variant's bytes at a time: a key is hashed right after it is built, and a
/// wide load of the enum over its narrower stores waited for them to reach the cache (a
/// store-forwarding stall: a third of the hash's time in `flow_metrics_add`).
#[inline(always)]
fn ip_bits(ip: &IpAddr) -> (u128, bool) {
    match ip {
        IpAddr::V4(a) => (u128::from(u32::from_be_bytes(a.octets())), false),
        IpAddr::V6(a) => (u128::from_be_bytes(a.octets()), true),
    }
}

impl Tags {
    /// The key as six words and its endpoint: what its hash reads, for hashes of its own
    /// (`flow_metrics`' key ranks).
    #[inline(always)]
    pub(crate) fn words(&self) -> ([u64; 6], &[u8]) {
        let (ip, ip_v6) = ip_bits(&self.ip);
        let (ip_1, ip_1_v6) = self.ip_1.as_ref().map_or((0, false), ip_bits);
        let packed = self.packed(ip_v6, ip_1_v6);
        let words = [
            ip as u64,
            (ip >> 64) as u64,
            ip_1 as u64,
            (ip_1 >> 64) as u64,
            packed,
            self.tap_port ^ u64::from(self.agent_id).rotate_right(16),
        ];
        (words, self.endpoint.as_bytes())
    }

    /// The narrow fields in one word, with the address families (`ip_v6`, `ip_1_v6`).
    #[inline(always)]
    fn packed(&self, ip_v6: bool, ip_1_v6: bool) -> u64 {
        u64::from(self.protocol)
            | u64::from(self.server_port) << 8
            | u64::from(self.l7_protocol) << 24
            | u64::from(self.direction) << 32
            | u64::from(self.tap_side) << 40
            | u64::from(self.capture_network_type) << 48
            | u64::from(ip_v6) << 56
            | u64::from(self.ip_1.is_some()) << 57
            | u64::from(ip_1_v6) << 58
    }
}

// A key is looked up in up to three tables per row: its hash is a few wide words (a write per
// field cost 3 % of a SYN flood's time).
impl Hash for Tags {
    fn hash<H: Hasher>(&self, h: &mut H) {
        let (ip, ip_v6) = ip_bits(&self.ip);
        let (ip_1, ip_1_v6) = self.ip_1.as_ref().map_or((0, false), ip_bits);
        h.write_u128(ip);
        h.write_u128(ip_1);
        h.write_u64(self.packed(ip_v6, ip_1_v6));
        h.write_u64(self.tap_port);
        h.write_u64(u64::from(self.agent_id) | (self.endpoint.len() as u64) << 16);
        if !self.endpoint.is_empty() {
            h.write(self.endpoint.as_bytes());
        }
    }
}

// The numbers first (keys that differ, differ there), the names last and by address first
// (they are static strings: equal names are almost always the same string). Every field is
// named: a new one does not compile until it is compared (and hashed, above, when it keys).
impl PartialEq for Tags {
    fn eq(&self, o: &Self) -> bool {
        let Tags {
            ip,
            ip_1,
            is_ipv4,
            protocol,
            server_port,
            l7_protocol,
            l7_protocol_str,
            direction,
            tap_side,
            observation_point,
            capture_network_type,
            tap_port,
            endpoint,
            agent_id,
        } = self;
        let same = |a: &'static str, b: &'static str| std::ptr::eq(a, b) || a == b;
        *ip == o.ip
            && *server_port == o.server_port
            && *ip_1 == o.ip_1
            && *protocol == o.protocol
            && *direction == o.direction
            && *l7_protocol == o.l7_protocol
            && *tap_port == o.tap_port
            && *tap_side == o.tap_side
            && *capture_network_type == o.capture_network_type
            && *is_ipv4 == o.is_ipv4
            && *agent_id == o.agent_id
            && same(l7_protocol_str, o.l7_protocol_str)
            && same(observation_point, o.observation_point)
            && *endpoint == o.endpoint
    }
}

/// Is `ip` an intranet address (RFC 1918, CGNAT, loopback, link-local, unique local)? The others
/// are Internet addresses, whose clients DeepFlow writes as `0.0.0.0` in flow_metrics.
pub fn is_intranet(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => {
            let o = a.octets();
            a.is_private()
                || a.is_loopback()
                || a.is_link_local()
                || a.is_unspecified()
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
        }
        IpAddr::V6(a) => {
            let s = a.segments()[0];
            a.is_loopback()
                || a.is_unspecified()
                || (s & 0xfe00) == 0xfc00
                || (s & 0xffc0) == 0xfe80
        }
    }
}

/// An Internet client as DeepFlow aggregates it.
pub fn collapse_internet(ip: IpAddr) -> IpAddr {
    match ip {
        _ if is_intranet(ip) => ip,
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}

/// DeepFlow's FlowMeter (traffic, latency, performance, anomaly), tx/rx from the document's end
/// (single-end) or client to server (`_map`), and tapflow's histograms of RTT (one sample per
/// flow), SRT and ART (each flow's mean, weighted by its samples) and RRT (each request).
///
/// In declaration order (`repr(C)`): what every row adds to (traffic, flow counts) in the first
/// two cache lines, the latencies, the anomaly counters and the histograms after, so that a
/// row whose latencies and anomalies are zero (most: `add_row` skips them) touches few lines of
/// the 2 KiB meter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[repr(C)]
pub struct FlowMeter {
    pub packet_tx: u64,
    pub packet_rx: u64,
    pub byte_tx: u64,
    pub byte_rx: u64,
    pub l3_byte_tx: u64,
    pub l3_byte_rx: u64,
    pub l4_byte_tx: u64,
    pub l4_byte_rx: u64,
    pub new_flow: u64,
    pub closed_flow: u64,
    pub l7_request: u64,
    pub l7_response: u64,
    pub syn: u64,
    pub synack: u64,
    pub rtt_sum: u64,
    pub rtt_count: u64,
    pub rtt_max: u32,
    pub rtt_client_sum: u64,
    pub rtt_client_count: u64,
    pub rtt_client_max: u32,
    pub rtt_server_sum: u64,
    pub rtt_server_count: u64,
    pub rtt_server_max: u32,
    pub srt_sum: u64,
    pub srt_count: u64,
    pub srt_max: u32,
    pub art_sum: u64,
    pub art_count: u64,
    pub art_max: u32,
    pub rrt_sum: u64,
    pub rrt_count: u64,
    pub rrt_max: u32,
    pub cit_sum: u64,
    pub cit_count: u64,
    pub cit_max: u32,
    pub retrans_tx: u64,
    pub retrans_rx: u64,
    pub zero_win_tx: u64,
    pub zero_win_rx: u64,
    pub retrans_syn: u64,
    pub retrans_synack: u64,
    pub client_rst_flow: u64,
    pub server_rst_flow: u64,
    pub server_syn_miss: u64,
    pub client_ack_miss: u64,
    pub client_half_close_flow: u64,
    pub server_half_close_flow: u64,
    pub client_source_port_reuse: u64,
    pub client_establish_reset: u64,
    pub server_reset: u64,
    pub server_queue_lack: u64,
    pub server_establish_reset: u64,
    pub tcp_timeout: u64,
    pub l7_client_error: u64,
    pub l7_server_error: u64,
    pub l7_timeout: u64,
    pub client_ooo: u64,
    pub server_ooo: u64,
    /// DeepFlow's `flow_load`: the connections open in the window, summed over the document's
    /// paths (client address, server address and port, capture point).
    pub flow_load: u64,
    pub rtt: Histogram,
    pub srt: Histogram,
    pub art: Histogram,
}

impl FlowMeter {
    pub fn merge(&mut self, o: &FlowMeter) {
        macro_rules! sum {
            ($($f:ident),+) => { $(self.$f += o.$f;)+ };
        }
        macro_rules! max {
            ($($f:ident),+) => { $(self.$f = self.$f.max(o.$f);)+ };
        }
        sum!(
            packet_tx,
            packet_rx,
            byte_tx,
            byte_rx,
            l3_byte_tx,
            l3_byte_rx,
            l4_byte_tx,
            l4_byte_rx,
            new_flow,
            closed_flow,
            l7_request,
            l7_response,
            syn,
            synack,
            rtt_sum,
            rtt_count,
            rtt_client_sum,
            rtt_client_count,
            rtt_server_sum,
            rtt_server_count,
            srt_sum,
            srt_count,
            art_sum,
            art_count,
            rrt_sum,
            rrt_count,
            cit_sum,
            cit_count,
            retrans_tx,
            retrans_rx,
            zero_win_tx,
            zero_win_rx,
            retrans_syn,
            retrans_synack,
            client_rst_flow,
            server_rst_flow,
            server_syn_miss,
            client_ack_miss,
            client_half_close_flow,
            server_half_close_flow,
            client_source_port_reuse,
            client_establish_reset,
            server_reset,
            server_queue_lack,
            server_establish_reset,
            tcp_timeout,
            l7_client_error,
            l7_server_error,
            l7_timeout,
            client_ooo,
            server_ooo,
            flow_load
        );
        max!(
            rtt_max,
            rtt_client_max,
            rtt_server_max,
            srt_max,
            art_max,
            rrt_max,
            cit_max
        );
        self.rtt.merge(&o.rtt);
        self.srt.merge(&o.srt);
        self.art.merge(&o.art);
    }
}

/// DeepFlow's AppMeter, with the RRT histogram.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AppMeter {
    pub request: u64,
    pub response: u64,
    pub rrt_sum: u64,
    pub rrt_count: u64,
    pub rrt_max: u64,
    pub client_error: u64,
    pub server_error: u64,
    pub timeout: u64,
    pub rrt: Histogram,
}

impl AppMeter {
    pub fn merge(&mut self, o: &AppMeter) {
        self.request += o.request;
        self.response += o.response;
        self.rrt_sum += o.rrt_sum;
        self.rrt_count += o.rrt_count;
        self.rrt_max = self.rrt_max.max(o.rrt_max);
        self.client_error += o.client_error;
        self.server_error += o.server_error;
        self.timeout += o.timeout;
        self.rrt.merge(&o.rrt);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    fn tags() -> Tags {
        Tags {
            ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            ip_1: Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2))),
            is_ipv4: true,
            protocol: 6,
            server_port: 80,
            l7_protocol: 20,
            l7_protocol_str: "HTTP",
            direction: DIRECTION_CLIENT,
            tap_side: 1,
            observation_point: "c",
            capture_network_type: 3,
            tap_port: 7,
            endpoint: InlineBytes::from_slice(b"/a"),
            agent_id: 0,
        }
    }

    #[test]
    fn equal_tags_hash_alike_and_every_field_tells_tags_apart() {
        let s = hashbrown::DefaultHashBuilder::default();
        let a = tags();
        // Equal names in other strings are equal.
        let http = String::from("HTTP");
        let b = Tags {
            l7_protocol_str: Box::leak(http.into_boxed_str()),
            ..tags()
        };
        assert_eq!(a, b);
        assert_eq!(s.hash_one(&a), s.hash_one(&b));
        let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        let changed: Vec<Tags> = vec![
            Tags { ip: v6, ..tags() },
            Tags {
                ip_1: None,
                ..tags()
            },
            Tags {
                ip_1: Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))),
                ..tags()
            },
            Tags {
                is_ipv4: false,
                ..tags()
            },
            Tags {
                protocol: 17,
                ..tags()
            },
            Tags {
                server_port: 81,
                ..tags()
            },
            Tags {
                l7_protocol: 21,
                ..tags()
            },
            Tags {
                l7_protocol_str: "HTTP2",
                ..tags()
            },
            Tags {
                direction: DIRECTION_SERVER,
                ..tags()
            },
            Tags {
                tap_side: 2,
                ..tags()
            },
            Tags {
                observation_point: "s",
                ..tags()
            },
            Tags {
                capture_network_type: 4,
                ..tags()
            },
            Tags {
                tap_port: 8,
                ..tags()
            },
            Tags {
                endpoint: InlineBytes::from_slice(b"/b"),
                ..tags()
            },
            Tags {
                endpoint: InlineBytes::EMPTY,
                ..tags()
            },
            Tags {
                agent_id: 1,
                ..tags()
            },
        ];
        for c in &changed {
            assert_ne!(&a, c);
        }
        // The fields that key a document change its hash (an IPv4 address and the IPv6
        // address with the same low bits too).
        let mapped = Tags {
            ip: IpAddr::V6(Ipv4Addr::new(10, 0, 0, 1).to_ipv6_compatible()),
            ..tags()
        };
        for c in changed.iter().chain([&mapped]) {
            if c.is_ipv4 != a.is_ipv4 || c.l7_protocol_str != a.l7_protocol_str {
                continue;
            }
            if c.observation_point != a.observation_point {
                continue;
            }
            assert_ne!(s.hash_one(&a), s.hash_one(c), "{c:?}");
        }
    }
}
