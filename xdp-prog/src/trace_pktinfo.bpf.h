/* IP_PKTINFO / IPV6_PKTINFO for the syscall tracer (included by syscalls.bpf.c; uses the event
 * and the user-space ABI structs of tapflow_trace_types.h, and count). */
#ifndef TAPFLOW_TRACE_PKTINFO_H
#define TAPFLOW_TRACE_PKTINFO_H

/* Control messages of one message looked at for IP_PKTINFO / IPV6_PKTINFO. */
#define MAX_CMSGS 4
#define SOL_IP 0
#define SOL_IPV6 41
#define IP_PKTINFO 8
#define IPV6_PKTINFO 50

static __always_inline int laddr_unspecified(const struct tapflow_trace_event *e)
{
	__u64 hi, lo;
	__builtin_memcpy(&hi, e->laddr, 8);
	__builtin_memcpy(&lo, e->laddr + 8, 8);
	return e->family == AF_INET ? (__u32)hi == 0 : (hi | lo) == 0;
}

/* The local address of one datagram of a UDP socket bound to no address, from the message's
 * IP_PKTINFO / IPV6_PKTINFO control message: recvmsg's (with IP_PKTINFO / IPV6_RECVPKTINFO
 * on: the address the datagram was sent to) or sendmsg's (the source the process chose, as a
 * multi-homed DNS server answers from the address it was asked on). Without one the address
 * stays unspecified and user space asks the route (the source Linux picks itself). */
static __always_inline void pktinfo_local(struct tapflow_trace_event *e, __u64 control,
					  __u64 controllen)
{
	if (!control || e->proto != IPPROTO_UDP || !laddr_unspecified(e))
		return;
	__u64 off = 0;
#pragma unroll
	for (int i = 0; i < MAX_CMSGS; i++) {
		struct user_cmsghdr_abi c = {};
		if (off + sizeof(c) > controllen ||
		    bpf_probe_read_user(&c, sizeof(c), (void *)(control + off)) ||
		    c.cmsg_len < sizeof(c) || c.cmsg_len > controllen - off)
			return;
		void *data = (void *)(control + off + sizeof(c));
		if (c.cmsg_level == SOL_IP && c.cmsg_type == IP_PKTINFO &&
		    c.cmsg_len >= sizeof(c) + sizeof(struct user_in_pktinfo_abi)) {
			struct user_in_pktinfo_abi pi = {};
			if (bpf_probe_read_user(&pi, sizeof(pi), data))
				return;
			__u32 a = e->direction == TAPFLOW_TRACE_INGRESS ? pi.addr : pi.spec_dst;
			if (!a)
				return;
			count(TAPFLOW_TRACE_CNT_PKTINFO);
			if (e->family == AF_INET) {
				__builtin_memcpy(e->laddr, &a, 4);
			} else {
				/* A dual-stack socket's IPv4 datagram: IPv4-mapped. */
				__builtin_memset(e->laddr, 0, 10);
				e->laddr[10] = 0xff;
				e->laddr[11] = 0xff;
				__builtin_memcpy(e->laddr + 12, &a, 4);
			}
			return;
		}
		if (c.cmsg_level == SOL_IPV6 && c.cmsg_type == IPV6_PKTINFO &&
		    e->family == AF_INET6 && c.cmsg_len >= sizeof(c) + 20) {
			__u64 a6[2] = {};
			if (bpf_probe_read_user(a6, sizeof(a6), data))
				return;
			if (a6[0] | a6[1]) {
				count(TAPFLOW_TRACE_CNT_PKTINFO);
				__builtin_memcpy(e->laddr, a6, 16);
			}
			return;
		}
		off += (c.cmsg_len + 7) & ~7ULL;
	}
}

#endif
