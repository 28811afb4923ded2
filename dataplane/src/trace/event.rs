//! Decoding the tracer's ring-buffer events (`struct tapflow_trace_event`, little-endian, laid out
//! in `xdp-prog/include/tapflow_trace.h`) into the analyzer's [`SocketEvent`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use tapflow_analyzer::inline::InlineBytes;
use tapflow_analyzer::syscall::{EventKind, SocketEvent};
use tapflow_xdp_prog::trace::{direction, kind, source, HDR_SIZE};

const AF_UNIX: u8 = 1;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;
pub const IPPROTO_UDP: u8 = 17;

/// One event as BPF wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawEvent<'a> {
    pub ts_mono_ns: u64,
    pub sock_id: u64,
    pub trace_id: u64,
    pub tgid: u32,
    pub tid: u32,
    pub fd: i32,
    pub syscall_len: u32,
    pub kind: u8,
    pub direction: u8,
    pub source: u8,
    pub family: u8,
    pub lport: u16,
    pub rport: u16,
    /// IPPROTO_TCP or IPPROTO_UDP (0: unresolved in BPF, taken for TCP).
    pub proto: u8,
    pub laddr: [u8; 16],
    pub raddr: [u8; 16],
    pub comm: [u8; 16],
    /// The process's network namespace (its inode number; 0 unknown).
    pub netns: u32,
    pub payload: &'a [u8],
}

/// Why an event could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("event of {0} bytes is shorter than its header")]
    Short(usize),
    #[error("event says {cap} payload bytes, carries {have}")]
    Payload { cap: u32, have: usize },
    #[error("unknown event kind {0}")]
    Kind(u8),
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from(u32_at(b, at)) | u64::from(u32_at(b, at + 4)) << 32
}
fn arr16(b: &[u8], at: usize) -> [u8; 16] {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[at..at + 16]);
    a
}

/// Decodes one event (bounds-checked: a short or inconsistent event is an error, not a panic).
pub fn decode(b: &[u8]) -> Result<RawEvent<'_>, EventError> {
    if b.len() < HDR_SIZE {
        return Err(EventError::Short(b.len()));
    }
    let cap = u32_at(b, 40);
    let payload = b
        .get(HDR_SIZE..HDR_SIZE + cap as usize)
        .ok_or(EventError::Payload {
            cap,
            have: b.len() - HDR_SIZE,
        })?;
    let k = b[44];
    if !(kind::DATA..=kind::CLOSE).contains(&k) {
        return Err(EventError::Kind(k));
    }
    Ok(RawEvent {
        ts_mono_ns: u64_at(b, 0),
        sock_id: u64_at(b, 8),
        trace_id: u64_at(b, 16),
        tgid: u32_at(b, 24),
        tid: u32_at(b, 28),
        fd: u32_at(b, 32) as i32,
        syscall_len: u32_at(b, 36),
        kind: k,
        direction: b[45],
        source: b[46],
        family: b[47],
        lport: u16_at(b, 48),
        rport: u16_at(b, 50),
        proto: b[52],
        laddr: arr16(b, 56),
        raddr: arr16(b, 72),
        comm: arr16(b, 88),
        netns: u32_at(b, 104),
        payload,
    })
}

/// A socket's two ends from BPF's fields; IPv4-mapped IPv6 ends become IPv4 (so does the `::` of
/// a dual-stack socket bound to no address, beside an IPv4-mapped peer). None when BPF did not
/// resolve the socket.
pub fn tuple(e: &RawEvent<'_>) -> Option<((IpAddr, u16), (IpAddr, u16))> {
    let (l, r) = match e.family {
        AF_INET => (
            IpAddr::V4(Ipv4Addr::new(
                e.laddr[0], e.laddr[1], e.laddr[2], e.laddr[3],
            )),
            IpAddr::V4(Ipv4Addr::new(
                e.raddr[0], e.raddr[1], e.raddr[2], e.raddr[3],
            )),
        ),
        AF_INET6 => {
            let (l, r) = (Ipv6Addr::from(e.laddr), Ipv6Addr::from(e.raddr));
            match (l.to_ipv4_mapped(), r.to_ipv4_mapped()) {
                (Some(l4), Some(r4)) => (IpAddr::V4(l4), IpAddr::V4(r4)),
                // A dual-stack socket bound to `::` talking to an IPv4 peer (a UDP server's).
                (None, Some(r4)) if l.is_unspecified() => {
                    (IpAddr::V4(Ipv4Addr::UNSPECIFIED), IpAddr::V4(r4))
                }
                _ => (IpAddr::V6(l), IpAddr::V6(r)),
            }
        }
        // A unix stream socket: no addresses, made-up ports (BPF's `unix_port`).
        AF_UNIX => (
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        ),
        _ => return None,
    };
    Some(((l, e.lport), (r, e.rport)))
}

impl<'a> RawEvent<'a> {
    /// The analyzer's event, with wall-clock time (`mono_to_real_ns` added) and the socket's
    /// ends (from BPF, or from /proc when BPF could not resolve them).
    pub fn socket_event(
        &self,
        mono_to_real_ns: u64,
        ends: ((IpAddr, u16), (IpAddr, u16)),
    ) -> SocketEvent<'a> {
        let comm_len = self.comm.iter().position(|&c| c == 0).unwrap_or(16);
        let kind = match self.kind {
            kind::DATA => EventKind::Data {
                egress: self.direction == direction::EGRESS,
                tls: matches!(self.source, source::OPENSSL | source::GO_TLS),
            },
            kind::CONNECT => EventKind::Connect,
            kind::ACCEPT => EventKind::Accept,
            _ => EventKind::Close,
        };
        SocketEvent {
            ts_ns: self.ts_mono_ns.wrapping_add(mono_to_real_ns),
            kind,
            pid: self.tgid,
            tid: self.tid,
            fd: self.fd,
            socket_id: self.sock_id,
            trace_id: self.trace_id,
            comm: InlineBytes::from_slice(&self.comm[..comm_len]),
            local: ends.0,
            remote: ends.1,
            call_len: self.syscall_len,
            payload: self.payload,
            udp: self.proto == IPPROTO_UDP,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(family: u8, l: [u8; 16], r: [u8; 16], payload: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; HDR_SIZE];
        b[0..8].copy_from_slice(&5_000u64.to_le_bytes());
        b[8..16].copy_from_slice(&0xffff_8880_1234_0000u64.to_le_bytes());
        b[16..24].copy_from_slice(&77u64.to_le_bytes());
        b[24..28].copy_from_slice(&1234u32.to_le_bytes());
        b[28..32].copy_from_slice(&1235u32.to_le_bytes());
        b[32..36].copy_from_slice(&7i32.to_le_bytes());
        b[36..40].copy_from_slice(&(payload.len() as u32 + 10).to_le_bytes());
        b[40..44].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        b[44] = kind::DATA;
        b[45] = direction::INGRESS;
        b[46] = source::OPENSSL;
        b[47] = family;
        b[48..50].copy_from_slice(&8080u16.to_le_bytes());
        b[50..52].copy_from_slice(&40000u16.to_le_bytes());
        b[56..72].copy_from_slice(&l);
        b[72..88].copy_from_slice(&r);
        b[88..92].copy_from_slice(b"curl");
        b[104..108].copy_from_slice(&4_026_531_840u32.to_le_bytes());
        b.extend_from_slice(payload);
        b
    }

    #[test]
    fn an_event_decodes_field_by_field() {
        let mut l = [0u8; 16];
        l[..4].copy_from_slice(&[127, 0, 0, 1]);
        let b = raw(AF_INET, l, l, b"GET / HTTP/1.1\r\n");
        let e = decode(&b).unwrap();
        assert_eq!((e.tgid, e.tid, e.fd, e.trace_id), (1234, 1235, 7, 77));
        assert_eq!(e.netns, 4_026_531_840);
        assert_eq!(e.payload, b"GET / HTTP/1.1\r\n");
        let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let ends = tuple(&e).unwrap();
        assert_eq!(ends, ((lo, 8080), (lo, 40000)));
        let s = e.socket_event(1_000, ends);
        assert_eq!(s.ts_ns, 6_000);
        assert_eq!(
            s.kind,
            EventKind::Data {
                egress: false,
                tls: true
            }
        );
        assert_eq!(s.comm.as_bytes(), b"curl");
        assert_eq!(s.call_len, 26);
    }

    #[test]
    fn the_protocol_byte_tells_udp_from_tcp() {
        let mut b = raw(AF_INET, [0; 16], [0; 16], b"q");
        let ends = (
            (IpAddr::V4(Ipv4Addr::LOCALHOST), 1),
            (IpAddr::V4(Ipv4Addr::LOCALHOST), 2),
        );
        assert!(!decode(&b).unwrap().socket_event(0, ends).udp);
        b[52] = IPPROTO_UDP;
        let e = decode(&b).unwrap();
        assert_eq!(e.proto, IPPROTO_UDP);
        assert!(e.socket_event(0, ends).udp);
    }

    #[test]
    fn a_unix_socket_has_no_addresses_and_is_known_as_one() {
        let mut b = raw(AF_UNIX, [0; 16], [0; 16], b"PING");
        b[48..50].copy_from_slice(&38_397u16.to_le_bytes());
        b[50..52].copy_from_slice(&11_070u16.to_le_bytes());
        let e = decode(&b).unwrap();
        let ends = tuple(&e).unwrap();
        let none = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        assert_eq!(ends, ((none, 38_397), (none, 11_070)));
        let ev = e.socket_event(0, ends);
        assert!(ev.is_unix_socket() && !ev.udp);
        // A TCP socket on loopback is not one.
        let b = raw(
            AF_INET,
            [127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            [0; 16],
            b"",
        );
        let e = decode(&b).unwrap();
        assert!(!e.socket_event(0, tuple(&e).unwrap()).is_unix_socket());
    }

    #[test]
    fn mapped_ipv6_becomes_ipv4_and_unresolved_has_no_tuple() {
        let mapped = Ipv4Addr::LOCALHOST.to_ipv6_mapped().octets();
        let b = raw(AF_INET6, mapped, mapped, b"");
        let e = decode(&b).unwrap();
        assert!(tuple(&e).unwrap().0 .0.is_ipv4());
        let b = raw(0, [0; 16], [0; 16], b"x");
        assert_eq!(tuple(&decode(&b).unwrap()), None);
        // A dual-stack UDP socket bound to `::`, its peer an IPv4 client.
        let b = raw(AF_INET6, [0; 16], mapped, b"");
        let ((l, _), (r, _)) = tuple(&decode(&b).unwrap()).unwrap();
        assert_eq!(
            (l, r),
            (
                IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                IpAddr::V4(Ipv4Addr::LOCALHOST)
            )
        );
    }

    #[test]
    fn short_or_inconsistent_events_are_errors() {
        assert_eq!(decode(&[0u8; 10]), Err(EventError::Short(10)));
        let mut b = raw(AF_INET, [0; 16], [0; 16], b"abc");
        b.truncate(HDR_SIZE + 1);
        assert!(matches!(
            decode(&b),
            Err(EventError::Payload { cap: 3, have: 1 })
        ));
        let mut b = raw(AF_INET, [0; 16], [0; 16], b"");
        b[44] = 9;
        assert_eq!(decode(&b), Err(EventError::Kind(9)));
        for n in 0..HDR_SIZE + 3 {
            let b = raw(AF_INET, [0; 16], [0; 16], b"abc");
            let _ = decode(&b[..n]);
        }
    }
}
