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

IPFIX_MAPS(ingress);

/* SCHED_CLS without an expected attach type: fits tc-root's prog array. */
SEC("tc")
int _ingress_flow_monitoring(struct __sk_buff *skb)
{
	const struct flow_maps maps = IPFIX_MAPS_REF(ingress);

	/* Routing has not happened yet: the egress interface is unknown. */
	flow_meter(skb, &maps, 0);
	bpf_tail_call(skb, &ipfix_ingress_jmp_table, 0);
	return TC_ACT_UNSPEC;
}

char _license[] SEC("license") = "Dual BSD/GPL";
