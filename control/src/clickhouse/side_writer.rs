//! A writer of rows that are not records, for `tapflow server --clickhouse`: agents'
//! self-monitoring reports ([`super::system`]) and forwarded OpenTelemetry spans
//! ([`super::otel_l7`]). Each has its own thread and a bounded queue of RowBinary batches: its
//! tables are made at the first batch (in the server's dialect), a failed insert is retried with
//! backoff and, while ClickHouse is away, later batches are dropped and counted, so the records'
//! store never waits on it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::http::{post, Endpoint};
use super::schema::{Dialect, Ty};
use crate::sink::offload::{Inbox, Next, Offload, OffloadState};

/// Makes the writer's tables (`run` sends one statement); called before the first insert and
/// again after a failure.
pub type Create =
    Box<dyn Fn(&dyn Fn(&str) -> Result<Vec<u8>, String>) -> Result<(), String> + Send>;

/// A side table: its name (`database.table`), columns, partition and order keys.
#[derive(Debug, Clone, Copy)]
pub struct SideTable {
    pub name: &'static str,
    pub columns: &'static [(&'static str, Ty)],
    /// The partition key in the current dialect, and in the legacy one (18.x, 19.x).
    pub partition: &'static str,
    pub legacy_partition: &'static str,
    pub order_by: &'static str,
}

impl SideTable {
    /// The statements that make the database and the table in `dialect`, rows kept
    /// `ttl_hours` (0: forever; the current dialect only).
    pub fn statements(&self, dialect: Dialect, ttl_hours: u32) -> [String; 2] {
        let cols: Vec<String> = self
            .columns
            .iter()
            .map(|(n, t)| format!("  `{n}` {}", t.sql(dialect)))
            .collect();
        let (partition, ttl) = match dialect {
            Dialect::Current if ttl_hours > 0 => (
                self.partition,
                format!("\nTTL time + toIntervalHour({ttl_hours})"),
            ),
            Dialect::Current => (self.partition, String::new()),
            Dialect::Legacy => (self.legacy_partition, String::new()),
        };
        let database = self.name.split('.').next().unwrap_or(self.name);
        [
            format!("CREATE DATABASE IF NOT EXISTS {database}"),
            format!(
                "CREATE TABLE IF NOT EXISTS {} (\n{}\n) ENGINE = MergeTree()\nPARTITION BY {partition}\nORDER BY ({}){ttl}",
                self.name,
                cols.join(",\n"),
                self.order_by
            ),
        ]
    }

    /// The column list for INSERT.
    pub fn column_list(&self) -> String {
        let names: Vec<String> = self.columns.iter().map(|(n, _)| format!("`{n}`")).collect();
        names.join(", ")
    }

    /// What makes the table on the writer's server (its dialect asked first).
    pub fn create(self, ttl_hours: u32) -> Create {
        Box::new(move |run| {
            let version = String::from_utf8_lossy(&run("SELECT version()")?).to_string();
            for q in self.statements(Dialect::of_version(&version), ttl_hours) {
                run(&q)?;
            }
            Ok(())
        })
    }

    /// A writer of this table's rows on thread `thread` to the server at `url` (checked now;
    /// connected at the first batch), the table made with rows kept `ttl_hours`; `names` name
    /// its counters.
    pub fn writer(
        self,
        thread: &str,
        names: [&'static str; 3],
        url: &str,
        ttl_hours: u32,
        timeout: Duration,
    ) -> Result<SideWriter, String> {
        SideWriter::start(
            thread,
            names,
            url,
            timeout,
            self.create(ttl_hours),
            self.insert(),
        )
    }

    /// The INSERT of RowBinary rows.
    pub fn insert(&self) -> String {
        format!(
            "INSERT INTO {} ({}) FORMAT RowBinary",
            self.name,
            self.column_list()
        )
    }
}

/// The writer's counters.
#[derive(Debug)]
pub struct SideCounters {
    pub queue: Arc<OffloadState>,
    pub rows_inserted: AtomicU64,
    pub failures: AtomicU64,
    /// Their names in ingest-stats.json: inserted, dropped, failures.
    names: [&'static str; 3],
}

impl SideCounters {
    pub fn entries(&self) -> [(&'static str, u64); 3] {
        [
            (self.names[0], self.rows_inserted.load(Ordering::Relaxed)),
            (self.names[1], self.queue.records_dropped()),
            (self.names[2], self.failures.load(Ordering::Relaxed)),
        ]
    }
}

struct Batch {
    rows: u64,
    body: Vec<u8>,
}

/// The writer.
pub struct SideWriter {
    queue: Offload<Batch>,
    counters: Arc<SideCounters>,
    wait: Duration,
    /// The next row's number ([`SideWriter::write_numbered`]).
    next: u64,
}

impl std::fmt::Debug for SideWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SideWriter").finish()
    }
}

/// Batches waiting at most.
const QUEUE: usize = 64;

impl SideWriter {
    /// Starts thread `thread` writing to the server at `url` (checked now; connected at the
    /// first batch) with `insert` (`INSERT INTO ... FORMAT RowBinary`); `names` name its
    /// counters.
    pub fn start(
        thread: &str,
        names: [&'static str; 3],
        url: &str,
        timeout: Duration,
        create: Create,
        insert: String,
    ) -> Result<Self, String> {
        let ep = Endpoint::parse(url)?;
        let counters = Arc::new(SideCounters {
            queue: Arc::default(),
            rows_inserted: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            names,
        });
        let shared = Arc::clone(&counters);
        let queue = Offload::start(
            thread,
            QUEUE,
            Duration::from_secs(10),
            Arc::clone(&counters.queue),
            move |inbox| write_loop(&ep, timeout, &create, &insert, &shared, inbox),
        )
        .map_err(|e| e.to_string())?;
        Ok(SideWriter {
            queue,
            counters,
            wait: timeout,
            next: 0,
        })
    }

    pub fn counters(&self) -> Arc<SideCounters> {
        Arc::clone(&self.counters)
    }

    /// Queues `rows` rows encoded in `body` (dropped and counted when the queue is full).
    pub fn push(&mut self, rows: u64, body: Vec<u8>) {
        if rows == 0 {
            return;
        }
        self.queue
            .push(Batch { rows, body }, rows, self.wait, || false);
    }

    /// Encodes `rows` with `encode`, each given the writer's next row number (for DeepFlow's
    /// `_id`), and queues them.
    pub fn write_numbered<R>(&mut self, rows: &[R], mut encode: impl FnMut(&R, u64, &mut Vec<u8>)) {
        let mut body = Vec::new();
        for r in rows {
            encode(r, self.next, &mut body);
            self.next = self.next.wrapping_add(1);
        }
        self.push(rows.len() as u64, body);
    }

    /// Waits (up to 10 s) for the queued batches to go.
    pub fn finish(mut self) {
        self.queue.drain();
    }
}

fn write_loop(
    ep: &Endpoint,
    timeout: Duration,
    create: &Create,
    insert: &str,
    c: &SideCounters,
    inbox: Inbox<Batch>,
) {
    let mut ready = false;
    let mut backoff = Duration::from_millis(500);
    let mut next_try = Instant::now();
    let run = |q: &str| post(ep, q, b"", timeout).map_err(|e| e.to_string());
    loop {
        let b = match inbox.next() {
            Next::Item(b, _) => b,
            Next::Idle => continue,
            Next::Closed => return,
        };
        // While ClickHouse is away, batches go at once, counted.
        let ok = Instant::now() >= next_try
            && !inbox.state.giving_up()
            && (ready || create(&run).is_ok())
            && post(ep, insert, &b.body, timeout).is_ok();
        if ok {
            ready = true;
            backoff = Duration::from_millis(500);
            c.rows_inserted.fetch_add(b.rows, Ordering::Relaxed);
        } else {
            ready = false;
            c.failures.fetch_add(1, Ordering::Relaxed);
            next_try = Instant::now() + backoff;
            backoff = (backoff * 2).min(Duration::from_secs(15));
        }
        inbox.state.done(b.rows, ok);
    }
}
