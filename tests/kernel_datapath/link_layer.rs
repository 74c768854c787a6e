//! Link layer: VLAN tags, non-IP and minimal frames.

use crate::harness::*;

fn vlans(k: FlowKey, vlan_id: u16, inner_vlan_id: u16) -> FlowKey {
    FlowKey {
        vlan_id,
        inner_vlan_id,
        ..k
    }
}

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
    // The VLAN IDs are in the key, whatever the TPIDs: outer 100 alone
    // (two frames), 100 with 200 inside (three).
    assert_flows(
        &t,
        &[
            (
                vlans(key4(IPPROTO_UDP, 1, 2), 100, 0),
                Meter::packets(2, 2 * 34),
            ),
            (
                vlans(key4(IPPROTO_UDP, 1, 2), 100, 200),
                Meter::packets(3, 3 * 34),
            ),
            (
                vlans(key6(IPPROTO_UDP, 1, 2), 100, 0),
                Meter::packets(2, 2 * 54),
            ),
            (
                vlans(key6(IPPROTO_UDP, 1, 2), 100, 200),
                Meter::packets(3, 3 * 54),
            ),
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

/// The same 5-tuple untagged, in VLAN 100, in VLAN 200 and in QinQ 300/100
/// is four flows: overlapping tenant address spaces never merge. The TCI's
/// priority and DEI bits are not part of the ID.
#[test]
fn the_same_tuple_in_different_vlans_is_different_flows() {
    crate::common::require_root!();
    let t = load();
    let ip = udp4(7, 8, &[0; 10]);
    let taggings = [
        (Ethernet::new(), 0, 0, 1),
        (Ethernet::new().vlan(TPID_8021Q, 100), 100, 0, 2),
        (Ethernet::new().vlan(TPID_8021Q, 200), 200, 0, 3),
        // PCP 5 and DEI set around VID 200: the same VLAN.
        (
            Ethernet::new().vlan_tci(TPID_8021Q, 0xb000 | 200),
            200,
            0,
            4,
        ),
        (
            Ethernet::new().vlan(TPID_8021AD, 300).vlan(TPID_8021Q, 100),
            300,
            100,
            5,
        ),
    ];
    for (eth, _, _, n) in &taggings {
        for _ in 0..*n {
            send(&t, &eth.ipv4(&ip));
        }
    }
    let k = key4(IPPROTO_UDP, 7, 8);
    assert_flows(
        &t,
        &[
            (vlans(k, 0, 0), Meter::packets(1, 38)),
            (vlans(k, 100, 0), Meter::packets(2, 2 * 38)),
            (vlans(k, 200, 0), Meter::packets(3 + 4, 7 * 38)),
            (vlans(k, 300, 100), Meter::packets(5, 5 * 38)),
        ],
    );
    assert_stats(&t, stats(15, 0, 0));
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
