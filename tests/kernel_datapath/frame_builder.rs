//! The frame builder itself (no kernel needed): golden bytes.

use crate::harness::*;

#[test]
fn frames_ipv4_header_matches_golden_bytes() {
    // The textbook IPv4 checksum example (Wikipedia, "Internet checksum"):
    // no packet is sent, so its private addresses are fine.
    let ip = Ipv4::new(
        Ipv4Addr::new(192, 168, 0, 1),
        Ipv4Addr::new(192, 168, 0, 199),
    )
    .protocol(IPPROTO_UDP)
    .ttl(0x40)
    .frag_off(IPV4_DF)
    .total_len(0x73);
    let ip = Ipv4 { ident: 0, ..ip };
    assert_eq!(
        ip.header(),
        [
            0x45, 0x00, 0x00, 0x73, // version 4, IHL 5, TOS, total length 115
            0x00, 0x00, 0x40, 0x00, // ident 0, DF, offset 0
            0x40, 0x11, 0xb8, 0x61, // TTL 64, UDP, checksum
            192, 168, 0, 1, // source
            192, 168, 0, 199, // destination
        ]
    );
    assert_eq!(inet_checksum(&ip.header()), 0, "a valid header sums to 0");

    let opts = udp4(1, 2, &[9; 3])
        .options(&[1, 1, 1, 1, 1])
        .fragment(3, true);
    assert_eq!(opts.header_len(), 28, "5 option bytes pad to 8");
    assert_eq!(opts.len(), 28 + 8 + 3);
    let b = opts.bytes();
    assert_eq!(b[0], 0x47);
    assert_eq!(&b[2..4], &[0, 39]);
    assert_eq!(&b[6..8], &[0x20, 3], "MF and offset 3");
    assert_eq!(inet_checksum(&b[..28]), 0);
}

#[test]
fn frames_ipv6_chain_links_next_headers() {
    let ip = udp6(7, 8, &[0; 4])
        .ext(Ext::hop_by_hop())
        .ext(Ext::fragment(5, true))
        .traffic_class(0xb8);
    let b = ip.bytes();
    assert_eq!(ip.header_len(), 40 + 8 + 8);
    assert_eq!(b.len(), ip.len());
    assert_eq!(&b[0..2], &[0x6b, 0x81], "version 6, traffic class 0xb8");
    assert_eq!(&b[4..6], &[0, 28], "payload length");
    assert_eq!(b[6], IPPROTO_HOPOPTS);
    assert_eq!(&b[40..44], &[IPPROTO_FRAGMENT, 0, 1, 4], "hbh: PadN of 4");
    assert_eq!(&b[48..52], &[IPPROTO_UDP, 0, 0, 41], "offset 5, M");
    assert_eq!(&b[56..58], &[0, 7], "UDP source port");

    let eth = Ethernet::new()
        .vlan(TPID_8021AD, 10)
        .vlan(TPID_8021Q, 20)
        .ipv6(&ip);
    assert_eq!(
        &eth[12..22],
        &[0x88, 0xa8, 0, 10, 0x81, 0, 0, 20, 0x86, 0xdd]
    );
}

#[test]
fn frames_tcp_flags_land_in_their_bits() {
    let b = Tcp::new(1, 2).flags(TCP_NS | TCP_CWR | TCP_FIN).bytes();
    assert_eq!(b[12], 0x51, "data offset 5, NS");
    assert_eq!(b[13], 0x81, "CWR, FIN");
    let b = Tcp::new(1, 2).options(&[2, 4, 5, 0xb4, 1]).bytes();
    assert_eq!(b.len(), 28);
    assert_eq!(b[12] >> 4, 7);
}
