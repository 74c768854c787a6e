//! Kernel tests of the real BPF objects through BPF_PROG_TEST_RUN: crafted
//! frames in, verdict and exact map contents out.
//!
//! What the kernel's test_run does with a tc program (net/bpf/test_run.c,
//! checked here on 6.18):
//! - frames shorter than an Ethernet header (14 bytes) are refused with
//!   EINVAL before the program runs, so eth_parse()'s own failure path is
//!   unreachable from here;
//! - it also refuses a frame whose (outer) ethertype is IPv4 or IPv6 when
//!   fewer than 20 or 40 bytes follow the Ethernet header; frames behind a
//!   VLAN tag are not checked. The tests accept a kernel that runs the
//!   program on such frames instead (then they are parse failures);
//! - frames must fit one page with the skb's head- and tailroom (about
//!   3.7 KB here), so GSO super-packets are a few KB, not 64 KB;
//! - `ctx.ifindex` 0 or 1 means loopback, any other index must exist (ENODEV);
//! - `ingress_ifindex`, `gso_segs` and `gso_size` reach the skb as given.
//!
//! Every test loads its own object (maps pinned in a private bpffs directory,
//! removed on drop) and asserts the verdict of every run: TC_ACT_UNSPEC, the
//! program's answer when slot 0 of its jmp table is empty.

mod common;

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};

use libbpf_rs::libbpf_sys;
use libbpf_rs::{MapCore, MapFlags, MapHandle};

use common::bpfobj::{TestObject, TC_ACT_UNSPEC};
use common::frames::*;
use ipfix_flow_exporter::abi::{
    FlowConfig, FlowKey, FlowValue, TCP_ACK, TCP_CWR, TCP_ECE, TCP_FIN, TCP_NS, TCP_PSH, TCP_RST,
    TCP_SYN, TCP_URG,
};
use ipfix_flow_exporter::datapath::test_run::{self, SkbContext};
use ipfix_flow_exporter::flow::{Direction, FlowStats};

const A4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const B4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
const A6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
const B6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);

/// Loopback: the device test_run uses for ifindex 0 and 1.
const LO: u32 = 1;
const TC_ACT_SHOT: u32 = 2;

const TCP_ALL_FLAGS: [u16; 9] = [
    TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK, TCP_URG, TCP_ECE, TCP_CWR, TCP_NS,
];

// ---------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------

fn ctx() -> SkbContext {
    SkbContext {
        ifindex: LO,
        ..SkbContext::default()
    }
}

fn load() -> TestObject {
    TestObject::load(Direction::Ingress)
}

/// Runs `frame` once on loopback; the verdict must be TC_ACT_UNSPEC.
fn send(t: &TestObject, frame: &[u8]) {
    send_ctx(t, frame, &ctx());
}

fn send_ctx(t: &TestObject, frame: &[u8], ctx: &SkbContext) {
    let verdict = t.run_ctx(frame, ctx);
    assert_eq!(
        verdict,
        TC_ACT_UNSPEC,
        "verdict for a {}-byte frame",
        frame.len()
    );
}

/// test_run's answer for a frame it may refuse.
fn try_run(t: &TestObject, frame: &[u8], ctx: &SkbContext) -> io::Result<u32> {
    test_run::run(t.obj.prog.as_fd(), frame, ctx, 1).map(|r| r.retval)
}

/// How test_run treats a frame before the program could see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Admission {
    /// Shorter than an Ethernet header: EINVAL.
    Refused,
    /// Outer ethertype IPv4 (IPv6) and fewer than 20 (40) bytes after the
    /// Ethernet header: EINVAL on 6.18, or run (a parse failure).
    ShortL3,
    Runs,
}

fn admission(frame: &[u8]) -> Admission {
    if frame.len() < ETH_HLEN {
        return Admission::Refused;
    }
    let l3 = frame.len() - ETH_HLEN;
    match u16::from_be_bytes([frame[12], frame[13]]) {
        ETH_P_IP if l3 < IPV4_HLEN => Admission::ShortL3,
        ETH_P_IPV6 if l3 < IPV6_HLEN => Admission::ShortL3,
        _ => Admission::Runs,
    }
}

/// Runs `frame` unless test_run may refuse it, checking that it refuses
/// exactly what `admission` says; true when the program ran.
fn send_if_admitted(t: &TestObject, frame: &[u8]) -> bool {
    let adm = admission(frame);
    match try_run(t, frame, &ctx()) {
        Ok(verdict) if adm != Admission::Refused => {
            assert_eq!(verdict, TC_ACT_UNSPEC, "verdict for {} bytes", frame.len());
            true
        }
        Err(e) if adm != Admission::Runs && e.raw_os_error() == Some(nix::libc::EINVAL) => false,
        other => panic!("{} bytes ({adm:?}): test_run said {other:?}", frame.len()),
    }
}

/// What a flow value holds besides its timestamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Meter {
    packets: u64,
    octets: u64,
    tcp_flags: u32,
    ttl_min: u32,
    ttl_max: u32,
    tos: u8,
    peer_ifindex: u32,
}

impl Meter {
    /// One packet of `l3_len` octets with TTL 64, TOS 0, no flags.
    fn one(l3_len: usize) -> Self {
        Meter::packets(1, l3_len as u64)
    }

    fn packets(packets: u64, octets: u64) -> Self {
        Meter {
            packets,
            octets,
            tcp_flags: 0,
            ttl_min: 64,
            ttl_max: 64,
            tos: 0,
            peer_ifindex: 0,
        }
    }

    fn flags(self, tcp_flags: u16) -> Self {
        Meter {
            tcp_flags: u32::from(tcp_flags),
            ..self
        }
    }

    fn ttl(self, ttl_min: u8, ttl_max: u8) -> Self {
        Meter {
            ttl_min: u32::from(ttl_min),
            ttl_max: u32::from(ttl_max),
            ..self
        }
    }

    fn tos(self, tos: u8) -> Self {
        Meter { tos, ..self }
    }

    fn peer(self, peer_ifindex: u32) -> Self {
        Meter {
            peer_ifindex,
            ..self
        }
    }

    fn of(v: &FlowValue) -> Self {
        Meter {
            packets: v.packets,
            octets: v.octets,
            tcp_flags: v.tcp_flags,
            ttl_min: v.ttl_min,
            ttl_max: v.ttl_max,
            tos: v.tos,
            peer_ifindex: v.peer_ifindex,
        }
    }
}

fn key(src: IpAddr, dst: IpAddr, protocol: u8, sport: u16, dport: u16) -> FlowKey {
    FlowKey {
        ifindex: LO,
        ..FlowKey::from_tuple(src, dst, protocol, sport, dport)
    }
}

/// A4 -> B4 on loopback.
fn key4(protocol: u8, sport: u16, dport: u16) -> FlowKey {
    key(A4.into(), B4.into(), protocol, sport, dport)
}

/// A6 -> B6 on loopback.
fn key6(protocol: u8, sport: u16, dport: u16) -> FlowKey {
    key(A6.into(), B6.into(), protocol, sport, dport)
}

fn icmp(k: FlowKey, ty: u8, code: u8) -> FlowKey {
    FlowKey {
        icmp_type: ty,
        icmp_code: code,
        ..k
    }
}

fn boot_ns() -> u64 {
    use nix::time::{clock_gettime, ClockId};
    let ts = clock_gettime(ClockId::CLOCK_BOOTTIME).expect("reading CLOCK_BOOTTIME");
    u64::try_from(ts.tv_sec()).expect("boot time is positive") * 1_000_000_000
        + u64::try_from(ts.tv_nsec()).expect("nanoseconds are positive")
}

fn sorted(mut flows: Vec<(FlowKey, Meter)>) -> Vec<(FlowKey, Meter)> {
    flows.sort_by_key(|(k, _)| k.emit());
    flows
}

/// Entries of one flow map, read without deleting them; checks that the
/// timestamps are CLOCK_BOOTTIME values of the past, first <= last.
fn flows_in(map: &MapHandle) -> Vec<(FlowKey, Meter)> {
    let now = boot_ns();
    let mut out = Vec::new();
    for k in map.keys() {
        let v = map
            .lookup(&k, MapFlags::ANY)
            .expect("looking up a flow")
            .expect("a listed flow exists");
        let key = FlowKey::parse(&k).expect("key has the ABI size");
        let value = FlowValue::parse(&v).expect("value has the ABI size");
        assert!(
            0 < value.first_seen_ns
                && value.first_seen_ns <= value.last_seen_ns
                && value.last_seen_ns <= now,
            "timestamps of {key:?}: {value:?}, now {now}"
        );
        out.push((key, Meter::of(&value)));
    }
    sorted(out)
}

/// flows_0 holds exactly `want` (any order), flows_1 nothing.
fn assert_flows(t: &TestObject, want: &[(FlowKey, Meter)]) {
    assert_eq!(
        flows_in(&t.obj.maps.flows[0]),
        sorted(want.to_vec()),
        "flows_0"
    );
    assert_eq!(flows_in(&t.obj.maps.flows[1]), vec![], "flows_1");
}

fn stats(packets: u64, non_ip: u64, parse_failed: u64) -> FlowStats {
    FlowStats {
        packets,
        non_ip,
        parse_failed,
        ..FlowStats::default()
    }
}

fn assert_stats(t: &TestObject, want: FlowStats) {
    assert_eq!(t.stats(), want, "statistics");
}

fn tcp4(sport: u16, dport: u16, flags: u16) -> Ipv4 {
    Ipv4::new(A4, B4).carrying(&Transport::tcp(&Tcp::new(sport, dport).flags(flags)))
}

fn udp4(sport: u16, dport: u16, payload: &[u8]) -> Ipv4 {
    Ipv4::new(A4, B4).carrying(&Transport::udp(sport, dport, payload))
}

fn udp6(sport: u16, dport: u16, payload: &[u8]) -> Ipv6 {
    Ipv6::new(A6, B6).carrying(&Transport::udp(sport, dport, payload))
}

fn eth4(ip: &Ipv4) -> Vec<u8> {
    Ethernet::new().ipv4(ip)
}

fn eth6(ip: &Ipv6) -> Vec<u8> {
    Ethernet::new().ipv6(ip)
}

// ---------------------------------------------------------------------------
// The frame builder itself (no kernel needed)
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// IPv4
// ---------------------------------------------------------------------------

#[test]
fn ipv4_transports_are_keyed_by_protocol_ports_and_icmp_type() {
    common::require_root!();
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
    common::require_root!();
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
    common::require_root!();
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
    common::require_root!();
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
    common::require_root!();
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

// ---------------------------------------------------------------------------
// IPv6
// ---------------------------------------------------------------------------

#[test]
fn ipv6_each_extension_header_leads_to_the_upper_layer() {
    common::require_root!();
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
    common::require_root!();
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
    common::require_root!();
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
    common::require_root!();
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
    common::require_root!();
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

// ---------------------------------------------------------------------------
// Link layer
// ---------------------------------------------------------------------------

#[test]
fn vlan_tags_up_to_two_are_walked_three_are_refused() {
    common::require_root!();
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
    common::require_root!();
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

// ---------------------------------------------------------------------------
// Truncation
// ---------------------------------------------------------------------------

/// A frame to cut at every byte offset.
struct CutCase {
    what: &'static str,
    frame: Vec<u8>,
    /// Offset of the IP header.
    l2_len: usize,
    /// IP plus transport header bytes: the shortest L3 length metered.
    min_l3: usize,
    /// The flow of the complete frame.
    flow: (FlowKey, Meter),
}

fn cut_cases() -> Vec<CutCase> {
    // IPv4 with 4 option bytes, TCP with 12 option bytes and 10 data bytes.
    let tcp = Ipv4::new(A4, B4)
        .options(&[1, 1, 1, 0])
        .carrying(&Transport::tcp(
            &Tcp::new(33000, 80)
                .flags(TCP_ACK)
                .options(&[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2])
                .payload(&[0x61; 10]),
        ));
    // UDP in 802.1ad + 802.1Q.
    let qinq = Ethernet::new().vlan(TPID_8021AD, 5).vlan(TPID_8021Q, 6);
    let udp = udp4(6000, 6001, &[0x62; 9]);
    // IPv6, hop-by-hop, UDP.
    let udp6 = udp6(7000, 7001, &[0x63; 12]).ext(Ext::hop_by_hop());
    vec![
        CutCase {
            what: "IPv4 TCP",
            frame: eth4(&tcp),
            l2_len: ETH_HLEN,
            min_l3: 24 + 32,
            flow: (
                key4(IPPROTO_TCP, 33000, 80),
                Meter::one(tcp.len()).flags(TCP_ACK),
            ),
        },
        CutCase {
            what: "QinQ IPv4 UDP",
            frame: qinq.ipv4(&udp),
            l2_len: qinq.l2_len(),
            min_l3: 20 + 8,
            flow: (key4(IPPROTO_UDP, 6000, 6001), Meter::one(udp.len())),
        },
        CutCase {
            what: "IPv6 hop-by-hop UDP",
            frame: eth6(&udp6),
            l2_len: ETH_HLEN,
            min_l3: 40 + 8 + 8,
            flow: (key6(IPPROTO_UDP, 7000, 7001), Meter::one(udp6.len())),
        },
    ]
}

/// Runs every prefix of the frame. Headers claim the full length, so only
/// the complete frame may be metered. Every cut the program sees is a parse
/// failure, never non-IP: from 14 bytes on the ethertype is there, and
/// shorter cuts (and, on 6.18, untagged IP cuts without a whole fixed IP
/// header) are refused by test_run without running the program.
fn cut_everywhere(t: &TestObject, case: &CutCase) {
    let frame = &case.frame;
    let mut want = FlowStats::default();
    for cut in 0..=frame.len() {
        if send_if_admitted(t, &frame[..cut]) {
            want.packets += 1;
            if cut < frame.len() {
                want.parse_failed += 1;
            }
        }
        assert_eq!(t.stats(), want, "statistics after the cut at {cut}");
        let flows = if cut == frame.len() {
            vec![case.flow]
        } else {
            vec![]
        };
        assert_flows(t, &flows);
    }
}

/// Runs every prefix of the frame with the IP length field rewritten to
/// match it: the parser then has to find the end of each header by itself.
/// A prefix is metered exactly when its L3 length reaches `min_l3`.
fn cut_consistently(t: &TestObject, case: &CutCase) {
    let (frame, l2_len) = (&case.frame, case.l2_len);
    let (k, whole) = case.flow;
    let v6 = frame[l2_len] >> 4 == 6;
    let mut want = FlowStats::default();
    let mut metered = Meter {
        packets: 0,
        octets: 0,
        ..whole
    };
    for cut in ETH_HLEN..=frame.len() {
        let mut part = frame[..cut].to_vec();
        let l3 = cut.saturating_sub(l2_len);
        let (field, value) = if v6 {
            (l2_len + 4, l3.saturating_sub(IPV6_HLEN)) // payload length
        } else {
            (l2_len + 2, l3) // total length
        };
        if cut >= field + 2 {
            part[field..field + 2].copy_from_slice(&u16::try_from(value).unwrap().to_be_bytes());
        }
        if !send_if_admitted(t, &part) {
            continue;
        }
        want.packets += 1;
        if l3 >= case.min_l3 {
            metered.packets += 1;
            metered.octets += l3 as u64;
        } else {
            want.parse_failed += 1;
        }
        assert_eq!(t.stats(), want, "statistics after the cut at {cut}");
        let flows = if metered.packets > 0 {
            vec![(k, metered)]
        } else {
            vec![]
        };
        assert_flows(t, &flows);
    }
    assert!(metered.packets > 0, "some cuts hold whole headers");
}

#[test]
fn truncated_frames_are_never_metered() {
    common::require_root!();
    for case in cut_cases() {
        println!("cutting {}: {} bytes", case.what, case.frame.len());
        let t = load();
        cut_everywhere(&t, &case);
    }
}

#[test]
fn truncated_frames_with_matching_lengths_need_whole_headers() {
    common::require_root!();
    for case in cut_cases() {
        println!(
            "cutting {} consistently: {} bytes",
            case.what,
            case.frame.len()
        );
        let t = load();
        cut_consistently(&t, &case);
    }
}

// ---------------------------------------------------------------------------
// Per-flow fields
// ---------------------------------------------------------------------------

#[test]
fn tcp_flags_each_alone_and_ored_over_packets() {
    common::require_root!();
    let t = load();
    let mut want = Vec::new();
    for (i, flag) in TCP_ALL_FLAGS.into_iter().enumerate() {
        let sport = 2000 + i as u16;
        send(&t, &eth4(&tcp4(sport, 80, flag)));
        want.push((key4(IPPROTO_TCP, sport, 80), Meter::one(40).flags(flag)));
    }
    // One flow, one flag per packet (NS first): all 9 bits in the end.
    for flag in TCP_ALL_FLAGS.into_iter().rev() {
        send(&t, &eth4(&tcp4(3000, 80, flag)));
    }
    // A flow without flags, and data offset 6 (4 option bytes) with all.
    send(&t, &eth4(&tcp4(3001, 80, 0)));
    let opts = Ipv4::new(A4, B4).carrying(&Transport::tcp(
        &Tcp::new(3002, 80).flags(0x1ff).options(&[1, 1, 1, 1]),
    ));
    send(&t, &eth4(&opts));
    want.push((
        key4(IPPROTO_TCP, 3000, 80),
        Meter::packets(9, 9 * 40).flags(0x1ff),
    ));
    want.push((key4(IPPROTO_TCP, 3001, 80), Meter::one(40)));
    want.push((key4(IPPROTO_TCP, 3002, 80), Meter::one(44).flags(0x1ff)));
    // Data offsets below 5 or beyond the packet: parse failures.
    for doff in [0, 4, 6, 15] {
        let bad =
            Ipv4::new(A4, B4).carrying(&Transport::tcp(&Tcp::new(3003, 80).data_offset(doff)));
        send(&t, &eth4(&bad));
    }
    assert_flows(&t, &want);
    assert_stats(&t, stats(9 + 9 + 2 + 4, 0, 4));
}

#[test]
fn ttl_min_max_and_the_first_packets_tos() {
    common::require_root!();
    let t = load();
    for (ttl, tos) in [(64, 0xb8), (10, 0x00), (200, 0x04), (64, 0xfc)] {
        send(&t, &eth4(&udp4(1, 2, &[]).ttl(ttl).tos(tos)));
    }
    for (hops, tc) in [(1, 0x2d), (255, 0x00), (128, 0xff)] {
        send(
            &t,
            &eth6(&udp6(1, 2, &[]).hop_limit(hops).traffic_class(tc)),
        );
    }
    send(&t, &eth4(&udp4(3, 4, &[]).ttl(0).tos(0xff)));
    assert_flows(
        &t,
        &[
            (
                key4(IPPROTO_UDP, 1, 2),
                Meter::packets(4, 4 * 28).ttl(10, 200).tos(0xb8),
            ),
            (
                key6(IPPROTO_UDP, 1, 2),
                Meter::packets(3, 3 * 48).ttl(1, 255).tos(0x2d),
            ),
            (key4(IPPROTO_UDP, 3, 4), Meter::one(28).ttl(0, 0).tos(0xff)),
        ],
    );
    assert_stats(&t, stats(8, 0, 0));
}

#[test]
fn timestamps_are_boottime_first_and_last() {
    common::require_root!();
    let t = load();
    let frame = eth4(&udp4(1, 2, &[]));
    let before = boot_ns();
    send(&t, &frame);
    let between = boot_ns();
    send(&t, &frame);
    let after = boot_ns();
    let k = key4(IPPROTO_UDP, 1, 2).emit();
    let v = t.obj.maps.flows[0]
        .lookup(&k, MapFlags::ANY)
        .expect("looking up the flow")
        .expect("the flow exists");
    let v = FlowValue::parse(&v).expect("value has the ABI size");
    assert!(
        before <= v.first_seen_ns && v.first_seen_ns <= between,
        "first seen {} not in [{before}, {between}]",
        v.first_seen_ns
    );
    assert!(
        between <= v.last_seen_ns && v.last_seen_ns <= after,
        "last seen {} not in [{between}, {after}]",
        v.last_seen_ns
    );
}

// ---------------------------------------------------------------------------
// GSO
// ---------------------------------------------------------------------------

#[test]
fn gso_packets_count_their_segments() {
    common::require_root!();
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

// ---------------------------------------------------------------------------
// Interfaces, directions, selector, capacity, chaining
// ---------------------------------------------------------------------------

#[test]
fn ingress_and_egress_record_interfaces() {
    common::require_root!();
    let from = |ifindex: u32, ingress_ifindex: u32| SkbContext {
        ifindex,
        ingress_ifindex,
        ..SkbContext::default()
    };
    // Any interface of this namespace other than loopback, if there is one.
    let other = nix::net::if_::if_nameindex()
        .expect("listing interfaces")
        .iter()
        .map(|i| i.index())
        .max()
        .unwrap_or(LO);
    for direction in Direction::ALL {
        let t = TestObject::load(direction);
        let peer = |ifindex: u32| match direction {
            Direction::Ingress => 0,
            Direction::Egress => ifindex,
        };
        send_ctx(&t, &eth4(&udp4(1, 1, &[])), &from(LO, 77));
        send_ctx(&t, &eth4(&udp4(2, 2, &[])), &from(LO, 0));
        // ifindex 0: test_run's default device, loopback.
        send_ctx(&t, &eth4(&udp4(3, 3, &[])), &from(0, 5));
        send_ctx(&t, &eth4(&udp4(4, 4, &[])), &from(other, 9));
        // The peer of a flow is the one of its first packet.
        send_ctx(&t, &eth4(&udp4(1, 1, &[])), &from(LO, 78));
        let err = try_run(&t, &eth4(&udp4(5, 5, &[])), &from(u32::MAX, 0))
            .expect_err("test_run takes a missing interface");
        assert_eq!(err.raw_os_error(), Some(nix::libc::ENODEV));
        assert_flows(
            &t,
            &[
                (
                    key4(IPPROTO_UDP, 1, 1),
                    Meter::packets(2, 56).peer(peer(77)),
                ),
                (key4(IPPROTO_UDP, 2, 2), Meter::one(28)),
                (key4(IPPROTO_UDP, 3, 3), Meter::one(28).peer(peer(5))),
                (
                    FlowKey {
                        ifindex: other,
                        ..key4(IPPROTO_UDP, 4, 4)
                    },
                    Meter::one(28).peer(peer(9)),
                ),
            ],
        );
        assert_stats(&t, stats(5, 0, 0));
    }
}

fn set_selector(t: &TestObject, active: u32) {
    t.obj
        .maps
        .selector
        .update(&0u32.to_ne_bytes(), &active.to_ne_bytes(), MapFlags::ANY)
        .expect("writing the selector");
}

#[test]
fn selector_picks_the_flow_map() {
    common::require_root!();
    let t = load();
    let frame = eth4(&udp4(1, 2, &[]));
    let k = key4(IPPROTO_UDP, 1, 2);
    send(&t, &frame);
    set_selector(&t, 1);
    send(&t, &frame);
    send(&t, &frame);
    assert_eq!(flows_in(&t.obj.maps.flows[0]), vec![(k, Meter::one(28))]);
    assert_eq!(
        flows_in(&t.obj.maps.flows[1]),
        vec![(k, Meter::packets(2, 56))]
    );
    // Only bit 0 counts: 2 is flows_0, 3 is flows_1.
    set_selector(&t, 2);
    send(&t, &frame);
    set_selector(&t, 3);
    send(&t, &frame);
    assert_eq!(
        flows_in(&t.obj.maps.flows[0]),
        vec![(k, Meter::packets(2, 56))]
    );
    assert_eq!(
        flows_in(&t.obj.maps.flows[1]),
        vec![(k, Meter::packets(3, 84))]
    );
    assert_stats(&t, stats(5, 0, 0));
}

#[test]
fn a_full_table_counts_new_flows_and_keeps_metering_old_ones() {
    common::require_root!();
    let t = TestObject::load_with(Direction::Ingress, Some(16));
    let flow = |i: u16| udp4(100 + i, 53, &vec![0; usize::from(i)]);
    let mut want = Vec::new();
    let mut full_octets = 0;
    for i in 0..20u16 {
        send(&t, &eth4(&flow(i)));
        if i < 16 {
            want.push((
                key4(IPPROTO_UDP, 100 + i, 53),
                Meter::one(28 + usize::from(i)),
            ));
        } else {
            full_octets += 28 + u64::from(i);
        }
    }
    // Flows already in the table are still metered while it is full.
    send(&t, &eth4(&flow(0)));
    want[0].1 = Meter::packets(2, 56);
    // A GSO packet that finds no room counts its segments.
    send_ctx(
        &t,
        &eth4(&tcp4(9, 9, TCP_ACK)),
        &SkbContext {
            gso_segs: 3,
            gso_size: 100,
            ..ctx()
        },
    );
    full_octets += 3 * 40;
    assert_flows(&t, &want);
    assert_stats(
        &t,
        FlowStats {
            packets: 20 + 1 + 3,
            table_full_packets: 4 + 3,
            table_full_octets: full_octets,
            ..FlowStats::default()
        },
    );
    // Room again after the map is drained.
    assert_eq!(t.drain_flows().len(), 16);
    send(&t, &eth4(&flow(19)));
    assert_flows(&t, &[(key4(IPPROTO_UDP, 119, 53), Meter::one(28 + 19))]);
}

/// A two-instruction SCHED_CLS program returning `verdict` (no C needed).
fn verdict_program(verdict: i32) -> OwnedFd {
    let mov_r0 = libbpf_sys::bpf_insn {
        code: (libbpf_sys::BPF_ALU64 | libbpf_sys::BPF_MOV | libbpf_sys::BPF_K) as u8,
        imm: verdict,
        ..Default::default()
    };
    let exit = libbpf_sys::bpf_insn {
        code: (libbpf_sys::BPF_JMP | libbpf_sys::BPF_EXIT) as u8,
        ..Default::default()
    };
    let insns = [mov_r0, exit];
    // SAFETY: the name and license are NUL-terminated, insns holds the two
    // instructions counted, no options are passed.
    let fd = unsafe {
        libbpf_sys::bpf_prog_load(
            libbpf_sys::BPF_PROG_TYPE_SCHED_CLS,
            c"test_verdict".as_ptr(),
            c"GPL".as_ptr(),
            insns.as_ptr(),
            insns.len() as _,
            std::ptr::null_mut(),
        )
    };
    assert!(
        fd >= 0,
        "loading the verdict program: {}",
        io::Error::last_os_error()
    );
    // SAFETY: bpf_prog_load returned a new fd that nothing else owns.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

fn chain(t: &TestObject, prog: &impl AsRawFd) {
    let fd = u32::try_from(prog.as_raw_fd()).expect("fds are positive");
    t.obj
        .maps
        .jmp_table
        .update(&0u32.to_ne_bytes(), &fd.to_ne_bytes(), MapFlags::ANY)
        .expect("putting a program into the jmp table");
}

#[test]
fn jmp_table_slot_0_is_tail_called() {
    common::require_root!();
    let t = load();
    let frame = eth4(&udp4(1, 2, &[]));
    let shot = verdict_program(TC_ACT_SHOT as i32);
    chain(&t, &shot);
    assert_eq!(
        t.run_ctx(&frame, &ctx()),
        TC_ACT_SHOT,
        "the chained verdict"
    );
    assert!(t.obj.maps.chained_prog_id().unwrap().is_some());
    t.obj
        .maps
        .jmp_table
        .delete(&0u32.to_ne_bytes())
        .expect("emptying the jmp table");
    send(&t, &frame);
    // Metering happened before the tail call both times.
    assert_flows(&t, &[(key4(IPPROTO_UDP, 1, 2), Meter::packets(2, 56))]);
    assert_stats(&t, stats(2, 0, 0));

    // Chained to the other direction's entry: both meter the packet.
    let egress = TestObject::load(Direction::Egress);
    chain(&t, &egress.obj.prog);
    let from = SkbContext {
        ingress_ifindex: 42,
        ..ctx()
    };
    send_ctx(&t, &frame, &from);
    assert_flows(&t, &[(key4(IPPROTO_UDP, 1, 2), Meter::packets(3, 84))]);
    assert_stats(&t, stats(3, 0, 0));
    assert_flows(
        &egress,
        &[(key4(IPPROTO_UDP, 1, 2), Meter::one(28).peer(42))],
    );
    assert_stats(&egress, stats(1, 0, 0));
}

// ---------------------------------------------------------------------------
// Sampling and concurrency
// ---------------------------------------------------------------------------

#[test]
fn sampling_skips_packets_and_counts_them() {
    common::require_root!();
    let t = load();
    let frame = eth4(&udp4(1, 2, &[]));
    for period in [0, 1] {
        t.obj
            .maps
            .write_config(&FlowConfig {
                sample_period: period,
            })
            .unwrap();
        send(&t, &frame);
    }
    assert_flows(&t, &[(key4(IPPROTO_UDP, 1, 2), Meter::packets(2, 56))]);
    t.obj
        .maps
        .write_config(&FlowConfig { sample_period: 4 })
        .unwrap();
    let n = 400;
    test_run::run(t.obj.prog.as_fd(), &frame, &ctx(), n).expect("BPF_PROG_TEST_RUN");
    let s = t.stats();
    let metered = flows_in(&t.obj.maps.flows[0])[0].1.packets - 2;
    // Every packet is metered or sampled out; with 1 in 4 over 400 packets
    // both are > 0 except with probability below 1e-49.
    assert_eq!(metered + s.sampled_out, u64::from(n));
    assert!(metered > 0 && s.sampled_out > 0, "{metered} / {s:?}");
    assert_eq!(s.packets, u64::from(n) + 2);
}

/// CPUs this thread may run on.
fn allowed_cpus() -> Vec<usize> {
    use nix::sched::{sched_getaffinity, CpuSet};
    use nix::unistd::Pid;
    let set = sched_getaffinity(Pid::from_raw(0)).expect("reading the CPU affinity");
    (0..CpuSet::count())
        .filter(|&c| set.is_set(c).unwrap_or(false))
        .collect()
}

fn pin_to(cpu: usize) {
    use nix::sched::{sched_setaffinity, CpuSet};
    use nix::unistd::Pid;
    let mut set = CpuSet::new();
    set.set(cpu).expect("a valid CPU number");
    sched_setaffinity(Pid::from_raw(0), &set).expect("pinning the thread");
}

#[test]
fn two_threads_hammering_one_flow_count_exactly() {
    common::require_root!();
    const REPEAT: u32 = 100_000;
    let t = load();
    // One flow, two senders with their own TTL and flags: the entry is
    // created by one of them, flags are ORed, min and max TTL each have a
    // single writer.
    let ip = [
        tcp4(1234, 80, TCP_ACK).ttl(10),
        tcp4(1234, 80, TCP_PSH).ttl(200),
    ];
    let frames = [eth4(&ip[0]), eth4(&ip[1])];
    // One thread per CPU: test_run only disables migration, so two threads
    // sharing a CPU could interleave inside the per-CPU statistics update
    // (the datapath runs with BH disabled and cannot).
    let cpus = allowed_cpus();
    let pinned = cpus.len() >= 2;
    std::thread::scope(|s| {
        for i in 0..2 {
            let (t, frame, cpus) = (&t, &frames[i], &cpus);
            s.spawn(move || {
                if pinned {
                    pin_to(cpus[i]);
                }
                let r = test_run::run(t.obj.prog.as_fd(), frame, &ctx(), REPEAT)
                    .expect("BPF_PROG_TEST_RUN");
                assert_eq!(r.retval, TC_ACT_UNSPEC);
            });
        }
    });
    let n = 2 * u64::from(REPEAT);
    assert_flows(
        &t,
        &[(
            key4(IPPROTO_TCP, 1234, 80),
            Meter::packets(n, n * ip[0].len() as u64)
                .flags(TCP_ACK | TCP_PSH)
                .ttl(10, 200),
        )],
    );
    if pinned {
        assert_stats(&t, stats(n, 0, 0));
    } else {
        println!("one CPU only: statistics not compared");
    }
}
