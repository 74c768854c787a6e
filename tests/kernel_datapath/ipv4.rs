//! IPv4: transports, options, padding, fragments, header length errors.

use crate::harness::*;

#[test]
fn ipv4_transports_are_keyed_by_protocol_ports_and_icmp_type() {
    crate::common::require_root!();
    let t = load();
    let tcp = tcp4(40000, 443, TCP_SYN);
    let udp = udp4(5353, 53, &[0xab; 17]);
    let sctp = Ipv4::new(A4, B4).carrying(&Transport::sctp(2905, 2906, &[0; 16]));
    let unreachable = Ipv4::new(A4, B4).carrying(&Transport::icmp(3, 3, &[0; 28]));
    let echo = Ipv4::new(A4, B4).carrying(&Transport::icmp(8, 0, &[0; 56]));
    let gre = Ipv4::new(A4, B4).carrying(&Transport::raw(IPPROTO_GRE, &[0, 0, 0x08, 0, 1, 2]));
    // UDP-Lite has UDP's header.
    let udplite = Ipv4::new(A4, B4).carrying(&Transport::raw(
        IPPROTO_UDPLITE,
        &Transport::udp(7, 9, &[0; 4]).bytes,
    ));
    for ip in [&tcp, &udp, &sctp, &unreachable, &echo, &gre, &udplite] {
        send(&t, &eth4(ip));
    }
    assert_flows(
        &t,
        &[
            (key4(IPPROTO_TCP, 40000, 443), Meter::one(40).flags(TCP_SYN)),
            (key4(IPPROTO_UDP, 5353, 53), Meter::one(20 + 8 + 17)),
            (key4(IPPROTO_SCTP, 2905, 2906), Meter::one(20 + 12 + 16)),
            (
                icmp(key4(IPPROTO_ICMP, 0, 0), 3, 3),
                Meter::one(20 + 8 + 28),
            ),
            (
                icmp(key4(IPPROTO_ICMP, 0, 0), 8, 0),
                Meter::one(20 + 8 + 56),
            ),
            (key4(IPPROTO_GRE, 0, 0), Meter::one(26)),
            (key4(IPPROTO_UDPLITE, 7, 9), Meter::one(32)),
        ],
    );
    assert_stats(&t, stats(7, 0, 0));
}

#[test]
fn ipv4_options_of_every_length_keep_the_ports() {
    crate::common::require_root!();
    let t = load();
    let mut want = Vec::new();
    for ihl in 6u8..=15 {
        // NOPs, then End of Option List.
        let mut options = vec![1u8; usize::from(ihl - 5) * 4 - 1];
        options.push(0);
        let sport = 1000 + u16::from(ihl);
        let ip = udp4(sport, 53, &[7; 5]).options(&options);
        assert_eq!(ip.header_len(), usize::from(ihl) * 4);
        send(&t, &eth4(&ip));
        want.push((key4(IPPROTO_UDP, sport, 53), Meter::one(ip.len())));
    }
    assert_flows(&t, &want);
    assert_stats(&t, stats(10, 0, 0));
}

#[test]
fn ethernet_padding_is_not_counted() {
    crate::common::require_root!();
    let t = load();
    // 14 + 20 + 8 + 2 = 44 bytes, padded to the 60-byte minimum.
    let ip = udp4(1, 2, &[1, 2]);
    let frame = Ethernet::new().pad_to(60).ipv4(&ip);
    assert_eq!(frame.len(), 60);
    send(&t, &frame);
    // Padding that is not zero makes no difference either.
    let mut frame = eth4(&udp4(3, 4, &[]));
    frame.extend_from_slice(&[0xff; 100]);
    send(&t, &frame);
    assert_flows(
        &t,
        &[
            (key4(IPPROTO_UDP, 1, 2), Meter::one(30)),
            (key4(IPPROTO_UDP, 3, 4), Meter::one(28)),
        ],
    );
    assert_stats(&t, stats(2, 0, 0));
}

#[test]
fn ipv4_fragments_first_has_ports_later_ones_do_not() {
    crate::common::require_root!();
    let t = load();
    // A 3000-byte UDP datagram in three fragments of 1480 / 1480 / 48 bytes.
    let datagram = Transport::udp(4000, 4001, &[0x5a; 3000 - 8]).bytes;
    let frag = |range: std::ops::Range<usize>, more: bool| {
        let offset = u16::try_from(range.start / 8).unwrap();
        Ipv4::new(A4, B4)
            .protocol(IPPROTO_UDP)
            .payload(&datagram[range])
            .fragment(offset, more)
    };
    let first = frag(0..1480, true);
    let middle = frag(1480..2960, true);
    let last = frag(2960..3000, false);
    for ip in [&first, &middle, &last] {
        send(&t, &eth4(ip));
    }
    // DF with offset 0 is no fragment at all; a later fragment shorter than
    // a UDP header is still metered (its bytes are not a header).
    let df = udp4(4000, 4001, &[]).frag_off(IPV4_DF);
    let tiny = Ipv4::new(A4, B4)
        .protocol(IPPROTO_UDP)
        .payload(&[1, 2, 3])
        .fragment(400, false);
    send(&t, &eth4(&df));
    send(&t, &eth4(&tiny));
    // A later TCP fragment: protocol kept, no flags read from its payload.
    let tcp_later = Ipv4::new(A4, B4)
        .protocol(IPPROTO_TCP)
        .payload(&Tcp::new(9, 9).flags(TCP_SYN | TCP_RST).bytes())
        .fragment(10, false);
    send(&t, &eth4(&tcp_later));

    assert_flows(
        &t,
        &[
            (key4(IPPROTO_UDP, 4000, 4001), Meter::packets(2, 1500 + 28)),
            (key4(IPPROTO_UDP, 0, 0), Meter::packets(3, 1500 + 60 + 23)),
            (key4(IPPROTO_TCP, 0, 0), Meter::one(40)),
        ],
    );
    assert_stats(&t, stats(6, 0, 0));
}

#[test]
fn ipv4_header_length_errors_are_parse_failures() {
    crate::common::require_root!();
    let t = load();
    let base = udp4(1, 2, &[0; 12]); // 40 bytes
    let mut bad = Vec::new();
    for ihl in 0..5 {
        bad.push(("IHL below 5", eth4(&base.clone().ihl(ihl))));
    }
    // IHL 15 = 60 bytes, more than the 40 the total length claims.
    bad.push(("IHL beyond total length", eth4(&base.clone().ihl(15))));
    // IHL 15 with a total length of 60: the frame ends at 40.
    bad.push((
        "IHL beyond the frame",
        eth4(&base.clone().ihl(15).total_len(60)),
    ));
    bad.push((
        "total length beyond the frame",
        eth4(&base.clone().total_len(41)),
    ));
    bad.push((
        "total length below the header",
        eth4(&base.clone().total_len(19)),
    ));
    bad.push((
        "total length cuts the UDP header",
        eth4(&base.clone().total_len(27)),
    ));
    let mut v6 = eth4(&base);
    v6[ETH_HLEN] = 0x65;
    bad.push(("version 6 under ethertype IPv4", v6));
    let n = bad.len() as u64;
    for (what, frame) in &bad {
        let before = t.stats().parse_failed;
        send(&t, frame);
        assert_eq!(t.stats().parse_failed, before + 1, "{what}");
    }
    assert_flows(&t, &[]);

    // Total length shorter than the frame but covering the UDP header: ok.
    send(&t, &eth4(&base.clone().total_len(28)));
    assert_flows(&t, &[(key4(IPPROTO_UDP, 1, 2), Meter::one(28))]);
    assert_stats(&t, stats(n + 1, 0, n));
}
