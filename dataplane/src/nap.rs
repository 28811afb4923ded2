//! How a thread of an offline run waits for another (the reader for a free lane batch, a worker
//! for frames or for room in its record ring), where losing nothing matters more than latency:
//! it sleeps briefly at once, so that the core goes to the thread it waits for. A 2-core machine
//! runs the reader, the workers and the output on two cores; waiting by yielding first (eight
//! `sched_yield`s before the first sleep) let two idle threads on one core hand it back and forth,
//! up to 170,000 context switches in a 0.6 s run of two workers on 64-byte frames (`perf stat`),
//! against 2,600-10,000 sleeping at once (docs/perf.md).

use std::time::Duration;

/// How long each wait sleeps (the kernel's timer slack adds about as much): a lane's 128
/// batches of up to 64 frames take a worker milliseconds, so the reader loses nothing by it.
const NAP: Duration = Duration::from_micros(50);

/// Waits a little for another thread.
pub(crate) fn nap() {
    std::thread::sleep(NAP);
}
