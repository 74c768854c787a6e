// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Egress object: bpf_ipfix_egress.bpf.o. Differs from ipfix_ingress.bpf.c
 * in names only.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "flow_maps.h"
#include "flow_track.h"

JMP_TABLE(ipfix_egress_jmp_table);
FLOW_MAP4(ipfix_egress_flows4_0);
FLOW_MAP4(ipfix_egress_flows4_1);
FLOW_MAP(ipfix_egress_flows6_0);
FLOW_MAP(ipfix_egress_flows6_1);
ONE_SLOT_MAP(ipfix_egress_selector, struct flow_selector);
ONE_SLOT_MAP(ipfix_egress_config, struct flow_config);
STATS_MAP(ipfix_egress_stats);
REFUSED_MAP(ipfix_egress_refused_flows);
MONITOR_MAP(ipfix_egress_packets);
MONITOR_MAP(ipfix_egress_non_ip);
MONITOR_MAP(ipfix_egress_parse_failed);
MONITOR_MAP(ipfix_egress_table_full_packets);
MONITOR_MAP(ipfix_egress_table_full_octets);

/* SCHED_CLS without an expected attach type: fits tc-root's prog array. */
SEC("tc")
int _egress_flow_monitoring(struct __sk_buff *skb)
{
	const struct flow_maps maps = {
		.flows4_0 = &ipfix_egress_flows4_0,
		.flows4_1 = &ipfix_egress_flows4_1,
		.flows6_0 = &ipfix_egress_flows6_0,
		.flows6_1 = &ipfix_egress_flows6_1,
		.selector = &ipfix_egress_selector,
		.config = &ipfix_egress_config,
		.stats = &ipfix_egress_stats,
		.refused = &ipfix_egress_refused_flows,
	};

	/* Where a forwarded packet came in; 0 when it is locally sent. */
	flow_meter(skb, &maps, skb->ingress_ifindex);
	bpf_tail_call(skb, &ipfix_egress_jmp_table, 0);
	return TC_ACT_UNSPEC;
}

char _license[] SEC("license") = "Dual BSD/GPL";
