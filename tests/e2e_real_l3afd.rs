//! The artifact under the real l3afd, at every version of
//! `l3af/l3afd.pins` (see tests/common/real_l3afd.rs for how l3afd is
//! built, configured and run). Each test deploys `l3af/payload.json` on a
//! veth through l3afd's REST API, as an operator does, with our own tc-root
//! published beside our artifact, and checks what collectors receive:
//! exact counts per flow and direction, two distinct exporters, sequence
//! numbers tshark accepts, and nothing of ours left after /delete.
//!
//! One l3afd at a time (l3afd kills daemons of other l3afds by name):
//! `make test-l3afd` runs this file with `--test-threads=1`.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::collector::start_collect;
use common::exporter::totals;
use common::l3afd::{Flow, TempDir};
use common::netns::NetnsPair;
use common::process::Background;
use common::real_l3afd::{builds, delete_payload, payload_for, serial, Build, L3afd, Repo};
use common::traffic::{
    mixed_traffic, nft_counters, nft_install, sa, tcp_sent_segments, tcp_transfer, ExpectedFlow,
};
use ipfix_flow_exporter::flow::Direction;
use ipfix_flow_exporter::l3afd::identity::observation_domain;
use nix::sys::signal::Signal;
use serde_json::Value;

fn ready(test: &str) -> Vec<Build> {
    if !common::privileged(test)
        || ![
            "nsenter",
            "unshare",
            "tar",
            "lsb_release",
            "tshark",
            "nfcapd",
            "nft",
        ]
        .iter()
        .all(|t| common::have_tool(test, t))
    {
        return Vec::new();
    }
    builds(test)
}

/// An IPFIX collector on the test namespace's loopback other than our
/// `collect`: nfcapd writing to a scratch directory.
struct Nfcapd {
    bg: Background,
    dir: TempDir,
    port: u16,
}

impl Nfcapd {
    fn start(ns: &str, port: u16) -> Self {
        let dir = TempDir::new("ipfix-nfcapd-");
        let mut bg = Background::start_in(
            ns,
            "nfcapd",
            &[
                "nfcapd",
                "-b",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-w",
                dir.0.to_str().unwrap(),
                "-t",
                "3600",
            ],
        );
        bg.wait_stderr("Startup", Duration::from_secs(10));
        Nfcapd { bg, dir, port }
    }

    /// Stops nfcapd and returns `nfdump -E`'s exporter list and the flows.
    fn stop(mut self) -> (String, Vec<Value>) {
        self.bg.stop();
        let dir = self.dir.0.to_str().unwrap();
        let mut exporters = String::new();
        for f in std::fs::read_dir(&self.dir.0).unwrap().flatten() {
            let out = Command::new("nfdump")
                .arg("-E")
                .arg(f.path())
                .output()
                .expect("running nfdump -E");
            exporters.push_str(&String::from_utf8_lossy(&out.stdout));
        }
        let flows = Command::new("nfdump")
            .env("TZ", "UTC")
            .args(["-R", dir, "-o", "json"])
            .output()
            .expect("running nfdump");
        assert!(flows.status.success());
        (
            exporters,
            serde_json::from_slice(&flows.stdout).unwrap_or_default(),
        )
    }
}

/// tshark capturing the IPFIX on the test namespace's loopback.
struct Capture {
    bg: Background,
    pcap: PathBuf,
    _dir: TempDir,
    ports: Vec<u16>,
}

impl Capture {
    fn start(ns: &str, ports: &[u16]) -> Self {
        let dir = TempDir::new("ipfix-pcap-");
        let pcap = dir.0.join("ipfix.pcap");
        let filter = ports
            .iter()
            .map(|p| format!("udp port {p}"))
            .collect::<Vec<_>>()
            .join(" or ");
        let mut bg = Background::start_in(
            ns,
            "tshark",
            &[
                "tshark",
                "-i",
                "lo",
                "-f",
                &filter,
                "-w",
                pcap.to_str().unwrap(),
            ],
        );
        bg.wait_stderr("Capturing on", Duration::from_secs(30));
        Capture {
            bg,
            pcap,
            _dir: dir,
            ports: ports.to_vec(),
        }
    }

    /// Stops the capture and decodes it: the whole text (for tshark's
    /// expert messages) and one `(src port, domain, sequence)` per message.
    fn stop(mut self) -> (String, Vec<(u64, u64, u64)>) {
        std::thread::sleep(Duration::from_millis(300));
        self.bg.stop_with(Signal::SIGINT);
        let mut cmd = Command::new("tshark");
        cmd.arg("-r").arg(&self.pcap);
        for p in &self.ports {
            cmd.args(["-d", &format!("udp.port=={p},cflow")]);
        }
        let out = cmd.args(["-T", "json"]).output().expect("running tshark");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let packets: Vec<Value> = serde_json::from_str(&text).unwrap_or_default();
        let num = |v: &Value| v.as_str().and_then(|s| s.parse().ok()).unwrap_or(u64::MAX);
        let messages = packets
            .iter()
            .map(|p| {
                let l = &p["_source"]["layers"];
                (
                    num(&l["udp"]["udp.srcport"]),
                    num(&l["cflow"]["cflow.od_id"]),
                    num(&l["cflow"]["cflow.sequence"]),
                )
            })
            .collect();
        (text, messages)
    }
}

/// Both directions of one veth deployed from `l3af/payload.json` by one
/// l3afd, into one collector: every flow exact per direction, ingress and
/// egress two exporters to nfdump and tshark, and no sequence number tshark
/// does not expect in either stream, also across template refreshes while
/// the interface is idle.
fn both_directions(build: &Build) {
    let net = NetnsPair::new();
    let repo = Repo::new();
    let (collect, collect_addr) = start_collect(&net.a, "udp://127.0.0.1:0");
    let nfcapd = Nfcapd::start(&net.a, 4755);
    let capture = Capture::start(&net.a, &[collect_addr.port(), nfcapd.port]);
    let mut l3afd = L3afd::start(build, &repo, &net.a, &net.veth_a);
    let port = collect_addr.port().to_string();
    let second = format!("udp://127.0.0.1:{}", nfcapd.port);
    l3afd.add(&payload_for(
        &net.veth_a,
        &[
            ("collector_ip", "127.0.0.1"),
            ("collector_port", &port),
            ("collector", &second),
            ("active-timeout", "1s"),
            ("template-refresh", "2s"),
        ],
    ));
    let payload = common::l3afd::Payload::load(Direction::Ingress);
    for d in Direction::ALL {
        let exe = l3afd.daemon_path(&payload.name, &payload.version, d);
        let (_, argv) = l3afd.wait_daemon(&exe, None);
        println!("l3afd {} started {argv:?}", build.version);
    }

    // UDP, ICMP, ICMPv6 and protocol 253 over IPv4 and IPv6, both ways.
    let mut expected = mixed_traffic(&net);
    // A TCP connection: segments from both ends' TCP MIBs, octets from
    // netfilter on A's side (above GSO) plus the headers GSO repeats in
    // every further segment (20 bytes IPv4, 32 bytes TCP with timestamps).
    nft_install(&net.a, 7004);
    let b = NetnsPair::ip(false, false);
    let (a0, b0) = (tcp_sent_segments(&net.a), tcp_sent_segments(&net.b));
    assert_eq!(tcp_transfer(&net.a, &net.b, sa(b, 7004), 200_000), 200_000);
    std::thread::sleep(Duration::from_millis(100));
    let (a_segs, b_segs) = (
        tcp_sent_segments(&net.a) - a0,
        tcp_sent_segments(&net.b) - b0,
    );
    let [(out_p, out_b), (in_p, in_b)] = nft_counters(&net.a);
    let a = NetnsPair::ip(false, true);
    // Idle: several template refreshes (2 s) with nothing to export.
    std::thread::sleep(Duration::from_secs(5));
    let late: Vec<Flow> = Direction::ALL
        .into_iter()
        .map(|d| Flow::new(&net, d, 7010))
        .collect();
    let late_n: Vec<u64> = late
        .iter()
        .map(|f| f.send(50, Duration::from_millis(1)))
        .collect();

    l3afd.delete(&delete_payload(&net.veth_a, &Direction::ALL));
    let gone = common::l3afd::wait_until(Duration::from_secs(10), || l3afd.daemons().is_empty());
    assert!(gone, "daemons left after /delete: {:?}", l3afd.daemons());
    std::thread::sleep(Duration::from_millis(300));
    let records: Vec<Value> = {
        let mut c = collect;
        c.stop()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .filter(|v: &Value| v.get("flow_id").is_some())
            .collect()
    };
    let (pcap_text, messages) = capture.stop();
    let (exporters, nf_flows) = nfcapd.stop();

    // Exact per flow and direction.
    for (f, n) in late.iter().zip(&late_n) {
        assert_eq!(totals(&records, |r| f.matches(r)), f.expect(*n), "{f:?}");
    }
    expected.extend([
        ExpectedFlow {
            direction: "egress",
            protocol: 6,
            src: a,
            dst: b,
            port_or_type: 7004,
            packets: a_segs,
            octets: out_b + (a_segs - out_p) * 52,
        },
        ExpectedFlow {
            direction: "ingress",
            protocol: 6,
            src: b,
            dst: a,
            port_or_type: 0,
            packets: b_segs,
            octets: in_b + (b_segs - in_p) * 52,
        },
    ]);
    for e in &expected {
        let m = |r: &Value| {
            if e.protocol == 6 && e.direction == "ingress" {
                r["direction"] == "ingress" && r["protocol"] == 6 && r["src_port"] == 7004
            } else {
                e.matches(r)
            }
        };
        assert_eq!(
            totals(&records, m),
            (e.packets, e.octets),
            "l3afd {}: {e:?}",
            build.version
        );
        if e.protocol == 6 {
            let flags = records
                .iter()
                .filter(|r| m(r))
                .fold(0, |f, r| f | r["tcp_flags"].as_u64().unwrap());
            // SYN, ACK and FIN both ways; PSH from the sender.
            let want = if e.direction == "egress" { 0x1b } else { 0x13 };
            assert_eq!(flags & want, want, "{} TCP flags {flags:#x}", e.direction);
        }
    }
    // Two exporters: one observation domain per direction, each record in
    // its direction's.
    let ifindex = NetnsPair::ifindex_in(&net.a, &net.veth_a);
    for r in &records {
        let d = if r["direction"] == "ingress" {
            Direction::Ingress
        } else {
            Direction::Egress
        };
        assert_eq!(
            r["observation_domain_id"],
            observation_domain(ifindex, d),
            "{r}"
        );
    }
    let domains: BTreeSet<u64> = messages.iter().map(|m| m.1).collect();
    assert_eq!(
        domains,
        Direction::ALL
            .iter()
            .map(|d| u64::from(observation_domain(ifindex, *d)))
            .collect(),
        "tshark saw the two daemons' observation domains"
    );
    let unexpected: Vec<&str> = pcap_text
        .lines()
        .filter(|l| l.contains("Unexpected flow sequence"))
        .collect();
    assert!(
        unexpected.is_empty(),
        "l3afd {}: tshark saw unexpected sequence numbers: {unexpected:#?}\nmessages (src port, domain, sequence): {messages:?}",
        build.version
    );
    assert!(!pcap_text.contains("_ws.malformed"), "tshark: malformed");
    // nfdump keys exporters by source address and observation domain.
    let listed = exporters.lines().filter(|l| l.contains("SysID")).count();
    assert_eq!(listed, 2, "nfdump -E lists two exporters:\n{exporters}");
    let nf_packets: u64 = nf_flows
        .iter()
        .map(|f| f["in_packets"].as_u64().unwrap_or(0))
        .sum();
    let ours: u64 = records.iter().map(|r| r["packets"].as_u64().unwrap()).sum();
    assert_eq!(nf_packets, ours, "nfcapd got what collect got");
    println!(
        "l3afd {}: {} records, {} IPFIX messages, nfdump exporters:\n{exporters}",
        build.version,
        records.len(),
        messages.len()
    );
}

#[test]
fn both_directions_of_one_interface_are_two_exporters() {
    let _one = serial();
    for build in ready("real_l3afd_both_directions") {
        both_directions(&build);
    }
}
