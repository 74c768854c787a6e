//! Bad frames for tests/bad_input*.rs: a seeded PRNG, random frames,
//! mutations of real frames, and the malformed shapes the issue lists.
//! Deterministic: the same seed gives the same frames on every run.

#![allow(dead_code)] // shared by tests/bad_input.rs and tests/bad_input_veth.rs

use std::net::{Ipv4Addr, Ipv6Addr};

use super::common::frames::*;

/// Longest untagged frame on a 1500-byte MTU (no FCS).
pub const MAX_FRAME: usize = 1514;

pub use super::common::rng::Rng;

const A4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
const B4: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 9);
const A6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x51, 0, 0, 0, 0, 7);
const B6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x113, 0, 0, 0, 0, 9);

fn tcp(sport: u16, dport: u16) -> Transport {
    Transport::tcp(
        &Tcp::new(sport, dport)
            .flags(0x18)
            .options(&[2, 4, 5, 0xb4, 1, 1, 4, 2])
            .payload(&[0x61; 37]),
    )
}

/// Real frames of every shape the parser walks, all well formed: IPv4 and
/// IPv6, TCP (options), UDP, SCTP, ICMP, ICMPv6, GRE, fragments, extension
/// headers, one and two VLAN tags. TEST-NET addresses off every test link.
pub fn valid_frames() -> Vec<Vec<u8>> {
    let eth = Ethernet::new();
    let udp = Transport::udp(5353, 53, &[0x62; 23]);
    let udp6 = Transport::udp(40000, 443, &[0x63; 48]);
    vec![
        eth.ipv4(
            &Ipv4::new(A4, B4)
                .options(&[1, 1, 1, 0])
                .carrying(&tcp(33000, 80)),
        ),
        eth.ipv4(&Ipv4::new(A4, B4).carrying(&udp)),
        eth.ipv4(&Ipv4::new(A4, B4).carrying(&Transport::icmp(8, 0, &[0x64; 56]))),
        eth.ipv4(&Ipv4::new(A4, B4).carrying(&Transport::sctp(9, 10, &[0; 16]))),
        eth.ipv4(&Ipv4::new(A4, B4).carrying(&Transport::raw(IPPROTO_GRE, &[0; 24]))),
        eth.ipv4(&Ipv4::new(A4, B4).carrying(&udp).fragment(0, true)),
        eth.ipv4(&Ipv4::new(A4, B4).carrying(&udp).fragment(185, false)),
        eth.ipv6(
            &Ipv6::new(A6, B6)
                .ext(Ext::hop_by_hop())
                .carrying(&tcp(33001, 443)),
        ),
        eth.ipv6(
            &Ipv6::new(A6, B6)
                .ext(Ext::routing())
                .ext(Ext::dest_opts())
                .carrying(&udp6),
        ),
        eth.ipv6(&Ipv6::new(A6, B6).carrying(&Transport::icmpv6(128, 0, &[0x65; 56]))),
        eth.ipv6(
            &Ipv6::new(A6, B6)
                .ext(Ext::fragment(0, true))
                .carrying(&udp6),
        ),
        eth.ipv6(
            &Ipv6::new(A6, B6)
                .ext(Ext::fragment(90, false))
                .carrying(&udp6),
        ),
        Ethernet::new()
            .vlan(TPID_8021AD, 5)
            .vlan(TPID_8021Q, 6)
            .ipv4(&Ipv4::new(A4, B4).carrying(&udp)),
        Ethernet::new()
            .vlan(TPID_8021Q, 7)
            .ipv6(&Ipv6::new(A6, B6).carrying(&tcp(33002, 22))),
        Ethernet::new().frame(ETH_P_ARP, &[0; 28]),
    ]
}

/// Values that steer header fields into their edge cases: version
/// nibbles, IHL, ethertype and next-header bytes, zero and all ones.
const INTERESTING: [u8; 16] = [
    0x00, 0xff, 0x80, 0x7f, 0x45, 0x4f, 0x40, 0x60, 0x08, 0x86, 0xdd, 0x81, 0x88, 0xa8, 0x2c, 0x3c,
];

/// `base` with 1..=8 bytes changed (mostly in the first 80, where the
/// headers are), sometimes truncated or extended with random bytes; never
/// shorter than 14 or longer than `max_len`.
pub fn mutate(rng: &mut Rng, base: &[u8], max_len: usize) -> Vec<u8> {
    let mut f = base.to_vec();
    for _ in 0..rng.range(1, 8) {
        let span = if rng.chance(4) {
            f.len()
        } else {
            f.len().min(80)
        };
        let at = rng.below(span);
        f[at] = match rng.below(3) {
            0 => rng.byte(),
            1 => f[at] ^ (1 << rng.below(8)),
            _ => INTERESTING[rng.below(INTERESTING.len())],
        };
    }
    if rng.chance(8) {
        f.truncate(rng.range(ETH_HLEN, f.len()));
    } else if rng.chance(8) {
        let extra = rng.range(1, max_len.saturating_sub(f.len()).max(1));
        let at = f.len();
        f.resize((at + extra).min(max_len), 0);
        rng.fill(&mut f[at..]);
    }
    f
}

/// `len` random bytes.
pub fn random_frame(rng: &mut Rng, len: usize) -> Vec<u8> {
    let mut f = vec![0u8; len];
    rng.fill(&mut f);
    f
}

/// Random bytes behind an IPv4, IPv6 or VLAN ethertype, the version nibble
/// right half of the time: random input that reaches the IP parsers.
pub fn random_ip_frame(rng: &mut Rng, len: usize) -> Vec<u8> {
    let mut f = random_frame(rng, len.max(ETH_HLEN));
    let tags = match rng.below(4) {
        0 | 1 => 0,
        2 => 1,
        _ => rng.range(2, 3),
    };
    let mut at = 12;
    for _ in 0..tags {
        if at + 4 > f.len() {
            break;
        }
        let tpid = if rng.chance(2) {
            TPID_8021Q
        } else {
            TPID_8021AD
        };
        f[at..at + 2].copy_from_slice(&tpid.to_be_bytes());
        at += 4;
    }
    if at + 2 <= f.len() {
        let v6 = rng.chance(2);
        let ethertype = if v6 { ETH_P_IPV6 } else { ETH_P_IP };
        f[at..at + 2].copy_from_slice(&ethertype.to_be_bytes());
        if at + 2 < f.len() && rng.chance(2) {
            let version = if v6 { 0x60 } else { 0x40 };
            f[at + 2] = version | (f[at + 2] & 0x0f);
        }
    }
    f
}

/// The malformed (and borderline) shapes the issue names, labelled: every
/// prefix of a TCP, a QinQ UDP and an IPv6 UDP frame (zero length
/// included); IHL below 5 and beyond the packet; total lengths larger and
/// smaller than the frame; fragment shapes; extension-header chains at and
/// past the walk limit; VLAN stacks of 3 and 4 tags.
pub fn malformed_shapes() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let eth = Ethernet::new();
    let udp = Transport::udp(6000, 6001, &[0x62; 9]);
    let v4 = || Ipv4::new(A4, B4).carrying(&udp);
    let v6 = || Ipv6::new(A6, B6).carrying(&Transport::udp(7000, 7001, &[0x63; 12]));
    let qinq = Ethernet::new().vlan(TPID_8021AD, 5).vlan(TPID_8021Q, 6);
    for (what, frame) in [
        (
            "ipv4 tcp",
            eth.ipv4(&Ipv4::new(A4, B4).carrying(&tcp(33000, 80))),
        ),
        ("qinq ipv4 udp", qinq.ipv4(&v4())),
        ("ipv6 hbh udp", eth.ipv6(&v6().ext(Ext::hop_by_hop()))),
    ] {
        for cut in 0..frame.len() {
            out.push((format!("{what} cut at {cut}"), frame[..cut].to_vec()));
        }
    }
    for ihl in 0..5 {
        out.push((format!("ihl {ihl}"), eth.ipv4(&v4().ihl(ihl))));
    }
    out.push(("ihl 15 beyond the packet".into(), eth.ipv4(&v4().ihl(15))));
    out.push((
        "ihl 15, total length claims it".into(),
        eth.ipv4(&v4().ihl(15).total_len(60)),
    ));
    for (what, len) in [
        ("total length 1 more than the frame", v4().len() + 1),
        ("total length 65535", 65535),
        ("total length 0", 0),
        ("total length below the header", 19),
        ("total length below the UDP header", 27),
        ("total length 1 less than the packet", v4().len() - 1),
    ] {
        let len = u16::try_from(len).expect("fits");
        out.push((what.into(), eth.ipv4(&v4().total_len(len))));
    }
    for (what, ip) in [
        ("first fragment", v4().fragment(0, true)),
        ("middle fragment", v4().fragment(100, true)),
        ("last fragment", v4().fragment(200, false)),
        ("fragment offset with DF", v4().frag_off(IPV4_DF | 3)),
        ("evil bit", v4().frag_off(0x8000)),
        (
            "first fragment too short for UDP",
            Ipv4::new(A4, B4)
                .protocol(IPPROTO_UDP)
                .payload(&[0; 4])
                .fragment(0, true),
        ),
        (
            "later fragment of 1 byte",
            Ipv4::new(A4, B4)
                .protocol(IPPROTO_TCP)
                .payload(&[0])
                .fragment(7, false),
        ),
    ] {
        out.push((format!("ipv4 {what}"), eth.ipv4(&ip)));
    }
    for (what, ext) in [
        ("first", Ext::fragment(0, true)),
        ("later", Ext::fragment(50, true)),
        ("atomic", Ext::fragment(0, false)),
    ] {
        out.push((format!("ipv6 {what} fragment"), eth.ipv6(&v6().ext(ext))));
    }
    for n in [6, 7, 12] {
        let mut ip = v6();
        for i in 0..n {
            ip = ip.ext(if i % 2 == 0 {
                Ext::dest_opts()
            } else {
                Ext::routing()
            });
        }
        out.push((format!("ipv6 {n} extension headers"), eth.ipv6(&ip)));
    }
    out.push((
        "ipv6 extension header longer than the packet".into(),
        eth.ipv6(&v6().ext(Ext::DestOpts { len8: 0 }).payload_len(7)),
    ));
    for tags in [3, 4] {
        let mut e = Ethernet::new();
        for i in 0..tags {
            let tpid = if i == 0 { TPID_8021AD } else { TPID_8021Q };
            e = e.vlan(tpid, i + 1);
        }
        out.push((format!("{tags} vlan tags"), e.ipv4(&v4())));
    }
    out
}

/// A frame of exactly `len` octets: IPv4 UDP (or IPv6 UDP) filling it,
/// headers consistent.
pub fn udp_of_len(v6: bool, len: usize) -> Vec<u8> {
    let overhead = ETH_HLEN + if v6 { IPV6_HLEN } else { IPV4_HLEN } + UDP_HLEN;
    let payload = vec![0x6a; len - overhead];
    let t = Transport::udp(9000, 9001, &payload);
    let f = if v6 {
        Ethernet::new().ipv6(&Ipv6::new(A6, B6).carrying(&t))
    } else {
        Ethernet::new().ipv4(&Ipv4::new(A4, B4).carrying(&t))
    };
    assert_eq!(f.len(), len);
    f
}
