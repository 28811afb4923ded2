//! pcap and pcapng files: a streaming reader (gzip accepted) and a writer for generated captures.

mod reader;
mod writer;

pub(crate) use reader::FILE_BURST;
pub use reader::{is_compressed, PcapReader};
pub use writer::PcapWriter;
