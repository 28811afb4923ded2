/* The kernel and user-space types the syscall tracer (src/syscalls.bpf.c) reads: kernel
 * structs with only the fields read (CO-RE: libbpf relocates them against the kernel's BTF), and
 * user-space structs of the syscall ABI, which do not change. */
#ifndef TAPFLOW_TRACE_TYPES_H
#define TAPFLOW_TRACE_TYPES_H

/* Kernel types, only the fields read (CO-RE). */
struct sock_common {
	__be32 skc_daddr;
	__be32 skc_rcv_saddr;
	__be16 skc_dport;
	__u16 skc_num;
	unsigned short skc_family;
	struct in6_addr skc_v6_daddr;
	struct in6_addr skc_v6_rcv_saddr;
} __attribute__((preserve_access_index));

struct sock {
	struct sock_common __sk_common;
	__u16 sk_protocol;
} __attribute__((preserve_access_index));

/* A unix socket: the bound address (shared by a listening socket and the sockets it accepts)
 * and the connected peer. */
struct unix_sock {
	struct sock sk;
	void *addr;
	struct sock *peer;
} __attribute__((preserve_access_index));

struct socket {
	short type;
	struct sock *sk;
} __attribute__((preserve_access_index));

struct inode {
	unsigned short i_mode;
} __attribute__((preserve_access_index));

struct file {
	struct inode *f_inode;
	void *private_data;
} __attribute__((preserve_access_index));

struct fdtable {
	unsigned int max_fds;
	struct file **fd;
} __attribute__((preserve_access_index));

struct files_struct {
	struct fdtable *fdt;
} __attribute__((preserve_access_index));

struct ns_common {
	unsigned int inum;
} __attribute__((preserve_access_index));

struct net {
	struct ns_common ns;
} __attribute__((preserve_access_index));

struct nsproxy {
	struct net *net_ns;
} __attribute__((preserve_access_index));

struct task_struct {
	struct files_struct *files;
	struct nsproxy *nsproxy;
} __attribute__((preserve_access_index));

/* User-space message headers (fixed ABI): struct msghdr is 56 bytes, struct mmsghdr 64. */
struct user_msghdr_abi {
	void *msg_name;
	int msg_namelen;
	struct iovec *msg_iov;
	__u64 msg_iovlen;
	void *msg_control;
	__u64 msg_controllen;
	int msg_flags;
};

struct user_mmsghdr_abi {
	struct user_msghdr_abi msg_hdr;
	unsigned int msg_len;
};

_Static_assert(sizeof(struct user_msghdr_abi) == 56, "struct msghdr");
_Static_assert(sizeof(struct user_mmsghdr_abi) == 64, "struct mmsghdr");

/* A control message's header (fixed ABI); its data follows at 16. */
struct user_cmsghdr_abi {
	__u64 cmsg_len;
	__s32 cmsg_level;
	__s32 cmsg_type;
};

/* IP_PKTINFO's data: the interface, the local address (routing's), the header's destination. */
struct user_in_pktinfo_abi {
	__s32 ifindex;
	__u32 spec_dst;
	__u32 addr;
};

/* User-space socket addresses (fixed ABI): the family, the port (network order), the address
 * (IPv4 at offset 4, IPv6 at offset 8). */
struct user_sockaddr_abi {
	__u16 family;
	__be16 port;
	__u32 v4_or_flowinfo;
	__u8 v6[16];
};

#endif
