//! Request logs from processes' own socket reads and writes (the syscall tracer's events), through
//! the same L7 contract and pairing as packets.
//!
//! Each traced socket (a process's TCP socket, and separately the plaintext OpenSSL gave for it)
//! becomes a flow whose side 0 is the process's end: what the process wrote is side 0's byte
//! stream, what it read is side 1's, numbered by the bytes each call moved (a call's payload
//! prefix shorter than the call leaves a gap, as a lost segment would). A UDP socket makes a flow
//! per peer (a socket that is not connected names its peer in each call), each call one
//! datagram. The [`L7Tracker`] infers
//! the protocol, parses and pairs; [`tag::ProcessTagger`] fills each row's process and syscall
//! fields (DeepFlow's `process_id_0/1`, `process_kname_0/1`, `syscall_*`) and marks it as an
//! eBPF row seen from the client or server process (`tap_side` c-p / s-p). When both ends of a
//! connection are traced processes on this host, each row names both.
//!
//! Sans-IO: events carry their wall-clock time; the socket table is bounded and every refused
//! or dropped event is counted.

mod sockets;
mod tag;

use std::net::IpAddr;

use crate::inline::InlineBytes;
use crate::l7::tracker::{Carrier, L7Packet};
use crate::l7::{L7Config, L7Counters, L7Tracker};
use crate::mirror::CaptureMode;
use crate::ports::PortSet;
use crate::record::RecordSink;
use crate::tcp::SeqNumber;

pub use sockets::SocketKey;
use sockets::SocketTable;
use tag::ProcessTagger;

/// The socket data syscalls the tracer can hook (DeepFlow's
/// `inputs.ebpf.socket.tunning.hooked_socket_syscalls`, whose default is all of them).
pub const DATA_SYSCALLS: [&str; 10] = [
    "read", "readv", "recvfrom", "recvmsg", "recvmmsg", "sendmsg", "sendmmsg", "sendto", "write",
    "writev",
];

/// What a traced call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// The process wrote (`egress`) or read bytes; `tls`: plaintext from OpenSSL.
    Data {
        egress: bool,
        tls: bool,
    },
    /// connect() on the socket: the process is the client.
    Connect,
    /// accept() returned the socket: the process is the server.
    Accept,
    Close,
}

/// One event of the syscall tracer, decoded.
#[derive(Debug, Clone, Copy)]
pub struct SocketEvent<'a> {
    /// Wall clock, ns since the Unix epoch.
    pub ts_ns: u64,
    pub kind: EventKind,
    pub pid: u32,
    pub tid: u32,
    pub fd: i32,
    /// The kernel's id of the socket (stable while it lives).
    pub socket_id: u64,
    /// The thread's syscall trace id (a request read and the writes serving it share one).
    pub trace_id: u64,
    pub comm: InlineBytes<16>,
    /// The process's end and the peer's.
    pub local: (IpAddr, u16),
    pub remote: (IpAddr, u16),
    /// Bytes the call moved (`payload` may be a prefix).
    pub call_len: u32,
    pub payload: &'a [u8],
    /// A UDP socket (each call one datagram); else TCP.
    pub udp: bool,
}

impl SocketEvent<'_> {
    /// A unix stream socket's (the tracer gives them no addresses, 0.0.0.0 both ways, and
    /// made-up ports; no TCP socket carrying data has both ends unspecified): the port lists
    /// (`SocketPorts`) do not apply to it.
    pub fn is_unix_socket(&self) -> bool {
        !self.udp && self.local.0.is_unspecified() && self.remote.0.is_unspecified()
    }
}

/// Which sockets are traced by their ports (DeepFlow's `inputs.ebpf.socket.kprobe.whitelist` and
/// `blacklist`): a socket either of whose ports is denied is not traced; with an allow list, only
/// sockets one of whose ports it has are. The deny list wins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SocketPorts {
    pub allow: Option<PortSet>,
    pub deny: Option<PortSet>,
}

impl SocketPorts {
    /// Whether a socket of ports `a` and `b` is traced.
    #[inline]
    pub fn traces(&self, a: u16, b: u16) -> bool {
        let any = |s: &PortSet| s.contains(a) || s.contains(b);
        !self.deny.as_ref().is_some_and(any) && self.allow.as_ref().is_none_or(any)
    }
}

/// Limits of the syscall tracker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyscallConfig {
    /// Most sockets followed at once (DeepFlow's `inputs.ebpf.tunning.max_socket_entries`).
    pub max_sockets: u32,
    /// A socket without events for this long is forgotten (its open requests time out).
    pub idle_timeout_ns: u64,
    /// ... a UDP socket's flow with one peer, sooner: a DNS server's socket meets a new client
    /// port with nearly every query (glibc's resolver opens a socket per lookup), and those
    /// flows would fill the table long before the TCP timeout.
    pub udp_idle_timeout_ns: u64,
    /// Rows carry the syscall trace ids (DeepFlow's `syscall_trace_id_disabled` turns them off).
    pub trace_ids: bool,
    /// The sockets traced by their ports.
    pub ports: SocketPorts,
    /// Data events taken per second of event time, 0: all (DeepFlow's
    /// `inputs.ebpf.socket.tunning.max_capture_rate`). The bytes of those beyond are left out
    /// as a lost segment's would be: the parsers see a gap, the socket stays followed.
    pub max_rate: u64,
}

impl Default for SyscallConfig {
    fn default() -> Self {
        SyscallConfig {
            max_sockets: 65_536,
            idle_timeout_ns: 120_000_000_000,
            udp_idle_timeout_ns: 15_000_000_000,
            trace_ids: true,
            ports: SocketPorts::default(),
            max_rate: 0,
        }
    }
}

/// Counters of the syscall tracker.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyscallCounters {
    pub events: u64,
    pub data_events: u64,
    pub data_bytes: u64,
    pub tls_events: u64,
    pub sockets_opened: u64,
    pub sockets_closed: u64,
    pub sockets_expired: u64,
    /// Events of new sockets refused because the table was full.
    pub socket_table_full: u64,
    /// Bytes calls moved beyond the captured prefix (seen by the parsers as gaps).
    pub uncaptured_bytes: u64,
    /// Rows whose other end is a traced process on this host too.
    pub rows_with_peer_process: u64,
    /// Events of sockets whose ports are not traced (`SocketPorts`).
    pub port_filtered: u64,
    /// Data events beyond `max_rate` in their second (their bytes left out).
    pub rate_limited: u64,
}

impl SyscallCounters {
    pub fn entries(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("trace.events", self.events),
            ("trace.data_events", self.data_events),
            ("trace.data_bytes", self.data_bytes),
            ("trace.tls_events", self.tls_events),
            ("trace.sockets_opened", self.sockets_opened),
            ("trace.sockets_closed", self.sockets_closed),
            ("trace.sockets_expired", self.sockets_expired),
            ("trace.socket_table_full", self.socket_table_full),
            ("trace.uncaptured_bytes", self.uncaptured_bytes),
            ("trace.rows_with_peer_process", self.rows_with_peer_process),
            ("trace.port_filtered", self.port_filtered),
            ("trace.rate_limited", self.rate_limited),
        ]
    }
}

/// Turns socket events into l7_flow_log rows.
#[derive(Debug)]
pub struct SyscallTracker {
    cfg: SyscallConfig,
    l7cfg: L7Config,
    l7: L7Tracker,
    sockets: SocketTable,
    counters: SyscallCounters,
    l7counters: L7Counters,
    last_sweep_ns: u64,
    /// The second of event time `max_rate` counts in, and its data events so far.
    rate_window: (u64, u64),
}

const NS_PER_SEC: u64 = 1_000_000_000;

impl SyscallTracker {
    pub fn new(cfg: SyscallConfig, l7cfg: L7Config) -> Self {
        SyscallTracker {
            l7: L7Tracker::new(&l7cfg),
            sockets: SocketTable::new(cfg.max_sockets as usize),
            cfg,
            l7cfg,
            counters: SyscallCounters::default(),
            l7counters: L7Counters::default(),
            last_sweep_ns: 0,
            rate_window: (0, 0),
        }
    }

    pub fn counters(&self) -> &SyscallCounters {
        &self.counters
    }

    pub fn l7_counters(&self) -> &L7Counters {
        &self.l7counters
    }

    /// Sockets followed now.
    pub fn sockets(&self) -> usize {
        self.sockets.len()
    }

    /// One event; rows it completes go to `sink`.
    pub fn on_event(&mut self, ev: &SocketEvent<'_>, sink: &mut dyn RecordSink) {
        self.counters.events += 1;
        if !ev.is_unix_socket() && !self.cfg.ports.traces(ev.local.1, ev.remote.1) {
            self.counters.port_filtered += 1;
            self.tick(ev.ts_ns, sink);
            return;
        }
        match ev.kind {
            EventKind::Data { egress, tls } if self.over_rate(ev.ts_ns) => {
                self.counters.rate_limited += 1;
                let cut = SocketEvent {
                    payload: &[],
                    ..*ev
                };
                self.on_data(&cut, egress, tls, sink)
            }
            EventKind::Data { egress, tls } => self.on_data(ev, egress, tls, sink),
            EventKind::Connect | EventKind::Accept => {
                let client = ev.kind == EventKind::Connect;
                for tls in [false, true] {
                    let key = SocketKey::of(ev, tls);
                    self.end_socket(key, sink);
                }
                // A socket that reuses a kernel address starts fresh, with its role known.
                if self
                    .sockets
                    .open(SocketKey::of(ev, false), ev, Some(client))
                    .is_some()
                {
                    self.counters.sockets_opened += 1;
                } else {
                    self.counters.socket_table_full += 1;
                }
            }
            EventKind::Close if ev.udp && ev.remote.1 == 0 => {
                // A socket that was not connected: a flow per peer it talked to.
                for key in self
                    .sockets
                    .keys_of(ev.pid, SocketKey::of(ev, false).socket)
                {
                    if self.end_socket(key, sink) {
                        self.counters.sockets_closed += 1;
                    }
                }
            }
            EventKind::Close => {
                for tls in [false, true] {
                    if self.end_socket(SocketKey::of(ev, tls), sink) {
                        self.counters.sockets_closed += 1;
                    }
                }
            }
        }
        self.tick(ev.ts_ns, sink);
    }

    /// Whether a data event at `ts_ns` is beyond `max_rate` in its second.
    fn over_rate(&mut self, ts_ns: u64) -> bool {
        if self.cfg.max_rate == 0 {
            return false;
        }
        let second = ts_ns / NS_PER_SEC;
        if second != self.rate_window.0 {
            self.rate_window = (second, 0);
        }
        self.rate_window.1 += 1;
        self.rate_window.1 > self.cfg.max_rate
    }

    fn on_data(
        &mut self,
        ev: &SocketEvent<'_>,
        egress: bool,
        tls: bool,
        sink: &mut dyn RecordSink,
    ) {
        let c = &mut self.counters;
        c.data_events += 1;
        c.data_bytes += u64::from(ev.call_len);
        c.tls_events += u64::from(tls);
        c.uncaptured_bytes += u64::from(ev.call_len).saturating_sub(ev.payload.len() as u64);
        let key = SocketKey::of(ev, tls);
        if self.sockets.get_mut(&key).is_none() {
            // A socket that was open before the tracer started: its role comes from the L7
            // parser (or its plain twin's connect/accept for OpenSSL plaintext).
            let role = self.sockets.role_of(&SocketKey::of(ev, false));
            if self.sockets.open(key, ev, role).is_none() {
                self.counters.socket_table_full += 1;
                return;
            }
            self.counters.sockets_opened += 1;
        }
        let side = usize::from(!egress);
        let (sockets, l7, l7cfg, l7counters) = (
            &mut self.sockets,
            &mut self.l7,
            &self.l7cfg,
            &mut self.l7counters,
        );
        sockets.note_event(&key, ev, side);
        let Some((sock, infos)) = sockets.with_infos(&key) else {
            return;
        };
        let seq = sock.next_seq[side];
        sock.next_seq[side] = seq.wrapping_add(ev.call_len);
        sock.flow.sides[side].last_ns = ev.ts_ns;
        if ev.payload.is_empty() {
            return;
        }
        let carrier = if sock.udp {
            Carrier::Udp
        } else {
            Carrier::Tcp(SeqNumber(seq))
        };
        let mut tagger = ProcessTagger::new(sink, infos, &mut self.counters, self.cfg.trace_ids);
        l7.on_payload(
            l7cfg,
            CaptureMode::Local,
            &mut sock.flow,
            L7Packet {
                side,
                ts_ns: ev.ts_ns,
                carrier,
                payload: ev.payload,
                ends: sock.ends,
            },
            &mut tagger,
            l7counters,
        );
    }

    /// Ends a socket: open requests are reported (as timeouts), its state freed. False when it
    /// was not followed.
    fn end_socket(&mut self, key: SocketKey, sink: &mut dyn RecordSink) -> bool {
        let Some((sock, infos)) = self.sockets.with_infos(&key) else {
            return false;
        };
        let mut tagger = ProcessTagger::new(sink, infos, &mut self.counters, self.cfg.trace_ids);
        self.l7.end_flow(
            &self.l7cfg,
            CaptureMode::Local,
            &sock.flow,
            sock.ends,
            &mut tagger,
            &mut self.l7counters,
        );
        self.l7.release(&sock.flow);
        self.sockets.remove(&key);
        true
    }

    /// Time moved on to `now_ns`: requests past their window time out; idle sockets are
    /// forgotten (checked once a second).
    pub fn tick(&mut self, now_ns: u64, sink: &mut dyn RecordSink) {
        if now_ns < self.last_sweep_ns.saturating_add(NS_PER_SEC) {
            return;
        }
        self.last_sweep_ns = now_ns;
        {
            let infos = self.sockets.infos();
            let mut tagger =
                ProcessTagger::new(sink, infos, &mut self.counters, self.cfg.trace_ids);
            self.l7.expire(now_ns, &mut tagger, &mut self.l7counters);
        }
        let idle = self.sockets.idle_since(
            now_ns.saturating_sub(self.cfg.idle_timeout_ns),
            now_ns.saturating_sub(self.cfg.udp_idle_timeout_ns),
        );
        for key in idle {
            if self.end_socket(key, sink) {
                self.counters.sockets_expired += 1;
            }
        }
        self.sockets.forget_closed(now_ns);
    }

    /// The end of tracing: every open request is reported, every socket freed.
    pub fn finish(&mut self, sink: &mut dyn RecordSink) {
        for key in self.sockets.keys() {
            self.end_socket(key, sink);
        }
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod udp_tests;
