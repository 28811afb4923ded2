//! Records leave workers in batches over bounded wait-free SPSC rings to one output thread that
//! writes the sinks. A full ring drops the batch and counts it: workers never block on output.

use std::time::Duration;

use tapflow_analyzer::{L4FlowLog, RecordSink};

use crate::worker::Flush;

/// Records per batch.
const BATCH: usize = 256;

/// The worker side: collects records, hands full batches to the output thread.
#[derive(Debug)]
pub struct BatchSink {
    producer: rtrb::Producer<Vec<L4FlowLog>>,
    batch: Vec<L4FlowLog>,
    /// Records dropped because the output thread fell behind.
    pub dropped: u64,
}

/// The output side of one worker's ring.
#[derive(Debug)]
pub struct BatchReceiver {
    consumer: rtrb::Consumer<Vec<L4FlowLog>>,
}

/// A ring of `capacity` batches between one worker and the output thread.
pub fn batch_channel(capacity: usize) -> (BatchSink, BatchReceiver) {
    let (producer, consumer) = rtrb::RingBuffer::new(capacity.max(1));
    (
        BatchSink {
            producer,
            batch: Vec::with_capacity(BATCH),
            dropped: 0,
        },
        BatchReceiver { consumer },
    )
}

impl RecordSink for BatchSink {
    fn l4_flow_log(&mut self, rec: &L4FlowLog) {
        self.batch.push(rec.clone());
        if self.batch.len() >= BATCH {
            self.flush();
        }
    }
}

impl Flush for BatchSink {
    fn flush(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        let n = batch.len() as u64;
        if self.producer.push(batch).is_err() {
            self.dropped += n;
        }
    }
}

/// Moves batches from every worker ring into `sink` until all workers are gone and the rings
/// are empty; calls `tick` about every 10 ms (summary line, stop conditions).
pub fn run_output(
    mut rings: Vec<BatchReceiver>,
    sink: &mut impl RecordSink,
    mut tick: impl FnMut(),
) {
    loop {
        let mut moved = false;
        for r in rings.iter_mut() {
            while let Ok(batch) = r.consumer.pop() {
                for rec in &batch {
                    sink.l4_flow_log(rec);
                }
                moved = true;
            }
        }
        rings.retain(|r| !(r.consumer.is_abandoned() && r.consumer.is_empty()));
        if rings.is_empty() {
            tick();
            return;
        }
        tick();
        if !moved {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
