//! Per-flow fields: TCP flags, TTL and TOS, timestamps.

use crate::harness::*;

#[test]
fn tcp_flags_each_alone_and_ored_over_packets() {
    crate::common::require_root!();
    let t = load();
    let mut want = Vec::new();
    for (i, flag) in TCP_ALL_FLAGS.into_iter().enumerate() {
        let sport = 2000 + i as u16;
        send(&t, &eth4(&tcp4(sport, 80, flag)));
        want.push((key4(IPPROTO_TCP, sport, 80), Meter::one(40).flags(flag)));
    }
    // One flow, one flag per packet (NS first): all 9 bits in the end.
    for flag in TCP_ALL_FLAGS.into_iter().rev() {
        send(&t, &eth4(&tcp4(3000, 80, flag)));
    }
    // A flow without flags, and data offset 6 (4 option bytes) with all.
    send(&t, &eth4(&tcp4(3001, 80, 0)));
    let opts = Ipv4::new(A4, B4).carrying(&Transport::tcp(
        &Tcp::new(3002, 80).flags(0x1ff).options(&[1, 1, 1, 1]),
    ));
    send(&t, &eth4(&opts));
    want.push((
        key4(IPPROTO_TCP, 3000, 80),
        Meter::packets(9, 9 * 40).flags(0x1ff),
    ));
    want.push((key4(IPPROTO_TCP, 3001, 80), Meter::one(40)));
    want.push((key4(IPPROTO_TCP, 3002, 80), Meter::one(44).flags(0x1ff)));
    // Data offsets below 5 or beyond the packet: parse failures.
    for doff in [0, 4, 6, 15] {
        let bad =
            Ipv4::new(A4, B4).carrying(&Transport::tcp(&Tcp::new(3003, 80).data_offset(doff)));
        send(&t, &eth4(&bad));
    }
    assert_flows(&t, &want);
    assert_stats(&t, stats(9 + 9 + 2 + 4, 0, 4));
}

#[test]
fn ttl_min_max_and_the_first_packets_tos() {
    crate::common::require_root!();
    let t = load();
    for (ttl, tos) in [(64, 0xb8), (10, 0x00), (200, 0x04), (64, 0xfc)] {
        send(&t, &eth4(&udp4(1, 2, &[]).ttl(ttl).tos(tos)));
    }
    for (hops, tc) in [(1, 0x2d), (255, 0x00), (128, 0xff)] {
        send(
            &t,
            &eth6(&udp6(1, 2, &[]).hop_limit(hops).traffic_class(tc)),
        );
    }
    send(&t, &eth4(&udp4(3, 4, &[]).ttl(0).tos(0xff)));
    assert_flows(
        &t,
        &[
            (
                key4(IPPROTO_UDP, 1, 2),
                Meter::packets(4, 4 * 28).ttl(10, 200).tos(0xb8),
            ),
            (
                key6(IPPROTO_UDP, 1, 2),
                Meter::packets(3, 3 * 48).ttl(1, 255).tos(0x2d),
            ),
            (key4(IPPROTO_UDP, 3, 4), Meter::one(28).ttl(0, 0).tos(0xff)),
        ],
    );
    assert_stats(&t, stats(8, 0, 0));
}

/// The MAC addresses are the first packet's; later packets of the flow with
/// other addresses change nothing.
#[test]
fn mac_addresses_are_the_first_packets() {
    crate::common::require_root!();
    let t = load();
    let first = Ethernet {
        src: [0x02, 0x11, 0x22, 0x33, 0x44, 0x55],
        dst: [0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54],
        ..Ethernet::new()
    };
    send(&t, &first.ipv4(&udp4(1, 2, &[])));
    send(&t, &eth4(&udp4(1, 2, &[])));
    send(&t, &first.ipv6(&udp6(1, 2, &[])));
    assert_flows(
        &t,
        &[
            (
                key4(IPPROTO_UDP, 1, 2),
                Meter::packets(2, 2 * 28).macs(first.src, first.dst),
            ),
            (
                key6(IPPROTO_UDP, 1, 2),
                Meter::one(48).macs(first.src, first.dst),
            ),
        ],
    );
}

/// First and last seen of one flow sent twice, bracketed by `clock` read
/// before, between and after; `slack` below the lower bounds (the coarse
/// clock is the time of the last tick the timekeeper took: one tick, and
/// more where ticks come late — 7.4 ms seen at HZ=250 in this VM).
fn timestamps_bracketed(config: FlowConfig, clock: ClockId, slack: u64) {
    let t = load();
    t.obj
        .maps
        .write_config(&config)
        .expect("writing the config");
    let frame = eth4(&udp4(1, 2, &[]));
    let before = clock_ns(clock);
    send(&t, &frame);
    let between = clock_ns(clock);
    send(&t, &frame);
    let after = clock_ns(clock);
    let k = key4(IPPROTO_UDP, 1, 2).emit_for_map();
    let v = t.obj.maps.flows[0]
        .ipv4
        .lookup(&k, MapFlags::ANY)
        .expect("looking up the flow")
        .expect("the flow exists");
    let v = FlowValue::parse(&v).expect("value has the ABI size");
    assert!(
        before - slack <= v.first_seen_ns && v.first_seen_ns <= between,
        "first seen {} not in [{before} - {slack}, {between}]",
        v.first_seen_ns
    );
    assert!(
        between - slack <= v.last_seen_ns && v.last_seen_ns <= after,
        "last seen {} not in [{between} - {slack}, {after}]",
        v.last_seen_ns
    );
}

#[test]
fn timestamps_are_the_coarse_monotonic_clock_by_default() {
    crate::common::require_root!();
    let res = nix::time::clock_getres(ClockId::CLOCK_MONOTONIC_COARSE).expect("tick length");
    let tick = u64::try_from(res.tv_sec()).unwrap() * 1_000_000_000
        + u64::try_from(res.tv_nsec()).unwrap();
    assert!(tick > 0 && tick <= 10_000_000, "a tick of {tick} ns");
    timestamps_bracketed(
        FlowConfig::default(),
        ClockId::CLOCK_MONOTONIC,
        tick + 20_000_000,
    );
}

#[test]
fn timestamps_are_boottime_with_the_precise_clock() {
    crate::common::require_root!();
    let config = FlowConfig {
        clock: FlowClock::Boot,
        ..FlowConfig::default()
    };
    timestamps_bracketed(config, ClockId::CLOCK_BOOTTIME, 0);
}
