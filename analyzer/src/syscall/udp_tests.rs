//! UDP sockets in the syscall tracker: a flow per peer of a socket that is not connected, each
//! call one datagram, both ends named when both processes are traced.

use std::net::{IpAddr, Ipv4Addr};

use super::*;
use crate::l7::tracker::tests::{dns_answer, dns_query};
use crate::record::Collected;

const T0: u64 = 1_700_000_000_000_000_000;
const MS: u64 = 1_000_000;
const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const SERVER_SOCKET: u64 = 0xC000;

/// A DNS server (pid 300, one socket bound to 127.0.0.1:53, not connected) and two clients:
/// `dig` (pid 400, connected from port 41000) and `getent` (pid 500, port 42000).
struct Dns {
    t: SyscallTracker,
    out: Collected,
}

#[derive(Clone, Copy)]
enum Who {
    Server { peer: u16 },
    Client { port: u16 },
}

fn ev(who: Who, at_ms: u64, kind: EventKind, payload: &[u8]) -> SocketEvent<'_> {
    let (pid, comm, socket_id, local, remote) = match who {
        Who::Server { peer } => (300, "dnsd", SERVER_SOCKET, 53, peer),
        Who::Client { port } => (
            if port == 41000 { 400 } else { 500 },
            if port == 41000 { "dig" } else { "getent" },
            u64::from(port) << 8,
            port,
            53,
        ),
    };
    SocketEvent {
        ts_ns: T0 + at_ms * MS,
        kind,
        pid,
        tid: pid,
        fd: 3,
        socket_id,
        trace_id: 0,
        comm: InlineBytes::from_slice(comm.as_bytes()),
        local: (LO, local),
        remote: (LO, remote),
        call_len: payload.len() as u32,
        payload,
        udp: true,
    }
}

impl Dns {
    fn new() -> Self {
        Dns {
            t: SyscallTracker::new(SyscallConfig::default(), L7Config::default()),
            out: Collected::default(),
        }
    }

    fn send(&mut self, who: Who, at_ms: u64, egress: bool, payload: &[u8]) {
        let e = ev(who, at_ms, EventKind::Data { egress, tls: false }, payload);
        self.t.on_event(&e, &mut self.out);
    }

    /// One query and its answer, as the client and the server each saw them.
    fn lookup(&mut self, port: u16, at_ms: u64, id: u16, name: &str) {
        let (q, a) = (
            dns_query(id, name, 1),
            dns_answer(id, name, 0, Some([192, 0, 2, 1])),
        );
        self.send(Who::Client { port }, at_ms, true, &q);
        self.send(Who::Server { peer: port }, at_ms + 1, false, &q);
        self.send(Who::Server { peer: port }, at_ms + 2, true, &a);
        self.send(Who::Client { port }, at_ms + 3, false, &a);
    }
}

fn s<const N: usize>(b: &InlineBytes<N>) -> &str {
    std::str::from_utf8(b.as_bytes()).unwrap()
}

#[test]
fn a_server_socket_makes_a_flow_per_peer_and_both_ends_are_named() {
    let mut d = Dns::new();
    d.t.on_event(
        &ev(Who::Client { port: 41000 }, 0, EventKind::Connect, &[]),
        &mut d.out,
    );
    d.lookup(41000, 10, 7, "a.example");
    d.lookup(42000, 11, 8, "b.example");
    d.lookup(41000, 20, 9, "c.example");
    // Each client's socket, and the server's socket once per peer.
    assert_eq!(d.t.sockets(), 4);
    let rows = &d.out.l7;
    assert_eq!(rows.len(), 6, "{rows:#?}");
    for r in rows {
        assert_eq!(r.l7_protocol_str, "DNS");
        assert_eq!(r.peers.protocol, 17);
        assert_eq!(r.peers.server_port, 53);
        assert_eq!(r.response_code, Some(0));
        assert_eq!(s(&r.syscall.process_kname_1), "dnsd", "{r:#?}");
        let client = if r.peers.client_port == 41000 {
            "dig"
        } else {
            "getent"
        };
        assert_eq!(s(&r.syscall.process_kname_0), client);
    }
    let mut seen: Vec<_> = rows
        .iter()
        .map(|r| (s(&r.request_domain).to_string(), r.observation_point))
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("a.example".to_string(), "c-p"),
            ("a.example".to_string(), "s-p"),
            ("b.example".to_string(), "c-p"),
            ("b.example".to_string(), "s-p"),
            ("c.example".to_string(), "c-p"),
            ("c.example".to_string(), "s-p"),
        ]
    );
    // RRT as each process saw it: the client 3 ms, the server 1 ms.
    for r in rows {
        let want = if r.observation_point == "c-p" {
            3_000
        } else {
            1_000
        };
        assert_eq!(r.response_duration, want);
    }
}

#[test]
fn closing_a_server_socket_ends_the_flow_of_every_peer() {
    let mut d = Dns::new();
    let q = dns_query(1, "x.example", 1);
    d.send(Who::Server { peer: 41000 }, 1, false, &q);
    d.send(Who::Server { peer: 42000 }, 2, false, &q);
    assert_eq!(d.t.sockets(), 2);
    // The server's close names no peer: its socket was not connected.
    let mut close = ev(Who::Server { peer: 0 }, 5, EventKind::Close, &[]);
    close.remote = (IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);
    d.t.on_event(&close, &mut d.out);
    assert_eq!(d.t.sockets(), 0);
    assert_eq!(d.t.counters().sockets_closed, 2);
    // Both queries were unanswered: reported as such when their flows ended.
    assert_eq!(d.out.l7.len(), 2);
    assert!(d.out.l7.iter().all(|r| r.response_status == 2));
}

#[test]
fn a_socket_bound_to_any_address_talking_to_loopback_is_named_by_its_loopback_address() {
    let mut d = Dns::new();
    let (q, a) = (
        dns_query(3, "any.example", 1),
        dns_answer(3, "any.example", 0, None),
    );
    // The client's socket sent before binding: the kernel reports 0.0.0.0 as its address.
    fn any(e: SocketEvent<'_>) -> SocketEvent<'_> {
        SocketEvent {
            local: (IpAddr::V4(Ipv4Addr::UNSPECIFIED), e.local.1),
            ..e
        }
    }
    let data = |egress| EventKind::Data { egress, tls: false };
    let client = Who::Client { port: 42000 };
    d.t.on_event(&any(ev(client, 1, data(true), &q)), &mut d.out);
    d.send(Who::Server { peer: 42000 }, 2, false, &q);
    d.send(Who::Server { peer: 42000 }, 3, true, &a);
    d.t.on_event(&any(ev(client, 4, data(false), &a)), &mut d.out);
    assert_eq!(d.out.l7.len(), 2);
    for r in &d.out.l7 {
        assert_eq!(r.peers.ip_0, LO, "{r:#?}");
        assert_eq!(s(&r.syscall.process_kname_0), "getent");
        assert_eq!(s(&r.syscall.process_kname_1), "dnsd");
    }
}

#[test]
fn a_server_meeting_a_new_port_per_query_stays_within_its_table() {
    // glibc's resolver opens a socket per lookup: every query comes from another port.
    let mut d = Dns {
        t: SyscallTracker::new(
            SyscallConfig {
                max_sockets: 2_000,
                ..SyscallConfig::default()
            },
            L7Config::default(),
        ),
        out: Collected::default(),
    };
    let mut at_ms = 0;
    for i in 0..5_000u32 {
        let port = 20_000 + i as u16;
        let (q, a) = (
            dns_query(i as u16, "n.example", 1),
            dns_answer(i as u16, "n.example", 0, None),
        );
        d.send(Who::Server { peer: port }, at_ms, false, &q);
        d.send(Who::Server { peer: port }, at_ms + 1, true, &a);
        at_ms += 10;
    }
    // 50 s of queries, 100 a second: flows idle for 15 s are let go, so the table never fills.
    assert_eq!(d.t.counters().socket_table_full, 0);
    assert!(d.t.sockets() <= 1_600, "{}", d.t.sockets());
    assert!(d.t.counters().sockets_expired >= 3_000);
    d.t.finish(&mut d.out);
    assert_eq!(d.out.l7.len(), 5_000, "every query answered, once");
    assert!(d.out.l7.iter().all(|r| r.response_code == Some(0)));
}
