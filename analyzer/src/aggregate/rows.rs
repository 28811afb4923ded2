//! How flow log and request log rows add to the meters of `crate::metrics`.

use crate::flow::CloseType;
use crate::metrics::doc::{AppMeter, FlowMeter};
use crate::record::{L4FlowLog, L7FlowLog};

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
}
