//! How flow log and request log rows add to the meters of `crate::metrics`.

use crate::flow::CloseType;
use crate::inline::InlineBytes;
use crate::metrics::doc::{AppMeter, FlowMeter, Tags, DIRECTION_CLIENT};
use crate::metrics::histogram::BucketPool;
use crate::record::{L4FlowLog, L7FlowLog};

fn mean(sum: u64, count: u32) -> u64 {
    if count == 0 {
        0
    } else {
        sum / u64::from(count)
    }
}

/// The network tables' key of flow log row `r`: its client end (`ip`), no server address,
/// `server_port` (the row's, or 0 for an inactive service under
/// `inactive_server_port_aggregation`); the aggregation sets the end and direction per table.
pub fn network_key(r: &L4FlowLog, server_port: u16) -> Tags {
    Tags {
        ip: r.peers.ip_0,
        ip_1: None,
        is_ipv4: r.peers.is_ipv4,
        protocol: r.peers.protocol,
        server_port,
        l7_protocol: r.l7_protocol,
        l7_protocol_str: r.l7_protocol_str,
        direction: DIRECTION_CLIENT,
        tap_side: r.tap_side,
        observation_point: r.observation_point,
        capture_network_type: r.capture_network_type,
        tap_port: r.tap_port,
        endpoint: InlineBytes::EMPTY,
        agent_id: 0,
    }
}

impl FlowMeter {
    /// Adds flow log row `r`; `server_end`: the document's end is the server (tx and rx
    /// swapped). A histogram's first sample takes its buckets from `pool`.
    pub fn add_row(&mut self, r: &L4FlowLog, server_end: bool, pool: &mut BucketPool) {
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
        self.new_flow += u64::from(r.is_new_flow);
        let closed = r.close_type != CloseType::ForcedReport as u8;
        self.closed_flow += u64::from(closed);
        self.l7_request += u64::from(r.l7_request);
        self.l7_response += u64::from(r.l7_response);
        self.syn += u64::from(r.syn_count);
        self.synack += u64::from(r.synack_count);
        // The groups below are zero in most rows: one test each, and the meter's lines that
        // hold them are not touched (adding zeros and taking the max with 0 change nothing).
        if (r.retrans_tx | r.retrans_rx | r.zero_win_tx | r.zero_win_rx) != 0
            || (r.retrans_syn | r.retrans_synack | r.ooo_tx | r.ooo_rx) != 0
        {
            self.add_anomalies(r, server_end);
        }
        if r.is_new_flow && r.rtt > 0 {
            self.rtt_sum += u64::from(r.rtt);
            self.rtt_count += 1;
            self.rtt_max = self.rtt_max.max(r.rtt);
            self.rtt.record_in(u64::from(r.rtt), 1, pool);
        }
        if (r.rtt_client_sum | r.rtt_server_sum | r.srt_sum | r.art_sum | r.rrt_sum | r.cit_sum)
            != 0
            || (r.rtt_client_count | r.rtt_server_count | r.srt_count | r.art_count)
                | (r.rrt_count | r.cit_count)
                | (r.rtt_client_max | r.rtt_server_max | r.srt_max | r.art_max)
                | (r.rrt_max | r.cit_max)
                != 0
        {
            self.add_latencies(r, pool);
        }
        if (r.l7_client_error | r.l7_server_error | r.l7_timeout) != 0 {
            self.l7_client_error += u64::from(r.l7_client_error);
            self.l7_server_error += u64::from(r.l7_server_error);
            self.l7_timeout += u64::from(r.l7_timeout);
        }
        if closed {
            self.count_close(r.close_type);
        }
    }

    /// Retransmissions, zero windows and out-of-order segments (tx/rx as in `add_row`).
    fn add_anomalies(&mut self, r: &L4FlowLog, server_end: bool) {
        let (retrans, zero_win) = if server_end {
            ((r.retrans_rx, r.retrans_tx), (r.zero_win_rx, r.zero_win_tx))
        } else {
            ((r.retrans_tx, r.retrans_rx), (r.zero_win_tx, r.zero_win_rx))
        };
        self.retrans_tx += u64::from(retrans.0);
        self.retrans_rx += u64::from(retrans.1);
        self.zero_win_tx += u64::from(zero_win.0);
        self.zero_win_rx += u64::from(zero_win.1);
        self.retrans_syn += u64::from(r.retrans_syn);
        self.retrans_synack += u64::from(r.retrans_synack);
        // Out of order: from the client and from the server, whichever end the document is.
        self.client_ooo += u64::from(r.ooo_tx);
        self.server_ooo += u64::from(r.ooo_rx);
    }

    /// The latency sums, counts and maxima, and the SRT and ART histograms.
    fn add_latencies(&mut self, r: &L4FlowLog, pool: &mut BucketPool) {
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
        let (srt, art) = (mean(r.srt_sum, r.srt_count), mean(r.art_sum, r.art_count));
        self.srt.record_in(srt, r.srt_count, pool);
        self.art.record_in(art, r.art_count, pool);
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
}

/// A meter of a `flow_metrics` table: rows add to it; once its document is written, its
/// histograms' buckets go back to the pool.
pub(crate) trait PooledMeter: Default {
    fn release(&mut self, pool: &mut BucketPool);
}

impl PooledMeter for FlowMeter {
    fn release(&mut self, pool: &mut BucketPool) {
        self.rtt.release(pool);
        self.srt.release(pool);
        self.art.release(pool);
    }
}

impl PooledMeter for AppMeter {
    fn release(&mut self, pool: &mut BucketPool) {
        self.rrt.release(pool);
    }
}

/// Which part of a request log row a window counts: DeepFlow counts a request in the window
/// of its request and its response (response, RRT, errors, timeouts) in the window of its
/// response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RowPart {
    Whole,
    Request,
    Response,
}

impl AppMeter {
    /// Adds request log row `r` (a first latency sample's buckets from `pool`).
    pub fn add_row(&mut self, r: &L7FlowLog, pool: &mut BucketPool) {
        self.add_part(r, RowPart::Whole, pool);
    }

    /// Adds `part` of request log row `r`.
    pub(crate) fn add_part(&mut self, r: &L7FlowLog, part: RowPart, pool: &mut BucketPool) {
        use crate::record::l7::TYPE_SESSION;
        if part != RowPart::Response {
            self.request += u64::from(r.counts_request());
        }
        if part == RowPart::Request {
            return;
        }
        self.response += u64::from(r.counts_response());
        if r.row_type == TYPE_SESSION && r.response_duration > 0 {
            self.rrt_sum += r.response_duration;
            self.rrt_count += 1;
            self.rrt_max = self.rrt_max.max(r.response_duration);
            self.rrt.record_in(r.response_duration, 1, pool);
        }
        match r.response_status {
            2 => self.timeout += 1,
            3 => self.server_error += 1,
            4 => self.client_error += 1,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A SYN-only flow's row, as the analyzer makes it.
    fn syn_row() -> L4FlowLog {
        crate::engine::sample::syn_row(crate::engine::sample::Syn {
            client: ([10, 0, 0, 1], 40000).into(),
            server: ([10, 0, 0, 2], 80).into(),
            window: 0,
            ts_ns: 1_700_000_000_000_000_000,
            wire_len: None,
        })
    }

    #[test]
    fn rows_with_and_without_anomalies_and_latencies_add_the_same_sums() {
        let quiet = syn_row();
        let mut busy = quiet;
        (busy.retrans_tx, busy.retrans_rx) = (3, 4);
        (busy.zero_win_tx, busy.zero_win_rx, busy.ooo_tx, busy.ooo_rx) = (5, 6, 7, 8);
        (busy.retrans_syn, busy.retrans_synack) = (1, 2);
        (busy.srt_sum, busy.srt_count, busy.srt_max) = (300, 3, 150);
        (busy.cit_sum, busy.cit_count, busy.cit_max) = (40, 1, 40);
        (busy.rtt_server_max, busy.art_max) = (9, 11);
        (busy.l7_client_error, busy.l7_timeout) = (2, 1);
        let mut pool = BucketPool::default();
        for server_end in [false, true] {
            let mut m = FlowMeter::default();
            m.add_row(&quiet, server_end, &mut pool);
            let after_quiet = m.clone();
            assert_eq!(after_quiet.retrans_tx + after_quiet.srt_count, 0);
            assert_eq!(after_quiet.srt.total() + after_quiet.art.total(), 0);
            m.add_row(&busy, server_end, &mut pool);
            m.add_row(&quiet, server_end, &mut pool);
            let (tx, rx) = if server_end { (4, 3) } else { (3, 4) };
            assert_eq!((m.retrans_tx, m.retrans_rx), (tx, rx));
            let (tx, rx) = if server_end { (6, 5) } else { (5, 6) };
            assert_eq!((m.zero_win_tx, m.zero_win_rx), (tx, rx));
            assert_eq!((m.client_ooo, m.server_ooo), (7, 8));
            assert_eq!((m.retrans_syn, m.retrans_synack), (1, 2));
            assert_eq!((m.srt_sum, m.srt_count, m.srt_max), (300, 3, 150));
            assert_eq!(m.srt.total(), 3, "three samples of the flow's mean");
            assert_eq!((m.cit_sum, m.cit_count, m.cit_max), (40, 1, 40));
            assert_eq!((m.rtt_server_max, m.art_max, m.art_count), (9, 11, 0));
            assert_eq!(
                (m.l7_client_error, m.l7_server_error, m.l7_timeout),
                (2, 0, 1)
            );
            assert_eq!(
                m.packet_tx + m.packet_rx,
                3 * (quiet.packet_tx + quiet.packet_rx)
            );
            assert_eq!(m.new_flow, 3 * after_quiet.new_flow);
            assert_eq!(m.closed_flow, 3 * after_quiet.closed_flow);
        }
    }
}
