/* The AF_PACKET fanout steering program's configuration (fanout.bpf.c), shared with Rust
 * (src/fanout.rs; a unit test there parses this file). */
#ifndef TAPFLOW_FANOUT_H
#define TAPFLOW_FANOUT_H

/* Bits of `decap`: a tunnel kind (DeepFlow's TunnelType numbers) the analyzer peels. */
#define TAPFLOW_FANOUT_VXLAN 1
#define TAPFLOW_FANOUT_IPIP 2
#define TAPFLOW_FANOUT_GRE 3
#define TAPFLOW_FANOUT_GENEVE 4
#define TAPFLOW_FANOUT_ERSPAN 6
#define TAPFLOW_FANOUT_TEB 7

/* Most tunnel layers peeled (the analyzer's max_tunnel_layers is capped to it). */
#define TAPFLOW_FANOUT_MAX_LAYERS 3
/* UDP ports that carry VXLAN. */
#define TAPFLOW_FANOUT_VXLAN_PORTS 3
/* Bytes of the configuration (the map's value). */
#define TAPFLOW_FANOUT_CONFIG_SIZE 16

struct tapflow_fanout_config {
	__u32 decap;
	__u16 vxlan_ports[TAPFLOW_FANOUT_VXLAN_PORTS];
	__u16 geneve_port;
	/* Tunnel layers the analyzer peels (at most TAPFLOW_FANOUT_MAX_LAYERS). */
	__u32 max_layers;
};

#endif
