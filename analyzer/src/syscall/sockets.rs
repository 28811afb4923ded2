//! The bounded table of traced sockets: per socket a flow (side 0 = the process's end) and the
//! byte position of each direction; beside it, what rows need to know about each socket's
//! process and calls ([`SocketInfo`]), and the local connections by address pair (to name the
//! process at the other end of a connection between two traced processes).

use std::collections::HashMap;
use std::net::IpAddr;

use super::SocketEvent;
use crate::flow::{Direction, Endpoint, Flow, FlowKey, SCORE_SYN};
use crate::inline::InlineBytes;
use crate::mirror::{TapPort, CLOUD};
use crate::ports::PortSet;

/// One traced socket stream: a process's socket, and apart from it the plaintext OpenSSL gave
/// for that socket; a UDP socket's stream with one peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SocketKey {
    pub pid: u32,
    /// The kernel's socket id, or the fd when BPF could not resolve it.
    pub socket: u64,
    pub tls: bool,
    /// UDP: the peer (a socket that is not connected talks to many).
    pub peer: Option<(IpAddr, u16)>,
}

impl SocketKey {
    pub fn of(ev: &SocketEvent<'_>, tls: bool) -> Self {
        SocketKey {
            pid: ev.pid,
            socket: if ev.socket_id != 0 {
                ev.socket_id
            } else {
                // Unresolved in BPF: the fd names the socket within the process.
                1 << 63 | u64::from(ev.fd as u32)
            },
            tls,
            peer: ev.udp.then_some(ev.remote),
        }
    }
}

/// The first call of the latest run of calls in one direction (a request or a response).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Turn {
    pub(crate) trace_id: u64,
    pub(crate) tid: u32,
    pub(crate) cap_seq: u32,
}

/// What a socket's rows are tagged with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SocketInfo {
    pub(crate) pid: u32,
    pub(crate) comm: InlineBytes<16>,
    pub(crate) local: Endpoint,
    pub(crate) remote: Endpoint,
    /// Plaintext from OpenSSL.
    pub(crate) tls: bool,
    /// By flow side: 0 what the process wrote, 1 what it read.
    pub(crate) turns: [Turn; 2],
    last_side: Option<usize>,
    /// Data events of the socket so far.
    cap_seq: u32,
    last_ns: u64,
}

/// Who is at one end of a local connection.
pub(crate) type Owner = (u32, InlineBytes<16>);

/// How long the owner of a closed socket stays known: the peer may read the last response
/// after the owner closed.
const CLOSED_OWNER_NS: u64 = 5_000_000_000;

/// An owner, and when its socket closed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OwnerEntry {
    pub(crate) owner: Owner,
    closed_ns: Option<u64>,
}

/// The tagging side of the table.
#[derive(Debug, Default)]
pub(crate) struct Infos {
    pub(crate) by_flow: HashMap<u64, SocketInfo>,
    /// (local, remote) of every traced plain socket -> its process.
    pub(crate) by_tuple: HashMap<(Endpoint, Endpoint), OwnerEntry>,
}

/// A traced socket's parsing state.
#[derive(Debug)]
pub(crate) struct Socket {
    pub(crate) flow: Flow,
    /// The flow's endpoints: the local end (endpoint 0), then the remote end.
    pub(crate) ends: [Endpoint; 2],
    /// Stream position of the next byte of each side.
    pub(crate) next_seq: [u32; 2],
    /// The process connected (Some(true)) or accepted (Some(false)).
    pub(crate) client: Option<bool>,
    /// UDP: each call one datagram.
    pub(crate) udp: bool,
}

#[derive(Debug)]
pub(crate) struct SocketTable {
    socks: HashMap<SocketKey, Socket>,
    infos: Infos,
    capacity: usize,
    /// Traced flows made so far (wrapping: a flow's id is [`crate::flow::TRACED_ID_BASE`] + this).
    made: u32,
    no_ports: PortSet,
}

fn endpoint(ip: IpAddr, port: u16) -> Endpoint {
    let mut b = [0u8; 16];
    match ip {
        IpAddr::V4(v4) => b[..4].copy_from_slice(&v4.octets()),
        IpAddr::V6(v6) => b = v6.octets(),
    }
    Endpoint { ip: b, port }
}

/// The address a socket's datagrams leave from: its own, or, for a socket bound to any address
/// (a UDP socket that sent before binding) talking to a loopback peer, the loopback address
/// Linux gives them (127.0.0.1 for every 127/8 peer, ::1). Otherwise an unspecified address
/// stays so: the source depends on a route lookup the calls do not show.
fn local_address(local: IpAddr, remote: IpAddr) -> IpAddr {
    match (local.is_unspecified(), remote) {
        (true, IpAddr::V4(r)) if r.is_loopback() => IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        (true, IpAddr::V6(r)) if r.is_loopback() => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        _ => local,
    }
}

impl SocketTable {
    pub(crate) fn new(capacity: usize) -> Self {
        SocketTable {
            socks: HashMap::with_capacity(capacity.min(1 << 16)),
            infos: Infos::default(),
            capacity,
            made: 0,
            no_ports: PortSet::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.socks.len()
    }

    /// Starts following a socket (`client`: the role connect/accept showed). None when full.
    pub(crate) fn open(
        &mut self,
        key: SocketKey,
        ev: &SocketEvent<'_>,
        client: Option<bool>,
    ) -> Option<&mut Socket> {
        if self.socks.len() >= self.capacity && !self.socks.contains_key(&key) {
            return None;
        }
        self.remove(&key);
        let local = endpoint(local_address(ev.local.0, ev.remote.0), ev.local.1);
        let remote = endpoint(ev.remote.0, ev.remote.1);
        let is_v6 = ev.local.0.is_ipv6();
        self.made = self.made.wrapping_add(1);
        let direction = match client {
            Some(c) => Direction {
                server: u8::from(c),
                score: SCORE_SYN,
            },
            None => Direction::from_ports(local.port, remote.port, true, &self.no_ports),
        };
        let fkey = FlowKey::new(
            local,
            remote,
            if ev.udp { 17 } else { 6 },
            is_v6,
            (0, 0),
            (CLOUD, TapPort::ebpf(ev.pid).0),
        );
        let flow = Flow::traced(&fkey, self.made, [local, remote], ev.ts_ns, direction);
        let id = flow.id();
        self.infos.by_flow.insert(
            id,
            SocketInfo {
                pid: ev.pid,
                comm: ev.comm,
                local,
                remote,
                tls: key.tls,
                turns: [Turn::default(); 2],
                last_side: None,
                cap_seq: 0,
                last_ns: ev.ts_ns,
            },
        );
        if !key.tls {
            let entry = OwnerEntry {
                owner: (ev.pid, ev.comm),
                closed_ns: None,
            };
            self.infos.by_tuple.insert((local, remote), entry);
        }
        Some(self.socks.entry(key).or_insert(Socket {
            flow,
            ends: [local, remote],
            next_seq: [1, 1],
            client,
            udp: ev.udp,
        }))
    }

    pub(crate) fn get_mut(&mut self, key: &SocketKey) -> Option<&mut Socket> {
        self.socks.get_mut(key)
    }

    /// The role connect/accept showed for a socket.
    pub(crate) fn role_of(&self, key: &SocketKey) -> Option<bool> {
        self.socks.get(key).and_then(|s| s.client)
    }

    /// Records a data event of `side` on the socket's info (turns, capture sequence).
    pub(crate) fn note_event(&mut self, key: &SocketKey, ev: &SocketEvent<'_>, side: usize) {
        let Some(s) = self.socks.get(key) else {
            return;
        };
        if let Some(info) = self.infos.by_flow.get_mut(&s.flow.id()) {
            info.cap_seq = info.cap_seq.wrapping_add(1);
            if info.last_side != Some(side) {
                info.turns[side] = Turn {
                    trace_id: ev.trace_id,
                    tid: ev.tid,
                    cap_seq: info.cap_seq,
                };
                info.last_side = Some(side);
            }
            info.last_ns = ev.ts_ns;
        }
    }

    /// The socket to parse for, and every socket's info (for the rows it completes).
    pub(crate) fn with_infos(&mut self, key: &SocketKey) -> Option<(&mut Socket, &Infos)> {
        let s = self.socks.get_mut(key)?;
        Some((s, &self.infos))
    }

    pub(crate) fn infos(&self) -> &Infos {
        &self.infos
    }

    pub(crate) fn remove(&mut self, key: &SocketKey) {
        let Some(s) = self.socks.remove(key) else {
            return;
        };
        let Some(info) = self.infos.by_flow.remove(&s.flow.id()) else {
            return;
        };
        if key.tls {
            return;
        }
        let pair = (info.local, info.remote);
        let full = self.infos.by_tuple.len() >= 2 * self.capacity;
        match self.infos.by_tuple.get_mut(&pair) {
            Some(e) if e.owner.0 == key.pid && !full => e.closed_ns = Some(info.last_ns),
            Some(e) if e.owner.0 == key.pid => {
                self.infos.by_tuple.remove(&pair);
            }
            _ => {}
        }
    }

    /// Forgets the owners of sockets closed more than 5 s before `now_ns`.
    pub(crate) fn forget_closed(&mut self, now_ns: u64) {
        self.infos.by_tuple.retain(|_, e| {
            e.closed_ns
                .is_none_or(|t| t.saturating_add(CLOSED_OWNER_NS) > now_ns)
        });
    }

    /// TCP sockets without events since `before_ns`, UDP ones since `udp_before_ns`.
    pub(crate) fn idle_since(&self, before_ns: u64, udp_before_ns: u64) -> Vec<SocketKey> {
        self.socks
            .iter()
            .filter(|(_, s)| {
                let before = if s.udp { udp_before_ns } else { before_ns };
                self.infos
                    .by_flow
                    .get(&s.flow.id())
                    .is_none_or(|i| i.last_ns < before)
            })
            .map(|(k, _)| *k)
            .collect()
    }

    pub(crate) fn keys(&self) -> Vec<SocketKey> {
        self.socks.keys().copied().collect()
    }

    /// The streams of one socket of `pid` (a UDP socket's, one per peer).
    pub(crate) fn keys_of(&self, pid: u32, socket: u64) -> Vec<SocketKey> {
        self.socks
            .keys()
            .filter(|k| k.pid == pid && k.socket == socket)
            .copied()
            .collect()
    }
}
