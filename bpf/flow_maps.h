/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The shapes of the maps. Each object declares its own, named after its
 * direction and spelled out in full (ipfix_<dir>_<what>, so that grep finds
 * every use). Every map is pinned by name (l3afd pins them under
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

#define FLOW_MAP_KEYED(name, key_type)                     \
	struct {                                           \
		__uint(type, BPF_MAP_TYPE_HASH);           \
		__uint(max_entries, FLOW_MAP_MAX_ENTRIES); \
		__uint(map_flags, BPF_F_NO_PREALLOC);      \
		__type(key, key_type);                     \
		__type(value, struct flow_value);          \
		__uint(pinning, LIBBPF_PIN_BY_NAME);       \
	} name SEC(".maps")

/* IPv4 flows, keyed by the compact key. */
#define FLOW_MAP4(name) FLOW_MAP_KEYED(name, struct flow_key4)
/* IPv6 flows, keyed by the full key. */
#define FLOW_MAP(name) FLOW_MAP_KEYED(name, struct flow_key)

/* Flows that lost packets to a full flow map: LRU, so it never fills. */
#define REFUSED_MAP(name)                                      \
	struct {                                               \
		__uint(type, BPF_MAP_TYPE_LRU_HASH);           \
		__uint(max_entries, FLOW_REFUSED_MAX_ENTRIES); \
		__type(key, struct flow_key);                  \
		__type(value, __u64);                          \
		__uint(pinning, LIBBPF_PIN_BY_NAME);           \
	} name SEC(".maps")

/* The shapes of the other maps; each object names its own, in full. */
#define JMP_TABLE(name)                                \
	struct {                                       \
		__uint(type, BPF_MAP_TYPE_PROG_ARRAY); \
		__uint(max_entries, 1);                \
		__uint(key_size, sizeof(__u32));       \
		__uint(value_size, sizeof(__u32));     \
		__uint(pinning, LIBBPF_PIN_BY_NAME);   \
	} name SEC(".maps")

#define ONE_SLOT_MAP(name, value_type)               \
	struct {                                     \
		__uint(type, BPF_MAP_TYPE_ARRAY);    \
		__uint(max_entries, 1);              \
		__type(key, __u32);                  \
		__type(value, value_type);           \
		__uint(pinning, LIBBPF_PIN_BY_NAME); \
	} name SEC(".maps")

#define STATS_MAP(name)                                  \
	struct {                                         \
		__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); \
		__uint(max_entries, FLOW_STAT_COUNT);    \
		__type(key, __u32);                      \
		__type(value, __u64);                    \
		__uint(pinning, LIBBPF_PIN_BY_NAME);     \
	} name SEC(".maps")

#endif /* FLOW_MAPS_H */
