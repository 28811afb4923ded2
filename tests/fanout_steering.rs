//! The AF_PACKET steering program (`--fanout ebpf`, PACKET_FANOUT_EBPF) run by the kernel
//! (BPF_PROG_TEST_RUN) on every frame of generated captures of each encapsulation: all frames
//! of one analyzer flow, both directions, get one answer (so one socket), the flows get many
//! (MPLS-labelled ones too);
//! tunnels the analyzer leaves encapsulated are hashed as the outer flow they then are; cut and
//! mutated frames get an answer. Needs root (loading a BPF program); says so without.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

use tapflow_analyzer::wire::{build, decode_link, DecodeConfig, LinkType, TunnelSet, TunnelType};
use tapflow_bench::gen::{generate, Encap, GenSpec};
use tapflow_dataplane::fanout_steering::FanoutSteering;

mod netns;
use netns::is_root;

/// The frames of a classic little-endian pcap file.
fn frames(pcap: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut at = 24;
    while at + 16 <= pcap.len() {
        let caplen =
            u32::from_le_bytes(pcap[at + 8..at + 12].try_into().expect("4 bytes")) as usize;
        out.push(&pcap[at + 16..at + 16 + caplen]);
        at += 16 + caplen;
    }
    out
}

/// The analyzer's flow of a frame, either direction: (lower end, higher end, protocol, tunnel
/// kind, tunnel id).
type FlowOf = ([u8; 18], [u8; 18], u8, u8, u32);

fn flow_of(frame: &[u8], cfg: &DecodeConfig) -> Option<FlowOf> {
    let p = decode_link(frame, LinkType::Ethernet, cfg).ok()?;
    let ip = p.ip?;
    let (sp, dp) = p.transport.ports();
    let end = |a: [u8; 16], port: u16| {
        let mut e = [0u8; 18];
        e[..16].copy_from_slice(&a);
        e[16..].copy_from_slice(&port.to_be_bytes());
        e
    };
    let (a, b) = (end(ip.src, sp), end(ip.dst, dp));
    Some((
        a.min(b),
        a.max(b),
        ip.proto,
        p.tunnel.kind as u8,
        p.tunnel.id,
    ))
}

/// The program loaded for `cfg`, or `None` (said why) where this user may not load it.
fn steering_for(cfg: &DecodeConfig) -> Option<FanoutSteering> {
    if !is_root() {
        eprintln!("skipped: loading a BPF program needs root (CI runs as root)");
        return None;
    }
    Some(FanoutSteering::load(cfg).expect("load the steering program"))
}

fn capture(encap: Encap) -> Vec<u8> {
    let spec = GenSpec {
        flows: 48,
        encap,
        ..GenSpec::default()
    };
    let mut pcap = Vec::new();
    generate(&spec, &mut pcap, None).expect("generate");
    pcap
}

/// Each flow of the capture has one answer; returns the distinct answers.
fn check_flows_whole(
    steering: &mut FanoutSteering,
    pcap: &[u8],
    cfg: &DecodeConfig,
    what: &str,
) -> BTreeSet<u32> {
    let mut answers: BTreeMap<FlowOf, BTreeSet<u32>> = BTreeMap::new();
    for f in frames(pcap) {
        let (v, _) = steering.steer(f, 1).expect("test run");
        if let Some(k) = flow_of(f, cfg) {
            answers.entry(k).or_default().insert(v);
        }
    }
    assert!(answers.len() >= 40, "{what}: {} flows", answers.len());
    for (k, v) in &answers {
        assert_eq!(v.len(), 1, "{what}: flow {k:?} got {v:?}");
    }
    answers.values().flatten().copied().collect()
}

#[test]
fn every_frame_of_a_flow_gets_one_socket_in_every_encapsulation() {
    let cfg = DecodeConfig::default();
    let Some(mut steering) = steering_for(&cfg) else {
        return;
    };
    for encap in Encap::ALL {
        let pcap = capture(encap);
        let answers = check_flows_whole(&mut steering, &pcap, &cfg, encap.name());
        // Spread: of two sockets, both get flows (and many distinct hashes).
        assert!(answers.len() > 10, "{}: {answers:?}", encap.name());
        assert!(answers.iter().any(|v| v % 2 == 0) && answers.iter().any(|v| v % 2 == 1));
    }
}

#[test]
fn tunnels_left_encapsulated_are_hashed_as_their_outer_flow() {
    // Nothing peeled: the analyzer's flow is the tunnel's own (one VXLAN flow, one ERSPAN GRE
    // flow), so every frame must get its one answer.
    let cfg = DecodeConfig {
        decap: TunnelSet::default(),
        trim: TunnelSet::default(),
        ..DecodeConfig::default()
    };
    assert!(!cfg.decapsulates(TunnelType::Vxlan));
    let Some(mut steering) = steering_for(&cfg) else {
        return;
    };
    for encap in [Encap::Vxlan, Encap::ErspanIII, Encap::Geneve, Encap::IpIp] {
        let mut answers = BTreeSet::new();
        for f in frames(&capture(encap)) {
            answers.insert(steering.steer(f, 1).expect("test run").0);
        }
        // ERSPAN comes from one switch; the tunnels' both directions are one outer flow.
        assert_eq!(answers.len(), 1, "{}: {answers:?}", encap.name());
    }
}

/// MPLS (a provider core's mirror): the labels are walked to the IP packet, as the analyzer
/// does, so its flows spread and each keeps one answer.
#[test]
fn mpls_labelled_flows_are_hashed_by_their_ip_flow() {
    let cfg = DecodeConfig::default();
    let Some(mut steering) = steering_for(&cfg) else {
        return;
    };
    let mac = ([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let mut answers: BTreeMap<FlowOf, BTreeSet<u32>> = BTreeMap::new();
    for i in 0..48u8 {
        let client = IpAddr::V4(Ipv4Addr::new(10, 1, 0, i));
        let server = IpAddr::V4(Ipv4Addr::new(10, 2, 0, 1));
        for (src, dst, sport, dport) in [
            (client, server, 40000 + u16::from(i), 53),
            (server, client, 53, 40000 + u16::from(i)),
        ] {
            let udp = build::udp(src, dst, sport, dport, b"query");
            let ip = build::ip(src, dst, 17, 1, 64, &udp);
            // Two labels, the second the bottom of the stack.
            let mut payload = vec![0x00, 0x01, 0x00, 0x40, 0x00, 0x02, 0x01, 0x40];
            payload.extend_from_slice(&ip);
            let frame = build::ethernet(mac.1, mac.0, &[], 0x8847, &payload);
            let (v, _) = steering.steer(&frame, 1).expect("test run");
            let key = flow_of(&frame, &cfg).expect("the analyzer decodes it");
            answers.entry(key).or_default().insert(v);
        }
    }
    assert_eq!(answers.len(), 48);
    for (k, v) in &answers {
        assert_eq!(v.len(), 1, "flow {k:?} got {v:?}");
    }
    let distinct: BTreeSet<u32> = answers.values().flatten().copied().collect();
    assert!(distinct.len() > 40, "{distinct:?}");
}

/// IPv6 fragments after the first: what follows their fragment header is payload, whatever it
/// looks like, so all of a flow's later fragments get one answer.
#[test]
fn later_ipv6_fragments_of_a_flow_get_one_answer() {
    let cfg = DecodeConfig::default();
    let Some(mut steering) = steering_for(&cfg) else {
        return;
    };
    let mut answers: BTreeMap<FlowOf, BTreeSet<u32>> = BTreeMap::new();
    for n in 0..32u8 {
        // The first fragment carried destination options, so each later one's fragment header
        // names them next; its own bytes are payload that may look like anything.
        let mut payload = vec![[17u8, 6, 60, 43][usize::from(n % 4)], n, n, n];
        payload.extend(std::iter::repeat_n(n, 20));
        let mut frag = vec![60, 0];
        frag.extend_from_slice(&((1u16 + u16::from(n)) << 3).to_be_bytes());
        frag.extend_from_slice(&7u32.to_be_bytes());
        frag.extend_from_slice(&payload);
        let mut ip = vec![0x60, 0, 0, 0];
        ip.extend_from_slice(&(frag.len() as u16).to_be_bytes());
        ip.extend_from_slice(&[44, 64]);
        let (a, b) = (
            [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
        );
        ip.extend_from_slice(&a);
        ip.extend_from_slice(&b);
        ip.extend_from_slice(&frag);
        let frame = build::ethernet([2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 1], &[], 0x86DD, &ip);
        let (v, _) = steering.steer(&frame, 1).expect("test run");
        let key = flow_of(&frame, &cfg).expect("the analyzer decodes it");
        answers.entry(key).or_default().insert(v);
    }
    assert_eq!(answers.len(), 1, "{answers:?}");
    assert!(answers.values().all(|v| v.len() == 1), "{answers:?}");
}

#[test]
fn cut_and_mutated_frames_get_an_answer() {
    let cfg = DecodeConfig::default();
    let Some(mut steering) = steering_for(&cfg) else {
        return;
    };
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for encap in [Encap::ErspanIII, Encap::Vxlan, Encap::Geneve, Encap::Ipv6] {
        let pcap = capture(encap);
        for f in frames(&pcap).into_iter().take(200) {
            // Every cut of the headers past the outer IP header (the kernel's test run refuses
            // shorter frames than Ethernet and the IP header its EtherType names).
            for len in 14usize..=90 {
                let cut = &f[..len.min(f.len())];
                if let Err(e) = steering.steer(cut, 1) {
                    assert!(len < 54, "cut at {len} of {}: {e}", f.len());
                }
            }
            // Bytes flipped in the headers.
            let mut m = f.to_vec();
            for _ in 0..4 {
                let at = (next() as usize) % m.len().min(120);
                m[at] ^= next() as u8 | 1;
            }
            steering.steer(&m, 1).expect("mutated frame");
        }
    }
}
