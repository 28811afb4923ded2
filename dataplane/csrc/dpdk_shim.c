/* Exports DPDK's static-inline fast-path functions as real symbols for Rust. */
#include "dpdk_wrapper.h"

uint16_t tf_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n)
{
	return rte_eth_rx_burst(port, queue, pkts, n);
}

void tf_pktmbuf_free_bulk(struct rte_mbuf **pkts, unsigned int n)
{
	rte_pktmbuf_free_bulk(pkts, n);
}

void tf_pktmbuf_free(struct rte_mbuf *m)
{
	rte_pktmbuf_free(m);
}

const uint8_t *tf_mbuf_data(const struct rte_mbuf *m)
{
	return rte_pktmbuf_mtod(m, const uint8_t *);
}

uint16_t tf_mbuf_data_len(const struct rte_mbuf *m)
{
	return m->data_len;
}

uint32_t tf_mbuf_pkt_len(const struct rte_mbuf *m)
{
	return m->pkt_len;
}

uint32_t tf_mbuf_rss_hash(const struct rte_mbuf *m)
{
	return (m->ol_flags & RTE_MBUF_F_RX_RSS_HASH) ? m->hash.rss : 0;
}

int tf_errno(void)
{
	return rte_errno;
}
