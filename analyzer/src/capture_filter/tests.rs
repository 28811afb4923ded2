//! The interpreter on programs libpcap compiled (`tcpdump -y EN10MB -dd EXPR`, pasted), on
//! frames the wire builders make, and on hostile programs and frames.

use super::*;
use crate::wire::build::{ethernet_ip, tcp_frame, udp};
use std::net::IpAddr;

fn udp_frame(src: IpAddr, dst: IpAddr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let ip = crate::wire::build::ip(src, dst, 17, 0, 64, &udp(src, dst, sport, dport, payload));
    ethernet_ip([2; 6], [4; 6], &[], &ip)
}

/// `frame` with an 802.1Q tag of `vid` after its MACs.
fn vlan_frame(vid: u16, frame: &[u8]) -> Vec<u8> {
    let mut f = frame[..12].to_vec();
    f.extend_from_slice(&0x8100u16.to_be_bytes());
    f.extend_from_slice(&vid.to_be_bytes());
    f.extend_from_slice(&frame[12..]);
    f
}

fn prog(raw: &[(u16, u8, u8, u32)]) -> BpfProgram {
    let insns = raw
        .iter()
        .map(|&(code, jt, jf, k)| Insn { code, jt, jf, k })
        .collect();
    BpfProgram::new(insns).expect("valid")
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// `tcp port 80`.
const TCP_PORT_80: &[(u16, u8, u8, u32)] = &[
    (0x28, 0, 0, 0x0c),
    (0x15, 0, 6, 0x86dd),
    (0x30, 0, 0, 0x14),
    (0x15, 0, 15, 0x06),
    (0x28, 0, 0, 0x36),
    (0x15, 12, 0, 0x50),
    (0x28, 0, 0, 0x38),
    (0x15, 10, 11, 0x50),
    (0x15, 0, 10, 0x0800),
    (0x30, 0, 0, 0x17),
    (0x15, 0, 8, 0x06),
    (0x28, 0, 0, 0x14),
    (0x45, 6, 0, 0x1fff),
    (0xb1, 0, 0, 0x0e),
    (0x48, 0, 0, 0x0e),
    (0x15, 2, 0, 0x50),
    (0x48, 0, 0, 0x10),
    (0x15, 0, 1, 0x50),
    (0x06, 0, 0, 0x40000),
    (0x06, 0, 0, 0),
];

/// `host 10.0.0.1 and not udp`.
const HOST_NOT_UDP: &[(u16, u8, u8, u32)] = &[
    (0x28, 0, 0, 0x0c),
    (0x15, 0, 6, 0x0800),
    (0x20, 0, 0, 0x1a),
    (0x15, 2, 0, 0x0a000001),
    (0x20, 0, 0, 0x1e),
    (0x15, 0, 9, 0x0a000001),
    (0x30, 0, 0, 0x17),
    (0x15, 7, 6, 0x11),
    (0x15, 1, 0, 0x0806),
    (0x15, 0, 5, 0x8035),
    (0x20, 0, 0, 0x1c),
    (0x15, 2, 0, 0x0a000001),
    (0x20, 0, 0, 0x26),
    (0x15, 0, 1, 0x0a000001),
    (0x06, 0, 0, 0x40000),
    (0x06, 0, 0, 0),
];

/// `vlan 100 and tcp`.
const VLAN_100_TCP: &[(u16, u8, u8, u32)] = &[
    (0x28, 0, 0, 0x0c),
    (0x15, 2, 0, 0x8100),
    (0x15, 1, 0, 0x88a8),
    (0x15, 0, 14, 0x9100),
    (0x28, 0, 0, 0x0e),
    (0x54, 0, 0, 0x0fff),
    (0x15, 0, 11, 0x64),
    (0x28, 0, 0, 0x10),
    (0x15, 0, 2, 0x0800),
    (0x30, 0, 0, 0x1b),
    (0x15, 6, 7, 0x06),
    (0x15, 0, 6, 0x86dd),
    (0x30, 0, 0, 0x18),
    (0x15, 3, 0, 0x06),
    (0x15, 0, 3, 0x2c),
    (0x30, 0, 0, 0x3a),
    (0x15, 0, 1, 0x06),
    (0x06, 0, 0, 0x40000),
    (0x06, 0, 0, 0),
];

/// `less 100`: the frame's length on the wire.
const LESS_100: &[(u16, u8, u8, u32)] = &[
    (0x80, 0, 0, 0),
    (0x25, 0, 1, 0x64),
    (0x06, 0, 0, 0),
    (0x06, 0, 0, 0x40000),
];

fn keeps(p: &BpfProgram, frame: &[u8]) -> bool {
    p.run(frame, frame.len() as u32) != 0
}

#[test]
fn compiled_programs_select_what_tcpdump_would() {
    let port80 = prog(TCP_PORT_80);
    let web = tcp_frame(ip("10.0.0.1"), ip("10.0.0.2"), 40000, 80, b"GET /");
    let back = tcp_frame(ip("10.0.0.2"), ip("10.0.0.1"), 80, 40000, b"HTTP/1.1");
    let ssh = tcp_frame(ip("10.0.0.1"), ip("10.0.0.2"), 40000, 22, b"");
    let web6 = tcp_frame(ip("fd00::1"), ip("fd00::2"), 40000, 80, b"");
    let dns = udp_frame(ip("10.0.0.1"), ip("10.0.0.9"), 5353, 80, b"x");
    assert!(keeps(&port80, &web) && keeps(&port80, &back) && keeps(&port80, &web6));
    assert!(!keeps(&port80, &ssh) && !keeps(&port80, &dns));

    let host = prog(HOST_NOT_UDP);
    assert!(keeps(&host, &web) && keeps(&host, &back) && keeps(&host, &ssh));
    assert!(!keeps(&host, &dns), "udp");
    let other = tcp_frame(ip("10.0.0.3"), ip("10.0.0.2"), 1, 2, b"");
    assert!(!keeps(&host, &other));

    let vlan = prog(VLAN_100_TCP);
    assert!(keeps(&vlan, &vlan_frame(100, &web)));
    assert!(!keeps(&vlan, &vlan_frame(101, &web)));
    assert!(!keeps(&vlan, &web), "untagged");
    assert!(!keeps(&vlan, &vlan_frame(100, &dns)));

    let less = prog(LESS_100);
    assert_eq!(less.run(&web, 99), 0x40000);
    assert_eq!(less.run(&web[..20], 1500), 0, "len is the wire length");
}

#[test]
fn loads_past_the_captured_bytes_reject() {
    let port80 = prog(TCP_PORT_80);
    let web = tcp_frame(ip("10.0.0.1"), ip("10.0.0.2"), 40000, 80, b"GET /");
    for cut in 0..web.len() {
        // A cut frame is kept only when the bytes the program reads are there.
        let kept = keeps(&port80, &web[..cut]);
        assert_eq!(kept, cut >= 14 + 20 + 4, "cut at {cut}");
    }
}

#[test]
fn malformed_programs_are_refused() {
    let mk = |raw: &[(u16, u8, u8, u32)]| {
        BpfProgram::new(
            raw.iter()
                .map(|&(code, jt, jf, k)| Insn { code, jt, jf, k })
                .collect(),
        )
    };
    assert_eq!(mk(&[]), Err(ProgramError::Empty));
    assert_eq!(
        mk(&[(0x15, 5, 0, 1), (0x06, 0, 0, 1)]),
        Err(ProgramError::JumpOut { at: 0 })
    );
    assert_eq!(
        mk(&[(0x05, 0, 0, 1), (0x06, 0, 0, 1)]),
        Err(ProgramError::JumpOut { at: 0 }),
        "ja past the end"
    );
    assert_eq!(
        mk(&[(0x02, 0, 0, 16), (0x06, 0, 0, 1)]),
        Err(ProgramError::Memory { at: 0 })
    );
    assert_eq!(
        mk(&[(0x20, 0, 0, 0xffff_f000), (0x06, 0, 0, 1), (0xff, 0, 0, 0)]),
        Err(ProgramError::Opcode { at: 2, code: 0xff })
    );
    assert_eq!(mk(&[(0x00, 0, 0, 1)]), Err(ProgramError::NoReturn));
    let long = vec![(0x06, 0, 0, 1); MAX_INSNS + 1];
    assert_eq!(mk(&long), Err(ProgramError::TooLong(MAX_INSNS + 1)));
}

#[test]
fn arithmetic_scratch_memory_and_hostile_offsets() {
    // A = 7; M[3] = A; X = 5; A = A / X (1); A += M[3] ... via X: ret A.
    let p = prog(&[
        (0x00, 0, 0, 7), // ld #7
        (0x02, 0, 0, 3), // st M[3]
        (0x01, 0, 0, 5), // ldx #5
        (0x3c, 0, 0, 0), // div x
        (0x61, 0, 0, 3), // ldx M[3]
        (0x0c, 0, 0, 0), // add x
        (0x94, 0, 0, 5), // mod #5
        (0x16, 0, 0, 0), // ret a
    ]);
    assert_eq!(p.run(&[], 0), 3, "(7 / 5 + 7) % 5");
    let div0 = prog(&[(0x01, 0, 0, 0), (0x3c, 0, 0, 0), (0x06, 0, 0, 1)]);
    assert_eq!(div0.run(&[], 0), 0, "division by zero rejects");
    let ind = prog(&[(0x01, 0, 0, u32::MAX), (0x50, 0, 0, 2), (0x06, 0, 0, 1)]);
    assert_eq!(
        ind.run(&[0; 64], 64),
        0,
        "x + k overflows: out of the frame"
    );
    let abs = prog(&[(0x20, 0, 0, u32::MAX - 1), (0x06, 0, 0, 1)]);
    assert_eq!(abs.run(&[0; 64], 64), 0);
    let shifts = prog(&[(0x00, 0, 0, 1), (0x64, 0, 0, 40), (0x16, 0, 0, 0)]);
    assert_eq!(shifts.run(&[], 0), 0, "a shift past 31 gives 0");
    let tax = prog(&[
        (0x00, 0, 0, 9),
        (0x07, 0, 0, 0),
        (0x00, 0, 0, 0),
        (0x87, 0, 0, 0),
        (0x16, 0, 0, 0),
    ]);
    assert_eq!(tax.run(&[], 0), 9);
}

#[test]
fn the_filter_picks_the_program_of_the_frames_link_type() {
    let never = prog(&[(0x06, 0, 0, 0)]);
    let always = prog(&[(0x06, 0, 0, 1)]);
    let f = CaptureFilter::new(
        "x",
        [
            always.clone(),
            never.clone(),
            never.clone(),
            always.clone(),
            never,
        ],
    );
    assert!(f.keeps(LinkType::Ethernet, &[], 0));
    assert!(!f.keeps(LinkType::RawIp, &[], 0));
    assert!(f.keeps(LinkType::LinuxSll, &[], 0));
    assert!(!f.keeps(LinkType::LinuxSll2, &[], 0));
}
