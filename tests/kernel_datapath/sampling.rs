//! Sampling: packets sampled out are counted, never metered.

use crate::harness::*;

#[test]
fn sampling_skips_packets_and_counts_them() {
    crate::common::require_root!();
    let t = load();
    let frame = eth4(&udp4(1, 2, &[]));
    for period in [0, 1] {
        t.obj
            .maps
            .write_config(&FlowConfig {
                sample_period: period,
            })
            .unwrap();
        send(&t, &frame);
    }
    assert_flows(&t, &[(key4(IPPROTO_UDP, 1, 2), Meter::packets(2, 56))]);
    t.obj
        .maps
        .write_config(&FlowConfig { sample_period: 4 })
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
