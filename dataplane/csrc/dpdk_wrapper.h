/* The DPDK API tapflow binds (bindgen input). */
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

/* Static-inline fast path, re-exported as real symbols by dpdk_shim.c. */
uint16_t tf_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);
void tf_pktmbuf_free_bulk(struct rte_mbuf **pkts, unsigned int n);
void tf_pktmbuf_free(struct rte_mbuf *m);
const uint8_t *tf_mbuf_data(const struct rte_mbuf *m);
uint16_t tf_mbuf_data_len(const struct rte_mbuf *m);
uint32_t tf_mbuf_pkt_len(const struct rte_mbuf *m);
uint32_t tf_mbuf_rss_hash(const struct rte_mbuf *m);
int tf_errno(void);
