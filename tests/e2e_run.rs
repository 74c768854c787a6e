//! End to end: the `run` process on a veth in a test namespace, real
//! traffic, exact per-flow counts from its JSON records.

// A failed unwrap fails the test, naming its line: the house rule against
// unwrap (Cargo.toml [lints]) is for the shipped code.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::IpAddr;
use std::time::Duration;

use common::exporter::{totals, Exporter};
use common::netns::NetnsPair;
use common::traffic::{
    nft_counters, nft_install, sa, tcp_sent_segments, tcp_transfer, udp_l3_overhead, udp_send,
    udp_sink,
};
use ipfix_flow_exporter::datapath::names::MapRole;
use ipfix_flow_exporter::flow::Direction;
use libbpf_rs::libbpf_sys;
use libbpf_rs::{MapCore, MapHandle};
use serde_json::Value;

/// Records of one flow: direction, protocol, source/destination address
/// and destination port (0 matches any).
fn is_flow(r: &Value, dir: &str, proto: u64, src: IpAddr, dst: IpAddr, dport: u64) -> bool {
    r["direction"] == dir
        && r["protocol"] == proto
        && r["src_addr"] == src.to_string()
        && r["dst_addr"] == dst.to_string()
        && (dport == 0 || r["dst_port"] == dport)
}

#[test]
fn udp_v4_and_v6_both_directions_exact() {
    common::require_root!();
    let net = NetnsPair::new();
    let exp = Exporter::start(&net.a, &net.veth_a, &["--active-timeout", "300ms"]);
    let ifindex = NetnsPair::ifindex_in(&net.a, &net.veth_a) as u64;

    let mut expected = Vec::new();
    for (v6, count, payload) in [(false, 37u64, 100usize), (true, 23, 200)] {
        let (a, b) = (NetnsPair::ip(v6, true), NetnsPair::ip(v6, false));
        // A -> B leaves through veth_a: egress.
        let sink_b = udp_sink(&net.b, sa(b, 5001));
        let sent = udp_send(
            &net.a,
            sa(a, 40001),
            sa(b, 5001),
            count,
            payload,
            Duration::ZERO,
        );
        // B -> A arrives on veth_a: ingress.
        let sink_a = udp_sink(&net.a, sa(a, 6001));
        let back = udp_send(
            &net.b,
            sa(b, 40002),
            sa(a, 6001),
            count + 1,
            payload,
            Duration::ZERO,
        );
        assert_eq!(sink_b.join().unwrap(), sent);
        assert_eq!(sink_a.join().unwrap(), back);
        let each = udp_l3_overhead(v6) + payload as u64;
        expected.push(("egress", a, b, 5001, sent, sent * each));
        expected.push(("ingress", b, a, 6001, back, back * each));
    }
    // The one-counter monitor maps l3afd reads hold the datapath totals.
    std::thread::sleep(Duration::from_millis(700));
    for (dir, at_least) in [
        ("egress", expected[0].4 + expected[2].4),
        ("ingress", expected[1].4 + expected[3].4),
    ] {
        let read = |what: &str| {
            common::exporter::read_monitor(&exp.pin_dir, &format!("ipfix_{dir}_{what}"))
        };
        assert!(read("packets") >= at_least, "{dir} packets monitor");
        assert_eq!(read("parse_failed"), 0, "{dir}");
        assert!(read("non_ip") >= 1, "{dir}: ARP is counted, not metered");
        assert_eq!(
            (read("table_full_packets"), read("table_full_octets")),
            (0, 0),
            "{dir}"
        );
    }
    let recs = exp.stop();
    for (dir, src, dst, port, packets, octets) in expected {
        let got = totals(&recs, |r| is_flow(r, dir, 17, src, dst, port));
        assert_eq!(got, (packets, octets), "{dir} {src} -> {dst}:{port}");
        let one = recs
            .iter()
            .find(|r| is_flow(r, dir, 17, src, dst, port))
            .unwrap();
        assert_eq!(one["ttl_min"], 64);
        assert_eq!(one["ttl_max"], 64);
        assert_eq!(one["src_port"], if dir == "egress" { 40001 } else { 40002 });
        let (ing, eg) = if dir == "egress" {
            (0, ifindex)
        } else {
            (ifindex, 0)
        };
        assert_eq!(one["ingress_ifindex"], ing, "{dir}");
        assert_eq!(one["egress_ifindex"], eg, "{dir}");
        assert!(one["start_ms"].as_u64() <= one["end_ms"].as_u64());
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let start = one["start_ms"].as_u64().unwrap();
        assert!(
            now_ms - start < 60_000,
            "start_ms {start} is an absolute time"
        );
    }
}

#[test]
fn icmp_and_icmpv6_echo_exact() {
    common::require_root!();
    common::require_tools!("ping");
    let net = NetnsPair::new();
    let exp = Exporter::start(&net.a, &net.veth_a, &["--active-timeout", "300ms"]);
    NetnsPair::exec(
        &net.a,
        &[
            "ping",
            "-q",
            "-c",
            "5",
            "-i",
            "0.05",
            "-W",
            "2",
            "192.0.2.2",
        ],
    );
    NetnsPair::exec(
        &net.a,
        &[
            "ping",
            "-6",
            "-q",
            "-c",
            "4",
            "-i",
            "0.05",
            "-W",
            "2",
            "2001:db8::2",
        ],
    );
    let recs = exp.stop();
    let (a4, b4) = (NetnsPair::ip(false, true), NetnsPair::ip(false, false));
    let (a6, b6) = (NetnsPair::ip(true, true), NetnsPair::ip(true, false));
    // 56 bytes of ping data + 8 ICMP + 20 IPv4 / 40 IPv6.
    let cases = [
        ("egress", 1, a4, b4, 8, 5, 84),
        ("ingress", 1, b4, a4, 0, 5, 84),
        ("egress", 58, a6, b6, 128, 4, 104),
        ("ingress", 58, b6, a6, 129, 4, 104),
    ];
    for (dir, proto, src, dst, icmp_type, n, size) in cases {
        let flow = |r: &Value| is_flow(r, dir, proto, src, dst, 0) && r["icmp_type"] == icmp_type;
        assert_eq!(
            totals(&recs, flow),
            (n, n * size),
            "{dir} icmp type {icmp_type}"
        );
        let one = recs.iter().find(|r| flow(r)).unwrap();
        assert_eq!(one["icmp_code"], 0);
        assert_eq!(one["src_port"], 0);
        assert_eq!(one["dst_port"], 0);
    }
}

/// 1 MiB (4 MiB) from A to B:port with the exporter on A, checked against
/// two independent kernel references: the TCP MIB's segment counts for
/// packets, and netfilter's byte counts plus the headers GSO repeats in
/// every extra segment (20 bytes IPv4 + 32 bytes TCP with timestamps,
/// Linux's default) for octets.
fn tcp_exact(offloads: bool, port: u16, bytes: usize, extra: &[&str]) {
    let net = NetnsPair::new();
    if !offloads {
        net.offloads_off();
    }
    nft_install(&net.a, port);
    let mut args = vec!["--active-timeout", "300ms"];
    args.extend_from_slice(extra);
    let exp = Exporter::start(&net.a, &net.veth_a, &args);
    for dir in Direction::ALL {
        for role in MapRole::FLOWS {
            let pin = exp.pin_dir.join(role.map_name(dir));
            let flags = MapHandle::from_pinned_path(&pin)
                .unwrap()
                .info()
                .unwrap()
                .info
                .map_flags;
            let preallocated = extra.contains(&"preallocated");
            assert_eq!(
                flags & libbpf_sys::BPF_F_NO_PREALLOC == 0,
                preallocated,
                "{}",
                pin.display()
            );
        }
    }
    let (a, b) = (NetnsPair::ip(false, true), NetnsPair::ip(false, false));
    let (a0, b0) = (tcp_sent_segments(&net.a), tcp_sent_segments(&net.b));
    assert_eq!(tcp_transfer(&net.a, &net.b, sa(b, port), bytes), bytes);
    std::thread::sleep(Duration::from_millis(100));
    let (a_segs, b_segs) = (
        tcp_sent_segments(&net.a) - a0,
        tcp_sent_segments(&net.b) - b0,
    );
    let recs = exp.stop();
    let [(out_p, out_b), (in_p, in_b)] = nft_counters(&net.a);

    let egress = totals(&recs, |r| is_flow(r, "egress", 6, a, b, u64::from(port)));
    assert_eq!(egress.0, a_segs, "egress packets vs the sender's TCP MIB");
    assert_eq!(egress.1, out_b + (a_segs - out_p) * 52, "egress octets");
    let ingress = totals(&recs, |r| {
        is_flow(r, "ingress", 6, b, a, 0) && r["src_port"] == port
    });
    assert_eq!(
        ingress.0, b_segs,
        "ingress packets vs the receiver's TCP MIB"
    );
    assert_eq!(ingress.1, in_b + (b_segs - in_p) * 52, "ingress octets");

    // SYN, ACK, PSH and FIN seen on the client's side; the FIN ends a flow.
    let client = |r: &&Value| is_flow(r, "egress", 6, a, b, u64::from(port));
    let flags = recs
        .iter()
        .filter(client)
        .fold(0, |f, r| f | r["tcp_flags"].as_u64().unwrap());
    assert_eq!(flags & 0x1b, 0x1b, "flags {flags:#x}");
    assert!(recs
        .iter()
        .filter(client)
        .any(|r| r["end_reason"] == "end of flow"));
}

#[test]
fn tcp_exact_with_offloads_off() {
    common::require_root!();
    common::require_tools!("nft");
    tcp_exact(false, 5003, 1 << 20, &[]);
}

#[test]
fn tcp_exact_with_tso_super_packets() {
    common::require_root!();
    common::require_tools!("nft");
    tcp_exact(true, 5004, 4 << 20, &[]);
}

/// `--flow-map-alloc preallocated`: the same exact counts from flow maps
/// created without BPF_F_NO_PREALLOC.
#[test]
fn tcp_exact_with_preallocated_flow_maps() {
    common::require_root!();
    common::require_tools!("nft");
    tcp_exact(true, 5005, 4 << 20, &["--flow-map-alloc", "preallocated"]);
}

/// `run --config FILE`: the file's keys are the flags; here its active
/// timeout (200 ms, against the default 10 s) brings the records out.
#[test]
fn a_config_file_configures_the_run() {
    common::require_root!();
    let net = NetnsPair::new();
    let file = std::env::temp_dir().join(format!("{}.toml", common::unique("ipfix-config-")));
    std::fs::write(
        &file,
        "# what an operator writes\nactive-timeout = \"200ms\"\nclock = \"precise\"\n",
    )
    .unwrap();
    let exp = Exporter::start(&net.a, &net.veth_a, &["--config", file.to_str().unwrap()]);
    std::fs::remove_file(&file).unwrap();
    net.resolve_neighbours();
    let (a, b) = (NetnsPair::ip(false, true), NetnsPair::ip(false, false));
    let sink = udp_sink(&net.b, sa(b, 5011));
    let sent = udp_send(&net.a, sa(a, 40011), sa(b, 5011), 9, 20, Duration::ZERO);
    assert_eq!(sink.join().unwrap(), sent);
    assert!(
        exp.wait_for_record(Duration::from_secs(3), |r| r["dst_port"] == 5011),
        "no record within 3 s: the file's active-timeout did not apply"
    );
    let recs = exp.stop();
    let got = totals(&recs, |r| is_flow(r, "egress", 17, a, b, 5011));
    assert_eq!(got, (sent, sent * (udp_l3_overhead(false) + 20)));
}
