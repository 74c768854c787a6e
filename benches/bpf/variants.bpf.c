// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Bench-only BPF programs (`make bench`, benches/bench/designs.rs): designs
 * the shipped objects do not use, and the pieces of the shipped body alone,
 * so that their costs can be compared by measurement. Compiled by the bench
 * harness into target/bench/; never shipped, never pinned.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "flow_track.h"

#define BENCH_FLOWS 262144

#define BENCH_FLOW_MAP_KEYED(name, map_type, key_type) \
	struct {                                       \
		__uint(type, map_type);                \
		__uint(max_entries, BENCH_FLOWS);      \
		__uint(map_flags, BPF_F_NO_PREALLOC);  \
		__type(key, key_type);                 \
		__type(value, struct flow_value);      \
	} name SEC(".maps")
#define BENCH_FLOW_MAP(name, map_type) \
	BENCH_FLOW_MAP_KEYED(name, map_type, struct flow_key)
#define BENCH_FLOW_MAP4(name, map_type) \
	BENCH_FLOW_MAP_KEYED(name, map_type, struct flow_key4)

#define BENCH_ARRAY(name, value_type, n, map_type) \
	struct {                                   \
		__uint(type, map_type);            \
		__uint(max_entries, n);            \
		__type(key, __u32);                \
		__type(value, value_type);         \
	} name SEC(".maps")

/* As shipped: IPv4 flows under the compact key, the rest under the full. */
BENCH_FLOW_MAP4(flows4_0, BPF_MAP_TYPE_HASH);
BENCH_FLOW_MAP4(flows4_1, BPF_MAP_TYPE_HASH);
/* The full key, which IPv4 flows had too before ABI 4. */
BENCH_FLOW_MAP(flows_0, BPF_MAP_TYPE_HASH);
BENCH_FLOW_MAP(flows_1, BPF_MAP_TYPE_HASH);
BENCH_FLOW_MAP4(flows4_percpu, BPF_MAP_TYPE_PERCPU_HASH);
/* Preallocated (no BPF_F_NO_PREALLOC): all entries allocated at load. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BENCH_FLOWS);
	__type(key, struct flow_key4);
	__type(value, struct flow_value);
} flows4_prealloc SEC(".maps");
BENCH_ARRAY(selector, struct flow_selector, 1, BPF_MAP_TYPE_ARRAY);
BENCH_ARRAY(config, struct flow_config, 1, BPF_MAP_TYPE_ARRAY);
BENCH_ARRAY(stats, __u64, FLOW_STAT_COUNT, BPF_MAP_TYPE_PERCPU_ARRAY);

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, FLOW_REFUSED_MAX_ENTRIES);
	__type(key, struct flow_key);
	__type(value, __u64);
} refused_flows SEC(".maps");
/* Per-CPU run counter: makes every repetition a new flow. */
BENCH_ARRAY(runs, __u64, 1, BPF_MAP_TYPE_PERCPU_ARRAY);

static __always_inline void use(__u64 v)
{
	asm volatile("" : : "r"(v));
}

/*
 * The verdict of a lookup variant: TC_ACT_UNSPEC for the hit it is meant
 * to time, TC_ACT_SHOT for a miss (the harness checks it once).
 */
static __always_inline int hit_verdict(void *v)
{
	return v ? TC_ACT_UNSPEC : TC_ACT_SHOT;
}

/*
 * The shipped body with its own maps, without the tail call; IPv4 flows go
 * to @v4_0/@v4_1.
 */
static __always_inline int body_into(struct __sk_buff *skb, void *v4_0,
				     void *v4_1)
{
	const struct flow_maps maps = {
		.flows4_0 = v4_0,
		.flows4_1 = v4_1,
		.flows6_0 = &flows_0,
		.flows6_1 = &flows_1,
		.selector = &selector,
		.config = &config,
		.stats = &stats,
		.refused = &refused_flows,
	};

	flow_meter(skb, &maps, 0);
	return TC_ACT_UNSPEC;
}

/* As shipped: IPv4 flows under the compact key. */
SEC("tc")
int v_shared_atomic(struct __sk_buff *skb)
{
	return body_into(skb, &flows4_0, &flows4_1);
}

/*
 * The body as before ABI 4: IPv4 flows in the full-key maps (a map reads
 * as much of the key as its key size: a full-key map all 48 bytes, the same
 * key hashed and compared whole).
 */
SEC("tc")
int v_full_key(struct __sk_buff *skb)
{
	return body_into(skb, &flows_0, &flows_1);
}

/*
 * Plain (non-atomic) updates of an entry: exact only when one CPU owns it
 * (per-CPU maps); on a shared map concurrent updates lose counts.
 */
static __always_inline int plain_account(void *flows, const struct pkt_meta *m,
					 __u64 segs, __u64 octets)
{
	__u64 now = bpf_ktime_get_coarse_ns();
	struct flow_value *v;
	struct flow_value fresh;

	v = bpf_map_lookup_elem(flows, &m->key);
	if (v) {
		v->packets += segs;
		v->octets += octets;
		v->last_seen_ns = now;
		v->tcp_flags |= m->tcp_flags;
		if (m->ttl < v->ttl_min)
			v->ttl_min = m->ttl;
		if (m->ttl > v->ttl_max)
			v->ttl_max = m->ttl;
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
	fresh.tos = m->tos;
	return !bpf_map_update_elem(flows, &m->key, &fresh, BPF_NOEXIST);
}

/*
 * The shipped parse and statistics around plain_account() on @flows, an
 * IPv4 map (the frames are IPv4).
 */
static __always_inline int plain_meter(struct __sk_buff *skb, void *flows)
{
	struct pkt_meta m;
	__u32 zero = 0;
	__u32 segs;
	__u64 octets;

	__builtin_memset(&m, 0, sizeof(m));
	if (pkt_parse(skb, &m) != PARSE_OK)
		return TC_ACT_UNSPEC;
	segs = skb_segments(skb, &m);
	stat_add(&stats, FLOW_STAT_PACKETS, segs);
	if (sampled_out(bpf_map_lookup_elem(&config, &zero)))
		return TC_ACT_UNSPEC;
	m.key.ifindex = skb->ifindex;
	pkt_vlans(skb, &m);
	octets = m.ip_len + (__u64)(segs - 1) * m.hdrs_len;
	if (selector_active(&selector))
		return TC_ACT_UNSPEC;
	if (!plain_account(flows, &m, segs, octets)) {
		stat_add(&stats, FLOW_STAT_TABLE_FULL_PACKETS, segs);
		stat_add(&stats, FLOW_STAT_TABLE_FULL_OCTETS, octets);
	}
	return TC_ACT_UNSPEC;
}

/* Per-CPU flow map: no atomics, no shared cache lines. */
SEC("tc")
int v_percpu(struct __sk_buff *skb)
{
	return plain_meter(skb, &flows4_percpu);
}

/* Shared map, plain updates: loses counts under contention (reference). */
SEC("tc")
int v_shared_plain(struct __sk_buff *skb)
{
	return plain_meter(skb, &flows4_0);
}

/* --- the pieces of the hit path, alone ------------------------------- */

SEC("tc")
int v_clock_boot(struct __sk_buff *skb)
{
	use(bpf_ktime_get_boot_ns());
	return TC_ACT_UNSPEC;
}

SEC("tc")
int v_clock_coarse(struct __sk_buff *skb)
{
	use(bpf_ktime_get_coarse_ns());
	return TC_ACT_UNSPEC;
}

SEC("tc")
int v_parse(struct __sk_buff *skb)
{
	struct pkt_meta m;

	__builtin_memset(&m, 0, sizeof(m));
	if (pkt_parse(skb, &m) == PARSE_OK)
		stat_add(&stats, FLOW_STAT_PACKETS,
			 m.key.src_port + m.ip_len + m.hdrs_len + m.ttl);
	return TC_ACT_UNSPEC;
}

/* A hit on the all-zero key (user space inserts it). */
SEC("tc")
int v_lookup(struct __sk_buff *skb)
{
	struct flow_key key;

	__builtin_memset(&key, 0, sizeof(key));
	return hit_verdict(bpf_map_lookup_elem(&flows_1, &key));
}

SEC("tc")
int v_clock_lookup(struct __sk_buff *skb)
{
	struct flow_key key;

	__builtin_memset(&key, 0, sizeof(key));
	use(bpf_ktime_get_coarse_ns());
	return hit_verdict(bpf_map_lookup_elem(&flows_1, &key));
}

/*
 * A hit on the compact IPv4 key that is all zero but its ip_version (user
 * space inserts it: the drain takes no other key from an IPv4 map).
 */
SEC("tc")
int v_lookup_v4(struct __sk_buff *skb)
{
	struct flow_key4 key;

	__builtin_memset(&key, 0, sizeof(key));
	key.ip_version = 4;
	return hit_verdict(bpf_map_lookup_elem(&flows4_1, &key));
}

SEC("tc")
int v_clock_lookup_v4(struct __sk_buff *skb)
{
	struct flow_key4 key;

	__builtin_memset(&key, 0, sizeof(key));
	key.ip_version = 4;
	use(bpf_ktime_get_coarse_ns());
	return hit_verdict(bpf_map_lookup_elem(&flows4_1, &key));
}

/*
 * The one-slot lookups of every packet: selector, config and a statistics
 * slot; what combining them into one lookup could save at most.
 */
SEC("tc")
int v_slots(struct __sk_buff *skb)
{
	__u32 zero = 0;

	use(selector_active(&selector));
	use((__u64)bpf_map_lookup_elem(&config, &zero));
	stat_add(&stats, FLOW_STAT_PACKETS, 1);
	return TC_ACT_UNSPEC;
}

/* --- the new-flow path in a loop ------------------------------------- */

/*
 * The shipped flow_account() on a key made distinct per repetition by a
 * per-CPU run counter (@fresh) or kept (!@fresh): the difference of the two
 * is what creating a flow costs over updating one, with warm caches.
 */
static __always_inline int counted_meter(struct __sk_buff *skb, void *flows,
					 int fresh)
{
	struct pkt_meta m;
	__u32 zero = 0;
	__u64 *n;
	__u64 c;

	__builtin_memset(&m, 0, sizeof(m));
	if (pkt_parse(skb, &m) != PARSE_OK)
		return TC_ACT_UNSPEC;
	n = bpf_map_lookup_elem(&runs, &zero);
	if (!n)
		return TC_ACT_UNSPEC;
	c = *n;
	if (fresh)
		*n = c + 1;
	m.key.src_port ^= (__u16)c;
	m.key.dst_port ^= (__u16)(c >> 16);
	m.key.ifindex = bpf_get_smp_processor_id();
	if (!flow_account(flows, &m, 1, m.ip_len, 0, bpf_ktime_get_coarse_ns()))
		stat_add(&stats, FLOW_STAT_TABLE_FULL_PACKETS, 1);
	return TC_ACT_UNSPEC;
}

/* Before ABI 4: an IPv4 flow under the full key. */
SEC("tc")
int v_new_flow(struct __sk_buff *skb)
{
	return counted_meter(skb, &flows_0, 1);
}

/* As shipped: the compact key. */
SEC("tc")
int v_new_flow4(struct __sk_buff *skb)
{
	return counted_meter(skb, &flows4_0, 1);
}

SEC("tc")
int v_same_flow(struct __sk_buff *skb)
{
	return counted_meter(skb, &flows4_0, 0);
}

SEC("tc")
int v_new_flow4_prealloc(struct __sk_buff *skb)
{
	return counted_meter(skb, &flows4_prealloc, 1);
}

char _license[] SEC("license") = "Dual BSD/GPL";
