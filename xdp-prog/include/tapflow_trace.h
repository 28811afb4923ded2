/* Structs and constants shared by the syscall tracer (syscalls.bpf.c) and Rust (src/trace.rs).
 * Keep both sides in sync: a unit test in src/trace.rs parses this file. */
#ifndef TAPFLOW_TRACE_H
#define TAPFLOW_TRACE_H

/* Largest payload prefix one event carries (the configured cap is at most this). */
#define TAPFLOW_TRACE_DATA_MAX 8192
/* Bytes before the payload in an event (struct tapflow_trace_event without data). */
#define TAPFLOW_TRACE_HDR_SIZE 112

/* Event kinds. */
#define TAPFLOW_TRACE_EV_DATA 1
#define TAPFLOW_TRACE_EV_CONNECT 2
#define TAPFLOW_TRACE_EV_ACCEPT 3
#define TAPFLOW_TRACE_EV_CLOSE 4

/* Direction of a data event, as seen by the process. */
#define TAPFLOW_TRACE_EGRESS 0
#define TAPFLOW_TRACE_INGRESS 1

/* Where the bytes came from. */
#define TAPFLOW_TRACE_SRC_SYSCALL 0
#define TAPFLOW_TRACE_SRC_OPENSSL 1
#define TAPFLOW_TRACE_SRC_GO_TLS 2

/* Per-CPU counter slots of the `trace_counters` array map. */
#define TAPFLOW_TRACE_CNT_DATA 0
#define TAPFLOW_TRACE_CNT_LIFECYCLE 1
#define TAPFLOW_TRACE_CNT_RING_FULL 2
#define TAPFLOW_TRACE_CNT_SSL 3
#define TAPFLOW_TRACE_CNT_SSL_NO_FD 4
#define TAPFLOW_TRACE_CNT_TRUNCATED 5
#define TAPFLOW_TRACE_CNT_ARGS_FULL 6
#define TAPFLOW_TRACE_CNT_UNRESOLVED 7
#define TAPFLOW_TRACE_CNT_MMSG_UNSENT 8
#define TAPFLOW_TRACE_CNT_PKTINFO 9
#define TAPFLOW_TRACE_CNT_GO_TLS 10
#define TAPFLOW_TRACE_CNT_GO_TLS_NO_FD 11
#define TAPFLOW_TRACE_CNT_MAX 12

/* Go executables with Go TLS probes at once (the `go_exes` table; a probe's cookie is its
 * executable's index). */
#define TAPFLOW_TRACE_MAX_GO_EXES 256

/* Entries of the per-thread tables (pending syscall arguments, OpenSSL calls, trace ids). */
#define TAPFLOW_TRACE_MAX_THREADS 16384
/* Entries of the SSL* -> fd and TLS socket tables. */
#define TAPFLOW_TRACE_MAX_SOCKETS 65536
/* Entries of the traced-process filter. */
#define TAPFLOW_TRACE_MAX_PIDS 1024

/* One event in the ring buffer: a header and cap_len payload bytes. All integers in host order;
 * addresses in network order (IPv4 in the first 4 bytes). */
struct tapflow_trace_event {
	__u64 ts_ns;       /* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
	__u64 sock_id;     /* kernel socket address: one id per socket while it lives (0 unknown) */
	__u64 trace_id;    /* syscall trace id of the thread's current request */
	__u32 tgid;
	__u32 tid;
	__s32 fd;
	__u32 syscall_len; /* bytes the call moved */
	__u32 cap_len;     /* bytes that follow */
	__u8 kind;
	__u8 direction;
	__u8 source;
	__u8 family;       /* AF_INET, AF_INET6, AF_UNIX, or 0 when the socket was not resolved in BPF */
	__u16 lport;
	__u16 rport;
	__u8 proto;        /* IPPROTO_TCP or IPPROTO_UDP (0 when the socket was not resolved in BPF) */
	__u8 pad[3];
	__u8 laddr[16];
	__u8 raddr[16];
	char comm[16];
	__u32 netns;       /* the process's network namespace: its inode number (0 unknown) */
	__u32 pad2;
	/* Payload: at most DATA_MAX bytes are sent; the doubled area gives the BPF verifier room
	 * for a copy at a variable offset (the scratch event is per CPU, never on the stack). */
	__u8 data[2 * TAPFLOW_TRACE_DATA_MAX];
};
_Static_assert(__builtin_offsetof(struct tapflow_trace_event, data) == TAPFLOW_TRACE_HDR_SIZE,
	       "the header size user space reads");

/* The one entry of the `trace_config` array map. */
struct tapflow_trace_config {
	__u32 payload_cap;
	__u32 self_tgid;
	__u32 filter_pids; /* 1: only processes in `trace_pids` */
	__u32 wakeup_bytes; /* wake the reader once this much is waiting */
	__u32 unix_sockets; /* 1: unix stream sockets are traced too */
};

#endif
