//! The exporter's life cycle with traffic flowing: many intervals, crashes
//! and restarts, programs chained after ours, startup failures.

// A failed unwrap fails the test, naming its line: the house rule against
// unwrap (Cargo.toml [lints]) is for the shipped code.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::IpAddr;
use std::os::fd::AsFd;
use std::process::Command;
use std::time::Duration;

use common::bpfobj::TestObject;
use common::exporter::{run_command, totals, Exporter, PinDir, BIN};
use common::netns::NetnsPair;
use common::traffic::{sa, udp_l3_overhead, udp_send, udp_sink};
use ipfix_flow_exporter::config::AttachMode;
use ipfix_flow_exporter::datapath::attach::{self, tcx_programs};
use ipfix_flow_exporter::flow::Direction;
use serde_json::Value;

fn udp_flow(r: &Value, dir: &str, src: IpAddr, dst: IpAddr, dport: u64) -> bool {
    r["direction"] == dir
        && r["protocol"] == 17
        && r["src_addr"] == src.to_string()
        && r["dst_addr"] == dst.to_string()
        && r["dst_port"] == dport
}

#[test]
fn no_packet_lost_or_doubled_across_a_hundred_intervals() {
    common::require_root!();
    let net = NetnsPair::new();
    let exp = Exporter::start(&net.a, &net.veth_a, &["--active-timeout", "100ms"]);
    let (a, b) = (NetnsPair::ip(false, true), NetnsPair::ip(false, false));
    let sink = udp_sink(&net.b, sa(b, 5010));
    // ~12 s of steady traffic: 120 intervals of 100 ms.
    let sent = udp_send(
        &net.a,
        sa(a, 40010),
        sa(b, 5010),
        24_000,
        64,
        Duration::from_micros(500),
    );
    assert_eq!(sink.join().unwrap(), sent);
    let recs = exp.stop();
    let flow = |r: &Value| udp_flow(r, "egress", a, b, 5010);
    assert_eq!(
        totals(&recs, flow),
        (sent, sent * (udp_l3_overhead(false) + 64))
    );
    let intervals = recs.iter().filter(|r| flow(r)).count();
    assert!(
        intervals >= 100,
        "the flow was exported in {intervals} intervals"
    );
    let ids: std::collections::HashSet<u64> = recs
        .iter()
        .filter(|r| flow(r))
        .map(|r| r["flow_id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids.len(), 1, "one live flow keeps one flowId");
}

/// SIGKILL the exporter mid-traffic, start it again on the same pins: the
/// datapath kept metering into the pinned maps while no exporter ran, the
/// new one drains them, and the totals are exact.
fn sigkill_and_restart(mode: &str) {
    let net = NetnsPair::new();
    let pins = PinDir::new();
    let args = ["--active-timeout", "200ms", "--attach", mode];
    let (a, b) = (NetnsPair::ip(false, true), NetnsPair::ip(false, false));
    let sink = udp_sink(&net.b, sa(b, 5011));
    let first = Exporter::start_with_pins(&net.a, &net.veth_a, &pins.0, &args);
    let ns_a = net.a.clone();
    let sender = std::thread::spawn(move || {
        udp_send(
            &ns_a,
            sa(a, 40011),
            sa(b, 5011),
            8000,
            100,
            Duration::from_micros(500),
        )
    });
    // Killed once it has exported part of the flow (not after a fixed
    // sleep: under emulation, startup and the first interval can take
    // longer than the sender's whole run).
    let flow = |r: &Value| udp_flow(r, "egress", a, b, 5011);
    assert!(
        first.wait_for_record(Duration::from_secs(10), flow),
        "{mode}: the first exporter exported nothing of the flow within 10 s"
    );
    let before = first.kill();
    std::thread::sleep(Duration::from_millis(700));
    let second = Exporter::start_with_pins(&net.a, &net.veth_a, &pins.0, &args);
    let sent = sender.join().unwrap();
    assert_eq!(sink.join().unwrap(), sent);
    // Exactly one of our programs per hook after the restart.
    let ifindex = NetnsPair::ifindex_in(&net.a, &net.veth_a);
    if mode == "tcx" {
        for dir in Direction::ALL {
            let progs = NetnsPair::run_in(&net.a, move || tcx_programs(ifindex, dir).unwrap());
            assert_eq!(progs.len(), 1, "{dir:?}: {progs:?}");
        }
    }
    let after = second.stop();
    let (p1, o1) = totals(&before, flow);
    let (p2, o2) = totals(&after, flow);
    assert!(p1 > 0 && p2 > 0, "both runs exported part: {p1} + {p2}");
    assert_eq!(
        (p1 + p2, o1 + o2),
        (sent, sent * 128),
        "{mode}: {p1} + {p2} packets"
    );
    // The clean stop removed every pin.
    assert!(!pins.0.exists(), "{} left behind", pins.0.display());
}

#[test]
fn sigkill_and_restart_is_exact_with_tcx() {
    if common::privileged() && common::kernel_has_tcx() {
        sigkill_and_restart("tcx");
    }
}

#[test]
fn sigkill_and_restart_is_exact_with_clsact() {
    if common::privileged() {
        sigkill_and_restart("tc");
    }
}

/// A second tc program attached after ours sees every packet: ours returns
/// TC_ACT_UNSPEC (TCX_NEXT). The second program is a copy of our own
/// egress object, whose flow map then holds exactly what we exported.
fn second_program_sees_everything(mode: AttachMode, mode_arg: &str) {
    let net = NetnsPair::new();
    let exp = Exporter::start(
        &net.a,
        &net.veth_a,
        &[
            "--active-timeout",
            "200ms",
            "--direction",
            "ingress",
            "--attach",
            mode_arg,
        ],
    );
    let second = TestObject::load(Direction::Egress);
    let ifindex = NetnsPair::ifindex_in(&net.a, &net.veth_a);
    let prog = second.obj.prog.as_fd().try_clone_to_owned().unwrap();
    // The attachment lives on a thread inside namespace A until told to go.
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
    let holder = NetnsPair::spawn_in(&net.a, move || {
        let mut tc_hook = None;
        let mut link = None;
        match mode {
            AttachMode::Tc => {
                // After ours: a higher priority number than our filter's.
                let mut hook = libbpf_rs::TcHook::new(prog.as_fd());
                hook.ifindex(ifindex as i32)
                    .attach_point(libbpf_rs::TC_INGRESS)
                    .handle(0x77)
                    .priority(attach::TC_PRIORITY + 1);
                tc_hook = Some(hook.attach().expect("attaching the second filter"));
            }
            _ => {
                // A plain TCX link appended after ours (our own attach()
                // would refuse: it guards against a second exporter).
                link = Some(attach::tcx_link(prog.as_fd(), ifindex, Direction::Ingress).unwrap());
            }
        }
        ready_tx.send(()).unwrap();
        let _ = done_rx.recv_timeout(Duration::from_secs(60));
        if let Some(mut h) = tc_hook {
            h.detach().expect("detaching the second filter");
        }
        drop(link);
    });
    ready_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("second program attached");
    let (a, b) = (NetnsPair::ip(false, true), NetnsPair::ip(false, false));
    let sink = udp_sink(&net.a, sa(a, 5012));
    let sent = udp_send(
        &net.b,
        sa(b, 40012),
        sa(a, 5012),
        500,
        80,
        Duration::from_micros(200),
    );
    assert_eq!(sink.join().unwrap(), sent);
    let recs = exp.stop();
    done_tx.send(()).unwrap();
    holder.join().unwrap();
    let ours = totals(&recs, |r| udp_flow(r, "ingress", b, a, 5012));
    assert_eq!(ours, (sent, sent * 108));
    let theirs = second
        .drain_flows()
        .into_iter()
        .filter(|(k, _)| k.protocol == 17 && k.dst_port == 5012)
        .fold((0, 0), |(p, o), (_, v)| (p + v.packets, o + v.octets));
    assert_eq!(theirs, ours, "the program after ours saw every packet");
}

#[test]
fn a_program_after_ours_sees_every_packet_tcx() {
    if common::privileged() && common::kernel_has_tcx() {
        second_program_sees_everything(AttachMode::Tcx, "tcx");
    }
}

#[test]
fn a_program_after_ours_sees_every_packet_clsact() {
    if common::privileged() {
        second_program_sees_everything(AttachMode::Tc, "tc");
    }
}

#[test]
fn two_cpus_hitting_one_flow_sum_exactly() {
    common::require_root!();
    let net = NetnsPair::new();
    // 40 000 datagrams at once: none may wait on ARP (seen in a slow qemu
    // guest: 62 taken by sendto() and dropped before tc egress).
    net.resolve_neighbours();
    let exp = Exporter::start(&net.a, &net.veth_a, &["--active-timeout", "200ms"]);
    let (a, b) = (NetnsPair::ip(false, true), NetnsPair::ip(false, false));
    let sink = udp_sink(&net.b, sa(b, 5013));
    let ns = net.a.clone();
    let sent = NetnsPair::run_in(&ns, move || {
        let sock = std::sync::Arc::new(std::net::UdpSocket::bind(sa(a, 40013)).unwrap());
        let senders: Vec<_> = (0..2)
            .map(|cpu| {
                let sock = std::sync::Arc::clone(&sock);
                std::thread::spawn(move || {
                    let mut set = nix::sched::CpuSet::new();
                    set.set(cpu).unwrap();
                    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set).unwrap();
                    let mut n = 0u64;
                    for _ in 0..20_000 {
                        if sock.send_to(&[7u8; 32], sa(b, 5013)).is_ok() {
                            n += 1;
                        }
                    }
                    n
                })
            })
            .collect();
        senders.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
    });
    let received = sink.join().unwrap();
    let recs = exp.stop();
    let got = totals(&recs, |r| udp_flow(r, "egress", a, b, 5013));
    assert_eq!(got, (sent, sent * 60), "received {received}");
}

fn run_fails(args: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(args)
        .output()
        .expect("running the binary");
    assert!(!out.status.success(), "{args:?} must fail");
    let err = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    err
}

#[test]
fn startup_failures_are_one_clear_line_and_leave_nothing() {
    common::require_root!();
    let pins = PinDir::new();
    let p = pins.0.to_str().unwrap();
    let err = run_fails(&[
        "run",
        "--iface",
        "nosuchif0",
        "--output",
        "json",
        "--pin-path",
        p,
    ]);
    assert!(
        err.contains("nosuchif0") && err.contains("does not exist"),
        "{err}"
    );
    assert!(!pins.0.exists());
    let err = run_fails(&[
        "run",
        "--iface",
        "lo",
        "--output",
        "json",
        "--idle-timeout",
        "forever",
    ]);
    assert!(
        err.contains("--idle-timeout") && err.contains("forever"),
        "{err}"
    );
    let err = run_fails(&[
        "run",
        "--iface",
        "lo",
        "--output",
        "json",
        "--max-flows",
        "lots",
    ]);
    assert!(err.contains("--max-flows") && err.contains("lots"), "{err}");
    let err = run_fails(&[
        "run",
        "--iface",
        "lo",
        "--output",
        "json",
        "--pin-path",
        "/tmp/not-bpffs",
    ]);
    assert!(err.contains("not on a bpffs mount"), "{err}");
    assert!(!std::path::Path::new("/tmp/not-bpffs").exists());
    let err = run_fails(&[
        "run",
        "--iface",
        "lo",
        "--output",
        "json",
        "--direction",
        "sideways",
    ]);
    assert!(
        err.contains("--direction") && err.contains("sideways"),
        "{err}"
    );
}

/// On a kernel without TCX (below 6.6: the 6.1 of `make kernels`), a forced
/// `--attach tcx` fails in one line that says what is needed, rather than
/// the bare EINVAL of the TCX query.
#[test]
fn tcx_on_a_kernel_without_it_is_refused_by_name() {
    common::require_root!();
    if ipfix_flow_exporter::kernel::has_tcx() {
        println!(
            "SKIP: tcx_refused_by_name needs a kernel without TCX (below 6.6); this kernel is {}",
            ipfix_flow_exporter::kernel::running_release()
        );
        return;
    }
    let net = NetnsPair::new();
    let pins = PinDir::new();
    let out = run_command(&net.a, &[], &[], &net.veth_a, &pins.0, &["--attach", "tcx"])
        .output()
        .expect("running the binary");
    assert!(!out.status.success(), "--attach tcx must fail without TCX");
    let err = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.contains("TCX needs Linux 6.6 or later") && err.contains("--attach auto"),
        "{err}"
    );
    assert!(!pins.0.exists(), "{} left behind", pins.0.display());
}

#[test]
fn without_capabilities_startup_names_them() {
    common::require_root!();
    common::require_tools!("setpriv");
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            "--",
        ])
        .arg(BIN)
        .args(["run", "--iface", "lo", "--output", "json"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("missing capabilities") && err.contains("CAP_BPF"),
        "{err}"
    );
}

/// The clsact qdisc on `dev` of `ns`, as tc shows it.
fn has_clsact(ns: &str, dev: &str) -> bool {
    let out = NetnsPair::exec(ns, &["tc", "qdisc", "show", "dev", dev]);
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).contains("qdisc clsact")
}

/// With clsact filters, a run that created the clsact qdisc removes it again
/// at exit; a qdisc that was there before the run stays, as it was.
#[test]
fn clsact_qdisc_goes_only_when_we_created_it() {
    common::require_root!();
    let net = NetnsPair::new();
    let args = ["--attach", "tc", "--active-timeout", "200ms"];
    assert!(!has_clsact(&net.a, &net.veth_a));
    let exp = Exporter::start(&net.a, &net.veth_a, &args);
    assert!(has_clsact(&net.a, &net.veth_a));
    exp.stop();
    assert!(
        !has_clsact(&net.a, &net.veth_a),
        "the qdisc this run created is gone"
    );

    let add = NetnsPair::exec(
        &net.a,
        &["tc", "qdisc", "add", "dev", &net.veth_a, "clsact"],
    );
    assert!(add.status.success(), "{add:?}");
    let exp = Exporter::start(&net.a, &net.veth_a, &args);
    exp.stop();
    assert!(
        has_clsact(&net.a, &net.veth_a),
        "a qdisc that was there before the run stays"
    );
    let ifindex = NetnsPair::ifindex_in(&net.a, &net.veth_a);
    let left = NetnsPair::run_in(&net.a, move || {
        ipfix_flow_exporter::datapath::clsact::filter_count(ifindex).unwrap()
    });
    assert_eq!(left, 0, "and our filters are gone from it");
}

/// The metered interface is deleted and created again: the exporter says
/// so both times, attaches to the new interface, and meters the traffic
/// before and after exactly.
fn interface_gone_and_back(mode: &str) {
    let net = NetnsPair::new();
    let mut exp = Exporter::start(
        &net.a,
        &net.veth_a,
        &["--active-timeout", "200ms", "--attach", mode],
    );
    let (a, b) = (NetnsPair::ip(false, true), NetnsPair::ip(false, false));
    let each = udp_l3_overhead(false) + 40;
    let mut sent = Vec::new();
    for (round, port) in [(0, 5021u16), (1, 5022)] {
        if round == 1 {
            NetnsPair::exec(&net.a, &["ip", "link", "del", &net.veth_a]);
            exp.wait_log("is gone", 1);
            net.add_veth();
            exp.wait_log("is back", 1);
            // Both hooks again: two attached lines at start, two now.
            exp.wait_log("attached ", 4);
        }
        net.resolve_neighbours();
        let sink = udp_sink(&net.b, sa(b, port));
        let n = udp_send(
            &net.a,
            sa(a, 40020),
            sa(b, port),
            300,
            40,
            Duration::from_micros(200),
        );
        assert_eq!(sink.join().unwrap(), n);
        sent.push((port, n));
    }
    let new_ifindex = NetnsPair::ifindex_in(&net.a, &net.veth_a);
    let recs = exp.stop();
    for (port, n) in sent {
        let flow = |r: &Value| udp_flow(r, "egress", a, b, u64::from(port));
        assert_eq!(totals(&recs, flow), (n, n * each), "{mode}: port {port}");
    }
    let after = recs
        .iter()
        .find(|r| udp_flow(r, "egress", a, b, 5022))
        .unwrap();
    assert_eq!(after["egress_ifindex"], new_ifindex, "{after}");
}

#[test]
fn an_interface_deleted_and_created_again_is_metered_again_tcx() {
    if common::privileged() && common::kernel_has_tcx() {
        interface_gone_and_back("tcx");
    }
}

#[test]
fn an_interface_deleted_and_created_again_is_metered_again_clsact() {
    if common::privileged() {
        interface_gone_and_back("tc");
    }
}
