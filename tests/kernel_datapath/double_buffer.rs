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
