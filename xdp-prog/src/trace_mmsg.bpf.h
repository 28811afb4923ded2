/* sendmmsg / recvmmsg for the syscall tracer (included by syscalls.bpf.c after the helpers it
 * uses: data_event, sockaddr_peer, pktinfo_local, copy_iovecs, send_data, count_n). */
#ifndef TAPFLOW_TRACE_MMSG_H
#define TAPFLOW_TRACE_MMSG_H

/* The messages of a sendmmsg / recvmmsg call, each an event of its own (a resolver sends its A
 * and AAAA queries in one call, a DNS server reads its queries in batches). With the kernel's
 * bpf_loop (5.17) every message of a call is emitted: MMSG_LOOP_MAX is sendmmsg's own bound
 * (UIO_MAXIOV); before it, the first MAX_MMSG, unrolled. The rest are counted. */
#define MAX_MMSG 8
#define MMSG_LOOP_MAX 1024

/* Emits message `m` of a call's mmsghdr array at `buf`; 0 when nothing more can be sent. */
static __always_inline int mmsg_event(__u64 id, int fd, struct sock *sk, __u8 direction,
				       __u64 buf, __u32 m, __u32 cap)
{
	struct user_mmsghdr_abi mh = {};
	if (bpf_probe_read_user(&mh, sizeof(mh), (void *)(buf + (__u64)m * sizeof(mh))))
		return 0;
	struct tapflow_trace_event *e =
		data_event(id, fd, sk, TAPFLOW_TRACE_SRC_SYSCALL, direction, mh.msg_len);
	if (!e)
		return 0;
	if (e->proto == IPPROTO_UDP && e->rport == 0) {
		sockaddr_peer(e, (__u64)mh.msg_hdr.msg_name);
		pktinfo_local(e, (__u64)mh.msg_hdr.msg_control, mh.msg_hdr.msg_controllen);
	}
	copy_iovecs(e, (__u64)mh.msg_hdr.msg_iov, mh.msg_hdr.msg_iovlen, mh.msg_len, cap);
	send_data(e, TAPFLOW_TRACE_CNT_DATA);
	return 1;
}

/* The first MAX_MMSG messages of a call that moved `ret` of them (kernels without bpf_loop). */
static __always_inline void mmsg_events(__u64 id, const struct call_args *a, struct sock *sk,
					long ret, __u32 cap)
{
#pragma unroll
	for (int m = 0; m < MAX_MMSG; m++) {
		if (m >= ret)
			break;
		if (!mmsg_event(id, a->fd, sk, a->direction, a->buf, m, cap))
			break;
	}
	if (ret > MAX_MMSG)
		count_n(TAPFLOW_TRACE_CNT_MMSG_UNSENT, ret - MAX_MMSG);
}

/* What bpf_loop's callback needs of the call. */
struct mmsg_loop_ctx {
	__u64 id;
	__u64 buf;
	struct sock *sk;
	__u32 cap;
	int fd;
	__u8 direction;
};

static long mmsg_loop_one(__u32 m, void *data)
{
	struct mmsg_loop_ctx *c = data;
	return mmsg_event(c->id, c->fd, c->sk, c->direction, c->buf, m, c->cap) ? 0 : 1;
}

/* Every message of a call that moved `ret` of them, up to MMSG_LOOP_MAX (bpf_loop). */
static __always_inline void mmsg_events_loop(__u64 id, const struct call_args *a,
					     struct sock *sk, long ret, __u32 cap)
{
	struct mmsg_loop_ctx c = {
		.id = id, .buf = a->buf, .sk = sk, .cap = cap, .fd = a->fd, .direction = a->direction};
	__u32 n = ret > MMSG_LOOP_MAX ? MMSG_LOOP_MAX : (__u32)ret;
	bpf_loop(n, mmsg_loop_one, &c, 0);
	if (ret > MMSG_LOOP_MAX)
		count_n(TAPFLOW_TRACE_CNT_MMSG_UNSENT, ret - MMSG_LOOP_MAX);
}

#endif
