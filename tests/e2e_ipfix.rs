//! IPFIX end to end: real traffic in namespaces, `run --collector`, and
//! independent decoders (tshark, nfcapd/nfdump) plus our own `collect`,
//! each agreeing with the records the exporter itself printed — which in
//! turn agree exactly with the traffic sent.

// A failed unwrap fails the test, naming its line: the house rule against
// unwrap (Cargo.toml [lints]) is for the shipped code.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use common::collector::{collected_flows, sorted, start_collect};
use common::exporter::Exporter;
use common::netns::NetnsPair;
use common::process::Background;
use common::tempdir::TempDir;
use common::traffic::{assert_expected, mixed_traffic, sa, udp_sink};
use ipfix_flow_exporter::schema::FlowTemplate;
use nix::sys::signal::Signal;
use serde_json::Value;

const COLLECTOR_PORT: u16 = 4739;
const LOOPBACK: std::net::IpAddr = std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

/// One flow record in a decoder-independent shape: every field both sides
/// know, as strings. Multisets of these are compared.
type Row = BTreeMap<&'static str, String>;

fn row_from_exporter(r: &Value) -> Row {
    let s = |k: &str| r[k].to_string().trim_matches('"').to_owned();
    let mut row = Row::new();
    for k in [
        "src_addr",
        "dst_addr",
        "src_port",
        "dst_port",
        "protocol",
        "packets",
        "octets",
        "ttl_min",
        "ttl_max",
        "tos",
        "flow_id",
        "start_ms",
        "end_ms",
        "end_reason_code",
    ] {
        row.insert(k, s(k));
    }
    row.insert(
        "direction",
        if r["direction"] == "ingress" {
            "0"
        } else {
            "1"
        }
        .into(),
    );
    // Every record carries both interfaces (0 when unknown).
    row.insert("ingress_ifindex", s("ingress_ifindex"));
    row.insert("egress_ifindex", s("egress_ifindex"));
    let icmp = r["protocol"] == 1 || r["protocol"] == 58;
    row.insert(
        "icmp_type",
        if icmp { s("icmp_type") } else { String::new() },
    );
    row.insert(
        "icmp_code",
        if icmp { s("icmp_code") } else { String::new() },
    );
    row.insert(
        "tcp_flags",
        if icmp { String::new() } else { s("tcp_flags") },
    );
    row.insert("dscp", (r["tos"].as_u64().unwrap() >> 2).to_string());
    row
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// days_from_civil).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// tshark's absolute time, "Nov 28, 2026 04:17:40.761000000 UTC", in ms.
fn tshark_time_ms(s: &str) -> u64 {
    let w: Vec<&str> = s
        .split([' ', ',', ':', '.'])
        .filter(|x| !x.is_empty())
        .collect();
    let month = MONTHS.iter().position(|m| *m == w[0]).unwrap() as i64 + 1;
    let (day, year): (i64, i64) = (w[1].parse().unwrap(), w[2].parse().unwrap());
    let (h, mi, sec): (i64, i64, i64) = (
        w[3].parse().unwrap(),
        w[4].parse().unwrap(),
        w[5].parse().unwrap(),
    );
    let ms: i64 = w[6][..3].parse().unwrap();
    assert_eq!(w[7], "UTC", "{s}");
    ((days_from_civil(year, month, day) * 86_400 + h * 3600 + mi * 60 + sec) * 1000 + ms) as u64
}

fn num(v: &Value) -> u64 {
    let s = v.as_str().unwrap_or_default();
    match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).unwrap(),
        None => s.parse().unwrap_or_else(|_| panic!("not a number: {v}")),
    }
}

fn row_from_tshark(f: &Value) -> Row {
    let g = |k: &str| {
        f.get(format!("cflow.{k}"))
            .unwrap_or_else(|| panic!("no cflow.{k} in {f}"))
    };
    let mut row = Row::new();
    let v6 = f.get("cflow.srcaddrv6").is_some();
    let (src, dst) = if v6 {
        ("srcaddrv6", "dstaddrv6")
    } else {
        ("srcaddr", "dstaddr")
    };
    row.insert("src_addr", g(src).as_str().unwrap().to_owned());
    row.insert("dst_addr", g(dst).as_str().unwrap().to_owned());
    for (ours, theirs) in [
        ("src_port", "srcport"),
        ("dst_port", "dstport"),
        ("protocol", "protocol"),
        ("packets", "packets"),
        ("octets", "octets"),
        ("ttl_min", "ttl_min"),
        ("ttl_max", "ttl_max"),
        ("tos", "tos"),
        ("flow_id", "flow_id"),
        ("direction", "direction"),
        ("dscp", "ip_dscp"),
        ("end_reason_code", "flow_end_reason"),
    ] {
        row.insert(ours, num(g(theirs)).to_string());
    }
    row.insert("ingress_ifindex", num(g("inputint")).to_string());
    row.insert("egress_ifindex", num(g("outputint")).to_string());
    let times = g("timedelta_tree");
    row.insert(
        "start_ms",
        tshark_time_ms(times["cflow.abstimestart"].as_str().unwrap()).to_string(),
    );
    row.insert(
        "end_ms",
        tshark_time_ms(times["cflow.abstimeend"].as_str().unwrap()).to_string(),
    );
    let (icmp_type, icmp_code, flags) = if let Some(tc) = f.get("cflow.icmp_type_code_ipv4") {
        let tc = num(tc);
        (
            (tc >> 8).to_string(),
            (tc & 0xff).to_string(),
            String::new(),
        )
    } else if let Some(t) = f.get("cflow.icmp_ipv6_type") {
        (
            num(t).to_string(),
            num(g("icmp_ipv6_code")).to_string(),
            String::new(),
        )
    } else {
        (String::new(), String::new(), num(g("tcpflags")).to_string())
    };
    row.insert("icmp_type", icmp_type);
    row.insert("icmp_code", icmp_code);
    row.insert("tcp_flags", flags);
    row
}

fn sorted_rows(mut rows: Vec<Row>) -> Vec<Row> {
    rows.sort();
    rows
}

/// tshark capturing what is sent to port 4739 on an interface of a
/// namespace.
struct Capture {
    bg: Background,
    dir: TempDir,
}

impl Capture {
    fn start(ns: &str) -> Self {
        Self::start_on(ns, "lo")
    }

    fn start_on(ns: &str, iface: &str) -> Self {
        let dir = TempDir::new("ipfix-tshark-");
        let pcap = dir.str("capture.pcap");
        let mut bg = Background::start_in(
            ns,
            "tshark",
            &["tshark", "-i", iface, "-f", "udp port 4739", "-w", &pcap],
        );
        bg.wait_stderr("Capturing on", Duration::from_secs(30));
        Capture { bg, dir }
    }

    /// Stops capturing; tshark's JSON decoding of everything captured.
    fn stop(mut self) -> String {
        std::thread::sleep(Duration::from_millis(500));
        self.bg.stop_with(Signal::SIGINT);
        let out = Command::new("tshark")
            .arg("-r")
            .arg(self.dir.join("capture.pcap"))
            .args(["-d", "udp.port==4739,cflow", "-T", "json"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// Our data templates' IDs, as the schema numbers them.
fn data_template_ids() -> Vec<u16> {
    FlowTemplate::all().map(FlowTemplate::id).collect()
}

/// tshark checks each message's sequence number against the records
/// before it in its transport session and observation domain.
fn assert_sequence_in_order(tshark_json: &str) {
    let unexpected: Vec<&str> = tshark_json
        .lines()
        .filter(|l| l.contains("Unexpected flow sequence"))
        .collect();
    assert!(
        unexpected.is_empty(),
        "tshark saw sequence numbers out of order: {unexpected:#?}"
    );
}

#[test]
fn tshark_decodes_every_template_and_field_exactly() {
    common::require_root!();
    common::require_tools!("tshark");
    let net = NetnsPair::new();
    let absorb = udp_sink(&net.a, sa(LOOPBACK, COLLECTOR_PORT));
    let cap = Capture::start(&net.a);
    let exp = Exporter::start(
        &net.a,
        &net.veth_a,
        &["--active-timeout", "300ms", "--collector", "127.0.0.1:4739"],
    );
    let expected = mixed_traffic(&net);
    std::thread::sleep(Duration::from_millis(200));
    let recs = exp.stop();
    assert_expected(&recs, &expected);
    let text = cap.stop();
    let _ = absorb.join();
    assert_sequence_in_order(&text);
    assert!(
        !text.contains("_ws.malformed"),
        "tshark found malformed packets"
    );
    let packets: Vec<Value> = serde_json::from_str(&text).unwrap();
    let mut rows = Vec::new();
    let mut templates_seen = std::collections::BTreeSet::new();
    for p in &packets {
        let cflow = &p["_source"]["layers"]["cflow"];
        let Some(obj) = cflow.as_object() else {
            continue;
        };
        for (k, set) in obj {
            let Some(id) = k.split("[id=").nth(1).and_then(|s| s.split(']').next()) else {
                continue;
            };
            let id: u16 = id.parse().unwrap();
            templates_seen.insert(id);
            if !data_template_ids().contains(&id) {
                continue;
            }
            for (fk, flow) in set.as_object().unwrap() {
                if fk.starts_with("Flow ") {
                    rows.push(row_from_tshark(flow));
                }
            }
        }
    }
    // All eight data templates and the options templates carried records
    // (276: the exporter's IPv4 address).
    let want: std::collections::BTreeSet<u16> = data_template_ids()
        .into_iter()
        .chain([264, 266, 267, 276])
        .collect();
    assert!(
        want.is_subset(&templates_seen),
        "templates decoded: {templates_seen:?}"
    );
    let ours: Vec<Row> = recs.iter().map(row_from_exporter).collect();
    assert_eq!(
        rows.len(),
        ours.len(),
        "tshark decoded as many records as were exported"
    );
    assert_eq!(sorted_rows(rows), sorted_rows(ours));
}

#[test]
fn nfcapd_and_nfdump_decode_the_records_exactly() {
    common::require_root!();
    common::require_tools!("nfcapd");
    let net = NetnsPair::new();
    let dir = TempDir::new("ipfix-nfcapd-");
    let mut nfcapd = Background::start_in(
        &net.a,
        "nfcapd",
        &[
            "nfcapd",
            "-b",
            "127.0.0.1",
            "-p",
            "4739",
            "-w",
            dir.0.to_str().unwrap(),
            "-t",
            "3600",
        ],
    );
    nfcapd.wait_stderr("Startup", Duration::from_secs(10));
    let exp = Exporter::start(
        &net.a,
        &net.veth_a,
        &["--active-timeout", "300ms", "--collector", "127.0.0.1:4739"],
    );
    let expected = mixed_traffic(&net);
    std::thread::sleep(Duration::from_millis(200));
    let recs = exp.stop();
    assert_expected(&recs, &expected);
    std::thread::sleep(Duration::from_millis(300));
    nfcapd.stop();
    let out = Command::new("nfdump")
        .env("TZ", "UTC")
        .args(["-R", dir.0.to_str().unwrap(), "-o", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let flows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let swapped = nfdump_swaps_sysuptime();
    let rows: Vec<Row> = flows.iter().map(|f| row_from_nfdump(f, swapped)).collect();
    let ours: Vec<Row> = recs.iter().map(row_for_nfdump).collect();
    assert_eq!(
        rows.len(),
        ours.len(),
        "nfdump read as many records as were exported"
    );
    assert_eq!(sorted_rows(rows), sorted_rows(ours));
}

/// The fields nfdump keeps of our records.
fn row_for_nfdump(r: &Value) -> Row {
    let full = row_from_exporter(r);
    let mut row = Row::new();
    for k in [
        "src_addr",
        "dst_addr",
        "protocol",
        "packets",
        "octets",
        "tos",
        "icmp_type",
        "icmp_code",
        "tcp_flags",
        "start_ms",
        "end_ms",
        "direction",
    ] {
        row.insert(k, full[k].clone());
    }
    let icmp = r["protocol"] == 1 || r["protocol"] == 58;
    row.insert(
        "src_port",
        if icmp {
            String::new()
        } else {
            full["src_port"].clone()
        },
    );
    row.insert(
        "dst_port",
        if icmp {
            String::new()
        } else {
            full["dst_port"].clone()
        },
    );
    row.insert("input", full["ingress_ifindex"].clone());
    row.insert("output", full["egress_ifindex"].clone());
    row
}

/// nfdump's "2026-11-28T04:17:18.077" (TZ=UTC) in ms since the epoch.
fn nfdump_time_ms(s: &str) -> u64 {
    let w: Vec<i64> = s
        .split(['-', 'T', ':', '.'])
        .map(|x| x.parse().unwrap_or_else(|_| panic!("time {s}")))
        .collect();
    ((days_from_civil(w[0], w[1], w[2]) * 86_400 + w[3] * 3600 + w[4] * 60 + w[5]) * 1000 + w[6])
        as u64
}

/// nfdump 1.7.1 (Debian 12) maps flowStartSysUpTime to "last" and
/// flowEndSysUpTime to "first" (src/netflow/ipfix.c, its element table;
/// fixed in 1.7.2), and prefers SysUpTime over flowStart/EndMilliseconds.
fn nfdump_swaps_sysuptime() -> bool {
    let out = Command::new("nfdump").arg("-V").output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .trim_end()
        .ends_with("1.7.1")
}

fn row_from_nfdump(f: &Value, swapped_times: bool) -> Row {
    let n = |k: &str| {
        f[k].as_u64()
            .unwrap_or_else(|| panic!("no {k} in {f}"))
            .to_string()
    };
    let mut row = Row::new();
    let v6 = f.get("src6_addr").is_some();
    let (src, dst) = if v6 {
        ("src6_addr", "dst6_addr")
    } else {
        ("src4_addr", "dst4_addr")
    };
    row.insert("src_addr", f[src].as_str().unwrap().to_owned());
    row.insert("dst_addr", f[dst].as_str().unwrap().to_owned());
    row.insert("protocol", n("proto"));
    row.insert("packets", n("in_packets"));
    row.insert("octets", n("in_bytes"));
    row.insert("tos", n("src_tos"));
    row.insert("direction", n("direction"));
    row.insert("input", n("input_snmp"));
    row.insert("output", n("output_snmp"));
    let (first, last) = if swapped_times {
        ("last", "first")
    } else {
        ("first", "last")
    };
    row.insert(
        "start_ms",
        nfdump_time_ms(f[first].as_str().unwrap()).to_string(),
    );
    row.insert(
        "end_ms",
        nfdump_time_ms(f[last].as_str().unwrap()).to_string(),
    );
    let icmp = f.get("icmp_type").is_some();
    let opt = |k: &str, present: bool| if present { n(k) } else { String::new() };
    row.insert("icmp_type", opt("icmp_type", icmp));
    row.insert("icmp_code", opt("icmp_code", icmp));
    row.insert("src_port", opt("src_port", !icmp));
    row.insert("dst_port", opt("dst_port", !icmp));
    let flags = match f.get("tcp_flags") {
        Some(v) => tcp_flags_from_nfdump(v.as_str().unwrap()).to_string(),
        None if icmp => String::new(),
        None => "0".to_owned(),
    };
    row.insert("tcp_flags", flags);
    row
}

/// nfdump prints flags as "...AP.SF" (CWR ECE URG ACK PSH RST SYN FIN).
fn tcp_flags_from_nfdump(s: &str) -> u64 {
    s.chars()
        .rev()
        .enumerate()
        .filter(|(_, c)| *c != '.')
        .map(|(i, _)| 1u64 << i)
        .sum()
}

#[test]
fn collect_decodes_every_record_exactly_over_udp_and_tcp() {
    common::require_root!();
    let net = NetnsPair::new();
    let (mut udp, udp_addr) = start_collect(&net.a, "udp://127.0.0.1:0");
    let (mut tcp, tcp_addr) = start_collect(&net.a, "tcp://127.0.0.1:0");
    let exp = Exporter::start(
        &net.a,
        &net.veth_a,
        &[
            "--active-timeout",
            "300ms",
            "--collector",
            &format!("udp://{udp_addr}"),
            "--collector",
            &format!("tcp://{tcp_addr}"),
        ],
    );
    let expected = mixed_traffic(&net);
    std::thread::sleep(Duration::from_millis(200));
    let exporter_log = std::sync::Arc::clone(&exp.stderr);
    let recs = exp.stop();
    assert_expected(&recs, &expected);
    // RFC 7011 §10.4.2: the TCP session ends with every template
    // withdrawn and both sides closed, in the flush deadline.
    let exporter_log = exporter_log.lock().unwrap().clone();
    assert!(
        exporter_log.contains(&format!(
            "collector tcp://{tcp_addr}: templates withdrawn, connection closed"
        )),
        "{exporter_log}"
    );
    tcp.wait_stderr("connection closed", Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(300));
    let tcp_log = tcp.stderr.lock().unwrap().clone();
    assert!(
        tcp_log.contains("all 8 data templates withdrawn"),
        "{tcp_log}"
    );
    assert!(
        tcp_log.contains("all 5 options templates withdrawn"),
        "{tcp_log}"
    );
    let (u, t) = (udp.stop(), tcp.stop());
    for (name, out, log) in [("udp", u, &udp.stderr), ("tcp", t, &tcp.stderr)] {
        let log = log.lock().unwrap().clone();
        assert!(!log.contains("unknown template"), "{name}: {log}");
        assert!(!log.contains("lost"), "{name}: {log}");
        assert_eq!(
            sorted(&collected_flows(&out)),
            sorted(&recs),
            "{name} collector"
        );
        // The statistics options record arrived too.
        assert!(out.contains("exportedFlowRecordTotalCount"), "{name}");
    }
}

/// RFC 7011 §3.1: a message's sequence number counts the data records sent
/// before it. Template refreshes fall due while the interface is idle and
/// at the end of intervals with records; tshark follows the numbers across
/// all of them (templates and options records count, in sending order).
#[test]
fn sequence_numbers_stay_in_order_across_template_refreshes() {
    common::require_root!();
    common::require_tools!("tshark");
    let net = NetnsPair::new();
    let absorb = udp_sink(&net.a, sa(LOOPBACK, COLLECTOR_PORT));
    let cap = Capture::start(&net.a);
    let exp = Exporter::start(
        &net.a,
        &net.veth_a,
        &[
            "--active-timeout",
            "300ms",
            "--template-refresh",
            "1s",
            "--collector",
            "127.0.0.1:4739",
        ],
    );
    let (a, b) = (NetnsPair::ip(false, true), NetnsPair::ip(false, false));
    for round in 0..3u16 {
        let sink = udp_sink(&net.b, sa(b, 7200 + round));
        let n = common::traffic::udp_send(
            &net.a,
            sa(a, 47200 + round),
            sa(b, 7200 + round),
            40,
            64,
            Duration::from_millis(20),
        );
        assert_eq!(sink.join().unwrap(), n);
        // Idle across at least two refreshes.
        std::thread::sleep(Duration::from_millis(2300));
    }
    exp.stop();
    let text = cap.stop();
    let _ = absorb.join();
    let first = FlowTemplate::all().next().unwrap().id();
    let refreshes = text
        .matches(&format!("\"cflow.template_id\": \"{first}\""))
        .count();
    assert!(refreshes >= 6, "templates sent {refreshes} times");
    assert_sequence_in_order(&text);
}

/// Found in review: `--mtu` above the path MTU sent datagrams the kernel had
/// to fragment. The collector sits behind a 576-octet link: no datagram
/// carries more than 548 octets of IPFIX, and every record still arrives.
#[test]
fn no_datagram_exceeds_the_path_mtu() {
    common::require_root!();
    common::require_tools!("tshark");
    let net = NetnsPair::new();
    for (ns, dev) in [(&net.a, &net.veth_a), (&net.b, &net.veth_b)] {
        let out = NetnsPair::exec(ns, &["ip", "link", "set", dev, "mtu", "576"]);
        assert!(out.status.success(), "{out:?}");
    }
    let collector_ip = NetnsPair::ip(false, false);
    let (mut collector, addr) = start_collect(&net.b, &format!("udp://{collector_ip}:4739"));
    let capture = Capture::start_on(&net.b, &net.veth_b);
    let exp = Exporter::start(
        &net.a,
        &net.veth_a,
        &[
            "--active-timeout",
            "300ms",
            "--mtu",
            "1400",
            "--collector",
            &format!("udp://{addr}"),
        ],
    );
    let to = sa(collector_ip, 9);
    let sink = udp_sink(&net.b, to);
    let from = sa(NetnsPair::ip(false, true), 0);
    let flows = 40u16;
    NetnsPair::run_in(&net.a, move || {
        for port in 0..flows {
            let s = std::net::UdpSocket::bind(sa(from.ip(), 20000 + port)).unwrap();
            s.send_to(&[0u8; 32], to).unwrap();
        }
    });
    assert_eq!(
        sink.join().unwrap(),
        u64::from(flows),
        "datagrams delivered"
    );
    let log = std::sync::Arc::clone(&exp.stderr);
    let recs = exp.stop();
    assert!(
        log.lock()
            .unwrap()
            .contains("more than the path carries in one datagram (548 octets)"),
        "{}",
        log.lock().unwrap()
    );
    std::thread::sleep(Duration::from_millis(300));
    let json = capture.stop();
    let out = collector.stop();
    let ours: Vec<&Value> = recs
        .iter()
        .filter(|r| r["protocol"] == 17 && r["dst_port"] == 9)
        .collect();
    assert_eq!(ours.len(), usize::from(flows), "one record per flow");
    assert_eq!(
        sorted(&collected_flows(&out)),
        sorted(&recs),
        "every record arrived"
    );
    let lengths: Vec<u64> = serde_json::from_str::<Value>(&json)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["_source"]["layers"]["udp"]["udp.length"].as_str())
        .map(|l| l.parse().unwrap())
        .collect();
    assert!(lengths.len() > 3, "tshark saw the messages: {lengths:?}");
    assert!(
        lengths.iter().all(|&l| l <= 548 + 8),
        "datagrams over the 576-octet path: {lengths:?}"
    );
    let fragments = json.matches("\"ip.flags.mf\": \"1\"").count();
    assert_eq!(fragments, 0, "no IP fragments");
}
