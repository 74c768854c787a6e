//! Faults and bad input end to end: a full flow table, a flood of new
//! flows. Every packet the program saw is exported exactly once or counted
//! as not exported.

// A failed unwrap fails the test, naming its line: the house rule against
// unwrap (Cargo.toml [lints]) is for the shipped code.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::exporter::{totals, Exporter};
use common::frames::Ethernet;
use common::netns::NetnsPair;
use common::packet::send_frames;
use common::process::Background;
use common::traffic::{sa, udp_send, udp_sink};
use serde_json::Value;

fn read_monitor(exp: &Exporter, name: &str) -> u64 {
    common::exporter::read_monitor(&exp.pin_dir, name)
}

/// The last metering statistics options record (template 266) a collector
/// printed.
fn last_statistics(stdout: &str) -> Value {
    stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .rfind(|v| v["template_id"] == 266)
        .expect("a statistics options record")["fields"]
        .clone()
}

#[test]
fn a_full_flow_table_passes_every_packet_and_counts_the_unmetered_exactly() {
    common::require_root!();
    let net = NetnsPair::new();
    net.ipv6_off();
    let mut collect = Background::start_in(
        &net.a,
        "collect",
        &[
            common::exporter::BIN,
            "collect",
            "--format",
            "json",
            "--listen",
            "udp://127.0.0.1:4739",
        ],
    );
    collect.wait_stderr("listening on", Duration::from_secs(10));
    let exp = Exporter::start(
        &net.a,
        &net.veth_a,
        &[
            "--max-flows",
            "16",
            "--active-timeout",
            "1s",
            "--collector",
            "127.0.0.1:4739",
        ],
    );
    let (a, b) = (NetnsPair::ip(false, true), NetnsPair::ip(false, false));
    // 40 flows of 5 packets within one interval into a table of 16.
    let sink = udp_sink(&net.b, sa(b, 7300));
    let mut sent = 0;
    for p in 0..40u16 {
        sent += udp_send(&net.a, sa(a, 42000 + p), sa(b, 7300), 5, 50, Duration::ZERO);
    }
    assert_eq!(sink.join().unwrap(), sent, "every packet passed");
    assert_eq!(sent, 200);
    // Two intervals later the table has room again.
    std::thread::sleep(Duration::from_millis(2500));
    let sink = udp_sink(&net.b, sa(b, 7301));
    let late = udp_send(&net.a, sa(a, 43000), sa(b, 7301), 3, 50, Duration::ZERO);
    assert_eq!(sink.join().unwrap(), late);
    // Every burst flow again, 2 packets each, 10 flows an interval: room
    // for all, so the flows that lost packets get records that say so.
    for chunk in 0..4u16 {
        let sink = udp_sink(&net.b, sa(b, 7300));
        let mut again = 0;
        for p in chunk * 10..chunk * 10 + 10 {
            again += udp_send(&net.a, sa(a, 42000 + p), sa(b, 7300), 2, 50, Duration::ZERO);
        }
        assert_eq!(sink.join().unwrap(), again);
        sent += again;
        std::thread::sleep(Duration::from_millis(1300));
    }
    assert_eq!(sent, 280);
    // Malformed IPv4 (IHL 3) arriving: passed, not metered, and ignored
    // as the statistics count it.
    let malformed = Ethernet::new().frame(0x0800, &[0x43; 40]);
    send_frames(&net.b, &net.veth_b, malformed, 4);
    std::thread::sleep(Duration::from_millis(2500));
    let (table_full_packets, table_full_octets) = (
        read_monitor(&exp, "ipfix_egress_table_full_packets"),
        read_monitor(&exp, "ipfix_egress_table_full_octets"),
    );
    let parse_failed = read_monitor(&exp, "ipfix_ingress_parse_failed")
        + read_monitor(&exp, "ipfix_egress_parse_failed");
    assert_eq!(parse_failed, 4, "the malformed frames, nothing else");
    let recs = exp.stop();
    std::thread::sleep(Duration::from_millis(300));
    let out = collect.stop();

    let burst = |r: &Value| r["direction"] == "egress" && r["dst_port"] == 7300;
    let (metered, metered_octets) = totals(&recs, burst);
    assert!(
        metered > 0 && table_full_packets > 0,
        "metered {metered}, refused {table_full_packets}"
    );
    assert_eq!(
        metered + table_full_packets,
        sent,
        "metered + refused = sent"
    );
    assert_eq!(metered_octets + table_full_octets, sent * 78, "octets too");
    let stats = last_statistics(&out);
    // RFC 7011 §4.2: packets observed and not metered — refused by the
    // full table, and the ones that failed to parse (no IP length to count
    // their octets by).
    assert_eq!(
        stats["ignoredPacketTotalCount"],
        table_full_packets + parse_failed
    );
    assert_eq!(stats["ignoredOctetTotalCount"], table_full_octets);
    // flowEndReason 5 on exactly one record of each flow that lost packets
    // (its next one), on no record of a flow metered whole.
    let mut lost_flows = 0;
    for p in 0..40u16 {
        let this = |r: &Value| burst(r) && r["src_port"] == 42000 + p;
        let (metered, _) = totals(&recs, this);
        let lack = recs
            .iter()
            .filter(|r| this(r) && r["end_reason"] == "lack of resources")
            .count();
        let lost = 7 - metered;
        lost_flows += usize::from(lost > 0);
        assert_eq!(
            lack,
            usize::from(lost > 0),
            "flow {p} lost {lost} packets: {:?}",
            recs.iter()
                .filter(|r| this(r))
                .map(|r| format!("{} {}", r["packets"], r["end_reason"]))
                .collect::<Vec<_>>()
        );
    }
    assert!(lost_flows > 0, "the table overflowed");
    // The table recovered: the late flow is metered whole.
    let late_flow = |r: &Value| r["direction"] == "egress" && r["dst_port"] == 7301;
    assert_eq!(totals(&recs, late_flow), (late, late * 78));
    assert!(recs
        .iter()
        .filter(|r| late_flow(r))
        .all(|r| r["end_reason"] != "lack of resources"));
}

/// Peak resident memory of a process, in KiB.
fn vm_hwm_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn memory_stays_bounded_under_a_flood_of_new_flows() {
    common::require_root!();
    let net = NetnsPair::new();
    net.ipv6_off();
    let exp = Exporter::start(
        &net.a,
        &net.veth_a,
        &[
            "--max-flows",
            "4096",
            "--active-timeout",
            "500ms",
            "--direction",
            "egress",
        ],
    );
    let (a, b) = (NetnsPair::ip(false, true), NetnsPair::ip(false, false));
    // 200 000 new flows in a few seconds: 40 source ports × 5 000 ports.
    let sent = NetnsPair::run_in(&net.a, move || {
        let socks: Vec<_> = (0..40u16)
            .map(|i| std::net::UdpSocket::bind(sa(a, 41000 + i)).unwrap())
            .collect();
        let mut n = 0u64;
        for port in 0..5000u16 {
            for s in &socks {
                if s.send_to(&[0u8; 4], sa(b, 20_000 + port)).is_ok() {
                    n += 1;
                }
            }
        }
        n
    });
    std::thread::sleep(Duration::from_millis(1500));
    let hwm = vm_hwm_kib(exp.pid());
    eprintln!("peak RSS {hwm} KiB after {sent} new flows");
    let full = read_monitor(&exp, "ipfix_egress_table_full_packets");
    let recs = exp.stop();
    let metered: u64 = recs
        .iter()
        .filter(|r| r["direction"] == "egress" && r["protocol"] == 17)
        .map(|r| r["packets"].as_u64().unwrap())
        .sum();
    assert_eq!(metered + full, sent, "every packet metered or counted");
    // User space holds no counts, only ≤ 2 × max-flows flow ids per
    // direction and one drain chunk: far below this bound (README).
    assert!(
        hwm < 32 * 1024,
        "peak RSS {hwm} KiB under a flood of {sent} flows"
    );
}
