//! End to end: IPFIX over TLS (RFC 7011 §11) between `run --collector
//! tls://` and `collect --listen tls://`, with a CA and certificates the
//! test makes (rcgen). With mutual authentication every count is exact;
//! tshark sees only TLS on the wire and, given the session keys, decodes
//! the IPFIX inside. Refused: an unknown CA, a wrong host name, an expired
//! certificate, an exporter without a certificate where one is required —
//! each a clear line on both sides, counted, while a plain collector of the
//! same run gets every record.

// A failed unwrap fails the test, naming its line: the house rule against
// unwrap (Cargo.toml [lints]) is for the shipped code.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::collector::{collected_flows, sorted, start_collect};
use common::exporter::{totals, Exporter};
use common::netns::NetnsPair;
use common::process::Background;
use common::tempdir::TempDir;
use common::traffic::{sa, udp_send, udp_sink};
use nix::sys::signal::Signal;
use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer,
    KeyPair, KeyUsagePurpose,
};
use serde_json::Value;

/// A CA, and certificates it (or another CA) signed, as PEM files.
struct Pki {
    dir: TempDir,
}

struct Ca {
    issuer: Issuer<'static, KeyPair>,
}

fn ca(pki: &Pki, name: &str) -> Ca {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("{name} test CA"));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = date_time_ymd(2020, 1, 1);
    params.not_after = date_time_ymd(2099, 1, 1);
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    std::fs::write(pki.dir.join(format!("{name}.pem")), cert.pem()).unwrap();
    Ca {
        issuer: Issuer::new(params, key),
    }
}

/// `<name>.pem` and `<name>.key`, for `sans`, signed by `ca`, valid from
/// `from` to `until` (years).
fn leaf(pki: &Pki, ca: &Ca, name: &str, sans: &[&str], years: (i32, i32), client: bool) {
    let mut params =
        CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name.to_owned());
    params.use_authority_key_identifier_extension = true;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![if client {
        ExtendedKeyUsagePurpose::ClientAuth
    } else {
        ExtendedKeyUsagePurpose::ServerAuth
    }];
    params.not_before = date_time_ymd(years.0, 1, 1);
    params.not_after = date_time_ymd(years.1, 1, 1);
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    std::fs::write(pki.dir.join(format!("{name}.pem")), cert.pem()).unwrap();
    std::fs::write(pki.dir.join(format!("{name}.key")), key.serialize_pem()).unwrap();
}

impl Pki {
    /// `ca` signs: `server` (127.0.0.1), `client`, `wronghost` (another
    /// name), `expired` (2020 to 2021); `other` (another CA) signs
    /// `stranger` (127.0.0.1).
    fn new() -> Self {
        let pki = Pki {
            dir: TempDir::new("ipfix-pki-"),
        };
        let (ours, other) = (ca(&pki, "ca"), ca(&pki, "other"));
        leaf(
            &pki,
            &ours,
            "server",
            &["127.0.0.1", "collector.test"],
            (2020, 2099),
            false,
        );
        leaf(
            &pki,
            &ours,
            "client",
            &["exporter.test"],
            (2020, 2099),
            true,
        );
        leaf(
            &pki,
            &ours,
            "wronghost",
            &["other.test"],
            (2020, 2099),
            false,
        );
        leaf(&pki, &ours, "expired", &["127.0.0.1"], (2020, 2021), false);
        leaf(
            &pki,
            &other,
            "stranger",
            &["127.0.0.1"],
            (2020, 2099),
            false,
        );
        pki
    }

    fn path(&self, file: &str) -> String {
        self.dir.str(file)
    }
}

/// `collect --listen tls://127.0.0.1:0` with `cert`, requiring a client
/// certificate when `client_ca` is given; its port.
fn tls_collector(ns: &str, pki: &Pki, cert: &str, client_ca: Option<&str>) -> (Background, u16) {
    tls_collector_at(ns, pki, cert, client_ca, "tls://127.0.0.1:0")
}

/// As [`tls_collector`], listening on `listen`.
fn tls_collector_at(
    ns: &str,
    pki: &Pki,
    cert: &str,
    client_ca: Option<&str>,
    listen: &str,
) -> (Background, u16) {
    let (cert_pem, key) = (
        pki.path(&format!("{cert}.pem")),
        pki.path(&format!("{cert}.key")),
    );
    let mut cmd = vec![
        common::exporter::BIN,
        "collect",
        "--format",
        "json",
        "--listen",
        listen,
        "--tls-cert",
        &cert_pem,
        "--tls-key",
        &key,
    ];
    let ca = client_ca.map(|c| pki.path(&format!("{c}.pem")));
    if let Some(ca) = &ca {
        cmd.extend(["--tls-client-ca", ca]);
    }
    let mut c = Background::start_in(ns, "collect-tls", &cmd);
    c.wait_stderr("listening on", Duration::from_secs(10));
    let port = c
        .stderr
        .lock()
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("listening on tls://"))
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    (c, port)
}

fn wait_until(what: &str, within: Duration, ok: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while !ok() {
        assert!(Instant::now() < deadline, "{what} within {within:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn is_test_flow(r: &Value, port: u16) -> bool {
    r["dst_port"] == port && r["direction"] == "egress" && r["protocol"] == 17
}

/// The flow records to `port` a collector printed so far.
fn received(c: &Background, port: u16) -> Vec<Value> {
    collected_flows(&c.stdout.lock().unwrap())
        .into_iter()
        .filter(|r| is_test_flow(r, port))
        .collect()
}

/// Waits (bounded) until collector `c` printed exactly the records
/// `printed` holds for `port`.
fn wait_for_records(what: &str, c: &Background, port: u16, printed: &[Value]) {
    let want = totals(printed, |r| is_test_flow(r, port)).0;
    wait_until(what, Duration::from_secs(10), || {
        totals(&received(c, port), |_| true).0 == want
    });
    let mine: Vec<Value> = printed
        .iter()
        .filter(|r| is_test_flow(r, port))
        .cloned()
        .collect();
    assert_eq!(sorted(&received(c, port)), sorted(&mine), "{what}");
}

#[test]
fn mutual_tls_export_is_exact_and_only_tls_is_on_the_wire() {
    common::require_root!();
    common::require_tools!("tshark");
    let net = NetnsPair::new();
    let pki = Pki::new();
    let (mut col, port) = tls_collector(&net.a, &pki, "server", Some("ca"));
    let keylog = pki.path("keylog.txt");
    let pcap = pki.path("tls.pcap");
    let mut capture = Background::start_group_in(
        &net.a,
        "tshark",
        &[
            "tshark",
            "-i",
            "lo",
            "-f",
            &format!("tcp port {port}"),
            "-w",
            &pcap,
        ],
    );
    capture.wait_stderr("Capturing on", Duration::from_secs(30));

    let collector = format!("tls://127.0.0.1:{port}");
    let (ca, cert, key) = (
        pki.path("ca.pem"),
        pki.path("client.pem"),
        pki.path("client.key"),
    );
    let extra = [
        "--collector",
        &collector,
        "--tls-ca",
        &ca,
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
        "--active-timeout",
        "300ms",
    ];
    std::env::set_var("SSLKEYLOGFILE", &keylog);
    let mut exp = Exporter::start(&net.a, &net.veth_a, &extra);
    std::env::remove_var("SSLKEYLOGFILE");
    exp.wait_log("connected to collector tls://", 1);
    col.wait_stderr("connected", Duration::from_secs(5));

    net.resolve_neighbours();
    let (a, b) = (NetnsPair::ip(false, true), NetnsPair::ip(false, false));
    let sink = udp_sink(&net.b, sa(b, 5140));
    let sent = udp_send(&net.a, sa(a, 40140), sa(b, 5140), 40, 64, Duration::ZERO);
    assert_eq!(sink.join().unwrap(), sent);
    let records = exp.stop();
    let printed: Vec<Value> = records
        .into_iter()
        .filter(|r| is_test_flow(r, 5140))
        .collect();
    assert_eq!(totals(&printed, |_| true).0, sent);

    // Every record the exporter printed reached the collector, through TLS.
    wait_for_records("the collector's records", &col, 5140, &printed);
    let received = received(&col, 5140);
    let said = col.stop();
    assert!(!said.contains("refused"), "{said}");

    // On the wire: a TLS handshake and application data, and with the
    // session keys tshark decodes the same flow records inside.
    std::thread::sleep(Duration::from_millis(300));
    capture.stop_with(Signal::SIGINT);
    let tshark = |filter: &str, field: &str| {
        let out = Command::new("tshark")
            .args(["-r", &pcap, "-o", &format!("tls.keylog_file:{keylog}")])
            .args(["-d", &format!("tcp.port=={port},tls")])
            .args(["-d", &format!("tls.port=={port},data")])
            .args(["-Y", filter, "-T", "fields", "-e", field])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(
        !tshark("tls.handshake.type == 1", "frame.number").is_empty(),
        "no ClientHello"
    );
    assert!(!tshark("tls.record.content_type == 23", "frame.number").is_empty());
    let plain = Command::new("tshark")
        .args([
            "-r",
            &pcap,
            "-d",
            &format!("tcp.port=={port},cflow"),
            "-Y",
            "cflow",
        ])
        .output()
        .unwrap();
    assert!(plain.stdout.is_empty(), "IPFIX readable without the keys");
    // tshark decrypts (with the keys the exporter logged); the plaintext,
    // framed and decoded, holds exactly the records the collector printed.
    let stream: Vec<u8> = tshark("data.data", "data.data")
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|h| !h.is_empty())
        .flat_map(|h| {
            (0..h.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(
        stream.get(..2),
        Some(&[0u8, 10][..]),
        "not IPFIX inside TLS"
    );
    let mut framer = ipfix_flow_exporter::collect::net::Framer::default();
    framer.push(&stream);
    let mut out = Vec::new();
    let mut diag = Vec::new();
    {
        let mut process = ipfix_flow_exporter::collect::CollectingProcess::new(
            ipfix_flow_exporter::config::CollectFormat::Json,
            &mut out,
            &mut diag,
        );
        let exporter = "127.0.0.1:1".parse().unwrap();
        while let Some(bytes) = framer.next_message().unwrap() {
            let input = ipfix_flow_exporter::collect::Input::Message {
                transport: ipfix_flow_exporter::endpoint::Protocol::Tcp,
                collector: None,
                exporter,
                bytes,
            };
            process.handle(input, Instant::now()).unwrap();
        }
    }
    assert_eq!(framer.pending(), 0);
    let decrypted: Vec<Value> = collected_flows(&String::from_utf8(out).unwrap())
        .into_iter()
        .filter(|r| is_test_flow(r, 5140))
        .collect();
    assert_eq!(sorted(&decrypted), sorted(&received));
}

#[test]
fn refused_tls_sessions_are_named_counted_and_leave_others_alone() {
    common::require_root!();
    let net = NetnsPair::new();
    let pki = Pki::new();
    let (mut stranger, p1) = tls_collector(&net.a, &pki, "stranger", None);
    let (mut wronghost, p2) = tls_collector(&net.a, &pki, "wronghost", None);
    let (mut expired, p3) = tls_collector(&net.a, &pki, "expired", None);
    let (mut needs_cert, p4) = tls_collector(&net.a, &pki, "server", Some("ca"));
    let (mut plain, plain_addr) = start_collect(&net.a, "udp://127.0.0.1:0");

    let ca = pki.path("ca.pem");
    let collectors: Vec<String> = [p1, p2, p3, p4]
        .iter()
        .map(|p| format!("tls://127.0.0.1:{p}"))
        .chain([format!("udp://{plain_addr}")])
        .collect();
    let mut extra: Vec<&str> = vec!["--tls-ca", &ca, "--tcp-reconnect", "200ms"];
    extra.extend([
        "--active-timeout",
        "300ms",
        "--metrics-listen",
        "127.0.0.1:19464",
    ]);
    for c in &collectors {
        extra.extend(["--collector", c.as_str()]);
    }
    let mut exp = Exporter::start(&net.a, &net.veth_a, &extra);
    // The exporter says why each is refused...
    for why in [
        "invalid peer certificate: UnknownIssuer",
        "invalid peer certificate: certificate not valid for name",
        "invalid peer certificate: certificate expired",
        "CertificateRequired",
    ] {
        exp.wait_log(why, 1);
    }
    // ...and so does each collector, which prints no record.
    for (c, why) in [
        (&mut stranger, "received fatal alert: UnknownCA"),
        (&mut wronghost, "received fatal alert"),
        (&mut expired, "received fatal alert"),
        (&mut needs_cert, "peer sent no certificates"),
    ] {
        c.wait_stderr(why, Duration::from_secs(5));
        assert!(c
            .stderr
            .lock()
            .unwrap()
            .contains("refused, TLS handshake failed"));
    }

    // The plain collector meanwhile gets every record.
    net.resolve_neighbours();
    let (a, b) = (NetnsPair::ip(false, true), NetnsPair::ip(false, false));
    let sink = udp_sink(&net.b, sa(b, 5141));
    let sent = udp_send(&net.a, sa(a, 40141), sa(b, 5141), 25, 32, Duration::ZERO);
    assert_eq!(sink.join().unwrap(), sent);

    // Counted: the failed sessions' send errors, each collector down.
    let metrics = || {
        let out = NetnsPair::exec(&net.a, &["curl", "-s", "http://127.0.0.1:19464/metrics"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    wait_until(
        "a second refused attempt each",
        Duration::from_secs(5),
        || {
            let page = metrics();
            [p1, p2, p3, p4].iter().all(|p| {
            page.lines().any(|l| {
                l.starts_with(&format!(
                    "ipfix_exporter_collector_send_errors_total{{collector=\"tls://127.0.0.1:{p}\"}}"
                )) && l.rsplit(' ').next().and_then(|n| n.parse::<u64>().ok()) >= Some(2)
            })
        })
        },
    );
    let page = metrics();
    for p in [p1, p2, p3, p4] {
        let up = format!("ipfix_exporter_collector_up{{collector=\"tls://127.0.0.1:{p}\"}} 0");
        assert!(page.contains(&up), "{up} missing:\n{page}");
    }

    let records = exp.stop();
    let printed: Vec<Value> = records
        .into_iter()
        .filter(|r| is_test_flow(r, 5141))
        .collect();
    wait_for_records("the plain collector's records", &plain, 5141, &printed);
    plain.stop();
    for c in [&mut stranger, &mut wronghost, &mut expired, &mut needs_cert] {
        let out = c.stop();
        assert!(
            collected_flows(&out).is_empty(),
            "{}: records got through",
            c.name
        );
    }
}

/// What TCP promises holds inside TLS: records queued while the collector
/// is away arrive once it is up, templates first on each connection, a
/// restarted collector gets a new TLS session, every record exactly once.
#[test]
fn a_tls_collector_away_then_restarted_gets_every_record_once() {
    common::require_root!();
    let net = NetnsPair::new();
    let pki = Pki::new();
    let (ca, cert, key) = (
        pki.path("ca.pem"),
        pki.path("client.pem"),
        pki.path("client.key"),
    );
    let listen = "tls://127.0.0.1:4760";
    let extra = [
        "--collector",
        listen,
        "--tls-ca",
        &ca,
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
        "--active-timeout",
        "300ms",
        "--tcp-reconnect",
        "250ms",
    ];
    let exp = Exporter::start(&net.a, &net.veth_a, &extra);
    net.resolve_neighbours();
    let (a, b) = (NetnsPair::ip(false, true), NetnsPair::ip(false, false));
    let send = |port: u16, n: u64| {
        let sink = udp_sink(&net.b, sa(b, port));
        let sent = udp_send(&net.a, sa(a, 40160), sa(b, port), n, 32, Duration::ZERO);
        assert_eq!(sink.join().unwrap(), sent);
        sent
    };

    // Away at start: the records wait in the queue.
    let n1 = send(5161, 20);
    std::thread::sleep(Duration::from_millis(800));
    let (mut first, _) = tls_collector_at(&net.a, &pki, "server", Some("ca"), listen);
    wait_until("the queued records", Duration::from_secs(10), || {
        totals(&received(&first, 5161), |_| true).0 == n1
    });
    let out1 = first.stop();

    // Restarted: a new TLS session, templates again, the rest decoded.
    let (mut second, _) = tls_collector_at(&net.a, &pki, "server", Some("ca"), listen);
    let n2 = send(5162, 30);
    wait_until(
        "the second collector's records",
        Duration::from_secs(10),
        || totals(&received(&second, 5162), |_| true).0 == n2,
    );
    let log = exp.stderr.lock().unwrap().clone();
    let records = exp.stop();
    std::thread::sleep(Duration::from_millis(300));
    let out2 = second.stop();

    for (name, c) in [("first", &first), ("second", &second)] {
        let err = c.stderr.lock().unwrap().clone();
        assert!(
            !err.contains("unknown template"),
            "{name}: templates first: {err}"
        );
        assert!(!err.contains("refused"), "{name}: {err}");
    }
    let printed: Vec<Value> = records
        .into_iter()
        .filter(|r| is_test_flow(r, 5161) || is_test_flow(r, 5162))
        .collect();
    let got: Vec<Value> = collected_flows(&out1)
        .into_iter()
        .chain(collected_flows(&out2))
        .filter(|r| is_test_flow(r, 5161) || is_test_flow(r, 5162))
        .collect();
    assert_eq!(sorted(&got), sorted(&printed), "every record, once");
    assert_eq!(totals(&printed, |_| true).0, n1 + n2);
    assert_eq!(log.matches("unreachable").count(), 2, "{log}");
    assert_eq!(log.matches("is back after").count(), 2, "{log}");
}
