//! Records: `l4_flow_log` rows (here), `l7_flow_log` rows ([`l7`]) and the sink contract every
//! output implements ([`kinds`]).
//!
//! `l4_flow_log` rows: DeepFlow's field names, client (`_0`, `tx`) and server (`_1`, `rx`) sides.
//!
//! Times are microseconds since the Unix epoch; durations and latencies are microseconds.
//! Additions beyond DeepFlow's l4_flow_log are listed in docs/records.md.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Serialize, Serializer};

use crate::flow::{Endpoint, Flow};
use crate::inline::InlineBytes;

/// serde: leave a zero agent id out.
pub(crate) fn is_zero(v: &u16) -> bool {
    *v == 0
}

pub mod attributes;
pub mod kinds;
pub mod l7;
pub mod text;
pub use attributes::Attributes;
pub use kinds::{Collected, Record, RecordBatch, RecordKind, RecordRef, RecordSink, RenderedLines};
pub use l7::L7FlowLog;
pub use text::TextBuf;

/// A MAC address, serialised as `aa:bb:cc:dd:ee:ff`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MacAddr(pub [u8; 6]);

impl Serialize for MacAddr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let m = self.0;
        s.collect_str(&format_args!(
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        ))
    }
}

/// 16 address bytes (IPv4 in the first four) to a std address.
pub fn ip_from_bytes(b: &[u8; 16], is_v6: bool) -> IpAddr {
    if is_v6 {
        IpAddr::V6(Ipv6Addr::from(*b))
    } else {
        IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
    }
}

/// The client (`_0`) and server (`_1`) ends of a flow, as l4 and l7 rows both carry them
/// (flattened into each row: the JSON fields are the same as before).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FlowPeers {
    pub mac_0: MacAddr,
    pub mac_1: MacAddr,
    pub ip_0: IpAddr,
    pub ip_1: IpAddr,
    pub is_ipv4: bool,
    pub protocol: u8,
    pub client_port: u16,
    pub server_port: u16,
}

impl Default for FlowPeers {
    fn default() -> Self {
        FlowPeers {
            mac_0: MacAddr::default(),
            mac_1: MacAddr::default(),
            ip_0: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            ip_1: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            is_ipv4: true,
            protocol: 0,
            client_port: 0,
            server_port: 0,
        }
    }
}

impl FlowPeers {
    /// The ends of `f`, whose endpoints are `ends` (0: its first sender), with flow side
    /// `client` as the client.
    pub fn of(f: &Flow, ends: &[Endpoint; 2], client: usize) -> Self {
        let (c, s) = (&f.sides[client], &f.sides[client ^ 1]);
        let (c_ep, s_ep) = (&ends[client], &ends[client ^ 1]);
        FlowPeers {
            mac_0: MacAddr(c.mac),
            mac_1: MacAddr(s.mac),
            ip_0: ip_from_bytes(&c_ep.ip, f.key.is_v6),
            ip_1: ip_from_bytes(&s_ep.ip, f.key.is_v6),
            is_ipv4: !f.key.is_v6,
            protocol: f.key.proto,
            client_port: c_ep.port,
            server_port: s_ep.port,
        }
    }
}

/// The local processes at a connection's ends (`_0` client, `_1` server), put on packet rows
/// by `tapflow run --ebpf` from what the syscall tracer saw; absent from the JSON when none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ProcessPair {
    pub process_id_0: u32,
    pub process_id_1: u32,
    pub process_kname_0: InlineBytes<16>,
    pub process_kname_1: InlineBytes<16>,
}

impl ProcessPair {
    pub fn is_empty(&self) -> bool {
        self.process_id_0 == 0 && self.process_id_1 == 0
    }

    /// Puts these processes on an l7 row's fields.
    pub fn apply_to(&self, s: &mut l7::SyscallFields) {
        s.process_id_0 = self.process_id_0;
        s.process_id_1 = self.process_id_1;
        s.process_kname_0 = self.process_kname_0;
        s.process_kname_1 = self.process_kname_1;
    }
}

/// One l4_flow_log row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct L4FlowLog {
    pub flow_id: u64,
    /// The agent that sent the row (DeepFlow's `agent_id`), on rows a `tapflow server`
    /// received; 0 (and absent from the JSON) on an agent's own rows.
    #[serde(skip_serializing_if = "is_zero")]
    pub agent_id: u16,
    pub start_time: u64,
    pub end_time: u64,
    pub duration: u64,
    pub close_type: u8,
    pub close_type_name: &'static str,
    pub status: &'static str,
    pub is_new_flow: bool,
    pub signal_source: u8,
    pub capture_network_type: u8,
    pub tap_port: u64,
    pub tap_port_type: &'static str,
    pub tap_side: u8,
    pub observation_point: &'static str,
    pub l2_end_0: bool,
    pub l2_end_1: bool,
    pub eth_type: u16,
    pub vlan: u16,
    #[serde(flatten)]
    pub peers: FlowPeers,
    pub tunnel_type: u8,
    pub tunnel_tier: u8,
    pub tunnel_id: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tunnel_tx_ip_0: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tunnel_tx_ip_1: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tunnel_rx_ip_0: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tunnel_rx_ip_1: Option<IpAddr>,
    pub packet_tx: u64,
    pub packet_rx: u64,
    pub byte_tx: u64,
    pub byte_rx: u64,
    pub l3_byte_tx: u64,
    pub l3_byte_rx: u64,
    pub l4_byte_tx: u64,
    pub l4_byte_rx: u64,
    pub total_packet_tx: u64,
    pub total_packet_rx: u64,
    pub total_byte_tx: u64,
    pub total_byte_rx: u64,
    /// First / last packet of each direction since the flow started (0 = none), µs.
    pub first_time_tx: u64,
    pub last_time_tx: u64,
    pub first_time_rx: u64,
    pub last_time_rx: u64,
    pub tcp_flags_bit_0: u8,
    pub tcp_flags_bit_1: u8,
    pub syn_count: u32,
    pub synack_count: u32,
    pub fin_count: u32,
    pub retrans_syn: u32,
    pub retrans_synack: u32,
    pub retrans_tx: u32,
    pub retrans_rx: u32,
    pub zero_win_tx: u32,
    pub zero_win_rx: u32,
    pub ooo_tx: u32,
    pub ooo_rx: u32,
    pub rtt: u32,
    pub rtt_client_sum: u64,
    pub rtt_client_count: u32,
    pub rtt_client_max: u32,
    pub rtt_server_sum: u64,
    pub rtt_server_count: u32,
    pub rtt_server_max: u32,
    pub srt_sum: u64,
    pub srt_count: u32,
    pub srt_max: u32,
    pub art_sum: u64,
    pub art_count: u32,
    pub art_max: u32,
    pub cit_sum: u64,
    pub cit_count: u32,
    pub cit_max: u32,
    pub direction_score: u8,
    /// The first packet came from the server.
    pub reversed: bool,
    /// The flow's application protocol (DeepFlow id and name; 0 / "" when none was found).
    pub l7_protocol: u8,
    pub l7_protocol_str: &'static str,
    /// L7 performance (DeepFlow's L7PerfStats) of the interval: requests, responses, errors,
    /// timeouts, request -> response times (µs), ClientHello -> ServerHello (µs).
    pub l7_request: u32,
    pub l7_response: u32,
    pub l7_client_error: u32,
    pub l7_server_error: u32,
    pub l7_timeout: u32,
    pub rrt_sum: u64,
    pub rrt_count: u32,
    pub rrt_max: u32,
    pub tls_rtt: u32,
    /// Local processes of the connection (`tapflow run --ebpf`).
    #[serde(flatten, skip_serializing_if = "ProcessPair::is_empty")]
    pub processes: ProcessPair,
}
