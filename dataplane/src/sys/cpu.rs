//! Pinning the calling thread to a CPU core.

use std::io;

/// Online CPUs (from sched_getaffinity of this process).
pub fn available_cores() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data; zeroed is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid cpu_set_t of the size passed.
    let ok =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) }
            == 0;
    if !ok {
        return vec![0];
    }
    // SAFETY: CPU_ISSET reads the initialised set for an index below CPU_SETSIZE.
    (0..libc::CPU_SETSIZE as usize)
        .filter(|c| unsafe { libc::CPU_ISSET(*c, &set) })
        .collect()
}

/// Pins the calling thread to `core`.
pub fn pin_current_thread(core: usize) -> io::Result<()> {
    if core >= libc::CPU_SETSIZE as usize {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("core {core} out of range"),
        ));
    }
    // SAFETY: zeroed cpu_set_t is a valid empty set; CPU_SET writes an index below CPU_SETSIZE.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above, `core` was range-checked.
    unsafe { libc::CPU_SET(core, &mut set) };
    // SAFETY: `set` is initialised and of the size passed; 0 = the calling thread.
    super::check(unsafe {
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    })
    .map(|_| ())
}
