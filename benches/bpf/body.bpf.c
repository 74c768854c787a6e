// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Bench-only: the shipped metering body with one thing changed at compile
 * time, to measure what that thing costs. The harness builds it once per
 * option:
 *
 *   -DBENCH_PRECISE_CLOCK    CLOCK_BOOTTIME whatever the config says (what
 *                            --clock precise costs)
 *   -DPARSE_DIRECT_LIMIT=0   every header read through bpf_skb_load_bytes(),
 *                            as before direct reads (also proves that path
 *                            meters exactly like the direct one)
 *   -DBENCH_FULL_KEY         IPv4 flows under the 48-byte key, as before
 *                            ABI 4 gave them a compact key of their own
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#ifdef BENCH_PRECISE_CLOCK
#define bpf_ktime_get_coarse_ns bpf_ktime_get_boot_ns
#endif
#include "flow_track.h"

#define BENCH_ARRAY(name, value_type, n, map_type) \
	struct {                                   \
		__uint(type, map_type);            \
		__uint(max_entries, n);            \
		__type(key, __u32);                \
		__type(value, value_type);         \
	} name SEC(".maps")

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 131072);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct flow_key);
	__type(value, struct flow_value);
} body_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 131072);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct flow_key4);
	__type(value, struct flow_value);
} body_flows4 SEC(".maps");

#ifdef BENCH_FULL_KEY
/* IPv4 flows under the full key, as before ABI 4 (body_flows4 stays empty). */
#define BODY_FLOWS4 body_flows
#else
#define BODY_FLOWS4 body_flows4
#endif

BENCH_ARRAY(body_selector, struct flow_selector, 1, BPF_MAP_TYPE_ARRAY);
BENCH_ARRAY(body_config, struct flow_config, 1, BPF_MAP_TYPE_ARRAY);
BENCH_ARRAY(body_stats, __u64, FLOW_STAT_COUNT, BPF_MAP_TYPE_PERCPU_ARRAY);

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, FLOW_REFUSED_MAX_ENTRIES);
	__type(key, struct flow_key);
	__type(value, __u64);
} body_refused_flows SEC(".maps");

SEC("tc")
int v_body(struct __sk_buff *skb)
{
	const struct flow_maps maps = {
		.flows4_0 = &BODY_FLOWS4,
		.flows4_1 = &BODY_FLOWS4,
		.flows6_0 = &body_flows,
		.flows6_1 = &body_flows,
		.selector = &body_selector,
		.config = &body_config,
		.stats = &body_stats,
		.refused = &body_refused_flows,
	};

	flow_meter(skb, &maps, 0);
	return TC_ACT_UNSPEC;
}

char _license[] SEC("license") = "Dual BSD/GPL";
