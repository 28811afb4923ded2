//! The agent side: a [`Sink`] that sends records to a DeepFlow ingester (DeepFlow's server or
//! `tapflow server --ingest-listen`) the way DeepFlow's agent does: one frame builder per message
//! type, a frame when a builder passes 256 KiB or a second has passed, one TCP connection shared
//! by every type (or, with `outputs.socket.multiple_sockets_to_ingester`, one per type: l4 rows,
//! l7 rows, metrics, the agent's own counters), reconnection with backoff, and a bounded queue of
//! frames between the sink and the connection thread. When the queue is full a frame waits up to
//! 2 s (`WAIT`, DeepFlow's default overflow action) or is dropped at once (`DROP`); every record
//! lost is counted, so a server that is down for hours costs counted records and no memory
//! growth. The agent's own counters go the same way as DeepFlow's DeepflowStats frames
//! ([`SenderHandle::send_stats`]): one report waits at a time, the newest (a report not sent
//! before the next is counted lost).

use std::io::Write;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tapflow_analyzer::{RecordKind, RecordRef};

use super::forward_queue::{ForwardQueue, Refused};
use super::frame::{FrameBuilder, MessageType, Origin};
use super::pace::Pace;
use super::{self_stats, to_pb};
use crate::sink::offload::{Inbox, Next, Offload, OffloadState};
use crate::sink::{Sink, SinkError, SinkStats};

/// What to do with a frame when the queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overflow {
    /// Wait up to 2 s for room, then drop (DeepFlow's `WAIT`).
    #[default]
    Wait,
    /// Drop at once (`DROP`).
    Drop,
}

/// Sender settings.
#[derive(Debug, Clone)]
pub struct SenderConfig {
    /// The ingester, `HOST:PORT` (DeepFlow's `ingester_ip:ingester_port`, default port 30033);
    /// None: nothing is sent until [`SenderHandle::set_addr`] gives one.
    pub addr: Option<String>,
    /// Compress l7 rows (DeepFlow's `outputs.compression.l7_flow_log`, true).
    pub compress_l7: bool,
    /// Compress l4 rows (`outputs.compression.l4_flow_log`, false).
    pub compress_l4: bool,
    /// Compress forwarded application logs (`outputs.compression.application_log`, true).
    pub compress_app_log: bool,
    /// A frame is cut when its body passes this many bytes.
    pub flush_bytes: usize,
    /// ... or when this much analyzer time has passed since the last cut (ns).
    pub flush_interval_ns: u64,
    /// Frames queued for the connection at most.
    pub queue_frames: usize,
    pub overflow: Overflow,
    /// First reconnect delay; doubled after each failure up to `reconnect_max`.
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
    /// How long the end of a run waits for queued frames to go out.
    pub drain_timeout: Duration,
    /// Team and organisation ids in every header; the agent id is [`SenderHandle::set_agent_id`]'s.
    pub team_id: u32,
    pub org_id: u16,
    /// At most this many bytes a second to the ingester (DeepFlow's
    /// `max_throughput_to_ingester`); None: as fast as the connection takes them.
    pub max_bytes_per_s: Option<u64>,
    /// A connection per message type (DeepFlow's `multiple_sockets_to_ingester`).
    pub socket_per_type: bool,
}

impl SenderConfig {
    /// What the sender may hold at most: the queued frames and the three being built.
    pub fn memory_bytes(&self) -> u64 {
        ((self.queue_frames + 3) * (self.flush_bytes + (64 << 10))) as u64
    }

    pub fn new(addr: impl Into<String>) -> Self {
        SenderConfig {
            addr: Some(addr.into()),
            compress_l7: true,
            compress_l4: false,
            compress_app_log: true,
            flush_bytes: 256 << 10,
            flush_interval_ns: 1_000_000_000,
            queue_frames: 64,
            overflow: Overflow::Wait,
            reconnect_min: Duration::from_secs(1),
            reconnect_max: Duration::from_secs(15),
            drain_timeout: Duration::from_secs(10),
            team_id: 0,
            org_id: 0,
            max_bytes_per_s: None,
            socket_per_type: false,
        }
    }
}

/// Counters shared by the sink and its connection thread.
#[derive(Debug, Default)]
pub struct SenderCounters {
    /// Records written to the connection, per kind ([`RecordKind::ALL`] order).
    pub sent: [AtomicU64; 16],
    /// The frame queue: records queued, and lost (queue full, frame too large, connection gone
    /// at the end).
    pub queue: Arc<OffloadState>,
    pub frames_sent: AtomicU64,
    pub bytes_sent: AtomicU64,
    /// Frames that waited for `max_throughput_to_ingester`, and how long in all (ms).
    pub frames_paced: AtomicU64,
    pub paced_ms: AtomicU64,
    /// `max_throughput_to_ingester` in force, bytes a second (0: no limit).
    max_bytes_per_s: AtomicU64,
    /// `multiple_sockets_to_ingester` in force.
    socket_per_type: AtomicBool,
    /// Connections made (the first one included).
    pub connects: AtomicU64,
    /// Connect or write failures.
    pub failures: AtomicU64,
    /// The last failure's reason (for the operator: written on failures only).
    last_error: std::sync::Mutex<String>,
    connected: AtomicBool,
    /// Where to send (None: the sink takes nothing), and how often it changed.
    addr: std::sync::Mutex<Option<String>>,
    addr_version: AtomicU64,
    enabled: AtomicBool,
    agent_id: AtomicU16,
    /// Team and organisation ids of every header (the sink's configuration).
    team_id: u32,
    org_id: u16,
    /// Forwarded application logs go in zstd frames.
    compress_app_log: bool,
    /// The latest self-monitoring report, waiting for the connection thread.
    stats_frame: std::sync::Mutex<Option<Vec<u8>>>,
    /// Seconds between reports (`global.self_monitoring.interval`; 0 before it is set: 10).
    stats_interval_s: AtomicU64,
    /// Reports written, and reports lost (replaced before they went, or not written).
    pub stats_sent: AtomicU64,
    pub stats_dropped: AtomicU64,
    /// Data forwarded as received (the integration collector's).
    pub forward: ForwardQueue,
}

impl SenderCounters {
    /// Records written, every kind.
    pub fn records_sent(&self) -> u64 {
        self.sent.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    /// Why the last connect or write failed ("" when none did).
    pub fn last_error(&self) -> String {
        self.last_error
            .lock()
            .map(|e| e.clone())
            .unwrap_or_default()
    }

    /// `(name, value)` pairs for stats.json (`ingester.*`).
    pub fn entries(&self) -> Vec<(&'static str, u64)> {
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        vec![
            ("ingester.records_sent", self.records_sent()),
            ("ingester.records_dropped", self.queue.records_dropped()),
            ("ingester.frames_sent", r(&self.frames_sent)),
            ("ingester.frames_dropped", self.queue.items_dropped()),
            ("ingester.bytes_sent", r(&self.bytes_sent)),
            ("ingester.frames_paced", r(&self.frames_paced)),
            ("ingester.paced_ms", r(&self.paced_ms)),
            ("ingester.connects", r(&self.connects)),
            ("ingester.failures", r(&self.failures)),
            ("ingester.records_queued", self.queue.records_queued()),
            ("ingester.stats_sent", r(&self.stats_sent)),
            ("ingester.stats_dropped", r(&self.stats_dropped)),
        ]
        .into_iter()
        .chain(self.forward.entries())
        .collect()
    }
}

/// A handle to set the agent id once the controller hands it out.
#[derive(Debug, Clone)]
pub struct SenderHandle(Arc<SenderCounters>);

impl SenderHandle {
    /// A new `max_throughput_to_ingester` (bytes a second; None: no limit), from the next frame.
    pub fn set_max_bytes_per_s(&self, rate: Option<u64>) {
        self.0
            .max_bytes_per_s
            .store(rate.unwrap_or(0), Ordering::Relaxed);
    }

    /// `multiple_sockets_to_ingester`: a connection per message type (true) or one for all;
    /// a change takes effect at the next frame (the connections are made again).
    pub fn set_socket_per_type(&self, on: bool) {
        self.0.socket_per_type.store(on, Ordering::Relaxed);
    }

    pub fn set_agent_id(&self, id: u16) {
        self.0.agent_id.store(id, Ordering::Relaxed);
    }

    /// The agent id frames are sent with.
    pub fn agent_id(&self) -> u16 {
        self.0.agent_id.load(Ordering::Relaxed)
    }

    /// A new ingester address (a configuration from the controller or a reloaded file): the
    /// connection moves there; None stops sending (records are then not taken).
    pub fn set_addr(&self, addr: Option<String>) {
        let Ok(mut a) = self.0.addr.lock() else {
            return;
        };
        if *a != addr {
            self.0.enabled.store(addr.is_some(), Ordering::Relaxed);
            *a = addr;
            self.0.addr_version.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The address in force.
    pub fn addr(&self) -> Option<String> {
        self.0.addr.lock().ok().and_then(|a| a.clone())
    }

    pub fn counters(&self) -> &SenderCounters {
        &self.0
    }

    /// Seconds between two self-monitoring reports (`global.self_monitoring.interval`).
    pub fn stats_interval_s(&self) -> u64 {
        match self.0.stats_interval_s.load(Ordering::Relaxed) {
            0 => 10,
            s => s,
        }
    }

    /// A new `global.self_monitoring.interval`, from the next report.
    pub fn set_stats_interval_s(&self, s: u64) {
        self.0.stats_interval_s.store(s.max(1), Ordering::Relaxed);
    }

    /// Queues `messages` of type `t`, already encoded, for the ingester as they are (the
    /// integration collector's data; application logs in zstd frames unless
    /// `compression.application_log` is off); refused when no ingester is set, a message is
    /// larger than a frame or the queue is full.
    pub fn forward(&self, t: MessageType, messages: &[Vec<u8>]) -> Result<(), Refused> {
        let s = &self.0;
        if !s.enabled.load(Ordering::Relaxed) {
            return Err(Refused::NoIngester);
        }
        let origin = Origin {
            team_id: s.team_id,
            org_id: s.org_id,
            agent_id: s.agent_id.load(Ordering::Relaxed),
        };
        let compress = t == MessageType::ApplicationLog && s.compress_app_log;
        s.forward.push(t, origin, messages, compress)
    }

    /// Queues a self-monitoring report: `counters` (name, value) at `ts_s` (Unix seconds) from
    /// `host`, as DeepflowStats messages (one per module, [`self_stats::messages`]). It replaces
    /// a report still waiting (counted lost); nothing is queued while no ingester is set.
    pub fn send_stats(&self, ts_s: u64, host: &str, counters: &[(String, f64)]) {
        let s = &self.0;
        if !s.enabled.load(Ordering::Relaxed) {
            return;
        }
        let mut b = FrameBuilder::new(MessageType::DeepflowStats, 16 << 10);
        for m in self_stats::messages(ts_s, host, counters) {
            b.push(&m);
        }
        let origin = Origin {
            team_id: s.team_id,
            org_id: s.org_id,
            agent_id: s.agent_id.load(Ordering::Relaxed),
        };
        let Some(frame) = b.take_frame(origin, false) else {
            s.stats_dropped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let Ok(mut slot) = s.stats_frame.lock() else {
            return;
        };
        if slot.replace(frame).is_some() {
            s.stats_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// One frame on its way, with the records it holds per kind.
struct Frame {
    bytes: Vec<u8>,
    records: [u32; 16],
    /// Its connection when each type has its own ([`Lane`]).
    lane: Lane,
}

/// The connections of `multiple_sockets_to_ingester`: one per record message type
/// ([`MessageType::RECORDS`] order), one for the agent's own counters and one for forwarded
/// data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Lane(usize);

impl Lane {
    const STATS: Lane = Lane(MessageType::RECORDS.len());
    const FORWARD: Lane = Lane(MessageType::RECORDS.len() + 1);
    const COUNT: usize = MessageType::RECORDS.len() + 2;
}

fn kind_index(k: RecordKind) -> usize {
    RecordKind::ALL.iter().position(|x| *x == k).unwrap_or(0)
}

/// The records of one message type being collected.
struct Pending {
    builder: FrameBuilder,
    records: [u32; 16],
    compress: bool,
}

/// The sink.
pub struct IngesterSink {
    cfg: SenderConfig,
    pending: [Pending; 3],
    last_cut_ns: Option<u64>,
    shared: Arc<SenderCounters>,
    /// Frames to the connection thread.
    queue: Offload<Frame>,
}

impl std::fmt::Debug for IngesterSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngesterSink")
            .field("addr", &self.shared.addr)
            .finish()
    }
}

impl IngesterSink {
    /// Starts the connection thread (it connects in the background: an unreachable ingester is
    /// not an error here, it is retried and its losses counted).
    pub fn start(cfg: SenderConfig) -> std::io::Result<Self> {
        let shared = Arc::new(SenderCounters {
            team_id: cfg.team_id,
            org_id: cfg.org_id,
            compress_app_log: cfg.compress_app_log,
            ..SenderCounters::default()
        });
        shared.enabled.store(cfg.addr.is_some(), Ordering::Relaxed);
        shared
            .max_bytes_per_s
            .store(cfg.max_bytes_per_s.unwrap_or(0), Ordering::Relaxed);
        shared
            .socket_per_type
            .store(cfg.socket_per_type, Ordering::Relaxed);
        if let Ok(mut a) = shared.addr.lock() {
            a.clone_from(&cfg.addr);
        }
        let conn = Connection {
            addr_version: 0,
            resolved: None,
            streams: Default::default(),
            per_type: cfg.socket_per_type,
            backoff: cfg.reconnect_min,
            min: cfg.reconnect_min,
            max: cfg.reconnect_max,
            next_try: Instant::now(),
            shared: Arc::clone(&shared),
            pace: None,
        };
        let queue = Offload::start(
            "tapflow-ingester",
            cfg.queue_frames,
            cfg.drain_timeout,
            Arc::clone(&shared.queue),
            move |inbox| conn.run(inbox),
        )?;
        let pending = MessageType::RECORDS.map(|t| Pending {
            builder: FrameBuilder::new(t, cfg.flush_bytes + 4096),
            records: [0; 16],
            compress: match t {
                MessageType::ProtocolLog => cfg.compress_l7,
                MessageType::TaggedFlow => cfg.compress_l4,
                _ => false,
            },
        });
        Ok(IngesterSink {
            cfg,
            pending,
            last_cut_ns: None,
            shared,
            queue,
        })
    }

    pub fn handle(&self) -> SenderHandle {
        SenderHandle(Arc::clone(&self.shared))
    }

    fn origin(&self) -> Origin {
        Origin {
            team_id: self.cfg.team_id,
            org_id: self.cfg.org_id,
            agent_id: self.shared.agent_id.load(Ordering::Relaxed),
        }
    }

    fn slot(t: MessageType) -> usize {
        MessageType::RECORDS
            .iter()
            .position(|x| *x == t)
            .unwrap_or(0)
    }

    /// Cuts the frame of type slot `i` and queues it (waiting up to 2 s for room with `WAIT`).
    fn cut(&mut self, i: usize) {
        let origin = self.origin();
        let p = &mut self.pending[i];
        if p.builder.is_empty() {
            return;
        }
        let records = std::mem::take(&mut p.records);
        let n: u64 = records.iter().map(|r| u64::from(*r)).sum();
        let Some(bytes) = p.builder.take_frame(origin, p.compress) else {
            self.shared.queue.count_dropped(n);
            return;
        };
        let wait = self.cfg.overflow == Overflow::Wait;
        let frame = Frame {
            bytes,
            records,
            lane: Lane(i),
        };
        self.queue.push(frame, n, Duration::from_secs(2), || wait);
    }

    fn cut_all(&mut self) {
        for i in 0..self.pending.len() {
            self.cut(i);
        }
    }
}

impl Sink for IngesterSink {
    fn name(&self) -> &'static str {
        "ingester"
    }

    fn write(&mut self, rec: RecordRef<'_>) {
        if !self.shared.enabled.load(Ordering::Relaxed) {
            return;
        }
        let agent = self.shared.agent_id.load(Ordering::Relaxed);
        let (t, kind) = (message_type(rec.kind()), rec.kind());
        let i = Self::slot(t);
        let b = &mut self.pending[i].builder;
        match rec {
            RecordRef::L4FlowLog(r) => b.push(&to_pb::tagged_flow(r, agent)),
            RecordRef::L7FlowLog(r) => b.push(&to_pb::app_proto_log(r, agent)),
            RecordRef::NetworkDoc(d) => b.push(&to_pb::flow_document(&d.0, false, agent)),
            RecordRef::NetworkMapDoc(d) => b.push(&to_pb::flow_document(&d.0, false, agent)),
            RecordRef::NetworkDoc1s(d) => b.push(&to_pb::flow_document(&d.0, true, agent)),
            RecordRef::NetworkMapDoc1s(d) => b.push(&to_pb::flow_document(&d.0, true, agent)),
            RecordRef::ApplicationDoc(d) => b.push(&to_pb::app_document(&d.0, false, agent)),
            RecordRef::ApplicationMapDoc(d) => b.push(&to_pb::app_document(&d.0, false, agent)),
            RecordRef::ApplicationDoc1s(d) => b.push(&to_pb::app_document(&d.0, true, agent)),
            RecordRef::ApplicationMapDoc1s(d) => b.push(&to_pb::app_document(&d.0, true, agent)),
        }
        self.pending[i].records[kind_index(kind)] += 1;
        if self.pending[i].builder.len() >= self.cfg.flush_bytes {
            self.cut(i);
        }
    }

    fn tick(&mut self, now_ns: u64) {
        let last = *self.last_cut_ns.get_or_insert(now_ns);
        if now_ns.saturating_sub(last) >= self.cfg.flush_interval_ns {
            self.last_cut_ns = Some(now_ns);
            self.cut_all();
        }
    }

    /// Cuts every pending frame and waits (up to `drain_timeout`) for the queue to go out.
    /// Records that could not be sent are counted (`ingester.records_dropped`), not an error:
    /// an unreachable ingester must not stop the files or the other sinks.
    fn flush(&mut self) -> Result<(), SinkError> {
        self.cut_all();
        self.queue.drain();
        Ok(())
    }

    fn stats(&self) -> SinkStats {
        let mut s = SinkStats::default();
        for (w, c) in s.written.iter_mut().zip(&self.shared.sent) {
            *w = c.load(Ordering::Relaxed);
        }
        s.bytes = self.shared.bytes_sent.load(Ordering::Relaxed);
        s.write_errors = self.shared.queue.records_dropped();
        s
    }
}

impl Drop for IngesterSink {
    fn drop(&mut self) {
        // The last frames join the queue; the queue's end gives them one drain time.
        self.cut_all();
    }
}

/// The message type a record kind travels as.
pub fn message_type(k: RecordKind) -> MessageType {
    match k {
        RecordKind::L4FlowLog => MessageType::TaggedFlow,
        RecordKind::L7FlowLog => MessageType::ProtocolLog,
        _ => MessageType::Metrics,
    }
}

/// The connection thread's state.
struct Connection {
    /// The address version the connection (and `resolved`) are for.
    addr_version: u64,
    resolved: Option<SocketAddr>,
    /// The shared connection (lane 0), or one per [`Lane`] when `per_type`.
    streams: [Option<TcpStream>; Lane::COUNT],
    /// `multiple_sockets_to_ingester` the connections were made for.
    per_type: bool,
    backoff: Duration,
    min: Duration,
    max: Duration,
    next_try: Instant,
    shared: Arc<SenderCounters>,
    /// `max_throughput_to_ingester` and its rate (a new one from the handle starts a new
    /// bucket).
    pace: Option<(u64, Pace)>,
}

impl Connection {
    /// Waits until `max_throughput_to_ingester` lets the next frame go (in steps, so that the
    /// end of a run that gives up is noticed); false when the run gave up meanwhile.
    fn keep_pace(&mut self, state: &OffloadState) -> bool {
        let rate = self.shared.max_bytes_per_s.load(Ordering::Relaxed);
        if rate == 0 {
            self.pace = None;
            return true;
        }
        if self.pace.as_ref().is_none_or(|(r, _)| *r != rate) {
            self.pace = Some((rate, Pace::new(rate, Instant::now())));
        }
        let Some((_, p)) = &mut self.pace else {
            return true;
        };
        let wait = p.wait(Instant::now());
        if wait.is_zero() {
            return true;
        }
        let s = &self.shared;
        s.frames_paced.fetch_add(1, Ordering::Relaxed);
        s.paced_ms
            .fetch_add(wait.as_millis() as u64, Ordering::Relaxed);
        let until = Instant::now() + wait;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return true;
            }
            if state.giving_up() {
                return false;
            }
            std::thread::sleep(left.min(Duration::from_millis(100)));
        }
    }

    /// Writes the waiting self-monitoring report, if any (a report that cannot be written now
    /// is lost: the next one comes within the interval).
    fn send_stats(&mut self) {
        let Some(bytes) = self
            .shared
            .stats_frame
            .lock()
            .ok()
            .and_then(|mut s| s.take())
        else {
            return;
        };
        let len = bytes.len() as u64;
        let frame = Frame {
            bytes,
            records: [0; 16],
            lane: Lane::STATS,
        };
        let s = Arc::clone(&self.shared);
        if self.send(&frame).is_ok() {
            s.stats_sent.fetch_add(1, Ordering::Relaxed);
            s.frames_sent.fetch_add(1, Ordering::Relaxed);
            s.bytes_sent.fetch_add(len, Ordering::Relaxed);
        } else {
            s.stats_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Writes the forwarded frames waiting, oldest first, within `max_throughput_to_ingester`,
    /// until one cannot be written (it waits for the next connection).
    fn send_forwarded(&mut self, state: &OffloadState) {
        while let Some(bytes) = self.shared.forward.pop() {
            let frame = Frame {
                bytes,
                records: [0; 16],
                lane: Lane::FORWARD,
            };
            if !self.keep_pace(state) || self.send(&frame).is_err() {
                self.shared.forward.put_back(frame.bytes);
                return;
            }
            if let Some((_, p)) = &mut self.pace {
                p.spend(Instant::now(), frame.bytes.len());
            }
            let s = &self.shared;
            s.forward.frames_sent.fetch_add(1, Ordering::Relaxed);
            s.frames_sent.fetch_add(1, Ordering::Relaxed);
            s.bytes_sent
                .fetch_add(frame.bytes.len() as u64, Ordering::Relaxed);
        }
    }

    fn run(mut self, inbox: Inbox<Frame>) {
        let mut held: Option<(Frame, u64)> = None;
        loop {
            self.send_stats();
            self.send_forwarded(&inbox.state);
            let (frame, n) = match held.take() {
                Some(f) => f,
                None => match inbox.next() {
                    Next::Item(f, n) => (f, n),
                    Next::Idle => continue,
                    Next::Closed => {
                        // The last report goes with the last records.
                        self.send_stats();
                        self.send_forwarded(&inbox.state);
                        self.shared.forward.give_up();
                        return;
                    }
                },
            };
            if inbox.state.giving_up() || !self.keep_pace(&inbox.state) {
                inbox.state.done(n, false);
                continue;
            }
            match self.send(&frame) {
                Ok(()) => {
                    if let Some((_, p)) = &mut self.pace {
                        p.spend(Instant::now(), frame.bytes.len());
                    }
                    let s = &self.shared;
                    for (c, k) in s.sent.iter().zip(frame.records) {
                        c.fetch_add(u64::from(k), Ordering::Relaxed);
                    }
                    s.frames_sent.fetch_add(1, Ordering::Relaxed);
                    s.bytes_sent
                        .fetch_add(frame.bytes.len() as u64, Ordering::Relaxed);
                    inbox.state.done(n, true);
                }
                Err(()) => {
                    // Keep the frame for the next connection; wait for the backoff (in small
                    // steps, so the end of a run is noticed).
                    held = Some((frame, n));
                    let wait = self.next_try.saturating_duration_since(Instant::now());
                    std::thread::sleep(wait.min(Duration::from_millis(100)));
                }
            }
        }
    }

    /// Writes a frame, connecting first if needed; Err when not connected (backing off) or the
    /// write failed (the connection is dropped).
    fn send(&mut self, f: &Frame) -> Result<(), ()> {
        let version = self.shared.addr_version.load(Ordering::Relaxed);
        let per_type = self.shared.socket_per_type.load(Ordering::Relaxed);
        if version != self.addr_version || per_type != self.per_type {
            // Moved, or the connections are shared differently: the next frame goes to the
            // new address or connection, at once.
            self.addr_version = version;
            self.per_type = per_type;
            self.streams = Default::default();
            self.resolved = None;
            self.shared.connected.store(false, Ordering::Relaxed);
            self.backoff = self.min;
            self.next_try = Instant::now();
        }
        let lane = if per_type { f.lane.0 } else { 0 };
        if self.streams[lane].is_none() {
            if Instant::now() < self.next_try {
                return Err(());
            }
            match self.connect() {
                Ok(s) => {
                    self.streams[lane] = Some(s);
                    self.backoff = self.min;
                    self.shared.connects.fetch_add(1, Ordering::Relaxed);
                    self.shared.connected.store(true, Ordering::Relaxed);
                }
                Err(e) => {
                    self.fail(&e);
                    return Err(());
                }
            }
        }
        let Some(s) = &mut self.streams[lane] else {
            return Err(());
        };
        if let Err(e) = s.write_all(&f.bytes) {
            self.streams[lane] = None;
            self.shared.connected.store(false, Ordering::Relaxed);
            self.fail(&e);
            return Err(());
        }
        Ok(())
    }

    fn fail(&mut self, e: &std::io::Error) {
        self.shared.failures.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut last) = self.shared.last_error.lock() {
            *last = e.to_string();
        }
        self.next_try = Instant::now() + self.backoff;
        self.backoff = (self.backoff * 2).min(self.max);
        // Names are resolved again at the next attempt (the server may have moved).
        self.resolved = None;
    }

    fn connect(&mut self) -> std::io::Result<TcpStream> {
        let addr = match self.resolved {
            Some(a) => a,
            None => {
                let name = self
                    .shared
                    .addr
                    .lock()
                    .ok()
                    .and_then(|a| a.clone())
                    .ok_or_else(|| std::io::Error::other("no ingester address"))?;
                let a = name
                    .to_socket_addrs()?
                    .next()
                    .ok_or_else(|| std::io::Error::other("no address"))?;
                self.resolved = Some(a);
                a
            }
        };
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(3))?;
        s.set_write_timeout(Some(Duration::from_secs(3)))?;
        s.set_nodelay(true)?;
        Ok(s)
    }
}

#[cfg(test)]
#[path = "sender_tests.rs"]
mod tests;
