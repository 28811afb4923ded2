//! AF_PACKET sockets: a TPACKET_V3 receive ring (mmap'd blocks handed between kernel and user
//! space) and a plain raw socket for transmitting frames.
//!
//! Ring contract: the mapping is `block_count` blocks of `block_size` bytes. A block belongs to
//! user space while its `block_status` has TP_STATUS_USER, and to the kernel after we store
//! TP_STATUS_KERNEL. [`RxRing::next_block`] returns a [`Block`] that borrows the ring mutably and
//! gives the block back when dropped, so a block can neither be read after release nor held twice.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

use super::{check, setsockopt};

const TPACKET_V3: libc::c_int = 2;
const TP_STATUS_KERNEL: u32 = 0;
const TP_STATUS_USER: u32 = 1;
const TP_STATUS_VLAN_VALID: u32 = 1 << 4;
const TP_STATUS_VLAN_TPID_VALID: u32 = 1 << 6;
const TP_FT_REQ_FILL_RXHASH: u32 = 1;
const PACKET_IGNORE_OUTGOING: libc::c_int = 23;
const ETH_P_ALL: u16 = 0x0003;

/// Offsets in `struct tpacket_block_desc` (version, offset_to_priv, then tpacket_hdr_v1).
mod block_hdr {
    pub(super) const STATUS: usize = 8;
    pub(super) const NUM_PKTS: usize = 12;
    pub(super) const FIRST_PKT: usize = 16;
    /// Everything before this is header; packets start at or after it.
    pub(super) const LEN: usize = 48;
}

/// Offsets in `struct tpacket3_hdr`.
mod pkt_hdr {
    pub(super) const NEXT: usize = 0;
    pub(super) const SEC: usize = 4;
    pub(super) const NSEC: usize = 8;
    pub(super) const SNAPLEN: usize = 12;
    pub(super) const LEN: usize = 16;
    pub(super) const STATUS: usize = 20;
    pub(super) const MAC: usize = 24;
    pub(super) const RXHASH: usize = 28;
    pub(super) const VLAN_TCI: usize = 32;
    pub(super) const VLAN_TPID: usize = 36;
    pub(super) const MIN: usize = 40;
}

/// Ring geometry and socket options.
#[derive(Debug, Clone, Copy)]
pub struct RingConfig {
    pub block_size: u32,
    pub block_count: u32,
    /// The kernel hands a block over after this long even when it is not full.
    pub retire_ms: u32,
    /// (group id, mode) for PACKET_FANOUT, to spread one interface over several sockets.
    pub fanout: Option<(u16, u16)>,
    /// The fanout mode a run of several sockets per interface joins them with (its group is
    /// the run's: [`RingConfig::fanout`] is set per socket).
    pub fanout_mode: u16,
    /// The steering program of a [`FANOUT_EBPF`] group (its file descriptor; the kernel keeps
    /// the program while the group uses it).
    pub fanout_program: Option<i32>,
    pub promiscuous: bool,
    /// Do not capture frames this host sends (mirror ports).
    pub ignore_outgoing: bool,
    /// Bytes of each frame the kernel copies into the ring (a one-instruction socket filter
    /// returning it when below 65535: `max_capture_packet_size`; above, whole frames).
    pub snap_len: u32,
}

impl Default for RingConfig {
    fn default() -> Self {
        RingConfig {
            block_size: 1 << 20,
            block_count: 64,
            retire_ms: 10,
            fanout: None,
            fanout_mode: FANOUT_HASH,
            fanout_program: None,
            promiscuous: true,
            ignore_outgoing: true,
            snap_len: u32::MAX,
        }
    }
}

/// Fanout modes.
pub const FANOUT_HASH: u16 = 0;
/// A BPF program steers (PACKET_FANOUT_EBPF): [`RingConfig::fanout_program`].
pub const FANOUT_EBPF: u16 = 7;
/// Sets a fanout group's steering program (include/uapi/linux/if_packet.h).
const PACKET_FANOUT_DATA: libc::c_int = 22;

/// A frame in a block.
#[derive(Debug, Clone, Copy)]
pub struct RxFrame<'a> {
    pub ts_ns: u64,
    pub wire_len: u32,
    pub rss_hash: u32,
    /// VLAN tag the NIC / kernel stripped (TPID, TCI), to be put back by the caller.
    pub vlan: Option<(u16, u16)>,
    pub data: &'a [u8],
}

/// Kernel counters since the last read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RingStats {
    pub packets: u64,
    pub drops: u64,
    pub freezes: u64,
}

/// A TPACKET_V3 receive ring bound to one interface.
#[derive(Debug)]
pub struct RxRing {
    fd: OwnedFd,
    map: NonNull<u8>,
    map_len: usize,
    block_size: usize,
    block_count: usize,
    next: usize,
    ifindex: u32,
}

// SAFETY: the ring's memory is only touched through &mut self (one thread at a time); moving the
// owner to another thread is fine.
unsafe impl Send for RxRing {}

/// A raw packet socket. `protocol` 0 receives nothing until bind(2) names the protocol and
/// the interface: a socket opened with ETH_P_ALL would queue every interface's packets (the
/// host's loopback included) in the moment before it is bound (packet(7)).
fn new_packet_socket(protocol: u16) -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2) call; the returned fd is owned by the OwnedFd below.
    let fd = check(unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            i32::from(protocol.to_be()),
        )
    })?;
    // SAFETY: `fd` is a fresh, valid descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn bind(fd: &OwnedFd, ifindex: u32) -> io::Result<()> {
    // SAFETY: sockaddr_ll is plain data; zeroed is valid and we fill the fields we need.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = ETH_P_ALL.to_be();
    sll.sll_ifindex = ifindex as i32;
    // SAFETY: `sll` is a valid sockaddr_ll of the size passed.
    check(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sll as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        )
    })
    .map(|_| ())
}

impl RxRing {
    /// Opens a ring on interface `ifindex`.
    pub fn open(ifindex: u32, cfg: &RingConfig) -> io::Result<Self> {
        let block_size = cfg.block_size as usize;
        if block_size < 4096 || !block_size.is_power_of_two() || cfg.block_count == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "ring blocks must be a power of two >= 4096 bytes",
            ));
        }
        let fd = new_packet_socket(0)?;
        let raw = fd.as_raw_fd();
        setsockopt(raw, libc::SOL_PACKET, libc::PACKET_VERSION, &TPACKET_V3)?;
        let frame_size: u32 = 2048;
        let req = libc::tpacket_req3 {
            tp_block_size: cfg.block_size,
            tp_block_nr: cfg.block_count,
            tp_frame_size: frame_size,
            tp_frame_nr: cfg.block_size / frame_size * cfg.block_count,
            tp_retire_blk_tov: cfg.retire_ms,
            tp_sizeof_priv: 0,
            tp_feature_req_word: TP_FT_REQ_FILL_RXHASH,
        };
        setsockopt(raw, libc::SOL_PACKET, libc::PACKET_RX_RING, &req)?;
        let map_len = block_size * cfg.block_count as usize;
        // SAFETY: mapping the ring the kernel just allocated for this socket; length matches it.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                raw,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let map =
            NonNull::new(ptr.cast::<u8>()).ok_or_else(|| io::Error::other("mmap returned NULL"))?;
        let ring = RxRing {
            fd,
            map,
            map_len,
            block_size,
            block_count: cfg.block_count as usize,
            next: 0,
            ifindex,
        };
        if cfg.ignore_outgoing {
            // Best effort: kernels before 4.20 do not know the option.
            let _ = setsockopt(raw, libc::SOL_PACKET, PACKET_IGNORE_OUTGOING, &1i32);
        }
        if cfg.snap_len < 65_535 {
            attach_snap_filter(&ring.fd, cfg.snap_len)?;
        }
        bind(&ring.fd, ifindex)?;
        if cfg.promiscuous {
            add_promiscuous_membership(&ring.fd, ifindex)?;
        }
        if let Some((group, mode)) = cfg.fanout {
            let arg: libc::c_int = i32::from(group) | (i32::from(mode) << 16);
            setsockopt(raw, libc::SOL_PACKET, libc::PACKET_FANOUT, &arg)?;
            if mode == FANOUT_EBPF {
                // Until a member sets it, the group sends every frame to its first socket.
                let prog: libc::c_int = cfg.fanout_program.ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "fanout mode 7 (ebpf) without a steering program",
                    )
                })?;
                setsockopt(raw, libc::SOL_PACKET, PACKET_FANOUT_DATA, &prog)?;
            }
        }
        Ok(ring)
    }

    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    fn block_base(&self, i: usize) -> *mut u8 {
        // SAFETY: i < block_count, so the offset stays inside the mapping.
        unsafe { self.map.as_ptr().add(i * self.block_size) }
    }

    fn status(&self, i: usize) -> &AtomicU32 {
        // SAFETY: the status word is 4-byte aligned (blocks are page aligned, offset 8) inside
        // the mapping, lives as long as `self`, and is only accessed atomically by both sides.
        unsafe { AtomicU32::from_ptr(self.block_base(i).add(block_hdr::STATUS).cast::<u32>()) }
    }

    /// The next block handed over by the kernel, waiting up to `timeout_ms` (0 = do not wait).
    pub fn next_block(&mut self, timeout_ms: i32) -> io::Result<Option<Block<'_>>> {
        if self.status(self.next).load(Ordering::Acquire) & TP_STATUS_USER == 0 {
            if timeout_ms == 0 {
                return Ok(None);
            }
            let mut pfd = libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN | libc::POLLERR,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let r = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
            if r < 0 {
                let e = io::Error::last_os_error();
                return if e.kind() == io::ErrorKind::Interrupted {
                    Ok(None)
                } else {
                    Err(e)
                };
            }
            if self.status(self.next).load(Ordering::Acquire) & TP_STATUS_USER == 0 {
                return Ok(None);
            }
        }
        let base = self.block_base(self.next);
        // SAFETY: the block is owned by user space (TP_STATUS_USER, acquired above): the kernel
        // does not write it until we store TP_STATUS_KERNEL, which only Block::drop does, after
        // the slice below is gone. The header words are read before; the slice excludes them.
        let (num, first, data) = unsafe {
            let num = base.add(block_hdr::NUM_PKTS).cast::<u32>().read();
            let first = base.add(block_hdr::FIRST_PKT).cast::<u32>().read() as usize;
            let data = std::slice::from_raw_parts(
                base.add(block_hdr::LEN),
                self.block_size - block_hdr::LEN,
            );
            (num, first, data)
        };
        let first = first.saturating_sub(block_hdr::LEN);
        Ok(Some(Block {
            idx: self.next,
            remaining: num,
            off: first,
            data,
            ring: self,
        }))
    }

    /// Kernel receive and drop counters since the last call.
    pub fn stats(&self) -> io::Result<RingStats> {
        let mut st = [0u32; 3];
        let mut len = std::mem::size_of_val(&st) as libc::socklen_t;
        // SAFETY: `st` has room for tpacket_stats_v3 (three u32) and `len` says so.
        check(unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                st.as_mut_ptr().cast(),
                &mut len,
            )
        })?;
        Ok(RingStats {
            packets: u64::from(st[0]),
            drops: u64::from(st[1]),
            freezes: u64::from(st[2]),
        })
    }
}

impl Drop for RxRing {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly what `open` mapped; no Block can be alive (they borrow self).
        unsafe { libc::munmap(self.map.as_ptr().cast(), self.map_len) };
    }
}

/// A block owned by user space; returned to the kernel on drop.
#[derive(Debug)]
pub struct Block<'a> {
    ring: &'a mut RxRing,
    idx: usize,
    remaining: u32,
    off: usize,
    data: &'a [u8],
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl Block<'_> {
    /// The block's frames, read without consuming it: each borrows the block (not a call), so
    /// all of them can be read together until the block goes back to the kernel (when dropped,
    /// which needs it mutably). Ends early where the block looks corrupt.
    pub fn frames(&self) -> BlockFrames<'_> {
        BlockFrames {
            data: self.data,
            remaining: self.remaining,
            off: self.off,
        }
    }
}

/// The frames of a [`Block`].
#[derive(Debug)]
pub struct BlockFrames<'s> {
    data: &'s [u8],
    remaining: u32,
    off: usize,
}

impl<'s> Iterator for BlockFrames<'s> {
    type Item = RxFrame<'s>;

    fn next(&mut self) -> Option<RxFrame<'s>> {
        if self.remaining == 0 || self.off + pkt_hdr::MIN > self.data.len() {
            return None;
        }
        self.remaining -= 1;
        let h = &self.data[self.off..];
        let mac = usize::from(u16::from_ne_bytes([h[pkt_hdr::MAC], h[pkt_hdr::MAC + 1]]));
        let snaplen = u32_at(h, pkt_hdr::SNAPLEN) as usize;
        let status = u32_at(h, pkt_hdr::STATUS);
        let next = u32_at(h, pkt_hdr::NEXT) as usize;
        let start = mac;
        let data = h.get(start..start + snaplen)?;
        let vlan = (status & TP_STATUS_VLAN_VALID != 0).then(|| {
            let tpid = if status & TP_STATUS_VLAN_TPID_VALID != 0 {
                u32_at(h, pkt_hdr::VLAN_TPID) as u16
            } else {
                0x8100
            };
            (tpid, u32_at(h, pkt_hdr::VLAN_TCI) as u16)
        });
        let frame = RxFrame {
            ts_ns: u64::from(u32_at(h, pkt_hdr::SEC)) * 1_000_000_000
                + u64::from(u32_at(h, pkt_hdr::NSEC)),
            wire_len: u32_at(h, pkt_hdr::LEN),
            rss_hash: u32_at(h, pkt_hdr::RXHASH),
            vlan,
            data,
        };
        self.off = if next == 0 {
            self.data.len()
        } else {
            self.off + next
        };
        Some(frame)
    }
}

impl Drop for Block<'_> {
    fn drop(&mut self) {
        let idx = self.idx;
        self.ring
            .status(idx)
            .store(TP_STATUS_KERNEL, Ordering::Release);
        self.ring.next = (idx + 1) % self.ring.block_count;
    }
}

/// A classic BPF program of one instruction, `ret #snap_len`: every frame is kept, cut to
/// `snap_len` bytes before the kernel copies it into the ring.
fn attach_snap_filter(fd: &OwnedFd, snap_len: u32) -> io::Result<()> {
    let mut insn = libc::sock_filter {
        code: 0x06, // BPF_RET | BPF_K
        jt: 0,
        jf: 0,
        k: snap_len,
    };
    let prog = libc::sock_fprog {
        len: 1,
        filter: &mut insn,
    };
    setsockopt(
        fd.as_raw_fd(),
        libc::SOL_SOCKET,
        libc::SO_ATTACH_FILTER,
        &prog,
    )?;
    Ok(())
}

/// Puts the interface in promiscuous mode for as long as `fd` is open: the kernel counts the
/// membership and takes it back when the socket closes, also when the process dies.
fn add_promiscuous_membership(fd: &OwnedFd, ifindex: u32) -> io::Result<()> {
    // SAFETY: packet_mreq is plain data; zeroed is valid.
    let mut mr: libc::packet_mreq = unsafe { std::mem::zeroed() };
    mr.mr_ifindex = ifindex as i32;
    mr.mr_type = libc::PACKET_MR_PROMISC as u16;
    setsockopt(
        fd.as_raw_fd(),
        libc::SOL_PACKET,
        libc::PACKET_ADD_MEMBERSHIP,
        &mr,
    )?;
    Ok(())
}

/// An interface held in promiscuous mode while this lives (for engines whose own socket cannot
/// ask for it: AF_XDP). A packet socket of protocol 0, which receives nothing, holds the
/// membership; dropping it (or the process ending) gives the mode back, so an interface never
/// stays promiscuous after tapflow.
#[derive(Debug)]
pub struct Promiscuous {
    _fd: OwnedFd,
}

impl Promiscuous {
    pub fn hold(ifindex: u32) -> io::Result<Self> {
        let fd = new_packet_socket(0)?;
        add_promiscuous_membership(&fd, ifindex)?;
        Ok(Promiscuous { _fd: fd })
    }
}

/// A raw socket that sends whole Ethernet frames out of one interface.
#[derive(Debug)]
pub struct Injector {
    fd: OwnedFd,
}

impl Injector {
    pub fn open(ifindex: u32) -> io::Result<Self> {
        let fd = new_packet_socket(ETH_P_ALL)?;
        bind(&fd, ifindex)?;
        Ok(Injector { fd })
    }

    /// Sends up to 64 frames in one sendmmsg(2); returns how many the kernel took.
    pub fn send_batch(&self, frames: &[&[u8]]) -> io::Result<usize> {
        const MAX: usize = 64;
        let n = frames.len().min(MAX);
        if n == 0 {
            return Ok(0);
        }
        // SAFETY: iovec and mmsghdr are plain data; zeroed values are valid and filled below.
        let mut iov: [libc::iovec; MAX] = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let mut msgs: [libc::mmsghdr; MAX] = unsafe { std::mem::zeroed() };
        for i in 0..n {
            iov[i] = libc::iovec {
                iov_base: frames[i].as_ptr() as *mut libc::c_void,
                iov_len: frames[i].len(),
            };
            msgs[i].msg_hdr.msg_iov = &mut iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: `msgs[..n]` each point to one iovec over a live frame borrowed for this call;
        // the kernel only reads the frames.
        let sent = unsafe { libc::sendmmsg(self.fd.as_raw_fd(), msgs.as_mut_ptr(), n as u32, 0) };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(sent as usize)
    }

    /// Sends one frame; `WouldBlock`/`ENOBUFS` are returned to the caller to retry.
    pub fn send(&self, frame: &[u8]) -> io::Result<()> {
        // SAFETY: `frame` is a valid buffer of the length passed; the kernel only reads it.
        let n = unsafe { libc::send(self.fd.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The interface's IFF_PROMISC flag as sysfs shows it.
    fn promiscuous(name: &str) -> bool {
        let flags = std::fs::read_to_string(format!("/sys/class/net/{name}/flags")).expect("flags");
        let v = u32::from_str_radix(flags.trim().trim_start_matches("0x"), 16).expect("hex");
        v & 0x100 != 0
    }

    /// The kernel cuts each frame to `snap_len` before the ring (its length on the wire stays).
    /// Needs root: a ring on loopback.
    #[test]
    fn the_ring_holds_frames_cut_to_the_snap_length() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: needs root");
            return;
        }
        let lo = super::super::ifindex("lo").expect("lo");
        let cfg = RingConfig {
            block_size: 1 << 16,
            block_count: 4,
            snap_len: 128,
            ..RingConfig::default()
        };
        let mut ring = RxRing::open(lo, &cfg).expect("ring");
        let rx = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        tx.send_to(&[0x5a; 1200], rx.local_addr().unwrap())
            .expect("send");
        let started = std::time::Instant::now();
        let mut seen = None;
        while seen.is_none() && started.elapsed() < std::time::Duration::from_secs(5) {
            if let Some(block) = ring.next_block(100).expect("poll") {
                seen = block
                    .frames()
                    .find(|f| f.wire_len >= 1200)
                    .map(|f| (f.data.len(), f.wire_len));
            }
        }
        assert_eq!(seen, Some((128, 14 + 20 + 8 + 1200)));
    }

    /// A dummy interface is promiscuous exactly while a guard (or more) holds it. Needs root.
    #[test]
    fn promiscuous_mode_lasts_as_long_as_its_guard() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: needs root");
            return;
        }
        let name = format!("tfpr{}", std::process::id() % 100_000);
        let ip = |args: &[&str]| {
            std::process::Command::new("ip")
                .args(args)
                .status()
                .is_ok_and(|s| s.success())
        };
        if !ip(&["link", "add", &name, "type", "dummy"]) {
            eprintln!("skipped: no dummy interfaces");
            return;
        }
        let idx = super::super::ifindex(&name).expect("ifindex");
        let before = promiscuous(&name);
        let a = Promiscuous::hold(idx).expect("hold");
        let b = Promiscuous::hold(idx).expect("hold twice");
        let during = promiscuous(&name);
        drop(a);
        let one_left = promiscuous(&name);
        drop(b);
        let after = promiscuous(&name);
        ip(&["link", "del", &name]);
        assert_eq!(
            (before, during, one_left, after),
            (false, true, true, false)
        );
    }
}
