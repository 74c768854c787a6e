// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A tc-root for tests: the public contract of l3afd's tc-root ingress object
 * (tc_root_ingress.bpf.o), written here from that contract alone. l3afd loads
 * it, pins tc_ingress_root_array by name, attaches tc_ingress_root to the
 * interface (TCX or clsact) and puts the first network function into slot 0.
 * Differs from tc_root_egress.bpf.c in names only.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tc_ingress_root_array SEC(".maps");

SEC("tc")
int tc_ingress_root(struct __sk_buff *skb)
{
	bpf_tail_call(skb, &tc_ingress_root_array, 0);
	/* Nothing chained: let the packet through. */
	return TC_ACT_OK;
}

char _license[] SEC("license") = "Dual BSD/GPL";
