//! What each capture engine needs from the kernel's permission model, checked before any socket
//! is opened so that a missing capability is named with its fix instead of surfacing as EPERM or
//! ENOBUFS from deep inside a setup call. Read from `/proc/self/status` (effective capabilities)
//! and `/proc/self/limits` (locked memory): no FFI.

/// A Linux capability: its bit and name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cap {
    pub bit: u32,
    pub name: &'static str,
}

impl Cap {
    /// Is it in the capability set `eff` (a `CapEff` bit mask)?
    pub fn in_set(self, eff: u64) -> bool {
        eff & (1u64 << self.bit) != 0
    }
}

pub const CAP_NET_ADMIN: Cap = Cap {
    bit: 12,
    name: "CAP_NET_ADMIN",
};
pub const CAP_NET_RAW: Cap = Cap {
    bit: 13,
    name: "CAP_NET_RAW",
};
pub const CAP_IPC_LOCK: Cap = Cap {
    bit: 14,
    name: "CAP_IPC_LOCK",
};
pub const CAP_SYS_PTRACE: Cap = Cap {
    bit: 19,
    name: "CAP_SYS_PTRACE",
};
pub const CAP_SYS_ADMIN: Cap = Cap {
    bit: 21,
    name: "CAP_SYS_ADMIN",
};
pub const CAP_PERFMON: Cap = Cap {
    bit: 38,
    name: "CAP_PERFMON",
};
pub const CAP_BPF: Cap = Cap {
    bit: 39,
    name: "CAP_BPF",
};

/// AF_PACKET: a raw socket (the ring is not locked memory; promiscuous mode through the socket).
pub const AF_PACKET: &[Cap] = &[CAP_NET_RAW];
/// AF_XDP: load and attach the XDP program (CAP_BPF, CAP_PERFMON for its maps and helpers,
/// CAP_NET_ADMIN to attach), the XDP socket and the packet socket holding the interface
/// promiscuous (CAP_NET_RAW) and the UMEM (locked memory: CAP_IPC_LOCK, or a locked-memory
/// limit large enough).
pub const AF_XDP: &[Cap] = &[
    CAP_NET_ADMIN,
    CAP_NET_RAW,
    CAP_BPF,
    CAP_PERFMON,
    CAP_IPC_LOCK,
];

/// The process's effective capability set, from `/proc/self/status` (None when unreadable).
pub fn effective() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_cap_eff(&status)
}

fn parse_cap_eff(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("CapEff:"))?;
    u64::from_str_radix(line["CapEff:".len()..].trim(), 16).ok()
}

/// The soft locked-memory limit in bytes, from `/proc/self/limits` (None: unlimited).
pub fn memlock_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    parse_memlock(&limits)
}

fn parse_memlock(limits: &str) -> Option<u64> {
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max locked memory"))?;
    let soft = line["Max locked memory".len()..]
        .split_whitespace()
        .next()?;
    soft.parse().ok()
}

/// The capabilities of `needs` that `eff` lacks. CAP_BPF and CAP_PERFMON are also granted by
/// CAP_SYS_ADMIN (kernels before 5.8 have only that); CAP_IPC_LOCK is not needed when the
/// locked-memory limit covers `locked_bytes`.
pub fn missing(needs: &[Cap], eff: u64, memlock: Option<u64>, locked_bytes: u64) -> Vec<Cap> {
    let has = |c: Cap| c.in_set(eff);
    needs
        .iter()
        .copied()
        .filter(|&c| !has(c))
        .filter(|&c| !((c == CAP_BPF || c == CAP_PERFMON) && has(CAP_SYS_ADMIN)))
        .filter(|&c| !(c == CAP_IPC_LOCK && memlock.is_none_or(|l| l >= locked_bytes)))
        .collect()
}

/// Checks that this process may run `engine` (needing `needs`, locking `locked_bytes` of
/// memory); the error names what is missing and how to grant it.
pub fn check(engine: &str, needs: &[Cap], locked_bytes: u64) -> Result<(), String> {
    let Some(eff) = effective() else {
        return Ok(()); // no /proc: let the kernel decide
    };
    let lacking = missing(needs, eff, memlock_limit(), locked_bytes);
    if lacking.is_empty() {
        return Ok(());
    }
    let names = |cs: &[Cap]| cs.iter().map(|c| c.name).collect::<Vec<_>>().join(" ");
    let lower = |cs: &[Cap]| {
        cs.iter()
            .map(|c| c.name.to_ascii_lowercase())
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut msg = format!(
        "{engine} capture needs {} (missing: {}). Run as root, or grant them: \
         AmbientCapabilities={} in the systemd unit (systemd/tapflow-agent.service), \
         or `setcap {}+ep $(command -v tapflow)`",
        names(needs),
        names(&lacking),
        names(needs),
        lower(needs),
    );
    if lacking.contains(&CAP_IPC_LOCK) {
        msg.push_str(&format!(
            "; instead of CAP_IPC_LOCK a locked-memory limit of at least {} MiB does \
             (LimitMEMLOCK=infinity in the unit, `ulimit -l unlimited` in a shell)",
            locked_bytes.div_ceil(1 << 20)
        ));
    }
    Err(msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_proc_formats() {
        let status = "Name:\ttapflow\nCapInh:\t0000000000000000\nCapEff:\t000000c000003000\n";
        assert_eq!(parse_cap_eff(status), Some(0xc0_0000_3000));
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max locked memory         8388608              8388608              bytes     \n";
        assert_eq!(parse_memlock(limits), Some(8 << 20));
        let unlimited =
            "Max locked memory         unlimited            unlimited            bytes\n";
        assert_eq!(parse_memlock(unlimited), None);
    }

    #[test]
    fn missing_capabilities_and_their_substitutes() {
        let bit = |c: Cap| 1u64 << c.bit;
        let raw = bit(CAP_NET_RAW);
        assert!(missing(AF_PACKET, raw, Some(0), 0).is_empty());
        assert_eq!(missing(AF_PACKET, 0, None, 0), [CAP_NET_RAW]);
        let all = AF_XDP.iter().fold(0, |a, c| a | bit(*c));
        assert!(missing(AF_XDP, all, Some(0), 1 << 30).is_empty());
        // Before 5.8: CAP_SYS_ADMIN stands for CAP_BPF and CAP_PERFMON.
        let old = bit(CAP_NET_ADMIN) | raw | bit(CAP_IPC_LOCK) | bit(CAP_SYS_ADMIN);
        assert!(missing(AF_XDP, old, Some(0), 1 << 30).is_empty());
        // A large enough locked-memory limit stands for CAP_IPC_LOCK.
        let no_lock = all & !bit(CAP_IPC_LOCK);
        assert!(missing(AF_XDP, no_lock, None, 1 << 30).is_empty());
        assert!(missing(AF_XDP, no_lock, Some(1 << 31), 1 << 30).is_empty());
        assert_eq!(
            missing(AF_XDP, no_lock, Some(8 << 20), 1 << 30),
            [CAP_IPC_LOCK]
        );
    }
}
