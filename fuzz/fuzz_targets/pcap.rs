//! The capture file reader: classic pcap (every magic, both byte orders, modified records) and
//! pcapng (sections, blocks, options), read to the end or the first error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tapflow_dataplane::pcap::PcapReader;

fuzz_target!(|data: &[u8]| {
    let Ok(mut r) = PcapReader::from_reader(Box::new(std::io::Cursor::new(data.to_vec())), 0)
    else {
        return;
    };
    // Every frame costs at least a record header: the loop is bounded by the input.
    while let Ok(Some(f)) = r.next_frame() {
        std::hint::black_box(f.data.len());
    }
});
