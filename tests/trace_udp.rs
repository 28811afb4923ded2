//! `tapflow trace` and UDP beyond loopback's simple case (tests/trace_live.rs has that):
//! - a UDP server in a network namespace of its own (a pod's, a container's), bound to no
//!   address (`::`, dual-stack, and `0.0.0.0`), answering IPv4 and IPv6 clients in the host's
//!   namespace over a veth pair: neither
//!   process's socket says the address its datagrams leave from, so the tracer asks the
//!   kernel's route lookup in each process's namespace. Every query must be a row as each
//!   process saw it, both naming the two veth addresses (not 0.0.0.0) and both processes;
//! - one `sendmmsg` of more messages than BPF sends events for (8): the first 8 are rows, the
//!   rest counted.
//!
//! Needs root (scripts/test.sh runs the tests as root); skips and says so without. One tracer at
//! a time: each sees the whole host.

use std::sync::Mutex;

mod live_support;
mod netns;
mod procs;
mod trace_support;
use netns::{sh, VethNs};
use trace_support::{assert_processes, by_side, can_trace, dns_client, dns_server, s, temp, Trace};

const HOST_IP: &str = "198.18.91.1";
const NS_IP: &str = "198.18.91.2";
const HOST_IP6: &str = "fd00:91::1";
const NS_IP6: &str = "fd00:91::2";
/// DNS is inferred on its ports only (DeepFlow's `port_number_prefilters.DNS`: 53, 5353).
const PORT: u16 = 5353;

static ONE_TRACER: Mutex<()> = Mutex::new(());

#[test]
fn a_udp_server_bound_to_any_address_in_a_namespace_is_named_by_its_route() {
    let _one = ONE_TRACER.lock().unwrap_or_else(|e| e.into_inner());
    if !can_trace() {
        return;
    }
    let dir = temp("netns");
    let net = VethNs::with_mtu("tu", "1500");
    let in_ns = |args: &[&str]| {
        let mut all = vec!["ip", "netns", "exec", net.ns.as_str()];
        all.extend_from_slice(args);
        sh(&all);
    };
    let host_v6 = format!("net.ipv6.conf.{}.disable_ipv6=0", net.host);
    let peer_v6 = format!("net.ipv6.conf.{}.disable_ipv6=0", net.peer);
    sh(&["sysctl", "-q", "-w", &host_v6]);
    in_ns(&["sysctl", "-q", "-w", &peer_v6]);
    for (addr, dev, here) in [
        (format!("{HOST_IP}/24"), &net.host, true),
        (format!("{HOST_IP6}/64"), &net.host, true),
        (format!("{NS_IP}/24"), &net.peer, false),
        (format!("{NS_IP6}/64"), &net.peer, false),
    ] {
        // IPv6 addresses usable at once (no duplicate address detection).
        let mut add = vec!["ip", "addr", "add", addr.as_str(), "dev", dev.as_str()];
        if addr.contains(':') {
            add.push("nodad");
        }
        if here {
            sh(&add);
        } else {
            in_ns(&add);
        }
    }
    // On 5353 a dual-stack socket bound to `::` (IPv4 peers come IPv4-mapped), on 53 an IPv4
    // one bound to 0.0.0.0 (the namespace's port 53 is free). Each waits for one query more
    // than it gets: a server that ended before the tracer read its events would leave no
    // process in the namespace to ask the route of.
    let ns = ["ip", "netns", "exec", net.ns.as_str()];
    let servers = [
        dns_server(&ns, PORT, 17, "dual").expect("DNS server on 5353"),
        dns_server(&ns, 53, 9, "any").expect("DNS server on 53"),
    ];
    let trace = Trace::start(&dir.join("out"), &[]);
    for (port, to) in [(PORT, NS_IP), (PORT, NS_IP6), (53, NS_IP)] {
        assert_eq!(dns_client(&["client", &port.to_string(), to]).len(), 8);
    }
    let (status, rows, stats) = trace.stop();
    assert!(status.success());
    for (port, families) in [(PORT, 2), (53, 1)] {
        let sides = by_side(&rows, port);
        for side in ["c-p", "s-p"] {
            let rs = sides.get(side).map(Vec::as_slice).unwrap_or_default();
            // 8 queries of each client: 4 from a connected socket, 4 from one that is not.
            let mut pairs: Vec<(&str, &str)> = rs
                .iter()
                .map(|r| {
                    assert_eq!(s(r, "l7_protocol_str"), "DNS", "{r}");
                    assert_eq!(r["type"], 2, "{r}");
                    (s(r, "ip_0"), s(r, "ip_1"))
                })
                .collect();
            pairs.sort();
            let mut want = vec![(HOST_IP, NS_IP); 8];
            if families == 2 {
                want.extend(vec![(HOST_IP6, NS_IP6); 8]);
            }
            want.sort();
            assert_eq!(pairs, want, "port {port}, {side}");
            assert_processes(rs, "dns-client", "dns-server");
        }
    }
    // The server's peer flows and the clients' unconnected sockets were looked up (a
    // connected socket has its address from the kernel).
    assert!(
        stats["trace.udp_source.found"].as_u64().unwrap_or(0) >= 24,
        "{stats}"
    );
    assert_eq!(stats["trace.udp_source.unknown"], 0, "{stats}");
    drop(servers);
    drop(net);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_sendmmsg_beyond_eight_messages_logs_eight_and_counts_the_rest() {
    let _one = ONE_TRACER.lock().unwrap_or_else(|e| e.into_inner());
    if !can_trace() {
        return;
    }
    let dir = temp("mmsg");
    let _server = dns_server(&[], PORT, 11, "").expect("DNS server on 5353");
    let trace = Trace::start(&dir.join("out"), &[]);
    let names = dns_client(&["burst", &PORT.to_string(), "11"]);
    assert_eq!(names.len(), 11);
    let (status, rows, stats) = trace.stop();
    assert!(status.success());
    let sides = by_side(&rows, PORT);
    let asked = |side: &str| -> Vec<String> {
        let mut v: Vec<String> = sides
            .get(side)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter(|r| r["type"] == 2)
            .map(|r| s(r, "request_domain").to_string())
            .collect();
        v.sort();
        v
    };
    // The server reads each query with a call of its own: all 11.
    let mut all = names.clone();
    all.sort();
    assert_eq!(asked("s-p"), all);
    // The client's one call: its first 8 messages.
    let mut first = names[..8].to_vec();
    first.sort();
    assert_eq!(asked("c-p"), first);
    // At least those 3 (the tracer sees the whole host).
    assert!(
        stats["trace.bpf.mmsg_unsent"].as_u64().unwrap_or(0) >= 3,
        "{stats}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
