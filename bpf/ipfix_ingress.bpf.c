// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Ingress object: bpf_ipfix_ingress.bpf.o. Differs from ipfix_egress.bpf.c
 * in names only.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "flow_maps.h"
#include "flow_track.h"

JMP_TABLE(ipfix_ingress_jmp_table);
FLOW_MAP4(ipfix_ingress_flows4_0);
FLOW_MAP4(ipfix_ingress_flows4_1);
FLOW_MAP(ipfix_ingress_flows6_0);
FLOW_MAP(ipfix_ingress_flows6_1);
ONE_SLOT_MAP(ipfix_ingress_selector, struct flow_selector);
ONE_SLOT_MAP(ipfix_ingress_config, struct flow_config);
STATS_MAP(ipfix_ingress_stats);
REFUSED_MAP(ipfix_ingress_refused_flows);
MONITOR_MAP(ipfix_ingress_packets);
MONITOR_MAP(ipfix_ingress_non_ip);
MONITOR_MAP(ipfix_ingress_parse_failed);
MONITOR_MAP(ipfix_ingress_table_full_packets);
MONITOR_MAP(ipfix_ingress_table_full_octets);

/* SCHED_CLS without an expected attach type: fits tc-root's prog array. */
SEC("tc")
int _ingress_flow_monitoring(struct __sk_buff *skb)
{
	const struct flow_maps maps = {
		.flows4_0 = &ipfix_ingress_flows4_0,
		.flows4_1 = &ipfix_ingress_flows4_1,
		.flows6_0 = &ipfix_ingress_flows6_0,
		.flows6_1 = &ipfix_ingress_flows6_1,
		.selector = &ipfix_ingress_selector,
		.config = &ipfix_ingress_config,
		.stats = &ipfix_ingress_stats,
		.refused = &ipfix_ingress_refused_flows,
	};

	/* Routing has not happened yet: the egress interface is unknown. */
	flow_meter(skb, &maps, 0);
	bpf_tail_call(skb, &ipfix_ingress_jmp_table, 0);
	return TC_ACT_UNSPEC;
}

char _license[] SEC("license") = "Dual BSD/GPL";
