// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* tapflow's XDP program: count every frame, apply the early filter user space set up (by
 * EtherType: pass to the kernel stack, e.g. the host's own management traffic, or drop, e.g.
 * LLDP noise on a SPAN port), and redirect everything else to the AF_XDP socket bound to the
 * frame's rx queue. Built and loaded by the live-capture engine. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "tapflow_xdp.h"

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, TAPFLOW_MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} xsks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TAPFLOW_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* EtherType (host byte order) -> TAPFLOW_FILTER_PASS or TAPFLOW_FILTER_DROP. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TAPFLOW_MAX_FILTERS);
	__type(key, __u16);
	__type(value, __u8);
} pass_ethertypes SEC(".maps");

static __always_inline void count(__u32 slot)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &slot);
	if (v)
		*v += 1;
}

SEC("xdp")
int tapflow_mirror(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	count(TAPFLOW_CNT_SEEN);
	if ((void *)(eth + 1) <= data_end) {
		__u16 proto = bpf_ntohs(eth->h_proto);
		__u8 *action = bpf_map_lookup_elem(&pass_ethertypes, &proto);
		if (action) {
			count(TAPFLOW_CNT_FILTERED);
			return *action == TAPFLOW_FILTER_DROP ? XDP_DROP : XDP_PASS;
		}
	}
	if (bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS) == XDP_REDIRECT) {
		count(TAPFLOW_CNT_REDIRECTED);
		return XDP_REDIRECT;
	}
	count(TAPFLOW_CNT_REDIRECT_FAILED);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
