//! Processes on packet rows (`tapflow run --ebpf`): the syscall tracer's rows say which local
//! process owns each end of a connection; packet rows of the same connection (flow logs and
//! request logs captured on this host) get the same process ids and names. A packet row of a
//! local address whose connection the tracer has not named yet waits up to a second (bounded),
//! then goes on as it is; rows of other hosts' traffic pass at once.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::IpAddr;

use tapflow_analyzer::inline::InlineBytes;
use tapflow_analyzer::record::l7::SIGNAL_SOURCE_EBPF;
use tapflow_analyzer::record::{FlowPeers, ProcessPair};
use tapflow_analyzer::{L4FlowLog, L7FlowLog, RecordBatch, RecordRef, RecordSink};

type Ep = (IpAddr, u16);
type Owner = (u32, InlineBytes<16>);

fn ends(p: &FlowPeers) -> (Ep, Ep) {
    ((p.ip_0, p.client_port), (p.ip_1, p.server_port))
}

/// A connection's two ends in a fixed order (for the waiting counts).
fn pair(a: Ep, b: Ep) -> (Ep, Ep) {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

/// A packet row waiting for its connection's processes.
enum Held {
    L4(Box<L4FlowLog>),
    L7(Box<L7FlowLog>),
}

impl Held {
    fn peers(&self) -> &FlowPeers {
        match self {
            Held::L4(r) => &r.peers,
            Held::L7(r) => &r.peers,
        }
    }
}

/// How long a packet row waits, ns of the output's clock.
const HOLD_NS: u64 = 1_000_000_000;
/// Most rows waiting; more go on untagged (counted).
const HOLD_MAX: usize = 4_096;
/// Most connection ends remembered (then forgotten all at once, counted).
const OWNERS_MAX: usize = 131_072;

/// Counters of the join.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JoinCounters {
    pub tagged_l4: u64,
    pub tagged_l7: u64,
    /// Rows of a local address that waited their second and went on without processes.
    pub untagged: u64,
    /// Rows that could not wait (the queue was full).
    pub hold_full: u64,
    pub owners_forgotten: u64,
}

/// A sink in front of the output that puts processes on packet rows.
pub struct ProcessJoin<'a> {
    inner: &'a mut dyn RecordSink,
    /// (local end, remote end) -> the process owning the local end.
    owners: HashMap<(Ep, Ep), Owner>,
    /// Addresses traced processes used: only their rows wait.
    local_ips: HashSet<IpAddr>,
    held: VecDeque<(u64, Held)>,
    /// Rows waiting, by connection.
    waiting: HashMap<(Ep, Ep), u32>,
    now_ns: u64,
    pub counters: JoinCounters,
}

impl std::fmt::Debug for ProcessJoin<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessJoin")
            .field("owners", &self.owners.len())
            .field("held", &self.held.len())
            .field("counters", &self.counters)
            .finish()
    }
}

impl<'a> ProcessJoin<'a> {
    /// A join in front of `inner`; `local_ips`: this host's addresses (rows of connections
    /// between other hosts never wait).
    pub fn with_local_ips(inner: &'a mut dyn RecordSink, local_ips: &[IpAddr]) -> Self {
        let mut j = ProcessJoin::new(inner);
        j.local_ips.extend(local_ips.iter().copied());
        j
    }

    pub fn new(inner: &'a mut dyn RecordSink) -> Self {
        ProcessJoin {
            inner,
            owners: HashMap::new(),
            local_ips: HashSet::new(),
            held: VecDeque::new(),
            waiting: HashMap::new(),
            now_ns: 0,
            counters: JoinCounters::default(),
        }
    }

    /// Learns the owners a tracer row names; true when rows wait for this connection.
    fn learn(&mut self, r: &L7FlowLog) -> bool {
        if self.owners.len() >= OWNERS_MAX {
            self.owners.clear();
            self.counters.owners_forgotten += 1;
        }
        let (c, s) = ends(&r.peers);
        let f = &r.syscall;
        if f.process_id_0 != 0 {
            self.owners
                .insert((c, s), (f.process_id_0, f.process_kname_0));
            self.local_ips.insert(c.0);
        }
        if f.process_id_1 != 0 {
            self.owners
                .insert((s, c), (f.process_id_1, f.process_kname_1));
            self.local_ips.insert(s.0);
        }
        self.waiting.contains_key(&pair(c, s))
    }

    /// The processes of a packet row's connection.
    fn processes(&self, p: &FlowPeers) -> Option<ProcessPair> {
        let (c, s) = ends(p);
        let client = self.owners.get(&(c, s));
        let server = self.owners.get(&(s, c));
        if client.is_none() && server.is_none() {
            return None;
        }
        let mut pp = ProcessPair::default();
        if let Some(&(pid, k)) = client {
            (pp.process_id_0, pp.process_kname_0) = (pid, k);
        }
        if let Some(&(pid, k)) = server {
            (pp.process_id_1, pp.process_kname_1) = (pid, k);
        }
        Some(pp)
    }

    fn forward(&mut self, h: &Held) {
        match h {
            Held::L4(r) => self.inner.record(RecordRef::L4FlowLog(r)),
            Held::L7(r) => self.inner.record(RecordRef::L7FlowLog(r)),
        }
    }

    /// Tags `h` when its processes are known; whether it was.
    fn tag(&mut self, h: &mut Held) -> bool {
        let Some(pp) = self.processes(h.peers()) else {
            return false;
        };
        match h {
            Held::L4(r) => {
                r.processes = pp;
                self.counters.tagged_l4 += 1;
            }
            Held::L7(r) => {
                pp.apply_to(&mut r.syscall);
                self.counters.tagged_l7 += 1;
            }
        }
        true
    }

    /// A packet row: tagged and forwarded, forwarded as it is (not a local address), or held.
    fn packet_row(&mut self, rec: RecordRef<'_>, peers: &FlowPeers) {
        let (c, s) = ends(peers);
        let local = self.local_ips.contains(&c.0) || self.local_ips.contains(&s.0);
        let known = self.processes(peers).is_some();
        if !known && !local {
            self.inner.record(rec);
            return;
        }
        let mut h = match rec {
            RecordRef::L4FlowLog(r) => Held::L4(Box::new(*r)),
            RecordRef::L7FlowLog(r) => Held::L7(Box::new(r.clone())),
            other => {
                self.inner.record(other);
                return;
            }
        };
        if self.tag(&mut h) {
            self.forward(&h);
            return;
        }
        if self.held.len() >= HOLD_MAX {
            self.counters.hold_full += 1;
            self.forward(&h);
            return;
        }
        *self.waiting.entry(pair(c, s)).or_default() += 1;
        self.held.push_back((self.now_ns, h));
    }

    fn unwait(&mut self, h: &Held) {
        let (c, s) = ends(h.peers());
        if let Some(n) = self.waiting.get_mut(&pair(c, s)) {
            *n -= 1;
            if *n == 0 {
                self.waiting.remove(&pair(c, s));
            }
        }
    }

    /// Waiting rows that can be tagged now go on; so do those whose second passed (or all,
    /// `everything`).
    fn release(&mut self, everything: bool) {
        let mut keep = VecDeque::with_capacity(self.held.len());
        while let Some((at, mut h)) = self.held.pop_front() {
            let due = everything || self.now_ns >= at.saturating_add(HOLD_NS);
            let tagged = self.tag(&mut h);
            if tagged || due {
                self.counters.untagged += u64::from(!tagged);
                self.unwait(&h);
                self.forward(&h);
            } else {
                keep.push_back((at, h));
            }
        }
        self.held = keep;
    }

    /// Every waiting row goes on (the end of the run).
    pub fn finish(&mut self) {
        self.release(true);
    }
}

impl RecordSink for ProcessJoin<'_> {
    fn record(&mut self, rec: RecordRef<'_>) {
        match rec {
            RecordRef::L7FlowLog(r) if r.signal_source == SIGNAL_SOURCE_EBPF => {
                let someone_waits = self.learn(r);
                self.inner.record(rec);
                if someone_waits {
                    self.release(false);
                }
            }
            RecordRef::L7FlowLog(r) => self.packet_row(rec, &r.peers),
            RecordRef::L4FlowLog(r) => self.packet_row(rec, &r.peers),
            other => self.inner.record(other),
        }
    }

    fn record_batch(&mut self, batch: &RecordBatch) {
        batch.for_each(|r| self.record(r));
    }

    fn flush_batches(&mut self) {
        self.inner.flush_batches();
    }

    fn tick(&mut self, now_ns: u64) {
        self.now_ns = now_ns;
        if self
            .held
            .front()
            .is_some_and(|(at, _)| now_ns >= at.saturating_add(HOLD_NS))
        {
            self.release(false);
        }
        self.inner.tick(now_ns);
    }
}

#[cfg(test)]
#[path = "process_join_tests.rs"]
mod tests;
