// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* tapflow's syscall tracer: what processes read from and write to their TCP and UDP sockets, and
 * the plaintext of their OpenSSL calls, as events in a BPF ring buffer. A UDP socket that is not
 * connected names its peer in each call (sendto's and recvfrom's address, a message header's
 * msg_name): the event carries that peer.
 *
 * Syscall tracepoints (enter saves the arguments per thread, exit emits what moved), socket
 * lifecycle (connect, accept, close), and uprobes on SSL_read/SSL_write (and _ex). The socket of
 * an fd is found in the task's fd table with CO-RE reads (the structs below carry only the fields
 * used; libbpf relocates them against the kernel's BTF). Ciphertext of sockets OpenSSL works on
 * is not emitted: the uprobes give the plaintext. Go's crypto/tls likewise (trace_go_tls.bpf.h).
 * Every loss is counted per CPU. */
#include <linux/bpf.h>
#include <linux/types.h>
#include <linux/in6.h>
#include <linux/uio.h>
#include <asm/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>

#include "tapflow_trace.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define AF_UNIX 1
#define AF_INET 2
#define AF_INET6 10
#define SOCK_STREAM 1
#define SOCK_DGRAM 2
#define SOCK_SEQPACKET 5
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define EINPROGRESS 115

#include "tapflow_trace_types.h"

/* How a pending call's buffer is described. */
#define BUF_PLAIN 1
#define BUF_IOVEC 2
#define BUF_MSGHDR 3
#define BUF_MMSGHDR 4

struct call_args {
	__u64 buf;
	__u64 count;
	__u64 addr; /* sendto / recvfrom: the peer's struct sockaddr (0: none) */
	__s32 fd;
	__u8 how;
	__u8 direction;
	__u8 pad[2];
};

struct ssl_call {
	__u64 ssl;
	__u64 buf;
	__u64 ex_len; /* size_t *readbytes / *written of the _ex calls, 0 otherwise */
	__s32 fd;     /* the socket a nested syscall used, -1 until seen */
	__u8 direction;
	__u8 pad[3];
};

struct thread_trace {
	__u64 trace_id;
	__u8 last_direction;
	__u8 pad[7];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20); /* resized by user space before load */
} trace_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TAPFLOW_TRACE_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} trace_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tapflow_trace_config);
} trace_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TAPFLOW_TRACE_MAX_PIDS);
	__type(key, __u32);
	__type(value, __u8);
} trace_pids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TAPFLOW_TRACE_MAX_THREADS);
	__type(key, __u64);
	__type(value, struct call_args);
} pending_calls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TAPFLOW_TRACE_MAX_THREADS);
	__type(key, __u64);
	__type(value, struct ssl_call);
} ssl_calls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, TAPFLOW_TRACE_MAX_SOCKETS);
	__type(key, __u64);
	__type(value, __s32);
} ssl_fds SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, TAPFLOW_TRACE_MAX_SOCKETS);
	__type(key, __u64);
	__type(value, __u8);
} tls_socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, TAPFLOW_TRACE_MAX_THREADS);
	__type(key, __u64);
	__type(value, struct thread_trace);
} thread_traces SEC(".maps");

/* Scratch space for building one event (too large for the BPF stack). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tapflow_trace_event);
} event_scratch SEC(".maps");

/* Per-CPU source of syscall trace ids. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} trace_id_seq SEC(".maps");

static __always_inline void count_n(__u32 slot, __u64 n)
{
	__u64 *c = bpf_map_lookup_elem(&trace_counters, &slot);
	if (c)
		*c += n;
}

static __always_inline void count(__u32 slot)
{
	count_n(slot, 1);
}

static __always_inline struct tapflow_trace_config *config(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&trace_config, &zero);
}

/* Is this process traced? (Not tapflow itself; only the listed ones when filtering.) */
static __always_inline int traced(__u64 pid_tgid)
{
	__u32 tgid = pid_tgid >> 32;
	struct tapflow_trace_config *cfg = config();
	if (!cfg || tgid == cfg->self_tgid)
		return 0;
	if (cfg->filter_pids && !bpf_map_lookup_elem(&trace_pids, &tgid))
		return 0;
	return 1;
}

/* The TCP or UDP socket (IPv4 or IPv6), or the unix stream or seqpacket socket when those are
 * traced, behind `fd` of the current task, or NULL. *unresolved is set when the fd table could
 * not be read (user space then looks the fd up in /proc). */
static __always_inline struct sock *fd_sock(int fd, int *unresolved)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds;
	struct file *f = NULL;
	unsigned int max;
	*unresolved = 0;
	if (!fdt || fd < 0) {
		*unresolved = 1;
		return NULL;
	}
	max = BPF_CORE_READ(fdt, max_fds);
	if ((unsigned int)fd >= max)
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) || !f) {
		*unresolved = 1;
		return NULL;
	}
	if ((BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return NULL;
	struct socket *sock = BPF_CORE_READ(f, private_data);
	if (!sock)
		return NULL;
	short type = BPF_CORE_READ(sock, type);
	if (type != SOCK_STREAM && type != SOCK_DGRAM && type != SOCK_SEQPACKET)
		return NULL;
	struct sock *sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return NULL;
	/* Datagram sockets: UDP only (not ICMP's ping sockets). */
	if (type == SOCK_DGRAM && BPF_CORE_READ(sk, sk_protocol) != IPPROTO_UDP)
		return NULL;
	unsigned short family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family == AF_UNIX) {
		struct tapflow_trace_config *cfg = config();
		return cfg && cfg->unix_sockets && type != SOCK_DGRAM ? sk : NULL;
	}
	/* IP's seqpacket sockets are SCTP's. */
	if ((family != AF_INET && family != AF_INET6) || type == SOCK_SEQPACKET)
		return NULL;
	return sk;
}

/* A unix socket end's made-up port: a fold of its bound address (the path a server listens on,
 * which the sockets it accepts share) or, unbound (a client), of the socket itself. Never 0. */
static __always_inline __u16 unix_port(struct sock *sk)
{
	struct unix_sock *u = (struct unix_sock *)sk;
	__u64 p = (__u64)BPF_CORE_READ(u, addr);
	if (!p)
		p = (__u64)sk;
	__u16 port = (__u16)((p >> 4) ^ (p >> 20) ^ (p >> 36) ^ (p >> 52));
	return port ? port : 1;
}

static __always_inline struct tapflow_trace_event *new_event(__u64 pid_tgid, int fd, __u8 kind)
{
	__u32 zero = 0;
	struct tapflow_trace_event *e = bpf_map_lookup_elem(&event_scratch, &zero);
	if (!e)
		return NULL;
	e->ts_ns = bpf_ktime_get_ns();
	e->sock_id = 0;
	e->trace_id = 0;
	e->tgid = pid_tgid >> 32;
	e->tid = (__u32)pid_tgid;
	e->fd = fd;
	e->syscall_len = 0;
	e->cap_len = 0;
	e->kind = kind;
	e->direction = 0;
	e->source = TAPFLOW_TRACE_SRC_SYSCALL;
	e->family = 0;
	e->lport = 0;
	e->rport = 0;
	e->proto = 0;
	__builtin_memset(e->pad, 0, sizeof(e->pad));
	__builtin_memset(e->laddr, 0, sizeof(e->laddr));
	__builtin_memset(e->raddr, 0, sizeof(e->raddr));
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	e->netns = BPF_CORE_READ(task, nsproxy, net_ns, ns.inum);
	e->pad2 = 0;
	return e;
}

static __always_inline void fill_tuple(struct tapflow_trace_event *e, struct sock *sk)
{
	unsigned short family = BPF_CORE_READ(sk, __sk_common.skc_family);
	e->sock_id = (__u64)sk;
	e->family = family;
	if (family == AF_UNIX) {
		/* No addresses (0.0.0.0 both ways, as DeepFlow's agent shows them); ports that tell
		 * the server's path and each client apart, the same from both ends. */
		struct sock *peer = BPF_CORE_READ((struct unix_sock *)sk, peer);
		e->proto = IPPROTO_TCP;
		e->lport = unix_port(sk);
		e->rport = peer ? unix_port(peer) : 0;
		return;
	}
	e->proto = BPF_CORE_READ(sk, sk_protocol) == IPPROTO_UDP ? IPPROTO_UDP : IPPROTO_TCP;
	e->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	e->rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (family == AF_INET) {
		__be32 l = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__be32 r = BPF_CORE_READ(sk, __sk_common.skc_daddr);
		__builtin_memcpy(e->laddr, &l, 4);
		__builtin_memcpy(e->raddr, &r, 4);
	} else {
		BPF_CORE_READ_INTO(&e->laddr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&e->raddr, sk, __sk_common.skc_v6_daddr);
	}
}

/* Waking the reader for every event costs the traced process a softirq each time; the reader
 * is woken once `wakeup_bytes` are waiting and otherwise polls (every 100 ms). */
static __always_inline int submit(struct tapflow_trace_event *e)
{
	__u64 cap_len = e->cap_len;
	if (cap_len > TAPFLOW_TRACE_DATA_MAX)
		cap_len = TAPFLOW_TRACE_DATA_MAX;
	__u64 size = TAPFLOW_TRACE_HDR_SIZE + cap_len;
	struct tapflow_trace_config *cfg = config();
	__u64 wake = BPF_RB_NO_WAKEUP;
	if (!cfg || bpf_ringbuf_query(&trace_events, BPF_RB_AVAIL_DATA) >= cfg->wakeup_bytes)
		wake = BPF_RB_FORCE_WAKEUP;
	if (bpf_ringbuf_output(&trace_events, e, size, wake)) {
		count(TAPFLOW_TRACE_CNT_RING_FULL);
		return -1;
	}
	return 0;
}

/* The thread's syscall trace id for an event in `direction`: a read after a write (or the
 * first read) starts a new request; writes carry the id of the request being served. */
static __always_inline __u64 trace_id(__u64 pid_tgid, __u8 direction)
{
	struct thread_trace *t = bpf_map_lookup_elem(&thread_traces, &pid_tgid);
	if (direction == TAPFLOW_TRACE_INGRESS) {
		if (t && t->last_direction == TAPFLOW_TRACE_INGRESS)
			return t->trace_id;
		__u32 zero = 0;
		__u64 *seq = bpf_map_lookup_elem(&trace_id_seq, &zero);
		if (!seq)
			return 0;
		*seq += 1;
		struct thread_trace n = {
			.trace_id = ((__u64)bpf_get_smp_processor_id() << 56) | (*seq & ((1ULL << 56) - 1)),
			.last_direction = TAPFLOW_TRACE_INGRESS,
		};
		bpf_map_update_elem(&thread_traces, &pid_tgid, &n, BPF_ANY);
		return n.trace_id;
	}
	if (!t)
		return 0;
	t->last_direction = TAPFLOW_TRACE_EGRESS;
	return t->trace_id;
}

/* Copies up to `len` bytes of user memory at `src` into the event's payload. */
static __always_inline void copy_payload(struct tapflow_trace_event *e, __u64 src, __u64 len,
					 __u32 cap)
{
	if (len > cap)
		len = cap;
	if (len > TAPFLOW_TRACE_DATA_MAX)
		len = TAPFLOW_TRACE_DATA_MAX;
	if (len == 0 || bpf_probe_read_user(e->data, len, (const void *)src)) {
		e->cap_len = 0;
		return;
	}
	e->cap_len = len;
}

/* Most iovecs of a vectored call copied (the rest counts as uncaptured). */
#define MAX_IOVECS 4

/* The iovec array of a vectored call: (array, count); -1 for a plain buffer or an error. */
static __always_inline int iovecs(const struct call_args *a, __u64 *arr, __u64 *n)
{
	struct user_msghdr_abi msg = {};
	switch (a->how) {
	case BUF_IOVEC:
		*arr = a->buf;
		*n = a->count;
		return 0;
	case BUF_MSGHDR:
	case BUF_MMSGHDR:
		if (bpf_probe_read_user(&msg, sizeof(msg), (void *)a->buf))
			return -1;
		*arr = (__u64)msg.msg_iov;
		*n = msg.msg_iovlen;
		return 0;
	default:
		return -1;
	}
}

/* Copies the call's bytes (up to `moved` and the cap) from its first MAX_IOVECS iovecs, one
 * after the other, into the payload. The offset stays below DATA_MAX and each piece at most
 * DATA_MAX, inside the scratch event's doubled data area (the verifier's bound). */
static __always_inline void copy_iovecs(struct tapflow_trace_event *e, __u64 arr, __u64 n,
					__u64 moved, __u32 cap)
{
	__u32 off = 0;
	if (cap > TAPFLOW_TRACE_DATA_MAX)
		cap = TAPFLOW_TRACE_DATA_MAX;
#pragma unroll
	for (int i = 0; i < MAX_IOVECS; i++) {
		struct iovec iov = {};
		if (i >= n || off >= cap || moved == 0)
			break;
		if (bpf_probe_read_user(&iov, sizeof(iov), (void *)(arr + i * sizeof(iov))))
			break;
		__u64 want = iov.iov_len;
		if (want > moved)
			want = moved;
		if (want > cap - off)
			want = cap - off;
		if (want > TAPFLOW_TRACE_DATA_MAX)
			want = TAPFLOW_TRACE_DATA_MAX;
		if (want == 0)
			continue;
		__u32 at = off & (TAPFLOW_TRACE_DATA_MAX - 1);
		if (bpf_probe_read_user(&e->data[at], want, iov.iov_base))
			break;
		off = at + want;
		moved -= want;
	}
	e->cap_len = off;
}

/* A data event for `moved` bytes of socket `sk` (NULL: unresolved in BPF) behind `fd`, with
 * the header filled; NULL when nothing is to be sent. */
static __always_inline struct tapflow_trace_event *data_event(__u64 id, int fd, struct sock *sk,
							      __u8 source, __u8 direction,
							      __u64 moved)
{
	struct tapflow_trace_event *e = new_event(id, fd, TAPFLOW_TRACE_EV_DATA);
	if (!e)
		return NULL;
	if (sk)
		fill_tuple(e, sk);
	else
		count(TAPFLOW_TRACE_CNT_UNRESOLVED);
	e->source = source;
	e->direction = direction;
	e->syscall_len = moved;
	e->trace_id = trace_id(id, direction);
	return e;
}

/* Sends a data event and counts it in `slot`. */
static __always_inline void send_data(struct tapflow_trace_event *e, __u32 slot)
{
	if (e->cap_len < e->syscall_len)
		count(TAPFLOW_TRACE_CNT_TRUNCATED);
	if (submit(e) == 0)
		count(slot);
}

static __always_inline int on_enter_addr(int fd, __u64 buf, __u64 count_, __u64 addr, __u8 how,
					 __u8 direction)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (!traced(id))
		return 0;
	struct call_args a = {
		.buf = buf, .count = count_, .addr = addr, .fd = fd, .how = how, .direction = direction};
	if (bpf_map_update_elem(&pending_calls, &id, &a, BPF_ANY))
		count(TAPFLOW_TRACE_CNT_ARGS_FULL);
	return 0;
}

static __always_inline int on_enter(int fd, __u64 buf, __u64 count_, __u8 how, __u8 direction)
{
	return on_enter_addr(fd, buf, count_, 0, how, direction);
}

/* The peer of an unconnected UDP socket's call from the address the call named (sendto's,
 * recvfrom's, a message header's msg_name) at `addr`, when it is one of the socket's family. */
static __always_inline void sockaddr_peer(struct tapflow_trace_event *e, __u64 addr)
{
	struct user_sockaddr_abi sa = {};
	if (!addr || bpf_probe_read_user(&sa, sizeof(sa), (void *)addr) || sa.family != e->family)
		return;
	e->rport = bpf_ntohs(sa.port);
	if (sa.family == AF_INET)
		__builtin_memcpy(e->raddr, &sa.v4_or_flowinfo, 4);
	else
		__builtin_memcpy(e->raddr, sa.v6, 16);
}

#include "trace_pktinfo.bpf.h"

static __always_inline void call_peer(struct tapflow_trace_event *e, const struct call_args *a)
{
	__u64 addr = a->addr;
	if (a->how == BUF_MSGHDR) {
		struct user_msghdr_abi msg = {};
		if (bpf_probe_read_user(&msg, sizeof(msg), (void *)a->buf))
			return;
		addr = (__u64)msg.msg_name;
		pktinfo_local(e, (__u64)msg.msg_control, msg.msg_controllen);
	}
	sockaddr_peer(e, addr);
}

#include "trace_mmsg.bpf.h"

/* A data call's exit; `mmsg_loop`: a sendmmsg / recvmmsg exit that may use bpf_loop (a
 * constant: the other programs carry no bpf_loop call). */
static __always_inline int on_exit_mmsg(long ret, int mmsg_loop)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct call_args *ap = bpf_map_lookup_elem(&pending_calls, &id);
	if (!ap)
		return 0;
	struct call_args a = *ap;
	bpf_map_delete_elem(&pending_calls, &id);
	if (ret <= 0)
		return 0;
	struct ssl_call *ssl = bpf_map_lookup_elem(&ssl_calls, &id);
	int unresolved;
	struct sock *sk = fd_sock(a.fd, &unresolved);
	if (ssl) {
		/* Ciphertext inside an OpenSSL call: remember the socket, emit nothing. */
		ssl->fd = a.fd;
		bpf_map_update_elem(&ssl_fds, &ssl->ssl, &a.fd, BPF_ANY);
		if (sk) {
			__u64 key = (__u64)sk;
			__u8 one = 1;
			bpf_map_update_elem(&tls_socks, &key, &one, BPF_ANY);
		}
		return 0;
	}
	if (!sk && !unresolved)
		return 0;
	if (sk) {
		__u64 key = (__u64)sk;
		if (bpf_map_lookup_elem(&tls_socks, &key))
			return 0;
	}
	struct tapflow_trace_config *cfg = config();
	if (!cfg)
		return 0;
	if (a.how == BUF_MMSGHDR) {
		/* ret counts messages. */
		if (mmsg_loop)
			mmsg_events_loop(id, &a, sk, ret, cfg->payload_cap);
		else
			mmsg_events(id, &a, sk, ret, cfg->payload_cap);
		return 0;
	}
	struct tapflow_trace_event *e =
		data_event(id, a.fd, sk, TAPFLOW_TRACE_SRC_SYSCALL, a.direction, ret);
	if (!e)
		return 0;
	if (e->proto == IPPROTO_UDP && e->rport == 0)
		call_peer(e, &a);
	__u64 arr = 0, n = 0;
	if (a.how == BUF_PLAIN)
		copy_payload(e, a.buf, e->syscall_len, cfg->payload_cap);
	else if (iovecs(&a, &arr, &n) == 0)
		copy_iovecs(e, arr, n, e->syscall_len, cfg->payload_cap);
	else
		e->cap_len = 0;
	send_data(e, TAPFLOW_TRACE_CNT_DATA);
	return 0;
}

static __always_inline int on_exit(long ret)
{
	return on_exit_mmsg(ret, 0);
}

struct sys_enter_ctx {
	__u64 common;
	__s32 nr;
	__u32 pad;
	__u64 args[6];
};

struct sys_exit_ctx {
	__u64 common;
	__s32 nr;
	__u32 pad;
	__s64 ret;
};

#define IN TAPFLOW_TRACE_INGRESS
#define OUT TAPFLOW_TRACE_EGRESS

#define DATA_SYSCALL(name, how, dir)                                                   \
	SEC("tracepoint/syscalls/sys_enter_" #name)                                    \
	int enter_##name(struct sys_enter_ctx *ctx)                                    \
	{                                                                              \
		return on_enter((int)ctx->args[0], ctx->args[1], ctx->args[2], how, dir); \
	}                                                                              \
	SEC("tracepoint/syscalls/sys_exit_" #name)                                     \
	int exit_##name(struct sys_exit_ctx *ctx)                                      \
	{                                                                              \
		return on_exit(ctx->ret);                                              \
	}

DATA_SYSCALL(read, BUF_PLAIN, IN)
DATA_SYSCALL(write, BUF_PLAIN, OUT)
DATA_SYSCALL(readv, BUF_IOVEC, IN)
DATA_SYSCALL(writev, BUF_IOVEC, OUT)

/* sendto(fd, buf, len, flags, dest_addr, addrlen), recvfrom(fd, buf, len, flags, src_addr,
 * addrlen): the address names an unconnected UDP socket's peer. */
#define ADDR_SYSCALL(name, dir)                                                        \
	SEC("tracepoint/syscalls/sys_enter_" #name)                                    \
	int enter_##name(struct sys_enter_ctx *ctx)                                    \
	{                                                                              \
		return on_enter_addr((int)ctx->args[0], ctx->args[1], ctx->args[2],    \
				     ctx->args[4], BUF_PLAIN, dir);                    \
	}                                                                              \
	SEC("tracepoint/syscalls/sys_exit_" #name)                                     \
	int exit_##name(struct sys_exit_ctx *ctx)                                      \
	{                                                                              \
		return on_exit(ctx->ret);                                              \
	}

ADDR_SYSCALL(recvfrom, IN)
ADDR_SYSCALL(sendto, OUT)
DATA_SYSCALL(recvmsg, BUF_MSGHDR, IN)
DATA_SYSCALL(sendmsg, BUF_MSGHDR, OUT)
DATA_SYSCALL(recvmmsg, BUF_MMSGHDR, IN)
DATA_SYSCALL(sendmmsg, BUF_MMSGHDR, OUT)

/* The mmsg exits with bpf_loop; the loader attaches these instead of exit_recvmmsg and
 * exit_sendmmsg (and does not load them) where the kernel has bpf_loop. */
#define MMSG_LOOP_EXIT(name)                                                           \
	SEC("tracepoint/syscalls/sys_exit_" #name)                                     \
	int exit_##name##_loop(struct sys_exit_ctx *ctx)                               \
	{                                                                              \
		return on_exit_mmsg(ctx->ret, 1);                                   \
	}

MMSG_LOOP_EXIT(recvmmsg)
MMSG_LOOP_EXIT(sendmmsg)

/* Socket lifecycle. */
static __always_inline int lifecycle(__u64 id, int fd, __u8 kind)
{
	int unresolved;
	struct sock *sk = fd_sock(fd, &unresolved);
	if (!sk)
		return 0;
	struct tapflow_trace_event *e = new_event(id, fd, kind);
	if (!e)
		return 0;
	fill_tuple(e, sk);
	if (kind == TAPFLOW_TRACE_EV_CLOSE) {
		__u64 key = (__u64)sk;
		bpf_map_delete_elem(&tls_socks, &key);
	}
	if (submit(e) == 0)
		count(TAPFLOW_TRACE_CNT_LIFECYCLE);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_connect")
int enter_connect(struct sys_enter_ctx *ctx)
{
	return on_enter((int)ctx->args[0], 0, 0, 0, OUT);
}

SEC("tracepoint/syscalls/sys_exit_connect")
int exit_connect(struct sys_exit_ctx *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct call_args *a = bpf_map_lookup_elem(&pending_calls, &id);
	if (!a)
		return 0;
	int fd = a->fd;
	bpf_map_delete_elem(&pending_calls, &id);
	if (ctx->ret == 0 || ctx->ret == -EINPROGRESS)
		lifecycle(id, fd, TAPFLOW_TRACE_EV_CONNECT);
	return 0;
}

static __always_inline int accept_exit(struct sys_exit_ctx *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (!traced(id) || ctx->ret < 0)
		return 0;
	return lifecycle(id, (int)ctx->ret, TAPFLOW_TRACE_EV_ACCEPT);
}

SEC("tracepoint/syscalls/sys_exit_accept")
int exit_accept(struct sys_exit_ctx *ctx)
{
	return accept_exit(ctx);
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int exit_accept4(struct sys_exit_ctx *ctx)
{
	return accept_exit(ctx);
}

SEC("tracepoint/syscalls/sys_enter_close")
int enter_close(struct sys_enter_ctx *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (!traced(id))
		return 0;
	return lifecycle(id, (int)ctx->args[0], TAPFLOW_TRACE_EV_CLOSE);
}

/* OpenSSL: SSL_write(ssl, buf, num), SSL_read(ssl, buf, num) return the bytes moved;
 * SSL_write_ex(ssl, buf, num, size_t *written), SSL_read_ex(ssl, buf, num, size_t *readbytes)
 * return 1 and store the count. */
static __always_inline int ssl_enter(void *ssl, const void *buf, void *ex_len, __u8 direction)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (!traced(id))
		return 0;
	struct ssl_call c = {
		.ssl = (__u64)ssl,
		.buf = (__u64)buf,
		.ex_len = (__u64)ex_len,
		.fd = -1,
		.direction = direction,
	};
	if (bpf_map_update_elem(&ssl_calls, &id, &c, BPF_ANY))
		count(TAPFLOW_TRACE_CNT_ARGS_FULL);
	return 0;
}

static __always_inline int ssl_exit(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct ssl_call *cp = bpf_map_lookup_elem(&ssl_calls, &id);
	if (!cp)
		return 0;
	struct ssl_call c = *cp;
	bpf_map_delete_elem(&ssl_calls, &id);
	__u64 moved = 0;
	if (c.ex_len) {
		if (ret != 1 || bpf_probe_read_user(&moved, sizeof(moved), (void *)c.ex_len))
			return 0;
	} else {
		if (ret <= 0)
			return 0;
		moved = ret;
	}
	int fd = c.fd;
	if (fd < 0) {
		__s32 *known = bpf_map_lookup_elem(&ssl_fds, &c.ssl);
		if (!known) {
			count(TAPFLOW_TRACE_CNT_SSL_NO_FD);
			return 0;
		}
		fd = *known;
	}
	int unresolved;
	struct sock *sk = fd_sock(fd, &unresolved);
	if (!sk && !unresolved)
		return 0;
	struct tapflow_trace_config *cfg = config();
	if (!cfg)
		return 0;
	struct tapflow_trace_event *e =
		data_event(id, fd, sk, TAPFLOW_TRACE_SRC_OPENSSL, c.direction, moved);
	if (!e)
		return 0;
	copy_payload(e, c.buf, moved, cfg->payload_cap);
	send_data(e, TAPFLOW_TRACE_CNT_SSL);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(ssl_write_enter, void *ssl, const void *buf)
{
	return ssl_enter(ssl, buf, NULL, OUT);
}

SEC("uprobe")
int BPF_KPROBE(ssl_read_enter, void *ssl, void *buf)
{
	return ssl_enter(ssl, buf, NULL, IN);
}

SEC("uprobe")
int BPF_KPROBE(ssl_write_ex_enter, void *ssl, const void *buf, __u64 num, void *written)
{
	return ssl_enter(ssl, buf, written, OUT);
}

SEC("uprobe")
int BPF_KPROBE(ssl_read_ex_enter, void *ssl, void *buf, __u64 num, void *readbytes)
{
	return ssl_enter(ssl, buf, readbytes, IN);
}

SEC("uretprobe")
int BPF_KRETPROBE(ssl_return, long ret)
{
	return ssl_exit(ret);
}

#include "trace_go_tls.bpf.h"
