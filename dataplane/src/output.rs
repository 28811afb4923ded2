//! Records leave workers in batches over bounded wait-free SPSC rings to one output thread that
//! writes the sinks. A live worker's full ring drops the batch and counts it: live workers never
//! block on output. Batches are reused: the output thread empties each one and sends it back on
//! a second ring, so after warm-up no batch is allocated. An offline worker is lossless, and its
//! [`Outlet`] may take a batch straight to the sinks when no other thread is writing them
//! (`split`: the batch then stays with its worker).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tapflow_analyzer::{RecordBatch, RecordRef, RecordSink};

use crate::nap::nap;

/// Records of one kind per batch (a batch is sent when one kind fills up).
pub const BATCH: usize = 256;

/// The worker side: collects records, hands full batches to the output thread.
#[derive(Debug)]
pub struct BatchSink {
    producer: rtrb::Producer<RecordBatch>,
    /// Emptied batches coming back from the output thread.
    recycled: rtrb::Consumer<RecordBatch>,
    batch: RecordBatch,
    /// Records dropped because the output thread fell behind.
    pub dropped: u64,
    /// Offline: wait for room instead of dropping (the output thread never waits on workers).
    lossless: bool,
    /// Applied to each batch before it is handed over (rendering its rows, so that the output
    /// thread does not).
    render: Option<fn(&mut RecordBatch)>,
}

/// The output side of one worker's ring.
#[derive(Debug)]
pub struct BatchReceiver {
    consumer: rtrb::Consumer<RecordBatch>,
    recycle: rtrb::Producer<RecordBatch>,
}

/// A ring of `capacity` batches between one worker and the output thread (and the ring that
/// brings them back).
pub fn batch_channel(capacity: usize) -> (BatchSink, BatchReceiver) {
    let (producer, consumer) = rtrb::RingBuffer::new(capacity.max(1));
    let (recycle, recycled) = rtrb::RingBuffer::new(capacity.max(1) + 1);
    (
        BatchSink {
            producer,
            recycled,
            batch: RecordBatch::flow_logs_with_capacity(BATCH),
            dropped: 0,
            lossless: false,
            render: None,
        },
        BatchReceiver { consumer, recycle },
    )
}

impl BatchSink {
    /// This sink waits for the output thread when its ring is full (offline runs: every record
    /// is written) instead of dropping and counting.
    pub fn lossless(mut self) -> Self {
        self.lossless = true;
        self
    }

    /// Each batch goes through `render` on this (the worker's) thread before it is handed over.
    pub fn rendering(mut self, render: Option<fn(&mut RecordBatch)>) -> Self {
        self.render = render;
        self
    }
}

/// Where a worker's batches go besides its ring: the output itself, when it is free (offline
/// workers, `split`), or nowhere (live workers: the output thread writes).
pub trait Outlet {
    /// Writes `batch` (rendered) now and true, or false when the output is busy.
    fn write_now(&self, batch: &RecordBatch) -> bool;

    /// The ring is full (lossless): make room or wait a little.
    fn wait(&self);
}

/// Batches go over the ring only; a full ring is waited on with a nap.
#[derive(Debug, Clone, Copy)]
pub struct RingOnly;

impl Outlet for RingOnly {
    fn write_now(&self, _: &RecordBatch) -> bool {
        false
    }

    fn wait(&self) {
        nap();
    }
}

impl BatchSink {
    /// [`RecordSink::record`], with `outlet` for a full batch.
    #[inline]
    pub fn record_to(&mut self, rec: RecordRef<'_>, outlet: &(impl Outlet + ?Sized)) {
        self.batch.record(rec);
        if self.batch.max_kind_len() >= BATCH {
            self.flush_to(outlet);
        }
    }

    /// [`RecordSink::flush_batches`]: the batch is rendered, then written through `outlet` if
    /// it is free (the batch, emptied, is the next one: still in this core's cache), else
    /// handed over on the ring (`outlet` waited on while the ring is full, lossless).
    pub fn flush_to(&mut self, outlet: &(impl Outlet + ?Sized)) {
        if self.batch.is_empty() {
            return;
        }
        if let Some(render) = self.render {
            render(&mut self.batch);
        }
        if outlet.write_now(&self.batch) {
            self.batch.clear();
            return;
        }
        let fresh = self
            .recycled
            .pop()
            .unwrap_or_else(|_| RecordBatch::flow_logs_with_capacity(BATCH));
        let mut batch = std::mem::replace(&mut self.batch, fresh);
        let n = batch.len() as u64;
        while self.lossless {
            match self.producer.push(batch) {
                Ok(()) => return,
                Err(rtrb::PushError::Full(b)) => {
                    batch = b;
                    outlet.wait();
                }
            }
        }
        if let Err(rtrb::PushError::Full(mut b)) = self.producer.push(batch) {
            self.dropped += n;
            // Keep the memory: the dropped batch becomes the next one.
            b.clear();
            self.batch = b;
        }
    }
}

impl RecordSink for BatchSink {
    fn record(&mut self, rec: RecordRef<'_>) {
        self.record_to(rec, &RingOnly);
    }

    fn flush_batches(&mut self) {
        self.flush_to(&RingOnly);
    }
}

/// Moves every batch waiting on `rings` into `sink` (true when there was one) and forgets the
/// rings whose worker is gone and that are empty.
pub fn drain_rings(rings: &mut Vec<BatchReceiver>, sink: &mut impl RecordSink) -> bool {
    let mut moved = false;
    for r in rings.iter_mut() {
        while let Ok(mut batch) = r.consumer.pop() {
            sink.record_batch(&batch);
            batch.clear();
            // A worker that is gone, or a full return ring: the batch is freed here.
            let _ = r.recycle.push(batch);
            moved = true;
        }
    }
    rings.retain(|r| !(r.consumer.is_abandoned() && r.consumer.is_empty()));
    moved
}

/// Moves batches from every worker ring into `sink` until all workers are gone and the rings
/// are empty; about every 10 ms ticks the sink with the wall clock and calls `tick` (summary
/// line, stop conditions).
pub fn run_output(
    mut rings: Vec<BatchReceiver>,
    sink: &mut impl RecordSink,
    mut tick: impl FnMut(),
) {
    loop {
        let moved = drain_rings(&mut rings, sink);
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        sink.tick(wall);
        tick();
        if rings.is_empty() {
            return;
        }
        if !moved {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_come_back_and_are_reused() {
        let (mut sink, rx) = batch_channel(4);
        let row = tapflow_analyzer::L7FlowLog::default();
        for _ in 0..3 {
            sink.record(RecordRef::L7FlowLog(&row));
            sink.flush_batches();
        }
        let mut seen = 0;
        let mut rings = vec![rx];
        // Drain once by hand (run_output returns only when the worker side is gone).
        for r in rings.iter_mut() {
            while let Ok(mut b) = r.consumer.pop() {
                seen += b.l7.len();
                b.clear();
                r.recycle.push(b).unwrap();
            }
        }
        assert_eq!(seen, 3);
        sink.record(RecordRef::L7FlowLog(&row));
        sink.flush_batches();
        assert!(sink.recycled.slots() < 4, "a returned batch was taken");
        drop(sink);
        let mut out = RecordBatch::default();
        run_output(rings, &mut out, || {});
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn a_rendering_sink_renders_each_batch_before_handing_it_over() {
        fn one_line_per_l7_row(b: &mut RecordBatch) {
            for _ in &b.l7 {
                b.l4_lines.push_with(|out| out.extend_from_slice(b"x\n"));
            }
        }
        let (sink, rx) = batch_channel(4);
        let mut sink = sink.rendering(Some(one_line_per_l7_row));
        let row = tapflow_analyzer::L7FlowLog::default();
        sink.record(RecordRef::L7FlowLog(&row));
        sink.record(RecordRef::L7FlowLog(&row));
        sink.flush_batches();
        drop(sink);
        let mut rx = rx;
        let mut lines = 0;
        while let Ok(b) = rx.consumer.pop() {
            assert_eq!(b.l7.len(), 2);
            lines += b.l4_lines.len();
        }
        assert_eq!(lines, 2);
    }
}
