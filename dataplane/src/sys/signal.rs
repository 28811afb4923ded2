//! SIGINT / SIGTERM request a clean stop: workers finish their burst, flows are flushed. SIGHUP
//! asks for the configuration file to be read again.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);
static RESTART: AtomicBool = AtomicBool::new(false);
static RELOAD: AtomicBool = AtomicBool::new(false);

extern "C" fn on_reload(_: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    RELOAD.store(true, Ordering::Relaxed);
}

extern "C" fn on_signal(_: libc::c_int) {
    // Only atomic stores: async-signal-safe. A signal means exit, even during a restart.
    RESTART.store(false, Ordering::Relaxed);
    STOP.store(true, Ordering::Relaxed);
}

/// Installs the handlers for SIGINT and SIGTERM (stop) and SIGHUP (reload).
pub fn install_stop_handler() -> io::Result<()> {
    let handlers: [(libc::c_int, extern "C" fn(libc::c_int)); 3] = [
        (libc::SIGINT, on_signal),
        (libc::SIGTERM, on_signal),
        (libc::SIGHUP, on_reload),
    ];
    for (sig, handler) in handlers {
        // SAFETY: a zeroed sigaction is valid; we set a handler that only does an atomic store
        // (async-signal-safe) and an empty mask.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = handler as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            super::check(libc::sigaction(sig, &sa, std::ptr::null_mut()))?;
        }
    }
    Ok(())
}

/// True once a stop was requested (signal or [`request_stop`]).
pub fn stop_requested() -> bool {
    STOP.load(Ordering::Relaxed)
}

/// Requests a stop from inside the process (duration elapsed, fatal error).
pub fn request_stop() {
    STOP.store(true, Ordering::Relaxed);
}

/// Requests a clean stop of the dataplane to start it again (a new configuration).
pub fn request_restart() {
    RESTART.store(true, Ordering::Relaxed);
    STOP.store(true, Ordering::Relaxed);
}

/// After a stop: true (and the stop is cleared) when it was a restart request and no signal
/// asked to exit meanwhile.
pub fn take_restart() -> bool {
    if RESTART.swap(false, Ordering::Relaxed) {
        STOP.store(false, Ordering::Relaxed);
        return true;
    }
    false
}

/// True once (and cleared) when SIGHUP came since the last call.
pub fn take_reload() -> bool {
    RELOAD.swap(false, Ordering::Relaxed)
}
