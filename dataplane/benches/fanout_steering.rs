//! The AF_PACKET steering program (`--fanout ebpf`, PACKET_FANOUT_EBPF) per frame, as the kernel
//! times it (BPF_PROG_TEST_RUN: the program run `iters` times on one frame, the kernel's mean
//! time reported): a plain IPv4 frame, one VLAN tag, IPv6, VXLAN and ERSPAN III. Needs root (or
//! CAP_BPF) to load the program; says so and measures nothing without. A program that returns at
//! once measured 48 ns in the same harness on the build VM (docs/perf.md): the floor.
//!
//!   sudo taskset -c 1 cargo bench -p tapflow-dataplane --bench fanout_steering

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use tapflow_analyzer::wire::build;
use tapflow_analyzer::wire::DecodeConfig;
use tapflow_dataplane::fanout_steering::FanoutSteering;

const MAC: ([u8; 6], [u8; 6]) = ([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);

fn udp_frame(src: IpAddr, dst: IpAddr, tags: &[(u16, u16)]) -> Vec<u8> {
    let udp = build::udp(src, dst, 40000, 53, b"a query of some bytes");
    build::ethernet_ip(MAC.1, MAC.0, tags, &build::ip(src, dst, 17, 1, 64, &udp))
}

fn frames() -> Vec<(&'static str, Vec<u8>)> {
    let (a, b) = (
        IpAddr::V4(Ipv4Addr::new(10, 1, 0, 1)),
        IpAddr::V4(Ipv4Addr::new(10, 2, 0, 1)),
    );
    let (a6, b6) = (
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2)),
    );
    let inner = udp_frame(a, b, &[]);
    let (hv1, hv2) = (
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)),
    );
    let gre = |payload: &[u8]| {
        build::ethernet_ip(MAC.1, MAC.0, &[], &build::ip(hv1, hv2, 47, 0, 64, payload))
    };
    vec![
        ("ipv4", inner.clone()),
        ("vlan", udp_frame(a, b, &[(0x8100, 10)])),
        ("ipv6", udp_frame(a6, b6, &[])),
        ("vxlan", build::vxlan_frame(hv1, hv2, 7, &inner)),
        (
            "erspan3",
            gre(&build::gre(
                0x22EB,
                false,
                None,
                Some(1),
                &build::erspan3(11, 0, true, &inner),
            )),
        ),
    ]
}

fn steering(c: &mut Criterion) {
    let mut prog = match FanoutSteering::load(&DecodeConfig::default()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("skipped: the steering program could not be loaded ({e}); run as root");
            return;
        }
    };
    let mut g = c.benchmark_group("fanout_steering");
    for (name, frame) in frames() {
        g.bench_function(name, |bch| {
            bch.iter_custom(|iters| {
                let runs = u32::try_from(iters).unwrap_or(u32::MAX).max(1);
                let (_, mean) = prog.steer(&frame, runs).expect("test run");
                mean * runs
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3));
    targets = steering
}
criterion_main!(benches);
