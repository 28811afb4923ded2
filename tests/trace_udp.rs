//! `tapflow trace` and UDP beyond loopback's simple case (tests/trace_live.rs has that):
//! - a UDP server in a network namespace of its own (a pod's, a container's), bound to no
//!   address (`::`, dual-stack, and `0.0.0.0`), answering IPv4 and IPv6 clients in the host's
//!   namespace over a veth pair: neither
//!   process's socket says the address its datagrams leave from, so the tracer asks the
//!   kernel's route lookup in each process's namespace. Every query must be a row as each
//!   process saw it, both naming the two veth addresses (not 0.0.0.0) and both processes;
//! - the same servers asked on the namespace's secondary addresses, reading each query with its
//!   IP_PKTINFO / IPV6_PKTINFO and answering from the address asked (as multi-homed DNS servers
//!   do): the tracer takes the local address from those control messages, where a route lookup
//!   would name the primary address;
//! - one `sendmmsg` of 60 messages, read by a server with `recvmmsg`: with the kernel's
//!   `bpf_loop` every message is a row on both sides; with the programs for kernels without it
//!   (`TAPFLOW_TRACE_BPF_LOOP=0`) a call's first 8 are rows and the rest counted.
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
/// Secondary addresses of the namespace (the packet-info test).
const NS_IP_2: &str = "198.18.91.3";
const NS_IP6_2: &str = "fd00:91::3";
/// DNS is inferred on its ports only (DeepFlow's `port_number_prefilters.DNS`: 53, 5353).
const PORT: u16 = 5353;

static ONE_TRACER: Mutex<()> = Mutex::new(());

#[test]
fn a_udp_server_bound_to_any_address_in_a_namespace_is_named_by_its_route() {
    let _one = ONE_TRACER.lock().unwrap_or_else(|e| e.into_inner());
    if !can_trace() {
        return;
    }
    // On 5353 a dual-stack socket bound to `::` (IPv4 peers come IPv4-mapped), on 53 an IPv4
    // one bound to 0.0.0.0 (the namespace's port 53 is free).
    let stats = dns_in_namespace("tu", false, ["dual", "any"], (NS_IP, NS_IP6));
    // The server's peer flows and the clients' unconnected sockets were looked up (a
    // connected socket has its address from the kernel).
    assert!(
        stats["trace.udp_source.found"].as_u64().unwrap_or(0) >= 24,
        "{stats}"
    );
    assert_eq!(stats["trace.udp_source.unknown"], 0, "{stats}");
}

/// A veth pair to a namespace of its own, the host's end HOST_IP / HOST_IP6, the namespace's
/// NS_IP / NS_IP6 and (`second`) NS_IP_2 / NS_IP6_2 as well (its secondary addresses: Linux
/// routes from the primary ones).
fn addressed(name: &str, second: bool) -> VethNs {
    let net = VethNs::with_mtu(name, "1500");
    let in_ns = |args: &[&str]| {
        let mut all = vec!["ip", "netns", "exec", net.ns.as_str()];
        all.extend_from_slice(args);
        sh(&all);
    };
    let host_v6 = format!("net.ipv6.conf.{}.disable_ipv6=0", net.host);
    let peer_v6 = format!("net.ipv6.conf.{}.disable_ipv6=0", net.peer);
    sh(&["sysctl", "-q", "-w", &host_v6]);
    in_ns(&["sysctl", "-q", "-w", &peer_v6]);
    let mut addrs = vec![
        (format!("{HOST_IP}/24"), &net.host, true),
        (format!("{HOST_IP6}/64"), &net.host, true),
        (format!("{NS_IP}/24"), &net.peer, false),
        (format!("{NS_IP6}/64"), &net.peer, false),
    ];
    if second {
        addrs.push((format!("{NS_IP_2}/24"), &net.peer, false));
        addrs.push((format!("{NS_IP6_2}/64"), &net.peer, false));
    }
    for (addr, dev, here) in addrs {
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
    net
}

/// The sorted (ip_0, ip_1) of one side's rows of `port`, each a DNS session of the two
/// processes.
fn ends(rows: &[serde_json::Value], port: u16, side: &str) -> Vec<(String, String)> {
    let sides = by_side(rows, port);
    let rs = sides.get(side).map(Vec::as_slice).unwrap_or_default();
    assert_processes(rs, "dns-client", "dns-server");
    let mut pairs: Vec<(String, String)> = rs
        .iter()
        .map(|r| {
            assert_eq!(s(r, "l7_protocol_str"), "DNS", "{r}");
            assert_eq!(r["type"], 2, "{r}");
            (s(r, "ip_0").to_string(), s(r, "ip_1").to_string())
        })
        .collect();
    pairs.sort();
    pairs
}

#[test]
fn a_server_answering_from_the_address_it_was_asked_on_is_named_by_its_packet_info() {
    let _one = ONE_TRACER.lock().unwrap_or_else(|e| e.into_inner());
    if !can_trace() {
        return;
    }
    // Queries to the namespace's secondary addresses: a route lookup there names the primary
    // ones (NS_IP, NS_IP6), the servers' IP_PKTINFO / IPV6_PKTINFO the addresses asked.
    let stats = dns_in_namespace("tp", true, ["pktinfo6", "pktinfo"], (NS_IP_2, NS_IP6_2));
    // Each of the 24 queries and answers, read and sent with packet info.
    let pktinfo = stats["trace.bpf.pktinfo_local"].as_u64().unwrap_or(0);
    assert!(pktinfo >= 48, "{stats}");
}

/// DNS servers in a namespace of their own ([`addressed`]), in `modes` (dns_udp.py's) on 5353
/// and 53, asked by clients in the host's namespace on `to` (IPv4 and IPv6 on 5353, IPv4 on
/// 53), traced: each client's 8 queries (4 from a connected socket, 4 from one that is not) are
/// rows on both sides naming HOST_IP / HOST_IP6 and the address asked, and both processes.
/// Returns stats.json.
fn dns_in_namespace(
    name: &str,
    second: bool,
    modes: [&str; 2],
    (to, to6): (&str, &str),
) -> serde_json::Value {
    let dir = temp(name);
    let net = addressed(name, second);
    // Each server waits for one query more than it gets: a server that ended before the tracer
    // read its events would leave no process in the namespace to ask the route of.
    let ns = ["ip", "netns", "exec", net.ns.as_str()];
    let servers = [
        dns_server(&ns, PORT, 17, modes[0]).expect("DNS server on 5353"),
        dns_server(&ns, 53, 9, modes[1]).expect("DNS server on 53"),
    ];
    let trace = Trace::start(&dir.join("out"), &[]);
    for (port, to) in [(PORT, to), (PORT, to6), (53, to)] {
        assert_eq!(dns_client(&["client", &port.to_string(), to]).len(), 8);
    }
    let (status, rows, stats) = trace.stop();
    assert!(status.success());
    for (port, families) in [(PORT, 2), (53, 1)] {
        let mut want = vec![(HOST_IP.to_string(), to.to_string()); 8];
        if families == 2 {
            want.extend(vec![(HOST_IP6.to_string(), to6.to_string()); 8]);
        }
        want.sort();
        for side in ["c-p", "s-p"] {
            let got = ends(&rows, port, side);
            assert_eq!(got, want, "port {port}, {side}: {stats}");
        }
    }
    drop(servers);
    drop(net);
    let _ = std::fs::remove_dir_all(&dir);
    stats
}

/// Queries of the burst test: more than the 8 messages a call the tracer sends without the
/// kernel's bpf_loop, fewer than a server's socket buffer holds at once.
const BURST: usize = 60;

/// The sorted domains of the queries one side's rows carry: sessions (type 2) and requests
/// logged alone (type 0: a burst's queries beyond the flow's pending-request window are
/// pushed out before their answers come, `l7.pending_evicted`).
fn asked(rows: &[serde_json::Value], side: &str) -> Vec<String> {
    let sides = by_side(rows, PORT);
    let mut v: Vec<String> = sides
        .get(side)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|r| r["type"] == 2 || r["type"] == 0)
        .map(|r| s(r, "request_domain").to_string())
        .collect();
    v.sort();
    v
}

/// A client's one sendmmsg of BURST queries and a server reading them with recvmmsg (as many
/// as have arrived a call), traced with the programs `bpf_loop` allows (`loop_on`) or those
/// for kernels without it. Returns the names asked, the rows and stats.json.
fn burst(
    dir: &std::path::Path,
    loop_on: bool,
) -> (Vec<String>, Vec<serde_json::Value>, serde_json::Value) {
    let _server = dns_server(&[], PORT, BURST, "batch").expect("DNS server on 5353");
    let env: &[(&str, &str)] = if loop_on {
        &[]
    } else {
        &[("TAPFLOW_TRACE_BPF_LOOP", "0")]
    };
    let trace = Trace::start_with_env(&dir.join("out"), &[], env);
    let mut names = dns_client(&["burst", &PORT.to_string(), &BURST.to_string()]);
    assert_eq!(names.len(), BURST);
    names.sort();
    let (status, rows, stats) = trace.stop();
    assert!(status.success());
    (names, rows, stats)
}

#[test]
fn every_message_of_a_sendmmsg_and_a_recvmmsg_is_a_row_with_bpf_loop() {
    let _one = ONE_TRACER.lock().unwrap_or_else(|e| e.into_inner());
    if !can_trace() {
        return;
    }
    let dir = temp("mmsg-loop");
    let (names, rows, stats) = burst(&dir, true);
    if stats["trace.mmsg_per_call"] != 1024 {
        eprintln!("skipped: this kernel has no bpf_loop ({stats})");
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }
    // The client's one call and the server's recvmmsg calls: every message on both sides.
    assert_eq!(asked(&rows, "c-p"), names);
    assert_eq!(asked(&rows, "s-p"), names);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn without_bpf_loop_a_call_logs_its_first_eight_messages_and_counts_the_rest() {
    let _one = ONE_TRACER.lock().unwrap_or_else(|e| e.into_inner());
    if !can_trace() {
        return;
    }
    let dir = temp("mmsg");
    let (names, rows, stats) = burst(&dir, false);
    assert_eq!(stats["trace.mmsg_per_call"], 8, "{stats}");
    // The client's one call: its first 8 messages (sent in order).
    let first: Vec<String> = {
        let mut sent: Vec<String> = (0..8).map(|i| format!("b{i}.example")).collect();
        sent.sort();
        sent
    };
    assert_eq!(asked(&rows, "c-p"), first);
    // The server's calls: at least a batch's first 8, none twice, only what was sent.
    let server = asked(&rows, "s-p");
    assert!(server.len() >= 8, "{server:?}");
    assert!(server.windows(2).all(|w| w[0] != w[1]), "{server:?}");
    assert!(server.iter().all(|n| names.contains(n)), "{server:?}");
    // At least the client's 52 (the tracer sees the whole host) and the server's.
    let unsent = stats["trace.bpf.mmsg_unsent"].as_u64().unwrap_or(0);
    assert!(
        unsent as usize >= BURST - 8 + (BURST - server.len()),
        "{unsent} {stats}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
