//! `tapflow trace` and a UDP server in a network namespace of its own (a pod's, a container's),
//! bound to no address (`0.0.0.0`), answering a client in the host's namespace over a veth
//! pair: neither process's socket says the address its datagrams leave from, so the tracer asks
//! the kernel's route lookup in each process's namespace. Every query must be a row as each
//! process saw it, both naming the two veth addresses (not 0.0.0.0) and both processes. Needs
//! root (scripts/test.sh runs the tests as root); skips and says so without.

use std::process::{Command, Stdio};

mod live_support;
mod netns;
mod procs;
mod trace_support;
use live_support::Killed;
use netns::{sh, VethNs};
use trace_support::{assert_processes, by_side, can_trace, s, temp, Trace};

const HOST_IP: &str = "198.18.91.1";
const NS_IP: &str = "198.18.91.2";

#[test]
fn a_udp_server_bound_to_any_address_in_a_namespace_is_named_by_its_route() {
    if !can_trace() {
        return;
    }
    let dir = temp("netns");
    let net = VethNs::with_mtu("tu", "1500");
    sh(&[
        "ip",
        "addr",
        "add",
        &format!("{HOST_IP}/24"),
        "dev",
        &net.host,
    ]);
    sh(&[
        "ip",
        "netns",
        "exec",
        &net.ns,
        "ip",
        "addr",
        "add",
        &format!("{NS_IP}/24"),
        "dev",
        &net.peer,
    ]);
    // DNS is inferred on its ports only (53, 5353).
    let port = 5353u16;
    // It waits for a ninth query: a server that ended before the tracer read its events would
    // leave no process in the namespace to ask the route of.
    let mut server = Killed(
        Command::new("ip")
            .args(["netns", "exec", &net.ns, "/usr/bin/python3"])
            .arg(live_support::client_script("dns_udp.py"))
            .args(["server", &port.to_string(), "9", "any"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("dns server"),
    );
    let mut ready = String::new();
    let out = server.0.stdout.take().expect("stdout");
    let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(out), &mut ready);
    assert_eq!(ready.trim(), "ready", "the DNS server in {}", net.ns);
    let trace = Trace::start(&dir.join("out"), &[]);
    let client = Command::new("/usr/bin/python3")
        .arg(live_support::client_script("dns_udp.py"))
        .args(["client", &port.to_string(), NS_IP])
        .output()
        .expect("dns client");
    assert!(
        client.status.success(),
        "{}",
        String::from_utf8_lossy(&client.stderr)
    );
    let (status, rows, stats) = trace.stop();
    assert!(status.success());
    let sides = by_side(&rows, port);
    for side in ["c-p", "s-p"] {
        let rs = sides.get(side).map(Vec::as_slice).unwrap_or_default();
        // 8 queries: 4 from a connected socket, 4 from one that is not (sendto, sendmsg).
        assert_eq!(rs.len(), 8, "{side}: {rs:#?}");
        for r in rs {
            assert_eq!(s(r, "l7_protocol_str"), "DNS", "{r}");
            assert_eq!(r["type"], 2, "{r}");
            assert_eq!(
                (s(r, "ip_0"), s(r, "ip_1")),
                (HOST_IP, NS_IP),
                "{side}: {r}"
            );
        }
        assert_processes(rs, "dns-client", "dns-server");
    }
    // The server's peer flows and the client's unconnected socket were looked up (the
    // connected socket has its address from the kernel).
    assert!(
        stats["trace.udp_source.found"].as_u64().unwrap_or(0) >= 8,
        "{stats}"
    );
    assert_eq!(stats["trace.udp_source.unknown"], 0, "{stats}");
    drop(server);
    drop(net);
    let _ = std::fs::remove_dir_all(&dir);
}
