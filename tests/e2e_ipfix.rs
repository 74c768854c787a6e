//! IPFIX end to end: real traffic in namespaces, `run --collector`, and
//! independent decoders (tshark, nfcapd/nfdump) plus our own `collect`,
//! each agreeing with the records the exporter itself printed — which in
//! turn agree exactly with the traffic sent.

// A failed unwrap fails the test, naming its line: the house rule against
// unwrap (Cargo.toml [lints]) is for the shipped code.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::collector::{collected_flows, sorted, start_collect};
use common::exporter::Exporter;
use common::frames::{Ethernet, Ipv4, Ipv6, Transport, TPID_8021AD, TPID_8021Q};
use common::netns::NetnsPair;
use common::nfacctd::Nfacctd;
use common::nfcapd::Nfcapd;
use common::packet::send_frames;
use common::traffic::{assert_expected, mixed_traffic, sa, udp_sink};
use common::tshark::Capture;
use ipfix_flow_exporter::schema::FlowTemplate;
use serde_json::Value;
use std::net::{Ipv4Addr, Ipv6Addr};

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
        "ip_version",
        "vlan_id",
        "inner_vlan_id",
        "src_mac",
        "dst_mac",
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
        ("ip_version", "ip_version"),
        ("inner_vlan_id", "dot1q_customer_vlan_id"),
    ] {
        row.insert(ours, num(g(theirs)).to_string());
    }
    // The outer VLAN: vlanId in ingress records, postVlanId in egress
    // ones; the other 0.
    let (vlan, other) = if row["direction"] == "0" {
        ("vlanid", "post_vlanid")
    } else {
        ("post_vlanid", "vlanid")
    };
    assert_eq!(num(g(other)), 0, "{f}");
    row.insert("vlan_id", num(g(vlan)).to_string());
    row.insert("src_mac", g("srcmac").as_str().unwrap().to_owned());
    row.insert("dst_mac", g("dstmac").as_str().unwrap().to_owned());
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

/// tshark's decoding of our data records as rows, and the IDs of every set
/// it decoded.
fn tshark_sets(tshark_json: &str) -> (Vec<Row>, std::collections::BTreeSet<u16>) {
    let packets: Vec<Value> = serde_json::from_str(tshark_json).unwrap();
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
    (rows, templates_seen)
}

/// Interface index -> name, from the template 286 records tshark decoded.
fn tshark_interface_names(tshark_json: &str) -> BTreeMap<u32, String> {
    let packets: Vec<Value> = serde_json::from_str(tshark_json).unwrap();
    let mut out = BTreeMap::new();
    for p in &packets {
        let Some(obj) = p["_source"]["layers"]["cflow"].as_object() else {
            continue;
        };
        for (k, set) in obj {
            if !k.contains("[id=286]") {
                continue;
            }
            for (_, rec) in set.as_object().unwrap() {
                if let (Some(index), Some(name)) =
                    (rec.get("cflow.inputint"), rec.get("cflow.if_name"))
                {
                    out.insert(num(index) as u32, name.as_str().unwrap().to_owned());
                }
            }
        }
    }
    out
}

fn tshark_flow_rows(tshark_json: &str) -> Vec<Row> {
    tshark_sets(tshark_json).0
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
    let cap = Capture::start(&net.a, "lo", &[4739]);
    // The C package's layout, with the SysUpTime elements (templates
    // 278-285), as under l3afd.
    let exp = Exporter::start(
        &net.a,
        &net.veth_a,
        &[
            "--active-timeout",
            "300ms",
            "--collector",
            "127.0.0.1:4739",
            "--sysuptime-elements",
        ],
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
    let (rows, templates_seen) = tshark_sets(&text);
    // All eight data templates and the options templates carried records
    // (276: the exporter's IPv4 address; 286: the interfaces' names; 287:
    // systematic sampling, 1 in 1).
    let want: std::collections::BTreeSet<u16> = FlowTemplate::in_use(true)
        .map(FlowTemplate::id)
        .chain([264, 266, 267, 276, 286, 287])
        .collect();
    assert!(
        want.is_subset(&templates_seen),
        "templates decoded: {templates_seen:?}"
    );
    // The veth the records name by index is named, by that index.
    let ifindex = NetnsPair::ifindex_in(&net.a, &net.veth_a);
    let names = tshark_interface_names(&text);
    assert_eq!(
        names.get(&ifindex).map(String::as_str),
        Some(net.veth_a.as_str()),
        "{names:?}"
    );
    assert_eq!(names.get(&1).map(String::as_str), Some("lo"), "{names:?}");
    let ours: Vec<Row> = recs.iter().map(row_from_exporter).collect();
    assert_eq!(
        rows.len(),
        ours.len(),
        "tshark decoded as many records as were exported"
    );
    assert_eq!(sorted_rows(rows), sorted_rows(ours));
}

/// One flow of [`vlan_flows`]: direction, IPv6, VLAN and inner VLAN ID,
/// MACs, packets and octets.
type VlanFlow = (&'static str, bool, u16, u16, [u8; 6], [u8; 6], u64, u64);

const VLAN_A4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const VLAN_B4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const VLAN_A6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
const VLAN_B6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);
const VLAN_SPORT: u16 = 7000;

/// Writes one UDP 5-tuple (IPv4 and IPv6) raw on `dev` in `ns`, once per
/// tagging in `taggings` ((TPID, VLAN ID) from the outside in), each with
/// its own count and MACs; returns what the exporter must report for each,
/// with `seen` mapping the frame's tags to the key's (outer, inner) IDs.
fn vlan_flows(
    ns: &str,
    dev: &str,
    dir: &'static str,
    taggings: &[&[(u16, u16)]],
    seen: impl Fn(&[(u16, u16)]) -> (u16, u16),
) -> Vec<VlanFlow> {
    let udp = Transport::udp(VLAN_SPORT, 7001, &[0x5a; 20]);
    let mut out = Vec::new();
    for (n, tags) in taggings.iter().enumerate() {
        for v6 in [false, true] {
            // Distinct counts: a merge of any two flows shows.
            let count = 3 + n as u64 * 2 + u64::from(v6) + if dir == "ingress" { 20 } else { 0 };
            let mac = |last: u8| [0x02, 0x1a, n as u8, u8::from(v6), dir.len() as u8, last];
            let mut eth = Ethernet {
                src: mac(1),
                dst: mac(2),
                ..Ethernet::new()
            };
            for (tpid, vid) in tags.iter() {
                eth = eth.vlan(*tpid, *vid);
            }
            let frame = if v6 {
                eth.ipv6(&Ipv6::new(VLAN_A6, VLAN_B6).carrying(&udp))
            } else {
                eth.ipv4(&Ipv4::new(VLAN_A4, VLAN_B4).carrying(&udp))
            };
            send_frames(ns, dev, frame, count);
            let octets = if v6 { 40 + 28 } else { 20 + 28 };
            let (vlan, inner) = seen(tags);
            out.push((dir, v6, vlan, inner, mac(1), mac(2), count, count * octets));
        }
    }
    out
}

/// Every flow of `expected` in `recs` with its exact count, VLAN IDs and
/// MACs, and no other record of the tuple.
fn assert_vlan_flows(recs: &[Value], expected: &[VlanFlow]) {
    let mac_text = |m: &[u8; 6]| ipfix_flow_exporter::output::json::mac_text(m);
    for (dir, v6, vlan, inner, src_mac, dst_mac, packets, octets) in expected {
        let (src, dst) = if *v6 {
            (VLAN_A6.to_string(), VLAN_B6.to_string())
        } else {
            (VLAN_A4.to_string(), VLAN_B4.to_string())
        };
        let mine: Vec<&Value> = recs
            .iter()
            .filter(|r| {
                r["direction"] == *dir
                    && r["src_addr"] == src
                    && r["dst_addr"] == dst
                    && r["src_port"] == VLAN_SPORT
                    && r["vlan_id"] == *vlan
                    && r["inner_vlan_id"] == *inner
            })
            .collect();
        let got = mine.iter().fold((0, 0), |(p, o), r| {
            (
                p + r["packets"].as_u64().unwrap(),
                o + r["octets"].as_u64().unwrap(),
            )
        });
        assert_eq!(
            got,
            (*packets, *octets),
            "{dir} v6={v6} VLAN {vlan}/{inner}: {mine:#?}"
        );
        for r in &mine {
            assert_eq!(r["src_mac"], mac_text(src_mac), "{dir} VLAN {vlan}/{inner}");
            assert_eq!(r["dst_mac"], mac_text(dst_mac), "{dir} VLAN {vlan}/{inner}");
            assert_eq!(r["ip_version"], if *v6 { 6 } else { 4 });
        }
    }
    let flows: std::collections::BTreeSet<String> = recs
        .iter()
        .filter(|r| r["src_port"] == VLAN_SPORT)
        .map(|r| {
            format!(
                "{} {} {}/{}",
                r["direction"], r["src_addr"], r["vlan_id"], r["inner_vlan_id"]
            )
        })
        .collect();
    assert_eq!(flows.len(), expected.len(), "{flows:#?}");
}

const UNTAGGED: &[(u16, u16)] = &[];
const VLAN_100: &[(u16, u16)] = &[(TPID_8021Q, 100)];
const VLAN_200: &[(u16, u16)] = &[(TPID_8021Q, 200)];
const QINQ_300_100: &[(u16, u16)] = &[(TPID_8021AD, 300), (TPID_8021Q, 100)];

/// Tenants behind VLANs reuse addresses: the same UDP 5-tuple untagged, in
/// VLAN 100, in VLAN 200 and in QinQ (802.1ad 300 around 802.1Q 100), both
/// ways through the exporter's veth, is four flows per direction and
/// family, each with its exact count, VLAN IDs and MAC addresses — also as
/// tshark, nfdump, pmacct's nfacctd and our collect decode them. The frames are written raw with their tags; at
/// ingress the kernel pops the outer tag into skb->vlan_tci before tc, as
/// for any tagged traffic, so both places a tag can be are read.
#[test]
fn vlan_tagged_flows_with_one_tuple_stay_apart() {
    common::require_root!();
    common::require_tools!("tshark");
    let net = NetnsPair::new();
    let absorb = udp_sink(&net.a, sa(LOOPBACK, COLLECTOR_PORT));
    let cap = Capture::start(&net.a, "lo", &[4739]);
    let nfcapd = Nfcapd::start(&net.a, 4740);
    let nfacctd = Nfacctd::start(
        &net.a,
        4743,
        "src_host,dst_host,src_port,dst_port,proto,vlan,src_mac,dst_mac",
    );
    let (mut collect, collect_addr) = start_collect(&net.a, "udp://127.0.0.1:0");
    let collect_arg = collect_addr.to_string();
    let exp = Exporter::start(
        &net.a,
        &net.veth_a,
        &[
            "--active-timeout",
            "300ms",
            "--collector",
            "127.0.0.1:4739",
            "--collector",
            "127.0.0.1:4740",
            "--collector",
            "127.0.0.1:4743",
            "--collector",
            &collect_arg,
        ],
    );
    let taggings = [UNTAGGED, VLAN_100, VLAN_200, QINQ_300_100];
    let in_key = |tags: &[(u16, u16)]| {
        (
            tags.first().map_or(0, |t| t.1),
            tags.get(1).map_or(0, |t| t.1),
        )
    };
    let mut expected = vlan_flows(&net.a, &net.veth_a, "egress", &taggings, in_key);
    expected.extend(vlan_flows(
        &net.b,
        &net.veth_b,
        "ingress",
        &taggings,
        in_key,
    ));
    std::thread::sleep(Duration::from_millis(200));
    let recs = exp.stop();
    let text = cap.stop();
    let _ = absorb.join();
    assert_vlan_flows(&recs, &expected);
    // Our collect reads back every record, every field.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        sorted(&collected_flows(&collect.stop())),
        sorted(&recs),
        "collect"
    );
    assert!(
        !text.contains("_ws.malformed"),
        "tshark found malformed packets"
    );
    let rows = tshark_flow_rows(&text);
    let ours: Vec<Row> = recs.iter().map(row_from_exporter).collect();
    assert_eq!(sorted_rows(rows), sorted_rows(ours));
    assert_nfdump_agrees(nfcapd.stop().flows, &recs);
    // pmacct keeps the outer VLAN and the MACs (1.7.7 has no primitive for
    // the inner VLAN; each tenant's MACs here are its own).
    let printed = nfacctd.stop();
    let mac_text = |m: &[u8; 6]| ipfix_flow_exporter::output::json::mac_text(m);
    for (_, v6, vlan, _, src_mac, _, packets, octets) in &expected {
        let src = if *v6 {
            VLAN_A6.to_string()
        } else {
            VLAN_A4.to_string()
        };
        let (p, o) = printed
            .iter()
            .filter(|v| {
                v["ip_src"] == src && v["vlan"] == *vlan && v["mac_src"] == mac_text(src_mac)
            })
            .fold((0, 0), |(p, o), v| {
                (
                    p + v["packets"].as_u64().unwrap(),
                    o + v["bytes"].as_u64().unwrap(),
                )
            });
        assert_eq!((p, o), (*packets, *octets), "nfacctd, VLAN {vlan}, {src}");
    }
}

/// A tag the stack leaves in skb->vlan_tci for insertion on transmit (a
/// VLAN device on a NIC with transmit VLAN offload) is the outer VLAN at
/// egress; a tag still in the frame is then the inner one. A TCX program
/// ahead of the exporter's clsact filter pushes the tag the way such a
/// device does (bpf_skb_vlan_push(): into skb->vlan_tci), since this
/// kernel may have no 802.1Q devices.
#[test]
fn a_tag_left_for_transmit_insertion_is_the_outer_vlan() {
    common::require_root!();
    if !common::kernel_has_tcx() {
        common::skip("needs TCX (Linux 6.6) to run the tag pusher ahead of the exporter");
        return;
    }
    let net = NetnsPair::new();
    let exp = Exporter::start(
        &net.a,
        &net.veth_a,
        &["--active-timeout", "300ms", "--attach", "tc"],
    );
    let ifindex = NetnsPair::ifindex_in(&net.a, &net.veth_a);
    let _pusher = NetnsPair::run_in(&net.a, move || {
        let prog = common::bpfobj::vlan_push_program(TPID_8021Q, 400);
        let link = ipfix_flow_exporter::datapath::attach::tcx_link(
            std::os::fd::AsFd::as_fd(&prog),
            ifindex,
            ipfix_flow_exporter::abi::Direction::Egress,
        )
        .unwrap();
        (prog, link)
    });
    let expected = vlan_flows(
        &net.a,
        &net.veth_a,
        "egress",
        &[UNTAGGED, VLAN_100],
        |tags| (400, tags.first().map_or(0, |t| t.1)),
    );
    std::thread::sleep(Duration::from_millis(200));
    let recs = exp.stop();
    assert_vlan_flows(&recs, &expected);
}

#[test]
fn nfcapd_and_nfdump_decode_the_records_exactly() {
    common::require_root!();
    common::require_tools!("nfcapd");
    let net = NetnsPair::new();
    let nfcapd = Nfcapd::start(&net.a, 4739);
    let exp = Exporter::start(
        &net.a,
        &net.veth_a,
        &["--active-timeout", "300ms", "--collector", "127.0.0.1:4739"],
    );
    let expected = mixed_traffic(&net);
    std::thread::sleep(Duration::from_millis(200));
    let recs = exp.stop();
    assert_expected(&recs, &expected);
    assert_nfdump_agrees(nfcapd.stop().flows, &recs);
}

/// nfdump's flows are the exporter's records, field by field. The records
/// carry no SysUpTime elements (`run` without `--sysuptime-elements`), so
/// nfdump reads the absolute times.
fn assert_nfdump_agrees(flows: Vec<Value>, recs: &[Value]) {
    let rows: Vec<Row> = flows.iter().map(row_from_nfdump).collect();
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
        "vlan_id",
        "src_mac",
        "dst_mac",
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

fn row_from_nfdump(f: &Value) -> Row {
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
    // nfdump keeps vlanId and postVlanId (not dot1qCustomerVlanId), and the
    // MACs as the "in" pair.
    let (vlan, other) = if f["direction"] == 0 {
        ("src_vlan", "dst_vlan")
    } else {
        ("dst_vlan", "src_vlan")
    };
    assert_eq!(f[other], 0, "{f}");
    row.insert("vlan_id", n(vlan));
    row.insert("src_mac", f["in_src_mac"].as_str().unwrap().to_owned());
    row.insert("dst_mac", f["in_dst_mac"].as_str().unwrap().to_owned());
    row.insert(
        "start_ms",
        nfdump_time_ms(f["first"].as_str().unwrap()).to_string(),
    );
    row.insert(
        "end_ms",
        nfdump_time_ms(f["last"].as_str().unwrap()).to_string(),
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
        tcp_log.contains("all 8 options templates withdrawn"),
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
    let cap = Capture::start(&net.a, "lo", &[4739]);
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
    let first = FlowTemplate::in_use(false).next().unwrap().id();
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
    let capture = Capture::start(&net.b, &net.veth_b, &[4739]);
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
