//! Link layer: VLAN tags, non-IP and minimal frames.

use crate::harness::*;

#[test]
fn vlan_tags_up_to_two_are_walked_three_are_refused() {
    crate::common::require_root!();
    let t = load();
    let ip = udp4(1, 2, &[0; 6]);
    let ip6 = udp6(1, 2, &[0; 6]);
    let tagged = [
        Ethernet::new().vlan(TPID_8021Q, 100),
        Ethernet::new().vlan(TPID_8021AD, 100),
        Ethernet::new().vlan(TPID_8021AD, 100).vlan(TPID_8021Q, 200),
        Ethernet::new().vlan(TPID_8021Q, 100).vlan(TPID_8021Q, 200),
        Ethernet::new()
            .vlan(TPID_8021AD, 100)
            .vlan(TPID_8021AD, 200),
    ];
    for eth in &tagged {
        send(&t, &eth.ipv4(&ip));
        send(&t, &eth.ipv6(&ip6));
    }
    // The key has no VLAN: every tagging lands in the same two flows.
    assert_flows(
        &t,
        &[
            (key4(IPPROTO_UDP, 1, 2), Meter::packets(5, 5 * 34)),
            (key6(IPPROTO_UDP, 1, 2), Meter::packets(5, 5 * 54)),
        ],
    );
    let triple = Ethernet::new()
        .vlan(TPID_8021AD, 1)
        .vlan(TPID_8021Q, 2)
        .vlan(TPID_8021Q, 3);
    send(&t, &triple.ipv4(&ip));
    // Two tags and then a non-IP ethertype.
    send(
        &t,
        &Ethernet::new()
            .vlan(TPID_8021AD, 1)
            .vlan(TPID_8021Q, 2)
            .frame(ETH_P_ARP, &[0; 28]),
    );
    assert_stats(&t, stats(12, 1, 1));
}

#[test]
fn non_ip_and_minimal_frames() {
    crate::common::require_root!();
    let t = load();
    let arp = Ethernet::new().frame(ETH_P_ARP, &[0; 28]);
    send(&t, &arp);
    // 14 bytes: the smallest frame test_run takes.
    send(&t, &Ethernet::new().frame(ETH_P_ARP, &[]));
    // An 802.3 length field instead of an ethertype.
    send(&t, &Ethernet::new().frame(46, &[0; 46]));
    // IP ethertypes with no room for the IP header: behind a VLAN tag
    // test_run always runs the program, which finds no header.
    let tagged = Ethernet::new().vlan(TPID_8021Q, 1);
    send(&t, &tagged.frame(ETH_P_IP, &[0x45; 19]));
    send(&t, &tagged.frame(ETH_P_IPV6, &[0x60; 39]));
    assert_stats(&t, stats(5, 3, 2));
    // Untagged, 6.18 refuses them itself; an older kernel runs the program.
    let mut ran = 0;
    for frame in [
        Ethernet::new().frame(ETH_P_IP, &[]),
        Ethernet::new().frame(ETH_P_IP, &[0x45; 19]),
        Ethernet::new().frame(ETH_P_IPV6, &[]),
        Ethernet::new().frame(ETH_P_IPV6, &[0x60; 39]),
    ] {
        assert_eq!(admission(&frame), Admission::ShortL3);
        ran += u64::from(send_if_admitted(&t, &frame));
    }
    println!("test_run ran {ran} of 4 frames with a short IP header");
    // Shorter than an Ethernet header: always refused, nothing counted.
    for len in [0, 1, 13] {
        let err = try_run(&t, &arp[..len], &ctx()).expect_err("test_run takes a short frame");
        assert_eq!(err.raw_os_error(), Some(nix::libc::EINVAL), "{len} bytes");
    }
    assert_flows(&t, &[]);
    assert_stats(&t, stats(5 + ran, 3, 2 + ran));
}
