// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* tapflow's AF_PACKET fanout steering program (PACKET_FANOUT_EBPF, DeepFlow's
 * packet_fanout_mode 7): which socket of the group a frame goes to, by a hash of its innermost
 * flow that is the same for both directions. The kernel's own hash mode (0) hashes the outer
 * headers: a mirror session's ERSPAN (one switch to one collector) or a VXLAN overlay between
 * two hosts lands on one socket whatever the flows inside. This program peels the tunnels the
 * analyzer peels (as configured: VXLAN on its ports, GENEVE, GRE, TEB, ERSPAN I/II/III,
 * IP-in-IP, up to the analyzer's layer count; VLAN tags and MPLS labels) and hashes the inner addresses and ports, so each
 * analyzer flow stays whole on one worker and the flows spread over all of them.
 *
 * Runs on every frame before it is queued: bounded parsing with bpf_skb_load_bytes_relative
 * from the MAC header; what it cannot read goes to socket 0. */
#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "tapflow_fanout.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tapflow_fanout_config);
} fanout_config SEC(".maps");

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_TEB 0x6558
#define ETH_P_MPLS_UC 0x8847
#define ETH_P_MPLS_MC 0x8848
#define ETH_P_ERSPAN_I_II 0x88BE
#define ETH_P_ERSPAN_III 0x22EB
#define IPPROTO_IPIP 4
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define IPPROTO_IPV6 41
#define IPPROTO_GRE 47

/* Most MPLS labels (the analyzer's bound). */
#define MAX_MPLS_LABELS 8
/* Most IPv6 extension headers walked before the transport header (the analyzer's bound). */
#define MAX_V6_EXT 8

static __always_inline int load(struct __sk_buff *skb, __u32 off, void *to, __u32 len)
{
	return bpf_skb_load_bytes_relative(skb, off, to, len, BPF_HDR_START_MAC);
}

static __always_inline __u32 mix(__u32 x)
{
	x ^= x >> 16;
	x *= 0x7feb352d;
	x ^= x >> 15;
	x *= 0x846ca68b;
	x ^= x >> 16;
	return x;
}

/* One address's part of the hash (the two addresses' parts are added: either order). */
static __always_inline __u32 addr_part(const __u32 *w, int words)
{
	__u32 h = w[0];
	if (words == 4)
		h ^= mix(w[1]) ^ mix(w[2] + 0x9e3779b9) ^ mix(w[3] + 0x3c6ef372);
	return mix(h);
}

static __always_inline int decaps(const struct tapflow_fanout_config *c, __u32 kind)
{
	return (c->decap >> kind) & 1;
}

/* Where an IP layer's transport starts and what it is. */
struct ip_layer {
	__u32 l4off;
	__u32 addrs;
	__u8 proto;
	/* Not the first fragment: no transport header (and no tunnel) here. */
	__u8 later_fragment;
	/* The transport header's first 4 bytes (ports; GRE's flags and type) were read with the
	 * IP header. */
	__u8 have_l4;
	__u8 l4[4];
};

/* An IPv4 header (20 bytes at h) at `off`. */
static __always_inline int ipv4_fields(const __u8 *h, __u32 off, struct ip_layer *l)
{
	if ((h[0] >> 4) != 4 || (h[0] & 0x0F) < 5)
		return -1;
	__u32 s, d;
	__builtin_memcpy(&s, &h[12], 4);
	__builtin_memcpy(&d, &h[16], 4);
	l->addrs = addr_part(&s, 1) + addr_part(&d, 1);
	l->proto = h[9];
	l->later_fragment = (((__u32)h[6] & 0x1F) << 8 | h[7]) != 0;
	l->l4off = off + (h[0] & 0x0F) * 4;
	return 0;
}

static __always_inline int ipv4(struct __sk_buff *skb, __u32 off, struct ip_layer *l)
{
	__u8 h[20];
	if (load(skb, off, h, sizeof(h)))
		return -1;
	return ipv4_fields(h, off, l);
}

/* The transport header's first 4 bytes: read with the IP header, or now. */
static __always_inline int l4_head(struct __sk_buff *skb, const struct ip_layer *l, __u8 *to)
{
	if (l->have_l4) {
		__builtin_memcpy(to, l->l4, 4);
		return 0;
	}
	return load(skb, l->l4off, to, 4);
}

static __always_inline int ipv6(struct __sk_buff *skb, __u32 off, struct ip_layer *l)
{
	__u8 h[40];
	if (load(skb, off, h, sizeof(h)))
		return -1;
	if ((h[0] >> 4) != 6)
		return -1;
	__u32 s[4], d[4];
	__builtin_memcpy(s, &h[8], 16);
	__builtin_memcpy(d, &h[24], 16);
	l->addrs = addr_part(s, 4) + addr_part(d, 4);
	l->later_fragment = 0;
	__u8 nh = h[6];
	off += 40;
#pragma unroll
	for (int i = 0; i < MAX_V6_EXT; i++) {
		__u8 e[4];
		/* Hop-by-hop, routing, destination options, mobility, fragment, AH. */
		if (nh != 0 && nh != 43 && nh != 60 && nh != 135 && nh != 44 && nh != 51)
			break;
		if (load(skb, off, e, sizeof(e)))
			return -1;
		if (nh == 44) {
			l->later_fragment = (((__u32)e[2] << 8 | e[3]) & 0xFFF8) != 0;
			off += 8;
		} else if (nh == 51) {
			off += ((__u32)e[1] + 2) * 4;
		} else {
			off += ((__u32)e[1] + 1) * 8;
		}
		nh = e[0];
		/* What follows a later fragment's header is payload, not headers. */
		if (l->later_fragment)
			break;
	}
	l->proto = nh;
	l->l4off = off;
	return 0;
}

SEC("socket")
int tapflow_fanout(struct __sk_buff *skb)
{
	__u32 zero = 0;
	const struct tapflow_fanout_config *c = bpf_map_lookup_elem(&fanout_config, &zero);
	if (!c)
		return 0;
	__u32 off = 0;
	int ethernet = 1;
	__u32 layers = c->max_layers;
	if (layers > TAPFLOW_FANOUT_MAX_LAYERS)
		layers = TAPFLOW_FANOUT_MAX_LAYERS;
#pragma unroll
	for (int layer = 0; layer <= TAPFLOW_FANOUT_MAX_LAYERS; layer++) {
		/* One read for the common layer: Ethernet (no tag), IPv4 without options and the
		 * transport's first 4 bytes (each helper call costs about as much as the rest); the
		 * same bytes give the tags and the EtherType of the others. */
		struct ip_layer ip = {};
		__u8 b[38];
		__u16 type;
		if (ethernet && load(skb, off, b, sizeof(b)) == 0) {
			if (b[12] == 0x08 && b[13] == 0x00 && b[14] == 0x45) {
				if (ipv4_fields(&b[14], off + 14, &ip))
					return 0;
				__builtin_memcpy(ip.l4, &b[34], 4);
				ip.have_l4 = 1;
				off += 14;
				goto parsed;
			}
			type = (__u16)b[12] << 8 | b[13];
			__u32 l3 = 14;
			if (type == 0x8100 || type == 0x88A8 || type == 0x9100) {
				type = (__u16)b[16] << 8 | b[17];
				l3 = 18;
				if (type == 0x8100 || type == 0x88A8 || type == 0x9100) {
					type = (__u16)b[20] << 8 | b[21];
					l3 = 22;
				}
			}
			if (l3 == 18 && type == ETH_P_IP && b[18] == 0x45) {
				/* One tag: the IPv4 header is in the bytes read too. */
				if (ipv4_fields(&b[18], off + 18, &ip))
					return 0;
				off += 18;
				goto parsed;
			}
			off += l3;
		} else if (ethernet) {
			if (load(skb, off + 12, &type, 2))
				return 0;
			type = bpf_ntohs(type);
			off += 14;
#pragma unroll
			for (int v = 0; v < 2; v++) {
				if (type != 0x8100 && type != 0x88A8 && type != 0x9100)
					break;
				if (load(skb, off + 2, &type, 2))
					return 0;
				type = bpf_ntohs(type);
				off += 4;
			}
		} else if (load(skb, off, b, 24) == 0) {
			if (b[0] == 0x45) {
				if (ipv4_fields(b, off, &ip))
					return 0;
				__builtin_memcpy(ip.l4, &b[20], 4);
				ip.have_l4 = 1;
				goto parsed;
			}
			type = (b[0] >> 4) == 6 ? ETH_P_IPV6 : ETH_P_IP;
		} else {
			/* An inner packet shorter than 24 bytes (an IP header and little else). */
			__u8 first;
			if (load(skb, off, &first, 1))
				return 0;
			type = (first >> 4) == 6 ? ETH_P_IPV6 : ETH_P_IP;
		}
		if (type == ETH_P_MPLS_UC || type == ETH_P_MPLS_MC) {
			/* Labels down to the bottom of the stack, then IP by its version (the
			 * analyzer's rule; a pseudowire is not decoded). */
			int bottom = 0;
#pragma unroll
			for (int i = 0; i < MAX_MPLS_LABELS; i++) {
				__u8 label[4];
				if (load(skb, off, label, sizeof(label)))
					return 0;
				off += 4;
				if (label[2] & 0x01) {
					bottom = 1;
					break;
				}
			}
			__u8 first;
			if (!bottom || load(skb, off, &first, 1))
				return 0;
			if ((first >> 4) == 4)
				type = ETH_P_IP;
			else if ((first >> 4) == 6)
				type = ETH_P_IPV6;
			else
				return 0;
		}
		if (type == ETH_P_IP) {
			if (ipv4(skb, off, &ip))
				return 0;
		} else if (type == ETH_P_IPV6) {
			if (ipv6(skb, off, &ip))
				return 0;
		} else {
			return 0;
		}
	parsed:;
		__u32 l4 = ip.l4off;
		if (layer < layers && !ip.later_fragment) {
			if (ip.proto == IPPROTO_UDP) {
				__u8 u[4], t[4];
				if (l4_head(skb, &ip, u) || load(skb, l4 + 8, t, 4))
					goto inner;
				__u16 dport = (__u16)u[2] << 8 | u[3];
				if ((dport == c->vxlan_ports[0] || dport == c->vxlan_ports[1] ||
				     dport == c->vxlan_ports[2]) &&
				    decaps(c, TAPFLOW_FANOUT_VXLAN)) {
					/* Only "VNI present" flags: else plain UDP (DeepFlow's rule). */
					if (t[0] != 0x08)
						goto inner;
					off = l4 + 16;
					ethernet = 1;
					continue;
				}
				if (dport == c->geneve_port && decaps(c, TAPFLOW_FANOUT_GENEVE)) {
					__u16 proto = (__u16)t[2] << 8 | t[3];
					if (t[0] >> 6)
						return 0;
					off = l4 + 16 + (t[0] & 0x3F) * 4;
					if (proto == ETH_P_TEB)
						ethernet = 1;
					else if (proto == ETH_P_IP || proto == ETH_P_IPV6)
						ethernet = 0;
					else
						return 0;
					continue;
				}
			} else if (ip.proto == IPPROTO_GRE &&
				   (decaps(c, TAPFLOW_FANOUT_GRE) || decaps(c, TAPFLOW_FANOUT_TEB) ||
				    decaps(c, TAPFLOW_FANOUT_ERSPAN))) {
				__u8 g[4];
				if (l4_head(skb, &ip, g))
					return 0;
				/* Version 1 (PPTP) and source routing: not decoded by the analyzer. */
				if ((g[1] & 0x07) || (g[0] & 0x40))
					return 0;
				__u16 proto = (__u16)g[2] << 8 | g[3];
				int seq = g[0] & 0x10;
				__u32 at = l4 + 4 + ((g[0] & 0x80) ? 4 : 0) + ((g[0] & 0x20) ? 4 : 0) +
					   (seq ? 4 : 0);
				__u32 kind = 0;
				if (proto == ETH_P_TEB) {
					kind = TAPFLOW_FANOUT_TEB;
					ethernet = 1;
				} else if (proto == ETH_P_IP || proto == ETH_P_IPV6) {
					kind = TAPFLOW_FANOUT_GRE;
					ethernet = 0;
				} else if (proto == ETH_P_ERSPAN_I_II) {
					kind = TAPFLOW_FANOUT_ERSPAN;
					ethernet = 1;
					/* Type I has no header of its own (no sequence number). */
					if (seq)
						at += 8;
				} else if (proto == ETH_P_ERSPAN_III) {
					__u8 e[12];
					if (load(skb, at, e, sizeof(e)))
						return 0;
					kind = TAPFLOW_FANOUT_ERSPAN;
					ethernet = ((e[10] >> 2) & 0x1F) == 0;
					at += 12 + ((e[11] & 0x01) ? 8 : 0);
				} else {
					return 0;
				}
				/* A kind the analyzer leaves encapsulated is the traffic itself. */
				if (!decaps(c, kind))
					goto inner;
				off = at;
				continue;
			} else if ((ip.proto == IPPROTO_IPIP || ip.proto == IPPROTO_IPV6) &&
				   decaps(c, TAPFLOW_FANOUT_IPIP)) {
				off = l4;
				ethernet = 0;
				continue;
			}
		}
	inner:;
		__u32 ports = 0;
		/* Ports where the analyzer's flow key has them (TCP and UDP). */
		if (!ip.later_fragment && (ip.proto == IPPROTO_TCP || ip.proto == IPPROTO_UDP)) {
			__u8 p[4];
			if (!l4_head(skb, &ip, p))
				ports = ((__u32)p[0] << 8 | p[1]) + ((__u32)p[2] << 8 | p[3]);
		}
		return mix(ip.addrs ^ mix(ports ^ ((__u32)ip.proto << 24)));
	}
	return 0;
}
