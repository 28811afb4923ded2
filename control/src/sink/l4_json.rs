//! `l4_flow_log` rows as JSON without generic serialization: keys written as they are (none
//! needs escaping), integers through `itoa`, addresses formatted in place, escaping only for the
//! strings that could need it. The output parses to the same JSON value serde's derive gives
//! (`tests/json_writer.rs` checks every golden row); it is the files' hot path when a mirror
//! creates a flow per packet or two.

use std::net::IpAddr;

use tapflow_analyzer::inline::InlineBytes;
use tapflow_analyzer::record::MacAddr;
use tapflow_analyzer::L4FlowLog;

/// `,"name":` for member `name` (keys need no escaping), rendered at compile time.
macro_rules! key {
    ($name:literal) => {
        concat!(",\"", $name, "\":")
    };
}

/// An object being written: commas between members.
struct Obj<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Obj<'a> {
    fn open(out: &'a mut Vec<u8>) -> Self {
        // A row is about 1.2 KB: one reservation, then no capacity checks that grow.
        out.reserve(2048);
        out.push(b'{');
        Obj { out, first: true }
    }

    /// `k` is the pre-rendered `,"name":` (see [`key!`]); the first member drops the comma.
    fn key(&mut self, k: &'static str) {
        let k = if self.first { &k[1..] } else { k };
        self.first = false;
        self.out.extend_from_slice(k.as_bytes());
    }

    fn u(&mut self, k: &'static str, v: impl Into<u64>) {
        self.key(k);
        let v = v.into();
        if v < 10 {
            // Most counters of a short flow are 0 or one digit.
            self.out.push(b'0' + v as u8);
        } else {
            self.out
                .extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
        }
    }

    fn b(&mut self, k: &'static str, v: bool) {
        self.key(k);
        self.out
            .extend_from_slice(if v { b"true" } else { b"false" });
    }

    fn s(&mut self, k: &'static str, v: &str) {
        self.key(k);
        string(self.out, v);
    }

    fn ip(&mut self, k: &'static str, ip: IpAddr) {
        self.key(k);
        self.out.push(b'"');
        match ip {
            IpAddr::V4(v4) => {
                let mut buf = itoa::Buffer::new();
                for (i, o) in v4.octets().iter().enumerate() {
                    if i > 0 {
                        self.out.push(b'.');
                    }
                    self.out.extend_from_slice(buf.format(*o).as_bytes());
                }
            }
            IpAddr::V6(v6) => {
                use std::io::Write;
                let _ = write!(self.out, "{v6}");
            }
        }
        self.out.push(b'"');
    }

    fn mac(&mut self, k: &'static str, m: MacAddr) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        self.key(k);
        self.out.push(b'"');
        for (i, b) in m.0.iter().enumerate() {
            if i > 0 {
                self.out.push(b':');
            }
            self.out.push(HEX[usize::from(b >> 4)]);
            self.out.push(HEX[usize::from(b & 15)]);
        }
        self.out.push(b'"');
    }

    fn inline<const N: usize>(&mut self, k: &'static str, v: &InlineBytes<N>) {
        match std::str::from_utf8(v.as_bytes()) {
            Ok(s) => self.s(k, s),
            Err(_) => self.s(k, &String::from_utf8_lossy(v.as_bytes())),
        }
    }

    fn close(self) {
        self.out.push(b'}');
    }
}

/// A JSON string as serde_json writes it: `"` and `\` escaped, control characters as `\n`,
/// `\r`, `\t`, `\b`, `\f` or `\u00XX`, everything else as it is.
fn string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    if !bytes.iter().any(|&c| c < 0x20 || c == b'"' || c == b'\\') {
        out.extend_from_slice(bytes);
    } else {
        for &c in bytes {
            match c {
                b'"' => out.extend_from_slice(b"\\\""),
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\t' => out.extend_from_slice(b"\\t"),
                0x08 => out.extend_from_slice(b"\\b"),
                0x0c => out.extend_from_slice(b"\\f"),
                c if c < 0x20 => {
                    const HEX: &[u8; 16] = b"0123456789abcdef";
                    out.extend_from_slice(b"\\u00");
                    out.push(HEX[usize::from(c >> 4)]);
                    out.push(HEX[usize::from(c & 15)]);
                }
                c => out.push(c),
            }
        }
    }
    out.push(b'"');
}

/// Appends `r` as one JSON object (no newline).
pub fn write_l4(r: &L4FlowLog, out: &mut Vec<u8>) {
    let mut o = Obj::open(out);
    o.u(key!("flow_id"), r.flow_id);
    if r.agent_id != 0 {
        o.u(key!("agent_id"), r.agent_id);
    }
    o.u(key!("start_time"), r.start_time);
    o.u(key!("end_time"), r.end_time);
    o.u(key!("duration"), r.duration);
    o.u(key!("close_type"), r.close_type);
    o.s(key!("close_type_name"), r.close_type_name);
    o.s(key!("status"), r.status);
    o.b(key!("is_new_flow"), r.is_new_flow);
    o.u(key!("signal_source"), r.signal_source);
    o.u(key!("capture_network_type"), r.capture_network_type);
    o.u(key!("tap_port"), r.tap_port);
    o.s(key!("tap_port_type"), r.tap_port_type);
    o.u(key!("tap_side"), r.tap_side);
    o.s(key!("observation_point"), r.observation_point);
    o.b(key!("l2_end_0"), r.l2_end_0);
    o.b(key!("l2_end_1"), r.l2_end_1);
    o.u(key!("eth_type"), r.eth_type);
    o.u(key!("vlan"), r.vlan);
    let p = &r.peers;
    o.mac(key!("mac_0"), p.mac_0);
    o.mac(key!("mac_1"), p.mac_1);
    o.ip(key!("ip_0"), p.ip_0);
    o.ip(key!("ip_1"), p.ip_1);
    o.b(key!("is_ipv4"), p.is_ipv4);
    o.u(key!("protocol"), p.protocol);
    o.u(key!("client_port"), p.client_port);
    o.u(key!("server_port"), p.server_port);
    o.u(key!("tunnel_type"), r.tunnel_type);
    o.u(key!("tunnel_tier"), r.tunnel_tier);
    o.u(key!("tunnel_id"), r.tunnel_id);
    for (k, v) in [
        (key!("tunnel_tx_ip_0"), r.tunnel_tx_ip_0),
        (key!("tunnel_tx_ip_1"), r.tunnel_tx_ip_1),
        (key!("tunnel_rx_ip_0"), r.tunnel_rx_ip_0),
        (key!("tunnel_rx_ip_1"), r.tunnel_rx_ip_1),
    ] {
        if let Some(ip) = v {
            o.ip(k, ip);
        }
    }
    for (k, v) in [
        (key!("packet_tx"), r.packet_tx),
        (key!("packet_rx"), r.packet_rx),
        (key!("byte_tx"), r.byte_tx),
        (key!("byte_rx"), r.byte_rx),
        (key!("l3_byte_tx"), r.l3_byte_tx),
        (key!("l3_byte_rx"), r.l3_byte_rx),
        (key!("l4_byte_tx"), r.l4_byte_tx),
        (key!("l4_byte_rx"), r.l4_byte_rx),
        (key!("total_packet_tx"), r.total_packet_tx),
        (key!("total_packet_rx"), r.total_packet_rx),
        (key!("total_byte_tx"), r.total_byte_tx),
        (key!("total_byte_rx"), r.total_byte_rx),
        (key!("first_time_tx"), r.first_time_tx),
        (key!("last_time_tx"), r.last_time_tx),
        (key!("first_time_rx"), r.first_time_rx),
        (key!("last_time_rx"), r.last_time_rx),
    ] {
        o.u(k, v);
    }
    o.u(key!("tcp_flags_bit_0"), r.tcp_flags_bit_0);
    o.u(key!("tcp_flags_bit_1"), r.tcp_flags_bit_1);
    for (k, v) in [
        (key!("syn_count"), r.syn_count),
        (key!("synack_count"), r.synack_count),
        (key!("fin_count"), r.fin_count),
        (key!("retrans_syn"), r.retrans_syn),
        (key!("retrans_synack"), r.retrans_synack),
        (key!("retrans_tx"), r.retrans_tx),
        (key!("retrans_rx"), r.retrans_rx),
        (key!("zero_win_tx"), r.zero_win_tx),
        (key!("zero_win_rx"), r.zero_win_rx),
        (key!("ooo_tx"), r.ooo_tx),
        (key!("ooo_rx"), r.ooo_rx),
        (key!("rtt"), r.rtt),
    ] {
        o.u(k, v);
    }
    for (sum_k, sum, count_k, count, max_k, max) in [
        (
            key!("rtt_client_sum"),
            r.rtt_client_sum,
            key!("rtt_client_count"),
            r.rtt_client_count,
            key!("rtt_client_max"),
            r.rtt_client_max,
        ),
        (
            key!("rtt_server_sum"),
            r.rtt_server_sum,
            key!("rtt_server_count"),
            r.rtt_server_count,
            key!("rtt_server_max"),
            r.rtt_server_max,
        ),
        (
            key!("srt_sum"),
            r.srt_sum,
            key!("srt_count"),
            r.srt_count,
            key!("srt_max"),
            r.srt_max,
        ),
        (
            key!("art_sum"),
            r.art_sum,
            key!("art_count"),
            r.art_count,
            key!("art_max"),
            r.art_max,
        ),
        (
            key!("cit_sum"),
            r.cit_sum,
            key!("cit_count"),
            r.cit_count,
            key!("cit_max"),
            r.cit_max,
        ),
    ] {
        o.u(sum_k, sum);
        o.u(count_k, count);
        o.u(max_k, max);
    }
    o.u(key!("direction_score"), r.direction_score);
    o.b(key!("reversed"), r.reversed);
    o.u(key!("l7_protocol"), r.l7_protocol);
    o.s(key!("l7_protocol_str"), r.l7_protocol_str);
    for (k, v) in [
        (key!("l7_request"), r.l7_request),
        (key!("l7_response"), r.l7_response),
        (key!("l7_client_error"), r.l7_client_error),
        (key!("l7_server_error"), r.l7_server_error),
        (key!("l7_timeout"), r.l7_timeout),
    ] {
        o.u(k, v);
    }
    o.u(key!("rrt_sum"), r.rrt_sum);
    o.u(key!("rrt_count"), r.rrt_count);
    o.u(key!("rrt_max"), r.rrt_max);
    o.u(key!("tls_rtt"), r.tls_rtt);
    let pp = &r.processes;
    if !pp.is_empty() {
        o.u(key!("process_id_0"), pp.process_id_0);
        o.u(key!("process_id_1"), pp.process_id_1);
        o.inline(key!("process_kname_0"), &pp.process_kname_0);
        o.inline(key!("process_kname_1"), &pp.process_kname_1);
    }
    o.close();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same(r: &L4FlowLog) {
        let mut fast = Vec::new();
        write_l4(r, &mut fast);
        let a: serde_json::Value = serde_json::from_slice(&fast).expect("valid JSON");
        let b = serde_json::to_value(r).expect("serde");
        assert_eq!(a, b, "{}", String::from_utf8_lossy(&fast));
    }

    #[test]
    fn a_real_row_and_its_variants_match_serde() {
        let mut r = crate::sink::syn_row(40000);
        same(&r);
        r.agent_id = 7;
        r.tunnel_tx_ip_0 = Some("2001:db8::1".parse().unwrap());
        r.tunnel_rx_ip_1 = Some("192.0.2.9".parse().unwrap());
        r.peers.ip_0 = "fe80::1:2".parse().unwrap();
        r.peers.mac_1 = MacAddr([0xde, 0xad, 0xbe, 0xef, 0x0a, 0xff]);
        r.processes.process_id_0 = 42;
        r.processes.process_kname_0 = InlineBytes::from_slice(b"we\"ird\\\n\x01name");
        r.processes.process_kname_1 = InlineBytes::from_slice(b"\xff\xfebad utf8");
        r.rtt_client_sum = u64::MAX;
        same(&r);
    }

    #[test]
    fn strings_escape_as_serde_json_does() {
        for s in [
            "plain",
            "q\"b\\s",
            "\n\r\t\x08\x0c\x00\x1f",
            "ünïcödé ✓",
            "</script>",
        ] {
            let mut out = Vec::new();
            string(&mut out, s);
            assert_eq!(out, serde_json::to_vec(s).unwrap(), "{s:?}");
        }
    }
}
