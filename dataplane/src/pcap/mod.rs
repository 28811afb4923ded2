//! pcap and pcapng files: a streaming reader (gzip accepted) and a writer for generated captures.

mod reader;
mod writer;

pub use reader::{is_compressed, PcapReader};
pub use writer::PcapWriter;
