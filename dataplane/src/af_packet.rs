//! The AF_PACKET (TPACKET_V3) capture engine: for hosts or NICs without XDP, and the fallback of
//! `--engine auto`. Several sockets on one interface share the load through PACKET_FANOUT (hash:
//! both directions of a flow reach the same socket).

use tapflow_analyzer::wire::LinkType;
use tapflow_analyzer::PacketMeta;

use crate::source::{Burst, Frame, PacketSource, QueueReport, SourceError, SourceStats};
use crate::sys::af_packet::{RingConfig, RxRing};

/// Wait this long for a block before reporting Idle.
const POLL_TIMEOUT_MS: i32 = 10;
/// Frames per slice handed to the worker (a block may hold hundreds).
const CHUNK: usize = 64;

/// Scratch bytes for the frames of one slice whose VLAN tag is put back: at most a block's
/// worth of frames, 4 bytes longer each.
pub(crate) fn scratch_bytes(cfg: &RingConfig) -> usize {
    cfg.block_size as usize + 4 * CHUNK
}

/// One AF_PACKET ring as a packet source.
#[derive(Debug)]
pub struct AfPacketSource {
    ring: RxRing,
    queue: u16,
    name: String,
    /// Kernel counters accumulated (PACKET_STATISTICS resets on every read).
    kernel_packets: u64,
    kernel_drops: u64,
    freezes: u64,
    /// Frames whose stripped VLAN tag is put back (mirror tap_type needs it), one slice's worth
    /// ([`scratch_bytes`]).
    scratch: Vec<u8>,
}

impl AfPacketSource {
    /// Opens a ring on `iface`; `queue` is this socket's index in its fanout group.
    pub fn open(iface: &str, queue: u16, cfg: &RingConfig) -> std::io::Result<Self> {
        let ifindex = crate::sys::ifindex(iface)?;
        let ring = RxRing::open(ifindex, cfg)?;
        Ok(AfPacketSource {
            ring,
            queue,
            name: format!("{iface}:{queue}"),
            kernel_packets: 0,
            kernel_drops: 0,
            freezes: 0,
            scratch: Vec::with_capacity(scratch_bytes(cfg)),
        })
    }
}

impl PacketSource for AfPacketSource {
    /// A block's frames in slices of up to [`CHUNK`]: frames lie in the block, those whose
    /// stripped VLAN tag is put back in the scratch buffer (room for a whole block's worth).
    fn poll_burst_slices(
        &mut self,
        mut f: impl FnMut(&mut [Frame<'_>]),
    ) -> Result<Burst, SourceError> {
        let AfPacketSource {
            ring,
            queue,
            scratch,
            ..
        } = self;
        let ifindex = ring.ifindex();
        let Some(block) = ring.next_block(POLL_TIMEOUT_MS)? else {
            return Ok(Burst::Idle);
        };
        let mut received = block.frames();
        let mut n = 0;
        loop {
            // Each frame's metadata and bytes: in the block, or at a range of `scratch`.
            let mut at = [(PacketMeta::default(), None, 0, 0); CHUNK];
            let mut k = 0;
            scratch.clear();
            for (slot, rx) in at.iter_mut().zip(received.by_ref()) {
                let (place, a, b) = match rx.vlan {
                    Some((tpid, tci)) if rx.data.len() >= 12 => {
                        let a = scratch.len();
                        scratch.extend_from_slice(&rx.data[..12]);
                        scratch.extend_from_slice(&tpid.to_be_bytes());
                        scratch.extend_from_slice(&tci.to_be_bytes());
                        scratch.extend_from_slice(&rx.data[12..]);
                        (None, a, scratch.len())
                    }
                    _ => (Some(rx.data), 0, rx.data.len()),
                };
                let cap_len = (b - a) as u32;
                let extra = cap_len.saturating_sub(rx.data.len() as u32);
                let meta = PacketMeta {
                    ts_ns: rx.ts_ns,
                    wire_len: rx.wire_len + extra,
                    cap_len,
                    ifindex,
                    queue: *queue,
                    rss_hash: rx.rss_hash,
                    link: LinkType::Ethernet,
                    seq: 0,
                };
                *slot = (meta, place, a, b);
                k += 1;
            }
            if k == 0 {
                break;
            }
            let mut frames = [Frame::EMPTY; CHUNK];
            for (frame, &(meta, place, a, b)) in frames.iter_mut().zip(&at[..k]) {
                *frame = Frame {
                    meta,
                    data: match place {
                        Some(data) => data,
                        None => scratch.get(a..b).unwrap_or_default(),
                    },
                    decoded: None,
                };
            }
            f(&mut frames[..k]);
            n += k;
        }
        Ok(Burst::Frames(n))
    }

    fn take_stats(&mut self) -> SourceStats {
        let s = self.ring.stats().unwrap_or_default();
        self.kernel_packets += s.packets;
        self.kernel_drops += s.drops;
        self.freezes += s.freezes;
        SourceStats { drops: s.drops }
    }

    fn queue_report(&mut self) -> Option<QueueReport> {
        self.take_stats();
        Some(QueueReport {
            name: self.name.clone(),
            captured: 0,
            counters: vec![
                ("tp_packets", self.kernel_packets),
                ("tp_drops", self.kernel_drops),
                ("tp_freeze_q_cnt", self.freezes),
            ],
        })
    }
}
