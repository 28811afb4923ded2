/* Go's crypto/tls: uprobes on a Go executable's (*Conn).Write and (*Conn).Read (Go 1.17 or
 * later: arguments in registers). The entry probes read the calls' arguments; Read's bytes are
 * taken at its call of runtime.memmove (or else on each of its RET instructions); user space
 * finds these sites in the machine code. No uretprobe: it rewrites a return address on the
 * stack, and Go moves goroutine stacks. Included by syscalls.bpf.c.
 *
 * Go's internal ABI on amd64: the receiver and arguments in RAX, RBX, RCX, ...; results in
 * RAX, RBX, ...; the running goroutine (its g) in R14 throughout. Between a Read's entry and
 * return the goroutine may move to another thread (a Read that waits), so calls are keyed by
 * the process and the g, not by the thread. Writes are emitted on entry.
 *
 * The socket: a tls.Conn's first field is its net.Conn (an interface: itab, data). When the
 * itab is *net.TCPConn's or *net.UnixConn's (its first method is their Close, whose address
 * comes from the executable, in the go_exes slot the probe's cookie names), data points to a
 * net.conn whose first field is its *netFD, whose poll.FD holds the descriptor after a 16-byte
 * mutex: Sysfd at +16, the same from Go 1.9 on. Another net.Conn that embeds the one it wraps
 * as its first field is looked through, up to GO_WRAP_DEPTH wrappers. */

struct go_key {
	__u32 tgid;
	__u32 pad;
	__u64 g;
};

struct go_tls_call {
	__u64 buf;
	__s32 fd;
	__u8 direction;
	__u8 pad[3];
};

/* Per probed executable, link-time addresses: the first methods of the net.Conn itabs, and
 * the two entry probes' instructions (a probe hit's address against its link-time one is how
 * far a position-independent executable was moved when loaded). */
struct go_exe {
	__u64 tcp_close;  /* net.(*TCPConn).Close: the first method of its net.Conn itab */
	__u64 unix_close; /* net.(*UnixConn).Close */
	__u64 write_entry;
	__u64 read_entry;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TAPFLOW_TRACE_MAX_GO_EXES);
	__type(key, __u32);
	__type(value, struct go_exe);
} go_exes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, TAPFLOW_TRACE_MAX_THREADS);
	__type(key, struct go_key);
	__type(value, struct go_tls_call);
} go_tls_calls SEC(".maps");

#define GO_SYSFD_OFFSET 16

/* How many wrappers the socket is looked for through: a net.Conn whose first field is the
 * net.Conn it wraps (an embedded interface: `struct { net.Conn; ... }`, as
 * golang.org/x/net/netutil's LimitListener and most counting or logging wrappers are). */
#define GO_WRAP_DEPTH 3

/* The descriptor behind the tls.Conn at `conn`, or -1 (`bias`: the executable's load bias). */
static __always_inline int go_conn_fd(__u64 conn, const struct go_exe *exe, __u64 bias)
{
	__u64 iface[2] = {};
	__u64 netfd = 0;
	__s64 fd = -1;
	if (bpf_probe_read_user(iface, sizeof(iface), (void *)conn))
		return -1;
	for (int depth = 0; depth <= GO_WRAP_DEPTH; depth++) {
		__u64 first_method = 0;
		if (!iface[0] || !iface[1])
			return -1;
		/* An itab: interface type, concrete type, hash and padding, then its methods. */
		if (bpf_probe_read_user(&first_method, sizeof(first_method),
					(void *)(iface[0] + 24)))
			return -1;
		if ((exe->tcp_close && first_method == exe->tcp_close + bias) ||
		    (exe->unix_close && first_method == exe->unix_close + bias)) {
			if (bpf_probe_read_user(&netfd, sizeof(netfd), (void *)iface[1]) || !netfd)
				return -1;
			if (bpf_probe_read_user(&fd, sizeof(fd), (void *)(netfd + GO_SYSFD_OFFSET)))
				return -1;
			return fd >= 0 && fd < 0x7fffffff ? (int)fd : -1;
		}
		/* Another net.Conn: the one it wraps, if that is its first field. A wrapper laid out
		 * otherwise reads as a pair that is no itab of the two (never equal by chance: the
		 * method's address is compared whole). */
		if (bpf_probe_read_user(iface, sizeof(iface), (void *)iface[1]))
			return -1;
	}
	return -1;
}

/* A probe's cookie: the executable's slot in go_exes, and this flag when the probe is on the
 * stack check's jbe instead of the function's first instruction (the kernel emulates a jump,
 * where it single-steps a cmp: on a VM, a tenth of the cost). */
#define GO_COOKIE_ON_JBE (1ULL << 32)
#define X86_CF 0x1
#define X86_ZF 0x40

/* An entry probe on the stack check's jbe whose branch is taken: the function grows its stack
 * and starts again, and the probe will see it then. */
static __always_inline int go_stack_growing(struct pt_regs *ctx)
{
	return (bpf_get_attach_cookie(ctx) & GO_COOKIE_ON_JBE) && (ctx->eflags & (X86_CF | X86_ZF));
}

/* The socket behind the tls.Conn a probe's call is on, marked as TLS (its ciphertext, in the
 * nested syscalls, is not emitted from now on): its fd, or -1 (counted); its kernel socket in
 * *sk (NULL with *unresolved set when the fd table could not be read). */
static __always_inline int go_tls_fd(struct pt_regs *ctx, int is_read, struct sock **sk,
				     int *unresolved)
{
	__u32 slot = (__u32)bpf_get_attach_cookie(ctx);
	struct go_exe *exe = bpf_map_lookup_elem(&go_exes, &slot);
	if (!exe)
		return -1;
	/* The probe hit at the probed instruction's address. */
	__u64 bias = ctx->rip - (is_read ? exe->read_entry : exe->write_entry);
	int fd = go_conn_fd(ctx->rax, exe, bias);
	if (fd < 0) {
		count(TAPFLOW_TRACE_CNT_GO_TLS_NO_FD);
		return -1;
	}
	*sk = fd_sock(fd, unresolved);
	if (*sk) {
		__u64 key = (__u64)*sk;
		__u8 one = 1;
		bpf_map_update_elem(&tls_socks, &key, &one, BPF_ANY);
	}
	return fd;
}

/* Emits `moved` plaintext bytes at `buf` of a call on `fd` (socket `sk`, resolved or not). */
static __always_inline void go_tls_emit_on(__u64 id, int fd, struct sock *sk, int unresolved,
					   __u64 buf, long moved, __u8 direction)
{
	if (moved <= 0 || (!sk && !unresolved))
		return;
	struct tapflow_trace_config *cfg = config();
	if (!cfg)
		return;
	struct tapflow_trace_event *e =
		data_event(id, fd, sk, TAPFLOW_TRACE_SRC_GO_TLS, direction, moved);
	if (!e)
		return;
	copy_payload(e, buf, moved, cfg->payload_cap);
	send_data(e, TAPFLOW_TRACE_CNT_GO_TLS);
}

/* The same for a Read's bytes, its socket looked up again (another probe). */
static __always_inline void go_tls_emit(__u64 id, int fd, __u64 buf, long moved, __u8 direction)
{
	int unresolved;
	struct sock *sk = fd_sock(fd, &unresolved);
	go_tls_emit_on(id, fd, sk, unresolved, buf, moved, direction);
}

/* func (c *Conn) Write(b []byte) (int, error): c in RAX, b in RBX (data), RCX (len), RDI (cap).
 * The bytes are all there on entry, and emitted then: what a process writes comes before
 * anything it causes (the peer's answer, read by another goroutine, may return before this
 * call does). A write that fails part-way is logged whole. */
SEC("uprobe")
int go_tls_write_enter(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (!traced(id) || go_stack_growing(ctx))
		return 0;
	struct sock *sk;
	int unresolved;
	int fd = go_tls_fd(ctx, 0, &sk, &unresolved);
	if (fd >= 0)
		go_tls_emit_on(id, fd, sk, unresolved, ctx->rbx, (long)ctx->rcx, OUT);
	return 0;
}

/* func (c *Conn) Read(b []byte) (int, error): the socket is known on entry, the bytes where
 * Read copies them into b (or on return). */
SEC("uprobe")
int go_tls_read_enter(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (!traced(id) || go_stack_growing(ctx))
		return 0;
	struct sock *sk;
	int unresolved;
	int fd = go_tls_fd(ctx, 1, &sk, &unresolved);
	if (fd < 0)
		return 0;
	struct go_key k = {.tgid = id >> 32, .g = ctx->r14};
	struct go_tls_call c = {.buf = ctx->rbx, .fd = fd, .direction = IN};
	if (bpf_map_update_elem(&go_tls_calls, &k, &c, BPF_ANY))
		count(TAPFLOW_TRACE_CNT_ARGS_FULL);
	return 0;
}

/* Takes this goroutine's pending Read out of the table: 1 with it in *c, 0 when none. */
static __always_inline int go_tls_take(__u64 id, struct pt_regs *ctx, struct go_tls_call *c)
{
	struct go_key k = {.tgid = id >> 32, .g = ctx->r14};
	struct go_tls_call *cp = bpf_map_lookup_elem(&go_tls_calls, &k);
	if (!cp)
		return 0;
	*c = *cp;
	bpf_map_delete_elem(&go_tls_calls, &k);
	return 1;
}

/* Read's one call of runtime.memmove(to RAX, from RBX, n RCX): the plaintext it hands the
 * caller, decrypted already, at the source. A call is emulated by the kernel (no single
 * step), so this costs a tenth of a probe on a RET. */
SEC("uprobe")
int go_tls_read_copy(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct go_tls_call c;
	if (go_tls_take(id, ctx, &c))
		go_tls_emit(id, c.fd, ctx->rbx, (long)ctx->rcx, c.direction);
	return 0;
}

/* On each RET of Read, where its copy call was not found: the bytes read in RAX (an error, in
 * RBX and RCX, may come with some). */
SEC("uprobe")
int go_tls_return(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct go_tls_call c;
	if (go_tls_take(id, ctx, &c))
		go_tls_emit(id, c.fd, c.buf, (long)ctx->rax, c.direction);
	return 0;
}
