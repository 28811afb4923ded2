//! Test helper: a client and a server talking through the whole analyzer, with payloads at
//! chosen times (shared by the tracker's tests and each protocol's).

use std::net::{IpAddr, Ipv4Addr};

use crate::record::Collected;
use crate::wire::build::{self, TcpSpec};
use crate::{Analyzer, AnalyzerConfig, PacketMeta};

pub(crate) const MS: u64 = 1_000_000;
pub(crate) const T0: u64 = 1_700_000_000_000_000_000;
const PSH_ACK: u8 = 0x18;

/// A client and a server talking TCP (or UDP) with payloads at chosen times.
pub(crate) struct Talk {
    pub(crate) an: Analyzer,
    pub(crate) out: Collected,
    pub(crate) cseq: u32,
    pub(crate) sseq: u32,
    pub(crate) cport: u16,
    pub(crate) sport: u16,
}

pub(crate) fn cip() -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))
}
pub(crate) fn sip() -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2))
}

pub(crate) fn s<const N: usize>(b: &crate::l7::inline::InlineBytes<N>) -> &str {
    std::str::from_utf8(b.as_bytes()).unwrap_or("<bin>")
}

impl Talk {
    pub(crate) fn new(sport: u16) -> Self {
        Self::with(AnalyzerConfig::default(), sport)
    }

    pub(crate) fn with(cfg: AnalyzerConfig, sport: u16) -> Self {
        Talk {
            an: Analyzer::new(cfg),
            out: Collected::default(),
            cseq: 1000,
            sseq: 900_000,
            cport: 40000,
            sport,
        }
    }

    pub(crate) fn frame(&mut self, at_ms: f64, ip: Vec<u8>) {
        let frame = build::ethernet_ip([2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 1], &[], &ip);
        let meta = PacketMeta {
            ts_ns: T0 + (at_ms * MS as f64) as u64,
            wire_len: frame.len() as u32,
            cap_len: frame.len() as u32,
            ..PacketMeta::default()
        };
        self.an.on_packet(&meta, &frame, &mut self.out);
    }

    /// A TCP segment with `payload`; advances the sender's sequence number.
    pub(crate) fn tcp(&mut self, at_ms: f64, from_client: bool, payload: &[u8]) {
        let (src, dst, sp, dp, seq, ack) = if from_client {
            (cip(), sip(), self.cport, self.sport, self.cseq, self.sseq)
        } else {
            (sip(), cip(), self.sport, self.cport, self.sseq, self.cseq)
        };
        let spec = TcpSpec {
            src_port: sp,
            dst_port: dp,
            seq,
            ack,
            flags: PSH_ACK,
            window: 65535,
            ..TcpSpec::default()
        };
        let ip = build::ip(src, dst, 6, 0, 64, &build::tcp(src, dst, &spec, payload));
        self.frame(at_ms, ip);
        self.skip(from_client, payload.len());
    }

    /// Bytes the capture never sees (a lost segment).
    pub(crate) fn skip(&mut self, from_client: bool, n: usize) {
        if from_client {
            self.cseq = self.cseq.wrapping_add(n as u32);
        } else {
            self.sseq = self.sseq.wrapping_add(n as u32);
        }
    }

    pub(crate) fn udp(&mut self, at_ms: f64, from_client: bool, payload: &[u8]) {
        let (src, dst, sp, dp) = if from_client {
            (cip(), sip(), self.cport, self.sport)
        } else {
            (sip(), cip(), self.sport, self.cport)
        };
        let ip = build::ip(src, dst, 17, 0, 64, &build::udp(src, dst, sp, dp, payload));
        self.frame(at_ms, ip);
    }

    /// An ICMP echo request (from the client) or reply (from the server).
    pub(crate) fn echo(&mut self, at_ms: f64, reply: bool, (id, seq): (u16, u16), data: &[u8]) {
        let (src, dst) = if reply {
            (sip(), cip())
        } else {
            (cip(), sip())
        };
        let msg = build::icmp_echo(src, dst, reply, id, seq, data);
        let ip = build::ip(src, dst, build::icmp_proto(src), 0, 64, &msg);
        self.frame(at_ms, ip);
    }

    pub(crate) fn finish(mut self) -> Collected {
        self.an.finish(&mut self.out);
        self.out
    }
}

/// Hostile conversations: `rounds` talks from `talk()`, each of 6 segments taken in turn from
/// `seeds` (alternating client and server) with up to `max_flips - 1` random bytes changed;
/// none may panic, and none may write more than 2 rows per segment.
pub(crate) fn hostile_talks(
    seeds: &[&[u8]],
    rounds: usize,
    max_flips: usize,
    talk: impl Fn() -> Talk,
) {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for round in 0..rounds {
        let mut t = talk();
        for i in 0..6 {
            let b = mutated(seeds[(round + i) % seeds.len()], round % max_flips, &mut x);
            t.tcp(i as f64, i % 2 == 0, &b);
        }
        assert!(t.finish().l7.len() <= 12, "round {round}");
    }
}

/// Hostile datagrams: as [`hostile_talks`], each of the 6 datagrams two seeds back to back (a
/// datagram may carry several messages); none may write more than 4 rows per datagram.
pub(crate) fn hostile_datagrams(
    seeds: &[&[u8]],
    rounds: usize,
    max_flips: usize,
    talk: impl Fn() -> Talk,
) {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for round in 0..rounds {
        let mut t = talk();
        for i in 0..6 {
            let two = [
                seeds[(round + i) % seeds.len()],
                seeds[(round + i + 1) % seeds.len()],
            ];
            let b = mutated(&two.concat(), round % max_flips, &mut x);
            t.udp(i as f64, i % 2 == 0, &b);
        }
        assert!(t.finish().l7.len() <= 24, "round {round}");
    }
}

/// `seed` with `flips` bytes changed at random (xorshift state `x`).
fn mutated(seed: &[u8], flips: usize, x: &mut u64) -> Vec<u8> {
    let mut b = seed.to_vec();
    for _ in 0..flips {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        let at = (*x as usize) % b.len();
        b[at] = (*x >> 32) as u8;
    }
    b
}

/// What a row says, for comparing runs (type, request type and resource, status, code).
type RowSig = (u8, String, String, u8, Option<i32>);

fn signature(out: &Collected) -> Vec<RowSig> {
    out.l7
        .iter()
        .map(|r| {
            (
                r.row_type,
                s(&r.request_type).to_string(),
                s(&r.request_resource).to_string(),
                r.response_status,
                r.response_code,
            )
        })
        .collect()
}

/// A conversation (sender is the client?, message) cut at every byte of every message into two
/// segments sent back to back must give the rows the whole messages give: a message head split
/// anywhere is held and completed, never misread.
pub(crate) fn same_rows_at_every_cut(conversation: &[(bool, Vec<u8>)], talk: impl Fn() -> Talk) {
    let run = |cut: Option<(usize, usize)>| {
        let mut t = talk();
        for (i, (client, m)) in conversation.iter().enumerate() {
            let at = i as f64;
            match cut {
                Some((j, k)) if j == i => {
                    t.tcp(at, *client, &m[..k]);
                    t.tcp(at, *client, &m[k..]);
                }
                _ => t.tcp(at, *client, m),
            }
        }
        signature(&t.finish())
    };
    let whole = run(None);
    assert!(!whole.is_empty(), "the conversation makes rows");
    for (j, (_, m)) in conversation.iter().enumerate() {
        for k in 1..m.len() {
            assert_eq!(run(Some((j, k))), whole, "message {j} cut at {k}");
        }
    }
}
