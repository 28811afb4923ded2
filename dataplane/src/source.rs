//! The interface every capture engine implements.

use tapflow_analyzer::PacketMeta;

/// One captured frame, borrowed from the source until the next call.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    pub meta: PacketMeta,
    pub data: &'a [u8],
}

/// Errors a source reports (end of input is `Ok(None)`, not an error).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("not a pcap or pcapng file (magic {0:#010x})")]
    BadMagic(u32),
    #[error("unsupported link type {0} (tapflow reads Ethernet, raw IP, NULL/loopback and Linux cooked captures)")]
    UnsupportedLinkType(u32),
    #[error("malformed capture file at byte {offset}: {what}")]
    Malformed { offset: u64, what: &'static str },
}

/// A source of frames. Implementations reuse their buffers: no allocation per frame.
pub trait PacketSource {
    /// The next frame, or `None` at the end of a finite source.
    fn next_frame(&mut self) -> Result<Option<Frame<'_>>, SourceError>;
}
