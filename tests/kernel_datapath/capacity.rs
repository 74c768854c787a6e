//! Capacity: a full flow table counts new flows and keeps metering old ones.

use crate::harness::*;

#[test]
fn a_full_table_counts_new_flows_and_keeps_metering_old_ones() {
    crate::common::require_root!();
    full_table(FlowMapAlloc::OnDemand);
}

/// `--flow-map-alloc preallocated`: the same capacity, the same counts;
/// the flow maps are created without BPF_F_NO_PREALLOC.
#[test]
fn a_full_preallocated_table_counts_the_same() {
    crate::common::require_root!();
    full_table(FlowMapAlloc::Preallocated);
}

fn full_table(alloc: FlowMapAlloc) {
    let t = TestObject::load_alloc(Direction::Ingress, Some(16), alloc);
    for m in t.obj.maps.flows.iter().flat_map(|pair| pair.both()) {
        let flags = m.info().unwrap().info.map_flags;
        let on_demand = flags & libbpf_sys::BPF_F_NO_PREALLOC != 0;
        assert_eq!(on_demand, alloc == FlowMapAlloc::OnDemand, "{alloc:?}");
    }
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
    // IPv4 and IPv6 flows have maps of their own, each of that capacity:
    // a full IPv4 map leaves room for IPv6.
    send(&t, &eth6(&udp6(7, 53, &[])));
    want.push((key6(IPPROTO_UDP, 7, 53), Meter::one(48)));
    assert_flows(&t, &want);
    assert_stats(
        &t,
        FlowStats {
            packets: 20 + 1 + 3 + 1,
            table_full_packets: 4 + 3,
            table_full_octets: full_octets,
            ..FlowStats::default()
        },
    );
    // The flows that lost packets are named, each once, for the next
    // record of each to say so; the flows in the table are not.
    let mut refused = t.obj.maps.take_refused().unwrap();
    refused.sort_by_key(|k| (k.protocol, k.src_port));
    let mut want_refused = vec![key4(IPPROTO_TCP, 9, 9)];
    want_refused.extend((16..20).map(|i| key4(IPPROTO_UDP, 100 + i, 53)));
    assert_eq!(refused, want_refused);
    assert_eq!(t.obj.maps.take_refused().unwrap(), Vec::new(), "taken once");
    // Room again after the map is drained.
    assert_eq!(t.drain_flows().len(), 16 + 1);
    send(&t, &eth4(&flow(19)));
    assert_flows(&t, &[(key4(IPPROTO_UDP, 119, 53), Meter::one(28 + 19))]);
}
