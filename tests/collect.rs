//! `collect` end to end, without root: the real binary listening on
//! loopback UDP and TCP, fed messages built by our encoder, its JSON lines
//! compared with the records sent, field by field. Every wait is bounded.

// A failed unwrap fails the test, naming its line: the house rule against
// unwrap (Cargo.toml [lints]) is for the shipped code.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use ipfix_flow_exporter::flow::{Direction, FlowEndReason, FlowRecord};
use ipfix_flow_exporter::ipfix::ie::{self, AbstractType, FieldLength, InfoElement};
use ipfix_flow_exporter::ipfix::{Message, MessageBuilder, Mtu, Session, TypedTemplate, Value};
use ipfix_flow_exporter::output::json::record_json;
use ipfix_flow_exporter::schema::{ExportStatistics, FlowMessages, FlowTemplate};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::{json, Value as Json};

const BIN: &str = env!("CARGO_BIN_EXE_ipfix-flow-exporter");
/// Longest wait for anything the collector should print.
const WAIT: Duration = Duration::from_secs(5);
/// How long a stop may take (the contract is about 1 s).
const STOP_DEADLINE: Duration = Duration::from_secs(2);
const EXPORT_TIME: u32 = 1_700_000_100;
const SYSTEM_INIT_MS: u64 = 1_699_999_000_000;

/// The collector process; killed on drop if still running.
struct Collector {
    child: Child,
    out: Receiver<String>,
    err: Receiver<String>,
    /// Every stderr line read so far.
    stderr: Vec<String>,
    udp: SocketAddr,
    tcp: SocketAddr,
}

fn lines_of(r: impl Read + Send + 'static, echo: bool) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(r).lines().map_while(Result::ok) {
            if echo {
                eprintln!("[collect] {line}");
            }
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

impl Collector {
    fn start(format: &str) -> Collector {
        // Port 0: the kernel picks, the collector says which.
        let mut child = Command::new(BIN)
            .args(["collect", "--format", format])
            .args([
                "--listen",
                "udp://127.0.0.1:0",
                "--listen",
                "tcp://127.0.0.1:0",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting the collector");
        let out = lines_of(child.stdout.take().unwrap(), false);
        let err = lines_of(child.stderr.take().unwrap(), true);
        let mut c = Collector {
            child,
            out,
            err,
            stderr: Vec::new(),
            udp: SocketAddr::from(([0, 0, 0, 0], 0)),
            tcp: SocketAddr::from(([0, 0, 0, 0], 0)),
        };
        for _ in 0..2 {
            let line = c
                .next_stderr(Instant::now() + WAIT)
                .expect("the collector reports where it listens");
            let url = line
                .strip_prefix("listening on ")
                .unwrap_or_else(|| panic!("unexpected startup line {line:?}"));
            let (scheme, addr) = url.split_once("://").unwrap();
            let addr: SocketAddr = addr.parse().unwrap();
            assert_ne!(addr.port(), 0);
            match scheme {
                "udp" => c.udp = addr,
                "tcp" => c.tcp = addr,
                other => panic!("unexpected scheme {other}"),
            }
        }
        c
    }

    /// The next stderr line before `deadline`, or `None` (timeout or exit).
    fn next_stderr(&mut self, deadline: Instant) -> Option<String> {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = self.err.recv_timeout(left).ok()?;
        self.stderr.push(line.clone());
        Some(line)
    }

    /// Reads stderr until a line contains `needle`; returns that line.
    fn wait_stderr(&mut self, needle: &str) -> String {
        if let Some(l) = self.stderr.iter().find(|l| l.contains(needle)) {
            return l.clone();
        }
        let deadline = Instant::now() + WAIT;
        while let Some(line) = self.next_stderr(deadline) {
            if line.contains(needle) {
                return line;
            }
        }
        panic!(
            "no stderr line with {needle:?} in {WAIT:?}; got {:#?}",
            self.stderr
        );
    }

    fn stderr_count(&self, needle: &str) -> usize {
        self.stderr.iter().filter(|l| l.contains(needle)).count()
    }

    fn lines(&self, n: usize) -> Vec<String> {
        let deadline = Instant::now() + WAIT;
        (0..n)
            .map(|i| {
                let left = deadline.saturating_duration_since(Instant::now());
                self.out
                    .recv_timeout(left)
                    .unwrap_or_else(|e| panic!("stdout line {} of {n}: {e:?}", i + 1))
            })
            .collect()
    }

    fn json(&self, n: usize) -> Vec<Json> {
        self.lines(n)
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("non-JSON line {l:?}: {e}")))
            .collect()
    }

    /// Sends a datagram that cannot decode and waits for its report: after
    /// that, every stderr line of earlier messages has been read.
    fn udp_barrier(&mut self, sock: &UdpSocket) {
        sock.send_to(b"barrier", self.udp).unwrap();
        let me = sock.local_addr().unwrap();
        self.wait_stderr(&format!("udp {me}: message dropped"));
    }

    fn signal(&self, sig: Signal) {
        let pid = Pid::from_raw(i32::try_from(self.child.id()).unwrap());
        kill(pid, sig).unwrap();
    }

    /// Waits for the exit, at most `deadline`.
    fn wait_exit(&mut self, deadline: Duration) -> Option<ExitStatus> {
        let end = Instant::now() + deadline;
        while Instant::now() < end {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            thread::sleep(Duration::from_millis(10));
        }
        None
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

fn udp_exporter(c: &Collector) -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.connect(c.udp).unwrap();
    s
}

/// Exactly one message with what `fill` adds: a jumbo MTU (loopback takes
/// it) leaves room for every template and record at once.
fn one_message(session: &mut Session, fill: impl FnOnce(&mut MessageBuilder<'_>)) -> Message {
    let mut b = session.builder(EXPORT_TIME, Mtu::new(9000).unwrap());
    fill(&mut b);
    let mut messages = b.finish().unwrap();
    assert_eq!(messages.len(), 1, "expected one message");
    messages.remove(0)
}

/// IPv4 and IPv6, ingress and egress, ICMP and not.
fn flows() -> Vec<FlowRecord> {
    let base = FlowRecord {
        src_addr: "192.0.2.1".parse().unwrap(),
        dst_addr: "198.51.100.2".parse().unwrap(),
        src_port: 40_001,
        dst_port: 443,
        protocol: 6,
        icmp_type: 0,
        icmp_code: 0,
        direction: Direction::Ingress,
        vlan_id: 100,
        inner_vlan_id: 4094,
        src_mac: [0x02, 0, 0, 0, 0, 0x01],
        dst_mac: [0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54],
        ingress_ifindex: 2,
        egress_ifindex: 0,
        packets: 1 << 40,
        octets: (1 << 50) + 7,
        tcp_flags: 0x1b,
        ttl_min: 61,
        ttl_max: 64,
        tos: 0x10,
        start_ms: 1_700_000_000_123,
        end_ms: 1_700_000_004_567,
        end_reason: FlowEndReason::EndOfFlow,
        flow_id: 1,
    };
    vec![
        base.clone(),
        FlowRecord {
            dst_addr: "203.0.113.5".parse().unwrap(),
            src_port: 0,
            dst_port: 0,
            protocol: 1,
            icmp_type: 8,
            icmp_code: 0,
            direction: Direction::Egress,
            vlan_id: 0,
            inner_vlan_id: 0,
            src_mac: [0; 6],
            dst_mac: [0; 6],
            ingress_ifindex: 0,
            egress_ifindex: 3,
            packets: 4,
            octets: 336,
            tcp_flags: 0,
            end_reason: FlowEndReason::ActiveTimeout,
            flow_id: 2,
            ..base.clone()
        },
        FlowRecord {
            src_addr: "2001:db8::1".parse().unwrap(),
            dst_addr: "2001:db8::2".parse().unwrap(),
            src_port: 5353,
            dst_port: 53,
            protocol: 17,
            direction: Direction::Egress,
            vlan_id: 0,
            inner_vlan_id: 0,
            src_mac: [0; 6],
            dst_mac: [0; 6],
            ingress_ifindex: 0,
            egress_ifindex: 3,
            packets: 2,
            octets: 150,
            tcp_flags: 0,
            tos: 0xb8,
            end_reason: FlowEndReason::IdleTimeout,
            flow_id: 3,
            ..base.clone()
        },
        FlowRecord {
            src_addr: "2001:db8::2".parse().unwrap(),
            dst_addr: "2001:db8::1".parse().unwrap(),
            src_port: 0,
            dst_port: 0,
            protocol: 58,
            icmp_type: 129,
            icmp_code: 0,
            packets: 1,
            octets: 104,
            tcp_flags: 0,
            end_reason: FlowEndReason::ForcedEnd,
            flow_id: 4,
            ..base
        },
    ]
}

/// What `collect --format json` prints for `flow`.
fn flow_json(flow: &FlowRecord, exporter: SocketAddr, domain: u32, sequence_number: u32) -> Json {
    let mut v = record_json(flow);
    let obj = v.as_object_mut().unwrap();
    obj.insert("exporter".into(), json!(exporter.to_string()));
    obj.insert("observation_domain_id".into(), json!(domain));
    obj.insert(
        "template_id".into(),
        json!(FlowTemplate::of(flow, true).unwrap().id()),
    );
    obj.insert("sequence_number".into(), json!(sequence_number));
    obj.insert("export_time".into(), json!(EXPORT_TIME));
    v
}

/// Field by field, naming the first that differs.
fn assert_same(actual: &Json, expected: &Json) {
    let (a, e) = (actual.as_object().unwrap(), expected.as_object().unwrap());
    for (key, want) in e {
        assert_eq!(a.get(key), Some(want), "field {key:?} of {actual}");
    }
    let extra: Vec<&String> = a.keys().filter(|k| !e.contains_key(*k)).collect();
    assert!(extra.is_empty(), "unexpected fields {extra:?} in {actual}");
}

/// Finds the printed flow with `flow.flow_id` and compares it.
fn assert_flow_printed(printed: &[Json], expected: Json) {
    let id = &expected["flow_id"];
    let found: Vec<&Json> = printed.iter().filter(|v| &v["flow_id"] == id).collect();
    assert_eq!(found.len(), 1, "flow {id} printed {} times", found.len());
    assert_same(found[0], &expected);
}

fn statistics() -> ExportStatistics {
    ExportStatistics {
        exporting_process_id: 4242,
        exported_message_total: 11,
        exported_flow_record_total: 22,
        exported_octet_total: 33_333,
        ignored_packet_total: 4,
        ignored_octet_total: 500,
        not_sent_flow_total: 6,
    }
}

#[test]
fn udp_flow_and_options_records_match_what_was_sent() {
    let mut c = Collector::start("json");
    let sock = udp_exporter(&c);
    let me = sock.local_addr().unwrap();
    let mut session = Session::new(7);
    let m = one_message(&mut session, |b| {
        b.add_flow_templates(true).unwrap();
        b.add_system_init_time(SYSTEM_INIT_MS).unwrap();
        b.add_flow_records(&flows(), Some(SYSTEM_INIT_MS)).unwrap();
        b.add_statistics(&statistics()).unwrap();
    });
    sock.send(&m.bytes).unwrap();
    let printed = c.json(7);
    for f in flows() {
        assert_flow_printed(&printed, flow_json(&f, me, 7, m.sequence_number));
    }
    let options: Vec<&Json> = printed.iter().filter(|v| v["options"] == true).collect();
    assert_eq!(
        options,
        [
            &json!({
                "exporter": me.to_string(),
                "observation_domain_id": 7,
                "template_id": 264,
                "options": true,
                "fields": {
                    "observationDomainId": 7,
                    // SYSTEM_INIT_MS, dateTimeMilliseconds in UTC
                    "systemInitTimeMilliseconds": "2023-11-14T21:56:40.000Z",
                },
            }),
            &json!({
                "exporter": me.to_string(),
                "observation_domain_id": 7,
                "template_id": 266,
                "options": true,
                "fields": {
                    "observationDomainId": 7,
                    "exportedMessageTotalCount": 11,
                    "exportedFlowRecordTotalCount": 22,
                    "exportedOctetTotalCount": 33_333,
                    "ignoredPacketTotalCount": 4,
                    "ignoredOctetTotalCount": 500,
                },
            }),
            &json!({
                "exporter": me.to_string(),
                "observation_domain_id": 7,
                "template_id": 267,
                "options": true,
                "fields": {
                    "exportingProcessId": 4242,
                    "notSentFlowTotalCount": 6,
                },
            }),
        ]
    );
    // Nothing went wrong.
    c.udp_barrier(&sock);
    assert_eq!(c.stderr.len(), 3, "{:#?}", c.stderr);
}

#[test]
fn tcp_stream_is_framed_across_writes() {
    let mut c = Collector::start("json");
    let mut stream = TcpStream::connect(c.tcp).unwrap();
    stream.set_nodelay(true).unwrap();
    let me = stream.local_addr().unwrap();
    let all = flows();
    let mut session = Session::new(9);
    let m1 = one_message(&mut session, |b| {
        b.add_flow_templates(true).unwrap();
        b.add_flow_records(&all[..2], Some(SYSTEM_INIT_MS)).unwrap();
    });
    let m2 = one_message(&mut session, |b| {
        b.add_flow_records(&all[2..], Some(SYSTEM_INIT_MS)).unwrap();
    });
    let m3 = one_message(&mut session, |b| {
        b.add_flow_records(&all[..1], Some(SYSTEM_INIT_MS)).unwrap();
        b.add_statistics(&statistics()).unwrap();
    });
    // Two messages in one write.
    stream
        .write_all(&[m1.bytes.clone(), m2.bytes.clone()].concat())
        .unwrap();
    let printed = c.json(4);
    for f in &all[..2] {
        assert_flow_printed(&printed, flow_json(f, me, 9, m1.sequence_number));
    }
    for f in &all[2..] {
        assert_flow_printed(&printed, flow_json(f, me, 9, m2.sequence_number));
    }
    // One message in three writes, the first shorter than a header.
    let (a, rest) = m3.bytes.split_at(7);
    let (b, rest) = rest.split_at(30);
    for part in [a, b, rest] {
        stream.write_all(part).unwrap();
        thread::sleep(Duration::from_millis(30));
    }
    let printed = c.json(3);
    assert_same(&printed[0], &flow_json(&all[0], me, 9, m3.sequence_number));
    assert_eq!(m3.sequence_number, 4);
    assert_eq!(printed[1]["template_id"], 266);
    assert_eq!(printed[2]["template_id"], 267);
    assert_eq!(printed[2]["fields"]["notSentFlowTotalCount"], 6);
    c.wait_stderr(&format!("tcp {me}: connected"));
    drop(stream);
    c.wait_stderr(&format!("tcp {me}: connection closed"));
    assert_eq!(c.stderr_count("closing connection"), 0, "{:#?}", c.stderr);
}

#[test]
fn data_before_templates_is_reported_then_decoded() {
    let mut c = Collector::start("json");
    let sock = udp_exporter(&c);
    let me = sock.local_addr().unwrap();
    let all = flows();
    let mut session = Session::new(1);
    // Data only (template 278 unknown), sent twice.
    let early = one_message(&mut session, |b| {
        b.add_flow_records(&all[..1], Some(SYSTEM_INIT_MS)).unwrap();
    });
    sock.send(&early.bytes).unwrap();
    sock.send(&early.bytes).unwrap();
    c.wait_stderr(&format!(
        "udp {me} domain 1: data set of unknown template 278 skipped"
    ));
    // The templates arrive, with another record.
    let later = one_message(&mut session, |b| {
        b.add_flow_templates(true).unwrap();
        b.add_flow_records(&all[1..2], Some(SYSTEM_INIT_MS))
            .unwrap();
    });
    sock.send(&later.bytes).unwrap();
    // The first line printed is the later message's: the early ones were
    // skipped, not printed.
    assert_same(
        &c.json(1)[0],
        &flow_json(&all[1], me, 1, later.sequence_number),
    );
    // The early message again: now decoded (its sequence number goes back,
    // which is reported).
    sock.send(&early.bytes).unwrap();
    assert_same(
        &c.json(1)[0],
        &flow_json(&all[0], me, 1, early.sequence_number),
    );
    c.wait_stderr(&format!(
        "udp {me} domain 1: 2 data records duplicated or reordered (sequence number 0, expected 2)"
    ));
    c.udp_barrier(&sock);
    assert_eq!(c.stderr_count("unknown template 278"), 1, "{:#?}", c.stderr);
    // The skip explains the jump from 0 to 1: no loss warning.
    assert_eq!(c.stderr_count("lost"), 0, "{:#?}", c.stderr);
}

#[test]
fn lost_records_are_reported() {
    let mut c = Collector::start("json");
    let sock = udp_exporter(&c);
    let me = sock.local_addr().unwrap();
    let all = flows();
    let mut session = Session::new(3);
    let first = one_message(&mut session, |b| {
        b.add_flow_templates(true).unwrap();
        b.add_flow_records(&all[..2], Some(SYSTEM_INIT_MS)).unwrap();
    });
    let _lost = one_message(&mut session, |b| {
        b.add_flow_records(&all[2..], Some(SYSTEM_INIT_MS)).unwrap();
    });
    let third = one_message(&mut session, |b| {
        b.add_flow_records(&all[..1], Some(SYSTEM_INIT_MS)).unwrap();
    });
    sock.send(&first.bytes).unwrap();
    sock.send(&third.bytes).unwrap();
    assert_eq!(c.json(3).len(), 3);
    c.wait_stderr(&format!(
        "udp {me} domain 3: 2 data records lost (sequence number 4, expected 2)"
    ));
}

#[test]
fn garbage_is_reported_and_the_collector_keeps_working() {
    let mut c = Collector::start("json");
    let all = flows();
    let mut session = Session::new(5);
    let good = one_message(&mut session, |b| {
        b.add_flow_templates(true).unwrap();
        b.add_flow_records(&all, Some(SYSTEM_INIT_MS)).unwrap();
    });

    // UDP: truncated, wrong version, a length longer than the datagram.
    let sock = udp_exporter(&c);
    let me = sock.local_addr().unwrap();
    sock.send(&good.bytes[..10]).unwrap();
    let mut v9 = good.bytes.clone();
    v9[1] = 9;
    sock.send(&v9).unwrap();
    sock.send(&good.bytes[..100]).unwrap();
    c.wait_stderr(&format!(
        "udp {me}: message dropped: message header truncated: needs 16 octets, 10 available"
    ));
    c.wait_stderr(&format!(
        "udp {me}: message dropped: IPFIX version number 9, expected 10"
    ));
    c.wait_stderr(&format!("udp {me}: message dropped: message length"));
    sock.send(&good.bytes).unwrap();
    assert_eq!(c.json(4).len(), 4);

    // TCP: one connection talks HTTP and is closed; another one, opened
    // before, is unaffected.
    let mut ok = TcpStream::connect(c.tcp).unwrap();
    let ok_addr = ok.local_addr().unwrap();
    c.wait_stderr(&format!("tcp {ok_addr}: connected"));
    let mut bad = TcpStream::connect(c.tcp).unwrap();
    let bad_addr = bad.local_addr().unwrap();
    bad.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    c.wait_stderr(&format!(
        "tcp {bad_addr}: closing connection: not an IPFIX stream: IPFIX version number 18245, expected 10"
    ));
    bad.set_read_timeout(Some(WAIT)).unwrap();
    let mut buf = [0u8; 16];
    // Closed by the collector: end of stream (or a reset), not a timeout.
    match bad.read(&mut buf) {
        Ok(n) => assert_eq!(n, 0),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
    }
    ok.write_all(&good.bytes).unwrap();
    let printed = c.json(4);
    for f in &all {
        assert_flow_printed(&printed, flow_json(f, ok_addr, 5, good.sequence_number));
    }
}

#[test]
fn custom_templates_print_their_fields() {
    let c = Collector::start("json");
    let sock = udp_exporter(&c);
    let me = sock.local_addr().unwrap();
    let label = InfoElement::enterprise(32473, 1, "label", AbstractType::String).unwrap();
    let blob = InfoElement::enterprise(32473, 2, "blob", AbstractType::OctetArray).unwrap();
    let custom = TypedTemplate::new(
        300,
        vec![
            (ie::SOURCE_IPV4_ADDRESS, FieldLength::Fixed(4)),
            (ie::PACKET_DELTA_COUNT, FieldLength::Fixed(2)), // reduced size
            (label, FieldLength::Variable),
            (blob, FieldLength::Variable),
        ],
    )
    .unwrap();
    let mut session = Session::new(2);
    let m = one_message(&mut session, |b| {
        b.add_template(custom.template()).unwrap();
        let records = [
            ("eth0", vec![0xab; 300]), // 300 octets: the 3-octet length prefix
            ("", vec![]),              // empty values are records too
        ];
        for (text, bytes) in records {
            let values = [
                Value::Ipv4("198.51.100.7".parse().unwrap()),
                Value::Unsigned(513),
                Value::String(text.into()),
                Value::Bytes(bytes),
            ];
            b.add_custom_record(&custom, &values).unwrap();
        }
    });
    sock.send(&m.bytes).unwrap();
    let printed = c.json(2);
    let record = |label: &str, blob: String| {
        json!({
            "exporter": me.to_string(),
            "observation_domain_id": 2,
            "template_id": 300,
            "options": false,
            "fields": {
                "sourceIPv4Address": "198.51.100.7",
                "packetDeltaCount": 513,
                "32473/1": label,
                "32473/2": blob,
            },
        })
    };
    assert_eq!(printed[0], record("65746830", "ab".repeat(300)));
    assert_eq!(printed[1], record("", String::new()));
}

#[test]
fn two_exporters_with_different_layouts_of_one_template_id() {
    let c = Collector::start("json");
    let (a, b) = (udp_exporter(&c), udp_exporter(&c));
    let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    let all = flows();
    // A: our IPv4 ingress flow template. B: its own, with the same ID.
    let mut a_session = Session::new(1);
    let shared_id = FlowTemplate::of(&all[0], true).unwrap().id();
    let theirs = TypedTemplate::new(
        shared_id,
        vec![
            (ie::SOURCE_IPV4_ADDRESS, FieldLength::Fixed(4)),
            (ie::OCTET_DELTA_COUNT, FieldLength::Fixed(8)),
        ],
    )
    .unwrap();
    let mut b_session = Session::new(1);
    let b_record = |session: &mut Session, octets: u64, with_template: bool| {
        one_message(session, |m| {
            if with_template {
                m.add_template(theirs.template()).unwrap();
            }
            let values = [
                Value::Ipv4("203.0.113.9".parse().unwrap()),
                Value::Unsigned(octets),
            ];
            m.add_custom_record(&theirs, &values).unwrap();
        })
    };
    let a1 = one_message(&mut a_session, |m| {
        m.add_flow_templates(true).unwrap();
        m.add_flow_records(&all[..1], Some(SYSTEM_INIT_MS)).unwrap();
    });
    let b1 = b_record(&mut b_session, 1000, true);
    let a2 = one_message(&mut a_session, |m| {
        m.add_flow_records(&all[..1], Some(SYSTEM_INIT_MS)).unwrap();
    });
    let b2 = b_record(&mut b_session, 2000, false);
    // One at a time, so the output order is the sending order.
    let expected_b = |octets: u64| {
        json!({
            "exporter": b_addr.to_string(),
            "observation_domain_id": 1,
            "template_id": shared_id,
            "options": false,
            "fields": {"sourceIPv4Address": "203.0.113.9", "octetDeltaCount": octets},
        })
    };
    a.send(&a1.bytes).unwrap();
    assert_same(
        &c.json(1)[0],
        &flow_json(&all[0], a_addr, 1, a1.sequence_number),
    );
    b.send(&b1.bytes).unwrap();
    assert_eq!(c.json(1)[0], expected_b(1000));
    a.send(&a2.bytes).unwrap();
    assert_same(
        &c.json(1)[0],
        &flow_json(&all[0], a_addr, 1, a2.sequence_number),
    );
    b.send(&b2.bytes).unwrap();
    assert_eq!(c.json(1)[0], expected_b(2000));
}

#[test]
fn table_format_prints_rows_and_options_lines() {
    let c = Collector::start("table");
    let sock = udp_exporter(&c);
    let me = sock.local_addr().unwrap();
    let mut session = Session::new(4);
    let m = one_message(&mut session, |b| {
        b.add_flow_templates(true).unwrap();
        b.add_flow_records(&flows()[..2], Some(SYSTEM_INIT_MS))
            .unwrap();
        b.add_statistics(&statistics()).unwrap();
    });
    sock.send(&m.bytes).unwrap();
    let lines = c.lines(5);
    // One header: the first row's wide counters set the widths.
    assert!(lines[0].starts_with("exporter "), "{lines:#?}");
    assert!(lines[0].contains("packets"), "{lines:#?}");
    let tcp = lines
        .iter()
        .find(|l| l.contains("192.0.2.1:40001"))
        .unwrap();
    assert!(tcp.contains(&me.to_string()), "{tcp}");
    assert!(tcp.contains("ingress  tcp"), "{tcp}");
    assert!(tcp.contains("198.51.100.2:443"), "{tcp}");
    assert!(tcp.contains("....AP.SF"), "{tcp}");
    assert!(tcp.contains("2023-11-14T22:13:20.123Z"), "{tcp}");
    assert!(tcp.ends_with("end of flow"), "{tcp}");
    let icmp = lines
        .iter()
        .find(|l| l.contains("203.0.113.5 8/0"))
        .unwrap();
    assert!(icmp.contains("egress   icmp"), "{icmp}");
    assert_eq!(
        lines[3],
        format!(
            "options 266 from {me} domain 4: observationDomainId=4 exportedMessageTotalCount=11 \
             exportedFlowRecordTotalCount=22 exportedOctetTotalCount=33333 \
             ignoredPacketTotalCount=4 ignoredOctetTotalCount=500"
        )
    );
    assert_eq!(
        lines[4],
        format!("options 267 from {me} domain 4: exportingProcessId=4242 notSentFlowTotalCount=6")
    );
}

#[test]
fn sigterm_and_sigint_exit_zero_promptly() {
    for sig in [Signal::SIGTERM, Signal::SIGINT] {
        let mut c = Collector::start("json");
        // Busy: a TCP exporter connected and idle, a UDP one that sent.
        let _tcp = TcpStream::connect(c.tcp).unwrap();
        let sock = udp_exporter(&c);
        let mut session = Session::new(1);
        let m = one_message(&mut session, |b| {
            b.add_flow_templates(true).unwrap();
            b.add_flow_records(&flows(), Some(SYSTEM_INIT_MS)).unwrap();
        });
        sock.send(&m.bytes).unwrap();
        assert_eq!(c.json(4).len(), 4);
        c.wait_stderr("connected");
        c.signal(sig);
        let status = c.wait_exit(STOP_DEADLINE);
        assert!(
            status.is_some_and(|s| s.success()),
            "{sig}: {status:?} within {STOP_DEADLINE:?}"
        );
    }
}

#[test]
fn a_listener_that_cannot_bind_is_a_one_line_error() {
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let mut child = Command::new(BIN)
        .args(["collect", "--listen"])
        .arg(format!("udp://127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (out, err) = (
        lines_of(child.stdout.take().unwrap(), false),
        lines_of(child.stderr.take().unwrap(), false),
    );
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the collector did not exit although its port is taken");
        }
        thread::sleep(Duration::from_millis(10));
    };
    assert!(!status.success());
    let stderr: Vec<String> = err.iter().collect(); // ends: the process exited
    assert_eq!(stderr.len(), 1, "{stderr:#?}");
    assert!(
        stderr[0].starts_with(&format!("error: listening on udp://127.0.0.1:{port}: ")),
        "{stderr:#?}"
    );
    assert_eq!(out.recv_timeout(WAIT), Err(RecvTimeoutError::Disconnected));
}
