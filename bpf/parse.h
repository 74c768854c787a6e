/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Header-only packet parser: Ethernet, up to two VLAN tags, IPv4, IPv6 with a
 * bounded extension-header walk, TCP, UDP, SCTP, ICMP, ICMPv6. Every header
 * is reached through skb_header(): in place in the linear data when it is
 * there (bounds-checked against data_end), else copied by
 * bpf_skb_load_bytes(), which bounds-checks against the whole skb (linear and
 * paged parts). Neither modifies the skb.
 */
#ifndef PARSE_H
#define PARSE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "flow_abi.h"

/* 802.1Q inside 802.1ad: deeper stacks are a parse failure. */
#define VLAN_MAX_DEPTH 2
/* Hop-by-hop, routing, destination options and fragment headers walked. */
#define IPV6_EXT_MAX 6

#define IPV4_FRAG_OFFSET_MASK 0x1fff
#define IPV6_FRAG_OFFSET_MASK 0xfff8
#define TCP_HDR_MIN 20
#define UDP_HDR_LEN 8
#define SCTP_HDR_LEN 12
#define ICMP_HDR_LEN 8
#define IPV6_HDR_LEN 40
/*
 * Headers starting below this offset are read straight from the linear data;
 * further in they take the helper. Keeps packet-pointer offsets far below
 * the verifier's MAX_PACKET_OFF (0xffff), else it drops the range check
 * ("invalid access to packet"). 0 sends every read through the helper (a
 * bench variant measures that path).
 */
#ifndef PARSE_DIRECT_LIMIT
#define PARSE_DIRECT_LIMIT 0x4000
#endif

enum parse_result {
	PARSE_OK = 0,
	PARSE_NON_IP,
	PARSE_FAILED,
};

/* What one packet contributes to its flow, besides the key. */
struct pkt_meta {
	struct flow_key key;
	__u16 frame_vlan[VLAN_MAX_DEPTH]; /* VLAN IDs of in-frame tags */
	__u8 frame_vlans; /* how many of frame_vlan are set */
	__u8 src_mac[6];
	__u8 dst_mac[6];
	__u32 ip_len; /* L3 length of the (super-)packet */
	__u32 hdrs_len; /* L3 + L4 headers, repeated in every GSO segment */
	__u32 tcp_flags;
	__u8 ttl;
	__u8 tos;
};

struct vlan_tag {
	__be16 tci;
	__be16 encap_proto;
};

struct ipv6_ext {
	__u8 nexthdr;
	__u8 hdrlen;
	__be16 frag_off; /* only meaningful in a fragment header */
};

/*
 * The @len bytes at @off, as skb_header_pointer() does it: a pointer into
 * the linear data when they are there, else a copy in @buf (NULL when the
 * skb is shorter). @len must be a constant. Reading in place matters: a
 * helper call costs more than the whole parse (tens of ns with return
 * thunks), and a copy out of the packet is done byte by byte (its alignment
 * is unknown to the compiler).
 */
static __always_inline const void *skb_header(struct __sk_buff *skb, __u32 off,
					      void *buf, __u32 len)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;

	if (off < PARSE_DIRECT_LIMIT && data + off + len <= data_end)
		return data + off;
	if (bpf_skb_load_bytes(skb, off, buf, len))
		return NULL;
	return buf;
}

#define VLAN_VID_MASK 0x0fff

/*
 * Walks Ethernet and VLAN tags; returns the ethertype, sets *l3_off, the
 * MAC addresses and the in-frame VLAN IDs.
 */
static __always_inline int eth_parse(struct __sk_buff *skb, __u32 *l3_off,
				     __u16 *proto, struct pkt_meta *m)
{
	const struct ethhdr *eth;
	const struct vlan_tag *tag;
	struct ethhdr eth_buf;
	struct vlan_tag tag_buf;
	__u32 off = sizeof(*eth);
	__u16 p;
	int i;

	eth = skb_header(skb, 0, &eth_buf, sizeof(eth_buf));
	if (!eth)
		return PARSE_FAILED;
	__builtin_memcpy(m->src_mac, eth->h_source, ETH_ALEN);
	__builtin_memcpy(m->dst_mac, eth->h_dest, ETH_ALEN);
	p = bpf_ntohs(eth->h_proto);
#pragma unroll
	for (i = 0; i < VLAN_MAX_DEPTH; i++) {
		if (p != ETH_P_8021Q && p != ETH_P_8021AD)
			break;
		tag = skb_header(skb, off, &tag_buf, sizeof(tag_buf));
		if (!tag)
			return PARSE_FAILED;
		m->frame_vlan[i] = bpf_ntohs(tag->tci) & VLAN_VID_MASK;
		m->frame_vlans = i + 1;
		p = bpf_ntohs(tag->encap_proto);
		off += sizeof(*tag);
	}
	if (p == ETH_P_8021Q || p == ETH_P_8021AD)
		return PARSE_FAILED;
	*l3_off = off;
	*proto = p;
	return PARSE_OK;
}

/*
 * Length of the L3 (super-)packet: the IP header's own length for a plain
 * packet, the skb's length for a GSO packet (BIG TCP writes 0 there).
 */
static __always_inline int ip_len_check(struct __sk_buff *skb, __u32 l3_off,
					__u32 hdr_len, __u32 claimed,
					__u32 *ip_len)
{
	__u32 frame = skb->len - l3_off;

	if (skb->len < l3_off)
		return PARSE_FAILED;
	if (skb->gso_size)
		claimed = frame;
	if (claimed < hdr_len || claimed > frame)
		return PARSE_FAILED;
	*ip_len = claimed;
	return PARSE_OK;
}

static __always_inline int ipv4_parse(struct __sk_buff *skb, __u32 l3_off,
				      struct pkt_meta *m, __u32 *l4_off,
				      int *has_l4)
{
	const struct iphdr *ip;
	struct iphdr ip_buf;
	__u32 hdr_len;

	ip = skb_header(skb, l3_off, &ip_buf, sizeof(ip_buf));
	if (!ip)
		return PARSE_FAILED;
	if (ip->version != 4 || ip->ihl < 5)
		return PARSE_FAILED;
	hdr_len = ip->ihl * 4;
	if (ip_len_check(skb, l3_off, hdr_len, bpf_ntohs(ip->tot_len),
			 &m->ip_len))
		return PARSE_FAILED;
	/* saddr and daddr are adjacent: the key's packed IPv4 addresses. */
	__builtin_memcpy(m->key.addr, &ip->saddr, 2 * sizeof(ip->saddr));
	m->key.ip_version = 4;
	m->key.protocol = ip->protocol;
	m->ttl = ip->ttl;
	m->tos = ip->tos;
	m->hdrs_len = hdr_len;
	*l4_off = l3_off + hdr_len;
	*has_l4 = !(bpf_ntohs(ip->frag_off) & IPV4_FRAG_OFFSET_MASK);
	return PARSE_OK;
}

/* The extension headers the walk follows (not AH, ESP, Mobility). */
static __always_inline int ipv6_is_walked_ext(__u8 nh)
{
	return nh == IPPROTO_HOPOPTS || nh == IPPROTO_ROUTING ||
	       nh == IPPROTO_DSTOPTS || nh == IPPROTO_FRAGMENT;
}

static __always_inline int ipv6_parse(struct __sk_buff *skb, __u32 l3_off,
				      struct pkt_meta *m, __u32 *l4_off,
				      int *has_l4)
{
	const struct ipv6hdr *ip6;
	const struct ipv6_ext *ext;
	struct ipv6hdr ip6_buf;
	struct ipv6_ext ext_buf;
	__u32 off = l3_off + IPV6_HDR_LEN;
	__u32 claimed;
	__u8 nh;
	int i;

	ip6 = skb_header(skb, l3_off, &ip6_buf, sizeof(ip6_buf));
	if (!ip6)
		return PARSE_FAILED;
	if (ip6->version != 6)
		return PARSE_FAILED;
	claimed = IPV6_HDR_LEN + bpf_ntohs(ip6->payload_len);
	/* Jumbogram: the length lives in a hop-by-hop option. */
	if (!ip6->payload_len && ip6->nexthdr == IPPROTO_HOPOPTS)
		claimed = skb->len - l3_off;
	if (ip_len_check(skb, l3_off, IPV6_HDR_LEN, claimed, &m->ip_len))
		return PARSE_FAILED;
	/* saddr and daddr are adjacent: the key's source then destination. */
	__builtin_memcpy(m->key.addr, &ip6->saddr, 2 * sizeof(ip6->saddr));
	m->ttl = ip6->hop_limit;
	m->tos = (ip6->priority << 4) | (ip6->flow_lbl[0] >> 4);

	*has_l4 = 1;
	nh = ip6->nexthdr;
#pragma unroll
	for (i = 0; i < IPV6_EXT_MAX; i++) {
		if (!ipv6_is_walked_ext(nh))
			break;
		ext = skb_header(skb, off, &ext_buf, sizeof(ext_buf));
		if (!ext)
			return PARSE_FAILED;
		if (nh == IPPROTO_FRAGMENT) {
			if (bpf_ntohs(ext->frag_off) & IPV6_FRAG_OFFSET_MASK)
				*has_l4 = 0;
			off += 8;
		} else {
			off += (ext->hdrlen + 1) * 8;
		}
		nh = ext->nexthdr;
		/*
		 * After the fragment header of a later fragment comes payload,
		 * not the headers the first fragment starts with: the next
		 * header it names is the protocol (as ipv6_skip_exthdr()).
		 */
		if (!*has_l4)
			break;
	}
	if (*has_l4 && ipv6_is_walked_ext(nh))
		return PARSE_FAILED;
	if (off - l3_off > m->ip_len)
		return PARSE_FAILED;

	m->key.ip_version = 6;
	m->key.protocol = nh;
	m->hdrs_len = off - l3_off;
	*l4_off = off;
	return PARSE_OK;
}

/*
 * Ports, TCP flags or ICMP type/code. Each protocol reads its header with a
 * constant length (skb_header() needs one) and only within it: the verifier
 * knows the length per branch, not per protocol number.
 */
static __always_inline int l4_parse(struct __sk_buff *skb, __u32 l4_off,
				    __u32 room, struct pkt_meta *m)
{
	__u8 buf[TCP_HDR_MIN];
	const __u8 *b;
	__u32 l4_len;
	__u8 proto = m->key.protocol;
	int icmp = (proto == IPPROTO_ICMP && m->key.ip_version == 4) ||
		   (proto == IPPROTO_ICMPV6 && m->key.ip_version == 6);

	if (proto == IPPROTO_TCP) {
		if (TCP_HDR_MIN > room)
			return PARSE_FAILED;
		b = skb_header(skb, l4_off, buf, TCP_HDR_MIN);
		if (!b)
			return PARSE_FAILED;
		l4_len = (b[12] >> 4) * 4;
		if (l4_len < TCP_HDR_MIN || l4_len > room)
			return PARSE_FAILED;
		m->tcp_flags = ((__u32)(b[12] & 1) << 8) | b[13];
	} else if (proto == IPPROTO_SCTP) {
		l4_len = SCTP_HDR_LEN;
		if (l4_len > room)
			return PARSE_FAILED;
		b = skb_header(skb, l4_off, buf, SCTP_HDR_LEN);
	} else if (proto == IPPROTO_UDP || proto == IPPROTO_UDPLITE || icmp) {
		_Static_assert(UDP_HDR_LEN == ICMP_HDR_LEN, "one read");
		l4_len = UDP_HDR_LEN;
		if (l4_len > room)
			return PARSE_FAILED;
		b = skb_header(skb, l4_off, buf, UDP_HDR_LEN);
	} else {
		return PARSE_OK; /* a flow with ports 0 */
	}
	if (!b)
		return PARSE_FAILED;
	if (icmp) {
		m->key.icmp_type = b[0];
		m->key.icmp_code = b[1];
	} else {
		m->key.src_port = ((__u16)b[0] << 8) | b[1];
		m->key.dst_port = ((__u16)b[2] << 8) | b[3];
	}
	m->hdrs_len += l4_len;
	return PARSE_OK;
}

/* Fills *m from the packet; m must be zeroed by the caller. */
static __always_inline int pkt_parse(struct __sk_buff *skb, struct pkt_meta *m)
{
	/*
	 * Zeroed: where a path never sets them, clang may spill whatever a
	 * register held, and the verifier refuses that ("R2 !read_ok").
	 */
	__u32 l3_off = 0, l4_off = 0;
	int has_l4 = 0;
	__u16 proto;
	int ret;

	ret = eth_parse(skb, &l3_off, &proto, m);
	if (ret)
		return ret;
	if (proto == ETH_P_IP)
		ret = ipv4_parse(skb, l3_off, m, &l4_off, &has_l4);
	else if (proto == ETH_P_IPV6)
		ret = ipv6_parse(skb, l3_off, m, &l4_off, &has_l4);
	else
		return PARSE_NON_IP;
	if (ret || !has_l4)
		return ret;
	return l4_parse(skb, l4_off, m->ip_len - (l4_off - l3_off), m);
}

/*
 * The outer and inner VLAN IDs of the key. The outer tag may sit in
 * skb->vlan_tci rather than in the frame: the kernel moves it there before
 * tc ingress, and a VLAN device on a NIC with transmit insertion leaves it
 * there at egress. Then the first in-frame tag is the inner one.
 */
static __always_inline void pkt_vlans(struct __sk_buff *skb, struct pkt_meta *m)
{
	if (skb->vlan_present) {
		m->key.vlan_id = skb->vlan_tci & VLAN_VID_MASK;
		m->key.inner_vlan_id = m->frame_vlans ? m->frame_vlan[0] : 0;
	} else {
		m->key.vlan_id = m->frame_vlans ? m->frame_vlan[0] : 0;
		m->key.inner_vlan_id =
			m->frame_vlans > 1 ? m->frame_vlan[1] : 0;
	}
}

#endif /* PARSE_H */
