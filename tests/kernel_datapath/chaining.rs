//! Chaining: slot 0 of the jmp table is tail-called, its verdict stands.

use crate::common::bpfobj::verdict_program;
use crate::harness::*;

fn chain(t: &TestObject, prog: &impl AsRawFd) {
    let fd = u32::try_from(prog.as_raw_fd()).expect("fds are positive");
    t.obj
        .maps
        .jmp_table
        .update(&0u32.to_ne_bytes(), &fd.to_ne_bytes(), MapFlags::ANY)
        .expect("putting a program into the jmp table");
}

#[test]
fn jmp_table_slot_0_is_tail_called() {
    crate::common::require_root!();
    let t = load();
    let frame = eth4(&udp4(1, 2, &[]));
    let shot = verdict_program(TC_ACT_SHOT as i32);
    chain(&t, &shot);
    assert_eq!(
        t.run_ctx(&frame, &ctx()),
        TC_ACT_SHOT,
        "the chained verdict"
    );
    assert!(t.obj.maps.chained_prog_id().unwrap().is_some());
    t.obj
        .maps
        .jmp_table
        .delete(&0u32.to_ne_bytes())
        .expect("emptying the jmp table");
    send(&t, &frame);
    // Metering happened before the tail call both times.
    assert_flows(&t, &[(key4(IPPROTO_UDP, 1, 2), Meter::packets(2, 56))]);
    assert_stats(&t, stats(2, 0, 0));

    // Chained to the other direction's entry: both meter the packet.
    let egress = TestObject::load(Direction::Egress);
    chain(&t, &egress.obj.prog);
    let from = SkbContext {
        ingress_ifindex: 42,
        ..ctx()
    };
    send_ctx(&t, &frame, &from);
    assert_flows(&t, &[(key4(IPPROTO_UDP, 1, 2), Meter::packets(3, 84))]);
    assert_stats(&t, stats(3, 0, 0));
    assert_flows(
        &egress,
        &[(key4(IPPROTO_UDP, 1, 2), Meter::one(28).peer(42))],
    );
    assert_stats(&egress, stats(1, 0, 0));
}
