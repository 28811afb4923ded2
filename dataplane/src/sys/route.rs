//! Asking the kernel's routing table which source address it gives datagrams to a destination
//! (`ip route get DST`'s `src`), in this network namespace or in another process's: an
//! rtnetlink socket, made in the namespace by a short-lived thread that enters it (`setns`).
//! The message layout (building the request, reading the answer) is in
//! [`crate::trace::route_source`]'s safe code; this file only moves bytes.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use super::{check, setsockopt};

/// An rtnetlink socket (NETLINK_ROUTE) bound to the namespace it was made in.
#[derive(Debug)]
pub struct RouteSocket {
    fd: OwnedFd,
}

/// How long an answer is waited for (the kernel answers at once; a bound against hangs).
const ANSWER_TIMEOUT: Duration = Duration::from_millis(200);

impl RouteSocket {
    /// A socket in the calling thread's network namespace.
    pub fn open() -> io::Result<Self> {
        // SAFETY: plain socket(2) call; the returned descriptor is owned below.
        let fd = check(unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        })?;
        // SAFETY: `fd` was just returned by socket(2) and is owned by nothing else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let tv = libc::timeval {
            tv_sec: 0,
            tv_usec: ANSWER_TIMEOUT.as_micros() as libc::suseconds_t,
        };
        setsockopt(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_RCVTIMEO, &tv)?;
        Ok(RouteSocket { fd })
    }

    /// A socket in the network namespace `ns` (an open `/proc/PID/ns/net`): a thread enters the
    /// namespace, makes the socket and ends; the socket stays in that namespace. Needs
    /// CAP_SYS_ADMIN.
    pub fn open_in(ns: &File) -> io::Result<Self> {
        let raw = ns.as_raw_fd();
        std::thread::scope(|s| {
            s.spawn(|| {
                // SAFETY: setns(2) on a descriptor that stays open for the call; it changes only
                // this thread's network namespace, and the thread ends right after.
                check(unsafe { libc::setns(raw, libc::CLONE_NEWNET) })?;
                RouteSocket::open()
            })
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("namespace thread panicked")))
        })
    }

    /// Sends one request to the kernel.
    pub fn send(&self, request: &[u8]) -> io::Result<()> {
        // SAFETY: `request` is a live buffer of the length passed; the kernel only reads it.
        let sent = unsafe {
            libc::send(
                self.fd.as_raw_fd(),
                request.as_ptr().cast(),
                request.len(),
                0,
            )
        };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Reads one answer into `buf` (waiting at most 200 ms); its length.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: `buf` is a live, writable buffer of the length passed.
        let got = unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if got < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(got as usize)
    }
}
