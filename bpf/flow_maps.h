/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The maps of one object, named after its direction: ipfix_<dir>_<what>.
 * Every map is pinned by name (l3afd pins them under
 * /sys/fs/bpf/tc/globals/<iface>/<name>/<version>/). src/datapath/names.rs
 * holds the same names; tests/object_rules.rs checks both against the
 * built objects.
 */
#ifndef FLOW_MAPS_H
#define FLOW_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "flow_abi.h"

/* One u64 counter at key 0, the shape l3afd's monitor_maps can read. */
#define MONITOR_MAP(name)                            \
	struct {                                     \
		__uint(type, BPF_MAP_TYPE_ARRAY);    \
		__uint(max_entries, 1);              \
		__type(key, __u32);                  \
		__type(value, __u64);                \
		__uint(pinning, LIBBPF_PIN_BY_NAME); \
	} name SEC(".maps")

#define FLOW_MAP(name)                                     \
	struct {                                           \
		__uint(type, BPF_MAP_TYPE_HASH);           \
		__uint(max_entries, FLOW_MAP_MAX_ENTRIES); \
		__uint(map_flags, BPF_F_NO_PREALLOC);      \
		__type(key, struct flow_key);              \
		__type(value, struct flow_value);          \
		__uint(pinning, LIBBPF_PIN_BY_NAME);       \
	} name SEC(".maps")

/*
 * Declares every map of the object for direction @dir (ingress or egress)
 * and a struct flow_maps initialiser named ipfix_<dir>_maps_init.
 */
#define IPFIX_MAPS(dir)                                  \
	struct {                                         \
		__uint(type, BPF_MAP_TYPE_PROG_ARRAY);   \
		__uint(max_entries, 1);                  \
		__uint(key_size, sizeof(__u32));         \
		__uint(value_size, sizeof(__u32));       \
		__uint(pinning, LIBBPF_PIN_BY_NAME);     \
	} ipfix_##dir##_jmp_table SEC(".maps");          \
	FLOW_MAP(ipfix_##dir##_flows_0);                 \
	FLOW_MAP(ipfix_##dir##_flows_1);                 \
	struct {                                         \
		__uint(type, BPF_MAP_TYPE_ARRAY);        \
		__uint(max_entries, 1);                  \
		__type(key, __u32);                      \
		__type(value, struct flow_selector);     \
		__uint(pinning, LIBBPF_PIN_BY_NAME);     \
	} ipfix_##dir##_selector SEC(".maps");           \
	struct {                                         \
		__uint(type, BPF_MAP_TYPE_ARRAY);        \
		__uint(max_entries, 1);                  \
		__type(key, __u32);                      \
		__type(value, struct flow_config);       \
		__uint(pinning, LIBBPF_PIN_BY_NAME);     \
	} ipfix_##dir##_config SEC(".maps");             \
	struct {                                         \
		__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); \
		__uint(max_entries, FLOW_STAT_COUNT);    \
		__type(key, __u32);                      \
		__type(value, __u64);                    \
		__uint(pinning, LIBBPF_PIN_BY_NAME);     \
	} ipfix_##dir##_stats SEC(".maps");              \
	MONITOR_MAP(ipfix_##dir##_packets);              \
	MONITOR_MAP(ipfix_##dir##_non_ip);               \
	MONITOR_MAP(ipfix_##dir##_parse_err);            \
	MONITOR_MAP(ipfix_##dir##_full_pkts);            \
	MONITOR_MAP(ipfix_##dir##_full_bytes)

#define IPFIX_MAPS_REF(dir)                          \
	{                                            \
		.flows_0 = &ipfix_##dir##_flows_0,   \
		.flows_1 = &ipfix_##dir##_flows_1,   \
		.selector = &ipfix_##dir##_selector, \
		.config = &ipfix_##dir##_config,     \
		.stats = &ipfix_##dir##_stats,       \
	}

#endif /* FLOW_MAPS_H */
