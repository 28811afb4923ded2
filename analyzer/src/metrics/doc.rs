//! The `flow_metrics` documents: tags (DeepFlow's MiniField, the fields each table keys on) and
//! meters (FlowMeter from flow log rows, AppMeter from request log rows), with tapflow's latency
//! histograms. Field names follow DeepFlow's metric.proto; the ends are `ip` (single-end tables)
//! or `ip_0` / `ip_1` (client / server, the `_map` tables) as in the flow logs.

use std::hash::{Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::Serialize;

use super::histogram::Histogram;
use crate::flow::CloseType;
use crate::inline::InlineBytes;
use crate::record::{L4FlowLog, L7FlowLog};

/// DeepFlow's `direction` of a document's end: the end is the client / the server.
pub const DIRECTION_CLIENT: u8 = 1;
pub const DIRECTION_SERVER: u8 = 2;

/// What a document is keyed by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
}

impl Hash for Tags {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.ip.hash(h);
        self.ip_1.hash(h);
        (
            self.protocol,
            self.server_port,
            self.l7_protocol,
            self.direction,
        )
            .hash(h);
        (self.tap_side, self.capture_network_type, self.tap_port).hash(h);
        self.endpoint.as_bytes().hash(h);
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
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
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
    pub rtt: Histogram,
    pub srt: Histogram,
    pub art: Histogram,
}

fn mean(sum: u64, count: u32) -> u64 {
    if count == 0 {
        0
    } else {
        sum / u64::from(count)
    }
}

impl FlowMeter {
    /// Adds flow log row `r`; `server_end`: the document's end is the server (tx and rx
    /// swapped).
    pub fn add_row(&mut self, r: &L4FlowLog, server_end: bool) {
        let pick = |tx: u64, rx: u64| if server_end { (rx, tx) } else { (tx, rx) };
        let add = |a: &mut u64, b: &mut u64, (x, y): (u64, u64)| {
            *a += x;
            *b += y;
        };
        add(
            &mut self.packet_tx,
            &mut self.packet_rx,
            pick(r.packet_tx, r.packet_rx),
        );
        add(
            &mut self.byte_tx,
            &mut self.byte_rx,
            pick(r.byte_tx, r.byte_rx),
        );
        add(
            &mut self.l3_byte_tx,
            &mut self.l3_byte_rx,
            pick(r.l3_byte_tx, r.l3_byte_rx),
        );
        add(
            &mut self.l4_byte_tx,
            &mut self.l4_byte_rx,
            pick(r.l4_byte_tx, r.l4_byte_rx),
        );
        let retrans = pick(u64::from(r.retrans_tx), u64::from(r.retrans_rx));
        add(&mut self.retrans_tx, &mut self.retrans_rx, retrans);
        let zero_win = pick(u64::from(r.zero_win_tx), u64::from(r.zero_win_rx));
        add(&mut self.zero_win_tx, &mut self.zero_win_rx, zero_win);
        self.new_flow += u64::from(r.is_new_flow);
        let closed = r.close_type != CloseType::ForcedReport as u8;
        self.closed_flow += u64::from(closed);
        self.l7_request += u64::from(r.l7_request);
        self.l7_response += u64::from(r.l7_response);
        self.syn += u64::from(r.syn_count);
        self.synack += u64::from(r.synack_count);
        self.retrans_syn += u64::from(r.retrans_syn);
        self.retrans_synack += u64::from(r.retrans_synack);
        if r.is_new_flow && r.rtt > 0 {
            self.rtt_sum += u64::from(r.rtt);
            self.rtt_count += 1;
            self.rtt_max = self.rtt_max.max(r.rtt);
            self.rtt.record(u64::from(r.rtt), 1);
        }
        let lat = |sum: &mut u64, count: &mut u64, max: &mut u32, (s, c, m): (u64, u32, u32)| {
            *sum += s;
            *count += u64::from(c);
            *max = (*max).max(m);
        };
        lat(
            &mut self.rtt_client_sum,
            &mut self.rtt_client_count,
            &mut self.rtt_client_max,
            (r.rtt_client_sum, r.rtt_client_count, r.rtt_client_max),
        );
        lat(
            &mut self.rtt_server_sum,
            &mut self.rtt_server_count,
            &mut self.rtt_server_max,
            (r.rtt_server_sum, r.rtt_server_count, r.rtt_server_max),
        );
        lat(
            &mut self.srt_sum,
            &mut self.srt_count,
            &mut self.srt_max,
            (r.srt_sum, r.srt_count, r.srt_max),
        );
        lat(
            &mut self.art_sum,
            &mut self.art_count,
            &mut self.art_max,
            (r.art_sum, r.art_count, r.art_max),
        );
        lat(
            &mut self.rrt_sum,
            &mut self.rrt_count,
            &mut self.rrt_max,
            (r.rrt_sum, r.rrt_count, r.rrt_max),
        );
        lat(
            &mut self.cit_sum,
            &mut self.cit_count,
            &mut self.cit_max,
            (r.cit_sum, r.cit_count, r.cit_max),
        );
        self.srt.record(mean(r.srt_sum, r.srt_count), r.srt_count);
        self.art.record(mean(r.art_sum, r.art_count), r.art_count);
        self.l7_client_error += u64::from(r.l7_client_error);
        self.l7_server_error += u64::from(r.l7_server_error);
        self.l7_timeout += u64::from(r.l7_timeout);
        self.client_ooo += u64::from(r.ooo_tx);
        self.server_ooo += u64::from(r.ooo_rx);
        if closed {
            self.count_close(r.close_type);
        }
    }

    /// The anomaly a flow's close type stands for (`deepflow-facts.md` section 2.3).
    fn count_close(&mut self, close_type: u8) {
        let field = match close_type {
            2 => &mut self.server_rst_flow,
            3 => &mut self.tcp_timeout,
            7 => &mut self.server_syn_miss,
            8 => &mut self.server_half_close_flow,
            9 => &mut self.client_rst_flow,
            10 => &mut self.client_ack_miss,
            11 => &mut self.client_half_close_flow,
            13 => &mut self.client_source_port_reuse,
            15 => &mut self.server_reset,
            17 => &mut self.server_queue_lack,
            18 => &mut self.client_establish_reset,
            19 => &mut self.server_establish_reset,
            _ => return,
        };
        *field += 1;
    }

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
            server_ooo
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
    /// Adds request log row `r`.
    pub fn add_row(&mut self, r: &L7FlowLog) {
        use crate::record::l7::{TYPE_REQUEST, TYPE_RESPONSE, TYPE_SESSION};
        self.request += u64::from(matches!(r.row_type, TYPE_REQUEST | TYPE_SESSION));
        self.response += u64::from(matches!(r.row_type, TYPE_RESPONSE | TYPE_SESSION));
        if r.row_type == TYPE_SESSION && r.response_duration > 0 {
            self.rrt_sum += r.response_duration;
            self.rrt_count += 1;
            self.rrt_max = self.rrt_max.max(r.response_duration);
            self.rrt.record(r.response_duration, 1);
        }
        match r.response_status {
            2 => self.timeout += 1,
            3 => self.server_error += 1,
            4 => self.client_error += 1,
            _ => {}
        }
    }

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
