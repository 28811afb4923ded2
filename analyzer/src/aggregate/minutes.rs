//! The 1-minute aggregation: flow log rows and request log rows are summed per table, key and
//! minute into `flow_metrics` documents. A row belongs to the minute its interval starts in (a
//! flow log row covers at most one minute: DeepFlow's FlowAggr); rows of flows that close after
//! a minute's documents were written (late by more than [`GRACE_NS`]) go to the oldest open
//! minute and are counted (`metrics.late_rows`), so totals stay exact. Each table holds at most
//! `max_keys` keys per minute; rows for more keys are counted (`metrics.key_overflow`) and not
//! aggregated, so memory stays bounded.
//!
//! Sans-IO: time comes from the rows and from [`Aggregator::close_until`] (the analyzer's time
//! offline, the wall clock live); the same input gives the same documents.

use std::collections::BTreeMap;

mod requests;

use super::flow_load::{self, Docs, LoadTarget, OpenConnections, Path, WindowPaths};
use super::key_table::{Place, Table};
use super::rows::PooledMeter;
use crate::metrics::doc::{
    collapse_internet, AppMeter, FlowMeter, Tags, DIRECTION_CLIENT, DIRECTION_SERVER,
};
use crate::metrics::histogram::BucketPool;
use crate::metrics::records::{
    ApplicationDoc, ApplicationDoc1s, ApplicationMapDoc, ApplicationMapDoc1s, Document, NetworkDoc,
    NetworkDoc1s, NetworkMapDoc, NetworkMapDoc1s,
};
use crate::record::{L4FlowLog, Record, RecordRef, RecordSink};

const MINUTE_US: u64 = 60_000_000;
/// How long after a minute ends its documents wait for rows (flows closed by their timeouts).
pub const GRACE_NS: u64 = 15_000_000_000;

/// `outputs.flow_metrics`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsConfig {
    pub enabled: bool,
    /// `filters.second_metrics`: also 1-second documents (live flows then report every second).
    pub second: bool,
    /// `filters.npm_metrics`: the network tables.
    pub network: bool,
    /// `filters.npm_metrics_concurrent`: the network documents' `flow_load` (open
    /// connections, [`super::flow_load`]).
    pub concurrent: bool,
    /// `filters.apm_metrics`: the application tables.
    pub application: bool,
    /// `filters.inactive_server_port_aggregation`: services that never answered are keyed with
    /// server port 0.
    pub inactive_server_port_aggregation: bool,
    /// `filters.inactive_ip_aggregation`: ends that never sent (no reply traffic) are keyed as
    /// `0.0.0.0` and get no single-end document.
    pub inactive_ip_aggregation: bool,
    /// `processors.request_log.tunning.consistent_timestamp_in_l7_metrics`: a request's
    /// response counts in the window of its request, not of its response ([`requests`]).
    pub consistent_l7_time: bool,
    /// Keys per table per minute (tapflow: `tunning.max_keys_per_window`).
    pub max_keys: usize,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            enabled: true,
            second: false,
            network: true,
            concurrent: true,
            application: true,
            inactive_server_port_aggregation: false,
            inactive_ip_aggregation: false,
            consistent_l7_time: false,
            max_keys: 4_096,
        }
    }
}

impl MetricsConfig {
    /// Bytes a key of each table takes at most (tags, meter, map overhead).
    pub const NETWORK_KEY_BYTES: usize = 2_600;
    pub const APPLICATION_KEY_BYTES: usize = 900;
    /// Paths (`flow_load`) a window and the carried open connections hold per key.
    pub const PATHS_PER_KEY: usize = 4;

    /// Paths a window holds for `flow_load`, and the carried table as many.
    pub fn max_paths(&self) -> usize {
        self.max_keys.saturating_mul(Self::PATHS_PER_KEY)
    }

    /// Most memory the windows' tables can take: two minutes are open at a time and, with
    /// `second`, four seconds (two of grace); a written window's tables are kept for the next
    /// only within those counts. With `flow_load`, each window's paths and, per window
    /// length, the carried open connections.
    pub fn memory_bytes(&self) -> usize {
        if !self.enabled {
            return 0;
        }
        let loads = usize::from(self.network && self.concurrent) * self.max_paths();
        let per_window = self.max_keys
            * (usize::from(self.network) * 2 * Self::NETWORK_KEY_BYTES
                + usize::from(self.application) * 2 * Self::APPLICATION_KEY_BYTES)
            + loads * flow_load::WINDOW_PATH_BYTES;
        let windows = 2 + if self.second { 4 } else { 0 };
        let lengths = 1 + usize::from(self.second);
        windows * per_window + lengths * loads * flow_load::OPEN_PATH_BYTES
    }
}

/// The aggregator's counters (`metrics.*` in stats.json).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MetricsCounters {
    pub documents: u64,
    pub key_overflow: u64,
    pub late_rows: u64,
    /// Paths left out of `flow_load` (a window's or the carried table full).
    pub flow_load_overflow: u64,
}

#[derive(Debug)]
struct Minute {
    network: Table<FlowMeter>,
    network_map: Table<FlowMeter>,
    application: Table<AppMeter>,
    application_map: Table<AppMeter>,
    /// The paths of the network rows, for `flow_load`.
    paths: WindowPaths,
}

impl Minute {
    fn new(keys: usize) -> Self {
        Minute {
            network: Table::new(keys),
            network_map: Table::new(keys),
            application: Table::new(keys),
            application_map: Table::new(keys),
            paths: WindowPaths::default(),
        }
    }

    fn clear(&mut self) {
        self.network.clear();
        self.network_map.clear();
        self.application.clear();
        self.application_map.clear();
        self.paths.clear();
    }

    /// The window's `flow_load`: each path's open connections (carried in `open`) added to
    /// its documents; returns the paths left out.
    fn add_loads(&mut self, open: &mut OpenConnections, max_paths: usize) -> u64 {
        let Minute {
            network,
            network_map,
            paths,
            ..
        } = self;
        open.close(
            paths,
            max_paths,
            &mut NetworkTables {
                network,
                network_map,
            },
        )
    }
}

/// A window's network tables, for `flow_load`.
struct NetworkTables<'a> {
    network: &'a mut Table<FlowMeter>,
    network_map: &'a mut Table<FlowMeter>,
}

impl LoadTarget for NetworkTables<'_> {
    fn holds(&mut self, place: Place) -> bool {
        self.network_map.at_place(place).is_some()
    }

    fn add(&mut self, docs: &Docs, load: u64) {
        let Some((tags, meter)) = self.network_map.at_place(docs.map) else {
            return;
        };
        meter.flow_load += load;
        let mut end = tags.clone();
        end.ip_1 = None;
        if docs.client_end {
            if let Some(m) = self.network.find(&end) {
                m.flow_load += load;
            }
        }
        if docs.server_end {
            end.ip = tags.ip_1.unwrap_or(tags.ip);
            end.direction = DIRECTION_SERVER;
            if let Some(m) = self.network.find(&end) {
                m.flow_load += load;
            }
        }
    }
}

/// Keys a new window's tables have room for before they grow: `max_keys`, up to this many.
const RESERVED_KEYS: usize = 1 << 16;

/// Open windows of one length (a minute, or a second).
#[derive(Debug)]
struct Windows {
    len_us: u64,
    grace_ns: u64,
    /// Room for keys in each new window's tables.
    reserve: usize,
    /// Open windows by index (window lengths since the epoch).
    open: BTreeMap<u64, Minute>,
    /// Windows before this one were written.
    closed_before: u64,
    /// A written window's tables, emptied, for the next window; kept only while fewer windows
    /// are open than the grace keeps open (two minutes, four seconds), so the spare never
    /// holds tables beyond what the open windows take at their most.
    spare: Option<Minute>,
    /// Connections open at the end of the last written window (`flow_load`).
    connections: OpenConnections,
}

impl Windows {
    fn new(len_us: u64, grace_ns: u64, max_keys: usize) -> Self {
        Windows {
            len_us,
            grace_ns,
            reserve: max_keys.min(RESERVED_KEYS),
            open: BTreeMap::new(),
            closed_before: 0,
            spare: None,
            connections: OpenConnections::default(),
        }
    }

    /// The window of time `t_us`; a window already written gives the oldest open one (`late`).
    fn at(&mut self, t_us: u64, late: &mut u64) -> &mut Minute {
        let mut w = t_us / self.len_us;
        if w < self.closed_before {
            *late += 1;
            w = self
                .open
                .keys()
                .next()
                .copied()
                .unwrap_or(self.closed_before);
        }
        let (reserve, spare) = (self.reserve, &mut self.spare);
        self.open
            .entry(w)
            .or_insert_with(|| spare.take().unwrap_or_else(|| Minute::new(reserve)))
    }

    /// Takes back a written window's tables (emptied) for a later window.
    fn recycle(&mut self, mut m: Minute) {
        let most_open = (self.grace_ns / 1_000 / self.len_us) as usize + 2;
        if self.spare.is_none() && self.open.len() < most_open {
            m.clear();
            self.spare = Some(m);
        }
    }

    /// The windows that ended `grace_ns` before `now_ns` (all with None), oldest first.
    fn take_due(&mut self, now_ns: Option<u64>) -> Vec<(u64, Minute)> {
        let done = match now_ns {
            Some(n) => n.saturating_sub(self.grace_ns) / 1_000 / self.len_us,
            None => u64::MAX,
        };
        let mut out = Vec::new();
        while let Some((&w, _)) = self.open.first_key_value() {
            if w >= done {
                break;
            }
            if let Some(m) = self.open.remove(&w) {
                self.closed_before = self.closed_before.max(w + 1);
                out.push((w * self.len_us / 1_000_000, m));
            }
        }
        if done != u64::MAX {
            self.closed_before = self.closed_before.max(done);
        }
        out
    }
}

/// Minutes (and seconds, with `second_metrics`) being aggregated.
#[derive(Debug)]
pub struct Aggregator {
    cfg: MetricsConfig,
    minutes: Windows,
    seconds: Option<Windows>,
    counters: MetricsCounters,
    /// The histograms' buckets of written documents, for the next first samples.
    buckets: BucketPool,
}

/// How long after a second ends its documents wait for rows.
const SECOND_GRACE_NS: u64 = 2_000_000_000;

impl Aggregator {
    pub fn new(cfg: MetricsConfig) -> Self {
        Aggregator {
            minutes: Windows::new(MINUTE_US, GRACE_NS, cfg.max_keys),
            seconds: cfg
                .second
                .then(|| Windows::new(1_000_000, SECOND_GRACE_NS, cfg.max_keys)),
            cfg,
            counters: MetricsCounters::default(),
            buckets: BucketPool::default(),
        }
    }

    pub fn counters(&self) -> MetricsCounters {
        self.counters
    }

    pub fn config(&self) -> &MetricsConfig {
        &self.cfg
    }

    /// Paths with connections still open, per window length (`flow_load`).
    #[cfg(test)]
    pub(super) fn open_paths(&self) -> (usize, Option<usize>) {
        (
            self.minutes.connections.len(),
            self.seconds.as_ref().map(|w| w.connections.len()),
        )
    }

    /// The windows a row of interval `[start_us, end_us]` adds to. Minute rows (no
    /// `second_metrics`) count in the minute they start in; second rows in the window of their
    /// last microsecond (a live flow's second row may start in an earlier, idle second).
    fn windows(
        &mut self,
        start_us: u64,
        end_us: u64,
    ) -> (&mut Minute, Option<&mut Minute>, &mut BucketPool) {
        let t = if self.seconds.is_some() {
            end_us.saturating_sub(1).max(start_us)
        } else {
            start_us
        };
        let late = &mut self.counters.late_rows;
        let m = self.minutes.at(t, late);
        let s = self.seconds.as_mut().map(|w| w.at(t, late));
        (m, s, &mut self.buckets)
    }

    /// Aggregates a record (other kinds pass by).
    pub fn add(&mut self, rec: RecordRef<'_>) {
        if !self.cfg.enabled {
            return;
        }
        match rec {
            RecordRef::L4FlowLog(r) if self.cfg.network => self.add_flow(r),
            RecordRef::L7FlowLog(r) if self.cfg.application => self.add_request(r),
            _ => {}
        }
    }

    fn add_flow(&mut self, r: &L4FlowLog) {
        let cfg = self.cfg.clone();
        // An end that never sent (a service that never answered, a one-way flow).
        let inactive_server = r.total_packet_rx == 0;
        let inactive_client = r.total_packet_tx == 0;
        let server_port = if cfg.inactive_server_port_aggregation && inactive_server {
            0
        } else {
            r.peers.server_port
        };
        let base = super::network_key(r, server_port);
        let unspecified = |ip: std::net::IpAddr| match ip {
            std::net::IpAddr::V4(_) => std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            std::net::IpAddr::V6(_) => std::net::IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
        };
        let inactive = cfg.inactive_ip_aggregation;
        let client_ip = if inactive && inactive_client {
            unspecified(r.peers.ip_0)
        } else {
            collapse_internet(r.peers.ip_0)
        };
        let server_ip = if inactive && inactive_server {
            unspecified(r.peers.ip_1)
        } else {
            r.peers.ip_1
        };
        let (minute, second, pool) = self.windows(r.start_time, r.end_time);
        let mut overflow = 0;
        for window in std::iter::once(minute).chain(second) {
            let ends = NetworkEnds {
                client_ip,
                server_ip,
                inactive_client,
                inactive_server,
            };
            overflow += add_flow_to((window, &mut *pool), r, &cfg, &base, ends);
        }
        self.counters.key_overflow += overflow;
    }
}

/// The ends of a flow log row as its network documents key them.
struct NetworkEnds {
    client_ip: std::net::IpAddr,
    server_ip: std::net::IpAddr,
    inactive_client: bool,
    inactive_server: bool,
}

/// Adds row `r` to its path's connections in `minute` (`flow_load`), its `network_map`
/// document at `place` (key `tags`), `ends`: whether it went to the client's and the server's
/// single-end documents. Out of line: the aggregation's loop stays small.
#[inline(never)]
fn count_path(
    minute: &mut Minute,
    r: &L4FlowLog,
    place: Place,
    tags: &Tags,
    (client_end, server_end): (bool, bool),
    max_paths: usize,
) {
    let Some(path) = Path::of(r) else {
        return;
    };
    let docs = Docs {
        map: place,
        rank: super::key_table::rank(tags),
        l7_protocol: r.l7_protocol,
        client_end,
        server_end,
    };
    minute
        .paths
        .add(path, r, docs, max_paths, &minute.network_map);
}

/// Adds flow log row `r` to one window's network tables (and its path, for `flow_load`);
/// returns the keys refused.
fn add_flow_to(
    (minute, pool): (&mut Minute, &mut BucketPool),
    r: &L4FlowLog,
    cfg: &MetricsConfig,
    base: &Tags,
    ends: NetworkEnds,
) -> u64 {
    let NetworkEnds {
        client_ip,
        server_ip,
        inactive_client,
        inactive_server,
    } = ends;
    let inactive = cfg.inactive_ip_aggregation;
    let mut overflow = 0;
    // One key, changed between the tables (a key is copied only when a table takes it).
    let mut tags = base.clone();
    // The path: client -> server.
    tags.ip = client_ip;
    tags.ip_1 = Some(server_ip);
    if let Some((place, m)) =
        minute
            .network_map
            .placed_meter(&tags, cfg.max_keys, pool, &mut overflow)
    {
        m.add_row(r, false, pool);
        // The path's connections, with the document its load goes to (only rows whose
        // document the table took: those of a key it keeps are all taken, whatever the order).
        if cfg.concurrent {
            let ends = (
                !(inactive && inactive_client),
                !(inactive && inactive_server),
            );
            count_path(minute, r, place, &tags, ends, cfg.max_paths());
        }
    }
    // Each end.
    tags.ip_1 = None;
    for (ip, server_end, skip) in [
        (client_ip, false, inactive && inactive_client),
        (server_ip, true, inactive && inactive_server),
    ] {
        if skip {
            continue;
        }
        tags.ip = ip;
        tags.direction = if server_end {
            DIRECTION_SERVER
        } else {
            DIRECTION_CLIENT
        };
        if let Some(m) = minute
            .network
            .meter(&tags, cfg.max_keys, pool, &mut overflow)
        {
            m.add_row(r, server_end, pool);
        }
    }
    overflow
}

impl Aggregator {
    /// Writes the documents of every window that ended more than its grace before `now_ns`
    /// ([`GRACE_NS`] for minutes, 2 s for seconds).
    pub fn close_until(&mut self, now_ns: u64, sink: &mut impl RecordSink) {
        self.write(Some(now_ns), sink);
    }

    /// Writes every open window (end of input, shutdown).
    pub fn finish(&mut self, sink: &mut impl RecordSink) {
        self.write(None, sink);
    }

    fn write(&mut self, now_ns: Option<u64>, sink: &mut impl RecordSink) {
        let documents = &mut self.counters.documents;
        let load_overflow = &mut self.counters.flow_load_overflow;
        let max_paths = self.cfg.max_paths();
        let pool = &mut self.buckets;
        if let Some(w) = &mut self.seconds {
            for (time, mut s) in w.take_due(now_ns) {
                *load_overflow += s.add_loads(&mut w.connections, max_paths);
                *documents += emit::<NetworkDoc1s, _>(time, &mut s.network, sink, pool);
                *documents += emit::<NetworkMapDoc1s, _>(time, &mut s.network_map, sink, pool);
                *documents += emit::<ApplicationDoc1s, _>(time, &mut s.application, sink, pool);
                *documents +=
                    emit::<ApplicationMapDoc1s, _>(time, &mut s.application_map, sink, pool);
                w.recycle(s);
            }
        }
        for (time, mut m) in self.minutes.take_due(now_ns) {
            *load_overflow += m.add_loads(&mut self.minutes.connections, max_paths);
            *documents += emit::<NetworkDoc, _>(time, &mut m.network, sink, pool);
            *documents += emit::<NetworkMapDoc, _>(time, &mut m.network_map, sink, pool);
            *documents += emit::<ApplicationDoc, _>(time, &mut m.application, sink, pool);
            *documents += emit::<ApplicationMapDoc, _>(time, &mut m.application_map, sink, pool);
            self.minutes.recycle(m);
        }
    }
}

/// Writes a table's documents in a stable order (by their tags); the table is left with its
/// keys' meters taken.
fn emit<D, M>(
    time: u64,
    table: &mut Table<M>,
    sink: &mut impl RecordSink,
    pool: &mut BucketPool,
) -> u64
where
    D: Record + From<Document<M>> + Into<Document<M>>,
    M: PooledMeter,
{
    // Sorted by position: a key and its meter (0.3-0.8 KB) move once, not per comparison.
    let docs = &mut table.entries;
    let mut order: Vec<u32> = (0..docs.len() as u32).collect();
    order.sort_by(|&a, &b| document_order(&docs[a as usize].0, &docs[b as usize].0));
    for &i in &order {
        let (tags, meter, _) = &mut docs[i as usize];
        let d = D::from(Document {
            time,
            tags: tags.clone(),
            meter: std::mem::take(meter),
        });
        sink.record(d.as_ref());
        let mut written: Document<M> = d.into();
        written.meter.release(pool);
    }
    order.len() as u64
}

/// The order of a window's documents: by path and service, then capture point and endpoint.
fn document_order(a: &Tags, b: &Tags) -> std::cmp::Ordering {
    (
        a.ip,
        a.ip_1,
        a.protocol,
        a.server_port,
        a.l7_protocol,
        a.direction,
    )
        .cmp(&(
            b.ip,
            b.ip_1,
            b.protocol,
            b.server_port,
            b.l7_protocol,
            b.direction,
        ))
        .then((a.tap_side, a.capture_network_type, a.tap_port).cmp(&(
            b.tap_side,
            b.capture_network_type,
            b.tap_port,
        )))
        .then(a.endpoint.as_bytes().cmp(b.endpoint.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::aggregate::key_table::tests::key;
    use crate::aggregate::key_table::PER_KEY_BYTES;

    #[test]
    fn the_key_budgets_cover_an_entry_and_its_index_slots() {
        let network = std::mem::size_of::<(Tags, FlowMeter, u64)>() + PER_KEY_BYTES;
        let application = std::mem::size_of::<(Tags, AppMeter, u64)>() + PER_KEY_BYTES;
        assert!(
            network <= MetricsConfig::NETWORK_KEY_BYTES,
            "{network} bytes per network key"
        );
        assert!(
            application <= MetricsConfig::APPLICATION_KEY_BYTES,
            "{application} bytes per application key"
        );
    }

    #[test]
    fn written_documents_give_their_buckets_back() {
        let mut t: Table<AppMeter> = Table::new(4);
        let (mut pool, mut overflow) = (BucketPool::default(), 0);
        for port in 0..4u16 {
            let m = t
                .meter(&key(port), 4, &mut pool, &mut overflow)
                .expect("room");
            m.rrt.record_in(u64::from(port) * 1_000, 1, &mut pool);
        }
        assert!(pool.is_empty());
        let mut written = 0;
        struct Count<'a>(&'a mut u64);
        impl RecordSink for Count<'_> {
            fn record(&mut self, _: RecordRef<'_>) {
                *self.0 += 1;
            }
        }
        assert_eq!(
            emit::<ApplicationDoc, _>(60, &mut t, &mut Count(&mut written), &mut pool),
            4
        );
        assert_eq!(written, 4);
        assert_eq!(
            pool.len(),
            4,
            "the written documents' buckets back, no more"
        );
    }

    #[test]
    fn a_written_window_lends_its_tables_to_the_next_and_spares_stay_bounded() {
        let mut w = Windows::new(MINUTE_US, GRACE_NS, 8);
        let mut late = 0;
        let _ = w
            .at(0, &mut late)
            .network
            .meter(&key(1), 8, &mut BucketPool::default(), &mut 0);
        let first = w.open[&0].network.entries.as_ptr();
        let due = w.take_due(Some(2 * MINUTE_US * 1_000));
        assert_eq!(due.len(), 1);
        for (_, m) in due {
            w.recycle(m);
        }
        let next = w.at(2 * MINUTE_US, &mut late);
        assert_eq!(
            next.network.entries.as_ptr(),
            first,
            "the tables are reused"
        );
        assert!(next.network.entries.is_empty(), "and start empty");
        // With two minutes open, a written one is not kept.
        let _ = w.at(3 * MINUTE_US, &mut late);
        w.recycle(Minute::new(8));
        assert!(w.spare.is_none());
        // Seconds: four open at most (2 s of grace).
        let mut s = Windows::new(1_000_000, SECOND_GRACE_NS, 8);
        for i in 0..3 {
            let _ = s.at(i * 1_000_000, &mut late);
        }
        s.recycle(Minute::new(8));
        assert!(s.spare.is_some());
        assert_eq!(late, 0);
    }
}

#[cfg(test)]
mod budget_tests {
    use super::*;

    #[test]
    fn second_windows_count_in_the_budget() {
        let minute = MetricsConfig::default();
        let second = MetricsConfig {
            second: true,
            ..MetricsConfig::default()
        };
        // Three times the windows (two minutes, four seconds), twice the carried connections.
        let carried = minute.max_paths() * super::flow_load::OPEN_PATH_BYTES;
        assert_eq!(
            second.memory_bytes(),
            3 * (minute.memory_bytes() - carried) + 2 * carried
        );
        let no_load = MetricsConfig {
            concurrent: false,
            ..minute.clone()
        };
        assert!(no_load.memory_bytes() < minute.memory_bytes());
        let off = MetricsConfig {
            enabled: false,
            ..second
        };
        assert_eq!(off.memory_bytes(), 0);
    }
}
