// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A network function for tests, chained after ours by l3afd (a higher
 * seq_id): it counts IPv4 UDP packets and their IP octets per destination
 * port in witness_ingress_udp, so a test can check that every packet our
 * program saw reached the next program in the chain. It then tail-calls its
 * own slot 0, as every function in an l3afd chain does. Differs from
 * witness_egress.bpf.c in names only.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

struct witness_count {
	__u64 packets;
	__u64 octets;
};

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} witness_ingress_jmp_table SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct witness_count);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} witness_ingress_udp SEC(".maps");

static __always_inline void witness_count_udp(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);
	struct udphdr *udp;
	struct witness_count one = {1, 0}, *c;
	__u32 port;

	if ((void *)(ip + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP) ||
	    ip->protocol != IPPROTO_UDP || ip->ihl != 5)
		return;
	udp = (void *)(ip + 1);
	if ((void *)(udp + 1) > end)
		return;
	port = bpf_ntohs(udp->dest);
	one.octets = bpf_ntohs(ip->tot_len);
	c = bpf_map_lookup_elem(&witness_ingress_udp, &port);
	if (c) {
		__sync_fetch_and_add(&c->packets, 1);
		__sync_fetch_and_add(&c->octets, one.octets);
	} else {
		bpf_map_update_elem(&witness_ingress_udp, &port, &one,
				    BPF_NOEXIST);
	}
}

SEC("tc")
int witness_ingress(struct __sk_buff *skb)
{
	witness_count_udp(skb);
	bpf_tail_call(skb, &witness_ingress_jmp_table, 0);
	return TC_ACT_UNSPEC;
}

char _license[] SEC("license") = "Dual BSD/GPL";
