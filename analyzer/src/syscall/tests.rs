use std::net::{IpAddr, Ipv4Addr};

use super::*;
use crate::record::Collected;

const T0: u64 = 1_700_000_000_000_000_000;
const MS: u64 = 1_000_000;
const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Two local processes: curl (pid 100, port 40000) talking to python3 (pid 200, port 8000).
struct Host {
    t: SyscallTracker,
    out: Collected,
}

#[derive(Clone, Copy)]
enum Who {
    Curl,
    Python,
}

impl Host {
    fn new() -> Self {
        Self::with(SyscallConfig::default())
    }

    fn with(cfg: SyscallConfig) -> Self {
        Host {
            t: SyscallTracker::new(cfg, L7Config::default()),
            out: Collected::default(),
        }
    }

    fn ev(who: Who, at_ms: u64, kind: EventKind, payload: &[u8], call_len: u32) -> SocketEvent<'_> {
        let (pid, comm, socket_id, local, remote) = match who {
            Who::Curl => (100, "curl", 0xA000, 40000, 8000),
            Who::Python => (200, "python3", 0xB000, 8000, 40000),
        };
        SocketEvent {
            ts_ns: T0 + at_ms * MS,
            kind,
            pid,
            tid: pid + 1,
            fd: 5,
            socket_id,
            trace_id: u64::from(pid) * 1000 + at_ms,
            comm: InlineBytes::from_slice(comm.as_bytes()),
            local: (LO, local),
            remote: (LO, remote),
            call_len,
            payload,
            udp: false,
        }
    }

    fn send(&mut self, who: Who, at_ms: u64, egress: bool, payload: &[u8]) {
        let len = payload.len() as u32;
        self.send_cut(who, at_ms, egress, payload, len);
    }

    fn send_cut(&mut self, who: Who, at_ms: u64, egress: bool, payload: &[u8], call_len: u32) {
        let kind = EventKind::Data { egress, tls: false };
        let ev = Self::ev(who, at_ms, kind, payload, call_len);
        self.t.on_event(&ev, &mut self.out);
    }

    fn life(&mut self, who: Who, at_ms: u64, kind: EventKind) {
        let ev = Self::ev(who, at_ms, kind, &[], 0);
        self.t.on_event(&ev, &mut self.out);
    }

    /// One HTTP exchange seen in both processes.
    fn http(&mut self, at_ms: u64, path: &str) {
        let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
        let resp = b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi";
        self.send(Who::Curl, at_ms, true, req.as_bytes());
        self.send(Who::Python, at_ms + 1, false, req.as_bytes());
        self.send(Who::Python, at_ms + 3, true, resp);
        self.send(Who::Curl, at_ms + 4, false, resp);
    }
}

fn s<const N: usize>(b: &InlineBytes<N>) -> &str {
    std::str::from_utf8(b.as_bytes()).unwrap()
}

#[test]
fn an_exchange_between_two_traced_processes_gives_one_row_per_process_naming_both() {
    let mut h = Host::new();
    h.life(Who::Curl, 0, EventKind::Connect);
    h.life(Who::Python, 0, EventKind::Accept);
    h.http(10, "/a");
    h.http(20, "/b");
    let rows = &h.out.l7;
    assert_eq!(rows.len(), 4, "{rows:#?}");
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(s(&r.request_type), "GET");
        assert_eq!(s(&r.request_resource), if i < 2 { "/a" } else { "/b" });
        assert_eq!(r.response_code, Some(200));
        assert_eq!(r.signal_source, 3);
        assert_eq!(r.peers.client_port, 40000);
        assert_eq!(r.peers.server_port, 8000);
        assert_eq!(r.syscall.process_id_0, 100);
        assert_eq!(s(&r.syscall.process_kname_0), "curl");
        assert_eq!(r.syscall.process_id_1, 200);
        assert_eq!(s(&r.syscall.process_kname_1), "python3");
        assert_eq!(r.tap_port >> 60, 7, "eBPF tap_port");
    }
    let client_row = rows.iter().find(|r| r.tap_side == 41).unwrap();
    let server_row = rows.iter().find(|r| r.tap_side == 42).unwrap();
    assert_eq!(client_row.observation_point, "c-p");
    assert_eq!(server_row.observation_point, "s-p");
    // RRT as each process saw it: curl wrote at 10 ms, read at 14 ms; python read at 11, wrote at 13.
    assert_eq!(client_row.response_duration, 4_000);
    assert_eq!(server_row.response_duration, 2_000);
    // Trace ids as the tracer gave them: of the call that began the request and the response.
    assert_eq!(server_row.syscall.syscall_trace_id_request, 200 * 1000 + 11);
    assert_eq!(
        server_row.syscall.syscall_trace_id_response,
        200 * 1000 + 13
    );
    assert_eq!(server_row.syscall.syscall_thread_0, 201);
    assert_eq!(server_row.syscall.syscall_cap_seq_0, 1);
    assert_eq!(server_row.syscall.syscall_cap_seq_1, 2);
    assert_eq!(h.t.counters().rows_with_peer_process, 4);
    assert_eq!(h.t.counters().sockets_opened, 2);
}

#[test]
fn the_peer_is_named_when_it_closed_before_the_last_response_was_read() {
    let mut h = Host::new();
    let req = b"GET /c HTTP/1.0\r\n\r\n";
    let resp = b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n";
    h.send(Who::Curl, 10, true, req);
    h.send(Who::Python, 11, false, req);
    h.send(Who::Python, 12, true, resp);
    h.life(Who::Python, 12, EventKind::Close);
    h.send(Who::Curl, 13, false, resp);
    let client_row = h.out.l7.iter().find(|r| r.tap_side == 41).unwrap();
    assert_eq!(s(&client_row.syscall.process_kname_1), "python3");
    // Long after the close, the owner is forgotten (curl's socket is still open).
    assert_eq!(h.t.sockets.infos().by_tuple.len(), 2);
    h.t.tick(T0 + 60_000 * MS, &mut h.out);
    assert_eq!(h.t.sockets.infos().by_tuple.len(), 1);
}

#[test]
fn a_socket_open_before_tracing_is_followed_from_its_first_data() {
    let mut h = Host::new();
    h.http(10, "/x");
    assert_eq!(h.out.l7.len(), 2);
    assert!(h.out.l7.iter().all(|r| r.response_code == Some(200)));
}

#[test]
fn bytes_beyond_the_captured_prefix_are_a_gap_and_the_next_message_still_parses() {
    let mut h = Host::new();
    let body = vec![b'x'; 5000];
    let mut resp = b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n".to_vec();
    resp.extend_from_slice(&body);
    let req = b"GET /big HTTP/1.1\r\nHost: h\r\n\r\n";
    h.send(Who::Curl, 10, true, req);
    // The tracer captured only the first 100 bytes of the response.
    h.send_cut(Who::Curl, 12, false, &resp[..100], resp.len() as u32);
    let req2 = b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n";
    h.send(Who::Curl, 20, true, req2);
    h.send(
        Who::Curl,
        21,
        false,
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
    );
    let codes: Vec<_> = h.out.l7.iter().map(|r| r.response_code).collect();
    assert_eq!(codes, [Some(200), Some(404)], "{:#?}", h.out.l7);
    assert_eq!(h.t.counters().uncaptured_bytes, resp.len() as u64 - 100);
}

#[test]
fn openssl_plaintext_is_its_own_stream_marked_tls() {
    let mut h = Host::new();
    // Ciphertext of the handshake on the socket, then plaintext from OpenSSL.
    let ev = |kind, payload: &'static [u8]| {
        let mut e = Host::ev(Who::Curl, 10, kind, payload, payload.len() as u32);
        e.ts_ns += 1;
        e
    };
    let hello: &[u8] = &[0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0, 0, 1, 0];
    h.t.on_event(
        &ev(
            EventKind::Data {
                egress: true,
                tls: false,
            },
            hello,
        ),
        &mut h.out,
    );
    let req: &'static [u8] = b"GET /secret HTTP/1.1\r\nHost: h\r\n\r\n";
    let resp: &'static [u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    h.t.on_event(
        &ev(
            EventKind::Data {
                egress: true,
                tls: true,
            },
            req,
        ),
        &mut h.out,
    );
    h.t.on_event(
        &ev(
            EventKind::Data {
                egress: false,
                tls: true,
            },
            resp,
        ),
        &mut h.out,
    );
    let http: Vec<_> = h
        .out
        .l7
        .iter()
        .filter(|r| r.l7_protocol_str == "HTTP")
        .collect();
    assert_eq!(http.len(), 1, "{:#?}", h.out.l7);
    assert_eq!(s(&http[0].request_resource), "/secret");
    assert!(http[0].is_tls);
    assert_eq!(h.t.counters().tls_events, 2);
}

#[test]
fn close_reports_an_unanswered_request_and_frees_the_socket() {
    let mut h = Host::new();
    h.send(
        Who::Curl,
        10,
        true,
        b"GET /lost HTTP/1.1\r\nHost: h\r\n\r\n",
    );
    assert!(h.out.l7.is_empty());
    h.life(Who::Curl, 20, EventKind::Close);
    assert_eq!(h.out.l7.len(), 1);
    assert_eq!(h.out.l7[0].response_status, 2, "timeout");
    assert_eq!(h.out.l7[0].tap_side, 41);
    assert_eq!(h.t.sockets(), 0);
    assert_eq!(h.t.counters().sockets_closed, 1);
}

#[test]
fn the_socket_table_is_bounded_and_idle_sockets_expire() {
    let mut h = Host::with(SyscallConfig {
        max_sockets: 1,
        idle_timeout_ns: 5_000 * MS,
        ..SyscallConfig::default()
    });
    h.send(Who::Curl, 10, true, b"GET / HTTP/1.1\r\n\r\n");
    h.send(Who::Python, 11, false, b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(h.t.sockets(), 1);
    assert_eq!(h.t.counters().socket_table_full, 1);
    // Time passes (a later event of another socket): the first expires, its request times out.
    h.send(Who::Python, 20_000, false, b"x");
    assert_eq!(h.t.counters().sockets_expired, 1);
    assert!(h.out.l7.iter().any(|r| r.response_status == 2));
}

#[test]
fn hostile_payloads_never_panic() {
    let mut h = Host::new();
    let mut x: u32 = 7;
    for i in 0..2000u64 {
        let mut buf = [0u8; 64];
        for b in &mut buf {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            *b = (x >> 16) as u8;
        }
        let n = (x as usize) % 64;
        let who = if i % 2 == 0 { Who::Curl } else { Who::Python };
        h.send_cut(who, i, i % 3 == 0, &buf[..n], (x % 100_000) + n as u32);
    }
    h.t.finish(&mut h.out);
    assert_eq!(h.t.sockets(), 0);
}

#[test]
fn trace_ids_can_be_turned_off() {
    let mut h = Host::with(SyscallConfig {
        trace_ids: false,
        ..SyscallConfig::default()
    });
    h.http(10, "/t");
    assert_eq!(h.out.l7.len(), 2);
    for r in &h.out.l7 {
        assert_eq!(r.syscall.syscall_trace_id_request, 0);
        assert_eq!(r.syscall.syscall_trace_id_response, 0);
        assert_ne!(r.syscall.syscall_thread_0, 0, "threads are still named");
    }
}

#[test]
fn extreme_timestamps_do_not_overflow() {
    // Fuzzing found: an event stamped near u64::MAX made the once-a-second sweep overflow.
    let mut h = Host::new();
    let mut ev = Host::ev(
        Who::Curl,
        0,
        EventKind::Data {
            egress: true,
            tls: false,
        },
        b"GET / HTTP/1.1\r\n\r\n",
        18,
    );
    ev.ts_ns = u64::MAX - 5;
    h.t.on_event(&ev, &mut h.out);
    ev.ts_ns = u64::MAX;
    h.t.on_event(&ev, &mut h.out);
    ev.ts_ns = 0;
    h.t.on_event(&ev, &mut h.out);
    h.t.finish(&mut h.out);
}

#[test]
fn cbpf_disabled_leaves_the_tracers_request_logs() {
    let l7 = L7Config {
        packets_disabled: true,
        ..L7Config::default()
    };
    let mut h = Host {
        t: SyscallTracker::new(SyscallConfig::default(), l7),
        out: Collected::default(),
    };
    h.life(Who::Curl, 0, EventKind::Connect);
    h.life(Who::Python, 0, EventKind::Accept);
    h.http(10, "/a");
    assert_eq!(h.out.l7.len(), 2, "{:#?}", h.out.l7);
}

#[test]
fn sockets_are_traced_by_their_ports_the_deny_list_winning() {
    let set = |ports: &[u16]| {
        let mut s = PortSet::new();
        for &p in ports {
            s.insert(p);
        }
        Some(s)
    };
    // (allow, deny, rows): the exchange is between ports 40000 and 8000.
    for (allow, deny, rows) in [
        (None, None, 2),
        (None, set(&[8000]), 0),
        (None, set(&[40000]), 0),
        (None, set(&[9000]), 2),
        (set(&[8000]), None, 2),
        (set(&[9000]), None, 0),
        (set(&[8000]), set(&[40000]), 0),
    ] {
        let mut h = Host::with(SyscallConfig {
            ports: SocketPorts { allow, deny },
            ..SyscallConfig::default()
        });
        h.life(Who::Curl, 0, EventKind::Connect);
        h.http(10, "/p");
        h.life(Who::Curl, 20, EventKind::Close);
        let c = h.t.counters();
        assert_eq!(h.out.l7.len(), rows, "{:?}", h.t.cfg.ports);
        if rows == 0 {
            assert_eq!(c.port_filtered, 6, "every event counted");
            assert_eq!((c.sockets_opened, h.t.sockets()), (0, 0), "no socket state");
        } else {
            assert_eq!(c.port_filtered, 0);
        }
    }
}

#[test]
fn data_events_beyond_the_rate_leave_gaps_and_the_next_second_is_whole() {
    let mut h = Host::with(SyscallConfig {
        max_rate: 4,
        ..SyscallConfig::default()
    });
    h.life(Who::Curl, 0, EventKind::Connect);
    // Second 0: the first exchange's four events are taken, the second's are not.
    h.http(10, "/a");
    h.http(20, "/c");
    // Second 1: the whole exchange, after the gaps.
    h.http(1_010, "/b");
    h.t.finish(&mut h.out);
    let c = h.t.counters();
    assert_eq!(c.rate_limited, 4);
    assert!(c.uncaptured_bytes > 0, "the second exchange's bytes");
    let rows = |path: &str| -> Vec<Option<i32>> {
        h.out
            .l7
            .iter()
            .filter(|r| s(&r.request_resource) == path)
            .map(|r| r.response_code)
            .collect()
    };
    assert_eq!(rows("/a"), [Some(200), Some(200)], "{:#?}", h.out.l7);
    assert_eq!(rows("/b"), [Some(200), Some(200)], "{:#?}", h.out.l7);
    assert!(rows("/c").is_empty());
}
