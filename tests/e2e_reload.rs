//! End to end: SIGHUP reloads a running `run --config FILE`. Between
//! bursts of traffic the file changes: a second interface pattern and a
//! second collector are added, then the first pattern and the first
//! collector removed; two reloads that cannot be applied (a restart-only
//! key, a TOML mistake) are refused and the run goes on. Every count is
//! exact on stdout and at each collector for the time it was configured,
//! and the collector that stays keeps its transport session.

// A failed unwrap fails the test, naming its line: the house rule against
// unwrap (Cargo.toml [lints]) is for the shipped code.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::collector::{collected_flows, start_collect};
use common::exporter::{totals, Exporter};
use common::netns::{sh, NetnsPair};
use common::process::Background;
use common::traffic::{sa, udp_l3_overhead, udp_send};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;

const PORT: u16 = 7400;
const PAYLOAD: usize = 40;

/// A veth pair `rl<i>a` (namespace A) – `rl<i>b` (B) on 203.0.113.(4i)/30.
struct Pair {
    a: String,
    src: IpAddr,
    dst: IpAddr,
}

fn pair(net: &NetnsPair, i: u8) -> Pair {
    let (a, b) = (format!("rl{i}a"), format!("rl{i}b"));
    sh(
        "ip",
        &[
            "link", "add", &a, "netns", &net.a, "type", "veth", "peer", "name", &b, "netns", &net.b,
        ],
    );
    let ip = |n: u8| IpAddr::V4(Ipv4Addr::new(203, 0, 113, 4 * i + n));
    for (ns, dev, addr) in [(&net.a, &a, ip(1)), (&net.b, &b, ip(2))] {
        sh(
            "ip",
            &["-n", ns, "addr", "add", &format!("{addr}/30"), "dev", dev],
        );
        sh("ip", &["-n", ns, "link", "set", dev, "up"]);
    }
    NetnsPair::exec(&net.a, &["ping", "-c", "1", "-W", "5", &ip(2).to_string()]);
    Pair {
        a,
        src: ip(1),
        dst: ip(2),
    }
}

impl Pair {
    /// `n` datagrams A -> B, metered at the egress of `rl<i>a`; how many
    /// the kernel took.
    fn send(&self, ns: &str, n: u64) -> u64 {
        udp_send(
            ns,
            sa(self.src, 40000),
            sa(self.dst, PORT),
            n,
            PAYLOAD,
            Duration::ZERO,
        )
    }

    fn is(&self, r: &Value) -> bool {
        r["direction"] == "egress"
            && r["protocol"] == 17
            && r["src_addr"] == self.src.to_string()
            && r["dst_addr"] == self.dst.to_string()
            && r["dst_port"] == PORT
    }

    /// Packets and octets of this pair's flow in `records`.
    fn totals(&self, records: &[Value]) -> (u64, u64) {
        totals(records, |r| self.is(r))
    }
}

fn expect(n: u64) -> (u64, u64) {
    (n, n * (udp_l3_overhead(false) + PAYLOAD as u64))
}

/// The config file a step of the test writes.
fn config(path: &PathBuf, ifaces: &[&str], collectors: &[SocketAddr], extra: &str) {
    let quote = |v: Vec<String>| v.join(", ");
    let text =
        format!(
        "iface = [{}]\ncollector = [{}]\noutput = \"json\"\nactive-timeout = \"500ms\"\n{extra}",
        quote(ifaces.iter().map(|i| format!("\"{i}\"")).collect()),
        quote(collectors.iter().map(|c| format!("\"udp://{c}\"")).collect()),
    );
    std::fs::write(path, text).unwrap();
}

/// SIGHUP, then waits for the `n`th line saying `what`.
fn reload(exp: &mut Exporter, what: &str, n: usize) {
    kill(Pid::from_raw(exp.pid() as i32), Signal::SIGHUP).unwrap();
    exp.wait_log(what, n);
}

/// Waits (bounded) until `got()` equals `want`; fails naming `what`.
fn wait_exact(what: &str, want: (u64, u64), got: impl Fn() -> (u64, u64)) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while got() != want && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(got(), want, "{what}");
}

fn flows(c: &Background) -> Vec<Value> {
    collected_flows(&c.stdout.lock().unwrap())
}

#[test]
fn sighup_applies_interface_and_collector_changes_without_losing_a_count() {
    common::require_root!();
    let net = NetnsPair::new();
    let (one, two) = (pair(&net, 1), pair(&net, 2));
    let (mut col_a, addr_a) = start_collect(&net.a, "udp://127.0.0.1:0");
    let (mut col_b, addr_b) = start_collect(&net.a, "udp://127.0.0.1:0");
    let file = std::env::temp_dir().join(format!("{}.toml", common::unique("ipfix-reload-")));
    let pins = PathBuf::from("/sys/fs/bpf").join(common::unique("ipfix-e2e-"));
    config(&file, &["rl1*"], &[addr_a], "");
    let mut exp = Exporter::start_configured(&net.a, &file, &pins);
    let stdout = |exp: &Exporter| exp.records.lock().unwrap().clone();

    // 1. rl1 metered, to collector A.
    let n1 = one.send(&net.a, 30);
    wait_exact("rl1 on stdout, step 1", expect(n1), || {
        one.totals(&stdout(&exp))
    });
    wait_exact("rl1 at A, step 1", expect(n1), || {
        one.totals(&flows(&col_a))
    });

    // 2. rl2 added, collector B added: both interfaces to both collectors.
    config(&file, &["rl1*", "rl2*"], &[addr_a, addr_b], "");
    reload(&mut exp, "reloaded the configuration", 1);
    exp.wait_log(&format!("attached egress program to {}", two.a), 1);
    let n2 = one.send(&net.a, 20);
    let m2 = two.send(&net.a, 25);
    wait_exact("rl1 on stdout, step 2", expect(n1 + n2), || {
        one.totals(&stdout(&exp))
    });
    wait_exact("rl2 on stdout, step 2", expect(m2), || {
        two.totals(&stdout(&exp))
    });
    wait_exact("rl1 at A, step 2", expect(n1 + n2), || {
        one.totals(&flows(&col_a))
    });
    wait_exact("rl2 at A, step 2", expect(m2), || {
        two.totals(&flows(&col_a))
    });
    wait_exact("rl1 at B, step 2", expect(n2), || {
        one.totals(&flows(&col_b))
    });
    wait_exact("rl2 at B, step 2", expect(m2), || {
        two.totals(&flows(&col_b))
    });

    // 3. Refused: a key that takes a restart, then a TOML mistake. The run
    // goes on as it was.
    config(&file, &["rl2*"], &[addr_b], "max-flows = 4096\n");
    reload(
        &mut exp,
        "reload refused: --max-flows changed, which takes a restart",
        1,
    );
    std::fs::write(&file, "iface = [\"rl2*\"\n").unwrap();
    reload(&mut exp, "reload refused: --config", 1);
    let n3 = one.send(&net.a, 7);
    wait_exact("rl1 on stdout, step 3", expect(n1 + n2 + n3), || {
        one.totals(&stdout(&exp))
    });
    wait_exact("rl1 at A, step 3", expect(n1 + n2 + n3), || {
        one.totals(&flows(&col_a))
    });

    // 4. rl1 and collector A removed: rl1 no longer metered, A gets nothing
    // more, B everything of rl2.
    config(&file, &["rl2*"], &[addr_b], "");
    reload(&mut exp, "reloaded the configuration", 2);
    exp.wait_log(&format!("interface {} (ifindex", one.a), 1);
    let not_metered = one.send(&net.a, 11);
    let m4 = two.send(&net.a, 9);
    wait_exact("rl2 on stdout, step 4", expect(m2 + m4), || {
        two.totals(&stdout(&exp))
    });
    wait_exact("rl2 at B, step 4", expect(m2 + m4), || {
        two.totals(&flows(&col_b))
    });
    assert!(not_metered > 0);

    let records = exp.stop();
    std::fs::remove_file(&file).unwrap();
    col_a.stop();
    col_b.stop();
    assert_eq!(
        one.totals(&records),
        expect(n1 + n2 + n3),
        "rl1 after its removal"
    );
    assert_eq!(two.totals(&records), expect(m2 + m4));
    let at_a = flows(&col_a);
    assert_eq!(one.totals(&at_a), expect(n1 + n2 + n3));
    assert_eq!(two.totals(&at_a), expect(m2), "A after its removal");
    let at_b = flows(&col_b);
    assert_eq!(one.totals(&at_b), expect(n2 + n3));
    assert_eq!(two.totals(&at_b), expect(m2 + m4));

    // A stayed through the first reload: one transport session (one
    // source port), its sequence numbers never starting again.
    let raw_a: Vec<Value> = col_a
        .stdout
        .lock()
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let exporters: std::collections::BTreeSet<String> =
        raw_a.iter().map(|r| r["exporter"].to_string()).collect();
    assert_eq!(exporters.len(), 1, "{exporters:?}");
    let seqs: Vec<u64> = raw_a
        .iter()
        .filter_map(|r| r["sequence_number"].as_u64())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] <= w[1]), "{seqs:?}");
}
