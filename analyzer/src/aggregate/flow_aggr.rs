//! DeepFlow's FlowAggr: with 1-second metrics the analyzer reports live flows every second; the
//! output stage merges each flow's rows of a minute back into the one `l4_flow_log` row it writes
//! without them. A flow's merged row is written when its final row comes (the flow ended), when
//! a row of a later minute comes, or [`GRACE_NS`] after its minute ended (a live flow: written as
//! `forced_report` ending at the minute's end, as the minute report would). Counters add up;
//! first / last times, flags and maxima combine; the rest is the latest row's. A flow whose
//! client / server roles changed within the minute is turned to the latest roles before adding.

// foldhash rather than SipHash: a lookup per row.
use hashbrown::hash_map::{Entry, HashMap};

use crate::flow::CloseType;
use crate::record::{L4FlowLog, Record, RecordSink};

const MINUTE_US: u64 = 60_000_000;
/// How long after a minute ends its merged rows wait for the minute's last second rows.
pub const GRACE_NS: u64 = 2_000_000_000;

/// The open minute rows, by flow id.
#[derive(Debug, Default)]
pub struct FlowAggr {
    open: HashMap<u64, (u64, L4FlowLog)>,
    /// Rows that came after their flow's minute row was written (written as a second row).
    pub late_rows: u64,
    written_before: u64,
}

/// Turns `r` to the other roles (client <-> server).
fn swap_roles(r: &mut L4FlowLog) {
    let p = &mut r.peers;
    std::mem::swap(&mut p.ip_0, &mut p.ip_1);
    std::mem::swap(&mut p.mac_0, &mut p.mac_1);
    std::mem::swap(&mut p.client_port, &mut p.server_port);
    std::mem::swap(&mut r.l2_end_0, &mut r.l2_end_1);
    std::mem::swap(&mut r.packet_tx, &mut r.packet_rx);
    std::mem::swap(&mut r.byte_tx, &mut r.byte_rx);
    std::mem::swap(&mut r.l3_byte_tx, &mut r.l3_byte_rx);
    std::mem::swap(&mut r.l4_byte_tx, &mut r.l4_byte_rx);
    std::mem::swap(&mut r.total_packet_tx, &mut r.total_packet_rx);
    std::mem::swap(&mut r.total_byte_tx, &mut r.total_byte_rx);
    std::mem::swap(&mut r.first_time_tx, &mut r.first_time_rx);
    std::mem::swap(&mut r.last_time_tx, &mut r.last_time_rx);
    std::mem::swap(&mut r.tcp_flags_bit_0, &mut r.tcp_flags_bit_1);
    std::mem::swap(&mut r.syn_count, &mut r.synack_count);
    std::mem::swap(&mut r.retrans_syn, &mut r.retrans_synack);
    std::mem::swap(&mut r.retrans_tx, &mut r.retrans_rx);
    std::mem::swap(&mut r.zero_win_tx, &mut r.zero_win_rx);
    std::mem::swap(&mut r.ooo_tx, &mut r.ooo_rx);
    std::mem::swap(&mut r.rtt_client_sum, &mut r.rtt_server_sum);
    std::mem::swap(&mut r.rtt_client_count, &mut r.rtt_server_count);
    std::mem::swap(&mut r.rtt_client_max, &mut r.rtt_server_max);
    std::mem::swap(&mut r.tunnel_tx_ip_0, &mut r.tunnel_rx_ip_0);
    std::mem::swap(&mut r.tunnel_tx_ip_1, &mut r.tunnel_rx_ip_1);
}

fn first_nonzero(a: u64, b: u64) -> u64 {
    if a != 0 {
        a
    } else {
        b
    }
}

/// Adds the interval counters of `b` to `a` (sums) and keeps the larger of each maximum: what
/// two rows of one flow, or of flows merged into one row, have together.
pub(super) fn add_interval(a: &mut L4FlowLog, b: &L4FlowLog) {
    macro_rules! sum {
        ($($f:ident),+) => { $(a.$f += b.$f;)+ };
    }
    macro_rules! max {
        ($($f:ident),+) => { $(a.$f = a.$f.max(b.$f);)+ };
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
        syn_count,
        synack_count,
        fin_count,
        retrans_syn,
        retrans_synack,
        retrans_tx,
        retrans_rx,
        zero_win_tx,
        zero_win_rx,
        ooo_tx,
        ooo_rx,
        rtt_client_sum,
        rtt_client_count,
        rtt_server_sum,
        rtt_server_count,
        srt_sum,
        srt_count,
        art_sum,
        art_count,
        cit_sum,
        cit_count,
        l7_request,
        l7_response,
        l7_client_error,
        l7_server_error,
        l7_timeout,
        rrt_sum,
        rrt_count
    );
    max!(
        rtt,
        rtt_client_max,
        rtt_server_max,
        srt_max,
        art_max,
        cit_max,
        rrt_max,
        tls_rtt
    );
    a.tcp_flags_bit_0 |= b.tcp_flags_bit_0;
    a.tcp_flags_bit_1 |= b.tcp_flags_bit_1;
}

/// Adds row `b` (later) to `a`.
fn merge(a: &mut L4FlowLog, b: &L4FlowLog) {
    if (a.peers.ip_0, a.peers.client_port) != (b.peers.ip_0, b.peers.client_port) {
        swap_roles(a);
    }
    a.end_time = b.end_time;
    a.duration = b.duration;
    a.close_type = b.close_type;
    a.close_type_name = b.close_type_name;
    a.status = b.status;
    a.signal_source = b.signal_source;
    a.capture_network_type = b.capture_network_type;
    a.tap_port = b.tap_port;
    a.tap_port_type = b.tap_port_type;
    a.tap_side = b.tap_side;
    a.observation_point = b.observation_point;
    a.l2_end_0 |= b.l2_end_0;
    a.l2_end_1 |= b.l2_end_1;
    a.eth_type = b.eth_type;
    a.vlan = b.vlan;
    a.peers = b.peers;
    a.tunnel_type = b.tunnel_type;
    a.tunnel_tier = b.tunnel_tier;
    a.tunnel_id = b.tunnel_id;
    a.tunnel_tx_ip_0 = b.tunnel_tx_ip_0.or(a.tunnel_tx_ip_0);
    a.tunnel_tx_ip_1 = b.tunnel_tx_ip_1.or(a.tunnel_tx_ip_1);
    a.tunnel_rx_ip_0 = b.tunnel_rx_ip_0.or(a.tunnel_rx_ip_0);
    a.tunnel_rx_ip_1 = b.tunnel_rx_ip_1.or(a.tunnel_rx_ip_1);
    add_interval(a, b);
    a.total_packet_tx = a.total_packet_tx.max(b.total_packet_tx);
    a.total_packet_rx = a.total_packet_rx.max(b.total_packet_rx);
    a.total_byte_tx = a.total_byte_tx.max(b.total_byte_tx);
    a.total_byte_rx = a.total_byte_rx.max(b.total_byte_rx);
    a.first_time_tx = first_nonzero(a.first_time_tx, b.first_time_tx);
    a.first_time_rx = first_nonzero(a.first_time_rx, b.first_time_rx);
    a.last_time_tx = first_nonzero(b.last_time_tx, a.last_time_tx);
    a.last_time_rx = first_nonzero(b.last_time_rx, a.last_time_rx);
    a.direction_score = b.direction_score;
    a.reversed = b.reversed;
    if b.l7_protocol != 0 {
        a.l7_protocol = b.l7_protocol;
        a.l7_protocol_str = b.l7_protocol_str;
    }
}

/// An ended flow's merged row ends at its last packet (not at the second report before it), or
/// at its minute's start when idle since (what the minute report's interval gives).
fn end_at_last_packet(r: &mut L4FlowLog) {
    let flow_start = r.end_time.saturating_sub(r.duration);
    let end = r.last_time_tx.max(r.last_time_rx).max(r.start_time);
    if end < r.end_time {
        r.end_time = end;
        r.duration = end - flow_start;
    }
}

/// A live flow's merged row at its minute's end (what the minute report writes).
fn at_minute_end(mut r: L4FlowLog, minute: u64) -> L4FlowLog {
    let end = (minute + 1) * MINUTE_US;
    if r.close_type == CloseType::ForcedReport as u8 && r.end_time < end {
        r.duration += end - r.end_time;
        r.end_time = end;
    }
    r
}

impl FlowAggr {
    pub fn new() -> Self {
        Self::default()
    }

    /// Most memory the open rows take with `flows` live flows (one row each): the row and the
    /// map's control byte, at the least full the map gets (7/16, right after it grows).
    pub fn memory_bytes(flows: u64) -> u64 {
        let per_row = std::mem::size_of::<(u64, (u64, L4FlowLog))>() as u64 + 1;
        flows * per_row * 16 / 7
    }

    /// Takes one row: merged into its flow's minute, or written (with what it ends).
    pub fn add(&mut self, r: &L4FlowLog, sink: &mut impl RecordSink) {
        let minute = r.start_time / MINUTE_US;
        if minute < self.written_before {
            self.late_rows += 1;
        }
        let ended = r.close_type != CloseType::ForcedReport as u8;
        // Merged in place: a live flow's second rows do not move its minute row (624 bytes)
        // out of the map and back.
        match self.open.entry(r.flow_id) {
            Entry::Occupied(mut e) if e.get().0 == minute => {
                merge(&mut e.get_mut().1, r);
                if ended {
                    let (_, mut acc) = e.remove();
                    end_at_last_packet(&mut acc);
                    sink.record(acc.as_ref());
                }
            }
            Entry::Occupied(mut e) => {
                // The flow's row of an earlier minute: written, and this one starts the next.
                let (m, acc) = if ended {
                    e.remove()
                } else {
                    std::mem::replace(e.get_mut(), (minute, *r))
                };
                sink.record(at_minute_end(acc, m).as_ref());
                if ended {
                    sink.record(r.as_ref());
                }
            }
            Entry::Vacant(e) => {
                if ended {
                    sink.record(r.as_ref());
                } else {
                    e.insert((minute, *r));
                }
            }
        }
    }

    /// Writes the rows of the minutes that ended [`GRACE_NS`] before `now_ns`, by flow id.
    pub fn close_until(&mut self, now_ns: u64, sink: &mut impl RecordSink) {
        let done = now_ns.saturating_sub(GRACE_NS) / 1_000 / MINUTE_US;
        if done <= self.written_before {
            return;
        }
        self.written_before = done;
        let mut ids: Vec<u64> = self
            .open
            .iter()
            .filter(|(_, (m, _))| *m < done)
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        for id in ids {
            if let Some((m, acc)) = self.open.remove(&id) {
                sink.record(at_minute_end(acc, m).as_ref());
            }
        }
    }

    /// Writes every open row (end of input, shutdown).
    pub fn finish(&mut self, sink: &mut impl RecordSink) {
        let mut ids: Vec<u64> = self.open.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            if let Some((m, acc)) = self.open.remove(&id) {
                sink.record(at_minute_end(acc, m).as_ref());
            }
        }
    }
}
