//! The artifact under an emulated l3afd, in `make test` while the real one
//! (tests/e2e_real_l3afd.rs, `make test-l3afd`) cannot be built there; see
//! tests/common/l3afd.rs for what is emulated and how.
//!
//! Native mode: bpftool loads `bpf_ipfix_<dir>.bpf.o` from the artifact with
//! its maps pinned at l3afd's path, our stand-in for tc-root (clsact
//! direct-action or TCX) tail-calls it from slot 0, and the artifact's
//! `bpf_ipfix_<dir>` is started with l3afd's arguments. A collector decodes
//! exact counts; a second program chained after ours sees every packet; a
//! graceful restart (SIGTERM, then `--direction=xdpingress`) under traffic
//! loses and doubles nothing; every SIGTERM ends the daemon within 2 s.
//!
//! Legacy mode (`--map-name=<root prog array>`): the daemon loads and chains
//! itself, and on SIGTERM leaves the slot empty and its pins removed — also
//! after l3afd restarted it over the pins of a crashed predecessor.

// A failed unwrap fails the test, naming its line: the house rule against
// unwrap (Cargo.toml [lints]) is for the shipped code.
#![allow(clippy::unwrap_used)]

mod common;

use std::os::fd::AsFd;
use std::path::PathBuf;
use std::time::Duration;

use common::bpfobj::TestObject;
use common::exporter::totals;
use common::l3afd::{
    l3afd_argv, log_warnings, native_load, other, pinned_prog_id, set_slot0, wait_until, Artifact,
    Collector, Daemon, Flow, L3afdTree, Payload, RootAttach, TcRoot, L3AFD_VERIFY,
};
use common::netns::NetnsPair;
use common::tempdir::TempDir;
use ipfix_flow_exporter::datapath::names::{self, MapRole};
use ipfix_flow_exporter::flow::Direction;
use libbpf_rs::{MapCore, MapFlags, MapHandle};

/// Bound of every wait for the collector or the daemon's log.
const WAIT: Duration = Duration::from_secs(15);

fn ready() -> bool {
    common::privileged()
        && ["bpftool", "unshare", "nsenter", "tar"]
            .iter()
            .all(|t| common::have_tool(t))
}

/// What the program chained after ours metered for UDP port `port`
/// (drained: the next call sees only newer packets).
fn witnessed(second: &TestObject, port: u16) -> (u64, u64) {
    second
        .drain_flows()
        .into_iter()
        .filter(|(k, _)| k.protocol == 17 && k.dst_port == port)
        .fold((0, 0), |(p, o), (_, v)| (p + v.packets, o + v.octets))
}

/// One l3afd-managed daemon set-up: namespaces, l3afd's pin tree, the
/// artifact, tc-root, a collector and the log directory. Dropped in reverse
/// order: daemons first (held by the test), then these.
struct Bench {
    collector: Option<Collector>,
    logs: TempDir,
    root: TcRoot,
    artifact: Artifact,
    _tree: L3afdTree,
    net: NetnsPair,
    payload: Payload,
    direction: Direction,
    ifindex: u32,
}

impl Bench {
    fn new(direction: Direction, how: RootAttach) -> Self {
        let payload = Payload::load(direction);
        let net = NetnsPair::new();
        let tree = L3afdTree::new(&net.veth_a);
        let artifact = Artifact::prepare(&payload);
        let root = TcRoot::attach(&net.a, &net.veth_a, direction, how);
        assert_eq!(root.slot0(), None, "a fresh tc-root has an empty slot 0");
        let collector = Collector::start(&net.a);
        let ifindex = NetnsPair::ifindex_in(&net.a, &net.veth_a);
        println!(
            "emulated l3afd: {} on {} (ifindex {ifindex}), tc-root attached with {how:?}",
            direction.as_str(),
            net.veth_a
        );
        Bench {
            collector: Some(collector),
            logs: TempDir::new("ipfix-l3afd-log-"),
            root,
            artifact,
            _tree: tree,
            net,
            payload,
            direction,
            ifindex,
        }
    }

    fn iface(&self) -> &str {
        &self.net.veth_a
    }

    fn collector(&self) -> &Collector {
        self.collector.as_ref().unwrap()
    }

    fn log(&self) -> PathBuf {
        self.logs
            .0
            .join(format!("{}.log", names::artifact_binary(self.direction)))
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(self.log()).unwrap_or_default()
    }

    /// StartUserProgram: `direction_arg` is what l3afd passes (`xdpingress`
    /// after a graceful restart), `legacy` adds `--map-name=<root array>`.
    fn start(&self, direction_arg: &str, legacy: bool) -> Daemon {
        let argv = l3afd_argv(
            &self.payload,
            self.iface(),
            direction_arg,
            legacy.then_some(self.root.pin.as_path()),
            &self.logs.0,
            self.collector().port,
        );
        Daemon::start(
            &self.net.a,
            &self.artifact.binary(self.direction),
            &argv,
            self.log(),
        )
    }

    /// Waits until the log says `n` runs started in `mode`.
    fn wait_started(&self, daemon: &mut Daemon, mode: &str, n: usize) {
        let text = format!("({mode} mode)");
        if !wait_until(WAIT, || self.log_text().matches(&text).count() >= n) {
            daemon.assert_running();
            panic!("run {n} did not log {text:?}:\n{}", self.log_text());
        }
        daemon.assert_running();
    }

    fn jmp_table_pin(&self) -> PathBuf {
        self.payload.map_pin(self.iface(), MapRole::JmpTable)
    }

    /// `<tc/globals>/<iface>/ipfix-flow-exporter`: everything of ours.
    fn our_pin_root(&self) -> PathBuf {
        self.payload
            .map_dir(self.iface())
            .parent()
            .unwrap()
            .to_path_buf()
    }

    fn assert_all_pins(&self) {
        for role in MapRole::ALL {
            let p = self.payload.map_pin(self.iface(), role);
            assert!(p.exists(), "{} is pinned", p.display());
        }
    }

    fn monitor(&self, role: MapRole) -> u64 {
        let m = MapHandle::from_pinned_path(self.payload.map_pin(self.iface(), role))
            .expect("opening a monitor map");
        let v = m
            .lookup(&0u32.to_ne_bytes(), MapFlags::ANY)
            .expect("reading a monitor map")
            .expect("key 0 present");
        u64::from_ne_bytes(v[..8].try_into().unwrap())
    }

    /// A program of ours (the other direction's object) chained after ours
    /// in our jmp table.
    fn chain_second(&self) -> TestObject {
        let second = TestObject::load(other(self.direction));
        let jmp = MapHandle::from_pinned_path(self.jmp_table_pin()).expect("our jmp table pin");
        set_slot0(&jmp, second.obj.prog.as_fd());
        second
    }
}

/// Exactly the expected warnings: `(run, expected substrings)`.
fn assert_warnings(run: &str, expected: &[&str]) {
    let warnings = log_warnings(run);
    assert_eq!(
        warnings.len(),
        expected.len(),
        "unexpected warnings in the daemon's log: {warnings:#?}"
    );
    for (w, e) in warnings.iter().zip(expected) {
        assert!(w.contains(e), "warning {w:?} should mention {e:?}");
    }
}

/// The exporter's source address a run logged (`exporting to ... from ADDR`).
fn exporting_from(run: &str) -> String {
    run.lines()
        .find_map(|l| l.split_once("exporting to ")?.1.split_once(" from "))
        .map(|(_, from)| from.trim().to_owned())
        .unwrap_or_else(|| panic!("no 'exporting to' line in {run}"))
}

fn native(direction: Direction, how: RootAttach) {
    let mut bench = Bench::new(direction, how);
    let iface = bench.iface().to_owned();

    // l3afd's LoadBPFProgramChain, by bpftool.
    native_load(
        &bench.payload,
        &iface,
        &bench.artifact.object(direction),
        &bench.root,
    );
    let ours = pinned_prog_id(&bench.payload.prog_pin(&iface));
    assert_eq!(
        bench.root.slot0(),
        Some(ours),
        "our program in tc-root's slot 0"
    );
    bench.assert_all_pins();

    let mut daemon = bench.start(direction.as_str(), false);
    bench.wait_started(&mut daemon, "native", 1);

    // 1. Traffic flows, the collector decodes exact counts.
    let f1 = Flow::new(&bench.net, direction, 7101);
    let n1 = f1.send(400, Duration::from_micros(100));
    f1.assert_collected(bench.collector(), n1, "first run");

    // 2. A second program in our jmp table still sees every packet.
    let second = bench.chain_second();
    let f2 = Flow::new(&bench.net, direction, 7102);
    let n2 = f2.send(300, Duration::from_micros(100));
    f2.assert_collected(bench.collector(), n2, "with a program chained after ours");
    assert_eq!(
        witnessed(&second, f2.port),
        f2.expect(n2),
        "the program after ours saw every packet"
    );

    // 3. Graceful restart under traffic: SIGTERM, the datapath keeps
    // metering into l3afd's pins, the daemon comes back with
    // --direction=xdpingress and drains what they hold.
    let f3 = Flow::new(&bench.net, direction, 7103);
    let sender = {
        let f3 = f3.clone();
        std::thread::spawn(move || f3.send(4000, Duration::from_micros(500)))
    };
    std::thread::sleep(Duration::from_millis(600));
    let took = daemon.terminate();
    println!("SIGTERM to exit: {took:?}");
    let first_run = bench.log_text();
    assert_eq!(
        bench.root.slot0(),
        Some(ours),
        "native mode leaves the chain to l3afd"
    );
    bench.assert_all_pins();
    std::thread::sleep(Duration::from_millis(300));
    let mut daemon = bench.start("xdpingress", false);
    bench.wait_started(&mut daemon, "native", 2);
    let n3 = sender.join().expect("sender");
    f3.assert_collected(bench.collector(), n3, "across the graceful restart");
    assert_eq!(
        witnessed(&second, f3.port),
        f3.expect(n3),
        "the chain after ours kept working across the restart"
    );

    // 4. SIGKILL under traffic (l3afd restarts a dead daemon): the maps
    // keep what was metered; the next daemon exports it once. At most what
    // was inside the chunk being sent at the kill can be lost (the drain
    // chunk is daemon::DRAIN_CHUNK_MESSAGES messages); in practice the kill
    // lands outside the microseconds of a drain.
    let f4 = Flow::new(&bench.net, direction, 7104);
    let sender = {
        let f4 = f4.clone();
        std::thread::spawn(move || f4.send(3000, Duration::from_micros(500)))
    };
    std::thread::sleep(Duration::from_millis(700));
    daemon.kill();
    std::thread::sleep(Duration::from_millis(300));
    let mut daemon = bench.start(direction.as_str(), false);
    bench.wait_started(&mut daemon, "native", 3);
    let n4 = sender.join().expect("sender");
    let collected =
        bench
            .collector()
            .wait_totals(|r| f4.matches(r), f4.expect(n4), Duration::from_secs(10));
    let per_packet = f4.expect(1).1;
    assert!(
        collected.0 <= n4 && collected.1 == collected.0 * per_packet,
        "never counted twice: {collected:?} of {n4}"
    );
    if collected.0 != n4 {
        println!(
            "SIGKILL lost {} packets inside the message being sent",
            n4 - collected.0
        );
    }
    assert_eq!(bench.root.slot0(), Some(ours));

    // 5. Final SIGTERM.
    let took = daemon.terminate();
    println!("final SIGTERM to exit: {took:?}");
    assert_eq!(bench.root.slot0(), Some(ours));
    bench.assert_all_pins();

    let records = bench.collector.take().unwrap().stop();
    for (f, n) in [(&f1, n1), (&f2, n2), (&f3, n3)] {
        assert_eq!(
            totals(&records, |r| f.matches(r)),
            f.expect(n),
            "port {}: nothing lost or counted twice",
            f.port
        );
        f.assert_interface(&records, bench.ifindex);
    }
    // Both runs exported part of the flow that ran across the restart
    // (told apart by the source address each run logged).
    let text = bench.log_text();
    let (run1, run2) = text.split_at(first_run.len());
    let (from1, from2) = (exporting_from(run1), exporting_from(run2));
    if from1 != from2 {
        for from in [&from1, &from2] {
            let part = totals(&records, |r| {
                f3.matches(r) && r["exporter"] == from.as_str()
            });
            assert!(
                part.0 > 0,
                "the run exporting from {from} exported part of it"
            );
        }
    }
    // l3afd's monitor_maps read the totals the daemon published.
    let seen = bench.monitor(MapRole::MonitorPackets);
    assert!(seen >= n1 + n2 + n3, "monitor map packets {seen}");

    // The log under --log-dir: native mode, l3afd's pin path, and only the
    // warning about the wrong --direction of the restart.
    let pins = bench.payload.map_dir(&iface).display().to_string();
    for run in [run1, run2] {
        assert!(
            run.contains("(native mode)") && run.contains(&pins),
            "{run}"
        );
    }
    assert_warnings(run1, &[]);
    assert_warnings(run2, &["--direction=xdpingress ignored"]);
}

#[test]
fn native_ingress_with_clsact_root() {
    if ready() {
        native(Direction::Ingress, RootAttach::Clsact);
    }
}

#[test]
fn native_ingress_with_tcx_root() {
    if ready() {
        native(Direction::Ingress, RootAttach::Tcx);
    }
}

#[test]
fn native_egress_with_clsact_root() {
    if ready() {
        native(Direction::Egress, RootAttach::Clsact);
    }
}

#[test]
fn native_egress_with_tcx_root() {
    if ready() {
        native(Direction::Egress, RootAttach::Tcx);
    }
}

/// Waits as l3afd does after starting a legacy daemon (GetProgID,
/// VerifyPinnedProgMap) until a program other than `not` sits in the root's
/// slot 0 and our jmp table is pinned; returns the program's id.
fn wait_chained(bench: &Bench, daemon: &mut Daemon, not: Option<u32>) -> u32 {
    let jmp = bench.jmp_table_pin();
    let ok = wait_until(L3AFD_VERIFY, || {
        bench.root.slot0().is_some() && bench.root.slot0() != not && jmp.exists()
    });
    if !ok {
        daemon.assert_running();
        panic!(
            "legacy daemon not chained within {L3AFD_VERIFY:?} (slot 0: {:?}, {} exists: {}):\n{}",
            bench.root.slot0(),
            jmp.display(),
            jmp.exists(),
            bench.log_text()
        );
    }
    bench.root.slot0().unwrap()
}

/// After a legacy daemon's SIGTERM: l3afd's VerifyCleanupMaps needs our jmp
/// table pin gone; the root's slot is empty; no pin or directory of ours is
/// left.
fn assert_left_cleanly(bench: &Bench) {
    assert_eq!(bench.root.slot0(), None, "slot 0 emptied on exit");
    assert!(
        !bench.jmp_table_pin().exists(),
        "l3afd waits for {} to vanish",
        bench.jmp_table_pin().display()
    );
    assert!(
        !bench.our_pin_root().exists(),
        "{} left behind",
        bench.our_pin_root().display()
    );
}

#[test]
fn legacy_ingress_with_tcx_root() {
    if !ready() {
        return;
    }
    let direction = Direction::Ingress;
    let mut bench = Bench::new(direction, RootAttach::Tcx);

    let mut daemon = bench.start(direction.as_str(), true);
    let first = wait_chained(&bench, &mut daemon, None);
    bench.wait_started(&mut daemon, "legacy", 1);
    bench.assert_all_pins();

    // 1. Exact counts.
    let f1 = Flow::new(&bench.net, direction, 7201);
    let n1 = f1.send(400, Duration::from_micros(100));
    f1.assert_collected(bench.collector(), n1, "legacy");

    // 2. A program chained after ours sees every packet.
    let second = bench.chain_second();
    let f2 = Flow::new(&bench.net, direction, 7202);
    let n2 = f2.send(300, Duration::from_micros(100));
    f2.assert_collected(bench.collector(), n2, "with a program chained after ours");
    assert_eq!(witnessed(&second, f2.port), f2.expect(n2));

    // 3. SIGTERM: out of the chain, pins removed.
    let took = daemon.terminate();
    println!("SIGTERM to exit: {took:?}");
    assert_left_cleanly(&bench);
    let first_run = bench.log_text();
    // With the slot empty nothing meters.
    let gap = Flow::new(&bench.net, direction, 7209);
    let ngap = gap.send(100, Duration::from_micros(100));

    // 4. Started again (as after a graceful restart: --direction=xdpingress).
    let mut daemon = bench.start("xdpingress", true);
    let again = wait_chained(&bench, &mut daemon, None);
    assert_ne!(again, first, "a freshly loaded program");
    bench.wait_started(&mut daemon, "legacy", 2);
    let f3 = Flow::new(&bench.net, direction, 7203);
    let n3 = f3.send(400, Duration::from_micros(100));
    f3.assert_collected(bench.collector(), n3, "after the restart");

    let took = daemon.terminate();
    println!("final SIGTERM to exit: {took:?}");
    assert_left_cleanly(&bench);

    let records = bench.collector.take().unwrap().stop();
    for (f, n) in [(&f1, n1), (&f2, n2), (&f3, n3)] {
        assert_eq!(
            totals(&records, |r| f.matches(r)),
            f.expect(n),
            "port {}",
            f.port
        );
        f.assert_interface(&records, bench.ifindex);
    }
    assert_eq!(
        totals(&records, |r| gap.matches(r)),
        (0, 0),
        "{ngap} datagrams while out of the chain: not metered"
    );
    let text = bench.log_text();
    let (run1, run2) = text.split_at(first_run.len());
    for run in [run1, run2] {
        assert!(
            run.contains("(legacy mode)") && run.contains(&bench.root.pin.display().to_string()),
            "{run}"
        );
    }
    assert_warnings(run1, &[]);
    assert_warnings(run2, &["--direction=xdpingress ignored"]);
}

/// l3afd's pMonitor restarts a dead legacy daemon with the same arguments
/// while its program is still chained: the new daemon takes over the
/// pinned maps (and what they metered meanwhile), and its SIGTERM must
/// still leave nothing behind — l3afd's Stop waits for the jmp table pin to
/// vanish.
#[test]
fn legacy_egress_restarted_after_a_crash_with_clsact_root() {
    if !ready() {
        return;
    }
    let direction = Direction::Egress;
    let mut bench = Bench::new(direction, RootAttach::Clsact);

    let mut daemon = bench.start(direction.as_str(), true);
    let first = wait_chained(&bench, &mut daemon, None);
    bench.wait_started(&mut daemon, "legacy", 1);
    let f1 = Flow::new(&bench.net, direction, 7301);
    let n1 = f1.send(400, Duration::from_micros(100));
    f1.assert_collected(bench.collector(), n1, "before the crash");

    daemon.kill();
    let crashed_run = bench.log_text();
    assert_eq!(
        bench.root.slot0(),
        Some(first),
        "a crash leaves the program chained"
    );
    bench.assert_all_pins();
    // Metered into the pinned maps while no daemon runs.
    let f2 = Flow::new(&bench.net, direction, 7302);
    let n2 = f2.send(300, Duration::from_micros(100));

    let mut daemon = bench.start(direction.as_str(), true);
    let again = wait_chained(&bench, &mut daemon, Some(first));
    bench.wait_started(&mut daemon, "legacy", 2);
    f2.assert_collected(bench.collector(), n2, "drained by the restarted daemon");
    let f3 = Flow::new(&bench.net, direction, 7303);
    let n3 = f3.send(300, Duration::from_micros(100));
    f3.assert_collected(bench.collector(), n3, "after the restart");
    assert_eq!(bench.root.slot0(), Some(again));

    let took = daemon.terminate();
    println!("SIGTERM to exit: {took:?}");
    assert_left_cleanly(&bench);

    let records = bench.collector.take().unwrap().stop();
    for (f, n) in [(&f1, n1), (&f2, n2), (&f3, n3)] {
        assert_eq!(
            totals(&records, |r| f.matches(r)),
            f.expect(n),
            "port {}",
            f.port
        );
        f.assert_interface(&records, bench.ifindex);
    }
    let text = bench.log_text();
    let (run1, run2) = text.split_at(crashed_run.len());
    assert_warnings(run1, &[]);
    assert_warnings(run2, &[]);
}
