//! Record kinds and the sink contract: one macro line per kind gives the kind's name, the borrowed
//! [`RecordRef`] every sink receives, and a field in the reusable [`RecordBatch`]. A sink handles
//! every kind through [`RecordRef`] (its name and its serialisation), so adding a kind is one type
//! and one line here, not an edit in every sink.

use serde::{Serialize, Serializer};

use super::{L4FlowLog, L7FlowLog, TextBuf};
use crate::metrics::{
    ApplicationDoc, ApplicationDoc1s, ApplicationMapDoc, ApplicationMapDoc1s, NetworkDoc,
    NetworkDoc1s, NetworkMapDoc, NetworkMapDoc1s,
};

/// Where records go. Implemented by the sinks of `tapflow-control`, by the worker's batch sink in
/// `tapflow-dataplane`, by [`RecordBatch`] (every row, in memory) and by `Vec<L4FlowLog>` (l4
/// rows only) for tests.
pub trait RecordSink {
    fn record(&mut self, rec: RecordRef<'_>);

    /// A batch of records (the live output thread's unit); by default one by one.
    fn record_batch(&mut self, batch: &RecordBatch) {
        batch.for_each(|r| self.record(r));
    }

    /// Records buffered for another thread are handed over now (a live worker calls this every
    /// 100 ms and at its end); nothing to do for sinks that write as they go.
    fn flush_batches(&mut self) {}

    /// Time moved on to `now_ns` (an offline run's packet time, a live output thread's wall
    /// clock): sinks with intervals of their own may close them.
    fn tick(&mut self, _now_ns: u64) {}
}

/// A record type that travels through sinks.
pub trait Record: Clone + Serialize {
    const KIND: RecordKind;
    /// This record, borrowed as the sum type sinks take.
    fn as_ref(&self) -> RecordRef<'_>;
    /// The vector of this kind in a batch.
    fn batch_vec(batch: &mut RecordBatch) -> &mut Vec<Self>;
}

macro_rules! record_kinds {
    ($($(#[$doc:meta])* $field:ident: $ty:ident = $name:literal,)+) => {
        /// Every kind of record, by DeepFlow's table name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[allow(clippy::enum_variant_names)]
        pub enum RecordKind {
            $($(#[$doc])* $ty,)+
        }

        impl RecordKind {
            pub const ALL: &'static [RecordKind] = &[$(RecordKind::$ty,)+];

            /// DeepFlow's table name (`l4_flow_log`, ...): also the name of its output file.
            pub fn name(self) -> &'static str {
                match self {
                    $(RecordKind::$ty => $name,)+
                }
            }
        }

        /// One record of any kind, borrowed.
        #[derive(Debug, Clone, Copy)]
        pub enum RecordRef<'a> {
            $($ty(&'a $ty),)+
        }

        impl RecordRef<'_> {
            pub fn kind(&self) -> RecordKind {
                match self {
                    $(RecordRef::$ty(_) => RecordKind::$ty,)+
                }
            }
        }

        impl Serialize for RecordRef<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                match self {
                    $(RecordRef::$ty(r) => r.serialize(s),)+
                }
            }
        }

        $(impl Record for $ty {
            const KIND: RecordKind = RecordKind::$ty;
            fn as_ref(&self) -> RecordRef<'_> {
                RecordRef::$ty(self)
            }
            fn batch_vec(batch: &mut RecordBatch) -> &mut Vec<Self> {
                &mut batch.$field
            }
        })+

        /// Owned records of every kind, in arrival order per kind. Batches are reused: `clear`
        /// keeps their memory.
        #[derive(Debug, Clone, Default)]
        pub struct RecordBatch {
            $(pub $field: Vec<$ty>,)+
            /// The l4 rows already rendered as lines by the thread that made them, when it was
            /// asked to (empty otherwise): line `i` is `l4[i]`.
            pub l4_lines: RenderedLines,
            /// The l7 rows so rendered: line `i` is `l7[i]`.
            pub l7_lines: RenderedLines,
        }

        impl RecordBatch {
            /// Room for `n` records of each kind.
            pub fn with_capacity(n: usize) -> Self {
                RecordBatch {
                    $($field: Vec::with_capacity(n),)+
                    l4_lines: RenderedLines::default(),
                    l7_lines: RenderedLines::default(),
                }
            }

            /// Records of every kind.
            pub fn len(&self) -> usize {
                0 $(+ self.$field.len())+
            }

            pub fn is_empty(&self) -> bool {
                self.len() == 0
            }

            /// Empties the batch, keeping its memory.
            pub fn clear(&mut self) {
                $(self.$field.clear();)+
                self.l4_lines.clear();
                self.l7_lines.clear();
            }

            /// Every record, kind by kind.
            pub fn for_each(&self, mut f: impl FnMut(RecordRef<'_>)) {
                $(for r in &self.$field {
                    f(RecordRef::$ty(r));
                })+
            }

            /// The longest per-kind vector (a batch is full when one kind fills up).
            pub fn max_kind_len(&self) -> usize {
                0 $(.max(self.$field.len()))+
            }
        }

        impl RecordSink for RecordBatch {
            fn record(&mut self, rec: RecordRef<'_>) {
                match rec {
                    $(RecordRef::$ty(r) => self.$field.push(r.clone()),)+
                }
            }
        }
    };
}

record_kinds! {
    /// `l4_flow_log`: one row per flow and per minute of a long flow.
    l4: L4FlowLog = "l4_flow_log",
    /// `l7_flow_log`: one row per request/response session.
    l7: L7FlowLog = "l7_flow_log",
    /// `flow_metrics.network.1m`: per end of the flows, per minute.
    network_1m: NetworkDoc = "flow_metrics.network.1m",
    /// `flow_metrics.network_map.1m`: per client -> server path, per minute.
    network_map_1m: NetworkMapDoc = "flow_metrics.network_map.1m",
    /// `flow_metrics.application.1m`: per service and endpoint, per minute.
    application_1m: ApplicationDoc = "flow_metrics.application.1m",
    /// `flow_metrics.application_map.1m`: per client -> service path and endpoint, per minute.
    application_map_1m: ApplicationMapDoc = "flow_metrics.application_map.1m",
    /// `flow_metrics.network.1s` (with `second_metrics`).
    network_1s: NetworkDoc1s = "flow_metrics.network.1s",
    /// `flow_metrics.network_map.1s`.
    network_map_1s: NetworkMapDoc1s = "flow_metrics.network_map.1s",
    /// `flow_metrics.application.1s`.
    application_1s: ApplicationDoc1s = "flow_metrics.application.1s",
    /// `flow_metrics.application_map.1s`.
    application_map_1s: ApplicationMapDoc1s = "flow_metrics.application_map.1s",
}

impl RecordBatch {
    /// Room for `n` flow and request log rows (what analyzers produce; documents come from the
    /// output stage's aggregation).
    pub fn flow_logs_with_capacity(n: usize) -> Self {
        RecordBatch {
            l4: Vec::with_capacity(n),
            l7: Vec::with_capacity(n),
            ..RecordBatch::default()
        }
    }

    /// Bytes a [`RecordBatch::flow_logs_with_capacity`] batch of `n` holds when full.
    pub fn flow_logs_bytes(n: usize) -> u64 {
        (n * (std::mem::size_of::<L4FlowLog>() + std::mem::size_of::<L7FlowLog>())) as u64
    }

    /// Appends a copy of `rec` to the vector of its kind.
    pub fn push<R: Record>(&mut self, rec: &R) {
        R::batch_vec(self).push(rec.clone());
    }
}

/// Rows rendered as text lines (each with its line end), one buffer for all: offline workers
/// render their l4 rows so that the one thread writing files only copies bytes.
#[derive(Debug, Clone, Default)]
pub struct RenderedLines {
    bytes: TextBuf,
    /// Where each line ends in `bytes`.
    ends: Vec<u32>,
}

impl RenderedLines {
    /// Appends one line, written by `render` (which adds the line end).
    pub fn push_with(&mut self, render: impl FnOnce(&mut TextBuf)) {
        render(&mut self.bytes);
        self.ends.push(self.bytes.len() as u32);
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Empties the lines, keeping their memory.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
    }

    /// Every line, one after the other (each with its line end).
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.as_bytes()
    }

    /// Every line, in order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        let bytes = self.bytes.as_bytes();
        starts
            .zip(self.ends.iter().copied())
            .map(|(a, b)| &bytes[a as usize..b as usize])
    }
}

/// Every row, in memory (tests, small captures).
pub type Collected = RecordBatch;

/// Keeps the l4 rows only.
impl RecordSink for Vec<L4FlowLog> {
    fn record(&mut self, rec: RecordRef<'_>) {
        if let RecordRef::L4FlowLog(r) = rec {
            self.push(*r);
        }
    }
}

/// Sends every record to both sinks.
impl<A: RecordSink, B: RecordSink> RecordSink for (A, B) {
    fn record(&mut self, rec: RecordRef<'_>) {
        self.0.record(rec);
        self.1.record(rec);
    }
}

impl<S: RecordSink + ?Sized> RecordSink for &mut S {
    fn record(&mut self, rec: RecordRef<'_>) {
        (**self).record(rec);
    }

    fn record_batch(&mut self, batch: &RecordBatch) {
        (**self).record_batch(batch);
    }

    fn flush_batches(&mut self) {
        (**self).flush_batches();
    }

    fn tick(&mut self, now_ns: u64) {
        (**self).tick(now_ns);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_lines_keep_their_bounds_and_clear_with_the_batch() {
        let mut b = RecordBatch::flow_logs_with_capacity(4);
        for text in ["{\"a\":1}\n", "\n", "{\"b\":[2,3]}\n"] {
            b.l4_lines
                .push_with(|out| out.extend_from_slice(text.as_bytes()));
        }
        let lines: Vec<&[u8]> = b.l4_lines.iter().collect();
        assert_eq!(
            lines,
            [&b"{\"a\":1}\n"[..], &b"\n"[..], &b"{\"b\":[2,3]}\n"[..]]
        );
        assert_eq!(b.l4_lines.len(), 3);
        assert!(b.is_empty(), "lines are not records");
        b.clear();
        assert!(b.l4_lines.is_empty());
        assert_eq!(b.l4_lines.iter().count(), 0);
    }
}
