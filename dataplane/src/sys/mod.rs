//! Everything that talks to the kernel through raw FFI: the only `unsafe` code of tapflow.
//! Each unsafe block carries a `// SAFETY:` comment naming the invariant it relies on; the
//! types exported here are safe to use (ownership of kernel memory is in the types).
#![allow(unsafe_code)]

pub mod af_packet;
pub mod clock;
pub mod cpu;
#[cfg(feature = "dpdk")]
pub mod dpdk;
pub mod huge_pages;
pub mod libpcap;
pub mod prefetch;
pub mod reserved_pages;
pub mod route;
pub mod signal;
pub mod xsk;

use std::io;

/// Converts a libc return value (-1 = error) into an io::Result.
fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// The index of a network interface.
pub fn ifindex(name: &str) -> io::Result<u32> {
    let c = std::ffi::CString::new(name)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface name contains NUL"))?;
    // SAFETY: `c` is a valid NUL-terminated string that outlives the call.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if idx == 0 {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no network interface named '{name}'"),
        ));
    }
    Ok(idx)
}

fn setsockopt<T>(
    fd: libc::c_int,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    // SAFETY: `value` points to a live, initialised T of the size passed; the kernel only reads it.
    check(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    })
    .map(|_| ())
}
