//! The syscall tracer's BPF program (`src/syscalls.bpf.c`) and its contract with user space:
//! event layout, kinds, counter slots, map and program names, mirrored from
//! `include/tapflow_trace.h` (a test keeps both in sync).

/// Largest payload prefix one event carries.
pub const DATA_MAX: u32 = 8192;
/// Bytes before the payload in an event.
pub const HDR_SIZE: usize = 112;

/// Event kinds.
pub mod kind {
    pub const DATA: u8 = 1;
    pub const CONNECT: u8 = 2;
    pub const ACCEPT: u8 = 3;
    pub const CLOSE: u8 = 4;
}

/// Direction of a data event, as the process sees it.
pub mod direction {
    pub const EGRESS: u8 = 0;
    pub const INGRESS: u8 = 1;
}

/// Where a data event's bytes came from.
pub mod source {
    pub const SYSCALL: u8 = 0;
    pub const OPENSSL: u8 = 1;
    /// Go's crypto/tls (uprobes on a Go executable's `(*Conn).Read` / `Write`).
    pub const GO_TLS: u8 = 2;
}

/// Per-CPU counter slots of the `trace_counters` map.
pub mod counter {
    pub const DATA: u32 = 0;
    pub const LIFECYCLE: u32 = 1;
    pub const RING_FULL: u32 = 2;
    pub const SSL: u32 = 3;
    pub const SSL_NO_FD: u32 = 4;
    pub const TRUNCATED: u32 = 5;
    pub const ARGS_FULL: u32 = 6;
    pub const UNRESOLVED: u32 = 7;
    pub const MMSG_UNSENT: u32 = 8;
    /// Datagrams whose local address came from IP_PKTINFO / IPV6_PKTINFO.
    pub const PKTINFO: u32 = 9;
    /// Plaintext events of Go's crypto/tls.
    pub const GO_TLS: u32 = 10;
    /// Go TLS calls on a connection that is not a `*net.TCPConn` / `*net.UnixConn` (a
    /// wrapper the probes cannot see through): not traced.
    pub const GO_TLS_NO_FD: u32 = 11;
    pub const MAX: u32 = 12;
    /// Names for stats.json, by slot.
    pub const NAMES: [&str; MAX as usize] = [
        "data_events",
        "lifecycle_events",
        "ring_full",
        "openssl_events",
        "openssl_no_fd",
        "truncated_events",
        "pending_table_full",
        "socket_unresolved_in_bpf",
        "mmsg_unsent",
        "pktinfo_local",
        "go_tls_events",
        "go_tls_no_fd",
    ];
}

/// Entries of the per-thread tables, the socket tables and the process filter.
pub const MAX_THREADS: u32 = 16384;
/// Go executables probed at once (a probe's cookie is its executable's slot in
/// [`maps::GO_EXES`]).
pub const MAX_GO_EXES: u32 = 256;
pub const MAX_SOCKETS: u32 = 65536;
pub const MAX_PIDS: u32 = 1024;

/// Map names in the object file.
pub mod maps {
    pub const EVENTS: &str = "trace_events";
    pub const COUNTERS: &str = "trace_counters";
    pub const CONFIG: &str = "trace_config";
    pub const PIDS: &str = "trace_pids";
    /// Per probed Go executable: the first methods of the `net.Conn` itabs of `*net.TCPConn`
    /// and `*net.UnixConn`, and the entry probes' link-time addresses (for the load bias of a
    /// position-independent one).
    pub const GO_EXES: &str = "go_exes";
}

/// Tracepoint programs: (program, tracepoint category, tracepoint name).
pub const TRACEPOINTS: &[(&str, &str, &str)] = &[
    ("enter_read", "syscalls", "sys_enter_read"),
    ("exit_read", "syscalls", "sys_exit_read"),
    ("enter_write", "syscalls", "sys_enter_write"),
    ("exit_write", "syscalls", "sys_exit_write"),
    ("enter_readv", "syscalls", "sys_enter_readv"),
    ("exit_readv", "syscalls", "sys_exit_readv"),
    ("enter_writev", "syscalls", "sys_enter_writev"),
    ("exit_writev", "syscalls", "sys_exit_writev"),
    ("enter_recvfrom", "syscalls", "sys_enter_recvfrom"),
    ("exit_recvfrom", "syscalls", "sys_exit_recvfrom"),
    ("enter_sendto", "syscalls", "sys_enter_sendto"),
    ("exit_sendto", "syscalls", "sys_exit_sendto"),
    ("enter_recvmsg", "syscalls", "sys_enter_recvmsg"),
    ("exit_recvmsg", "syscalls", "sys_exit_recvmsg"),
    ("enter_sendmsg", "syscalls", "sys_enter_sendmsg"),
    ("exit_sendmsg", "syscalls", "sys_exit_sendmsg"),
    ("enter_recvmmsg", "syscalls", "sys_enter_recvmmsg"),
    ("exit_recvmmsg", "syscalls", "sys_exit_recvmmsg"),
    ("enter_sendmmsg", "syscalls", "sys_enter_sendmmsg"),
    ("exit_sendmmsg", "syscalls", "sys_exit_sendmmsg"),
    ("enter_connect", "syscalls", "sys_enter_connect"),
    ("exit_connect", "syscalls", "sys_exit_connect"),
    ("exit_accept", "syscalls", "sys_exit_accept"),
    ("exit_accept4", "syscalls", "sys_exit_accept4"),
    ("enter_close", "syscalls", "sys_enter_close"),
];

/// The sendmmsg / recvmmsg exits that emit every message of a call with the kernel's
/// `bpf_loop` (5.17): (the program for kernels without it, the program with it). The loader
/// loads and attaches one of each pair.
pub const MMSG_LOOP_EXITS: &[(&str, &str)] = &[
    ("exit_recvmmsg", "exit_recvmmsg_loop"),
    ("exit_sendmmsg", "exit_sendmmsg_loop"),
];

/// Messages of one sendmmsg / recvmmsg call emitted as events: with `bpf_loop`
/// (`MMSG_LOOP_MAX`, sendmmsg's own bound) and without (`MAX_MMSG`); the rest are counted
/// (`mmsg_unsent`).
pub const MMSG_PER_CALL_LOOP: u32 = 1024;
pub const MMSG_PER_CALL_UNROLLED: u32 = 8;

/// OpenSSL uprobes: (program, function, is return probe).
pub const OPENSSL_PROBES: &[(&str, &str, bool)] = &[
    ("ssl_write_enter", "SSL_write", false),
    ("ssl_return", "SSL_write", true),
    ("ssl_read_enter", "SSL_read", false),
    ("ssl_return", "SSL_read", true),
    ("ssl_write_ex_enter", "SSL_write_ex", false),
    ("ssl_return", "SSL_write_ex", true),
    ("ssl_read_ex_enter", "SSL_read_ex", false),
    ("ssl_return", "SSL_read_ex", true),
];

/// Go's crypto/tls uprobes: (program on the entry, function, the function reads). A read's
/// bytes are taken by [`GO_TLS_READ_COPY`] where it copies them, or by [`GO_TLS_RETURN`] on
/// each `RET` (a uretprobe would crash a Go program, whose stacks move); Write's bytes are all
/// known on entry.
pub const GO_TLS_PROBES: &[(&str, &str, bool)] = &[
    ("go_tls_write_enter", "crypto/tls.(*Conn).Write", false),
    ("go_tls_read_enter", "crypto/tls.(*Conn).Read", true),
];
/// Read's bytes where it copies them into the caller's buffer (its call of
/// `runtime.memmove`), when the function has one such call; else [`GO_TLS_RETURN`] on its
/// `RET`s.
pub const GO_TLS_READ_COPY: &str = "go_tls_read_copy";
pub const GO_TLS_RETURN: &str = "go_tls_return";

/// `name` is one of the Go TLS programs (loaded only when Go executables are probed).
pub fn is_go_tls_program(name: &str) -> bool {
    GO_TLS_PROBES.iter().any(|(p, _, _)| *p == name)
        || name == GO_TLS_READ_COPY
        || name == GO_TLS_RETURN
}
/// Bit of a Go TLS probe's cookie (above the executable's slot): the entry probe sits on the
/// stack check's `jbe`.
pub const GO_COOKIE_ON_JBE: u64 = 1 << 32;

/// The compiled tracer (ELF with BTF and CO-RE relocations), or `None` when clang was not
/// available at build time.
pub fn object() -> Option<&'static [u8]> {
    let obj: &'static [u8] = include_bytes!(concat!(env!("OUT_DIR"), "/syscalls.bpf.o"));
    (!obj.is_empty()).then_some(obj)
}

/// The C source and header.
pub const PROGRAM_SOURCE: &str = include_str!("syscalls.bpf.c");
/// Its Go TLS part (included by the program).
pub const GO_TLS_SOURCE: &str = include_str!("trace_go_tls.bpf.h");
/// Its sendmmsg / recvmmsg part (included by the program).
pub const MMSG_SOURCE: &str = include_str!("trace_mmsg.bpf.h");
pub const SHARED_HEADER: &str = include_str!("../include/tapflow_trace.h");

#[cfg(test)]
mod tests {
    use super::*;

    fn define(name: &str) -> u32 {
        crate::header_define(SHARED_HEADER, name)
    }

    #[test]
    fn mmsg_bounds_match_the_program() {
        let define_in_source = |name: &str| crate::header_define(MMSG_SOURCE, name);
        assert!(PROGRAM_SOURCE.contains("#include \"trace_mmsg.bpf.h\""));
        assert_eq!(define_in_source("MMSG_LOOP_MAX"), MMSG_PER_CALL_LOOP);
        assert_eq!(define_in_source("MAX_MMSG"), MMSG_PER_CALL_UNROLLED);
        for (plain, looped) in MMSG_LOOP_EXITS {
            assert!(TRACEPOINTS.iter().any(|(p, _, _)| p == plain), "{plain}");
            assert!(PROGRAM_SOURCE.contains(&format!("MMSG_LOOP_EXIT({})", &plain[5..])));
            assert_eq!(*looped, format!("{plain}_loop"));
        }
    }

    #[test]
    fn go_tls_cookie_matches_the_program() {
        assert!(PROGRAM_SOURCE.contains("#include \"trace_go_tls.bpf.h\""));
        assert_eq!(GO_COOKIE_ON_JBE, 1 << 32);
        assert!(GO_TLS_SOURCE.contains("#define GO_COOKIE_ON_JBE (1ULL << 32)"));
        for (prog, _, _) in GO_TLS_PROBES {
            assert!(GO_TLS_SOURCE.contains(&format!("int {prog}(")), "{prog}");
        }
        assert!(GO_TLS_SOURCE.contains(&format!("int {GO_TLS_READ_COPY}(")));
        assert!(GO_TLS_SOURCE.contains(&format!("int {GO_TLS_RETURN}(")));
    }

    #[test]
    fn header_and_rust_agree() {
        assert_eq!(define("TAPFLOW_TRACE_DATA_MAX"), DATA_MAX);
        assert_eq!(define("TAPFLOW_TRACE_HDR_SIZE") as usize, HDR_SIZE);
        assert_eq!(define("TAPFLOW_TRACE_EV_DATA"), u32::from(kind::DATA));
        assert_eq!(define("TAPFLOW_TRACE_EV_CONNECT"), u32::from(kind::CONNECT));
        assert_eq!(define("TAPFLOW_TRACE_EV_ACCEPT"), u32::from(kind::ACCEPT));
        assert_eq!(define("TAPFLOW_TRACE_EV_CLOSE"), u32::from(kind::CLOSE));
        assert_eq!(define("TAPFLOW_TRACE_EGRESS"), u32::from(direction::EGRESS));
        assert_eq!(
            define("TAPFLOW_TRACE_INGRESS"),
            u32::from(direction::INGRESS)
        );
        assert_eq!(
            define("TAPFLOW_TRACE_SRC_SYSCALL"),
            u32::from(source::SYSCALL)
        );
        assert_eq!(
            define("TAPFLOW_TRACE_SRC_OPENSSL"),
            u32::from(source::OPENSSL)
        );
        assert_eq!(
            define("TAPFLOW_TRACE_SRC_GO_TLS"),
            u32::from(source::GO_TLS)
        );
        assert_eq!(define("TAPFLOW_TRACE_CNT_GO_TLS"), counter::GO_TLS);
        assert_eq!(
            define("TAPFLOW_TRACE_CNT_GO_TLS_NO_FD"),
            counter::GO_TLS_NO_FD
        );
        assert_eq!(define("TAPFLOW_TRACE_MAX_GO_EXES"), MAX_GO_EXES);
        assert_eq!(define("TAPFLOW_TRACE_CNT_DATA"), counter::DATA);
        assert_eq!(define("TAPFLOW_TRACE_CNT_LIFECYCLE"), counter::LIFECYCLE);
        assert_eq!(define("TAPFLOW_TRACE_CNT_RING_FULL"), counter::RING_FULL);
        assert_eq!(define("TAPFLOW_TRACE_CNT_SSL"), counter::SSL);
        assert_eq!(define("TAPFLOW_TRACE_CNT_SSL_NO_FD"), counter::SSL_NO_FD);
        assert_eq!(define("TAPFLOW_TRACE_CNT_TRUNCATED"), counter::TRUNCATED);
        assert_eq!(define("TAPFLOW_TRACE_CNT_ARGS_FULL"), counter::ARGS_FULL);
        assert_eq!(define("TAPFLOW_TRACE_CNT_UNRESOLVED"), counter::UNRESOLVED);
        assert_eq!(
            define("TAPFLOW_TRACE_CNT_MMSG_UNSENT"),
            counter::MMSG_UNSENT
        );
        assert_eq!(define("TAPFLOW_TRACE_CNT_PKTINFO"), counter::PKTINFO);
        assert_eq!(define("TAPFLOW_TRACE_CNT_MAX"), counter::MAX);
        assert_eq!(define("TAPFLOW_TRACE_MAX_THREADS"), MAX_THREADS);
        assert_eq!(define("TAPFLOW_TRACE_MAX_SOCKETS"), MAX_SOCKETS);
        assert_eq!(define("TAPFLOW_TRACE_MAX_PIDS"), MAX_PIDS);
    }

    #[test]
    fn object_has_every_program_and_map() {
        let Some(obj) = object() else {
            panic!(
                "the tracer was not compiled: install clang and libbpf-dev (scripts/test.sh does)"
            );
        };
        assert_eq!(&obj[..4], b"\x7fELF");
        let text = String::from_utf8_lossy(obj);
        let progs = TRACEPOINTS
            .iter()
            .map(|t| t.0)
            .chain(OPENSSL_PROBES.iter().map(|p| p.0))
            .chain(GO_TLS_PROBES.iter().map(|p| p.0))
            .chain([GO_TLS_READ_COPY, GO_TLS_RETURN]);
        assert!(GO_TLS_PROBES.iter().all(|p| is_go_tls_program(p.0)));
        assert!(!is_go_tls_program("ssl_return"));
        for n in progs.chain([
            maps::EVENTS,
            maps::COUNTERS,
            maps::CONFIG,
            maps::PIDS,
            maps::GO_EXES,
        ]) {
            assert!(text.contains(n), "{n} missing from the object");
        }
        for (_, _, tp) in TRACEPOINTS {
            assert!(PROGRAM_SOURCE.contains(
                tp.trim_start_matches("sys_enter_")
                    .trim_start_matches("sys_exit_")
            ));
        }
    }
}
