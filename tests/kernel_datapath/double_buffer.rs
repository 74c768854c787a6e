//! The double buffer: the selector picks the flow map the program writes.

use crate::harness::*;

fn set_selector(t: &TestObject, active: u32) {
    t.obj
        .maps
        .selector
        .update(&0u32.to_ne_bytes(), &active.to_ne_bytes(), MapFlags::ANY)
        .expect("writing the selector");
}

#[test]
fn selector_picks_the_flow_map() {
    crate::common::require_root!();
    let t = load();
    let frame = eth4(&udp4(1, 2, &[]));
    let k = key4(IPPROTO_UDP, 1, 2);
    send(&t, &frame);
    set_selector(&t, 1);
    send(&t, &frame);
    send(&t, &frame);
    assert_eq!(flows_in(&t.obj.maps.flows[0]), vec![(k, Meter::one(28))]);
    assert_eq!(
        flows_in(&t.obj.maps.flows[1]),
        vec![(k, Meter::packets(2, 56))]
    );
    // Only bit 0 counts: 2 is flows4_0/flows6_0, 3 is flows4_1/flows6_1.
    set_selector(&t, 2);
    send(&t, &frame);
    set_selector(&t, 3);
    send(&t, &frame);
    assert_eq!(
        flows_in(&t.obj.maps.flows[0]),
        vec![(k, Meter::packets(2, 56))]
    );
    assert_eq!(
        flows_in(&t.obj.maps.flows[1]),
        vec![(k, Meter::packets(3, 84))]
    );
    assert_stats(&t, stats(5, 0, 0));
}

/// Retiring a pair and draining it hands every flow of both families to the
/// sink once, in chunks no larger than asked, whether the drain runs on two
/// threads (the default) or one, and leaves the pair empty.
#[test]
fn the_drain_hands_over_every_flow_once_in_chunks() {
    use std::collections::HashSet;
    use std::rc::Rc;

    use ipfix_flow_exporter::datapath::kernel_source::KernelSource;
    use ipfix_flow_exporter::datapath::maps::DatapathMaps;
    use ipfix_flow_exporter::datapath::rcu::RcuBarrier;
    use ipfix_flow_exporter::flow::flow_source::FlowSource;

    crate::common::require_root!();
    let t = load();
    let rcu = Rc::new(RcuBarrier::new().expect("RCU barrier"));
    for pipelined in [true, false] {
        let mut want = HashSet::new();
        for i in 0..300u16 {
            send(&t, &eth4(&udp4(1000 + i, 53, &[])));
            want.insert(key4(IPPROTO_UDP, 1000 + i, 53));
        }
        for i in 0..200u16 {
            send(&t, &eth6(&udp6(1000 + i, 53, &[])));
            want.insert(key6(IPPROTO_UDP, 1000 + i, 53));
        }
        let maps = DatapathMaps::open_pinned(Direction::Ingress, &t.dir).expect("pinned maps");
        let mut source = KernelSource::new(maps, Rc::clone(&rcu));
        source.pipelined = pipelined;
        let retired = t.obj.maps.active().expect("selector");
        source.retire_active().expect("flip");
        let mut got = Vec::new();
        let mut largest = 0;
        let n = source
            .drain_retired(64, &mut |chunk| {
                largest = largest.max(chunk.len());
                got.extend(chunk.iter().map(|(k, v)| (*k, v.packets)));
            })
            .expect("drain");
        assert_eq!(n, 500, "pipelined: {pipelined}");
        assert!(largest <= 64, "a chunk of {largest}");
        let keys: HashSet<FlowKey> = got.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, want, "every flow, each once (pipelined: {pipelined})");
        assert_eq!(got.len(), 500);
        assert!(got.iter().all(|(_, p)| *p == 1));
        assert_eq!(flows_in(&t.obj.maps.flows[retired]), vec![], "drained");
    }
}
