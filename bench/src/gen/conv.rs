//! One generated conversation: builds frames and keeps the expected counters as it goes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use tapflow_analyzer::wire::build::{self, TcpSpec};
use tapflow_analyzer::wire::{TcpFlags, IPPROTO_TCP, IPPROTO_UDP};

use super::{Encap, ExpectedFlow};

pub(crate) const MS: u64 = 1_000_000;
/// A SPAN copy trails the original by this much.
const DUPLICATE_DELAY_NS: u64 = 30_000;

/// Mirror duplicates to write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Duplicates {
    #[default]
    None,
    /// A second, byte-identical copy (SPAN of the ingress and egress port of a switch).
    Identical,
    /// A second copy as seen after a router: TTL one lower, other MACs.
    Routed,
}

/// How a conversation's frames are written.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Traffic {
    pub(crate) enc: Encap,
    pub(crate) dup: Duplicates,
    pub(crate) one_way: bool,
}

const ROUTER_MACS: ([u8; 6], [u8; 6]) = ([0x02, 0x77, 0, 0, 0, 1], [0x02, 0x77, 0, 0, 0, 2]);

pub(crate) struct Conv<'a> {
    frames: &'a mut Vec<(u64, Vec<u8>)>,
    enc: Encap,
    dup: Duplicates,
    one_way: bool,
    c: (IpAddr, u16),
    s: (IpAddr, u16),
    cmac: [u8; 6],
    smac: [u8; 6],
    pub(crate) cseq: u32,
    pub(crate) sseq: u32,
    pub(crate) exp: ExpectedFlow,
    ident: u16,
}

fn addr(enc: Encap, net: u8, i: u64) -> IpAddr {
    if enc.inner_is_v6() {
        IpAddr::V6(Ipv6Addr::new(
            0xfd00,
            0,
            0,
            u16::from(net),
            0,
            0,
            (i >> 16) as u16,
            i as u16,
        ))
    } else {
        IpAddr::V4(Ipv4Addr::new(10, net, (i >> 8) as u8, i as u8))
    }
}

fn sock(a: (IpAddr, u16)) -> String {
    match a.0 {
        IpAddr::V4(v) => format!("{v}:{}", a.1),
        IpAddr::V6(v) => format!("[{v}]:{}", a.1),
    }
}

impl<'a> Conv<'a> {
    /// Conversation number `i`: client 10.x.y.z (by i), server one of 64 addresses.
    pub(crate) fn new(
        frames: &'a mut Vec<(u64, Vec<u8>)>,
        t: Traffic,
        i: u64,
        server_port: u16,
        scenario: &str,
        isn: (u32, u32),
    ) -> Self {
        let enc = t.enc;
        let client_net = 1 + ((i >> 16) % 100) as u8;
        let c = (
            addr(enc, client_net, i & 0xFFFF),
            32768 + (i % 28_000) as u16,
        );
        let s = (addr(enc, 200, 1 + i % 64), server_port);
        let exp = ExpectedFlow {
            scenario: scenario.to_string(),
            client: sock(c),
            server: sock(s),
            tunnel_type: enc.reported_tunnel_type(),
            vlan: enc.reported_vlan(),
            ..ExpectedFlow::default()
        };
        let cmac = [
            0x02,
            0xc1,
            (i >> 24) as u8,
            (i >> 16) as u8,
            (i >> 8) as u8,
            i as u8,
        ];
        let smac = [0x02, 0x5e, 0, 0, 0, (i % 64) as u8];
        Conv {
            frames,
            enc,
            dup: t.dup,
            one_way: t.one_way,
            c,
            s,
            cmac,
            smac,
            cseq: isn.0,
            sseq: isn.1,
            exp,
            ident: 1,
        }
    }

    fn emit(&mut self, t: u64, from_client: bool, proto: u8, l4: &[u8], payload_len: usize) {
        if self.one_way && !from_client {
            return;
        }
        let (src, dst) = if from_client {
            (self.c.0, self.s.0)
        } else {
            (self.s.0, self.c.0)
        };
        let ip = build::ip(src, dst, proto, self.ident, 64, l4);
        let bytes = self.enc.l2_len() + ip.len() as u64;
        let (smac, dmac) = if from_client {
            (self.cmac, self.smac)
        } else {
            (self.smac, self.cmac)
        };
        self.frames
            .push((t, self.enc.frame(smac, dmac, &ip, from_client)));
        match self.dup {
            Duplicates::None => {}
            Duplicates::Identical => self.frames.push((
                t + DUPLICATE_DELAY_NS,
                self.enc.frame(smac, dmac, &ip, from_client),
            )),
            Duplicates::Routed => {
                let routed = build::ip(src, dst, proto, self.ident, 63, l4);
                let frame = self
                    .enc
                    .frame(ROUTER_MACS.0, ROUTER_MACS.1, &routed, from_client);
                self.frames.push((t + DUPLICATE_DELAY_NS, frame));
            }
        }
        self.ident = self.ident.wrapping_add(1);
        let e = &mut self.exp;
        if from_client {
            e.packet_tx += 1;
            e.byte_tx += bytes;
            e.l4_byte_tx += payload_len as u64;
        } else {
            e.packet_rx += 1;
            e.byte_rx += bytes;
            e.l4_byte_rx += payload_len as u64;
        }
    }

    /// A TCP segment at an explicit sequence number (does not advance the sender's seq).
    pub(crate) fn tcp_at(
        &mut self,
        t: u64,
        from_client: bool,
        flags: u8,
        seq: u32,
        len: usize,
        window: u16,
    ) {
        self.exp.protocol = IPPROTO_TCP;
        let (src, dst) = if from_client {
            (self.c, self.s)
        } else {
            (self.s, self.c)
        };
        let ack = if flags & TcpFlags::ACK != 0 {
            if from_client {
                self.sseq
            } else {
                self.cseq
            }
        } else {
            0
        };
        let syn = flags & TcpFlags::SYN != 0;
        let spec = TcpSpec {
            src_port: src.1,
            dst_port: dst.1,
            seq,
            ack,
            flags,
            window,
            mss: if syn { 1460 } else { 0 },
            window_scale: syn.then_some(7),
            sack_permitted: syn,
            timestamps: None,
        };
        let payload: Vec<u8> = (0..len).map(|k| b'a' + (k % 26) as u8).collect();
        let seg = build::tcp(src.0, dst.0, &spec, &payload);
        self.emit(t, from_client, IPPROTO_TCP, &seg, len);
        if flags & TcpFlags::SYN != 0 && flags & TcpFlags::ACK == 0 {
            self.exp.syn_count += 1;
        }
        if flags & TcpFlags::SYN != 0 && flags & TcpFlags::ACK != 0 && !self.one_way {
            self.exp.synack_count += 1;
        }
    }

    /// A TCP segment carrying `payload` at the sender's current seq, advancing it.
    pub(crate) fn tcp_data(&mut self, t: u64, from_client: bool, flags: u8, payload: &[u8]) {
        self.exp.protocol = IPPROTO_TCP;
        let seq = if from_client { self.cseq } else { self.sseq };
        let (src, dst) = if from_client {
            (self.c, self.s)
        } else {
            (self.s, self.c)
        };
        let ack = if from_client { self.sseq } else { self.cseq };
        let spec = TcpSpec {
            src_port: src.1,
            dst_port: dst.1,
            seq,
            ack,
            flags,
            window: 65535,
            ..TcpSpec::default()
        };
        let seg = build::tcp(src.0, dst.0, &spec, payload);
        self.emit(t, from_client, IPPROTO_TCP, &seg, payload.len());
        if from_client {
            self.cseq = self.cseq.wrapping_add(payload.len() as u32);
        } else {
            self.sseq = self.sseq.wrapping_add(payload.len() as u32);
        }
    }

    /// Sends a whole message in MSS-sized segments (PSH on the last), 0.1 ms apart; the peer
    /// acknowledges at the end. Returns the time of the last segment.
    /// One request and its response, for the expectations: the request head at `req_ns`, the
    /// response head at `resp_ns`; `error` is Some(true) for a client error, Some(false) for a
    /// server error.
    pub(crate) fn l7_exchange(
        &mut self,
        proto: &str,
        req_ns: u64,
        resp_ns: u64,
        error: Option<bool>,
    ) {
        self.exp.l7_protocol = proto.to_string();
        self.exp.l7_request += 1;
        self.exp.l7_response += 1;
        self.exp.rrt_sum += resp_ns / 1_000 - req_ns / 1_000;
        match error {
            Some(true) => self.exp.l7_client_error += 1,
            Some(false) => self.exp.l7_server_error += 1,
            None => {}
        }
    }

    /// A message of `proto` that is a row of its own (a ZMTP greeting), counted as a request
    /// when the client sent it, else as a response.
    pub(crate) fn l7_lone(&mut self, proto: &str, from_client: bool) {
        self.exp.l7_protocol = proto.to_string();
        if from_client {
            self.exp.l7_request += 1;
        } else {
            self.exp.l7_response += 1;
        }
    }

    /// A message of `proto` that gets no answer by design (a QoS 0 publish, a server greeting):
    /// a request row.
    pub(crate) fn l7_one_way(&mut self, proto: &str) {
        self.exp.l7_protocol = proto.to_string();
        self.exp.l7_request += 1;
    }

    pub(crate) fn message(&mut self, t: u64, from_client: bool, msg: &[u8]) -> u64 {
        const MSS: usize = 1448;
        let chunks: Vec<&[u8]> = msg.chunks(MSS).collect();
        let mut t = t;
        for (i, c) in chunks.iter().enumerate() {
            let flags = if i + 1 == chunks.len() {
                TcpFlags::PSH | TcpFlags::ACK
            } else {
                TcpFlags::ACK
            };
            self.tcp_data(t, from_client, flags, c);
            t += MS / 10;
        }
        t
    }

    /// An ICMP echo request from the client or reply from the server (ICMPv6 in IPv6
    /// conversations) with `data` bytes of data. ICMP has no ports: the conversation's become 0.
    pub(crate) fn icmp_echo(&mut self, t: u64, from_client: bool, id_seq: (u16, u16), data: usize) {
        let proto = build::icmp_proto(self.c.0);
        self.exp.protocol = proto;
        (self.c.1, self.s.1) = (0, 0);
        (self.exp.client, self.exp.server) = (sock(self.c), sock(self.s));
        let (src, dst) = if from_client {
            (self.c.0, self.s.0)
        } else {
            (self.s.0, self.c.0)
        };
        let bytes: Vec<u8> = (0..data).map(|k| k as u8).collect();
        let msg = build::icmp_echo(src, dst, !from_client, id_seq.0, id_seq.1, &bytes);
        self.emit(t, from_client, proto, &msg, data);
    }

    /// A UDP datagram carrying `payload`.
    pub(crate) fn udp_data(&mut self, t: u64, from_client: bool, payload: &[u8]) {
        self.exp.protocol = IPPROTO_UDP;
        let (src, dst) = if from_client {
            (self.c, self.s)
        } else {
            (self.s, self.c)
        };
        let d = build::udp(src.0, dst.0, src.1, dst.1, payload);
        self.emit(t, from_client, IPPROTO_UDP, &d, payload.len());
    }

    /// A TCP segment at the sender's current seq, advancing it.
    pub(crate) fn tcp(&mut self, t: u64, from_client: bool, flags: u8, len: usize) {
        self.tcp_win(t, from_client, flags, len, 65535);
    }

    pub(crate) fn tcp_win(
        &mut self,
        t: u64,
        from_client: bool,
        flags: u8,
        len: usize,
        window: u16,
    ) {
        let seq = if from_client { self.cseq } else { self.sseq };
        self.tcp_at(t, from_client, flags, seq, len, window);
        let adv = len as u32 + u32::from(flags & (TcpFlags::SYN | TcpFlags::FIN) != 0);
        if from_client {
            self.cseq = self.cseq.wrapping_add(adv);
        } else {
            self.sseq = self.sseq.wrapping_add(adv);
        }
    }

    pub(crate) fn udp(&mut self, t: u64, from_client: bool, len: usize) {
        self.exp.protocol = IPPROTO_UDP;
        let (src, dst) = if from_client {
            (self.c, self.s)
        } else {
            (self.s, self.c)
        };
        let payload = vec![0x5a; len];
        let d = build::udp(src.0, dst.0, src.1, dst.1, &payload);
        self.emit(t, from_client, IPPROTO_UDP, &d, len);
    }

    /// SYN, SYN-ACK after `rtt_server`, ACK after `rtt_client`; records the full RTT.
    pub(crate) fn handshake(&mut self, t: u64, rtt_server: u64, rtt_client: u64) -> u64 {
        self.tcp(t, true, TcpFlags::SYN, 0);
        self.tcp(t + rtt_server, false, TcpFlags::SYN | TcpFlags::ACK, 0);
        self.tcp(t + rtt_server + rtt_client, true, TcpFlags::ACK, 0);
        self.exp.rtt = ((rtt_server + rtt_client) / 1_000) as u32;
        t + rtt_server + rtt_client
    }

    /// Client FIN, server FIN, last ACK.
    pub(crate) fn close(&mut self, t: u64) -> u64 {
        self.tcp(t, true, TcpFlags::FIN | TcpFlags::ACK, 0);
        self.tcp(t + MS, false, TcpFlags::FIN | TcpFlags::ACK, 0);
        self.tcp(t + 2 * MS, true, TcpFlags::ACK, 0);
        t + 2 * MS
    }

    pub(crate) fn finish(self, close_type: u8) -> ExpectedFlow {
        ExpectedFlow {
            close_type,
            ..self.exp
        }
    }
}
