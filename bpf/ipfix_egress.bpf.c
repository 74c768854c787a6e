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

IPFIX_MAPS(egress);

/* SCHED_CLS without an expected attach type: fits tc-root's prog array. */
SEC("tc")
int _egress_flow_monitoring(struct __sk_buff *skb)
{
	const struct flow_maps maps = IPFIX_MAPS_REF(egress);

	/* Where a forwarded packet came in; 0 when it is locally sent. */
	flow_meter(skb, &maps, skb->ingress_ifindex);
	bpf_tail_call(skb, &ipfix_egress_jmp_table, 0);
	return TC_ACT_UNSPEC;
}

char _license[] SEC("license") = "Dual BSD/GPL";
