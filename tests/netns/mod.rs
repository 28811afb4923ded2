//! Test support for the privileged tests: root detection and a veth pair with one end in a network
//! namespace, created by the test and removed on drop (also when the test fails).

use std::process::{Command, Stdio};

/// True when running as root (the tests that need it say so and skip otherwise).
pub(crate) fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// Runs a command; panics when it fails.
pub(crate) fn sh(args: &[&str]) {
    let st = Command::new(args[0])
        .args(&args[1..])
        .status()
        .expect("spawn");
    assert!(st.success(), "{args:?} failed");
}

/// A veth pair with one end in a namespace; removed on drop, even when the test fails.
#[allow(dead_code)] // not every test crate that includes this module uses it
pub(crate) struct VethNs {
    pub(crate) ns: String,
    pub(crate) host: String,
    pub(crate) peer: String,
}

#[allow(dead_code)]
impl VethNs {
    /// `tf{tag}{pid}a` on the host, `...b` in namespace `tf-{tag}-{pid}`, both up with `mtu`.
    pub(crate) fn with_mtu(tag: &str, mtu: &str) -> Self {
        let id = std::process::id() % 100_000;
        let v = VethNs {
            ns: format!("tf-{tag}-{id}"),
            host: format!("tf{tag}{id}a"),
            peer: format!("tf{tag}{id}b"),
        };
        v.cleanup();
        sh(&["ip", "netns", "add", &v.ns]);
        sh(&[
            "ip", "link", "add", &v.host, "type", "veth", "peer", "name", &v.peer,
        ]);
        sh(&["ip", "link", "set", &v.peer, "netns", &v.ns]);
        // No IPv6 autoconfiguration chatter on the test link.
        let _ = std::fs::write(
            format!("/proc/sys/net/ipv6/conf/{}/disable_ipv6", v.host),
            "1",
        );
        sh(&[
            "ip",
            "netns",
            "exec",
            &v.ns,
            "sysctl",
            "-q",
            "-w",
            &format!("net.ipv6.conf.{}.disable_ipv6=1", v.peer),
        ]);
        // Tunnelled mirror frames exceed 1500 bytes: jumbo MTU, as on real mirror ports.
        sh(&["ip", "link", "set", &v.host, "mtu", mtu, "up"]);
        sh(&[
            "ip", "netns", "exec", &v.ns, "ip", "link", "set", &v.peer, "mtu", mtu, "up",
        ]);
        v
    }

    /// `tapflow replay` of `pcap` at `pps` frames per second out of the namespace's end (the
    /// host end is the one captured).
    pub(crate) fn replay(&self, pcap: &std::path::Path, pps: &str) {
        let st = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.ns,
                env!("CARGO_BIN_EXE_tapflow"),
                "replay",
            ])
            .args(["--pps", pps, "--iface", &self.peer])
            .arg(pcap)
            .status()
            .expect("replay");
        assert!(st.success(), "tapflow replay {}", pcap.display());
    }

    pub(crate) fn cleanup(&self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.host])
            .stderr(Stdio::null())
            .status();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.ns])
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for VethNs {
    fn drop(&mut self) {
        self.cleanup();
    }
}

/// A switch port with SPAN, as a mirror analyzer sees it: a client namespace and a server
/// namespace joined by a veth link whose server end is mirrored (both directions, `tc` u32 +
/// mirred) to a veth whose other end, `capture`, is in the root namespace. Offloads are off, so
/// the mirror carries the segments the stacks send. Everything is removed on drop.
#[allow(dead_code)] // not every test crate that includes this module uses it
pub(crate) struct SpanLab {
    pub(crate) client_ns: String,
    pub(crate) server_ns: String,
    pub(crate) capture: String,
    pub(crate) client_ip: &'static str,
    pub(crate) server_ip: &'static str,
}

#[allow(dead_code)]
impl SpanLab {
    pub(crate) fn new(tag: &str) -> Self {
        let id = std::process::id() % 100_000;
        let lab = SpanLab {
            client_ns: format!("tfc-{tag}-{id}"),
            server_ns: format!("tfs-{tag}-{id}"),
            capture: format!("tf{tag}{id}p"),
            client_ip: "198.18.77.1",
            server_ip: "198.18.77.2",
        };
        lab.cleanup();
        let (c, s) = (&lab.client_ns, &lab.server_ns);
        let (cl, sl, mirror) = (
            format!("tf{tag}{id}c"),
            format!("tf{tag}{id}s"),
            format!("tf{tag}{id}m"),
        );
        sh(&["ip", "netns", "add", c]);
        sh(&["ip", "netns", "add", s]);
        sh(&[
            "ip", "link", "add", &cl, "type", "veth", "peer", "name", &sl,
        ]);
        sh(&["ip", "link", "set", &cl, "netns", c]);
        sh(&["ip", "link", "set", &sl, "netns", s]);
        sh(&[
            "ip",
            "link",
            "add",
            &mirror,
            "type",
            "veth",
            "peer",
            "name",
            &lab.capture,
        ]);
        sh(&["ip", "link", "set", &mirror, "netns", s]);
        let _ = std::fs::write(
            format!("/proc/sys/net/ipv6/conf/{}/disable_ipv6", lab.capture),
            "1",
        );
        for (ns, dev, ip) in [(c, &cl, lab.client_ip), (s, &sl, lab.server_ip)] {
            sh(&[
                "ip",
                "netns",
                "exec",
                ns,
                "sysctl",
                "-q",
                "-w",
                "net.ipv6.conf.all.disable_ipv6=1",
            ]);
            sh(&[
                "ip",
                "-n",
                ns,
                "addr",
                "add",
                &format!("{ip}/30"),
                "dev",
                dev,
            ]);
            sh(&["ip", "-n", ns, "link", "set", dev, "up"]);
            sh(&["ip", "-n", ns, "link", "set", "lo", "up"]);
            let _ = Command::new("ip")
                .args([
                    "netns", "exec", ns, "ethtool", "-K", dev, "tso", "off", "gso", "off",
                ])
                .args(["gro", "off"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        sh(&["ip", "-n", s, "link", "set", &mirror, "up"]);
        sh(&["ip", "link", "set", &lab.capture, "up"]);
        sh(&[
            "ip", "netns", "exec", s, "tc", "qdisc", "add", "dev", &sl, "clsact",
        ]);
        for dir in ["ingress", "egress"] {
            sh(&[
                "ip", "netns", "exec", s, "tc", "filter", "add", "dev", &sl, dir, "protocol",
                "all", "u32", "match", "u32", "0", "0", "action", "mirred", "egress", "mirror",
                "dev", &mirror,
            ]);
        }
        lab
    }

    /// Routes multicast (224.0.0.0/4) out of both namespaces' link, for protocols that find
    /// their peers by multicast (SOME/IP service discovery).
    pub(crate) fn route_multicast(&self) {
        // The link ends are named like the capture interface, `c` and `s` for its `p`.
        let base = &self.capture[..self.capture.len() - 1];
        for (ns, end) in [(&self.client_ns, "c"), (&self.server_ns, "s")] {
            sh(&[
                "ip",
                "-n",
                ns,
                "route",
                "add",
                "224.0.0.0/4",
                "dev",
                &format!("{base}{end}"),
            ]);
        }
    }

    /// Does the server namespace accept TCP connections on `port` (a server that finished
    /// starting)? Tried from the client namespace, as the test's clients will connect.
    pub(crate) fn server_port_open(&self, port: u16) -> bool {
        self.in_client(&["/usr/bin/python3", "-c"])
            .arg(format!(
                "import socket; socket.create_connection(('{}', {port}), timeout=1).close()",
                self.server_ip
            ))
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// `args` run in the client namespace, on CPU 0 (see [`SpanLab::in_server`]).
    pub(crate) fn in_client(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.client_ns, "taskset", "-c", "0"])
            .args(args);
        c
    }

    /// `args` run in the server namespace, on CPU 0. The mirror copies each direction on the CPU
    /// that sends it, into that CPU's backlog: with client and server on different CPUs a reply
    /// sent within microseconds of its request can reach the capture first (a switch's SPAN port
    /// keeps the order). On one CPU both copies share a backlog and keep their order.
    pub(crate) fn in_server(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.server_ns, "taskset", "-c", "0"])
            .args(args);
        c
    }

    /// Debian's redis-server in the server namespace on `port`, its files in `dir`, no
    /// persistence.
    pub(crate) fn redis_server(&self, port: &str, dir: &std::path::Path) -> std::process::Child {
        self.in_server(&["redis-server", "--port", port, "--bind", self.server_ip])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .arg("--dir")
            .arg(dir)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server")
    }

    pub(crate) fn cleanup(&self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.capture])
            .stderr(Stdio::null())
            .status();
        for ns in [&self.client_ns, &self.server_ns] {
            // Whatever a test started in the namespace (a server that forks, like Erlang's
            // epmd and beam) goes with it, also when the test failed.
            if let Ok(out) = Command::new("ip").args(["netns", "pids", ns]).output() {
                for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    let _ = Command::new("kill").args(["-9", pid]).status();
                }
            }
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl Drop for SpanLab {
    fn drop(&mut self) {
        self.cleanup();
    }
}
