//! GSO: super-packets count their segments.

use crate::harness::*;

#[test]
fn gso_packets_count_their_segments() {
    crate::common::require_root!();
    let t = load();
    // TCP with timestamps: 20 + 32 header bytes repeated in every segment.
    let big = |sport: u16, payload: usize| {
        Ipv4::new(A4, B4).carrying(&Transport::tcp(
            &Tcp::new(sport, 80)
                .flags(TCP_ACK)
                .options(&[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2])
                .payload(&vec![0x77; payload]),
        ))
    };
    let hdrs = 20 + 32;
    let gso = |segs: u32, size: u32| SkbContext {
        gso_segs: segs,
        gso_size: size,
        ..ctx()
    };
    let mut want = Vec::new();

    // The stack's own segment count.
    let ip = big(1, 3000);
    send_ctx(&t, &eth4(&ip), &gso(5, 1448));
    want.push((
        key4(IPPROTO_TCP, 1, 80),
        Meter::packets(5, (ip.len() + 4 * hdrs) as u64).flags(TCP_ACK),
    ));
    // No count: payload / gso_size rounded up (3000 / 1448 -> 3, 2896 -> 2).
    send_ctx(&t, &eth4(&big(2, 3000)), &gso(0, 1448));
    want.push((
        key4(IPPROTO_TCP, 2, 80),
        Meter::packets(3, (3052 + 2 * hdrs) as u64).flags(TCP_ACK),
    ));
    send_ctx(&t, &eth4(&big(3, 2896)), &gso(0, 1448));
    want.push((
        key4(IPPROTO_TCP, 3, 80),
        Meter::packets(2, (2948 + hdrs) as u64).flags(TCP_ACK),
    ));
    // gso_segs without gso_size is no GSO packet.
    send_ctx(&t, &eth4(&big(4, 3000)), &gso(5, 0));
    want.push((key4(IPPROTO_TCP, 4, 80), Meter::one(3052).flags(TCP_ACK)));
    // BIG TCP writes total length 0: the skb's length counts.
    send_ctx(&t, &eth4(&big(5, 3000).total_len(0)), &gso(3, 1448));
    want.push((
        key4(IPPROTO_TCP, 5, 80),
        Meter::packets(3, (3052 + 2 * hdrs) as u64).flags(TCP_ACK),
    ));
    // IPv6 with a hop-by-hop header: repeated in every segment too.
    let ip6 = Ipv6::new(A6, B6)
        .ext(Ext::hop_by_hop())
        .carrying(&Transport::tcp(&Tcp::new(6, 80).payload(&[0; 2000])));
    send_ctx(&t, &eth6(&ip6), &gso(0, 1000));
    want.push((
        key6(IPPROTO_TCP, 6, 80),
        Meter::packets(2, (ip6.len() + 40 + 8 + 20) as u64),
    ));
    // UDP GSO: 8-byte headers, 1000 / 300 -> 4 segments.
    let udp = udp4(7, 8, &[0; 1000]);
    send_ctx(&t, &eth4(&udp), &gso(0, 300));
    want.push((
        key4(IPPROTO_UDP, 7, 8),
        Meter::packets(4, (udp.len() + 3 * 28) as u64),
    ));
    // A GSO packet that fails to parse counts as one packet.
    send_ctx(&t, &eth4(&udp4(1, 1, &[]).ihl(4)), &gso(5, 1448));

    assert_flows(&t, &want);
    assert_stats(&t, stats(5 + 3 + 2 + 1 + 3 + 2 + 4 + 1, 0, 1));
}
