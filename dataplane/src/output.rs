//! Records leave workers in batches over bounded wait-free SPSC rings to one output thread that
//! writes the sinks. A full ring drops the batch and counts it: workers never block on output.

use std::time::Duration;

use tapflow_analyzer::{L4FlowLog, L7FlowLog, RecordSink};

use crate::worker::Flush;

/// Records per batch.
const BATCH: usize = 256;

/// Records of both types on their way to the output thread.
#[derive(Debug, Default)]
pub struct Batch {
    pub l4: Vec<L4FlowLog>,
    pub l7: Vec<L7FlowLog>,
}

impl Batch {
    fn with_capacity(n: usize) -> Self {
        Batch {
            l4: Vec::with_capacity(n),
            l7: Vec::with_capacity(n),
        }
    }

    fn len(&self) -> usize {
        self.l4.len() + self.l7.len()
    }
}

/// The worker side: collects records, hands full batches to the output thread.
#[derive(Debug)]
pub struct BatchSink {
    producer: rtrb::Producer<Batch>,
    batch: Batch,
    /// Records dropped because the output thread fell behind.
    pub dropped: u64,
}

/// The output side of one worker's ring.
#[derive(Debug)]
pub struct BatchReceiver {
    consumer: rtrb::Consumer<Batch>,
}

/// A ring of `capacity` batches between one worker and the output thread.
pub fn batch_channel(capacity: usize) -> (BatchSink, BatchReceiver) {
    let (producer, consumer) = rtrb::RingBuffer::new(capacity.max(1));
    (
        BatchSink {
            producer,
            batch: Batch::with_capacity(BATCH),
            dropped: 0,
        },
        BatchReceiver { consumer },
    )
}

impl RecordSink for BatchSink {
    fn l4_flow_log(&mut self, rec: &L4FlowLog) {
        self.batch.l4.push(rec.clone());
        if self.batch.l4.len() >= BATCH {
            self.flush();
        }
    }

    fn l7_flow_log(&mut self, rec: &L7FlowLog) {
        self.batch.l7.push(rec.clone());
        if self.batch.l7.len() >= BATCH {
            self.flush();
        }
    }
}

impl Flush for BatchSink {
    fn flush(&mut self) {
        if self.batch.len() == 0 {
            return;
        }
        let batch = std::mem::replace(&mut self.batch, Batch::with_capacity(BATCH));
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
                for rec in &batch.l4 {
                    sink.l4_flow_log(rec);
                }
                for rec in &batch.l7 {
                    sink.l7_flow_log(rec);
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
