/* Structs and constants shared by the XDP program (mirror.bpf.c) and Rust (src/lib.rs).
 * Keep both sides in sync: a unit test in src/lib.rs parses this file. */
#ifndef TAPFLOW_XDP_H
#define TAPFLOW_XDP_H

/* Per-CPU counter slots in the `counters` array map. */
#define TAPFLOW_CNT_SEEN 0
#define TAPFLOW_CNT_REDIRECTED 1
#define TAPFLOW_CNT_FILTERED 2
#define TAPFLOW_CNT_REDIRECT_FAILED 3
#define TAPFLOW_CNT_MAX 4

/* Most rx queues (XSKMAP entries). */
#define TAPFLOW_MAX_QUEUES 64

/* Entries of the EtherType filter map, and what an entry does with the frame. */
#define TAPFLOW_MAX_FILTERS 16
#define TAPFLOW_FILTER_PASS 1
#define TAPFLOW_FILTER_DROP 2

#endif
