//! The AF_XDP capture engine: one socket per rx queue, fed by tapflow's XDP program, busy-polled.
//! Frames carry no kernel timestamp, so the clock is read once per burst.

use std::time::{SystemTime, UNIX_EPOCH};

use tapflow_analyzer::wire::LinkType;
use tapflow_analyzer::PacketMeta;

use crate::source::{Burst, Frame, PacketSource, QueueReport, SourceError, SourceStats};
use crate::sys::af_packet::Promiscuous;
use crate::sys::xsk::{XskConfig, XskSocket};

const BURST: u32 = 64;

/// One AF_XDP socket as a packet source.
#[derive(Debug)]
pub struct AfXdpSource {
    sock: XskSocket,
    ifindex: u32,
    queue: u16,
    name: String,
    reported_drops: u64,
    /// A mirror port's frames are addressed to other hosts: a NIC drops them unless it is
    /// promiscuous (AF_PACKET and DPDK ask for it through their own handles).
    _promiscuous: Promiscuous,
}

impl AfXdpSource {
    /// Binds a socket to (`ifindex`, `queue`), the interface held promiscuous; register it in
    /// the XDP program's XSKMAP next.
    pub fn open(iface: &str, ifindex: u32, queue: u16, cfg: &XskConfig) -> std::io::Result<Self> {
        Ok(AfXdpSource {
            _promiscuous: Promiscuous::hold(ifindex)?,
            sock: XskSocket::open(ifindex, u32::from(queue), cfg)?,
            ifindex,
            queue,
            name: format!("{iface}:{queue}"),
            reported_drops: 0,
        })
    }

    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        self.sock.raw_fd()
    }
}

impl PacketSource for AfXdpSource {
    /// The whole RX burst as one slice: its frames stay in the UMEM until the burst is done.
    fn poll_burst_slices(
        &mut self,
        mut f: impl FnMut(&mut [Frame<'_>]),
    ) -> Result<Burst, SourceError> {
        let (ifindex, queue) = (self.ifindex, self.queue);
        let burst = self.sock.rx_burst(BURST);
        if burst.is_empty() {
            return Ok(Burst::Idle);
        }
        let ts_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let mut frames = [Frame::EMPTY; BURST as usize];
        let mut n = 0;
        let received = (0..burst.len()).filter_map(|i| burst.frame(i));
        for (frame, data) in frames.iter_mut().zip(received) {
            *frame = Frame {
                meta: PacketMeta {
                    ts_ns,
                    wire_len: data.len() as u32,
                    cap_len: data.len() as u32,
                    ifindex,
                    queue,
                    rss_hash: 0,
                    link: LinkType::Ethernet,
                    seq: 0,
                },
                data,
                decoded: None,
            };
            n += 1;
        }
        f(&mut frames[..n]);
        Ok(Burst::Frames(n))
    }

    fn take_stats(&mut self) -> SourceStats {
        let total = self
            .sock
            .stats()
            .map_or(0, |s| s.rx_dropped + s.rx_ring_full + s.rx_invalid_descs);
        let new = total.saturating_sub(self.reported_drops);
        self.reported_drops = total;
        SourceStats { drops: new }
    }

    fn queue_report(&mut self) -> Option<QueueReport> {
        let s = self.sock.stats().unwrap_or_default();
        Some(QueueReport {
            name: self.name.clone(),
            captured: 0,
            counters: vec![
                ("rx_dropped", s.rx_dropped),
                ("rx_invalid_descs", s.rx_invalid_descs),
                ("rx_ring_full", s.rx_ring_full),
                ("rx_fill_ring_empty_descs", s.rx_fill_ring_empty),
            ],
        })
    }
}
