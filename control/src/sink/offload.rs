//! The bounded hand-off between a sink that talks to a server and its IO thread (the ingester
//! sender's connection, the ClickHouse writer): a queue of at most N items, each carrying a
//! number of records, with the accounting both need. An item that finds the queue full waits
//! while the caller's policy allows, else its records are counted as dropped; at the end, what
//! is queued gets one drain timeout and the rest is counted lost. The output stage never blocks
//! without bound and memory never grows past the queue.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What the sink and its thread share.
#[derive(Debug, Default)]
pub struct OffloadState {
    /// Items queued or being written.
    in_flight: AtomicU64,
    /// Records in those items.
    in_flight_records: AtomicU64,
    /// Records dropped (queue full, given up at the end, or refused by the thread).
    dropped: AtomicU64,
    /// Items dropped.
    dropped_items: AtomicU64,
    /// The sink has gone and its drain time is over: the thread drops what it still has.
    give_up: AtomicBool,
}

impl OffloadState {
    pub fn records_queued(&self) -> u64 {
        self.in_flight_records.load(Ordering::Relaxed)
    }

    pub fn records_dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    pub fn items_dropped(&self) -> u64 {
        self.dropped_items.load(Ordering::Relaxed)
    }

    /// The thread should drop what it holds instead of retrying.
    pub fn giving_up(&self) -> bool {
        self.give_up.load(Ordering::Relaxed)
    }

    /// The thread is done with an item of `records` (written, or dropped when `!written`).
    pub fn done(&self, records: u64, written: bool) {
        if !written {
            self.count_dropped(records);
        }
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.in_flight_records.fetch_sub(records, Ordering::Relaxed);
    }

    /// Records lost before they were queued (an item that cannot be made).
    pub fn count_dropped(&self, records: u64) {
        self.dropped.fetch_add(records, Ordering::Relaxed);
        self.dropped_items.fetch_add(1, Ordering::Relaxed);
    }
}

/// The sink's side: the queue and the thread.
#[derive(Debug)]
pub struct Offload<T> {
    tx: Option<SyncSender<(T, u64)>>,
    thread: Option<JoinHandle<()>>,
    state: Arc<OffloadState>,
    drain: Duration,
    drained: bool,
}

/// The thread's side: items with their record counts.
#[derive(Debug)]
pub struct Inbox<T> {
    rx: Receiver<(T, u64)>,
    pub state: Arc<OffloadState>,
}

/// What [`Inbox::next`] found.
#[derive(Debug)]
pub enum Next<T> {
    /// An item and its records.
    Item(T, u64),
    /// Nothing within 200 ms.
    Idle,
    /// The sink has gone and the queue is empty: the thread ends.
    Closed,
}

impl<T> Inbox<T> {
    /// The next item, waiting up to 200 ms.
    pub fn next(&self) -> Next<T> {
        match self.rx.recv_timeout(Duration::from_millis(200)) {
            Ok((x, n)) => Next::Item(x, n),
            Err(RecvTimeoutError::Timeout) => Next::Idle,
            Err(RecvTimeoutError::Disconnected) => Next::Closed,
        }
    }
}

impl<T: Send + 'static> Offload<T> {
    /// A queue of `capacity` items and the thread `name` running `work` on its inbox; what is
    /// queued at the end gets `drain` to go out.
    pub fn start(
        name: &str,
        capacity: usize,
        drain: Duration,
        state: Arc<OffloadState>,
        work: impl FnOnce(Inbox<T>) + Send + 'static,
    ) -> std::io::Result<Self> {
        let (tx, rx) = std::sync::mpsc::sync_channel(capacity.max(1));
        let inbox = Inbox {
            rx,
            state: Arc::clone(&state),
        };
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || work(inbox))?;
        Ok(Offload {
            tx: Some(tx),
            thread: Some(thread),
            state,
            drain,
            drained: false,
        })
    }

    pub fn state(&self) -> &Arc<OffloadState> {
        &self.state
    }

    /// Queues `item` of `records`; when the queue is full, waits while `may_wait()` holds and
    /// `wait` has not passed, else drops it (counted). True when queued.
    pub fn push(&self, item: T, records: u64, wait: Duration, may_wait: impl Fn() -> bool) -> bool {
        let Some(tx) = &self.tx else {
            self.state.count_dropped(records);
            return false;
        };
        self.state.in_flight.fetch_add(1, Ordering::Relaxed);
        self.state
            .in_flight_records
            .fetch_add(records, Ordering::Relaxed);
        let deadline = Instant::now() + wait;
        let mut item = (item, records);
        loop {
            match tx.try_send(item) {
                Ok(()) => return true,
                Err(TrySendError::Full(x)) if may_wait() && Instant::now() < deadline => {
                    item = x;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                    self.state.done(records, false);
                    return false;
                }
            }
        }
    }

    /// Waits (up to the drain time) until the thread has taken care of everything queued.
    pub fn drain(&mut self) {
        let end = Instant::now() + self.drain;
        while self.state.in_flight.load(Ordering::Relaxed) > 0 && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(5));
        }
        self.drained = true;
    }
}

impl<T> Drop for Offload<T> {
    fn drop(&mut self) {
        // One drain time for what is queued (a flush at the end of the run already waited it),
        // then the thread drops the rest, counted, and ends.
        if !self.drained {
            let end = Instant::now() + self.drain;
            while self.state.in_flight.load(Ordering::Relaxed) > 0 && Instant::now() < end {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        self.state.give_up.store(true, Ordering::Relaxed);
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_queues_drop_and_count_and_the_end_gives_up() {
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let state = Arc::new(OffloadState::default());
        let mut o = Offload::start(
            "t",
            2,
            Duration::from_millis(50),
            state,
            move |inbox: Inbox<u32>| {
                // Stuck until told, then drops everything (a server that never answers).
                let _ = go_rx.recv();
                loop {
                    match inbox.next() {
                        Next::Item(_, n) => inbox.state.done(n, false),
                        Next::Idle => {}
                        Next::Closed => return,
                    }
                }
            },
        )
        .unwrap();
        assert!(o.push(1, 10, Duration::ZERO, || false));
        assert!(o.push(2, 10, Duration::ZERO, || false));
        // Full: no wait allowed -> dropped; a wait that expires -> dropped too.
        assert!(!o.push(3, 7, Duration::ZERO, || false));
        assert!(!o.push(4, 5, Duration::from_millis(20), || true));
        assert_eq!(o.state().records_dropped(), 12);
        assert_eq!(o.state().records_queued(), 20);
        o.drain();
        assert_eq!(
            o.state().records_queued(),
            20,
            "nothing drained: the thread is stuck"
        );
        go_tx.send(()).unwrap();
        let state = Arc::clone(o.state());
        drop(o);
        assert_eq!(state.records_queued(), 0);
        assert_eq!(state.records_dropped(), 32);
        assert_eq!(state.items_dropped(), 4);
    }
}
