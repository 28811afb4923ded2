//! What the tracer reads from /proc: the TCP connection behind a process's fd when BPF could not
//! walk the fd table (the fallback), and the OpenSSL libraries processes have mapped.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

/// A TCP connection's two ends: (local, remote).
pub type Tuple = ((IpAddr, u16), (IpAddr, u16));

/// The TCP connection fd `fd` of process `pid` refers to, from `/proc/PID/fd` and
/// `/proc/PID/net/tcp{,6}`; None when it is not a TCP socket (or the process is gone).
pub fn tcp_tuple(proc_root: &Path, pid: u32, fd: i32) -> Option<Tuple> {
    let link = std::fs::read_link(proc_root.join(format!("{pid}/fd/{fd}"))).ok()?;
    let inode = link
        .to_str()?
        .strip_prefix("socket:[")?
        .strip_suffix(']')?
        .to_string();
    for table in ["tcp", "tcp6"] {
        let text = std::fs::read_to_string(proc_root.join(format!("{pid}/net/{table}"))).ok()?;
        if let Some(t) = find_inode(&text, &inode) {
            return Some(t);
        }
    }
    None
}

/// The row of a /proc/net/tcp table with socket inode `inode`.
pub fn find_inode(table: &str, inode: &str) -> Option<Tuple> {
    table.lines().skip(1).find_map(|line| {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.get(9) != Some(&inode) {
            return None;
        }
        Some((endpoint(cols.get(1)?)?, endpoint(cols.get(2)?)?))
    })
}

/// "0100007F:1F90" (address words in host order, little-endian here) -> 127.0.0.1:8080.
fn endpoint(s: &str) -> Option<(IpAddr, u16)> {
    let (addr, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| -> Option<[u8; 4]> {
        Some(
            u32::from_str_radix(addr.get(i * 8..i * 8 + 8)?, 16)
                .ok()?
                .to_le_bytes(),
        )
    };
    let ip = match addr.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(0)?)),
        32 => {
            let mut b = [0u8; 16];
            for i in 0..4 {
                b[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            let v6 = Ipv6Addr::from(b);
            v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)
        }
        _ => return None,
    };
    Some((ip, port))
}

/// Where Debian and most distributions keep OpenSSL's libssl.
pub const LIBSSL_DEFAULTS: &[&str] = &[
    "/usr/lib/x86_64-linux-gnu/libssl.so.3",
    "/lib/x86_64-linux-gnu/libssl.so.3",
    "/usr/lib/aarch64-linux-gnu/libssl.so.3",
    "/usr/lib64/libssl.so.3",
    "/usr/lib/x86_64-linux-gnu/libssl.so.1.1",
];

/// The files to put the TLS library uprobes on: `extra` (from the command line or config), the
/// defaults that exist, every libssl mapped by a running process (`pids`: only those; empty:
/// all), and the executables of those processes that have an OpenSSL-compatible library linked
/// in (they define `SSL_write` and `SSL_read` themselves), each once (by canonical path, and
/// executables by file).
pub fn libssl_paths(proc_root: &Path, extra: &[PathBuf], pids: &[u32]) -> Vec<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let mut found = BTreeSet::new();
    let mut add = |p: &Path| {
        if let Ok(c) = std::fs::canonicalize(p) {
            found.insert(c);
        }
    };
    for p in extra {
        add(p);
    }
    for p in LIBSSL_DEFAULTS {
        add(Path::new(p));
    }
    let dirs = process_dirs(proc_root, pids);
    for d in &dirs {
        let Ok(maps) = std::fs::read_to_string(d.join("maps")) else {
            continue;
        };
        for path in maps.lines().filter_map(|l| l.split_whitespace().nth(5)) {
            let name = Path::new(path).file_name().and_then(|n| n.to_str());
            if name.is_some_and(|n| n.starts_with("libssl.so")) {
                add(Path::new(path));
            }
        }
    }
    // Executables with the library linked in (Node.js's official builds, a vendored OpenSSL
    // or BoringSSL): each file read once; one that imports SSL_write from a libssl does not
    // define it.
    let mut seen: BTreeSet<(u64, u64)> = found
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| (m.dev(), m.ino()))
        .collect();
    let mut out: Vec<PathBuf> = found.into_iter().collect();
    for d in &dirs {
        let exe = d.join("exe");
        let Ok(m) = std::fs::metadata(&exe) else {
            continue;
        };
        if seen.insert((m.dev(), m.ino())) && super::ssl_elf::inspect(&exe).is_ok() {
            out.push(path_here(&exe, &m));
        }
    }
    out
}

/// The path a process's executable was started from (its `/proc/PID/exe` link `exe`, of
/// metadata `m`) when it names the same file here; else the link itself, which names the file
/// from any mount namespace (a container's process).
fn path_here(exe: &Path, m: &std::fs::Metadata) -> PathBuf {
    use std::os::unix::fs::MetadataExt;
    std::fs::read_link(exe)
        .ok()
        .filter(|t| std::fs::metadata(t).is_ok_and(|tm| (tm.dev(), tm.ino()) == (m.dev(), m.ino())))
        .unwrap_or_else(|| exe.to_path_buf())
}

/// The Go executables to put the crypto/tls uprobes on: `extra` (from the command line), and
/// with `scan`, the executables of running processes (`pids`: only those; empty: all) that are Go
/// programs with crypto/tls, each once (by file). A named file is kept whatever it is (the
/// tracer says why it cannot be probed); a running process's only when it is a Go program
/// using crypto/tls (a Go program that cannot be probed is kept, for its reason to be shown).
pub fn go_executables(
    proc_root: &Path,
    extra: &[PathBuf],
    scan: bool,
    pids: &[u32],
) -> Vec<PathBuf> {
    use super::go_elf::{inspect, NotProbed};
    use std::os::unix::fs::MetadataExt;
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    let mut add = |p: &Path, named: bool| {
        let Ok(m) = std::fs::metadata(p) else {
            if named {
                out.push(p.to_path_buf());
            }
            return;
        };
        if !seen.insert((m.dev(), m.ino())) {
            return;
        }
        if !named
            && matches!(
                inspect(p),
                Err(NotProbed::NotElf | NotProbed::NotGo | NotProbed::NoTls | NotProbed::Io(_))
            )
        {
            return;
        }
        out.push(path_here(p, &m));
    };
    for p in extra {
        add(p, true);
    }
    if scan {
        for d in process_dirs(proc_root, pids) {
            add(&d.join("exe"), false);
        }
    }
    out
}

/// `/proc/PID` of `pids`, or of every process when empty.
fn process_dirs(proc_root: &Path, pids: &[u32]) -> Vec<PathBuf> {
    if !pids.is_empty() {
        return pids.iter().map(|p| proc_root.join(p.to_string())).collect();
    }
    std::fs::read_dir(proc_root)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// This host's own addresses: IPv4 from the local routing table (`net/fib_trie`, `/32 host
/// LOCAL` entries), IPv6 from `net/if_inet6`.
pub fn local_addresses(proc_root: &Path) -> Vec<IpAddr> {
    let mut out = Vec::new();
    if let Ok(trie) = std::fs::read_to_string(proc_root.join("net/fib_trie")) {
        let mut last: Option<Ipv4Addr> = None;
        for line in trie.lines() {
            let l = line.trim_start_matches([' ', '|', '+', '-']);
            if let Ok(a) = l.trim().parse::<Ipv4Addr>() {
                last = Some(a);
            } else if l.contains("/32 host LOCAL") {
                if let Some(a) = last {
                    if !out.contains(&IpAddr::V4(a)) {
                        out.push(IpAddr::V4(a));
                    }
                }
            }
        }
    }
    if let Ok(v6) = std::fs::read_to_string(proc_root.join("net/if_inet6")) {
        for hex in v6.lines().filter_map(|l| l.split_whitespace().next()) {
            if let Ok(n) = u128::from_str_radix(hex, 16) {
                out.push(IpAddr::V6(Ipv6Addr::from(n)));
            }
        }
    }
    out
}

/// The process's name as the kernel keeps it (`comm`, at most 15 bytes).
pub fn comm(proc_root: &Path, pid: u32) -> Option<String> {
    std::fs::read_to_string(proc_root.join(format!("{pid}/comm")))
        .ok()
        .map(|s| s.trim_end().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0
   1: 0100007F:9C40 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 777 1 0000000000000000 20 4 30 10 -1
";
    const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0000000000000000FFFF00000100007F:1F90 0000000000000000FFFF00000100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 991 1 0000000000000000 20 4 0 10 -1
   1: 00000000000000000000000001000000:0050 00000000000000000000000001000000:A000 01 00000000:00000000 00:00000000 00000000     0        0 992 1 0000000000000000 20 4 0 10 -1
";

    #[test]
    fn rows_are_found_by_inode_with_both_ends() {
        let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
        assert_eq!(find_inode(TCP, "777"), Some(((lo, 40000), (lo, 8080))));
        assert_eq!(find_inode(TCP, "4242").map(|t| t.0), Some((lo, 8080)));
        assert_eq!(find_inode(TCP, "1"), None);
        // IPv4-mapped IPv6 is reported as IPv4; ::1 stays IPv6.
        assert_eq!(find_inode(TCP6, "991"), Some(((lo, 8080), (lo, 54321))));
        let one = IpAddr::V6(Ipv6Addr::LOCALHOST);
        assert_eq!(find_inode(TCP6, "992"), Some(((one, 80), (one, 40960))));
    }

    #[test]
    fn local_addresses_include_loopback() {
        let a = local_addresses(Path::new("/proc"));
        assert!(a.contains(&IpAddr::V4(Ipv4Addr::LOCALHOST)), "{a:?}");
    }

    #[test]
    fn this_process_sockets_resolve_through_proc() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        use std::os::fd::AsRawFd;
        let t = tcp_tuple(Path::new("/proc"), std::process::id(), c.as_raw_fd()).unwrap();
        assert_eq!(
            t.0,
            (c.local_addr().unwrap().ip(), c.local_addr().unwrap().port())
        );
        assert_eq!(t.1 .1, l.local_addr().unwrap().port());
        // A pipe is not a TCP socket.
        let f = std::fs::File::open("/proc/self/status").unwrap();
        assert_eq!(
            tcp_tuple(Path::new("/proc"), std::process::id(), f.as_raw_fd()),
            None
        );
    }
}
