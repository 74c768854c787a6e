//! Directions: ingress and egress record their interfaces.

use crate::harness::*;

#[test]
fn ingress_and_egress_record_interfaces() {
    crate::common::require_root!();
    let from = |ifindex: u32, ingress_ifindex: u32| SkbContext {
        ifindex,
        ingress_ifindex,
        ..SkbContext::default()
    };
    // Any interface of this namespace other than loopback, if there is one.
    let other = nix::net::if_::if_nameindex()
        .expect("listing interfaces")
        .iter()
        .map(|i| i.index())
        .max()
        .unwrap_or(LO);
    for direction in Direction::ALL {
        let t = TestObject::load(direction);
        let peer = |ifindex: u32| match direction {
            Direction::Ingress => 0,
            Direction::Egress => ifindex,
        };
        send_ctx(&t, &eth4(&udp4(1, 1, &[])), &from(LO, 77));
        send_ctx(&t, &eth4(&udp4(2, 2, &[])), &from(LO, 0));
        // ifindex 0: test_run's default device, loopback.
        send_ctx(&t, &eth4(&udp4(3, 3, &[])), &from(0, 5));
        send_ctx(&t, &eth4(&udp4(4, 4, &[])), &from(other, 9));
        // The peer of a flow is the one of its first packet.
        send_ctx(&t, &eth4(&udp4(1, 1, &[])), &from(LO, 78));
        let err = try_run(&t, &eth4(&udp4(5, 5, &[])), &from(u32::MAX, 0))
            .expect_err("test_run takes a missing interface");
        assert_eq!(err.raw_os_error(), Some(nix::libc::ENODEV));
        assert_flows(
            &t,
            &[
                (
                    key4(IPPROTO_UDP, 1, 1),
                    Meter::packets(2, 56).peer(peer(77)),
                ),
                (key4(IPPROTO_UDP, 2, 2), Meter::one(28)),
                (key4(IPPROTO_UDP, 3, 3), Meter::one(28).peer(peer(5))),
                (
                    FlowKey {
                        ifindex: other,
                        ..key4(IPPROTO_UDP, 4, 4)
                    },
                    Meter::one(28).peer(peer(9)),
                ),
            ],
        );
        assert_stats(&t, stats(5, 0, 0));
    }
}
