//! The AF_PACKET (TPACKET_V3) capture engine: for hosts or NICs without XDP, and the fallback of
//! `--engine auto`. Several sockets on one interface share the load through PACKET_FANOUT (hash:
//! both directions of a flow reach the same socket).

use tapflow_analyzer::wire::LinkType;
use tapflow_analyzer::PacketMeta;

use crate::source::{Burst, Frame, PacketSource, QueueReport, SourceError, SourceStats};
use crate::sys::af_packet::{RingConfig, RxRing};

/// Wait this long for a block before reporting Idle.
const POLL_TIMEOUT_MS: i32 = 10;

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
    /// Frames whose stripped VLAN tag is put back (mirror tap_type needs it).
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
            scratch: Vec::with_capacity(65_536 + 4),
        })
    }
}

impl PacketSource for AfPacketSource {
    fn poll_burst(&mut self, mut f: impl FnMut(&Frame<'_>)) -> Result<Burst, SourceError> {
        let AfPacketSource {
            ring,
            queue,
            scratch,
            ..
        } = self;
        let ifindex = ring.ifindex();
        let Some(mut block) = ring.next_block(POLL_TIMEOUT_MS)? else {
            return Ok(Burst::Idle);
        };
        let mut n = 0;
        while let Some(rx) = block.next_frame() {
            let data = match rx.vlan {
                Some((tpid, tci)) if rx.data.len() >= 12 => {
                    scratch.clear();
                    scratch.extend_from_slice(&rx.data[..12]);
                    scratch.extend_from_slice(&tpid.to_be_bytes());
                    scratch.extend_from_slice(&tci.to_be_bytes());
                    scratch.extend_from_slice(&rx.data[12..]);
                    &scratch[..]
                }
                _ => rx.data,
            };
            let extra = if data.len() > rx.data.len() { 4 } else { 0 };
            let meta = PacketMeta {
                ts_ns: rx.ts_ns,
                wire_len: rx.wire_len + extra,
                cap_len: data.len() as u32,
                ifindex,
                queue: *queue,
                rss_hash: rx.rss_hash,
                link: LinkType::Ethernet,
                seq: 0,
            };
            f(&Frame {
                meta,
                data,
                decoded: None,
            });
            n += 1;
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
