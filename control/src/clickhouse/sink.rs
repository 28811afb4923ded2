//! The ClickHouse store as a [`Sink`]: rows of each table collected as RowBinary, a batch cut at
//! 4 MiB or every second, a bounded queue of batches (`sink::offload`) to a writer thread that
//! creates the databases and tables if missing (in the server's dialect), inserts over HTTP and
//! retries with backoff. While ClickHouse takes batches a full queue waits (back-pressure); while
//! it is away later batches are dropped and counted (memory stays within the queue's bound); when
//! it is back, writing resumes.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tapflow_analyzer::{RecordKind, RecordRef};

use super::http::{post, Endpoint, HttpError};
use super::rows::encode;
use super::schema::{tables, Dialect, Table};
use crate::sink::offload::{Inbox, Next, Offload, OffloadState};
use crate::sink::{Sink, SinkError, SinkStats};

/// Store settings.
#[derive(Debug, Clone)]
pub struct ClickHouseConfig {
    /// `http://[user[:password]@]host[:port]`.
    pub url: String,
    /// Rows of `flow_log` tables are kept this long (0: forever; ClickHouse 20+ only).
    pub flow_log_ttl_hours: u32,
    /// ... and of `flow_metrics` tables.
    pub flow_metrics_ttl_hours: u32,
    /// A batch is cut when it passes this many bytes.
    pub batch_bytes: usize,
    /// ... or this much (analyzer) time after the last cut, ns.
    pub flush_interval_ns: u64,
    /// Batches waiting for the writer at most (the memory bound: about batch_bytes each).
    pub queue_batches: usize,
    /// How long the end of a run waits for queued batches.
    pub drain_timeout: Duration,
    /// Per-request timeout.
    pub timeout: Duration,
}

impl ClickHouseConfig {
    /// What the store may hold at most: the queued batches and one being built per table.
    pub fn memory_bytes(&self) -> u64 {
        ((self.queue_batches + tables().len()) * (self.batch_bytes + (64 << 10))) as u64
    }

    pub fn new(url: impl Into<String>) -> Self {
        ClickHouseConfig {
            url: url.into(),
            flow_log_ttl_hours: 72,
            flow_metrics_ttl_hours: 168,
            batch_bytes: 4 << 20,
            flush_interval_ns: 1_000_000_000,
            queue_batches: 16,
            drain_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(10),
        }
    }
}

/// Counters shared with the writer thread.
#[derive(Debug, Default)]
pub struct ClickHouseCounters {
    /// Rows inserted, per kind ([`RecordKind::ALL`] order).
    pub inserted: [AtomicU64; 16],
    /// The batch queue: rows queued, and dropped (queue full while ClickHouse fails, refused
    /// batches, the end of the run).
    pub queue: Arc<OffloadState>,
    pub batches: AtomicU64,
    pub bytes: AtomicU64,
    /// Failed requests (connect, insert or DDL), each retried or given up.
    pub failures: AtomicU64,
    /// Batches refused by ClickHouse three times and dropped.
    pub rejected_batches: AtomicU64,
    /// The last request succeeded: a full queue then waits for the writer instead of dropping.
    healthy: AtomicBool,
    /// The server's version once the tables are ready.
    version: Mutex<String>,
    last_error: Mutex<String>,
}

impl ClickHouseCounters {
    pub fn rows_inserted(&self) -> u64 {
        self.inserted
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }

    /// The server's version ("" until the schema was created).
    pub fn server_version(&self) -> String {
        self.version.lock().map(|v| v.clone()).unwrap_or_default()
    }

    pub fn last_error(&self) -> String {
        self.last_error
            .lock()
            .map(|v| v.clone())
            .unwrap_or_default()
    }

    /// `(name, value)` pairs for stats files (`clickhouse.*`).
    pub fn entries(&self) -> Vec<(&'static str, u64)> {
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        vec![
            ("clickhouse.rows_inserted", self.rows_inserted()),
            ("clickhouse.rows_dropped", self.queue.records_dropped()),
            ("clickhouse.rows_queued", self.queue.records_queued()),
            ("clickhouse.batches", r(&self.batches)),
            ("clickhouse.bytes", r(&self.bytes)),
            ("clickhouse.failures", r(&self.failures)),
            ("clickhouse.rejected_batches", r(&self.rejected_batches)),
        ]
    }

    fn error(&self, e: &str) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut l) = self.last_error.lock() {
            *l = e.to_string();
        }
    }
}

struct Batch {
    table: usize,
    rows: u64,
    body: Vec<u8>,
}

/// The sink.
pub struct ClickHouseSink {
    cfg: ClickHouseConfig,
    tables: Arc<Vec<Table>>,
    pending: Vec<(Vec<u8>, u64)>,
    next_id: u64,
    last_cut_ns: Option<u64>,
    shared: Arc<ClickHouseCounters>,
    queue: Offload<Batch>,
}

impl std::fmt::Debug for ClickHouseSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClickHouseSink")
            .field("url", &self.cfg.url)
            .finish()
    }
}

fn kind_index(k: RecordKind) -> usize {
    RecordKind::ALL.iter().position(|x| *x == k).unwrap_or(0)
}

impl ClickHouseSink {
    /// Starts the writer (it connects in the background; a bad URL is an error now).
    pub fn start(cfg: ClickHouseConfig) -> Result<Self, String> {
        let ep = Endpoint::parse(&cfg.url)?;
        let tables = Arc::new(tables());
        let shared = Arc::new(ClickHouseCounters::default());
        // Healthy until a request fails: the first batches wait for the schema to be made.
        shared.healthy.store(true, Ordering::Relaxed);
        let w = Writer {
            ep,
            tables: Arc::clone(&tables),
            shared: Arc::clone(&shared),
            ttl: (cfg.flow_log_ttl_hours, cfg.flow_metrics_ttl_hours),
            timeout: cfg.timeout,
            ready: false,
            backoff: Duration::from_millis(500),
            next_try: Instant::now(),
        };
        let queue = Offload::start(
            "tapflow-clickhouse",
            cfg.queue_batches,
            cfg.drain_timeout,
            Arc::clone(&shared.queue),
            move |inbox| w.run(inbox),
        )
        .map_err(|e| e.to_string())?;
        let pending = tables.iter().map(|_| (Vec::new(), 0)).collect();
        Ok(ClickHouseSink {
            cfg,
            tables,
            pending,
            next_id: 0,
            last_cut_ns: None,
            shared,
            queue,
        })
    }

    pub fn counters(&self) -> Arc<ClickHouseCounters> {
        Arc::clone(&self.shared)
    }

    fn cut(&mut self, i: usize) {
        let (body, rows) = std::mem::take(&mut self.pending[i]);
        if rows == 0 {
            return;
        }
        // A full queue waits while ClickHouse takes batches (back-pressure: an offline run loses
        // nothing to a slow server); while it fails, the batch is dropped at once and counted.
        let healthy = &self.shared.healthy;
        self.queue.push(
            Batch {
                table: i,
                rows,
                body,
            },
            rows,
            self.cfg.timeout,
            || healthy.load(Ordering::Relaxed),
        );
    }

    fn cut_all(&mut self) {
        for i in 0..self.pending.len() {
            self.cut(i);
        }
    }
}

impl Sink for ClickHouseSink {
    fn name(&self) -> &'static str {
        "clickhouse"
    }

    fn write(&mut self, rec: RecordRef<'_>) {
        let Some(i) = self.tables.iter().position(|t| t.kind == rec.kind()) else {
            return;
        };
        self.next_id = self.next_id.wrapping_add(1);
        // DeepFlow's `_id`: the second in the high half, a counter below.
        let id = (now_s() << 32) | (self.next_id & 0xffff_ffff);
        let (body, rows) = &mut self.pending[i];
        encode(&self.tables[i], rec, id, body);
        *rows += 1;
        if body.len() >= self.cfg.batch_bytes {
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

    /// Cuts every batch and waits (up to `drain_timeout`) for the writer; what could not be
    /// written is counted (`clickhouse.rows_dropped` / `rows_queued`), not an error.
    fn flush(&mut self) -> Result<(), SinkError> {
        self.cut_all();
        self.queue.drain();
        Ok(())
    }

    fn stats(&self) -> SinkStats {
        let mut s = SinkStats::default();
        for (w, c) in s.written.iter_mut().zip(&self.shared.inserted) {
            *w = c.load(Ordering::Relaxed);
        }
        s.bytes = self.shared.bytes.load(Ordering::Relaxed);
        s.write_errors = self.shared.queue.records_dropped();
        s
    }
}

impl Drop for ClickHouseSink {
    fn drop(&mut self) {
        // The last batches join the queue; the queue's end gives them one drain time.
        self.cut_all();
    }
}

fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The writer thread.
struct Writer {
    ep: Endpoint,
    tables: Arc<Vec<Table>>,
    shared: Arc<ClickHouseCounters>,
    ttl: (u32, u32),
    timeout: Duration,
    ready: bool,
    backoff: Duration,
    next_try: Instant,
}

impl Writer {
    fn run(mut self, inbox: Inbox<Batch>) {
        let mut held: Option<(Batch, u32)> = None;
        loop {
            let (batch, refusals) = match held.take() {
                Some(b) => b,
                None => match inbox.next() {
                    Next::Item(b, _) => (b, 0),
                    Next::Idle => continue,
                    Next::Closed => return,
                },
            };
            if inbox.state.giving_up() {
                self.done(&inbox, &batch, false);
                continue;
            }
            if Instant::now() < self.next_try {
                std::thread::sleep(Duration::from_millis(50));
                held = Some((batch, refusals));
                continue;
            }
            if !self.ready {
                if let Err(e) = self.create_schema() {
                    self.fail(&e);
                    held = Some((batch, refusals));
                    continue;
                }
                self.ready = true;
            }
            let t = &self.tables[batch.table];
            let q = format!(
                "INSERT INTO {} ({}) FORMAT RowBinary",
                t.qualified(),
                t.column_list()
            );
            match post(&self.ep, &q, &batch.body, self.timeout) {
                Ok(_) => {
                    self.backoff = Duration::from_millis(500);
                    self.shared.healthy.store(true, Ordering::Relaxed);
                    self.done(&inbox, &batch, true);
                }
                Err(HttpError::Status(code, msg)) if refusals < 2 => {
                    // Refused (a table changed under us?): make sure of the schema, try again.
                    self.fail(&format!(
                        "insert into {}: HTTP {code}: {}",
                        t.name,
                        msg.trim()
                    ));
                    self.ready = false;
                    held = Some((batch, refusals + 1));
                }
                Err(HttpError::Status(code, msg)) => {
                    self.fail(&format!(
                        "insert into {}: HTTP {code}: {}",
                        t.name,
                        msg.trim()
                    ));
                    self.shared.rejected_batches.fetch_add(1, Ordering::Relaxed);
                    self.done(&inbox, &batch, false);
                }
                Err(e) => {
                    self.fail(&e.to_string());
                    self.ready = false;
                    held = Some((batch, refusals));
                }
            }
        }
    }

    fn fail(&mut self, e: &str) {
        self.shared.healthy.store(false, Ordering::Relaxed);
        self.shared.error(e);
        self.next_try = Instant::now() + self.backoff;
        self.backoff = (self.backoff * 2).min(Duration::from_secs(15));
    }

    fn done(&self, inbox: &Inbox<Batch>, b: &Batch, inserted: bool) {
        if inserted {
            let s = &self.shared;
            let kind = self.tables[b.table].kind;
            s.inserted[kind_index(kind)].fetch_add(b.rows, Ordering::Relaxed);
            s.batches.fetch_add(1, Ordering::Relaxed);
            s.bytes.fetch_add(b.body.len() as u64, Ordering::Relaxed);
        }
        inbox.state.done(b.rows, inserted);
    }

    /// The databases and tables, in the server's dialect.
    fn create_schema(&self) -> Result<(), String> {
        let run = |q: &str| post(&self.ep, q, b"", self.timeout).map_err(|e| e.to_string());
        let version = String::from_utf8_lossy(&run("SELECT version()")?)
            .trim()
            .to_string();
        let dialect = Dialect::of_version(&version);
        for t in self.tables.iter() {
            let ttl = if t.is_flow_log() {
                self.ttl.0
            } else {
                self.ttl.1
            };
            t.ensure(dialect, ttl, &run)?;
        }
        if let Ok(mut v) = self.shared.version.lock() {
            *v = version;
        }
        Ok(())
    }
}
