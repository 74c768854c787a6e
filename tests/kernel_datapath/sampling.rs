//! Sampling: packets sampled out are counted, never metered.

use crate::harness::*;

#[test]
fn random_sampling_skips_packets_and_counts_them() {
    crate::common::require_root!();
    let t = load();
    let frame = eth4(&udp4(1, 2, &[]));
    for period in [0, 1] {
        t.obj
            .maps
            .write_config(&FlowConfig {
                sample_period: period,
                sample_mode: SampleMode::Random,
                ..FlowConfig::default()
            })
            .unwrap();
        send(&t, &frame);
    }
    assert_flows(&t, &[(key4(IPPROTO_UDP, 1, 2), Meter::packets(2, 56))]);
    t.obj
        .maps
        .write_config(&FlowConfig {
            sample_period: 4,
            sample_mode: SampleMode::Random,
            ..FlowConfig::default()
        })
        .unwrap();
    let n = 400;
    test_run::run(t.obj.prog.as_fd(), &frame, &ctx(), n).expect("BPF_PROG_TEST_RUN");
    let s = t.stats();
    let metered = flows_in(&t.obj.maps.flows[0])[0].1.packets - 2;
    // Every packet is metered or sampled out; with 1 in 4 over 400 packets
    // both are > 0 except with probability below 1e-49.
    assert_eq!(metered + s.sampled_out, u64::from(n));
    assert!(metered > 0 && s.sampled_out > 0, "{metered} / {s:?}");
    assert_eq!(s.packets, u64::from(n) + 2);
}

/// Systematic 1 in N takes the 1st, (N+1)th, ... packet: of n packets
/// exactly ceil(n / N) are metered, whatever flows they belong to, and the
/// count goes on across writes of the period.
#[test]
fn systematic_sampling_meters_exactly_one_in_n() {
    crate::common::require_root!();
    let t = load();
    t.obj
        .maps
        .write_config(&FlowConfig {
            sample_period: 5,
            ..FlowConfig::default()
        })
        .unwrap();
    // 23 packets over two flows, alternating: packets 0, 5, 10, 15, 20.
    for i in 0..23u16 {
        send(&t, &eth4(&udp4(1 + i % 2, 2, &[])));
    }
    assert_flows(
        &t,
        &[
            (key4(IPPROTO_UDP, 1, 2), Meter::packets(3, 3 * 28)),
            (key4(IPPROTO_UDP, 2, 2), Meter::packets(2, 2 * 28)),
        ],
    );
    let s = t.stats();
    assert_eq!((s.packets, s.sampled_out), (23, 18));
    // Many packets in one test_run: exact too.
    t.drain_flows();
    test_run::run(t.obj.prog.as_fd(), &eth4(&udp4(9, 9, &[])), &ctx(), 1000)
        .expect("BPF_PROG_TEST_RUN");
    // Packets 23..1023: multiples of 5 among them, 25..1020.
    assert_flows(
        &t,
        &[(key4(IPPROTO_UDP, 9, 9), Meter::packets(200, 200 * 28))],
    );
}
