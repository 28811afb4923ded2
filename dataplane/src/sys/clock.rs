//! Clock reads the syscall tracer needs: BPF stamps events with CLOCK_MONOTONIC
//! (`bpf_ktime_get_ns`), records carry wall-clock time.

/// CLOCK_MONOTONIC and CLOCK_REALTIME now, ns.
pub fn monotonic_and_realtime_ns() -> (u64, u64) {
    let read = |clock| {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec for the duration of the call; the clock
        // ids are constants every Linux kernel supports, so the call cannot fail.
        unsafe { libc::clock_gettime(clock, &mut ts) };
        ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
    };
    let mono = read(libc::CLOCK_MONOTONIC);
    let real = read(libc::CLOCK_REALTIME);
    (mono, real)
}
