//! `l4_flow_log` rows as JSON without generic serialization ([`super::json_obj`]). The output
//! parses to the same JSON value serde's derive gives (`tests/golden.rs` checks every golden
//! row); it is the files' hot path when a mirror creates a flow per packet or two.

use tapflow_analyzer::record::FlowPeers;
use tapflow_analyzer::L4FlowLog;

use super::json_obj::{key, render_again, Key, Obj, Rendered, ROW_ROOM};
use tapflow_analyzer::TextBuf;

/// Unsigned members named as the row's fields, in order.
macro_rules! unsigned {
    ($o:ident, $r:ident, $($field:ident),+ $(,)?) => {
        $($o.u(key!(field $field), $r.$field);)+
    };
}

/// Unsigned members that are all zero in most rows (a SYN-only or UDP flow's TCP timings, the
/// retransmission counters of a healthy flow, a flow without L7 counters): one test, and when
/// every one is zero one copy of the run as rendered at compile time instead of a key and a
/// number per member.
macro_rules! mostly_zero {
    ($o:ident, $r:ident, $($field:ident),+ $(,)?) => {
        if 0 $(| u64::from($r.$field))+ == 0 {
            $o.raw(concat!($(",\"", stringify!($field), "\":0"),+).as_bytes());
        } else {
            unsigned!($o, $r, $($field),+);
        }
    };
}

/// The packet and byte counters, copied as rendered when the row before's were the same
/// ([`L4Writer`]'s `counts`), else rendered and kept.
macro_rules! kept_counts {
    ($o:ident, $r:ident, $w:ident, $($field:ident),+ $(,)?) => {
        let counts = [$($r.$field),+];
        if $w.counts.is_some_and(|c| same_words(&c, &counts)) {
            $o.put_run(&$w.counts_bytes, $w.counts_len);
        } else {
            let start = $o.len();
            unsigned!($o, $r, $($field),+);
            $w.counts = $o.copy_since(start, &mut $w.counts_bytes).map(|len| {
                $w.counts_len = len;
                counts
            });
        }
    };
}

/// Whether `a` and `b` hold the same numbers, compared in registers (xor, or): a derived
/// comparison loads a value just built from its parts' 8-byte stores 16 bytes at a time, which
/// the store buffer cannot forward ([`HeadValues::same`], [`kept_counts`]).
#[inline(always)]
fn same_words<const N: usize>(a: &[u64; N], b: &[u64; N]) -> bool {
    let mut diff = 0;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    diff == 0
}

/// Appends `r` as one JSON object (no newline).
pub fn write_l4(r: &L4FlowLog, out: &mut TextBuf) {
    L4Writer::new().write(r, out);
}

/// Longest run of members [`L4Writer`] keeps rendered.
const HEAD_MAX: usize = 384;

/// Longest run of counters [`L4Writer`] keeps rendered (twelve members of at most 36 bytes each
/// fit; a longer run is rendered every time).
const COUNTS_MAX: usize = 448;

/// What the members from `close_type` to `vlan` are rendered from (a name by its address:
/// they are the analyzer's static strings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct HeadValues {
    numbers: [u64; 3],
    names: [(usize, usize); 4],
}

impl HeadValues {
    /// Whether `self` and `v` are equal, compared in registers: the derived comparison loads
    /// `v` 16 bytes at a time from where its 8-byte parts were just stored, which the store
    /// buffer cannot forward (a stall every row).
    #[inline(always)]
    fn same(&self, v: &HeadValues) -> bool {
        let mut names = 0;
        for (a, b) in self.names.iter().zip(&v.names) {
            names |= (a.0 ^ b.0) | (a.1 ^ b.1);
        }
        same_words(&self.numbers, &v.numbers) & (names == 0)
    }

    #[inline(always)]
    fn of(r: &L4FlowLog) -> Self {
        let name = |s: &'static str| (s.as_ptr() as usize, s.len());
        HeadValues {
            numbers: [
                u64::from(r.close_type)
                    | u64::from(r.is_new_flow) << 8
                    | u64::from(r.signal_source) << 16
                    | u64::from(r.capture_network_type) << 24
                    | u64::from(r.tap_side) << 32
                    | u64::from(r.l2_end_0) << 40
                    | u64::from(r.l2_end_1) << 48,
                r.tap_port,
                u64::from(r.eth_type) | u64::from(r.vlan) << 16,
            ],
            names: [
                name(r.close_type_name),
                name(r.status),
                name(r.tap_port_type),
                name(r.observation_point),
            ],
        }
    }
}

/// Renders l4 rows, keeping the last row's members from `close_type` to `vlan` as rendered:
/// a row with the same values (most rows of a capture: one capture point, close type and link
/// type) copies them whole instead of rendering fourteen members.
#[derive(Debug)]
pub struct L4Writer {
    head: Option<HeadValues>,
    head_len: usize,
    head_bytes: [u8; HEAD_MAX],
    /// The last row's `start_time` and `end_time` as rendered: the row's first and last packet
    /// times most often repeat them (and the flows a flush closes share their end), so that
    /// those members copy sixteen digits instead of computing them.
    start: Rendered,
    end: Rendered,
    /// The last row's packet and byte counters, and their members as rendered (a flood's rows
    /// all count the same: one SYN, eight 64-byte frames).
    counts: Option<[u64; 12]>,
    counts_len: usize,
    counts_bytes: [u8; COUNTS_MAX],
}

impl Default for L4Writer {
    fn default() -> Self {
        Self::new()
    }
}

impl L4Writer {
    pub fn new() -> Self {
        L4Writer {
            head: None,
            head_len: 0,
            head_bytes: [0; HEAD_MAX],
            start: Rendered::ZERO,
            end: Rendered::ZERO,
            counts: None,
            counts_len: 0,
            counts_bytes: [0; COUNTS_MAX],
        }
    }

    /// Appends `r` as one JSON object (no newline).
    pub fn write(&mut self, r: &L4FlowLog, out: &mut TextBuf) {
        self.write_in(r, out, ROW_ROOM);
    }

    /// [`L4Writer::write`] into room of `room` bytes first (`render!` with the writer beside
    /// the row).
    #[inline(always)]
    fn write_in(&mut self, r: &L4FlowLog, out: &mut TextBuf, room: usize) {
        let mut o = Obj::open(out, room);
        l4_members(&mut o, r, self);
        match o.close() {
            Ok(n) => out.advance(n),
            Err(need) => render_again(out, need, |o| l4_members(o, r, self)),
        }
    }
}

/// The members of an l4 row, inlined where [`L4Writer::write`] renders it (the object's
/// cursor stays in a register).
#[inline(always)]
fn l4_members(o: &mut Obj<'_>, r: &L4FlowLog, w: &mut L4Writer) {
    o.u(key!("flow_id"), r.flow_id);
    if r.agent_id != 0 {
        o.u(key!("agent_id"), r.agent_id);
    }
    o.u_kept(key!("start_time"), r.start_time, &mut w.start);
    o.u_kept(key!("end_time"), r.end_time, &mut w.end);
    o.u(key!("duration"), r.duration);
    let values = HeadValues::of(r);
    if w.head.is_some_and(|h| h.same(&values)) {
        o.put_run(&w.head_bytes, w.head_len);
    } else {
        let start = o.len();
        head_members(o, r);
        w.head = o.copy_since(start, &mut w.head_bytes).map(|len| {
            w.head_len = len;
            values
        });
    }
    peers(o, &r.peers);
    // Zero outside tunnels.
    mostly_zero!(o, r, tunnel_type, tunnel_tier, tunnel_id);
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
    kept_counts!(
        o,
        r,
        w,
        packet_tx,
        packet_rx,
        byte_tx,
        byte_rx,
        l3_byte_tx,
        l3_byte_rx,
        l4_byte_tx,
        l4_byte_rx,
        total_packet_tx,
        total_packet_rx,
        total_byte_tx,
        total_byte_rx,
    );
    time(o, key!("first_time_tx"), r.first_time_tx, w);
    time(o, key!("last_time_tx"), r.last_time_tx, w);
    time(o, key!("first_time_rx"), r.first_time_rx, w);
    time(o, key!("last_time_rx"), r.last_time_rx, w);
    // Zero in a UDP or ICMP row.
    mostly_zero!(
        o,
        r,
        tcp_flags_bit_0,
        tcp_flags_bit_1,
        syn_count,
        synack_count,
        fin_count,
    );
    mostly_zero!(
        o,
        r,
        retrans_syn,
        retrans_synack,
        retrans_tx,
        retrans_rx,
        zero_win_tx,
        zero_win_rx,
        ooo_tx,
        ooo_rx,
    );
    o.u(key!("rtt"), r.rtt);
    mostly_zero!(
        o,
        r,
        rtt_client_sum,
        rtt_client_count,
        rtt_client_max,
        rtt_server_sum,
        rtt_server_count,
        rtt_server_max,
        srt_sum,
        srt_count,
        srt_max,
        art_sum,
        art_count,
        art_max,
        cit_sum,
        cit_count,
        cit_max,
    );
    o.u(key!("direction_score"), r.direction_score);
    o.b(key!("reversed"), r.reversed);
    o.u(key!("l7_protocol"), r.l7_protocol);
    o.name(key!("l7_protocol_str"), r.l7_protocol_str);
    mostly_zero!(
        o,
        r,
        l7_request,
        l7_response,
        l7_client_error,
        l7_server_error,
        l7_timeout,
        rrt_sum,
        rrt_count,
        rrt_max,
        tls_rtt,
    );
    let pp = &r.processes;
    if !pp.is_empty() {
        o.u(key!("process_id_0"), pp.process_id_0);
        o.u(key!("process_id_1"), pp.process_id_1);
        o.inline(key!("process_kname_0"), &pp.process_kname_0);
        o.inline(key!("process_kname_1"), &pp.process_kname_1);
    }
}

/// A packet time of the row: copied when it is the row's start or end (rendered just before).
#[inline(always)]
fn time(o: &mut Obj<'_>, k: &Key, v: u64, w: &L4Writer) {
    if w.start.holds(v) {
        o.u_as(k, &w.start);
    } else if w.end.holds(v) {
        o.u_as(k, &w.end);
    } else {
        o.u(k, v);
    }
}

/// The members from `close_type` to `vlan` ([`L4Writer`] keeps them rendered).
#[inline(always)]
fn head_members(o: &mut Obj<'_>, r: &L4FlowLog) {
    o.u(key!("close_type"), r.close_type);
    o.name(key!("close_type_name"), r.close_type_name);
    o.name(key!("status"), r.status);
    o.b(key!("is_new_flow"), r.is_new_flow);
    o.u(key!("signal_source"), r.signal_source);
    o.u(key!("capture_network_type"), r.capture_network_type);
    o.u(key!("tap_port"), r.tap_port);
    o.name(key!("tap_port_type"), r.tap_port_type);
    o.u(key!("tap_side"), r.tap_side);
    o.name(key!("observation_point"), r.observation_point);
    o.b(key!("l2_end_0"), r.l2_end_0);
    o.b(key!("l2_end_1"), r.l2_end_1);
    o.u(key!("eth_type"), r.eth_type);
    o.u(key!("vlan"), r.vlan);
}

/// The two ends of a row (flattened into l4 and l7 rows alike).
#[inline(always)]
pub(super) fn peers(o: &mut Obj<'_>, p: &FlowPeers) {
    o.mac(key!("mac_0"), p.mac_0);
    o.mac(key!("mac_1"), p.mac_1);
    o.ip(key!("ip_0"), p.ip_0);
    o.ip(key!("ip_1"), p.ip_1);
    o.b(key!("is_ipv4"), p.is_ipv4);
    o.u(key!("protocol"), p.protocol);
    o.u(key!("client_port"), p.client_port);
    o.u(key!("server_port"), p.server_port);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::json_obj::same_as_serde;
    use tapflow_analyzer::inline::InlineBytes;
    use tapflow_analyzer::record::MacAddr;

    /// The counters' run copied only when every counter is the same as the row before's: each
    /// one changed alone, the widest numbers, rows too long for their room.
    #[test]
    fn a_writer_copies_the_last_rows_counters_only_when_they_are_the_same() {
        // Counter `i` of the twelve, in the row's order.
        let set = |r: &mut L4FlowLog, i: usize, v: u64| {
            *match i {
                0 => &mut r.packet_tx,
                1 => &mut r.packet_rx,
                2 => &mut r.byte_tx,
                3 => &mut r.byte_rx,
                4 => &mut r.l3_byte_tx,
                5 => &mut r.l3_byte_rx,
                6 => &mut r.l4_byte_tx,
                7 => &mut r.l4_byte_rx,
                8 => &mut r.total_packet_tx,
                9 => &mut r.total_packet_rx,
                10 => &mut r.total_byte_tx,
                _ => &mut r.total_byte_rx,
            } = v;
        };
        let base = crate::sink::syn_row(40000);
        let mut rows = vec![base, base];
        let mut widest = base;
        for i in 0..12 {
            for v in [7, u64::MAX] {
                let mut r = base;
                set(&mut r, i, v);
                rows.extend([r, r, base]);
            }
            set(&mut widest, i, u64::MAX);
        }
        rows.extend([widest, widest, base]);
        let mut w = L4Writer::new();
        for room in [ROW_ROOM, 64, 400, 900] {
            for r in &rows {
                let (mut kept, mut alone) = (TextBuf::new(), TextBuf::new());
                w.write_in(r, &mut kept, room);
                write_l4(r, &mut alone);
                assert_eq!(kept.as_bytes(), alone.as_bytes());
                same_as_serde(write_l4, r);
            }
        }
    }

    /// Packet times copied from the row's start or end (or the row before's) read as computed:
    /// equal to either, to neither, to both, zero, the widest numbers, one after another.
    #[test]
    fn a_writer_copies_repeated_times_only_when_they_are_the_same() {
        let base = crate::sink::syn_row(40000);
        let (s, e) = (1_700_000_000_000_000, 1_700_000_000_000_350);
        let times: [(u64, u64, [u64; 4]); 9] = [
            (s, e, [s, s, 0, 0]),
            (s, e, [s, e, s + 1, e]),
            (s + 7, e, [s + 7, e, e, s + 7]),
            (s, s, [s, s, s, s]),
            (0, 0, [0, 0, 0, 0]),
            (0, e, [e, 0, 9, 10]),
            (
                u64::MAX,
                u64::MAX - 1,
                [u64::MAX - 1, u64::MAX, 0, u64::MAX],
            ),
            (9, 10, [10, 9, 99_999_999, 100_000_000]),
            (s, e, [e, s, e, s]),
        ];
        let mut w = L4Writer::new();
        for room in [ROW_ROOM, 64, 400] {
            for &(start, end, [ftx, ltx, frx, lrx]) in times.iter().chain(times.iter().rev()) {
                let mut r = base;
                r.start_time = start;
                r.end_time = end;
                r.first_time_tx = ftx;
                r.last_time_tx = ltx;
                r.first_time_rx = frx;
                r.last_time_rx = lrx;
                let (mut kept, mut alone) = (TextBuf::new(), TextBuf::new());
                w.write_in(&r, &mut kept, room);
                write_l4(&r, &mut alone);
                assert_eq!(kept.as_bytes(), alone.as_bytes());
                same_as_serde(write_l4, &r);
            }
        }
    }

    #[test]
    fn a_writer_copies_the_last_rows_run_only_when_its_values_are_the_same() {
        let base = crate::sink::syn_row(40000);
        let mut rows = vec![base, base];
        let mut push = |f: &dyn Fn(&mut L4FlowLog)| {
            let mut r = base;
            f(&mut r);
            rows.push(r);
            rows.push(r);
        };
        push(&|r| r.close_type = 3);
        push(&|r| r.close_type_name = "timeout");
        push(&|r| r.status = "client error");
        push(&|r| r.is_new_flow = !r.is_new_flow);
        push(&|r| r.signal_source = 4);
        push(&|r| r.capture_network_type = 9);
        push(&|r| r.tap_port = u64::MAX);
        push(&|r| r.tap_port_type = "tunnel");
        push(&|r| r.tap_side = 2);
        push(&|r| r.observation_point = "s");
        push(&|r| r.l2_end_0 = true);
        push(&|r| r.l2_end_1 = true);
        push(&|r| r.eth_type = 0x86dd);
        push(&|r| r.vlan = 4094);
        // The same name at another address: rendered again, the same text.
        push(&|r| r.observation_point = String::leak(String::from("rest")));
        rows.push(base);
        let mut w = L4Writer::new();
        for r in &rows {
            let (mut kept, mut alone) = (TextBuf::new(), TextBuf::new());
            w.write(r, &mut kept);
            write_l4(r, &mut alone);
            assert_eq!(kept.as_bytes(), alone.as_bytes());
            same_as_serde(write_l4, r);
        }
        // A room too small for the row: rendered again, the run copied or not, the same text.
        for room in [64, 200, 400] {
            for r in &rows {
                let (mut short, mut alone) = (TextBuf::new(), TextBuf::new());
                w.write_in(r, &mut short, room);
                write_l4(r, &mut alone);
                assert_eq!(short.as_bytes(), alone.as_bytes());
            }
        }
    }

    #[test]
    fn a_real_row_and_its_variants_match_serde() {
        let mut r = crate::sink::syn_row(40000);
        same_as_serde(write_l4, &r);
        r.agent_id = 7;
        r.tunnel_tx_ip_0 = Some("2001:db8::1".parse().unwrap());
        r.tunnel_rx_ip_1 = Some("192.0.2.9".parse().unwrap());
        r.peers.ip_0 = "fe80::1:2".parse().unwrap();
        r.peers.mac_1 = MacAddr([0xde, 0xad, 0xbe, 0xef, 0x0a, 0xff]);
        r.processes.process_id_0 = 42;
        r.processes.process_kname_0 = InlineBytes::from_slice(b"we\"ird\\\n\x01name");
        r.processes.process_kname_1 = InlineBytes::from_slice(b"\xff\xfebad utf8");
        r.rtt_client_sum = u64::MAX;
        same_as_serde(write_l4, &r);
        // Each mostly-zero run written member by member when its last member alone is set.
        let mut r = crate::sink::syn_row(40001);
        r.ooo_rx = 1;
        same_as_serde(write_l4, &r);
        r.cit_max = 2;
        same_as_serde(write_l4, &r);
        r.tls_rtt = 3;
        same_as_serde(write_l4, &r);
        // A UDP row: the TCP flags and counts as one run.
        let mut r = crate::sink::syn_row(40002);
        r.peers.protocol = 17;
        (r.tcp_flags_bit_0, r.syn_count) = (0, 0);
        same_as_serde(write_l4, &r);
        r.fin_count = 1;
        same_as_serde(write_l4, &r);
    }
}
