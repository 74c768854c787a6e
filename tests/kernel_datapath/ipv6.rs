//! IPv6: extension headers, malformed headers, jumbograms, fragments, ICMPv6.

use crate::harness::*;

#[test]
fn ipv6_each_extension_header_leads_to_the_upper_layer() {
    crate::common::require_root!();
    let t = load();
    let tcp = Transport::tcp(
        &Tcp::new(50000, 22)
            .flags(TCP_ACK | TCP_PSH)
            .payload(&[1; 9]),
    );
    let hbh = Ipv6::new(A6, B6).carrying(&tcp).ext(Ext::hop_by_hop());
    let routing = udp6(1, 2, &[0; 3]).ext(Ext::routing());
    let dstopts = Ipv6::new(A6, B6)
        .carrying(&Transport::sctp(3, 4, &[0; 4]))
        .ext(Ext::dest_opts());
    let first_frag = udp6(5, 6, &[0; 100]).ext(Ext::fragment(0, true));
    let later_frag = udp6(5, 6, &[0; 100]).ext(Ext::fragment(200, false));
    // The longest hop-by-hop header there is: (255 + 1) * 8 bytes.
    let huge = udp6(7, 8, &[]).ext(Ext::HopByHop { len8: 255 });
    // IPV6_EXT_MAX (6) headers: the walk just reaches the upper layer.
    let six = udp6(9, 10, &[])
        .ext(Ext::hop_by_hop())
        .ext(Ext::dest_opts())
        .ext(Ext::routing())
        .ext(Ext::fragment(0, true))
        .ext(Ext::DestOpts { len8: 0 })
        .ext(Ext::dest_opts());
    let none = Ipv6::new(A6, B6).ext(Ext::dest_opts()); // next header 59
    for ip in [
        &hbh,
        &routing,
        &dstopts,
        &first_frag,
        &later_frag,
        &huge,
        &six,
        &none,
    ] {
        send(&t, &eth6(ip));
    }
    assert_eq!(huge.len(), 40 + 2048 + 8);
    assert_flows(
        &t,
        &[
            (
                key6(IPPROTO_TCP, 50000, 22),
                Meter::one(hbh.len()).flags(TCP_ACK | TCP_PSH),
            ),
            (key6(IPPROTO_UDP, 1, 2), Meter::one(routing.len())),
            (key6(IPPROTO_SCTP, 3, 4), Meter::one(dstopts.len())),
            (key6(IPPROTO_UDP, 5, 6), Meter::one(first_frag.len())),
            (key6(IPPROTO_UDP, 0, 0), Meter::one(later_frag.len())),
            (key6(IPPROTO_UDP, 7, 8), Meter::one(huge.len())),
            (key6(IPPROTO_UDP, 9, 10), Meter::one(six.len())),
            (key6(IPPROTO_NONE, 0, 0), Meter::one(none.len())),
        ],
    );
    assert_stats(&t, stats(8, 0, 0));
}

#[test]
fn ipv6_malformed_headers_are_parse_failures() {
    crate::common::require_root!();
    let t = load();
    let seven = (0..7).fold(udp6(1, 2, &[]), |ip, _| ip.ext(Ext::dest_opts()));
    let base = udp6(1, 2, &[0; 10]); // 58 bytes
    let mut v4 = eth6(&base);
    v4[ETH_HLEN] = 0x40 | (v4[ETH_HLEN] & 0x0f);
    let bad = [
        ("chain longer than IPV6_EXT_MAX", eth6(&seven)),
        (
            "payload length beyond the frame",
            eth6(&base.clone().payload_len(19)),
        ),
        (
            "extension header beyond the payload length",
            eth6(&udp6(1, 2, &[0; 40]).ext(Ext::hop_by_hop()).payload_len(7)),
        ),
        (
            "UDP header beyond the payload length",
            eth6(&base.clone().payload_len(7)),
        ),
        ("version 4 under ethertype IPv6", v4),
    ];
    for (what, frame) in &bad {
        let before = t.stats().parse_failed;
        send(&t, frame);
        assert_eq!(t.stats().parse_failed, before + 1, "{what}");
    }
    assert_flows(&t, &[]);

    // A payload length shorter than the frame is padding: ok.
    let mut padded = eth6(&base);
    padded.extend_from_slice(&[0xee; 30]);
    send(&t, &padded);
    send(&t, &eth6(&base.clone().payload_len(8)));
    assert_flows(&t, &[(key6(IPPROTO_UDP, 1, 2), Meter::packets(2, 58 + 48))]);
    assert_stats(&t, stats(7, 0, 5));
}

/// Payload length 0 with a hop-by-hop header is taken as a jumbogram
/// (RFC 2675) without looking for the Jumbo Payload option: the frame's
/// length counts, Ethernet padding included. Documents the behaviour.
#[test]
fn ipv6_payload_length_0_with_hop_by_hop_counts_the_frame() {
    crate::common::require_root!();
    let t = load();
    let ip = udp6(1, 2, &[0; 4]).ext(Ext::hop_by_hop()).payload_len(0);
    let mut frame = eth6(&ip);
    send(&t, &frame);
    frame.extend_from_slice(&[0; 6]);
    send(&t, &frame);
    // Without hop-by-hop, payload length 0 leaves no room for UDP.
    send(&t, &eth6(&udp6(1, 2, &[0; 4]).payload_len(0)));
    assert_flows(
        &t,
        &[(
            key6(IPPROTO_UDP, 1, 2),
            Meter::packets(2, (2 * ip.len() + 6) as u64),
        )],
    );
    assert_stats(&t, stats(3, 0, 1));
}

/// In a fragment that is not the first, the bytes after the fragment header
/// are payload: a destination-options header (or any other) named by the
/// fragment header sits in the first fragment only. The walk must stop
/// there instead of reading payload bytes as headers.
#[test]
fn ipv6_later_fragment_payload_is_not_read_as_headers() {
    crate::common::require_root!();
    let t = load();
    // Payload that reads as "dest-opts, next header UDP": a walk through
    // it would key the fragment as UDP.
    let looks_like_udp = Ipv6::new(A6, B6)
        .ext(Ext::fragment(100, false))
        .protocol(IPPROTO_DSTOPTS)
        .payload(&[IPPROTO_UDP, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78]);
    // Payload that reads as an endless dest-opts chain: a walk through it
    // gives up, and the fragment would not be metered at all.
    let looks_like_a_chain = Ipv6::new(A6, B6)
        .ext(Ext::fragment(200, true))
        .protocol(IPPROTO_DSTOPTS)
        .payload(&[IPPROTO_DSTOPTS; 64]);
    send(&t, &eth6(&looks_like_udp));
    send(&t, &eth6(&looks_like_a_chain));
    // The first fragment does carry the dest-opts header: walked through.
    let first = udp6(5, 6, &[0; 16])
        .ext(Ext::fragment(0, true))
        .ext(Ext::dest_opts());
    send(&t, &eth6(&first));
    assert_flows(
        &t,
        &[
            (
                key6(IPPROTO_DSTOPTS, 0, 0),
                Meter::packets(2, (looks_like_udp.len() + looks_like_a_chain.len()) as u64),
            ),
            (key6(IPPROTO_UDP, 5, 6), Meter::one(first.len())),
        ],
    );
    assert_stats(&t, stats(3, 0, 0));
}

#[test]
fn icmpv6_is_keyed_by_type_and_icmp_in_ipv6_is_not() {
    crate::common::require_root!();
    let t = load();
    let request = Ipv6::new(A6, B6).carrying(&Transport::icmpv6(128, 0, &[0; 8]));
    let reply = Ipv6::new(A6, B6).carrying(&Transport::icmpv6(129, 0, &[0; 8]));
    let too_big = Ipv6::new(A6, B6)
        .ext(Ext::dest_opts())
        .carrying(&Transport::icmpv6(2, 0, &[0; 48]));
    // Next header 1 in IPv6 and 58 in IPv4 are not ICMP for that version.
    let icmp_in_v6 =
        Ipv6::new(A6, B6).carrying(&Transport::raw(IPPROTO_ICMP, &[3, 3, 0, 0, 0, 0, 0, 0]));
    let icmpv6_in_v4 =
        Ipv4::new(A4, B4).carrying(&Transport::raw(IPPROTO_ICMPV6, &[128, 0, 0, 0, 0, 0, 0, 0]));
    // Shorter than the 8-byte ICMPv6 header.
    let short = Ipv6::new(A6, B6).carrying(&Transport::raw(IPPROTO_ICMPV6, &[128, 0, 0, 0]));
    for ip in [&request, &reply, &too_big, &icmp_in_v6] {
        send(&t, &eth6(ip));
    }
    send(&t, &eth4(&icmpv6_in_v4));
    send(&t, &eth6(&short));
    assert_flows(
        &t,
        &[
            (icmp(key6(IPPROTO_ICMPV6, 0, 0), 128, 0), Meter::one(56)),
            (icmp(key6(IPPROTO_ICMPV6, 0, 0), 129, 0), Meter::one(56)),
            (
                icmp(key6(IPPROTO_ICMPV6, 0, 0), 2, 0),
                Meter::one(too_big.len()),
            ),
            (key6(IPPROTO_ICMP, 0, 0), Meter::one(48)),
            (key4(IPPROTO_ICMPV6, 0, 0), Meter::one(28)),
        ],
    );
    assert_stats(&t, stats(6, 0, 1));
}
