//! DeepFlow's `flow_load` (`npm_metrics_concurrent`, its "concurrent connections"): in each
//! window, how many connections each path had open, added to the network documents the path's
//! rows went to.
//!
//! A path is DeepFlow's quadruple: both addresses, the protocol, the server port and the
//! capture point (`tap_port`, `tap_side`, network type), without the client port, so a client's
//! pool of connections to one service is one path. A path's load in a window is the
//! connections open when the window began plus those that opened in it (closed again or not),
//! at least 1 (DeepFlow's rule). A document's `flow_load` is the sum of its paths' loads: a
//! service's single-end document sums its clients' paths, as DeepFlow's collector sums the
//! quadruples' meters. Only a path with a row in the window counts there: a path whose
//! connections all stayed idle writes no document (DeepFlow's too).
//!
//! The open connections are carried from window to window, for each window length its own,
//! as windows are written (oldest first): a flow's first row (`is_new_flow`) opens it and its
//! last row (a close type other than `forced_report`) closes it. Every flow tapflow tracks
//! ends with a row, so the counts come back to zero and a path leaves the carried table when
//! its last connection closes. TCP and UDP flows seen in packets only (DeepFlow's rule).
//!
//! Bounded: a window holds at most `max` (path, document) pairs and the carried table as many
//! paths. A full table keeps those of lowest rank: the rank of the document's key first (the
//! key tables' rank, [`super::key_table`], so the paths of the documents a full key table
//! keeps are the ones kept here), then a hash of the path, both with fixed seeds. Which paths
//! count thus does not depend on the order rows come in (`analyze --workers N` writes the same
//! loads as one worker). Rows of pairs left out are counted (`metrics.flow_load_overflow`), as
//! are the carried paths a table has no room for.

use std::collections::BinaryHeap;
use std::net::IpAddr;

use hashbrown::HashMap;

use super::key_table::{Place, Table};
use crate::flow::CloseType;
use crate::metrics::doc::FlowMeter;
use crate::record::L4FlowLog;

/// DeepFlow's quadruple: a flow's path without the client port, as six words (both
/// addresses, the capture port, the narrow fields and address families): hashed and ranked
/// word by word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Path([u64; 6]);

impl std::hash::Hash for Path {
    #[inline(always)]
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        for w in self.0 {
            state.write_u64(w);
        }
    }
}

impl Path {
    /// The path of flow log row `r`; None for rows whose connections DeepFlow does not count
    /// (not TCP or UDP, or not from packets).
    #[inline]
    pub(super) fn of(r: &L4FlowLog) -> Option<Path> {
        const TCP: u8 = 6;
        const UDP: u8 = 17;
        if r.signal_source != 0 || !matches!(r.peers.protocol, TCP | UDP) {
            return None;
        }
        let bits = |ip: &IpAddr| match ip {
            IpAddr::V4(a) => (u128::from(u32::from_be_bytes(a.octets())), false),
            IpAddr::V6(a) => (u128::from_be_bytes(a.octets()), true),
        };
        let (ip_0, v6_0) = bits(&r.peers.ip_0);
        let (ip_1, v6_1) = bits(&r.peers.ip_1);
        let narrow = u64::from(r.peers.server_port)
            | u64::from(r.peers.protocol) << 16
            | u64::from(r.tap_side) << 24
            | u64::from(r.capture_network_type) << 32
            | u64::from(v6_0) << 40
            | u64::from(v6_1) << 41;
        Some(Path([
            ip_0 as u64,
            (ip_0 >> 64) as u64,
            ip_1 as u64,
            (ip_1 >> 64) as u64,
            narrow,
            r.tap_port,
        ]))
    }

    /// The path's rank: the same in every run and process (its words ranked as the key
    /// tables rank keys).
    #[inline(always)]
    fn rank(&self) -> u64 {
        super::key_table::rank_words(&self.0, &[])
    }
}

/// The documents a row of a path went to: its `network_map` document and that key's rank,
/// and whether the row also went to the client's and the server's single-end documents (an
/// end `inactive_ip_aggregation` leaves out does not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Docs {
    pub map: Place,
    pub rank: u64,
    pub l7_protocol: u8,
    pub client_end: bool,
    pub server_end: bool,
}

/// A path's rows that went to one `network_map` key (by the key's rank).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct PathDoc {
    path: Path,
    doc: u64,
}

/// Which table entries a full table keeps: the lowest (document rank, path rank).
type Rank = (u64, u64);

/// A path's rows to one key in one window.
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    /// Flows whose first row is in the window.
    opened: u32,
    /// Flows whose last row is in the window (opened in it or before).
    closed: u32,
    rows: u32,
    /// The rows' documents, the preferred ones ([`preference`]) when they differ.
    docs: Option<Docs>,
}

/// Which of a path's documents in a window gets its load when its rows went to several (flows
/// of one path with different L7 protocols, or with one end inactive): the same whatever the
/// order the rows came in. The identified protocol wins over none; then the lower rank.
fn preference(docs: &Docs) -> (u8, bool, bool, std::cmp::Reverse<u64>) {
    (
        docs.l7_protocol,
        docs.client_end,
        docs.server_end,
        std::cmp::Reverse(docs.rank),
    )
}

/// A map of at most `max` entries that keeps those of lowest rank, whatever the order they
/// come in: a new entry of lower rank than the highest present takes its place, one of higher
/// rank is refused.
#[derive(Debug)]
struct Ranked<K, V> {
    map: HashMap<K, (Rank, V)>,
    /// Once the map has been full: ranks and keys, the highest on top (entries whose key was
    /// removed or ranked again since are skipped).
    ranks: BinaryHeap<(Rank, K)>,
}

impl<K, V> Default for Ranked<K, V> {
    fn default() -> Self {
        Ranked {
            map: HashMap::default(),
            ranks: BinaryHeap::new(),
        }
    }
}

impl<K: Copy + Eq + std::hash::Hash + Ord, V: Default> Ranked<K, V> {
    /// The value of `key` (now of rank `rank`), a new one if the map has room or holds a key
    /// of higher rank (whose value goes to `gone`); None when refused.
    fn entry(&mut self, key: K, rank: Rank, max: usize, gone: impl FnOnce(V)) -> Option<&mut V> {
        match self.map.get(&key).map(|e| e.0) {
            Some(old) if old == rank => {}
            Some(_) => {
                if !self.ranks.is_empty() {
                    self.ranks.push((rank, key));
                }
            }
            None if self.map.len() >= max => {
                if self.ranks.is_empty() {
                    self.ranks.extend(self.map.iter().map(|(k, e)| (e.0, *k)));
                }
                loop {
                    let &(top, k) = self.ranks.peek()?;
                    if self.map.get(&k).map(|e| e.0) != Some(top) {
                        self.ranks.pop();
                        continue;
                    }
                    if rank >= top {
                        return None;
                    }
                    self.ranks.pop();
                    if let Some((_, v)) = self.map.remove(&k) {
                        gone(v);
                    }
                    break;
                }
                self.ranks.push((rank, key));
            }
            None => {
                if !self.ranks.is_empty() {
                    self.ranks.push((rank, key));
                }
            }
        }
        let e = self.map.entry(key).or_insert((rank, V::default()));
        e.0 = rank;
        Some(&mut e.1)
    }

    /// A full map refuses a key of higher rank than its highest without a lookup (the heap
    /// holds every present key's rank: its top is at least the highest).
    fn refuses(&self, rank: Rank, max: usize) -> bool {
        self.map.len() >= max && self.ranks.peek().is_some_and(|&(top, _)| rank > top)
    }

    fn remove(&mut self, key: &K) {
        self.map.remove(key);
        // Entries of removed keys: dropped once they outnumber the map (built again when the
        // map is full).
        if self.ranks.len() > 2 * self.map.len() + 64 {
            self.ranks.clear();
        }
    }

    fn clear(&mut self) {
        self.map.clear();
        self.ranks.clear();
    }
}

/// One window's paths.
#[derive(Debug, Default)]
pub(super) struct WindowPaths {
    pairs: Ranked<PathDoc, Tally>,
    /// Rows left out (refused, or of a pair given up), by the position of their
    /// `network_map` document: counted when the window is written if the document is kept,
    /// so that the count does not depend on the order rows came in.
    left_out: Vec<(Place, u32)>,
    /// The `network_map` table's replacements when the pairs of given-up keys were last
    /// dropped.
    purged_at: u64,
}

impl WindowPaths {
    /// Adds row `r` of `path`, whose documents are `docs` in the window's `map` table (when
    /// the window holds `max` pairs: in place of a pair of higher rank, or left out).
    pub(super) fn add(
        &mut self,
        path: Path,
        r: &L4FlowLog,
        docs: Docs,
        max: usize,
        map: &Table<FlowMeter>,
    ) {
        let rank = (docs.rank, path.rank());
        if self.pairs.map.len() >= max && map.replaced() >= self.purged_at + (max as u64 / 4) {
            self.purge(map);
        }
        if self.pairs.refuses(rank, max) {
            self.leave_out(docs.map, 1);
            return;
        }
        let key = PathDoc {
            path,
            doc: docs.rank,
        };
        let mut gone = None;
        let entry = self.pairs.entry(key, rank, max, |t| gone = Some(t));
        let Some(t) = entry else {
            self.leave_out(docs.map, 1);
            return;
        };
        t.opened += u32::from(r.is_new_flow);
        t.closed += u32::from(r.close_type != CloseType::ForcedReport as u8);
        t.rows += 1;
        if t.docs.is_none_or(|d| preference(&docs) >= preference(&d)) {
            t.docs = Some(docs);
        }
        if let Some(Tally {
            rows,
            docs: Some(d),
            ..
        }) = gone
        {
            self.leave_out(d.map, rows);
        }
    }

    /// Drops the pairs of keys the `map` table gave up since (they are not written: nothing
    /// of theirs counts), so that a table full of them does not go through its ranks for
    /// each new pair (a SYN flood's keys replace each other thousands of times a minute).
    /// Which pairs of kept keys stay does not change: those rank below every given-up key's.
    fn purge(&mut self, map: &Table<FlowMeter>) {
        self.purged_at = map.replaced();
        self.pairs
            .map
            .retain(|_, (_, t)| t.docs.is_some_and(|d| map.holds(d.map)));
        self.pairs.ranks.clear();
    }

    fn leave_out(&mut self, place: Place, rows: u32) {
        let i = place.index();
        if i >= self.left_out.len() {
            self.left_out.resize(i + 1, (place, 0));
        }
        let slot = &mut self.left_out[i];
        if slot.0 != place {
            // The key that had this position gave it up: not written, not counted.
            *slot = (place, 0);
        }
        slot.1 = slot.1.saturating_add(rows);
    }

    pub(super) fn clear(&mut self) {
        self.pairs.clear();
        self.left_out.clear();
        self.purged_at = 0;
    }
}

/// The network tables of a window being written, as `flow_load` sees them.
pub(super) trait LoadTarget {
    /// Whether the `network_map` document at `place` is still in its table (a key of lower
    /// rank may have taken its place).
    fn holds(&mut self, place: Place) -> bool;
    /// Adds `load` to the documents `docs` names.
    fn add(&mut self, docs: &Docs, load: u64);
}

/// Connections open at the end of the last written window, per path (one table per window
/// length), ranked by the document of the path's last window.
#[derive(Debug, Default)]
pub(super) struct OpenConnections {
    paths: Ranked<Path, u32>,
    /// A written window's pairs, by path (kept between windows for their memory).
    pairs: Vec<(PathDoc, Tally)>,
    /// Paths a written window opened connections on, to be carried.
    new: Vec<(Path, Rank, u32)>,
}

impl OpenConnections {
    /// Writes window `w`'s loads into `docs`: each path's load goes to its preferred
    /// documents; then the window's openings and closings are carried (`w` is left empty).
    /// Only rows whose `network_map` document the window kept count, so that what is carried
    /// does not depend on the order rows came in (a document a full table gave up had taken
    /// some of its rows, depending on that order). Returns the paths whose connections the
    /// table has no room for.
    pub(super) fn close(
        &mut self,
        w: &mut WindowPaths,
        max: usize,
        docs: &mut impl LoadTarget,
    ) -> u64 {
        self.new.clear();
        self.pairs.clear();
        self.pairs.extend(
            w.pairs
                .map
                .drain()
                .map(|(k, (_, t))| (k, t))
                .filter(|(_, t)| t.docs.is_some_and(|d| docs.holds(d.map))),
        );
        let mut overflow = w
            .left_out
            .iter()
            .filter(|&&(place, rows)| rows > 0 && docs.holds(place))
            .map(|&(_, rows)| u64::from(rows))
            .sum();
        w.clear();
        self.pairs.sort_unstable_by_key(|(k, _)| *k);
        for group in self.pairs.chunk_by(|a, b| a.0.path == b.0.path) {
            let path = group[0].0.path;
            let (mut opened, mut closed) = (0u32, 0u32);
            let mut best: Option<Docs> = None;
            for (_, t) in group {
                opened = opened.saturating_add(t.opened);
                closed = closed.saturating_add(t.closed);
                if let Some(d) = t.docs {
                    if best.is_none_or(|b| preference(&d) > preference(&b)) {
                        best = Some(d);
                    }
                }
            }
            let Some(best) = best else { continue };
            let open = self.paths.map.get(&path).map(|e| e.1);
            let during = open.unwrap_or(0).saturating_add(opened);
            docs.add(&best, u64::from(during.max(1)));
            // A flow opened before the counts began (its path was left out then) closes
            // without having been counted: never below zero.
            let after = during.saturating_sub(closed);
            let rank = (best.rank, path.rank());
            match (open, after) {
                (Some(_), 0) => self.paths.remove(&path),
                (Some(_), n) => {
                    if let Some(v) = self.paths.entry(path, rank, usize::MAX, drop) {
                        *v = n;
                    }
                }
                (None, 0) => {}
                (None, n) => self.new.push((path, rank, n)),
            }
        }
        // Closings first, then the new paths: which paths the table keeps does not depend on
        // the order they came in.
        for &(path, rank, n) in &self.new {
            match self.paths.entry(path, rank, max, |_| overflow += 1) {
                Some(v) => *v = n,
                None => overflow += 1,
            }
        }
        overflow
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.paths.map.len()
    }
}

/// Bytes a window takes per path, and the carried table per path (entry, control byte, a
/// table at most 7/8 full, and a rank once full).
pub(super) const WINDOW_PATH_BYTES: usize = 336;
pub(super) const OPEN_PATH_BYTES: usize = 224;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budgets_cover_an_entry() {
        use std::mem::size_of;
        // An entry and a control byte in a table at most 7/8 full, and a rank in the heap.
        let slot = |entry: usize, heap: usize| (entry + 1) * 8 / 7 + 1 + heap;
        // A window's pair, and the pair in the scratch list its window is written through.
        let window = slot(
            size_of::<(PathDoc, (Rank, Tally))>(),
            size_of::<(Rank, PathDoc)>(),
        ) + size_of::<(PathDoc, Tally)>();
        // A carried path, and a path waiting to be carried.
        let open = slot(size_of::<(Path, (Rank, u32))>(), size_of::<(Rank, Path)>())
            + size_of::<(Path, Rank, u32)>();
        assert!(
            window <= WINDOW_PATH_BYTES,
            "{window} bytes per window path"
        );
        assert!(open <= OPEN_PATH_BYTES, "{open} bytes per open path");
    }

    fn path(n: u8) -> Path {
        Path([u64::from(n), 0, 0x0a00_0101, 0, 80 | 6 << 16, 0])
    }

    #[test]
    fn a_full_map_keeps_the_lowest_ranks_whatever_the_order() {
        let paths: Vec<Path> = (0..40).map(path).collect();
        let mut by_rank = paths.clone();
        by_rank.sort_by_key(Path::rank);
        let want: std::collections::BTreeSet<Path> = by_rank[..10].iter().copied().collect();
        let mut reversed = paths.clone();
        reversed.reverse();
        for order in [paths, reversed] {
            let mut m: Ranked<Path, u32> = Ranked::default();
            let mut gone = 0;
            for p in order {
                if let Some(v) = m.entry(p, (0, p.rank()), 10, |_| gone += 1) {
                    *v += 1;
                }
            }
            assert!(gone >= 10, "{gone}: the 30 refused or given up");
            let kept: std::collections::BTreeSet<Path> = m.map.keys().copied().collect();
            assert_eq!(kept, want);
            // Removed paths leave room; their stale ranks are skipped.
            for p in by_rank[..5].iter() {
                m.remove(p);
            }
            for p in by_rank[..5].iter() {
                assert!(m.entry(*p, (0, p.rank()), 10, |_| {}).is_some());
            }
            assert!(m
                .entry(by_rank[39], (0, by_rank[39].rank()), 10, |_| {})
                .is_none());
            // A key ranked again keeps its value and is given up by its new rank (the heap's
            // old entry is skipped).
            let low = by_rank[0];
            *m.entry(low, (1, 0), 10, |_| {}).expect("present") = 7;
            let mut given_up = None;
            assert!(m
                .entry(by_rank[10], (0, by_rank[10].rank()), 10, |v| given_up =
                    Some(v))
                .is_some());
            assert_eq!(given_up, Some(7));
            assert!(!m.map.contains_key(&low));
            assert_eq!(m.map.len(), 10);
        }
    }
}
