//! Pairing requests with responses into `l7_flow_log` rows, with RRT and timeouts
//! (`deepflow-facts.md` section 4.4). Protocol sessions call [`Exchange::request`] and
//! [`Exchange::response`] with a closure that fills their fields; everything common (addresses,
//! capture point, times, sequence numbers, counts and errors in the flow's L7 stats) is done here.

use super::config::L7Config;
use super::decompress_zstd::ZstdHeads;
use super::kafka::topic_names::TopicNames;
use super::pending::{PendingEntry, PendingPool, PendingRefs};
use super::protocol::{L7Protocol, ParserKind};
use super::stats::{L7Counters, L7Stats};
use super::worker_state::WorkerState;
use super::ResponseStatus;
use crate::flow::{Endpoint, Flow};
use crate::mirror::{tap_side, CaptureMode};
use crate::record::l7::{TYPE_REQUEST, TYPE_RESPONSE, TYPE_SESSION};
use crate::record::{FlowPeers, L7FlowLog, Record, RecordSink};
use crate::wire;

/// A request row still waiting for its response, to complete it while more of the request
/// streams in ([`Exchange::update_request`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestId(u64);

/// How a response finds its request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pairing {
    /// The oldest pending request (in-order protocols: HTTP/1 pipelining, TLS).
    Oldest,
    /// The pending request with this id (DNS id, HTTP/2 stream id).
    Key(u32),
}

/// One packet's view of a flow's L7 exchange: what a parser may do with it (make request and
/// response rows, count a parse error or one of its own counters, read the time and settings).
pub struct Exchange<'a> {
    pub(super) cfg: &'a L7Config,
    pub(super) flow: &'a Flow,
    /// The flow's endpoints (0: its first sender).
    pub(super) ends: [Endpoint; 2],
    pub(super) mode: CaptureMode,
    pub(super) proto: L7Protocol,
    pub(super) kind: ParserKind,
    /// Flow side (0/1) of the client.
    pub(super) client_side: usize,
    pub(super) slot: u32,
    pub(super) pool: &'a mut PendingPool,
    pub(super) refs: &'a mut PendingRefs,
    pub(super) stats: &'a mut L7Stats,
    pub(super) counters: &'a mut L7Counters,
    pub(super) sink: &'a mut dyn RecordSink,
    /// A row for responses without a pending request.
    pub(super) scratch: &'a mut L7FlowLog,
    /// What the worker's parsers keep across flows.
    pub(super) shared: &'a mut WorkerState,
    pub(super) ts_ns: u64,
    pub(super) tcp_seq: u32,
    pub(super) is_tls: bool,
    /// Messages decoded during this packet.
    pub(super) messages: u32,
    /// The parser found the flow to be another protocol it reads (HTTP/2 -> gRPC).
    pub(super) upgraded: Option<L7Protocol>,
}

impl std::fmt::Debug for Exchange<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exchange")
            .field("flow", &self.flow.id())
            .field("proto", &self.proto)
            .field("ts_ns", &self.ts_ns)
            .field("messages", &self.messages)
            .finish()
    }
}

/// What every row of a flow shares, taken from its exchange before a row is borrowed.
pub(crate) struct RowBase<'f> {
    flow: &'f Flow,
    ends: [Endpoint; 2],
    client_side: usize,
    mode: CaptureMode,
    proto: L7Protocol,
}

impl<'a> Exchange<'a> {
    fn row_base(&self) -> RowBase<'a> {
        RowBase {
            flow: self.flow,
            ends: self.ends,
            client_side: self.client_side,
            mode: self.mode,
            proto: self.proto,
        }
    }
}

/// Fills what every row of a flow shares.
pub(crate) fn fill_base(row: &mut L7FlowLog, base: &RowBase<'_>) {
    let RowBase {
        flow: f,
        ref ends,
        client_side,
        mode,
        proto,
    } = *base;
    let (c, s) = (client_side, client_side ^ 1);
    let side = tap_side(mode, f.sides[c].l2_end, f.sides[s].l2_end);
    row.flow_id = f.id();
    row.capture_network_type = f.key.tap_type;
    row.tap_port = f.key.tap_port();
    row.tap_side = side.0;
    row.observation_point = side.1;
    row.peers = FlowPeers::of(f, ends, c);
    row.l7_protocol = proto.id();
    row.l7_protocol_str = proto.name();
}

/// Reports a request that got no response; false when it is on the blacklist (not written,
/// and not to be counted by the caller).
pub(crate) fn emit_unanswered(
    e: PendingEntry<'_>,
    status: ResponseStatus,
    sink: &mut dyn RecordSink,
    counters: &mut L7Counters,
) -> bool {
    if e.hidden {
        return false;
    }
    e.row.row_type = TYPE_REQUEST;
    e.row.response_status = status.code();
    counters.records += 1;
    sink.record(e.row.as_ref());
    true
}

/// Reports a request that timed out, counted in `stats` and `counters` unless hidden.
pub(crate) fn emit_timeout(
    e: PendingEntry<'_>,
    stats: Option<&mut L7Stats>,
    sink: &mut dyn RecordSink,
    counters: &mut L7Counters,
) {
    if emit_unanswered(e, ResponseStatus::Timeout, sink, counters) {
        counters.timeouts += 1;
        if let Some(s) = stats {
            s.timeout += 1;
        }
    }
}

impl<'a> Exchange<'a> {
    /// The time of the packet being parsed, ns.
    pub fn now_ns(&self) -> u64 {
        self.ts_ns
    }

    /// The TCP sequence number of the packet being parsed (0 for UDP).
    pub fn tcp_seq(&self) -> u32 {
        self.tcp_seq
    }

    /// The L7 settings every protocol shares (trace tags, HTTP endpoint rules, ...).
    pub fn settings(&self) -> &'a L7Config {
        self.cfg
    }

    /// The worker's zstd decoder, for the heads of compressed messages.
    pub fn zstd(&mut self) -> &mut ZstdHeads {
        &mut self.shared.zstd
    }

    /// The Kafka topic names the worker learned from Metadata responses, on any connection.
    pub fn kafka_topics(&mut self) -> &mut TopicNames {
        &mut self.shared.kafka_topics
    }

    /// A message that did not decode (the parser resynchronises).
    pub fn parse_error(&mut self) {
        self.counters.parse_errors += 1;
    }

    /// Bumps counter `i` of the protocol's descriptor (`Descriptor::counters`).
    pub fn count(&mut self, i: usize) {
        if let Some(c) = self.counters.protocol[self.kind as usize].get_mut(i) {
            *c += 1;
        }
    }

    /// The TLS handshake took `us` (ClientHello -> ServerHello): the flow's `tls_rtt`.
    pub fn set_tls_rtt(&mut self, us: u32) {
        self.stats.tls_rtt = us;
    }

    /// The flow is `p`, another protocol this parser reads (HTTP/2 carrying gRPC).
    pub fn upgrade(&mut self, p: L7Protocol) {
        // Triple is carried by HTTP/2 and, in its own unary form, by HTTP/1.1 as well.
        let triple_over_http1 = p == L7Protocol::Triple && self.kind == ParserKind::Http1;
        if p.parser() == Some(self.kind) || triple_over_http1 {
            self.upgraded = Some(p);
        }
    }

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
    pub fn request(
        &mut self,
        key: Option<u32>,
        captured: u32,
        fill: impl FnOnce(&mut L7FlowLog),
    ) -> RequestId {
        self.request_at(self.ts_ns, self.tcp_seq, key, captured, fill)
    }

    /// A request whose first byte came at `ts_ns` with TCP sequence number `tcp_seq` (written
    /// when its end arrived: a request streamed over several segments).
    pub fn request_at(
        &mut self,
        ts_ns: u64,
        tcp_seq: u32,
        key: Option<u32>,
        captured: u32,
        fill: impl FnOnce(&mut L7FlowLog),
    ) -> RequestId {
        self.messages += 1;
        self.counters.requests += 1;
        if let Some(k) = key {
            if let Some(old) = self.refs.take_key(k) {
                if let Some(e) = self.pool.take(old) {
                    emit_timeout(e, Some(&mut *self.stats), self.sink, self.counters);
                }
            }
        }
        if self.pool.is_full() {
            if let Some(e) = self.pool.pop_oldest() {
                self.counters.pending_evicted += 1;
                emit_unanswered(e, ResponseStatus::Unknown, self.sink, self.counters);
            }
        }
        let deadline = ts_ns.saturating_add(self.cfg.session_window_ns(self.kind.desc().window));
        let base = self.row_base();
        let (seq, row) = self.pool.push(self.slot, self.flow.id(), deadline);
        fill_base(row, &base);
        row.start_time = ts_ns / 1_000;
        row.end_time = row.start_time;
        row.req_tcp_seq = tcp_seq;
        row.captured_request_byte = captured;
        row.is_tls = self.is_tls;
        fill(row);
        if self.cfg.blacklist.hides(row) {
            self.pool.hide(seq);
            self.counters.blacklisted += 1;
        } else {
            self.stats.request += 1;
        }
        if let Some(old) = self.refs.push(seq, key.unwrap_or(0)) {
            if let Some(e) = self.pool.take(old) {
                self.counters.pending_evicted += 1;
                emit_unanswered(e, ResponseStatus::Unknown, self.sink, self.counters);
            }
        }
        RequestId(seq)
    }

    /// A request that gets no response by design (memcached `noreply`, MQTT QoS 0 publishes):
    /// written at once as a request row (`type` 0) with status ok; not a timeout.
    pub fn one_way(&mut self, captured: u32, fill: impl FnOnce(&mut L7FlowLog)) {
        let at = (self.ts_ns, self.tcp_seq);
        self.alone(at, TYPE_REQUEST, true, captured, fill);
    }

    /// A message that is neither a request nor a response (DeepFlow's "session" messages: ZMTP
    /// greetings, commands and messages outside REQ/REP), whose first byte came at (`ts_ns`,
    /// `tcp_seq`): written at once as a row of `type` 2 with its fields on the sender's side
    /// (`captured`, the request or response length) and counted as a request or a response by
    /// who sent it; ok unless `fill` says otherwise.
    pub fn lone(
        &mut self,
        at: (u64, u32),
        from_client: bool,
        captured: u32,
        fill: impl FnOnce(&mut L7FlowLog),
    ) {
        self.alone(at, TYPE_SESSION, from_client, captured, fill);
    }

    /// A row of one message, written at once (`one_way`, `lone`).
    fn alone(
        &mut self,
        (ts_ns, tcp_seq): (u64, u32),
        row_type: u8,
        from_client: bool,
        captured: u32,
        fill: impl FnOnce(&mut L7FlowLog),
    ) {
        self.messages += 1;
        let base = self.row_base();
        let row = &mut *self.scratch;
        row.reset();
        fill_base(row, &base);
        row.row_type = row_type;
        if row_type == TYPE_SESSION {
            row.lone_from_client = Some(from_client);
        }
        row.start_time = ts_ns / 1_000;
        row.end_time = row.start_time;
        if from_client {
            row.req_tcp_seq = tcp_seq;
            row.captured_request_byte = captured;
        } else {
            row.resp_tcp_seq = tcp_seq;
            row.captured_response_byte = captured;
        }
        row.is_tls = self.is_tls;
        row.response_status = ResponseStatus::Ok.code();
        fill(row);
        if from_client {
            self.counters.requests += 1;
        } else {
            self.counters.responses += 1;
        }
        if self.cfg.blacklist.hides(row) {
            self.counters.blacklisted += 1;
            return;
        }
        if from_client {
            self.stats.request += 1;
        } else {
            self.stats.response += 1;
        }
        count_errors(self.stats, row.response_status);
        self.counters.records += 1;
        self.sink.record(row.as_ref());
    }

    /// Adds to request `id` while it still waits for its response (the rest of a request that
    /// streams over several segments); false when it already left (answered, timed out, pushed
    /// out).
    pub fn update_request(&mut self, id: RequestId, fill: impl FnOnce(&mut L7FlowLog)) -> bool {
        match self.pool.get_mut(id.0) {
            Some((flow_id, row)) if flow_id == self.flow.id() => {
                fill(row);
                true
            }
            _ => false,
        }
    }

    /// A response of `captured` bytes. `fill` sets the response fields (code, status, ...).
    pub fn response(&mut self, pairing: Pairing, captured: u32, fill: impl FnOnce(&mut L7FlowLog)) {
        self.response_at(self.ts_ns, self.tcp_seq, pairing, captured, fill);
    }

    /// A response whose head came at `ts_ns` with TCP sequence number `tcp_seq` (written later,
    /// when its end arrived: gRPC trailers).
    pub fn response_at(
        &mut self,
        ts_ns: u64,
        tcp_seq: u32,
        pairing: Pairing,
        captured: u32,
        fill: impl FnOnce(&mut L7FlowLog),
    ) {
        self.messages += 1;
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
            // On the blacklist: its response is neither written nor counted either.
            Some(e) if e.hidden => return,
            Some(e) => {
                let row = e.row;
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
                let base = self.row_base();
                let row = &mut *self.scratch;
                row.reset();
                fill_base(row, &base);
                row.row_type = TYPE_RESPONSE;
                row.start_time = now_us;
                row.end_time = now_us;
                row.resp_tcp_seq = tcp_seq;
                row.captured_response_byte = captured;
                row.is_tls = self.is_tls;
                fill(row);
                if self.cfg.blacklist.hides(row) {
                    self.counters.blacklisted += 1;
                    return;
                }
                row
            }
        };
        self.stats.response += 1;
        count_errors(self.stats, row.response_status);
        self.counters.records += 1;
        self.sink.record(row.as_ref());
    }
}

/// A row's client or server error in the flow's L7 stats.
fn count_errors(stats: &mut L7Stats, response_status: u8) {
    if response_status == ResponseStatus::ServerError.code() {
        stats.server_error += 1;
    } else if response_status == ResponseStatus::ClientError.code() {
        stats.client_error += 1;
    }
}
