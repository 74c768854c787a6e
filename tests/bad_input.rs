//! Bad input through BPF_PROG_TEST_RUN: 120,000 random and mutated frames,
//! and jumbo frames at the largest size test_run takes. Every frame's
//! outcome is predicted by a reference model of bpf/parse.h
//! (bad_input/model.rs), so the counters and flows are checked exactly,
//! not only for plausibility. The hand-built malformed shapes (truncation
//! at every offset, IHL, total length, fragments, extension-header limit,
//! VLAN depth) are tests/kernel_datapath.rs; the same shapes through a real
//! veth are tests/bad_input_veth.rs.
//!
//! test_run refuses (EINVAL, program not run) frames shorter than 14 bytes
//! and untagged IPv4 / IPv6 frames with fewer than 20 / 40 bytes after the
//! Ethernet header (see kernel_datapath.rs); random frames of that shape
//! are counted as refused, nothing else may be.

// A failed unwrap fails the test, naming its line: the house rule against
// unwrap (Cargo.toml [lints]) is for the shipped code.
#![allow(clippy::unwrap_used)]

mod common;

#[path = "bad_input/gen.rs"]
mod gen;
#[path = "bad_input/model.rs"]
mod model;

use std::collections::HashMap;
use std::io;
use std::os::fd::AsFd;

use common::bpfobj::{TestObject, TC_ACT_UNSPEC};
use common::frames::{ETH_HLEN, ETH_P_IP, ETH_P_IPV6, IPV4_HLEN, IPV6_HLEN};
use gen::Rng;
use ipfix_flow_exporter::abi::{FlowKey, FlowValue};
use ipfix_flow_exporter::datapath::test_run::{self, SkbContext};
use ipfix_flow_exporter::flow::Direction;
use ipfix_flow_exporter::flow::FlowStats;
use model::{Flows, Outcome};

/// Loopback: the device test_run uses for ifindex 0 and 1.
const LO: u32 = 1;
/// Frames per batch: the flow maps are compared and emptied after each.
const BATCH: usize = 10_000;

fn ctx() -> SkbContext {
    SkbContext {
        ifindex: LO,
        ..SkbContext::default()
    }
}

fn try_run(t: &TestObject, frame: &[u8]) -> io::Result<u32> {
    test_run::run(t.obj.prog.as_fd(), frame, &ctx(), 1).map(|r| r.retval)
}

/// Whether test_run may refuse `frame` before the program runs.
fn may_be_refused(frame: &[u8]) -> bool {
    if frame.len() < ETH_HLEN {
        return true;
    }
    let l3 = frame.len() - ETH_HLEN;
    match u16::from_be_bytes([frame[12], frame[13]]) {
        ETH_P_IP => l3 < IPV4_HLEN,
        ETH_P_IPV6 => l3 < IPV6_HLEN,
        _ => false,
    }
}

/// Runs frames and keeps what the model says they must add up to.
struct Checker {
    t: TestObject,
    want: FlowStats,
    /// Flows of the frames run since the last check.
    flows: Flows,
    /// Packets found in the flow maps at earlier checks.
    metered: u64,
    ran: u64,
    refused: u64,
}

impl Checker {
    fn new() -> Self {
        Checker {
            t: TestObject::load(Direction::Ingress),
            want: FlowStats::default(),
            flows: Flows::default(),
            metered: 0,
            ran: 0,
            refused: 0,
        }
    }

    /// One frame: the verdict is always TC_ACT_UNSPEC; the counters move
    /// exactly as the model says.
    fn run(&mut self, what: &str, frame: &[u8]) {
        match try_run(&self.t, frame) {
            Ok(verdict) => assert_eq!(
                verdict,
                TC_ACT_UNSPEC,
                "{what}: verdict for {} bytes {:02x?}",
                frame.len(),
                frame
            ),
            Err(e) if may_be_refused(frame) && e.raw_os_error() == Some(nix::libc::EINVAL) => {
                self.refused += 1;
                return;
            }
            Err(e) => panic!("{what}: test_run refused {} bytes: {e}", frame.len()),
        }
        self.ran += 1;
        self.want.packets += 1;
        match model::parse(frame) {
            Outcome::NonIp => self.want.non_ip += 1,
            Outcome::ParseFailed => self.want.parse_failed += 1,
            Outcome::Metered(p) => self.flows.add(&p, LO),
        }
    }

    /// The statistics and both flow maps against the model; empties the
    /// maps (the statistics keep counting).
    fn check(&mut self, what: &str) {
        let got = self.t.stats();
        assert_eq!(got, self.want, "{what}: statistics");
        let drained = self.t.drain_flows();
        let mut seen: HashMap<FlowKey, FlowValue> = HashMap::new();
        for (k, v) in &drained {
            assert_plausible(k, v);
            assert!(seen.insert(*k, *v).is_none(), "{what}: {k:?} twice");
        }
        let metered: u64 = seen.values().map(|v| v.packets).sum();
        for (k, f) in &self.flows.0 {
            let v = seen
                .remove(k)
                .unwrap_or_else(|| panic!("{what}: expected flow missing: {k:?} {f:?}"));
            let got = model::Flow {
                packets: v.packets,
                octets: v.octets,
                tcp_flags: v.tcp_flags,
                ttl_min: v.ttl_min,
                ttl_max: v.ttl_max,
                tos: v.tos,
            };
            assert_eq!(got, *f, "{what}: flow {k:?}");
        }
        assert!(seen.is_empty(), "{what}: flows nobody sent: {seen:?}");
        self.metered += metered;
        assert_eq!(
            got.packets,
            self.metered + got.non_ip + got.parse_failed,
            "{what}: every packet metered, non-IP or a parse failure, once"
        );
        assert_eq!((got.table_full_packets, got.sampled_out), (0, 0), "{what}");
        self.flows = Flows::default();
    }
}

/// A flow entry any packet could have made: one IP version, IPv4 addresses
/// in the first 4 bytes, at least a minimal IP header per packet, sane
/// TTLs, flags only for TCP, ports or ICMP type but not both.
fn assert_plausible(k: &FlowKey, v: &FlowValue) {
    let min_hdr = match k.ip_version {
        4 => {
            assert!(k.src_addr[4..]
                .iter()
                .chain(&k.dst_addr[4..])
                .all(|&b| b == 0));
            20
        }
        6 => 40,
        other => panic!("ip_version {other}: {k:?}"),
    };
    assert_eq!(k.ifindex, LO, "{k:?}");
    assert!(v.packets >= 1, "{k:?} {v:?}");
    assert!(v.octets >= v.packets * min_hdr, "{k:?} {v:?}");
    assert!(v.ttl_min <= v.ttl_max && v.ttl_max <= 255, "{k:?} {v:?}");
    assert!(v.tcp_flags <= 0x1ff, "{k:?} {v:?}");
    if k.protocol != 6 {
        assert_eq!(v.tcp_flags, 0, "{k:?} {v:?}");
    }
    let icmp = (k.protocol, k.ip_version) == (1, 4) || (k.protocol, k.ip_version) == (58, 6);
    if icmp {
        assert_eq!((k.src_port, k.dst_port), (0, 0), "{k:?}");
    } else {
        assert_eq!((k.icmp_type, k.icmp_code), (0, 0), "{k:?}");
    }
    assert!(v.first_seen_ns > 0 && v.first_seen_ns <= v.last_seen_ns);
    assert_eq!(v.peer_ifindex, 0, "ingress: {k:?}");
}

/// 120,000 frames of 14..=1514 bytes: 40,000 of random bytes, 40,000 of
/// random bytes behind an IP or VLAN ethertype (so that they reach the IP
/// parsers), 40,000 real frames (three in four well formed, one in four
/// of the malformed shapes) with 1..8 bytes changed, some cut or extended. Verdict, statistics and every flow exactly as the model says.
#[test]
fn random_and_mutated_frames_match_the_model() {
    common::require_root!();
    let mut rng = Rng::new(0x1bad_f00d_5eed_0001);
    let valid = gen::valid_frames();
    let malformed: Vec<Vec<u8>> = gen::malformed_shapes()
        .into_iter()
        .map(|(_, f)| f)
        .filter(|f| f.len() >= ETH_HLEN)
        .collect();
    let mut c = Checker::new();
    let kinds: [(&str, usize); 3] = [
        ("random", 40_000),
        ("random IP", 40_000),
        ("mutated", 40_000),
    ];
    for (what, count) in kinds {
        for i in 0..count {
            let len = rng.range(ETH_HLEN, gen::MAX_FRAME);
            let frame = match what {
                "random" => gen::random_frame(&mut rng, len),
                "random IP" => gen::random_ip_frame(&mut rng, len),
                // Three in four from valid frames, one from malformed ones.
                _ => {
                    let bases = if rng.chance(4) { &malformed } else { &valid };
                    let base = &bases[rng.below(bases.len())];
                    gen::mutate(&mut rng, base, gen::MAX_FRAME)
                }
            };
            c.run(what, &frame);
            if (i + 1) % BATCH == 0 {
                c.check(&format!("{what}, after {} frames", i + 1));
            }
        }
    }
    c.check("the end");
    let s = c.t.stats();
    println!(
        "{} frames ran, {} refused by test_run: {} metered, {} non-IP, {} parse failures",
        c.ran, c.refused, c.metered, s.non_ip, s.parse_failed
    );
    assert_eq!(c.ran + c.refused, 120_000);
    // The mix reaches every outcome in numbers.
    assert!(
        c.ran >= 100_000,
        "at least 100,000 frames reach the program"
    );
    assert!(c.metered > 10_000 && s.non_ip > 10_000 && s.parse_failed > 10_000);
}

/// A frame of `len` bytes that test_run's own checks never look into.
fn opaque_frame(len: usize) -> Vec<u8> {
    let mut f = vec![0x5a; len];
    f[12..14].copy_from_slice(&0x88b5u16.to_be_bytes()); // local experimental
    f
}

/// The largest frame BPF_PROG_TEST_RUN takes for a tc program: found by
/// bisection, since it depends on the kernel (net/bpf/test_run.c builds a
/// linear skb in one page: PAGE_SIZE minus NET_SKB_PAD + NET_IP_ALIGN of
/// headroom minus the aligned skb_shared_info: 4096 - 64 - 320 = 3,712
/// bytes on x86-64 with 6.18 here). So jumbo frames of 9000-byte MTUs
/// cannot go through test_run; tests/bad_input_veth.rs sends them through
/// a veth with MTU 9000. Frames of that size, valid and malformed, and IPv6
/// jumbogram-style (payload length 0 behind hop-by-hop) frames, meter as
/// the model says; one byte more is refused and counted nowhere.
#[test]
fn largest_frames_test_run_takes() {
    common::require_root!();
    let mut c = Checker::new();
    let accepts = |c: &Checker, len: usize| match try_run(&c.t, &opaque_frame(len)) {
        Ok(verdict) => {
            assert_eq!(verdict, TC_ACT_UNSPEC);
            true
        }
        Err(e) if e.raw_os_error() == Some(nix::libc::EINVAL) => false,
        Err(e) => panic!("test_run with {len} bytes: {e}"),
    };
    // Bisect between a size that runs and one that cannot (1 MiB).
    let (mut lo, mut hi) = (gen::MAX_FRAME, 1 << 20);
    assert!(accepts(&c, lo), "a 1514-byte frame runs");
    assert!(!accepts(&c, hi), "a 1 MiB frame is refused");
    let mut probes = 1;
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if accepts(&c, mid) {
            lo = mid;
            probes += 1;
        } else {
            hi = mid;
        }
    }
    let largest = lo;
    println!("BPF_PROG_TEST_RUN takes tc frames of up to {largest} bytes");
    // Each accepted probe ran the program on a non-IP frame.
    c.want.packets += probes;
    c.want.non_ip += probes;
    c.ran += probes;
    c.check("bisection");

    let ip_max = |hdr: usize| largest.min(ETH_HLEN + hdr + usize::from(u16::MAX));
    let v4 = gen::udp_of_len(false, ip_max(0));
    let v6 = gen::udp_of_len(true, ip_max(IPV6_HLEN));
    c.run("largest IPv4", &v4);
    c.run("largest IPv6", &v6);
    // Claiming one byte more than the frame holds: a parse failure.
    let mut long = v4.clone();
    let claimed = u16::from_be_bytes([long[16], long[17]]).wrapping_add(1);
    long[16..18].copy_from_slice(&claimed.to_be_bytes());
    c.run("largest IPv4, total length + 1", &long);
    // Payload length 0 with a hop-by-hop header: the frame's length counts.
    let mut jumbo = v6.clone();
    jumbo[18..20].copy_from_slice(&[0, 0]);
    jumbo[20] = 0; // next header: hop-by-hop
    jumbo[54..62].copy_from_slice(&[17, 0, 1, 4, 0, 0, 0, 0]); // UDP follows, PadN
    c.run("largest IPv6 jumbogram shape", &jumbo);
    for f in [&v4, &v6, &long, &jumbo] {
        assert!(!matches!(model::parse(f), Outcome::NonIp));
    }
    assert!(matches!(model::parse(&long), Outcome::ParseFailed));
    for f in [&v4, &v6, &jumbo] {
        match model::parse(f) {
            Outcome::Metered(p) => assert_eq!(p.ip_len as usize, f.len() - ETH_HLEN),
            other => panic!("{other:?}"),
        }
    }
    c.check("largest frames");
    // One byte more: refused before the program runs, nothing counted.
    let err = try_run(&c.t, &opaque_frame(largest + 1)).expect_err("over the limit");
    assert_eq!(err.raw_os_error(), Some(nix::libc::EINVAL));
    c.check("over the limit");
}
