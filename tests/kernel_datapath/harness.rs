//! What every kernel test uses: the object under test on loopback, frames,
//! flow keys, the expected meter of a flow, exact map and counter checks.

pub use std::io;
pub use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
pub use std::os::fd::{AsFd, AsRawFd};

pub use libbpf_rs::libbpf_sys;
pub use libbpf_rs::{MapCore, MapFlags};
pub use nix::time::{clock_gettime, ClockId};

pub use crate::common::bpfobj::{TestObject, TC_ACT_UNSPEC};
pub use crate::common::frames::*;
pub use ipfix_flow_exporter::abi::{
    FlowClock, FlowConfig, FlowKey, FlowMapAlloc, FlowValue, SampleMode, TCP_ACK, TCP_CWR, TCP_ECE,
    TCP_FIN, TCP_NS, TCP_PSH, TCP_RST, TCP_SYN, TCP_URG,
};
pub use ipfix_flow_exporter::datapath::maps::FlowMaps;
pub use ipfix_flow_exporter::datapath::test_run::{self, SkbContext};
pub use ipfix_flow_exporter::flow::{Direction, FlowStats};

pub const A4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
pub const B4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
pub const A6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
pub const B6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);

/// Loopback: the device test_run uses for ifindex 0 and 1.
pub const LO: u32 = 1;
pub const TC_ACT_SHOT: u32 = 2;

pub const TCP_ALL_FLAGS: [u16; 9] = [
    TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK, TCP_URG, TCP_ECE, TCP_CWR, TCP_NS,
];

pub fn ctx() -> SkbContext {
    SkbContext {
        ifindex: LO,
        ..SkbContext::default()
    }
}

pub fn load() -> TestObject {
    TestObject::load(Direction::Ingress)
}

/// Runs `frame` once on loopback; the verdict must be TC_ACT_UNSPEC.
pub fn send(t: &TestObject, frame: &[u8]) {
    send_ctx(t, frame, &ctx());
}

pub fn send_ctx(t: &TestObject, frame: &[u8], ctx: &SkbContext) {
    let verdict = t.run_ctx(frame, ctx);
    assert_eq!(
        verdict,
        TC_ACT_UNSPEC,
        "verdict for a {}-byte frame",
        frame.len()
    );
}

/// test_run's answer for a frame it may refuse.
pub fn try_run(t: &TestObject, frame: &[u8], ctx: &SkbContext) -> io::Result<u32> {
    test_run::run(t.obj.prog.as_fd(), frame, ctx, 1).map(|r| r.retval)
}

/// How test_run treats a frame before the program could see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Shorter than an Ethernet header: EINVAL.
    Refused,
    /// Outer ethertype IPv4 (IPv6) and fewer than 20 (40) bytes after the
    /// Ethernet header: EINVAL on 6.18, or run (a parse failure).
    ShortL3,
    Runs,
}

pub fn admission(frame: &[u8]) -> Admission {
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
pub fn send_if_admitted(t: &TestObject, frame: &[u8]) -> bool {
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
pub struct Meter {
    pub packets: u64,
    pub octets: u64,
    pub tcp_flags: u32,
    pub ttl_min: u32,
    pub ttl_max: u32,
    pub tos: u8,
    pub peer_ifindex: u32,
    /// Of the first packet; `Ethernet::new()`'s unless set.
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
}

impl Meter {
    /// One packet of `l3_len` octets with TTL 64, TOS 0, no flags.
    pub fn one(l3_len: usize) -> Self {
        Meter::packets(1, l3_len as u64)
    }

    pub fn packets(packets: u64, octets: u64) -> Self {
        Meter {
            packets,
            octets,
            tcp_flags: 0,
            ttl_min: 64,
            ttl_max: 64,
            tos: 0,
            peer_ifindex: 0,
            src_mac: Ethernet::new().src,
            dst_mac: Ethernet::new().dst,
        }
    }

    pub fn macs(self, src_mac: [u8; 6], dst_mac: [u8; 6]) -> Self {
        Meter {
            src_mac,
            dst_mac,
            ..self
        }
    }

    pub fn flags(self, tcp_flags: u16) -> Self {
        Meter {
            tcp_flags: u32::from(tcp_flags),
            ..self
        }
    }

    pub fn ttl(self, ttl_min: u8, ttl_max: u8) -> Self {
        Meter {
            ttl_min: u32::from(ttl_min),
            ttl_max: u32::from(ttl_max),
            ..self
        }
    }

    pub fn tos(self, tos: u8) -> Self {
        Meter { tos, ..self }
    }

    pub fn peer(self, peer_ifindex: u32) -> Self {
        Meter {
            peer_ifindex,
            ..self
        }
    }

    pub fn of(v: &FlowValue) -> Self {
        Meter {
            packets: v.packets,
            octets: v.octets,
            tcp_flags: v.tcp_flags,
            ttl_min: v.ttl_min,
            ttl_max: v.ttl_max,
            tos: v.tos,
            peer_ifindex: v.peer_ifindex,
            src_mac: v.src_mac,
            dst_mac: v.dst_mac,
        }
    }
}

pub fn key(src: IpAddr, dst: IpAddr, protocol: u8, sport: u16, dport: u16) -> FlowKey {
    FlowKey {
        ifindex: LO,
        ..FlowKey::from_tuple(src, dst, protocol, sport, dport)
    }
}

/// A4 -> B4 on loopback.
pub fn key4(protocol: u8, sport: u16, dport: u16) -> FlowKey {
    key(A4.into(), B4.into(), protocol, sport, dport)
}

/// A6 -> B6 on loopback.
pub fn key6(protocol: u8, sport: u16, dport: u16) -> FlowKey {
    key(A6.into(), B6.into(), protocol, sport, dport)
}

pub fn icmp(k: FlowKey, ty: u8, code: u8) -> FlowKey {
    FlowKey {
        icmp_type: ty,
        icmp_code: code,
        ..k
    }
}

pub fn clock_ns(clock: ClockId) -> u64 {
    let ts = clock_gettime(clock).expect("reading a clock");
    u64::try_from(ts.tv_sec()).expect("clock time is positive") * 1_000_000_000
        + u64::try_from(ts.tv_nsec()).expect("nanoseconds are positive")
}

pub fn sorted(mut flows: Vec<(FlowKey, Meter)>) -> Vec<(FlowKey, Meter)> {
    flows.sort_by_key(|(k, _)| k.emit());
    flows
}

/// Entries of one pair of flow maps (IPv4 and the rest), read without
/// deleting them; checks that each flow is in the map of its family and
/// that the timestamps are of the past (CLOCK_BOOTTIME is ahead of
/// CLOCK_MONOTONIC, whichever clock they are on), first <= last.
pub fn flows_in(maps: &FlowMaps) -> Vec<(FlowKey, Meter)> {
    let now = clock_ns(ClockId::CLOCK_BOOTTIME);
    let mut out = Vec::new();
    for (map, ipv4) in [(&maps.ipv4, true), (&maps.other, false)] {
        for k in map.keys() {
            let v = map
                .lookup(&k, MapFlags::ANY)
                .expect("looking up a flow")
                .expect("a listed flow exists");
            let key = if ipv4 {
                FlowKey::parse_v4(&k).expect("an IPv4 key in the IPv4 map")
            } else {
                FlowKey::parse(&k).expect("key has the ABI size")
            };
            assert_eq!(
                key.ip_version == 4,
                ipv4,
                "{key:?} in the map of its family"
            );
            let value = FlowValue::parse(&v).expect("value has the ABI size");
            assert!(
                0 < value.first_seen_ns
                    && value.first_seen_ns <= value.last_seen_ns
                    && value.last_seen_ns <= now,
                "timestamps of {key:?}: {value:?}, now {now}"
            );
            out.push((key, Meter::of(&value)));
        }
    }
    sorted(out)
}

/// flows4_0 and flows6_0 hold exactly `want` (any order), flows4_1 and
/// flows6_1 nothing.
pub fn assert_flows(t: &TestObject, want: &[(FlowKey, Meter)]) {
    assert_eq!(
        flows_in(&t.obj.maps.flows[0]),
        sorted(want.to_vec()),
        "flows4_0 and flows6_0"
    );
    assert_eq!(
        flows_in(&t.obj.maps.flows[1]),
        vec![],
        "flows4_1 and flows6_1"
    );
}

pub fn stats(packets: u64, non_ip: u64, parse_failed: u64) -> FlowStats {
    FlowStats {
        packets,
        non_ip,
        parse_failed,
        ..FlowStats::default()
    }
}

pub fn assert_stats(t: &TestObject, want: FlowStats) {
    assert_eq!(t.stats(), want, "statistics");
}

pub fn tcp4(sport: u16, dport: u16, flags: u16) -> Ipv4 {
    Ipv4::new(A4, B4).carrying(&Transport::tcp(&Tcp::new(sport, dport).flags(flags)))
}

pub fn udp4(sport: u16, dport: u16, payload: &[u8]) -> Ipv4 {
    Ipv4::new(A4, B4).carrying(&Transport::udp(sport, dport, payload))
}

pub fn udp6(sport: u16, dport: u16, payload: &[u8]) -> Ipv6 {
    Ipv6::new(A6, B6).carrying(&Transport::udp(sport, dport, payload))
}

pub fn eth4(ip: &Ipv4) -> Vec<u8> {
    Ethernet::new().ipv4(ip)
}

pub fn eth6(ip: &Ipv6) -> Vec<u8> {
    Ethernet::new().ipv6(ip)
}
