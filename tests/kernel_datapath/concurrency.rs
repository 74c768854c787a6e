//! Concurrency: two CPUs on one flow count exactly.

use crate::harness::*;

/// CPUs this thread may run on.
fn allowed_cpus() -> Vec<usize> {
    use nix::sched::{sched_getaffinity, CpuSet};
    use nix::unistd::Pid;
    let set = sched_getaffinity(Pid::from_raw(0)).expect("reading the CPU affinity");
    (0..CpuSet::count())
        .filter(|&c| set.is_set(c).unwrap_or(false))
        .collect()
}

fn pin_to(cpu: usize) {
    use nix::sched::{sched_setaffinity, CpuSet};
    use nix::unistd::Pid;
    let mut set = CpuSet::new();
    set.set(cpu).expect("a valid CPU number");
    sched_setaffinity(Pid::from_raw(0), &set).expect("pinning the thread");
}

#[test]
fn two_threads_hammering_one_flow_count_exactly() {
    crate::common::require_root!();
    const REPEAT: u32 = 100_000;
    let t = load();
    // One flow, two senders with their own TTL and flags: the entry is
    // created by one of them, flags are ORed, min and max TTL each have a
    // single writer.
    let ip = [
        tcp4(1234, 80, TCP_ACK).ttl(10),
        tcp4(1234, 80, TCP_PSH).ttl(200),
    ];
    let frames = [eth4(&ip[0]), eth4(&ip[1])];
    // One thread per CPU: test_run only disables migration, so two threads
    // sharing a CPU could interleave inside the per-CPU statistics update
    // (the datapath runs with BH disabled and cannot).
    let cpus = allowed_cpus();
    let pinned = cpus.len() >= 2;
    std::thread::scope(|s| {
        for i in 0..2 {
            let (t, frame, cpus) = (&t, &frames[i], &cpus);
            s.spawn(move || {
                if pinned {
                    pin_to(cpus[i]);
                }
                let r = test_run::run(t.obj.prog.as_fd(), frame, &ctx(), REPEAT)
                    .expect("BPF_PROG_TEST_RUN");
                assert_eq!(r.retval, TC_ACT_UNSPEC);
            });
        }
    });
    let n = 2 * u64::from(REPEAT);
    assert_flows(
        &t,
        &[(
            key4(IPPROTO_TCP, 1234, 80),
            Meter::packets(n, n * ip[0].len() as u64)
                .flags(TCP_ACK | TCP_PSH)
                .ttl(10, 200),
        )],
    );
    if pinned {
        assert_stats(&t, stats(n, 0, 0));
    } else {
        println!("one CPU only: statistics not compared");
    }
}
