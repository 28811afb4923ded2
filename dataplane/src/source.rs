//! The interface every capture engine implements: bursts of borrowed frames.

pub use tapflow_analyzer::Frame;

/// What one poll of a source produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Burst {
    /// This many frames were handed to the callback.
    Frames(usize),
    /// Nothing arrived (live sources); the caller may tick time forward.
    Idle,
    /// The source is exhausted (files).
    End,
}

/// Errors a source reports.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// Shown as the I/O error itself: it is also the error's source, and a report that
    /// prints the chain ("cannot read F: ...") would print it twice.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("not a pcap or pcapng file (magic {0:#010x})")]
    BadMagic(u32),
    #[error("unsupported link type {0} (tapflow reads Ethernet, raw IP, NULL/loopback and Linux cooked captures)")]
    UnsupportedLinkType(u32),
    #[error("malformed capture file at byte {offset}: {what}")]
    Malformed { offset: u64, what: &'static str },
}

/// Kernel / NIC counters of a live source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SourceStats {
    /// Frames the kernel / NIC dropped before we could read them.
    pub drops: u64,
}

/// Cumulative counters of one capture queue, for stats.json.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueReport {
    /// `interface:queue`.
    pub name: String,
    /// Frames read from this queue.
    pub captured: u64,
    /// Engine-specific counters (AF_XDP XDP_STATISTICS, TPACKET statistics).
    pub counters: Vec<(&'static str, u64)>,
}

/// A source of frames. Implementations reuse their buffers: no allocation per frame.
pub trait PacketSource {
    /// Hands the next burst to `f` as slices whose frames are valid together, so the analyzer
    /// can work on a frame while later ones load (`Analyzer::on_burst`); the caller may change
    /// the frames' metadata. A source whose frames are valid one at a time hands them over as
    /// slices of one. Required: a wrapper that forgot it would hand its inner source's bursts
    /// over one frame at a time without anyone noticing.
    fn poll_burst_slices(&mut self, f: impl FnMut(&mut [Frame<'_>])) -> Result<Burst, SourceError>;

    /// Hands the next burst of frames to `f` one at a time (each frame valid only during its
    /// call).
    fn poll_burst(&mut self, mut f: impl FnMut(&Frame<'_>)) -> Result<Burst, SourceError> {
        self.poll_burst_slices(|frames| frames.iter().for_each(&mut f))
    }

    /// Drop counters since the last call (0 for files).
    fn take_stats(&mut self) -> SourceStats {
        SourceStats::default()
    }

    /// Cumulative per-queue counters (live sources).
    fn queue_report(&mut self) -> Option<QueueReport> {
        None
    }

    /// A time this source's frames have all been handed over up to, when it learned a newer one
    /// since the last call (offline lanes: the reader's clock; time moves on for a worker whose
    /// share of the input is idle, as it would for one analyzer).
    fn take_time_mark(&mut self) -> Option<u64> {
        None
    }
}
