//! The local address of a UDP socket bound to no address (`0.0.0.0`, `::`) that is not
//! connected, a DNS server's for one: the calls name the peer but not the address the
//! datagrams leave from, which Linux picks by a route lookup for each peer. The tracer asks the
//! same lookup of the kernel (`ip route get PEER`'s `src`, over rtnetlink) in the process's own
//! network namespace (a pod's, a container's), so both ends of such a flow are named as a
//! capture would show them. A program that picks its source itself (IP_PKTINFO, as multi-homed
//! DNS servers do) may use another address; loopback peers are the analyzer's to name
//! (127.0.0.1, ::1).
//!
//! The namespace comes with each event (BPF reads the process's); a socket is made in it through
//! the process's `/proc/PID/ns/net`, or, when the process ended before its events were read,
//! any other process's in the same namespace. Bounded: answers kept 30 s (4,096 at most), a
//! socket per namespace (64, closed after 5 minutes unused: a socket keeps its namespace
//! alive); a namespace no socket can be made for (no process left in it, no
//! CAP_SYS_ADMIN) keeps the unspecified address, counted, and is tried again after 30 s.

use std::collections::HashMap;
use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use crate::sys::route::RouteSocket;

/// How long an answer (and a process's namespace) is trusted, in event time.
const TTL_NS: u64 = 30_000_000_000;
const MAX_ANSWERS: usize = 4_096;
const MAX_PROCESSES: usize = 65_536;
const MAX_NAMESPACES: usize = 64;
/// A namespace's socket unused this long is closed.
const SOCKET_IDLE_NS: u64 = 300_000_000_000;

const RTM_GETROUTE: u16 = 26;
const RTM_NEWROUTE: u16 = 24;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 1;
const RTA_DST: u16 = 1;
const RTA_PREFSRC: u16 = 7;
const NLMSG_HDR: usize = 16;
const RTMSG: usize = 12;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;

/// rtnetlink's RTM_GETROUTE request for `dst`, numbered `seq`.
pub fn route_request(dst: IpAddr, seq: u32) -> Vec<u8> {
    let (family, addr): (u8, Vec<u8>) = match dst {
        IpAddr::V4(a) => (AF_INET, a.octets().to_vec()),
        IpAddr::V6(a) => (AF_INET6, a.octets().to_vec()),
    };
    let len = NLMSG_HDR + RTMSG + 4 + addr.len();
    let mut m = Vec::with_capacity(len);
    m.extend_from_slice(&(len as u32).to_ne_bytes());
    m.extend_from_slice(&RTM_GETROUTE.to_ne_bytes());
    m.extend_from_slice(&NLM_F_REQUEST.to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    // struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags.
    m.extend_from_slice(&[family, 8 * addr.len() as u8, 0, 0, 0, 0, 0, 0]);
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(&((4 + addr.len()) as u16).to_ne_bytes());
    m.extend_from_slice(&RTA_DST.to_ne_bytes());
    m.extend_from_slice(&addr);
    m
}

/// What one read of the socket said about request `seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteAnswer {
    /// The route's source address (None: the route names none).
    Source(Option<IpAddr>),
    /// The kernel refused (no route: unreachable, a prohibited destination).
    Refused,
    /// Nothing about `seq` (an answer to an earlier request that timed out): read again.
    Other,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Reads the kernel's answer (one or more netlink messages) to request `seq`; malformed bytes
/// are [`RouteAnswer::Other`].
pub fn parse_answer(b: &[u8], seq: u32) -> RouteAnswer {
    let mut at = 0;
    while let (Some(len), Some(kind), Some(s)) =
        (u32_at(b, at), u16_at(b, at + 4), u32_at(b, at + 8))
    {
        let len = len as usize;
        let Some(msg) = b.get(at..at + len).filter(|_| len >= NLMSG_HDR) else {
            break;
        };
        if s == seq {
            match kind {
                NLMSG_ERROR => return RouteAnswer::Refused,
                RTM_NEWROUTE => return RouteAnswer::Source(prefsrc(&msg[NLMSG_HDR..])),
                _ => {}
            }
        }
        at += len.next_multiple_of(4);
    }
    RouteAnswer::Other
}

/// RTA_PREFSRC among a route message's attributes.
fn prefsrc(body: &[u8]) -> Option<IpAddr> {
    let mut at = RTMSG;
    while let (Some(len), Some(kind)) = (u16_at(body, at), u16_at(body, at + 2)) {
        let len = usize::from(len);
        let value = body.get(at + 4..at + len).filter(|_| len >= 4)?;
        if kind == RTA_PREFSRC {
            return match value.len() {
                4 => Some(IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(value).ok()?))),
                16 => Some(IpAddr::V6(Ipv6Addr::from(
                    <[u8; 16]>::try_from(value).ok()?,
                ))),
                _ => None,
            };
        }
        at += len.next_multiple_of(4);
    }
    None
}

/// What the lookups did (stats.json: `trace.udp_source.*`).
#[derive(Debug, Default, Clone, Copy)]
pub struct RouteSourceCounters {
    /// Unspecified local addresses replaced by the route's source.
    pub found: u64,
    /// Left unspecified: no route, no source, or the process's namespace could not be read.
    pub unknown: u64,
    /// Questions asked of the kernel.
    pub lookups: u64,
}

/// The route lookups of one tracing session, cached.
#[derive(Debug)]
pub struct RouteSources {
    proc_root: PathBuf,
    /// The tracer's own namespace (its inode), when it can be read.
    own: Option<u64>,
    /// Process -> its namespace (None: unreadable), and when that was read.
    namespaces: HashMap<u32, (Option<u64>, u64)>,
    /// Namespace -> its socket, and when it was last asked (a socket keeps its namespace alive:
    /// one idle for 5 minutes is closed, so an ended pod's namespace is let go).
    sockets: HashMap<u64, (RouteSocket, u64)>,
    /// Namespaces no socket could be made for (no process of theirs left, no privilege), and
    /// when that was found.
    unreachable: HashMap<u64, u64>,
    /// (namespace, peer) -> the source, and when it was asked.
    answers: HashMap<(u64, IpAddr), (Option<IpAddr>, u64)>,
    seq: u32,
    pub counters: RouteSourceCounters,
}

fn namespace_inode(path: &std::path::Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.ino())
}

impl RouteSources {
    /// Lookups for the processes under `proc_root` (`/proc`, or the host's when mounted
    /// elsewhere).
    pub fn new(proc_root: PathBuf) -> Self {
        RouteSources {
            proc_root,
            own: namespace_inode("/proc/self/ns/net".as_ref()),
            namespaces: HashMap::new(),
            sockets: HashMap::new(),
            unreachable: HashMap::new(),
            answers: HashMap::new(),
            seq: 0,
            counters: RouteSourceCounters::default(),
        }
    }

    /// The address Linux sends datagrams to `peer` from, for process `pid` in network
    /// namespace `netns` (its inode number as BPF read it; 0: read it from /proc), at event
    /// time `now_ns`; None when it cannot be known.
    pub fn source(&mut self, pid: u32, netns: u32, peer: IpAddr, now_ns: u64) -> Option<IpAddr> {
        let found = self.lookup(pid, netns, peer, now_ns);
        match found {
            Some(_) => self.counters.found += 1,
            None => self.counters.unknown += 1,
        }
        found
    }

    fn lookup(&mut self, pid: u32, netns: u32, peer: IpAddr, now_ns: u64) -> Option<IpAddr> {
        let fresh = |t: u64| now_ns.saturating_sub(t) < TTL_NS;
        let ns = if netns != 0 {
            u64::from(netns)
        } else {
            match self.namespaces.get(&pid) {
                Some(&(ns, t)) if fresh(t) => ns,
                _ => {
                    if self.namespaces.len() >= MAX_PROCESSES {
                        self.namespaces.clear();
                    }
                    let ns = namespace_inode(&self.proc_root.join(format!("{pid}/ns/net")));
                    self.namespaces.insert(pid, (ns, now_ns));
                    ns
                }
            }?
        };
        if let Some(&(src, t)) = self.answers.get(&(ns, peer)) {
            if fresh(t) {
                return src;
            }
        }
        let src = self.ask(pid, ns, peer, now_ns);
        if self.answers.len() >= MAX_ANSWERS {
            self.answers.clear();
        }
        self.answers.insert((ns, peer), (src, now_ns));
        src
    }

    /// A process in namespace `ns`'s handle: `pid`'s, else (it ended) any process's in it.
    fn namespace_file(&self, pid: u32, ns: u64) -> Option<File> {
        let of = |pid: &str| {
            let path = self.proc_root.join(pid).join("ns/net");
            (namespace_inode(&path) == Some(ns))
                .then(|| File::open(&path).ok())
                .flatten()
        };
        of(&pid.to_string()).or_else(|| {
            std::fs::read_dir(&self.proc_root)
                .ok()?
                .flatten()
                .filter(|d| {
                    d.file_name()
                        .to_str()
                        .is_some_and(|n| n.bytes().all(|c| c.is_ascii_digit()))
                })
                .find_map(|d| of(d.file_name().to_str()?))
        })
    }

    /// Asks the kernel, through namespace `ns`'s socket (made on first use; a namespace no
    /// socket could be made for is tried again after the TTL).
    fn ask(&mut self, pid: u32, ns: u64, peer: IpAddr, now_ns: u64) -> Option<IpAddr> {
        if !self.sockets.contains_key(&ns) {
            if let Some(&t) = self.unreachable.get(&ns) {
                if now_ns.saturating_sub(t) < TTL_NS {
                    return None;
                }
            }
            let sock = if Some(ns) == self.own {
                RouteSocket::open().ok()
            } else {
                self.namespace_file(pid, ns)
                    .and_then(|f| RouteSocket::open_in(&f).ok())
            };
            let Some(sock) = sock else {
                if self.unreachable.len() >= MAX_NAMESPACES {
                    self.unreachable.clear();
                }
                self.unreachable.insert(ns, now_ns);
                return None;
            };
            self.sockets
                .retain(|_, (_, used)| now_ns.saturating_sub(*used) < SOCKET_IDLE_NS);
            if self.sockets.len() >= MAX_NAMESPACES {
                self.sockets.clear();
            }
            self.sockets.insert(ns, (sock, now_ns));
        }
        let (sock, used) = self.sockets.get_mut(&ns)?;
        *used = now_ns;
        self.seq = self.seq.wrapping_add(1);
        self.counters.lookups += 1;
        sock.send(&route_request(peer, self.seq)).ok()?;
        let mut buf = [0u8; 1024];
        // Earlier answers that came after their request timed out are skipped.
        for _ in 0..4 {
            let n = sock.recv(&mut buf).ok()?;
            match parse_answer(&buf[..n], self.seq) {
                RouteAnswer::Source(src) => return src,
                RouteAnswer::Refused => return None,
                RouteAnswer::Other => {}
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An RTM_NEWROUTE answer numbered `seq` with `attrs` (type, value).
    fn answer(seq: u32, kind: u16, attrs: &[(u16, &[u8])]) -> Vec<u8> {
        let mut body = vec![AF_INET, 32, 0, 0, 254, 0, 0, 1, 0, 0, 0, 0];
        for (t, v) in attrs {
            body.extend_from_slice(&((4 + v.len()) as u16).to_ne_bytes());
            body.extend_from_slice(&t.to_ne_bytes());
            body.extend_from_slice(v);
            while body.len() % 4 != 0 {
                body.push(0);
            }
        }
        let mut m = Vec::new();
        m.extend_from_slice(&((NLMSG_HDR + body.len()) as u32).to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&0u16.to_ne_bytes());
        m.extend_from_slice(&seq.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(&body);
        m
    }

    #[test]
    fn the_request_is_an_rtm_getroute_for_the_address() {
        let r = route_request(IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)), 7);
        assert_eq!(r.len(), 36);
        assert_eq!(u32_at(&r, 0), Some(36));
        assert_eq!(u16_at(&r, 4), Some(RTM_GETROUTE));
        assert_eq!(u32_at(&r, 8), Some(7));
        assert_eq!((r[16], r[17]), (AF_INET, 32));
        assert_eq!(u16_at(&r, 30), Some(RTA_DST));
        assert_eq!(&r[32..], &[10, 1, 2, 3]);
        let r6 = route_request(IpAddr::V6(Ipv6Addr::LOCALHOST), 8);
        assert_eq!((r6.len(), r6[16], r6[17]), (48, AF_INET6, 128));
    }

    #[test]
    fn the_source_is_read_from_the_answer_to_this_request() {
        let src = [10, 0, 0, 1];
        let a = answer(
            5,
            RTM_NEWROUTE,
            &[(RTA_DST, &[10, 0, 0, 2]), (RTA_PREFSRC, &src)],
        );
        assert_eq!(
            parse_answer(&a, 5),
            RouteAnswer::Source(Some(IpAddr::V4(Ipv4Addr::from(src))))
        );
        // An earlier request's late answer is not this one's.
        assert_eq!(parse_answer(&a, 6), RouteAnswer::Other);
        let v6 = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);
        let a = answer(1, RTM_NEWROUTE, &[(RTA_PREFSRC, &v6.octets())]);
        assert_eq!(
            parse_answer(&a, 1),
            RouteAnswer::Source(Some(IpAddr::V6(v6)))
        );
        let a = answer(1, RTM_NEWROUTE, &[(RTA_DST, &[10, 0, 0, 2])]);
        assert_eq!(parse_answer(&a, 1), RouteAnswer::Source(None));
        let a = answer(1, NLMSG_ERROR, &[]);
        assert_eq!(parse_answer(&a, 1), RouteAnswer::Refused);
        // Two messages in one read: the late one, then this one's.
        let mut two = answer(1, RTM_NEWROUTE, &[(RTA_PREFSRC, &[1, 1, 1, 1])]);
        two.extend(answer(2, RTM_NEWROUTE, &[(RTA_PREFSRC, &src)]));
        assert_eq!(
            parse_answer(&two, 2),
            RouteAnswer::Source(Some(IpAddr::V4(Ipv4Addr::from(src))))
        );
    }

    #[test]
    fn cut_or_hostile_answers_do_not_panic() {
        let a = answer(3, RTM_NEWROUTE, &[(RTA_PREFSRC, &[10, 0, 0, 1])]);
        for n in 0..a.len() {
            let _ = parse_answer(&a[..n], 3);
        }
        let mut bad = a.clone();
        bad[0..4].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert_eq!(parse_answer(&bad, 3), RouteAnswer::Other);
        let mut zero_attr = a;
        zero_attr[NLMSG_HDR + RTMSG..NLMSG_HDR + RTMSG + 2].copy_from_slice(&0u16.to_ne_bytes());
        assert_eq!(parse_answer(&zero_attr, 3), RouteAnswer::Source(None));
    }

    /// The kernel's own answer in this namespace: a loopback peer leaves from 127.0.0.1, as
    /// `ip route get 127.0.0.2` says.
    #[test]
    fn this_namespace_answers_for_loopback() {
        let mut r = RouteSources::new(PathBuf::from("/proc"));
        let lo = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
        assert_eq!(
            r.source(std::process::id(), 0, lo, 1),
            Some(IpAddr::V4(Ipv4Addr::LOCALHOST))
        );
        // Cached: a second question asks nothing of the kernel.
        r.source(std::process::id(), 0, lo, 2);
        assert_eq!((r.counters.lookups, r.counters.found), (1, 2));
        // The namespace as BPF names it: this one's answer, even for a process that ended.
        let own = namespace_inode("/proc/self/ns/net".as_ref()).unwrap() as u32;
        assert_eq!(
            r.source(u32::MAX, own, lo, 3),
            Some(IpAddr::V4(Ipv4Addr::LOCALHOST))
        );
        // IPv6 too, where the host has it.
        if std::fs::read_to_string("/proc/sys/net/ipv6/conf/lo/disable_ipv6")
            .is_ok_and(|v| v.trim() == "0")
        {
            let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
            assert_eq!(r.source(std::process::id(), 0, v6, 3), Some(v6));
        }
        // A process that does not exist, in no namespace known: unspecified.
        assert_eq!(r.source(u32::MAX, 0, lo, 4), None);
        // A namespace no process is in.
        assert_eq!(r.source(u32::MAX, 1, lo, 5), None);
        assert_eq!(r.counters.unknown, 2);
    }

    #[test]
    fn an_idle_namespace_socket_is_closed_when_another_is_made() {
        let mut r = RouteSources::new(PathBuf::from("/proc"));
        r.sockets
            .insert(12_345, (RouteSocket::open().expect("rtnetlink socket"), 0));
        let lo = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
        r.source(std::process::id(), 0, lo, SOCKET_IDLE_NS + 1);
        assert!(!r.sockets.contains_key(&12_345));
        assert_eq!(r.sockets.len(), 1);
    }
}
