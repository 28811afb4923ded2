//! An AF_PACKET capture on one interface sees only that interface, from its first frame: a
//! socket opened for every protocol queues all interfaces' packets until bind(2), and a live run
//! then reported a few of the host's own loopback connections (its controller sync) as traffic
//! of the mirror port. Root only (CI runs as root); skipped otherwise.

use std::net::UdpSocket;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tapflow_dataplane::af_packet::AfPacketSource;
use tapflow_dataplane::sys::af_packet::RingConfig;
use tapflow_dataplane::{Burst, PacketSource};

const MARKER: &[u8] = b"tapflow-loopback-marker";

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// A veth pair nothing sends on, removed on drop.
struct Quiet(String);

impl Quiet {
    fn new() -> Quiet {
        let name = format!("tfq{}", std::process::id() % 100_000);
        let peer = format!("{name}p");
        let _ = Command::new("ip").args(["link", "del", &name]).status();
        let ok = Command::new("ip")
            .args(["link", "add", &name, "type", "veth", "peer", "name", &peer])
            .status()
            .expect("ip")
            .success()
            && Command::new("ip")
                .args(["link", "set", &name, "up"])
                .status()
                .expect("ip")
                .success();
        assert!(ok, "create veth pair {name}");
        Quiet(name)
    }
}

impl Drop for Quiet {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.0]).status();
    }
}

#[test]
fn a_new_ring_holds_no_other_interface_packets() {
    if !is_root() {
        eprintln!("skipped: AF_PACKET needs root (CI runs as root)");
        return;
    }
    let quiet = Quiet::new();
    // Loopback busy with marked datagrams the whole time the rings are opened.
    let sink = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let to = sink.local_addr().expect("addr");
    let stop = Arc::new(AtomicBool::new(false));
    let flood = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
            let mut sent = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if s.send_to(MARKER, to).is_ok() {
                    sent += 1;
                }
            }
            sent
        })
    };
    let cfg = RingConfig {
        block_size: 1 << 16,
        block_count: 4,
        retire_ms: 1,
        ..RingConfig::default()
    };
    let mut foreign = 0usize;
    for _ in 0..40 {
        let mut src = AfPacketSource::open(&quiet.0, 0, &cfg).expect("open ring");
        for _ in 0..3 {
            match src.poll_burst(|f| {
                if f.data.windows(MARKER.len()).any(|w| w == MARKER) {
                    foreign += 1;
                }
            }) {
                Ok(Burst::Frames(_) | Burst::Idle) => {}
                Ok(Burst::End) => break,
                Err(e) => panic!("poll: {e:?}"),
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let sent = flood.join().expect("flood");
    assert!(sent > 1000, "loopback was busy: {sent} datagrams");
    assert_eq!(foreign, 0, "loopback frames in a ring bound to {}", quiet.0);
    drop(sink);
}
