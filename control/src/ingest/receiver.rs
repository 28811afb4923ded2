//! The server side: `tapflow server --ingest-listen` accepts DeepFlow's framing from many agents
//! (tapflow's or DeepFlow's own), checks each frame's header and size, decodes the l4, l7 and
//! metrics messages into records and hands them to the store thread (JSON lines per table by
//! default); agents' self-monitoring (DeepflowStats, DeepFlow's `deepflow_system`) goes to
//! `deepflow_system.jsonl`; what agents forward from their integration collectors (OTel spans,
//! Prometheus samples, Telegraf lines, profiles' stacks) goes to its own files
//! ([`forwarded_rows`], [`crate::profile`]). A bad frame
//! (header, size, compression, protobuf) or a truncated one is counted and its connection
//! closed; the others go on. Frames of types tapflow does not store (DeepFlow's syslog, ...)
//! are counted and skipped: the framing stays in step.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tapflow_analyzer::{RecordBatch, RecordKind};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::{mpsc, watch};

use super::frame::{self, FrameError, Header, HEADER_LEN};
use super::{forwarded_rows, from_pb, self_stats};
use crate::clickhouse::system::SystemStore;
use crate::rpc::stats as pb;
use crate::sink::JsonRowFile;
use crate::sink::{FanOut, SinkStats};

/// What a connection hands to the store thread.
#[derive(Debug)]
pub enum Received {
    /// A frame's records (boxed: a batch is large, a frame's worth of them).
    Records(Box<RecordBatch>),
    /// Self-monitoring reports for `deepflow_system`, and the agent that sent them.
    Stats(u16, Vec<pb::Stats>),
    /// Rows of data forwarded from an agent's integration collector, of this type.
    Forwarded(frame::MessageType, Vec<serde_json::Value>),
    /// OpenTelemetry trace data forwarded by an agent.
    Traces(u16, Vec<crate::rpc::otel::TracesData>),
    /// The stacks of a frame of profiles, and what of them was not read.
    Profiles(Vec<crate::profile::ProfileRow>, ProfileCounts),
    /// The entries of a frame of application logs, and how many were skipped.
    AppLogs(Vec<crate::app_log::AppLogRow>, u64),
}

/// What of a frame's profiles was not read.
#[derive(Debug, Default, Clone, Copy)]
pub struct ProfileCounts {
    pub messages: u64,
    pub unsupported: u64,
    pub malformed: u64,
    pub skipped_lines: u64,
    pub dropped_stacks: u64,
}

/// What is stored beside the records: agents' self-monitoring reports (`deepflow_system.jsonl`,
/// and ClickHouse's `deepflow_system.deepflow_system` with `--clickhouse`) and the data they
/// forward (files made when it first comes; spans also in `flow_log.l7_flow_log`).
#[derive(Debug, Default)]
pub struct SystemOut {
    pub file: Option<JsonRowFile>,
    pub clickhouse: Option<SystemStore>,
    /// Where forwarded data's files are made, when it first comes (None: not stored).
    pub forwarded_dir: Option<std::path::PathBuf>,
    pub forwarded: std::collections::BTreeMap<&'static str, JsonRowFile>,
    /// Forwarded spans as `flow_log.l7_flow_log` rows, with `--clickhouse`.
    pub otel_clickhouse: Option<crate::clickhouse::otel_l7::OtelL7Store>,
    /// Forwarded profiles' stacks as `profile.in_process` rows, with `--clickhouse`.
    pub profile_clickhouse: Option<crate::clickhouse::profile_in_process::ProfileStore>,
    /// Forwarded application logs as `application_log.log` rows, with `--clickhouse`.
    pub app_log_clickhouse: Option<crate::clickhouse::application_log::AppLogStore>,
}

/// An agent sends at least every second (DeepFlow's: every 10 s); a connection silent this long
/// is closed.
const IDLE: Duration = Duration::from_secs(300);
/// A frame's body must arrive within this once its header has.
const BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// Agents connected at once at most (each holds up to one frame: 512 KB, 8 MiB decompressed).
pub const MAX_CONNECTIONS: usize = 1024;

/// The receiver's counters (`ingest-stats.json`).
#[derive(Debug, Default)]
pub struct ReceiverCounters {
    pub connections: AtomicU64,
    pub frames: AtomicU64,
    /// Records stored, per kind ([`RecordKind::ALL`] order).
    pub records: [AtomicU64; 16],
    /// Self-monitoring rows (DeepflowStats messages) stored.
    pub stats_rows: AtomicU64,
    /// Forwarded rows stored: OTel spans, Prometheus samples, Telegraf lines.
    pub otel_spans: AtomicU64,
    pub prometheus_samples: AtomicU64,
    pub telegraf_lines: AtomicU64,
    /// Profiles received, their stacks stored, and those of a format not read (jfr, trie, ..),
    /// whose data is not what their format says, text lines that are not stacks and stacks past
    /// a profile's bound.
    pub profiles: AtomicU64,
    pub profile_stacks: AtomicU64,
    pub profiles_unsupported: AtomicU64,
    pub profiles_malformed: AtomicU64,
    pub profile_lines_skipped: AtomicU64,
    pub profile_stacks_dropped: AtomicU64,
    /// Application log entries stored, and those skipped (no time or text, not an object).
    pub app_logs: AtomicU64,
    pub app_logs_skipped: AtomicU64,
    /// Headers with a bad size, version or encoder.
    pub bad_headers: AtomicU64,
    /// Frames whose body does not decompress or decode.
    pub bad_bodies: AtomicU64,
    /// Connections that ended inside a frame.
    pub truncated: AtomicU64,
    /// Frames of types tapflow does not store (skipped).
    pub skipped_types: AtomicU64,
    /// Frames from agents the control plane does not know (connection closed).
    pub rejected_agents: AtomicU64,
    /// Connections closed for silence or a slow body.
    pub timeouts: AtomicU64,
    /// Connections refused because [`MAX_CONNECTIONS`] were open.
    pub refused_connections: AtomicU64,
}

impl ReceiverCounters {
    pub fn records(&self, k: RecordKind) -> u64 {
        let i = RecordKind::ALL.iter().position(|x| *x == k).unwrap_or(0);
        self.records[i].load(Ordering::Relaxed)
    }

    /// Every counter by name.
    pub fn to_json(&self) -> serde_json::Value {
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut m = serde_json::Map::new();
        m.insert("connections".into(), r(&self.connections).into());
        m.insert("frames".into(), r(&self.frames).into());
        for (k, c) in RecordKind::ALL.iter().zip(&self.records) {
            m.insert(format!("records.{}", k.name()), r(c).into());
        }
        m.insert("deepflow_stats".into(), r(&self.stats_rows).into());
        m.insert("otel_spans".into(), r(&self.otel_spans).into());
        m.insert(
            "prometheus_samples".into(),
            r(&self.prometheus_samples).into(),
        );
        m.insert("telegraf_lines".into(), r(&self.telegraf_lines).into());
        for (k, v) in [
            ("profiles", &self.profiles),
            ("profile_stacks", &self.profile_stacks),
            ("profiles_unsupported", &self.profiles_unsupported),
            ("profiles_malformed", &self.profiles_malformed),
            ("profile_lines_skipped", &self.profile_lines_skipped),
            ("profile_stacks_dropped", &self.profile_stacks_dropped),
            ("app_logs", &self.app_logs),
            ("app_logs_skipped", &self.app_logs_skipped),
        ] {
            m.insert(k.into(), r(v).into());
        }
        m.insert("bad_headers".into(), r(&self.bad_headers).into());
        m.insert("bad_bodies".into(), r(&self.bad_bodies).into());
        m.insert("truncated".into(), r(&self.truncated).into());
        m.insert("skipped_types".into(), r(&self.skipped_types).into());
        m.insert("rejected_agents".into(), r(&self.rejected_agents).into());
        m.insert("timeouts".into(), r(&self.timeouts).into());
        m.insert(
            "refused_connections".into(),
            r(&self.refused_connections).into(),
        );
        serde_json::Value::Object(m)
    }
}

/// Who may send records.
pub trait AgentCheck: Send + Sync {
    /// Is `agent_id`, connected from `peer`, allowed?
    fn allowed(&self, agent_id: u16, peer: IpAddr) -> bool;
}

/// Everyone (a server without a token).
#[derive(Debug, Clone, Copy)]
pub struct AnyAgent;

impl AgentCheck for AnyAgent {
    fn allowed(&self, _: u16, _: IpAddr) -> bool {
        true
    }
}

/// Accepts connections on `listener` until `stop` turns true; decoded records go to `out`.
pub async fn receive(
    listener: tokio::net::TcpListener,
    check: Arc<dyn AgentCheck>,
    out: mpsc::Sender<Received>,
    counters: Arc<ReceiverCounters>,
    mut stop: watch::Receiver<bool>,
) {
    let mut conns = tokio::task::JoinSet::new();
    let conn_stop = stop.clone();
    loop {
        tokio::select! {
            _ = stopped(&mut stop) => break,
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                if conns.len() >= MAX_CONNECTIONS {
                    counters.refused_connections.fetch_add(1, Ordering::Relaxed);
                    drop(stream);
                    continue;
                }
                counters.connections.fetch_add(1, Ordering::Relaxed);
                let (check, out, counters, stop) =
                    (Arc::clone(&check), out.clone(), Arc::clone(&counters), conn_stop.clone());
                conns.spawn(async move {
                    let _ = stream.set_nodelay(true);
                    connection(stream, peer, &*check, &out, &counters, stop).await;
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    conns.abort_all();
}

/// Resolves once the stop flag is set (the borrow of the flag ends inside).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await.map(|_| ());
}

/// Why a connection ended.
enum End {
    Closed,
    Stop,
}

/// Reads exactly `buf.len()` bytes; Ok(false) on a clean end before the first byte.
async fn read_full<R: AsyncRead + Unpin>(r: &mut R, buf: &mut [u8]) -> std::io::Result<bool> {
    let mut at = 0;
    while at < buf.len() {
        let n = r.read(&mut buf[at..]).await?;
        if n == 0 {
            if at == 0 {
                return Ok(false);
            }
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        at += n;
    }
    Ok(true)
}

async fn connection(
    mut stream: tokio::net::TcpStream,
    peer: SocketAddr,
    check: &dyn AgentCheck,
    out: &mpsc::Sender<Received>,
    c: &ReceiverCounters,
    mut stop: watch::Receiver<bool>,
) {
    let mut known: Option<u16> = None;
    let mut body = Vec::new();
    loop {
        let mut hb = [0u8; HEADER_LEN];
        let got = tokio::select! {
            _ = stopped(&mut stop) => return,
            r = tokio::time::timeout(IDLE, read_full(&mut stream, &mut hb)) => r,
        };
        let end = match got {
            Err(_) => {
                c.timeouts.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Ok(Ok(false)) => End::Closed,
            Ok(Err(_)) => {
                c.truncated.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Ok(Ok(true)) => {
                match frame_in(&mut stream, &hb, &mut body, peer, &mut known, check, c).await {
                    Ok(Some(batch)) => {
                        if out.send(batch).await.is_err() {
                            End::Stop
                        } else {
                            continue;
                        }
                    }
                    Ok(None) => continue,
                    Err(()) => End::Closed,
                }
            }
        };
        match end {
            End::Closed | End::Stop => return,
        }
    }
}

/// Reads the body of the frame whose header is `hb` and decodes it (None: a skipped type);
/// Err(()) when the connection must close (the reason counted).
#[allow(clippy::too_many_arguments)]
async fn frame_in(
    stream: &mut tokio::net::TcpStream,
    hb: &[u8; HEADER_LEN],
    body: &mut Vec<u8>,
    peer: SocketAddr,
    known: &mut Option<u16>,
    check: &dyn AgentCheck,
    c: &ReceiverCounters,
) -> Result<Option<Received>, ()> {
    let h = Header::parse(hb).map_err(|_| {
        c.bad_headers.fetch_add(1, Ordering::Relaxed);
    })?;
    if *known != Some(h.origin.agent_id) {
        if !check.allowed(h.origin.agent_id, peer.ip()) {
            c.rejected_agents.fetch_add(1, Ordering::Relaxed);
            return Err(());
        }
        *known = Some(h.origin.agent_id);
    }
    body.clear();
    body.resize(h.body_len(), 0);
    match tokio::time::timeout(BODY_TIMEOUT, read_full(stream, body)).await {
        Ok(Ok(true)) => {}
        Ok(Ok(false)) if body.is_empty() => {}
        Ok(_) => {
            c.truncated.fetch_add(1, Ordering::Relaxed);
            return Err(());
        }
        Err(_) => {
            c.timeouts.fetch_add(1, Ordering::Relaxed);
            return Err(());
        }
    }
    c.frames.fetch_add(1, Ordering::Relaxed);
    let Ok(t) = h.message_type() else {
        c.skipped_types.fetch_add(1, Ordering::Relaxed);
        return Ok(None);
    };
    let decoded = match t {
        frame::MessageType::DeepflowStats => {
            decode_stats(&h, body).map(|s| Received::Stats(h.origin.agent_id, s))
        }
        frame::MessageType::OpenTelemetry | frame::MessageType::OpenTelemetryCompressed => {
            decode_traces(&h, t, body).map(|d| Received::Traces(h.origin.agent_id, d))
        }
        frame::MessageType::Profile => {
            let now_us = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
            decode_profiles(&h, body, now_us).map(|(r, n)| Received::Profiles(r, n))
        }
        frame::MessageType::ApplicationLog => {
            decode_app_logs(&h, body, Some(peer.ip().to_canonical()))
                .map(|d| Received::AppLogs(d.rows, d.skipped))
        }
        t if frame::MessageType::INTEGRATION.contains(&t) => {
            decode_forwarded(&h, t, body).map(|r| Received::Forwarded(t, r))
        }
        _ => decode_frame(&h, t, body).map(|b| Received::Records(Box::new(b))),
    };
    decoded.map(Some).map_err(|_| {
        c.bad_bodies.fetch_add(1, Ordering::Relaxed);
    })
}

/// Every self-monitoring message of a DeepflowStats frame body (all or nothing).
pub fn decode_stats(h: &Header, body: &[u8]) -> Result<Vec<pb::Stats>, FrameError> {
    use prost::Message;
    let plain = frame::plain_body(h, body)?;
    let mut reports = Vec::new();
    for m in frame::messages(&plain) {
        reports.push(pb::Stats::decode(m?).map_err(|e| FrameError::Decode(e.to_string()))?);
    }
    Ok(reports)
}

/// Every trace message of a frame of OpenTelemetry data (all or nothing).
pub fn decode_traces(
    h: &Header,
    t: frame::MessageType,
    body: &[u8],
) -> Result<Vec<crate::rpc::otel::TracesData>, FrameError> {
    let plain = frame::plain_body(h, body)?;
    let (mut out, mut budget) = (Vec::new(), forwarded_rows::Budget::default());
    for m in frame::messages(&plain) {
        out.push(forwarded_rows::traces(t, m?, &mut budget)?);
    }
    Ok(out)
}

/// Every stack of a frame of profiles taken at `now_us` (a message that does not decode fails
/// the frame; one whose data is not what its format says is counted).
pub fn decode_profiles(
    h: &Header,
    body: &[u8],
    now_us: i64,
) -> Result<(Vec<crate::profile::ProfileRow>, ProfileCounts), FrameError> {
    use prost::Message;
    let plain = frame::plain_body(h, body)?;
    let (mut rows, mut n) = (Vec::new(), ProfileCounts::default());
    let mut budget = forwarded_rows::Budget::default();
    for m in frame::messages(&plain) {
        let p = crate::rpc::metric::Profile::decode(m?)
            .map_err(|e| FrameError::Decode(e.to_string()))?;
        let d = crate::profile::decode(h.origin.agent_id, &p, now_us, &mut budget)?;
        n.messages += 1;
        n.unsupported += u64::from(d.unsupported);
        n.malformed += u64::from(d.malformed);
        n.skipped_lines += d.skipped_lines;
        n.dropped_stacks += d.dropped_stacks;
        rows.extend(d.rows);
    }
    Ok((rows, n))
}

/// Every entry of a frame of application logs from an agent connected from `peer` (a message
/// that is not JSON fails the frame; entries lacking their time or text are counted).
pub fn decode_app_logs(
    h: &Header,
    body: &[u8],
    peer: Option<IpAddr>,
) -> Result<crate::app_log::Decoded, FrameError> {
    let plain = frame::plain_body(h, body)?;
    let mut all = crate::app_log::Decoded::default();
    for m in frame::messages(&plain) {
        let d = crate::app_log::decode(h.origin.agent_id, peer, m?)?;
        all.rows.extend(d.rows);
        all.skipped += d.skipped;
    }
    Ok(all)
}

/// Every row of a frame of forwarded data (all or nothing).
pub fn decode_forwarded(
    h: &Header,
    t: frame::MessageType,
    body: &[u8],
) -> Result<Vec<serde_json::Value>, FrameError> {
    let plain = frame::plain_body(h, body)?;
    let (mut rows, mut budget) = (Vec::new(), forwarded_rows::Budget::default());
    for m in frame::messages(&plain) {
        rows.extend(forwarded_rows::rows(t, h.origin.agent_id, m?, &mut budget)?);
    }
    Ok(rows)
}

/// Every record of one frame body (all or nothing).
pub fn decode_frame(
    h: &Header,
    t: frame::MessageType,
    body: &[u8],
) -> Result<RecordBatch, FrameError> {
    let plain = frame::plain_body(h, body)?;
    let mut batch = RecordBatch::default();
    for m in frame::messages(&plain) {
        from_pb::decode_into(t, m?, &mut batch)?;
    }
    Ok(batch)
}

/// Writes every received batch into `sink` and every self-monitoring report into `system` until
/// the channel closes; counts them in `c`, and writes `stats_path` (the receiver's counters and
/// the sink's) every 10 s and at the end.
pub fn store_loop(
    mut rx: mpsc::Receiver<Received>,
    mut sink: FanOut,
    mut system: SystemOut,
    c: Arc<ReceiverCounters>,
    stats_path: std::path::PathBuf,
) -> SinkStats {
    let system_counters = system.clickhouse.as_ref().map(SystemStore::counters);
    let otel_counters = system.otel_clickhouse.as_ref().map(|o| o.counters());
    let profile_counters = system.profile_clickhouse.as_ref().map(|o| o.counters());
    let app_log_counters = system.app_log_clickhouse.as_ref().map(|o| o.counters());
    let write_stats = |sink: &FanOut| {
        let mut j = c.to_json();
        if let Some(m) = j.as_object_mut() {
            for (k, v) in system_counters
                .iter()
                .chain(&otel_counters)
                .chain(&profile_counters)
                .chain(&app_log_counters)
                .flat_map(|s| s.entries())
            {
                m.insert(k.into(), v.into());
            }
            for (name, s) in sink.per_sink() {
                m.insert(format!("sink.{name}.write_errors"), s.write_errors.into());
                m.insert(format!("sink.{name}.bytes"), s.bytes.into());
                let written: u64 = s.written.iter().sum();
                m.insert(format!("sink.{name}.records"), written.into());
            }
        }
        let _ = std::fs::write(&stats_path, format!("{j:#}\n"));
    };
    let mut last = std::time::Instant::now();
    while let Some(got) = rx.blocking_recv() {
        match got {
            Received::Records(batch) => {
                for (k, n) in RecordKind::ALL.iter().zip(&c.records) {
                    n.fetch_add(count_of(&batch, *k), Ordering::Relaxed);
                }
                sink.write_batch(&batch);
            }
            Received::Stats(agent_id, reports) => {
                c.stats_rows
                    .fetch_add(reports.len() as u64, Ordering::Relaxed);
                if let Some(f) = &mut system.file {
                    for s in &reports {
                        let _ = f.write(&self_stats::row(agent_id, s));
                    }
                }
                if let Some(ch) = &mut system.clickhouse {
                    ch.write(agent_id, &reports);
                }
            }
            Received::Forwarded(t, rows) => store_forwarded(&mut system, &c, t, &rows),
            Received::Traces(agent_id, data) => {
                for d in &data {
                    let rows = forwarded_rows::spans(agent_id, d);
                    store_forwarded(&mut system, &c, frame::MessageType::OpenTelemetry, &rows);
                    if let Some(ch) = &mut system.otel_clickhouse {
                        ch.write(&crate::clickhouse::otel_l7::span_rows(agent_id, d));
                    }
                }
            }
            Received::Profiles(rows, n) => {
                for (a, v) in [
                    (&c.profiles, n.messages),
                    (&c.profiles_unsupported, n.unsupported),
                    (&c.profiles_malformed, n.malformed),
                    (&c.profile_lines_skipped, n.skipped_lines),
                    (&c.profile_stacks_dropped, n.dropped_stacks),
                ] {
                    a.fetch_add(v, Ordering::Relaxed);
                }
                let json: Vec<serde_json::Value> = rows.iter().map(|r| r.to_json()).collect();
                store_forwarded(&mut system, &c, frame::MessageType::Profile, &json);
                if let Some(ch) = &mut system.profile_clickhouse {
                    ch.write(&rows);
                }
            }
            Received::AppLogs(rows, skipped) => {
                c.app_logs_skipped.fetch_add(skipped, Ordering::Relaxed);
                let json: Vec<serde_json::Value> = rows.iter().map(|r| r.to_json()).collect();
                store_forwarded(&mut system, &c, frame::MessageType::ApplicationLog, &json);
                if let Some(ch) = &mut system.app_log_clickhouse {
                    ch.write(&rows);
                }
            }
        }
        if last.elapsed() >= Duration::from_secs(10) {
            let _ = sink.flush();
            for f in system.file.iter_mut().chain(system.forwarded.values_mut()) {
                let _ = f.flush();
            }
            write_stats(&sink);
            last = std::time::Instant::now();
        }
    }
    if let Err(e) = sink.finish() {
        eprintln!("tapflow server: record store: {e}");
    }
    for f in system.file.iter_mut().chain(system.forwarded.values_mut()) {
        let _ = f.flush();
    }
    if let Some(ch) = system.clickhouse.take() {
        ch.finish();
    }
    if let Some(ch) = system.otel_clickhouse.take() {
        ch.finish();
    }
    if let Some(ch) = system.profile_clickhouse.take() {
        ch.finish();
    }
    if let Some(ch) = system.app_log_clickhouse.take() {
        ch.finish();
    }
    write_stats(&sink);
    sink.stats()
}

/// Appends forwarded rows to their file (made when the first come).
fn store_forwarded(
    system: &mut SystemOut,
    c: &ReceiverCounters,
    t: frame::MessageType,
    rows: &[serde_json::Value],
) {
    let n = match t {
        frame::MessageType::Prometheus => &c.prometheus_samples,
        frame::MessageType::Telegraf => &c.telegraf_lines,
        frame::MessageType::Profile => &c.profile_stacks,
        frame::MessageType::ApplicationLog => &c.app_logs,
        _ => &c.otel_spans,
    };
    n.fetch_add(rows.len() as u64, Ordering::Relaxed);
    let Some(dir) = &system.forwarded_dir else {
        return;
    };
    let name = forwarded_rows::file_name(t);
    if !system.forwarded.contains_key(name) {
        match JsonRowFile::create(dir, name, crate::Config::default().file_output) {
            Ok(f) => {
                system.forwarded.insert(name, f);
            }
            Err(e) => {
                eprintln!("tapflow server: {name}.jsonl: {e}");
                system.forwarded_dir = None;
                return;
            }
        }
    }
    if let Some(f) = system.forwarded.get_mut(name) {
        for r in rows {
            let _ = f.write(r);
        }
    }
}

fn count_of(b: &RecordBatch, k: RecordKind) -> u64 {
    let mut n = 0u64;
    b.for_each(|r| n += u64::from(r.kind() == k));
    n
}
