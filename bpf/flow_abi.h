/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The only ABI between the BPF objects and user space. src/datapath/abi.rs
 * mirrors every type and constant here; tests/object_rules.rs compares the
 * sizes against the BTF of the built objects.
 */
#ifndef FLOW_ABI_H
#define FLOW_ABI_H

#include <linux/types.h>

/* Bump whenever a struct below or the meaning of a map changes. */
#define FLOW_ABI_VERSION 4

/*
 * Default capacity of each of the four flow maps of one object (IPv4 and
 * the rest, twice: one written, one drained).
 */
#define FLOW_MAP_MAX_ENTRIES 131072

/*
 * Capacity of the refused-flows map: keys of flows that lost packets to a
 * full flow map (value: the packets lost, __u64), least recently used
 * evicted first. User space takes them every interval; the next record of
 * each such flow ends "lack of resources".
 */
#define FLOW_REFUSED_MAX_ENTRIES 4096

/*
 * Flow key: the full tuple, never a hash of it. Ports are in host byte
 * order, 0 for ICMP, ICMPv6, non-first fragments and protocols without
 * ports. VLAN IDs (the 12 bits of the TCI) keep overlapping tenant address
 * spaces apart: the outer tag, wherever it is (skb->vlan_tci, where the
 * kernel moves it at ingress or for insertion on transmit, or the frame),
 * and the tag inside it; 0 when there is none.
 *
 * The addresses come last and are packed: IPv4 puts the source in
 * addr[0..4] and the destination in addr[4..8] (the rest is zero), IPv6 the
 * source in addr[0..16] and the destination in addr[16..32]. So the first
 * FLOW_KEY4_SIZE bytes of an IPv4 key are the whole of it, and the IPv4
 * flow maps are keyed by just those (struct flow_key4): the common case
 * hashes and compares half the bytes. IPv6 flows, and the refused-flows
 * map, use all of struct flow_key. (ABI 3 kept every flow, under another
 * layout of this struct, in maps named flows_0 and flows_1: the new names
 * keep their pins from being taken for these.)
 */
struct flow_key {
	__u32 ifindex; /* interface the program is attached to */
	__u16 src_port;
	__u16 dst_port;
	__u8 ip_version; /* 4 or 6 */
	__u8 protocol; /* IPv4 protocol / IPv6 upper-layer next header */
	__u8 icmp_type;
	__u8 icmp_code;
	__u16 vlan_id; /* outer tag (802.1Q or 802.1ad) */
	__u16 inner_vlan_id; /* the tag inside it (QinQ customer tag) */
	__u8 addr[32]; /* source, then destination: 4 or 16 bytes each */
};

/* The key of the IPv4 flow maps: the first 24 bytes of an IPv4 flow_key. */
struct flow_key4 {
	__u32 ifindex;
	__u16 src_port;
	__u16 dst_port;
	__u8 ip_version; /* always 4 */
	__u8 protocol;
	__u8 icmp_type;
	__u8 icmp_code;
	__u16 vlan_id;
	__u16 inner_vlan_id;
	__u8 addr[8]; /* source, then destination */
};

#define FLOW_KEY4_SIZE 24
_Static_assert(sizeof(struct flow_key4) == FLOW_KEY4_SIZE, "flow_key4");
_Static_assert(__builtin_offsetof(struct flow_key, addr) ==
		       __builtin_offsetof(struct flow_key4, addr),
	       "flow_key4 is a prefix of flow_key");

/*
 * Flow value. packets/octets/tcp_flags/ttl_min/ttl_max are updated with
 * atomic instructions: several CPUs may hit one flow at once.
 */
struct flow_value {
	__u64 packets; /* segments, a GSO packet counts gso_segs */
	__u64 octets; /* IP total length of every segment (L3) */
	__u64 first_seen_ns; /* the clock flow_config.clock names */
	__u64 last_seen_ns; /* the clock flow_config.clock names */
	__u32 tcp_flags; /* OR of the 9 TCP flag bits, NS = 0x100 */
	__u32 ttl_min; /* TTL / hop limit, u32 so that cmpxchg can work */
	__u32 ttl_max;
	__u32 peer_ifindex; /* egress: skb->ingress_ifindex, ingress: 0 */
	__u8 tos; /* TOS / traffic class of the first packet */
	__u8 src_mac[6]; /* Ethernet source of the first packet */
	__u8 dst_mac[6]; /* Ethernet destination of the first packet */
	__u8 pad[3];
};

/*
 * Indices of the per-CPU statistics array. Every packet bumps
 * FLOW_STAT_PACKETS; a packet that is not metered also bumps exactly one of
 * NON_IP, PARSE_FAILED, TABLE_FULL_PACKETS or SAMPLED_OUT. Units are packets
 * (segments) unless the name says octets.
 */
enum flow_stat {
	FLOW_STAT_PACKETS = 0, /* every packet the program ran for */
	FLOW_STAT_NON_IP = 1, /* not IPv4/IPv6: counted, not metered */
	FLOW_STAT_PARSE_FAILED = 2, /* malformed or truncated: not metered */
	FLOW_STAT_TABLE_FULL_PACKETS = 3, /* no room in the flow map */
	FLOW_STAT_TABLE_FULL_OCTETS = 4,
	FLOW_STAT_SAMPLED_OUT = 5, /* skipped by 1-in-N sampling */
	FLOW_STAT_COUNT = 6,
};

/* How 1 in sample_period packets are chosen. */
enum flow_sample_mode {
	/* Count-based systematic (PSAMP): every Nth packet, counted over all CPUs */
	FLOW_SAMPLE_SYSTEMATIC = 0,
	/* Uniform probabilistic: each packet with probability 1/N */
	FLOW_SAMPLE_RANDOM = 1,
};

/*
 * The clock of first_seen_ns/last_seen_ns. The coarse clock is the default:
 * the hit path's one clock read then costs a load instead of a clocksource
 * read (tens of ns), and last_seen_ns changes, and is written, once a tick.
 */
enum flow_clock {
	/* CLOCK_MONOTONIC at the last tick (bpf_ktime_get_coarse_ns): the
	 * resolution is one tick, 1 to 10 ms by CONFIG_HZ */
	FLOW_CLOCK_COARSE = 0,
	/* CLOCK_BOOTTIME (bpf_ktime_get_boot_ns): ns resolution */
	FLOW_CLOCK_BOOT = 1,
};

/*
 * The single entry of the config map. All zero means the defaults. User
 * space writes sample_period, sample_mode and clock before attaching; the
 * program counts every packet it samples systematically in sample_count
 * (atomic). A GSO super-packet is one packet to the sampler.
 */
struct flow_config {
	__u32 sample_period; /* meter 1 in N packets; 0 and 1 mean all */
	__u32 sample_mode; /* enum flow_sample_mode */
	__u64 sample_count;
	__u32 clock; /* enum flow_clock */
	__u32 pad;
};

/*
 * The single entry of the selector map: bit 0 names the pair of flow maps the
 * program writes into (0: flows4_0 and flows_0, 1: flows4_1 and flows_1).
 */
struct flow_selector {
	__u32 active;
};

#endif /* FLOW_ABI_H */
