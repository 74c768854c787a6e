//! End to end: one `run` meters a whole namespace of interfaces that come
//! and go (`--iface PATTERN`): 50 veth pairs created after it started,
//! traffic on each, half of them deleted while the other half carries
//! traffic, 10 more created; every flow exact, every departed interface's
//! last flows exported at once as "forced end", its link pin and lock
//! gone.

// A failed unwrap fails the test, naming its line: the house rule against
// unwrap (Cargo.toml [lints]) is for the shipped code.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use common::collector::{collected_flows, sorted, start_collect};
use common::exporter::{totals, Exporter};
use common::netns::{sh, sh_with_stdin, NetnsPair};
use common::traffic::{sa, udp_l3_overhead, udp_send, udp_sink};
use serde_json::Value;

const FIRST: usize = 50;
const LATER: usize = 10;
/// The pair whose interface another run holds.
const HELD: usize = 61;
const PORT: u16 = 7300;
const PAYLOAD: usize = 30;

/// One veth pair between the test's namespaces, on 198.51.100.(4i)/30.
#[derive(Clone)]
struct Pair {
    i: usize,
    a: String,
    b: String,
}

impl Pair {
    fn addr(&self, side_a: bool) -> IpAddr {
        let last = 4 * self.i as u8 + if side_a { 1 } else { 2 };
        IpAddr::V4(Ipv4Addr::new(198, 51, 100, last))
    }

    fn create(net: &NetnsPair, tag: &str, i: usize) -> Self {
        let p = Pair {
            i,
            a: format!("h{i}a{tag}"),
            b: format!("h{i}b{tag}"),
        };
        sh(
            "ip",
            &[
                "link", "add", &p.a, "netns", &net.a, "type", "veth", "peer", "name", &p.b,
                "netns", &net.b,
            ],
        );
        for (ns, dev, side_a) in [(&net.a, &p.a, true), (&net.b, &p.b, false)] {
            let addr = format!("{}/30", p.addr(side_a));
            sh("ip", &["-n", ns, "addr", "add", &addr, "dev", dev]);
            sh("ip", &["-n", ns, "link", "set", dev, "up"]);
        }
        p
    }

    /// Resolves B's address from A, so that no datagram waits for ARP
    /// (and is dropped) before tc sees it.
    fn resolve(&self, ns_a: &str) {
        let dst = self.addr(false).to_string();
        NetnsPair::exec(ns_a, &["ping", "-c", "1", "-W", "5", &dst]);
    }
}

/// `count(pair)` datagrams A -> B (egress of the metered end) on each of
/// `pairs`, paced by `gap`, all pairs at once; each pair's count as its
/// sink received it (and checked equal to what was sent).
fn send_on(
    ns_a: &str,
    ns_b: &str,
    pairs: &[Pair],
    count: impl Fn(&Pair) -> u64,
    gap: Duration,
) -> Vec<(usize, u64)> {
    let flows: Vec<_> = pairs
        .iter()
        .map(|p| {
            p.resolve(ns_a);
            let (src, dst) = (
                sa(p.addr(true), 40000 + p.i as u16),
                sa(p.addr(false), PORT),
            );
            let sink = udp_sink(ns_b, dst);
            let (a, n) = (ns_a.to_owned(), count(p));
            let sender = std::thread::spawn(move || udp_send(&a, src, dst, n, PAYLOAD, gap));
            (p.i, sink, sender)
        })
        .collect();
    flows
        .into_iter()
        .map(|(i, sink, sender)| {
            let sent = sender.join().unwrap();
            assert_eq!(sink.join().unwrap(), sent, "pair {i}");
            (i, sent)
        })
        .collect()
}

/// Removes the lock files of the test's interfaces, also when it fails
/// (the exporter, killed on a failure, cannot).
struct LockFiles(String);

impl Drop for LockFiles {
    fn drop(&mut self) {
        let dir = std::path::Path::new(ipfix_flow_exporter::lock::LOCK_DIR);
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().ends_with(&self.0) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }
}

fn flow_of<'a>(ifindex: u32, pair: &'a Pair) -> impl Fn(&Value) -> bool + 'a {
    move |r: &Value| {
        r["direction"] == "egress"
            && r["egress_ifindex"] == ifindex
            && r["src_addr"] == pair.addr(true).to_string()
            && r["dst_port"] == PORT
    }
}

#[test]
fn one_run_follows_fifty_interfaces_as_they_come_and_go() {
    common::require_root!();
    common::require_tools!("ping");
    let net = NetnsPair::new();
    let tag = common::unique("");
    let _locks = LockFiles(format!("a{tag}.lock"));
    let pattern = format!("h*a{tag}");
    // One interface another run holds (its lock): skipped with an error,
    // the start and every other interface go on.
    let held = Pair::create(&net, &tag, HELD);
    let lock_dir = std::path::Path::new(ipfix_flow_exporter::lock::LOCK_DIR);
    let _held_lock = ipfix_flow_exporter::lock::InstanceLock::acquire(lock_dir, &held.a).unwrap();
    // A minute's interval: within the test a record goes out only when its
    // interface goes, or at the stop. A TCP collector gets them too, most
    // of them in the final flush, which follows the detach of 35
    // interfaces (longer than the collectors' drain time).
    let (mut collector, at) = start_collect(&net.a, "tcp://127.0.0.1:0");
    let to = format!("tcp://{at}");
    let mut exp = Exporter::start(
        &net.a,
        &pattern,
        &["--active-timeout", "60s", "--collector", &to],
    );
    let pin_dir_name = exp.pin_dir.file_name().unwrap().to_string_lossy();
    let _run_lock = LockFiles(format!("{pin_dir_name}.lock"));
    assert!(
        exp.stderr
            .lock()
            .unwrap()
            .contains("following interfaces h*a"),
        "the run started although one interface could not be attached"
    );
    let log = exp.stderr.lock().unwrap().clone();
    assert!(
        log.contains(&format!("{} (ifindex", held.a)) && log.contains("is held"),
        "{log}"
    );

    // 1. Fifty interfaces appear: each attached within the bound of
    //    wait_log, on the rtnetlink notification.
    let mut pairs: Vec<Pair> = (0..FIRST).map(|i| Pair::create(&net, &tag, i)).collect();
    exp.wait_log("attached ", 2 * FIRST);
    let ifindex: Vec<u32> = pairs
        .iter()
        .map(|p| NetnsPair::ifindex_in(&net.a, &p.a))
        .collect();
    let mut sent = vec![0u64; FIRST + LATER];
    for (i, n) in send_on(
        &net.a,
        &net.b,
        &pairs,
        |p| 5 + p.i as u64 % 7,
        Duration::ZERO,
    ) {
        sent[i] += n;
    }

    // 2. The even pairs carry traffic while the odd ones are deleted and
    //    ten more are created.
    let traffic = {
        let (ns_a, ns_b) = (net.a.clone(), net.b.clone());
        let even: Vec<Pair> = pairs.iter().filter(|p| p.i % 2 == 0).cloned().collect();
        std::thread::spawn(move || send_on(&ns_a, &ns_b, &even, |_| 40, Duration::from_millis(5)))
    };
    // One `ip -batch`: the departures come close together, as a batch of
    // containers stopping does, and share one early interval.
    let dels: String = pairs
        .iter()
        .filter(|p| p.i % 2 == 1)
        .map(|p| format!("link del {}\n", p.a))
        .collect();
    sh_with_stdin("ip", &["-n", &net.a, "-batch", "-"], &dels);
    for i in FIRST..FIRST + LATER {
        pairs.push(Pair::create(&net, &tag, i));
    }
    for (i, n) in traffic.join().unwrap() {
        sent[i] += n;
    }
    exp.wait_log("is gone or no longer matches", FIRST / 2);
    // The last flows of each departed interface go out at once, "forced
    // end", long before the interval's end.
    for (p, idx) in pairs.iter().zip(&ifindex).filter(|(p, _)| p.i % 2 == 1) {
        let flow = flow_of(*idx, p);
        assert!(
            exp.wait_for_record(Duration::from_secs(10), |r| flow(r)
                && r["end_reason"] == "forced end"),
            "pair {}: no forced end within 10 s of its interface going",
            p.i
        );
    }
    exp.wait_log("attached ", 2 * (FIRST + LATER));
    let later: Vec<u32> = pairs[FIRST..]
        .iter()
        .map(|p| NetnsPair::ifindex_in(&net.a, &p.a))
        .collect();
    for (i, n) in send_on(&net.a, &net.b, &pairs[FIRST..], |_| 9, Duration::ZERO) {
        sent[i] += n;
    }

    // Departed interfaces leave no link pin and no lock behind.
    std::thread::sleep(Duration::from_millis(400));
    let pins: Vec<String> = std::fs::read_dir(&exp.pin_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for (p, idx) in pairs.iter().zip(ifindex.iter().chain(&later)) {
        let linked = pins.iter().any(|f| f.ends_with(&format!("_link_{idx}")));
        let locked = lock_dir.join(format!("{}.lock", p.a)).exists();
        let metered = p.i % 2 == 0 || p.i >= FIRST;
        // TCX (Linux 6.6+, what --attach auto takes) pins a link per
        // interface; clsact filters have no pin.
        if ipfix_flow_exporter::kernel::has_tcx() {
            assert_eq!(linked, metered, "pair {} link pin, pins {pins:?}", p.i);
        }
        assert_eq!(locked, metered, "pair {} lock", p.i);
    }

    let log = std::sync::Arc::clone(&exp.stderr);
    let recs = exp.stop();
    let log = log.lock().unwrap().clone();
    assert!(!log.contains("not sent when closing"), "{log}");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let collected = collected_flows(&collector.stop());
    let flows = |v: &[Value]| -> Vec<Value> {
        v.iter()
            .filter(|r| r.get("flow_id").is_some())
            .cloned()
            .collect()
    };
    assert_eq!(
        sorted(&collected),
        sorted(&flows(&recs)),
        "the TCP collector got every record"
    );
    let each = udp_l3_overhead(false) + PAYLOAD as u64;
    for (p, idx) in pairs.iter().zip(ifindex.iter().chain(&later)) {
        let flow = flow_of(*idx, p);
        assert_eq!(
            totals(&recs, &flow),
            (sent[p.i], sent[p.i] * each),
            "pair {} (ifindex {idx})",
            p.i
        );
        if p.i % 2 == 1 && p.i < FIRST {
            // All of it in one record, when its interface went.
            let reasons: Vec<&Value> = recs
                .iter()
                .filter(|r| flow(r))
                .map(|r| &r["end_reason"])
                .collect();
            assert_eq!(reasons, ["forced end"], "pair {}", p.i);
        }
    }
    // A lock file of each interface still attached at the stop is gone too.
    for p in &pairs {
        assert!(
            !lock_dir.join(format!("{}.lock", p.a)).exists(),
            "pair {}",
            p.i
        );
    }
}
