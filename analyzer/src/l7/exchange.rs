//! Pairing requests with responses into `l7_flow_log` rows, with RRT and timeouts
//! (`deepflow-facts.md` section 4.4). Protocol sessions call [`Exchange::request`] and
//! [`Exchange::response`] with a closure that fills their fields; everything common (addresses,
//! capture point, times, sequence numbers, counts and errors in the flow's L7 stats) is done here.

use super::config::L7Config;
use super::pending::{PendingEntry, PendingPool, PendingRefs};
use super::protocol::L7Protocol;
use super::stats::{L7Counters, L7Stats};
use super::ResponseStatus;
use crate::engine::RecordSink;
use crate::flow::Flow;
use crate::mirror::CaptureMode;
use crate::record::l7::{TYPE_REQUEST, TYPE_RESPONSE, TYPE_SESSION};
use crate::record::{ip_from_bytes, L7FlowLog, MacAddr};
use crate::wire;

/// How a response finds its request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pairing {
    /// The oldest pending request (in-order protocols: HTTP/1 pipelining, TLS).
    Oldest,
    /// The pending request with this id (DNS id, HTTP/2 stream id).
    Key(u32),
}

/// One packet's view of a flow's L7 exchange.
pub(crate) struct Exchange<'a, S> {
    pub cfg: &'a L7Config,
    pub flow: &'a Flow,
    pub mode: CaptureMode,
    pub proto: L7Protocol,
    /// Flow side (0/1) of the client.
    pub client_side: usize,
    pub slot: u32,
    pub pool: &'a mut PendingPool,
    pub refs: &'a mut PendingRefs,
    pub stats: &'a mut L7Stats,
    pub counters: &'a mut L7Counters,
    pub sink: &'a mut S,
    /// A row for responses without a pending request.
    pub scratch: &'a mut L7FlowLog,
    pub ts_ns: u64,
    pub tcp_seq: u32,
    pub is_tls: bool,
    /// Messages decoded during this packet.
    pub messages: u32,
}

/// Fills what every row of a flow shares.
pub(crate) fn fill_base(
    row: &mut L7FlowLog,
    f: &Flow,
    client_side: usize,
    mode: CaptureMode,
    proto: L7Protocol,
) {
    let (c, s) = (client_side, client_side ^ 1);
    let side = crate::engine::report::tap_side(mode, f.l2_end[c], f.l2_end[s]);
    row.flow_id = f.id;
    row.capture_network_type = f.key.tap_type;
    row.tap_port = f.key.tap_port;
    row.tap_side = side.0;
    row.observation_point = side.1;
    row.mac_0 = MacAddr(f.mac[c]);
    row.mac_1 = MacAddr(f.mac[s]);
    row.ip_0 = ip_from_bytes(&f.ep[c].ip, f.key.is_v6);
    row.ip_1 = ip_from_bytes(&f.ep[s].ip, f.key.is_v6);
    row.is_ipv4 = !f.key.is_v6;
    row.protocol = f.key.proto;
    row.client_port = f.ep[c].port;
    row.server_port = f.ep[s].port;
    row.l7_protocol = proto.id();
    row.l7_protocol_str = proto.name();
}

/// Reports a request that got no response.
pub(crate) fn emit_unanswered<S: RecordSink>(
    e: &mut PendingEntry,
    status: ResponseStatus,
    sink: &mut S,
    counters: &mut L7Counters,
) {
    e.row.row_type = TYPE_REQUEST;
    e.row.response_status = status.code();
    counters.records += 1;
    sink.l7_flow_log(&e.row);
}

impl<S: RecordSink> Exchange<'_, S> {
    fn request_timeout_ns(&self) -> u64 {
        if self.flow.key.proto == wire::IPPROTO_UDP {
            self.cfg.udp_request_timeout_ns
        } else {
            self.cfg.tcp_request_timeout_ns
        }
    }

    /// A request of `captured` bytes; `key` pairs it ([`Pairing::Key`]; 0 for in-order
    /// protocols). A pending request with the same key is reported unanswered (the client
    /// asked again).
    pub(crate) fn request(
        &mut self,
        key: Option<u32>,
        captured: u32,
        fill: impl FnOnce(&mut L7FlowLog),
    ) {
        self.messages += 1;
        self.stats.request += 1;
        self.counters.requests += 1;
        if let Some(k) = key {
            if let Some(old) = self.refs.take_key(k) {
                if let Some(e) = self.pool.take(old) {
                    self.stats.timeout += 1;
                    self.counters.timeouts += 1;
                    emit_unanswered(e, ResponseStatus::Timeout, self.sink, self.counters);
                }
            }
        }
        if self.pool.is_full() {
            if let Some(e) = self.pool.pop_oldest() {
                self.counters.pending_evicted += 1;
                emit_unanswered(e, ResponseStatus::Unknown, self.sink, self.counters);
            }
        }
        let deadline = self.ts_ns + self.cfg.session_window_ns(self.proto);
        let (seq, row) = self.pool.push(self.slot, self.flow.id, deadline);
        fill_base(row, self.flow, self.client_side, self.mode, self.proto);
        row.start_time = self.ts_ns / 1_000;
        row.end_time = row.start_time;
        row.req_tcp_seq = self.tcp_seq;
        row.captured_request_byte = captured;
        row.is_tls = self.is_tls;
        fill(row);
        if let Some(old) = self.refs.push(seq, key.unwrap_or(0)) {
            if let Some(e) = self.pool.take(old) {
                self.counters.pending_evicted += 1;
                emit_unanswered(e, ResponseStatus::Unknown, self.sink, self.counters);
            }
        }
    }

    /// A response of `captured` bytes. `fill` sets the response fields (code, status, ...).
    pub(crate) fn response(
        &mut self,
        pairing: Pairing,
        captured: u32,
        fill: impl FnOnce(&mut L7FlowLog),
    ) {
        self.response_at(self.ts_ns, self.tcp_seq, pairing, captured, fill);
    }

    /// A response whose head came at `ts_ns` with TCP sequence number `tcp_seq` (written later,
    /// when its end arrived: gRPC trailers).
    pub(crate) fn response_at(
        &mut self,
        ts_ns: u64,
        tcp_seq: u32,
        pairing: Pairing,
        captured: u32,
        fill: impl FnOnce(&mut L7FlowLog),
    ) {
        self.messages += 1;
        self.stats.response += 1;
        self.counters.responses += 1;
        let seq = match pairing {
            Pairing::Key(k) => self.refs.take_key(k),
            Pairing::Oldest => loop {
                match self.refs.take_oldest() {
                    Some(s) if self.pool.is_waiting(s) => break Some(s),
                    Some(_) => continue,
                    None => break None,
                }
            },
        };
        let timeout_ns = self.request_timeout_ns();
        let now_us = ts_ns / 1_000;
        let row = match seq.and_then(|s| self.pool.take(s)) {
            Some(e) => {
                let row = &mut e.row;
                row.row_type = TYPE_SESSION;
                let rrt_us = now_us.saturating_sub(row.start_time);
                row.end_time = now_us;
                row.resp_tcp_seq = tcp_seq;
                row.captured_response_byte = captured;
                fill(row);
                if rrt_us.saturating_mul(1_000) > timeout_ns {
                    self.stats.timeout += 1;
                    self.counters.timeouts += 1;
                    row.response_status = ResponseStatus::Timeout.code();
                } else {
                    row.response_duration = rrt_us;
                    self.stats.add_rrt(rrt_us);
                }
                row
            }
            None => {
                self.counters.unmatched_responses += 1;
                let row = &mut *self.scratch;
                *row = L7FlowLog::default();
                fill_base(row, self.flow, self.client_side, self.mode, self.proto);
                row.row_type = TYPE_RESPONSE;
                row.start_time = now_us;
                row.end_time = now_us;
                row.resp_tcp_seq = tcp_seq;
                row.captured_response_byte = captured;
                row.is_tls = self.is_tls;
                fill(row);
                row
            }
        };
        if row.response_status == ResponseStatus::ServerError.code() {
            self.stats.server_error += 1;
        } else if row.response_status == ResponseStatus::ClientError.code() {
            self.stats.client_error += 1;
        }
        self.counters.records += 1;
        self.sink.l7_flow_log(row);
    }
}
