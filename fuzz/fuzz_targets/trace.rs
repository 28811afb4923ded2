//! What the syscall tracer's user space reads from the BPF ring buffer: any bytes as a stream of
//! events (`[u16 LE length][event]`), each decoded (bounds-checked) and fed to the syscall
//! tracker, whose L7 parsers see hostile payloads and whose socket table sees arbitrary ids,
//! roles and closes. Every row must serialise.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};

use libfuzzer_sys::fuzz_target;
use tapflow_analyzer::l7::L7Config;
use tapflow_analyzer::syscall::{SyscallConfig, SyscallTracker};
use tapflow_analyzer::RecordBatch;
use tapflow_dataplane::trace::event;

fuzz_target!(|data: &[u8]| {
    let mut tracker = SyscallTracker::new(
        SyscallConfig {
            max_sockets: 64,
            ..SyscallConfig::default()
        },
        L7Config::default(),
    );
    let mut out = RecordBatch::default();
    let lo = (IpAddr::V4(Ipv4Addr::LOCALHOST), 1);
    let mut rest = data;
    while rest.len() >= 2 {
        let n = usize::from(u16::from_le_bytes([rest[0], rest[1]])).min(rest.len() - 2);
        let raw = &rest[2..2 + n];
        rest = &rest[2 + n..];
        let Ok(e) = event::decode(raw) else {
            continue;
        };
        let ends = event::tuple(&e).unwrap_or((lo, lo));
        tracker.on_event(&e.socket_event(0, ends), &mut out);
    }
    tracker.finish(&mut out);
    out.for_each(|r| drop(serde_json::to_vec(&r)));
});
