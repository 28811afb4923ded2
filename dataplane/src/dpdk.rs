//! The DPDK capture engine: one poller per (port, rx queue), feeding the same worker loop as the
//! other engines. Frames are read in place from mbufs and the mbufs freed right after the burst.

use std::time::{SystemTime, UNIX_EPOCH};

use tapflow_analyzer::wire::LinkType;
use tapflow_analyzer::PacketMeta;

use crate::source::{Burst, Frame, PacketSource, QueueReport, SourceError, SourceStats};
use crate::sys::dpdk::{Mbuf, RxQueue};

/// One DPDK rx queue as a packet source.
#[derive(Debug)]
pub struct DpdkSource<'port> {
    rxq: RxQueue<'port>,
    port: u16,
    queue: u16,
    burst: u16,
    name: String,
    mbufs: Vec<Mbuf>,
    /// Port drops (imissed + rx_nombuf) already reported; only queue 0 reports them.
    reported_drops: u64,
}

impl<'port> DpdkSource<'port> {
    pub fn new(rxq: RxQueue<'port>, port_name: &str, port: u16, queue: u16, burst: u16) -> Self {
        DpdkSource {
            rxq,
            port,
            queue,
            burst: burst.clamp(1, 64),
            name: format!("{port_name}:{queue}"),
            mbufs: Vec::with_capacity(64),
            reported_drops: 0,
        }
    }
}

impl PacketSource for DpdkSource<'_> {
    /// The whole RX burst as one slice: its mbufs stay ours until it is analysed.
    fn poll_burst_slices(
        &mut self,
        mut f: impl FnMut(&mut [Frame<'_>]),
    ) -> Result<Burst, SourceError> {
        let n = self.rxq.rx_burst(&mut self.mbufs, self.burst);
        if n == 0 {
            return Ok(Burst::Idle);
        }
        let ts_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let mut frames = [Frame::EMPTY; 64];
        let mut k = 0;
        for (frame, m) in frames.iter_mut().zip(&self.mbufs) {
            let data = m.data();
            *frame = Frame {
                meta: PacketMeta {
                    ts_ns,
                    wire_len: m.pkt_len(),
                    cap_len: data.len() as u32,
                    ifindex: u32::from(self.port),
                    queue: self.queue,
                    rss_hash: m.rss_hash(),
                    link: LinkType::Ethernet,
                    seq: 0,
                },
                data,
                decoded: None,
            };
            k += 1;
        }
        f(&mut frames[..k]);
        // Frames go back to the mempool right after the burst is analysed.
        self.mbufs.clear();
        Ok(Burst::Frames(n))
    }

    fn take_stats(&mut self) -> SourceStats {
        if self.queue != 0 {
            return SourceStats::default();
        }
        let st = self.rxq.port_stats();
        let total = st.imissed + st.rx_nombuf;
        let new = total.saturating_sub(self.reported_drops);
        self.reported_drops = total;
        SourceStats { drops: new }
    }

    fn queue_report(&mut self) -> Option<QueueReport> {
        Some(QueueReport {
            name: self.name.clone(),
            captured: 0,
            counters: Vec::new(),
        })
    }
}
