/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The metering body shared by both objects. Maps arrive as parameters so
 * that each thin entry file only names its own maps.
 */
#ifndef FLOW_TRACK_H
#define FLOW_TRACK_H

#include <linux/bpf.h>
#include <linux/errno.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "flow_abi.h"
#include "parse.h"

#define TTL_CAS_TRIES 8

struct flow_maps {
	void *flows4_0; /* IPv4, keyed by struct flow_key4 */
	void *flows4_1;
	void *flows6_0; /* IPv6, keyed by struct flow_key */
	void *flows6_1;
	void *selector;
	void *config;
	void *stats;
	void *refused;
};

static __always_inline void stat_add(void *stats, __u32 idx, __u64 n)
{
	__u64 *ctr = bpf_map_lookup_elem(stats, &idx);

	/* Per-CPU slot, softirq context: a plain add is exact. */
	if (ctr)
		*ctr += n;
}

/* Segments carried by the skb: a GSO super-packet counts as its segments. */
static __always_inline __u32 skb_segments(struct __sk_buff *skb,
					  const struct pkt_meta *m)
{
	__u32 payload;

	if (!skb->gso_size)
		return 1;
	if (skb->gso_segs)
		return skb->gso_segs;
	payload = m->ip_len > m->hdrs_len ? m->ip_len - m->hdrs_len : 0;
	return payload ? (payload + skb->gso_size - 1) / skb->gso_size : 1;
}

/*
 * Moves *slot to @ttl if that lowers it (@lower) or raises it (!@lower). A
 * failed cmpxchg means another CPU moved the value; bound the retries.
 */
static __always_inline void ttl_extend(__u32 *slot, __u32 ttl, int lower)
{
	__u32 old;
	int i;

	for (i = 0; i < TTL_CAS_TRIES; i++) {
		old = *(volatile __u32 *)slot;
		if ((lower ? ttl >= old : ttl <= old) ||
		    __sync_val_compare_and_swap(slot, old, ttl) == old)
			return;
	}
}

static __always_inline void flow_value_add(struct flow_value *v,
					   const struct pkt_meta *m, __u64 segs,
					   __u64 octets, __u64 now)
{
	__sync_fetch_and_add(&v->packets, segs);
	__sync_fetch_and_add(&v->octets, octets);
	if (now > v->last_seen_ns)
		v->last_seen_ns = now;
	if ((v->tcp_flags & m->tcp_flags) != m->tcp_flags)
		__sync_fetch_and_or(&v->tcp_flags, m->tcp_flags);
	ttl_extend(&v->ttl_min, m->ttl, 1);
	ttl_extend(&v->ttl_max, m->ttl, 0);
}

/*
 * Adds one packet to its flow in @flows; false when the table is full. The
 * map reads as much of m->key as its key size: an IPv4 map the first
 * FLOW_KEY4_SIZE bytes, its compact key.
 */
static __always_inline int flow_account(void *flows, const struct pkt_meta *m,
					__u64 segs, __u64 octets,
					__u32 peer_ifindex, __u64 now)
{
	struct flow_value *v;
	struct flow_value fresh;
	int err;

	v = bpf_map_lookup_elem(flows, &m->key);
	if (v) {
		flow_value_add(v, m, segs, octets, now);
		return 1;
	}

	__builtin_memset(&fresh, 0, sizeof(fresh));
	fresh.packets = segs;
	fresh.octets = octets;
	fresh.first_seen_ns = now;
	fresh.last_seen_ns = now;
	fresh.tcp_flags = m->tcp_flags;
	fresh.ttl_min = m->ttl;
	fresh.ttl_max = m->ttl;
	fresh.peer_ifindex = peer_ifindex;
	fresh.tos = m->tos;
	__builtin_memcpy(fresh.src_mac, m->src_mac, sizeof(fresh.src_mac));
	__builtin_memcpy(fresh.dst_mac, m->dst_mac, sizeof(fresh.dst_mac));
	err = bpf_map_update_elem(flows, &m->key, &fresh, BPF_NOEXIST);
	if (!err)
		return 1;
	if (err != -EEXIST)
		return 0; /* -E2BIG or -ENOMEM: no room, never retried */

	/* Another CPU created the entry between our lookup and update. */
	v = bpf_map_lookup_elem(flows, &m->key);
	if (!v)
		return 0;
	flow_value_add(v, m, segs, octets, now);
	return 1;
}

/*
 * Remembers that @key's flow lost @segs packets to a full flow map. An
 * update racing another CPU's loses nothing but that packet count: the key
 * is there either way.
 */
static __always_inline void flow_refused(void *refused,
					 const struct flow_key *key, __u64 segs)
{
	__u64 *lost = bpf_map_lookup_elem(refused, key);

	if (lost) {
		__sync_fetch_and_add(lost, segs);
		return;
	}
	bpf_map_update_elem(refused, key, &segs, BPF_NOEXIST);
}

/*
 * True when the packet is not one of the 1 in sample_period metered:
 * systematic takes the 1st, (N+1)th, ... packet of all CPUs together (one
 * atomic add), random each with probability 1/N.
 */
static __always_inline int sampled_out(struct flow_config *cfg)
{
	__u32 period;

	if (!cfg)
		return 0;
	period = cfg->sample_period;
	if (period <= 1)
		return 0;
	if (cfg->sample_mode == FLOW_SAMPLE_RANDOM)
		return bpf_get_prandom_u32() % period != 0;
	return __sync_fetch_and_add(&cfg->sample_count, 1) % period != 0;
}

/* Now, on the clock the config names (enum flow_clock). */
static __always_inline __u64 flow_now(const struct flow_config *cfg)
{
	if (cfg && cfg->clock == FLOW_CLOCK_BOOT)
		return bpf_ktime_get_boot_ns();
	return bpf_ktime_get_coarse_ns();
}

static __always_inline __u32 selector_active(void *selector)
{
	__u32 zero = 0;
	struct flow_selector *sel = bpf_map_lookup_elem(selector, &zero);

	return sel ? sel->active & 1 : 0;
}

/*
 * Meters one packet. Never touches the packet and has no verdict of its own:
 * the caller tail-calls the next program or returns TC_ACT_UNSPEC.
 */
static __always_inline void flow_meter(struct __sk_buff *skb,
				       const struct flow_maps *maps,
				       __u32 peer_ifindex)
{
	struct flow_config *cfg;
	struct pkt_meta m;
	__u32 zero = 0;
	__u32 segs;
	__u64 octets, now;
	int ret, ok, active;

	__builtin_memset(&m, 0, sizeof(m));
	ret = pkt_parse(skb, &m);
	segs = ret == PARSE_OK ? skb_segments(skb, &m) : 1;
	stat_add(maps->stats, FLOW_STAT_PACKETS, segs);
	if (ret == PARSE_NON_IP) {
		stat_add(maps->stats, FLOW_STAT_NON_IP, 1);
		return;
	}
	if (ret != PARSE_OK) {
		stat_add(maps->stats, FLOW_STAT_PARSE_FAILED, 1);
		return;
	}

	cfg = bpf_map_lookup_elem(maps->config, &zero);
	if (sampled_out(cfg)) {
		stat_add(maps->stats, FLOW_STAT_SAMPLED_OUT, segs);
		return;
	}

	m.key.ifindex = skb->ifindex;
	pkt_vlans(skb, &m);
	octets = m.ip_len + (__u64)(segs - 1) * m.hdrs_len;
	now = flow_now(cfg);
	/*
	 * One call site per map, each with a constant map pointer: the
	 * verifier can inline every lookup.
	 */
	active = selector_active(maps->selector);
	if (m.key.ip_version == 4)
		ok = active ? flow_account(maps->flows4_1, &m, segs, octets,
					   peer_ifindex, now)
			    : flow_account(maps->flows4_0, &m, segs, octets,
					   peer_ifindex, now);
	else
		ok = active ? flow_account(maps->flows6_1, &m, segs, octets,
					   peer_ifindex, now)
			    : flow_account(maps->flows6_0, &m, segs, octets,
					   peer_ifindex, now);
	if (!ok) {
		stat_add(maps->stats, FLOW_STAT_TABLE_FULL_PACKETS, segs);
		stat_add(maps->stats, FLOW_STAT_TABLE_FULL_OCTETS, octets);
		flow_refused(maps->refused, &m.key, segs);
	}
}

#endif /* FLOW_TRACK_H */
