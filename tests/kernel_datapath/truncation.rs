//! Truncation: every prefix of every frame, with and without lengths that match.

use crate::harness::*;

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
            flow: (
                FlowKey {
                    vlan_id: 5,
                    inner_vlan_id: 6,
                    ..key4(IPPROTO_UDP, 6000, 6001)
                },
                Meter::one(udp.len()),
            ),
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
    crate::common::require_root!();
    for case in cut_cases() {
        println!("cutting {}: {} bytes", case.what, case.frame.len());
        let t = load();
        cut_everywhere(&t, &case);
    }
}

#[test]
fn truncated_frames_with_matching_lengths_need_whole_headers() {
    crate::common::require_root!();
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
