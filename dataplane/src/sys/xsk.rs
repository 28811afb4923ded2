//! AF_XDP sockets (copy or zero-copy): a UMEM, its fill ring, and an RX ring, mapped from the
//! kernel. Only receive is implemented: tapflow captures, it does not forward.
//!
//! Ring contract (Documentation/networking/af_xdp.rst): each ring has a free-running producer
//! and consumer index; the kernel produces into RX and consumes from FILL; we do the opposite.
//! A UMEM frame is either in the fill ring (kernel's), in the RX ring (ours, until we advance
//! the RX consumer), or being refilled. [`RxBurst`] borrows the socket mutably: frames can be read
//! only while it lives, and dropping it advances RX and returns every frame to FILL at once.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

use super::{check, setsockopt};

const AF_XDP: libc::c_int = 44;
const SOL_XDP: libc::c_int = 283;
const XDP_MMAP_OFFSETS: libc::c_int = 1;
const XDP_RX_RING: libc::c_int = 2;
const XDP_UMEM_REG: libc::c_int = 4;
const XDP_UMEM_FILL_RING: libc::c_int = 5;
const XDP_UMEM_COMPLETION_RING: libc::c_int = 6;
const XDP_STATISTICS: libc::c_int = 7;
const XDP_COPY: u16 = 1 << 1;
const XDP_ZEROCOPY: u16 = 1 << 2;
const XDP_USE_NEED_WAKEUP: u16 = 1 << 3;
const XDP_PGOFF_RX_RING: libc::off_t = 0;
const XDP_UMEM_PGOFF_FILL_RING: libc::off_t = 0x1_0000_0000;
const XDP_UMEM_PGOFF_COMPLETION_RING: libc::off_t = 0x1_8000_0000;
const XDP_RING_NEED_WAKEUP: u32 = 1;
const SO_BUSY_POLL: libc::c_int = 46;
const SO_PREFER_BUSY_POLL: libc::c_int = 69;
const SO_BUSY_POLL_BUDGET: libc::c_int = 70;

#[repr(C)]
#[derive(Default, Clone, Copy)]
struct RingOffset {
    producer: u64,
    consumer: u64,
    desc: u64,
    flags: u64,
}

#[repr(C)]
#[derive(Default, Clone, Copy)]
struct MmapOffsets {
    rx: RingOffset,
    tx: RingOffset,
    fr: RingOffset,
    cr: RingOffset,
}

#[repr(C)]
struct UmemReg {
    addr: u64,
    len: u64,
    chunk_size: u32,
    headroom: u32,
    flags: u32,
    tx_metadata_len: u32,
}

#[repr(C)]
struct SockaddrXdp {
    family: u16,
    flags: u16,
    ifindex: u32,
    queue_id: u32,
    shared_umem_fd: u32,
}

/// Copy or zero-copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindMode {
    /// Let the kernel choose (zero-copy when the driver supports it).
    Auto,
    Copy,
    ZeroCopy,
}

/// Socket geometry and options.
#[derive(Debug, Clone, Copy)]
pub struct XskConfig {
    /// UMEM frames (each `frame_size` bytes); also the fill ring size. Power of two.
    pub frames: u32,
    /// 2048 or 4096.
    pub frame_size: u32,
    /// RX ring entries. Power of two.
    pub rx_size: u32,
    pub mode: BindMode,
    /// SO_BUSY_POLL microseconds with SO_PREFER_BUSY_POLL (None = off).
    pub busy_poll_us: Option<u32>,
    /// SO_BUSY_POLL_BUDGET (packets per busy-poll).
    pub busy_poll_budget: u32,
}

impl Default for XskConfig {
    fn default() -> Self {
        XskConfig {
            frames: 4096,
            frame_size: 4096,
            rx_size: 2048,
            mode: BindMode::Auto,
            busy_poll_us: Some(20),
            busy_poll_budget: 64,
        }
    }
}

/// AF_XDP drop counters (XDP_STATISTICS).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct XskStats {
    pub rx_dropped: u64,
    pub rx_invalid_descs: u64,
    pub rx_ring_full: u64,
    pub rx_fill_ring_empty: u64,
}

/// A mapped ring.
struct Ring {
    map: NonNull<u8>,
    map_len: usize,
    producer: NonNull<u32>,
    consumer: NonNull<u32>,
    flags: NonNull<u32>,
    desc: NonNull<u8>,
    mask: u32,
    size: u32,
}

impl Ring {
    fn map(
        fd: RawFd,
        off: &RingOffset,
        size: u32,
        desc_size: usize,
        pgoff: libc::off_t,
    ) -> io::Result<Ring> {
        let map_len = off.desc as usize + size as usize * desc_size;
        // SAFETY: mapping the ring the kernel allocated for this socket at its documented offset.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd,
                pgoff,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let base = ptr.cast::<u8>();
        let at = |o: u64| -> io::Result<NonNull<u8>> {
            if o as usize >= map_len {
                return Err(io::Error::other("ring offset outside the mapping"));
            }
            // SAFETY: `o` was checked to lie inside the mapping.
            NonNull::new(unsafe { base.add(o as usize) })
                .ok_or_else(|| io::Error::other("null ring"))
        };
        Ok(Ring {
            map: NonNull::new(base).ok_or_else(|| io::Error::other("mmap returned NULL"))?,
            map_len,
            producer: at(off.producer)?.cast(),
            consumer: at(off.consumer)?.cast(),
            flags: at(off.flags)?.cast(),
            desc: at(off.desc)?,
            mask: size - 1,
            size,
        })
    }

    fn producer(&self) -> &AtomicU32 {
        // SAFETY: a 4-byte aligned u32 inside the live mapping, shared with the kernel, only
        // accessed atomically.
        unsafe { AtomicU32::from_ptr(self.producer.as_ptr()) }
    }

    fn consumer(&self) -> &AtomicU32 {
        // SAFETY: as for `producer`.
        unsafe { AtomicU32::from_ptr(self.consumer.as_ptr()) }
    }

    fn needs_wakeup(&self) -> bool {
        // SAFETY: as for `producer`.
        unsafe { AtomicU32::from_ptr(self.flags.as_ptr()) }.load(Ordering::Relaxed)
            & XDP_RING_NEED_WAKEUP
            != 0
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the mapping made in `Ring::map`; nothing borrows it anymore.
        unsafe { libc::munmap(self.map.as_ptr().cast(), self.map_len) };
    }
}

/// The UMEM area: an anonymous mapping, unmapped on drop.
struct UmemArea {
    ptr: NonNull<u8>,
    len: usize,
}

impl Drop for UmemArea {
    fn drop(&mut self) {
        // SAFETY: the mapping made in XskSocket::open; the socket using it was closed before
        // (it is an earlier field of XskSocket, dropped first).
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// An AF_XDP socket bound to one (interface, queue), with its own UMEM.
pub struct XskSocket {
    // Field order = drop order: rings, then the socket, then the UMEM the kernel wrote into.
    rx: Ring,
    fill: Ring,
    _comp: Ring,
    fd: OwnedFd,
    frame_size: u32,
    /// Frames waiting to go back to the fill ring (when it had no room).
    pending_fill: Vec<u64>,
    pub zero_copy: bool,
    umem: UmemArea,
}

impl std::fmt::Debug for XskSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XskSocket")
            .field("fd", &self.fd)
            .field("zero_copy", &self.zero_copy)
            .finish()
    }
}

// SAFETY: all access to the rings and UMEM goes through &mut self; the owner may move threads.
unsafe impl Send for XskSocket {}

impl XskSocket {
    /// Creates the UMEM and socket and binds it to `ifindex` / `queue`.
    pub fn open(ifindex: u32, queue: u32, cfg: &XskConfig) -> io::Result<XskSocket> {
        if !cfg.frames.is_power_of_two()
            || !cfg.rx_size.is_power_of_two()
            || !matches!(cfg.frame_size, 2048 | 4096)
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "AF_XDP rings must be powers of two, frames 2048 or 4096 bytes",
            ));
        }
        let umem_len = cfg.frames as usize * cfg.frame_size as usize;
        // SAFETY: anonymous private mapping for the UMEM; owned by the socket and unmapped on drop.
        let area = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                umem_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        if area == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let umem = UmemArea {
            ptr: NonNull::new(area.cast::<u8>())
                .ok_or_else(|| io::Error::other("mmap returned NULL"))?,
            len: umem_len,
        };
        // On any error below, `umem` (and whatever was created) is dropped in order.
        Self::open_on(umem, ifindex, queue, cfg)
    }

    fn open_on(umem: UmemArea, ifindex: u32, queue: u32, cfg: &XskConfig) -> io::Result<XskSocket> {
        // SAFETY: plain socket(2); the descriptor is owned by the OwnedFd below.
        let raw = check(unsafe { libc::socket(AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) })?;
        // SAFETY: `raw` is a fresh descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let reg = UmemReg {
            addr: umem.ptr.as_ptr() as u64,
            len: umem.len as u64,
            chunk_size: cfg.frame_size,
            headroom: 0,
            flags: 0,
            tx_metadata_len: 0,
        };
        setsockopt(raw, SOL_XDP, XDP_UMEM_REG, &reg)?;
        setsockopt(raw, SOL_XDP, XDP_UMEM_FILL_RING, &cfg.frames)?;
        setsockopt(raw, SOL_XDP, XDP_UMEM_COMPLETION_RING, &cfg.frames)?;
        setsockopt(raw, SOL_XDP, XDP_RX_RING, &cfg.rx_size)?;
        let mut off = MmapOffsets::default();
        let mut len = std::mem::size_of::<MmapOffsets>() as libc::socklen_t;
        // SAFETY: `off` has room for struct xdp_mmap_offsets and `len` says so.
        check(unsafe {
            libc::getsockopt(
                raw,
                SOL_XDP,
                XDP_MMAP_OFFSETS,
                (&mut off as *mut MmapOffsets).cast(),
                &mut len,
            )
        })?;
        let rx = Ring::map(raw, &off.rx, cfg.rx_size, 16, XDP_PGOFF_RX_RING)?;
        let fill = Ring::map(raw, &off.fr, cfg.frames, 8, XDP_UMEM_PGOFF_FILL_RING)?;
        let comp = Ring::map(raw, &off.cr, cfg.frames, 8, XDP_UMEM_PGOFF_COMPLETION_RING)?;
        let mut sock = XskSocket {
            rx,
            fill,
            _comp: comp,
            fd,
            frame_size: cfg.frame_size,
            pending_fill: Vec::with_capacity(cfg.frames as usize),
            zero_copy: false,
            umem,
        };
        // Every frame starts in the fill ring.
        sock.pending_fill
            .extend((0..u64::from(cfg.frames)).map(|i| i * u64::from(cfg.frame_size)));
        sock.refill();
        let mode_flag = match cfg.mode {
            BindMode::Auto => 0,
            BindMode::Copy => XDP_COPY,
            BindMode::ZeroCopy => XDP_ZEROCOPY,
        };
        let addr = SockaddrXdp {
            family: AF_XDP as u16,
            flags: XDP_USE_NEED_WAKEUP | mode_flag,
            ifindex,
            queue_id: queue,
            shared_umem_fd: 0,
        };
        // SAFETY: `addr` is a valid sockaddr_xdp of the size passed.
        check(unsafe {
            libc::bind(
                raw,
                (&addr as *const SockaddrXdp).cast(),
                std::mem::size_of::<SockaddrXdp>() as u32,
            )
        })?;
        sock.zero_copy = cfg.mode == BindMode::ZeroCopy;
        if let Some(us) = cfg.busy_poll_us {
            // Best effort: preferred busy polling needs kernel 5.11+.
            let _ = setsockopt(raw, libc::SOL_SOCKET, SO_PREFER_BUSY_POLL, &1i32);
            let _ = setsockopt(raw, libc::SOL_SOCKET, SO_BUSY_POLL, &(us as i32));
            let _ = setsockopt(
                raw,
                libc::SOL_SOCKET,
                SO_BUSY_POLL_BUDGET,
                &(cfg.busy_poll_budget as i32),
            );
        }
        Ok(sock)
    }

    /// The socket descriptor (to register in the XSKMAP).
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Moves pending frames into the fill ring as far as it has room; wakes the kernel if asked.
    fn refill(&mut self) {
        if self.pending_fill.is_empty() {
            return;
        }
        let prod = self.fill.producer().load(Ordering::Relaxed);
        let cons = self.fill.consumer().load(Ordering::Acquire);
        let free = self.fill.size - prod.wrapping_sub(cons);
        let n = (free as usize).min(self.pending_fill.len());
        for i in 0..n {
            let slot = (prod.wrapping_add(i as u32) & self.fill.mask) as usize;
            let addr = self.pending_fill[self.pending_fill.len() - 1 - i];
            // SAFETY: `slot` < ring size, so the u64 descriptor lies inside the mapped ring; the
            // slot is ours until the producer store below publishes it.
            unsafe { self.fill.desc.cast::<u64>().as_ptr().add(slot).write(addr) };
        }
        let keep = self.pending_fill.len() - n;
        self.pending_fill.truncate(keep);
        self.fill
            .producer()
            .store(prod.wrapping_add(n as u32), Ordering::Release);
        if self.fill.needs_wakeup() {
            self.kick();
        }
    }

    /// Asks the kernel to process the rings (need_wakeup mode).
    fn kick(&self) {
        // SAFETY: a zero-length, non-blocking recvfrom on our own socket; no buffer is written.
        unsafe {
            libc::recvfrom(
                self.fd.as_raw_fd(),
                std::ptr::null_mut(),
                0,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
    }

    /// Frames received so far, up to `max`.
    pub fn rx_burst(&mut self, max: u32) -> RxBurst<'_> {
        let cons = self.rx.consumer().load(Ordering::Relaxed);
        let prod = self.rx.producer().load(Ordering::Acquire);
        let n = prod.wrapping_sub(cons).min(max);
        if n == 0 && self.rx.needs_wakeup() {
            self.kick();
        }
        RxBurst {
            sock: self,
            start: cons,
            n,
        }
    }

    /// Waits for frames up to `timeout_ms`.
    pub fn wait(&self, timeout_ms: i32) {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
    }

    /// Kernel drop counters (cumulative).
    pub fn stats(&self) -> io::Result<XskStats> {
        let mut st = [0u64; 6];
        let mut len = std::mem::size_of_val(&st) as libc::socklen_t;
        // SAFETY: `st` has room for struct xdp_statistics and `len` says so.
        check(unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                SOL_XDP,
                XDP_STATISTICS,
                st.as_mut_ptr().cast(),
                &mut len,
            )
        })?;
        Ok(XskStats {
            rx_dropped: st[0],
            rx_invalid_descs: st[1],
            rx_ring_full: st[3],
            rx_fill_ring_empty: st[4],
        })
    }
}

/// Frames of one RX burst; dropping it releases them to the kernel.
#[derive(Debug)]
pub struct RxBurst<'a> {
    sock: &'a mut XskSocket,
    start: u32,
    n: u32,
}

impl RxBurst<'_> {
    /// Number of frames in the burst.
    pub fn len(&self) -> u32 {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Frame `i` of the burst (None past its end or when its descriptor lies outside the
    /// UMEM). Every frame borrows the burst, not a call: all of them can be read together,
    /// until the burst gives them back (when dropped).
    pub fn frame(&self, i: u32) -> Option<&[u8]> {
        if i >= self.n {
            return None;
        }
        let idx = (self.start.wrapping_add(i) & self.sock.rx.mask) as usize;
        // SAFETY: `idx` < RX ring size; the descriptor was published by the kernel before the
        // producer index we acquired in rx_burst, and stays ours until the consumer store.
        let (addr, len) = unsafe {
            let d = self.sock.rx.desc.as_ptr().add(idx * 16);
            (d.cast::<u64>().read(), d.add(8).cast::<u32>().read())
        };
        let (addr, len) = (addr as usize, len as usize);
        if addr
            .checked_add(len)
            .is_none_or(|end| end > self.sock.umem.len)
        {
            return None;
        }
        // SAFETY: [addr, addr+len) was checked to lie inside the UMEM mapping; the kernel wrote
        // this frame before publishing the descriptor and will not reuse it until we give it
        // back through the fill ring (in Drop, which needs the burst mutably: after every
        // borrow of it, and so of this frame, has ended).
        Some(unsafe { std::slice::from_raw_parts(self.sock.umem.ptr.as_ptr().add(addr), len) })
    }
}

impl Drop for RxBurst<'_> {
    fn drop(&mut self) {
        if self.n == 0 {
            return;
        }
        let mask = !(u64::from(self.sock.frame_size) - 1);
        for i in 0..self.n {
            let idx = (self.start.wrapping_add(i) & self.sock.rx.mask) as usize;
            // SAFETY: as in next_frame: an RX descriptor we own until the consumer store below.
            let addr = unsafe {
                self.sock
                    .rx
                    .desc
                    .as_ptr()
                    .add(idx * 16)
                    .cast::<u64>()
                    .read()
            };
            self.sock.pending_fill.push(addr & mask);
        }
        self.sock
            .rx
            .consumer()
            .store(self.start.wrapping_add(self.n), Ordering::Release);
        self.sock.refill();
    }
}
