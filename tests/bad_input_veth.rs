//! Bad input through a real veth: malformed, random, mutated and jumbo
//! frames written raw (AF_PACKET) on veth_b in namespace B, arriving at tc
//! ingress of veth_a, where the exporter runs as a process
//! (`--direction ingress`). Every frame's outcome is predicted by the
//! reference model of bpf/parse.h (bad_input/model.rs) applied to what the
//! kernel hands tc ([`model::veth_ingress_view`]: an outer VLAN tag popped,
//! frames too short for it refused or dropped), and checked frame by frame against the
//! exporter's pinned statistics; at the end the monitor maps l3afd reads
//! must show exactly the frames tc saw, the flows of the metered ones and
//! a real UDP flow sent in between come out of the exporter with exact
//! counts, and the exporter is still running.
//!
//! No other traffic reaches veth_a while frames are counted: IPv6 is off
//! (no ND, MLD), the neighbours are static (no ARP), and every injected
//! frame is addressed to a MAC that is not veth_a's (the stack drops it
//! after tc, nothing answers).

// A failed unwrap fails the test, naming its line: the house rule against
// unwrap (Cargo.toml [lints]) is for the shipped code.
#![allow(clippy::unwrap_used)]

mod common;

#[path = "bad_input/gen.rs"]
mod gen;
#[path = "bad_input/model.rs"]
mod model;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::time::{Duration, Instant};

use common::exporter::{read_monitor, totals, Exporter};
use common::netns::{sh, NetnsPair};
use common::packet::PacketSocket;
use common::traffic::{sa, udp_send, udp_sink};
use gen::Rng;
use ipfix_flow_exporter::abi::{FlowKey, FlowStat};
use ipfix_flow_exporter::flow::FlowStats;
use libbpf_rs::{MapCore, MapFlags, MapHandle};
use model::{Flows, Outcome};
use nix::libc;
use serde_json::Value;

/// MTU of both veth ends: jumbo frames of 9014 bytes (9018 tagged).
const MTU: usize = 9000;
/// Destination MAC of every injected frame: unicast, not veth_a's.
const NOT_US: [u8; 6] = [0x02, 0, 0, 0, 0, 0x99];
/// How long a frame the model says the kernel drops is watched for.
const DROP_WATCH: Duration = Duration::from_millis(200);
/// How long a delivered frame may take to show up in the statistics.
const DELIVERY_DEADLINE: Duration = Duration::from_secs(2);

/// Per-CPU statistics of the exporter's ingress program, summed.
fn read_stats(map: &MapHandle) -> FlowStats {
    let mut out = FlowStats::default();
    for stat in FlowStat::ALL {
        let per_cpu = map
            .lookup_percpu(&stat.index().to_ne_bytes(), MapFlags::ANY)
            .expect("reading the statistics map")
            .unwrap_or_default();
        for v in per_cpu {
            let b: [u8; 8] = v.try_into().expect("u64 per CPU");
            out.add(stat, u64::from_ne_bytes(b));
        }
    }
    out
}

fn sub(a: FlowStats, b: FlowStats) -> FlowStats {
    FlowStats {
        packets: a.packets - b.packets,
        non_ip: a.non_ip - b.non_ip,
        parse_failed: a.parse_failed - b.parse_failed,
        table_full_packets: a.table_full_packets - b.table_full_packets,
        table_full_octets: a.table_full_octets - b.table_full_octets,
        sampled_out: a.sampled_out - b.sampled_out,
    }
}

/// What one frame should do to the statistics, or `None` when the kernel
/// drops it before tc.
fn expected_delta(frame: &[u8]) -> Option<(FlowStats, Outcome)> {
    let (seen, vlan_tci) = model::veth_ingress_view(frame)?;
    let outcome = model::parse_tagged(&seen, vlan_tci);
    let mut d = FlowStats {
        packets: 1,
        ..FlowStats::default()
    };
    match outcome {
        Outcome::NonIp => d.non_ip = 1,
        Outcome::ParseFailed => d.parse_failed = 1,
        Outcome::Metered(_) => {}
    }
    Some((d, outcome))
}

/// What AF_PACKET's sendto() says to a frame on a device of MTU [`MTU`]
/// (packet_snd(), 6.18): shorter than the Ethernet header is EINVAL
/// (dev_validate_header(): an Ethernet device's min_header_len is 14, even
/// for CAP_SYS_RAWIO), longer than MTU + 14 (+ 4 with a VLAN ethertype) is
/// EMSGSIZE.
fn socket_verdict(frame: &[u8]) -> Result<(), i32> {
    if frame.len() < 14 {
        return Err(libc::EINVAL);
    }
    let tagged = matches!(u16::from_be_bytes([frame[12], frame[13]]), 0x8100 | 0x88a8);
    if frame.len() > MTU + 14 + if tagged { 4 } else { 0 } {
        return Err(libc::EMSGSIZE);
    }
    Ok(())
}

/// What happened to one injected frame.
#[derive(Debug)]
struct Seen {
    what: String,
    frame: Vec<u8>,
    sent: Result<(), i32>,
    /// The statistics' change it caused.
    delta: FlowStats,
}

/// Sends each frame from namespace `ns` on `dev` and waits (bounded) until
/// the statistics show what the model expects, or until it is clear that
/// they never will; records what they did.
fn inject(ns: &str, dev: &str, stats_pin: &Path, frames: Vec<(String, Vec<u8>)>) -> Vec<Seen> {
    let dev = dev.to_owned();
    let stats_pin = stats_pin.to_owned();
    NetnsPair::run_in(ns, move || {
        let stats = MapHandle::from_pinned_path(&stats_pin).expect("the pinned statistics map");
        let ifindex = nix::net::if_::if_nametoindex(dev.as_str()).expect("ifindex") as i32;
        let sock = PacketSocket::new();
        let mut out = Vec::with_capacity(frames.len());
        let mut before = read_stats(&stats);
        for (what, frame) in frames {
            let sent = sock.send(ifindex, &frame);
            let want = expected_delta(&frame)
                .map(|(d, _)| d)
                .filter(|_| sent.is_ok());
            let deadline = Instant::now()
                + if want.is_some() {
                    DELIVERY_DEADLINE
                } else {
                    DROP_WATCH
                };
            let mut now = read_stats(&stats);
            while Some(sub(now, before)) != want && Instant::now() < deadline {
                std::thread::sleep(Duration::from_micros(200));
                now = read_stats(&stats);
            }
            out.push(Seen {
                what,
                frame,
                sent,
                delta: sub(now, before),
            });
            before = now;
        }
        out
    })
}

/// Sets MTU, static neighbours (no ARP) and no offloads on the pair.
fn prepare(net: &NetnsPair) {
    net.ipv6_off();
    net.offloads_off();
    let mac = |ns: &str, dev: &str| -> String {
        let out = sh("ip", &["-n", ns, "-j", "link", "show", "dev", dev]);
        let v: Value = serde_json::from_slice(&out.stdout).expect("ip -j output");
        v[0]["address"].as_str().expect("a MAC address").to_owned()
    };
    let (mac_a, mac_b) = (mac(&net.a, &net.veth_a), mac(&net.b, &net.veth_b));
    for (ns, dev, peer_ip, peer_mac) in [
        (&net.a, &net.veth_a, "192.0.2.2", &mac_b),
        (&net.b, &net.veth_b, "192.0.2.1", &mac_a),
    ] {
        let mtu = MTU.to_string();
        sh("ip", &["-n", ns, "link", "set", "dev", dev, "mtu", &mtu]);
        sh(
            "ip",
            &[
                "-n",
                ns,
                "neigh",
                "replace",
                peer_ip,
                "lladdr",
                peer_mac,
                "dev",
                dev,
                "nud",
                "permanent",
            ],
        );
    }
}

/// The frames: the malformed shapes, real frames, jumbo frames around the
/// MTU, and random and mutated frames; each addressed to [`NOT_US`].
fn frames(rng: &mut Rng) -> Vec<(String, Vec<u8>)> {
    let mut out = gen::malformed_shapes();
    for (i, f) in gen::valid_frames().into_iter().enumerate() {
        out.push((format!("valid frame {i}"), f));
    }
    let jumbo = MTU + 14;
    let mut claims_more = gen::udp_of_len(false, jumbo);
    claims_more[16..18].copy_from_slice(&u16::try_from(MTU + 1).unwrap().to_be_bytes());
    let mut tagged = gen::udp_of_len(false, jumbo);
    tagged.splice(12..12, [0x81, 0x00, 0x00, 0x07]);
    out.extend([
        ("jumbo IPv4 UDP".into(), gen::udp_of_len(false, jumbo)),
        ("jumbo IPv6 UDP".into(), gen::udp_of_len(true, jumbo)),
        ("jumbo IPv4, total length + 1".into(), claims_more),
        ("jumbo IPv4 behind a VLAN tag".into(), tagged),
        ("jumbo + 1 byte".into(), gen::udp_of_len(false, jumbo + 1)),
    ]);
    let valid = gen::valid_frames();
    for i in 0..3000 {
        let len = rng.range(14, gen::MAX_FRAME);
        let (what, f) = match i % 3 {
            0 => ("random", gen::random_frame(rng, len)),
            1 => ("random IP", gen::random_ip_frame(rng, len)),
            _ => {
                let base = &valid[rng.below(valid.len())];
                ("mutated", gen::mutate(rng, base, gen::MAX_FRAME))
            }
        };
        out.push((format!("{what} {i}"), f));
    }
    for (_, f) in &mut out {
        let n = f.len().min(6);
        f[..n].copy_from_slice(&NOT_US[..n]);
    }
    out
}

fn ip_of(key: &FlowKey) -> (IpAddr, IpAddr) {
    if key.ip_version == 4 {
        let v4 = |a: &[u8; 16]| IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3]));
        (v4(&key.src_addr), v4(&key.dst_addr))
    } else {
        (
            IpAddr::V6(Ipv6Addr::from(key.src_addr)),
            IpAddr::V6(Ipv6Addr::from(key.dst_addr)),
        )
    }
}

fn is_flow(r: &Value, k: &FlowKey) -> bool {
    let (src, dst) = ip_of(k);
    r["direction"] == "ingress"
        && r["ingress_ifindex"] == k.ifindex
        && r["src_addr"] == src.to_string()
        && r["dst_addr"] == dst.to_string()
        && r["protocol"] == k.protocol
        && r["src_port"] == k.src_port
        && r["dst_port"] == k.dst_port
        && r["icmp_type"] == k.icmp_type
        && r["icmp_code"] == k.icmp_code
        && r["vlan_id"] == k.vlan_id
        && r["inner_vlan_id"] == k.inner_vlan_id
}

/// Waits (bounded) until the exporter has published statistics at least
/// as recent as `packets`; returns (packets, non_ip, parse_failed).
fn settled_monitors(pins: &Path, packets: u64) -> (u64, u64, u64) {
    let read = |what: &str| read_monitor(pins, &format!("ipfix_ingress_{what}"));
    let deadline = Instant::now() + Duration::from_secs(5);
    while read("packets") < packets && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    (read("packets"), read("non_ip"), read("parse_failed"))
}

#[test]
fn malformed_frames_through_a_veth() {
    common::require_root!();
    common::require_tools!("ethtool");
    let net = NetnsPair::new();
    prepare(&net);
    let exp = Exporter::start(
        &net.a,
        &net.veth_a,
        &["--direction", "ingress", "--active-timeout", "300ms"],
    );
    let ifindex = NetnsPair::ifindex_in(&net.a, &net.veth_a);
    let stats_pin = exp.pin_dir.join("ipfix_ingress_stats");
    let stats = MapHandle::from_pinned_path(&stats_pin).expect("the pinned statistics map");
    let start = read_stats(&stats);
    let monitors_start = settled_monitors(&exp.pin_dir, start.packets);

    let mut rng = Rng::new(0x1bad_f00d_5eed_0002);
    let all = frames(&mut rng);
    let half = all.len() / 2;
    let mut second = all;
    let first: Vec<_> = second.drain(..half).collect();
    let mut seen = inject(&net.b, &net.veth_b, &stats_pin, first);

    // A valid flow in between: 50 UDP datagrams B -> A.
    let (a, b) = (NetnsPair::ip(false, true), NetnsPair::ip(false, false));
    let before_udp = read_stats(&stats);
    let sink = udp_sink(&net.a, sa(a, 6010));
    let sent = udp_send(&net.b, sa(b, 40010), sa(a, 6010), 50, 100, Duration::ZERO);
    assert_eq!(sent, 50);
    assert_eq!(sink.join().expect("UDP sink"), 50);
    let udp_delta = sub(read_stats(&stats), before_udp);
    assert_eq!(
        udp_delta,
        FlowStats {
            packets: 50,
            ..FlowStats::default()
        },
        "the UDP flow alone, all metered"
    );

    seen.extend(inject(&net.b, &net.veth_b, &stats_pin, second));

    // Frame by frame: sent or refused as AF_PACKET must, seen by tc exactly
    // as the model says.
    let mut want = FlowStats::default();
    let mut flows = Flows::default();
    let (mut dropped, mut refused) = (0, 0);
    for s in &seen {
        let ctx = || {
            format!(
                "{} ({} bytes {:02x?})",
                s.what,
                s.frame.len(),
                &s.frame[..s.frame.len().min(64)]
            )
        };
        assert_eq!(s.sent, socket_verdict(&s.frame), "{}: sendto", ctx());
        if s.sent.is_err() {
            assert_eq!(s.delta, FlowStats::default(), "{}", ctx());
            refused += 1;
            continue;
        }
        match expected_delta(&s.frame) {
            None => {
                assert_eq!(
                    s.delta,
                    FlowStats::default(),
                    "{}: dropped before tc",
                    ctx()
                );
                dropped += 1;
            }
            Some((d, outcome)) => {
                assert_eq!(s.delta, d, "{}: {outcome:?}", ctx());
                want.packets += d.packets;
                want.non_ip += d.non_ip;
                want.parse_failed += d.parse_failed;
                if let Outcome::Metered(p) = outcome {
                    flows.add(&p, ifindex);
                }
            }
        }
    }
    let end = read_stats(&stats);
    let total = sub(end, start);
    assert_eq!(total.packets, want.packets + 50);
    assert_eq!(
        (total.non_ip, total.parse_failed),
        (want.non_ip, want.parse_failed)
    );
    println!(
        "{} frames: {} refused by the socket, {} dropped before tc, {} seen by tc: \
         {} metered, {} non-IP, {} parse failures",
        seen.len(),
        refused,
        dropped,
        want.packets,
        flows.packets(),
        want.non_ip,
        want.parse_failed
    );

    // The monitor maps l3afd reads: exactly what tc saw.
    let monitors = settled_monitors(&exp.pin_dir, end.packets);
    assert_eq!(
        (
            monitors.0 - monitors_start.0,
            monitors.1 - monitors_start.1,
            monitors.2 - monitors_start.2
        ),
        (want.packets + 50, want.non_ip, want.parse_failed),
        "monitor maps: packets, non_ip, parse_failed"
    );

    // Still running: a clean stop exports everything.
    let recs = exp.stop();
    let ingress: Vec<&Value> = recs
        .iter()
        .filter(|r| r["direction"] == "ingress")
        .collect();
    let udp = |r: &Value| {
        r["src_addr"] == b.to_string()
            && r["dst_addr"] == a.to_string()
            && r["protocol"] == 17
            && r["src_port"] == 40010
            && r["dst_port"] == 6010
    };
    assert_eq!(totals(&recs, udp), (50, 50 * 128), "the valid UDP flow");
    for (k, f) in &flows.0 {
        let mine: Vec<&&Value> = ingress.iter().filter(|r| is_flow(r, k)).collect();
        let sum = |field: &str| mine.iter().map(|r| r[field].as_u64().unwrap()).sum::<u64>();
        assert_eq!(
            (sum("packets"), sum("octets")),
            (f.packets, f.octets),
            "flow {k:?}"
        );
        let flags = mine
            .iter()
            .fold(0, |acc, r| acc | r["tcp_flags"].as_u64().unwrap());
        assert_eq!(flags, u64::from(f.tcp_flags), "flow {k:?}");
        let ttl_min = mine.iter().map(|r| r["ttl_min"].as_u64().unwrap()).min();
        let ttl_max = mine.iter().map(|r| r["ttl_max"].as_u64().unwrap()).max();
        assert_eq!(
            (ttl_min, ttl_max),
            (Some(u64::from(f.ttl_min)), Some(u64::from(f.ttl_max))),
            "flow {k:?}"
        );
    }
    // Nothing else: no flow made up, none corrupted.
    let exported: u64 = ingress.iter().map(|r| r["packets"].as_u64().unwrap()).sum();
    assert_eq!(exported, flows.packets() + 50, "ingress packets exported");
}
