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
pub(crate) struct VethNs {
    pub(crate) ns: String,
    pub(crate) host: String,
    pub(crate) peer: String,
}

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
