//! The offline reader alone: a capture file read as a stream (1 MiB buffered reads, each frame
//! copied out) and in 4 MiB blocks (frames handed out where they lie), in alternation.
//! `cargo run --release -p tapflow-dataplane --example pcap_read_speed -- FILE [ROUNDS]`
//! (docs/perf.md).

use std::time::Instant;

use tapflow_dataplane::pcap::PcapReader;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: pcap_read_speed FILE [ROUNDS]")?;
    let rounds: u32 = args.next().map_or(Ok(3), |r| r.parse())?;
    for round in 1..=rounds {
        for blocks in [false, true] {
            let started = Instant::now();
            let mut r = if blocks {
                PcapReader::open(path.as_ref(), 0)?
            } else {
                let f = std::fs::File::open(&path)?;
                PcapReader::from_reader(Box::new(std::io::BufReader::with_capacity(1 << 20, f)), 0)?
            };
            let (mut frames, mut bytes, mut touch) = (0u64, 0u64, 0u8);
            while let Some(f) = r.next_frame()? {
                frames += 1;
                bytes += f.data.len() as u64;
                // Read one byte of each frame, as a decoder would.
                touch ^= f.data.first().copied().unwrap_or(0);
            }
            println!(
                "round {round} {:<6} {frames} frames, {bytes} bytes, {:.3} s ({touch})",
                if blocks { "blocks" } else { "stream" },
                started.elapsed().as_secs_f64()
            );
        }
    }
    Ok(())
}
