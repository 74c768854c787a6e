//! The Collecting Process (RFC 7011 §2): every received message is decoded
//! here, in one place, whichever listener it came from; records go to the
//! output, problems to the diagnostics stream, one line each, and nothing
//! stops the collector except a failing output.
//!
//! Two [`Decoder`]s, one per transport, both owned here: RFC 7011 §8.1
//! forbids template withdrawals over UDP (the UDP decoder reports and ignores
//! them, the TCP one applies them), and a UDP and a TCP exporter on the same
//! address and port are different transport sessions. Within a transport
//! the decoder keys templates by (exporter address and port, observation
//! domain).
//!
//! Template lifetime: a closed TCP connection forgets its exporter's
//! templates (§8); a UDP exporter silent for [`UDP_EXPORTER_IDLE`] is
//! forgotten too (§8.4 asks for a template lifetime over UDP), which also
//! keeps exporters that restart on new source ports from filling the
//! decoder's bounded domain table.

use std::collections::{HashMap, HashSet};
use std::io::{self, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::json::{flow_json, record_fields_json};
use super::table::{record_line, Table};
use crate::config::CollectFormat;
use crate::endpoint::Protocol;
use crate::ipfix::header::MessageHeader;
use crate::ipfix::{DataRecord, DecodedMessage, Decoder, DecoderConfig, DomainKey, Event};
use crate::schema::ToFlowRecord;

/// A UDP exporter that sent nothing for this long has its templates and
/// sequence state forgotten.
pub const UDP_EXPORTER_IDLE: Duration = Duration::from_secs(30 * 60);
/// How often idle UDP exporters are looked for.
const EXPIRY_CHECK: Duration = Duration::from_secs(60);

/// What the network threads hand the collecting process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// One IPFIX message: a UDP datagram, or a message framed out of a TCP
    /// stream.
    Message {
        transport: Protocol,
        /// The listening socket's address: UDP templates are kept per
        /// collector socket and exporter (RFC 7011 §8.4).
        collector: Option<SocketAddr>,
        exporter: SocketAddr,
        bytes: Vec<u8>,
    },
    /// A TCP exporter connected.
    Connected { exporter: SocketAddr },
    /// A TCP connection ended; `error` says why when it was not a clean
    /// close (garbage in the stream, a read error).
    Closed {
        exporter: SocketAddr,
        error: Option<String>,
    },
    /// A line for the diagnostics stream (e.g. a listener's socket error).
    Notice(String),
}

enum Output {
    Json,
    Table(Table),
    /// `--format top`: the data records, for [`CollectingProcess::take_records`].
    Records(Vec<(DomainKey, DataRecord)>),
}

/// One UDP listening socket's templates, and when each exporter that has
/// templates there last sent a message that decoded.
struct UdpSocketState {
    decoder: Decoder,
    last_seen: HashMap<SocketAddr, Instant>,
}

impl UdpSocketState {
    fn new() -> Self {
        UdpSocketState {
            decoder: Decoder::new(DecoderConfig {
                honour_withdrawals: false,
                ..DecoderConfig::default()
            }),
            last_seen: HashMap::new(),
        }
    }

    /// Notes that a message of domain `key` decoded. Only exporters the
    /// decoder holds templates of are remembered (their templates are what
    /// [`CollectingProcess::expire`] forgets), so a sender forging source
    /// addresses creates no entry with messages that teach nothing, and
    /// the entries never outnumber the cache's domains by more than those
    /// it evicted since the last prune.
    fn seen(&mut self, key: DomainKey, now: Instant) {
        let cache = self.decoder.templates();
        if cache.template_count(key) == 0 && !self.last_seen.contains_key(&key.exporter) {
            return;
        }
        self.last_seen.insert(key.exporter, now);
        if self.last_seen.len() > cache.limits().max_domains {
            let live = cache.exporters();
            self.last_seen.retain(|a, _| live.contains(a));
        }
    }

    /// Forgets the exporters silent for [`UDP_EXPORTER_IDLE`]; returns them.
    fn expire(&mut self, now: Instant) -> Vec<SocketAddr> {
        let idle: Vec<SocketAddr> = self
            .last_seen
            .iter()
            .filter(|(_, &seen)| now.saturating_duration_since(seen) >= UDP_EXPORTER_IDLE)
            .map(|(&a, _)| a)
            .collect();
        for exporter in &idle {
            self.last_seen.remove(exporter);
            self.decoder.forget_exporter(*exporter);
        }
        idle
    }
}

/// The decoders, the printing, and what is remembered for reporting.
pub struct CollectingProcess<W: Write, E: Write> {
    /// Per UDP listening socket (RFC 7011 §8.4: a UDP template belongs to
    /// the exporter and the collector's address and port); as many as
    /// there are listeners.
    udp: HashMap<Option<SocketAddr>, UdpSocketState>,
    tcp: Decoder,
    output: Output,
    out: W,
    diag: E,
    /// Unknown templates already reported, until they become known.
    unknown_reported: HashSet<(Protocol, DomainKey, u16)>,
    /// Domains whose last message had data sets of unknown templates.
    skipped_last: HashSet<(Protocol, DomainKey)>,
    /// TCP templates redefined without a withdrawal, or withdrawn unknown,
    /// already reported (once each per connection).
    tcp_misuse_reported: HashSet<(DomainKey, u16)>,
    last_expiry_check: Option<Instant>,
    /// The report memory above filled up once (said once).
    unknown_overflow_noted: bool,
    /// Lines about dropped (malformed) messages in the current window.
    drops: DropLog,
    /// Lines about what single messages said (sequence numbers, trailing
    /// octets, withdrawals ignored over UDP, reserved sets): one message
    /// can cause one, so a sender at line rate is held to
    /// [`NOTE_LINES`] per window too.
    notes: DropLog,
}

/// At most [`DROP_LINES`] lines about dropped messages per [`DROP_WINDOW`]:
/// a sender of garbage at line rate cannot flood stderr. What is not shown
/// is counted and said once the window is over.
#[derive(Debug)]
struct DropLog {
    limit: u32,
    window_start: Option<Instant>,
    shown: u32,
    hidden: u64,
}

impl DropLog {
    fn new(limit: u32) -> Self {
        DropLog {
            limit,
            window_start: None,
            shown: 0,
            hidden: 0,
        }
    }
}

const DROP_LINES: u32 = 10;
const NOTE_LINES: u32 = 100;
const DROP_WINDOW: Duration = Duration::from_secs(10);

impl DropLog {
    /// Whether to show a drop at `now`; the count hidden in the window that
    /// just ended, if any, when one ended.
    fn drop_at(&mut self, now: Instant) -> (bool, Option<u64>) {
        let ended = self.roll(now);
        let show = self.shown < self.limit;
        if show {
            self.shown += 1;
        } else {
            self.hidden += 1;
        }
        (show, ended)
    }

    /// Starts a new window when the current one is over; returns the drops
    /// it hid, when there were any.
    fn roll(&mut self, now: Instant) -> Option<u64> {
        let over = self
            .window_start
            .is_none_or(|start| now.saturating_duration_since(start) >= DROP_WINDOW);
        if !over {
            return None;
        }
        self.window_start = Some(now);
        self.shown = 0;
        let hidden = std::mem::take(&mut self.hidden);
        (hidden > 0).then_some(hidden)
    }
}

/// Entries each report memory keeps at most: a hostile sender cannot grow
/// it (or the stderr it causes) without bound.
pub const REPORT_MEMORY: usize = 4096;

/// How much a [`CollectingProcess`] remembers: what the stateful fuzz
/// target and the tests hold against the limits, whatever the input.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bookkeeping {
    /// UDP listening sockets messages came in on.
    pub udp_sockets: usize,
    /// Per UDP socket, the most exporters remembered as last seen, and
    /// the most domains and template field specifiers its decoder holds.
    pub udp_exporters_max: usize,
    pub udp_domains_max: usize,
    pub udp_fields_max: usize,
    /// The TCP decoder's domains and field specifiers.
    pub tcp_domains: usize,
    pub tcp_fields: usize,
    /// Entries of the three report memories, the largest.
    pub reports_max: usize,
}

fn transport_name(t: Protocol) -> &'static str {
    match t {
        Protocol::Udp => "udp",
        Protocol::Tcp => "tcp",
        Protocol::Tls => "tls",
    }
}

impl<W: Write, E: Write> CollectingProcess<W, E> {
    /// Records go to `out`, flushed after each message; problems to `diag`.
    pub fn new(format: CollectFormat, out: W, diag: E) -> Self {
        CollectingProcess {
            udp: HashMap::new(),
            tcp: Decoder::default(),
            output: match format {
                CollectFormat::Json => Output::Json,
                CollectFormat::Table => Output::Table(Table::default()),
                CollectFormat::Top => Output::Records(Vec::new()),
            },
            out,
            diag,
            unknown_reported: HashSet::new(),
            skipped_last: HashSet::new(),
            tcp_misuse_reported: HashSet::new(),
            last_expiry_check: None,
            drops: DropLog::new(DROP_LINES),
            notes: DropLog::new(NOTE_LINES),
            unknown_overflow_noted: false,
        }
    }

    /// Handles one input. Only a failure to write the records is an error;
    /// diagnostics that cannot be written are dropped.
    pub fn handle(&mut self, input: Input, now: Instant) -> io::Result<()> {
        match input {
            Input::Message {
                transport,
                collector,
                exporter,
                bytes,
            } => {
                let decoded = self.message(transport, collector, exporter, &bytes, now)?;
                if let (Protocol::Udp, Some(key)) = (transport, decoded) {
                    if let Some(socket) = self.udp.get_mut(&collector) {
                        socket.seen(key, now);
                    }
                }
            }
            Input::Connected { exporter } => self.note(format_args!("tcp {exporter}: connected")),
            Input::Closed { exporter, error } => {
                self.tcp.forget_exporter(exporter);
                self.forget(Protocol::Tcp, exporter);
                match error {
                    None => self.note(format_args!("tcp {exporter}: connection closed")),
                    Some(e) => self.note(format_args!("tcp {exporter}: closing connection: {e}")),
                }
            }
            Input::Notice(line) => self.note(format_args!("{line}")),
        }
        self.expire(now);
        Ok(())
    }

    /// What the process remembers now (see [`Bookkeeping`]).
    pub fn bookkeeping(&self) -> Bookkeeping {
        let max =
            |f: &dyn Fn(&UdpSocketState) -> usize| self.udp.values().map(f).max().unwrap_or(0);
        Bookkeeping {
            udp_sockets: self.udp.len(),
            udp_exporters_max: max(&|s| s.last_seen.len()),
            udp_domains_max: max(&|s| s.decoder.templates().domain_count()),
            udp_fields_max: max(&|s| s.decoder.templates().field_count()),
            tcp_domains: self.tcp.templates().domain_count(),
            tcp_fields: self.tcp.templates().field_count(),
            reports_max: self
                .unknown_reported
                .len()
                .max(self.skipped_last.len())
                .max(self.tcp_misuse_reported.len()),
        }
    }

    /// The records decoded since the last call, with their exporter and
    /// domain, for `--format top` (nothing for the printing formats).
    pub fn take_records(&mut self) -> Vec<(DomainKey, DataRecord)> {
        match &mut self.output {
            Output::Records(records) => std::mem::take(records),
            _ => Vec::new(),
        }
    }

    /// Forgets UDP exporters idle for [`UDP_EXPORTER_IDLE`]; cheap to call
    /// often (looks at most every [`EXPIRY_CHECK`]).
    pub fn expire(&mut self, now: Instant) {
        let due = self
            .last_expiry_check
            .is_none_or(|last| now.saturating_duration_since(last) >= EXPIRY_CHECK);
        if !due {
            return;
        }
        self.last_expiry_check = Some(now);
        let hidden = self.drops.roll(now);
        self.note_hidden_drops(hidden);
        let hidden = self.notes.roll(now);
        self.note_hidden_notes(hidden);
        let idle: Vec<SocketAddr> = self
            .udp
            .values_mut()
            .flat_map(|socket| socket.expire(now))
            .collect();
        for exporter in idle {
            self.forget(Protocol::Udp, exporter);
            self.note(format_args!(
                "udp {exporter}: silent for {} minutes, its templates are forgotten",
                UDP_EXPORTER_IDLE.as_secs() / 60
            ));
        }
    }

    fn forget(&mut self, transport: Protocol, exporter: SocketAddr) {
        self.unknown_reported
            .retain(|(t, k, _)| (*t, k.exporter) != (transport, exporter));
        self.skipped_last
            .retain(|(t, k)| (*t, k.exporter) != (transport, exporter));
        if transport == Protocol::Tcp {
            self.tcp_misuse_reported
                .retain(|(k, _)| k.exporter != exporter);
        }
    }

    /// Says `line` once per connection and template (bounded memory: past
    /// [`REPORT_MEMORY`] entries nothing more is said).
    fn tcp_misuse(
        &mut self,
        now: Instant,
        key: DomainKey,
        template_id: u16,
        line: std::fmt::Arguments<'_>,
    ) {
        if self.tcp_misuse_reported.len() < REPORT_MEMORY
            && self.tcp_misuse_reported.insert((key, template_id))
        {
            self.limited_note(now, line);
        }
    }

    fn note_hidden_drops(&mut self, hidden: Option<u64>) {
        if let Some(n) = hidden {
            self.note(format_args!(
                "{n} more malformed messages dropped in {} s, not shown",
                DROP_WINDOW.as_secs()
            ));
        }
    }

    fn note_hidden_notes(&mut self, hidden: Option<u64>) {
        if let Some(n) = hidden {
            self.note(format_args!(
                "{n} more lines about single messages in {} s, not shown",
                DROP_WINDOW.as_secs()
            ));
        }
    }

    /// A line one message caused: shown within [`NOTE_LINES`] per window.
    fn limited_note(&mut self, now: Instant, line: std::fmt::Arguments<'_>) {
        let (show, hidden) = self.notes.drop_at(now);
        self.note_hidden_notes(hidden);
        if show {
            self.note(line);
        }
    }

    fn note(&mut self, line: std::fmt::Arguments<'_>) {
        let _ = writeln!(self.diag, "{line}");
    }

    /// Decodes and prints one message; the domain it belongs to when it
    /// decoded.
    fn message(
        &mut self,
        t: Protocol,
        collector: Option<SocketAddr>,
        exporter: SocketAddr,
        bytes: &[u8],
        now: Instant,
    ) -> io::Result<Option<DomainKey>> {
        let name = transport_name(t);
        let decoder = match t {
            Protocol::Udp => {
                &mut self
                    .udp
                    .entry(collector)
                    .or_insert_with(UdpSocketState::new)
                    .decoder
            }
            // TLS streams are handed over as TCP (net.rs): the same
            // transport session inside.
            Protocol::Tcp | Protocol::Tls => &mut self.tcp,
        };
        let m = match decoder.decode(exporter, bytes) {
            Ok(m) => m,
            Err(e) => {
                let (show, hidden) = self.drops.drop_at(now);
                self.note_hidden_drops(hidden);
                if show {
                    self.note(format_args!("{name} {exporter}: message dropped: {e}"));
                }
                return Ok(None);
            }
        };
        let key = DomainKey {
            exporter,
            observation_domain_id: m.header.observation_domain_id,
        };
        if bytes.len() > m.message_len() {
            self.limited_note(
                now,
                format_args!(
                    "{name} {exporter}: {} octets after the {}-octet message ignored",
                    bytes.len() - m.message_len(),
                    m.message_len()
                ),
            );
        }
        let lines = self.events(t, exporter, &m, now);
        for line in lines {
            self.out.write_all(line.as_bytes())?;
            self.out.write_all(b"\n")?;
        }
        self.out.flush()?;
        Ok(Some(key))
    }

    /// Reports the message's problems; returns its output lines.
    fn events(
        &mut self,
        t: Protocol,
        exporter: SocketAddr,
        m: &DecodedMessage,
        now: Instant,
    ) -> Vec<String> {
        let domain = m.header.observation_domain_id;
        let key = DomainKey {
            exporter,
            observation_domain_id: domain,
        };
        let prefix = format!("{} {exporter} domain {domain}", transport_name(t));
        let skipped_before = self.skipped_last.remove(&(t, key));
        let mut lines = Vec::new();
        for event in &m.events {
            match event {
                Event::Record(r) => self.record(exporter, &m.header, r, &mut lines),
                Event::Template { template, replaced } => {
                    self.unknown_reported.remove(&(t, key, template.id()));
                    if *replaced && t == Protocol::Tcp {
                        let id = template.id();
                        self.tcp_misuse(
                            now,
                            key,
                            id,
                            format_args!(
                                "{prefix}: template {id} redefined without a withdrawal \
                                 (RFC 7011 §8.1); the new definition is used"
                            ),
                        );
                    }
                }
                Event::TemplateWithdrawn {
                    template_id,
                    known: false,
                } if t == Protocol::Tcp => self.tcp_misuse(
                    now,
                    key,
                    *template_id,
                    format_args!("{prefix}: withdrawal of unknown template {template_id}"),
                ),
                Event::TemplateWithdrawn { .. } => {}
                Event::AllTemplatesWithdrawn { options, count } => self.limited_note(
                    now,
                    format_args!(
                        "{prefix}: all {count} {} templates withdrawn",
                        if *options { "options" } else { "data" }
                    ),
                ),
                Event::WithdrawalIgnored { template_id } => self.limited_note(
                    now,
                    format_args!(
                        "{prefix}: withdrawal of template {template_id} ignored \
                     (not allowed over UDP, RFC 7011 §8.1)"
                    ),
                ),
                Event::UnknownTemplate {
                    template_id,
                    set_length,
                } => {
                    if self.skipped_last.len() < REPORT_MEMORY {
                        self.skipped_last.insert((t, key));
                    }
                    if self.unknown_reported.len() >= REPORT_MEMORY {
                        if !self.unknown_overflow_noted {
                            self.unknown_overflow_noted = true;
                            self.note(format_args!(
                                "{prefix}: more than {REPORT_MEMORY} unknown templates; \
                                 further ones are skipped without a report"
                            ));
                        }
                    } else if self.unknown_reported.insert((t, key, *template_id)) {
                        self.limited_note(
                            now,
                            format_args!(
                                "{prefix}: data set of unknown template {template_id} skipped \
                             ({set_length} octets); skipping its sets silently until the \
                             template arrives"
                            ),
                        );
                    }
                }
                Event::ReservedSet { set_id, set_length } => self.limited_note(
                    now,
                    format_args!(
                        "{prefix}: set with reserved ID {set_id} skipped ({set_length} octets)"
                    ),
                ),
                Event::SequenceMismatch { expected, received } => {
                    // After skipped data sets the decoder could not count
                    // their records: being ahead is expected, and the skip
                    // was reported.
                    let ahead = sequence_gap(*expected, *received) > 0;
                    if !(skipped_before && ahead) {
                        let text = sequence_text(*expected, *received);
                        self.limited_note(now, format_args!("{prefix}: {text}"));
                    }
                }
            }
        }
        lines
    }

    fn record(
        &mut self,
        exporter: SocketAddr,
        header: &MessageHeader,
        r: &DataRecord,
        lines: &mut Vec<String>,
    ) {
        let domain = header.observation_domain_id;
        if let Output::Records(records) = &mut self.output {
            let key = DomainKey {
                exporter,
                observation_domain_id: domain,
            };
            records.push((key, r.clone()));
            return;
        }
        // Options records are never flows; other exporters' data records
        // that do not carry our elements print as fields.
        let flow = if r.is_options() {
            None
        } else {
            r.to_flow_record().ok()
        };
        match (&mut self.output, flow) {
            (Output::Json, Some(f)) => {
                lines.push(flow_json(exporter, header, r.template_id, &f).to_string())
            }
            (Output::Json, None) => lines.push(record_fields_json(exporter, domain, r).to_string()),
            (Output::Table(t), Some(f)) => lines.extend(t.flow_lines(exporter, &f)),
            (Output::Table(_), None) => lines.push(record_line(exporter, domain, r)),
            (Output::Records(_), _) => {}
        }
    }
}

/// `received - expected` as a signed distance mod 2^32 (RFC 1982 style):
/// positive when records are missing, negative when repeated.
fn sequence_gap(expected: u32, received: u32) -> i64 {
    let ahead = received.wrapping_sub(expected);
    if ahead < 1 << 31 {
        i64::from(ahead)
    } else {
        -i64::from(expected.wrapping_sub(received))
    }
}

/// The sequence warning: lost (or still to come out of order) records
/// when the number jumped ahead, duplicated or reordered ones when it went
/// back.
pub fn sequence_text(expected: u32, received: u32) -> String {
    let gap = sequence_gap(expected, received);
    if gap > 0 {
        format!("{gap} data records lost (sequence number {received}, expected {expected})")
    } else {
        format!(
            "{} data records duplicated or reordered (sequence number {received}, expected {expected})",
            -gap
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{Direction, FlowEndReason, FlowRecord};
    use crate::ipfix::ie::{self, AbstractType, FieldLength, InfoElement};
    use crate::ipfix::{Mtu, Session, TypedTemplate, Value};
    use crate::schema::{ExportStatistics, FlowMessages};
    use serde_json::Value as Json;

    const A: &str = "192.0.2.1:40000";
    const B: &str = "192.0.2.1:40001";
    /// The listening socket the harness's messages arrive on.
    const COLLECTOR: &str = "127.0.0.1:4739";

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn flow(flow_id: u64) -> FlowRecord {
        FlowRecord {
            src_addr: "198.51.100.1".parse().unwrap(),
            dst_addr: "198.51.100.2".parse().unwrap(),
            src_port: 1234,
            dst_port: 80,
            protocol: 6,
            icmp_type: 0,
            icmp_code: 0,
            direction: Direction::Ingress,
            vlan_id: 0,
            inner_vlan_id: 0,
            src_mac: [0; 6],
            dst_mac: [0; 6],
            ingress_ifindex: 2,
            egress_ifindex: 0,
            packets: 3,
            octets: 180,
            tcp_flags: 0x02,
            ttl_min: 64,
            ttl_max: 64,
            tos: 0,
            start_ms: 1_700_000_000_000,
            end_ms: 1_700_000_000_500,
            end_reason: FlowEndReason::ActiveTimeout,
            flow_id,
        }
    }

    /// One message per call, from `session`.
    fn message(
        session: &mut Session,
        templates: bool,
        flows: &[FlowRecord],
        extra: impl FnOnce(&mut crate::ipfix::MessageBuilder<'_>),
    ) -> Vec<u8> {
        let mut b = session.builder(1_700_000_100, Mtu::DEFAULT);
        if templates {
            b.add_flow_templates(true).unwrap();
        }
        b.add_flow_records(flows, Some(1_700_000_000_000)).unwrap();
        extra(&mut b);
        let mut messages = b.finish().unwrap();
        assert_eq!(messages.len(), 1);
        messages.remove(0).bytes
    }

    struct Harness {
        p: CollectingProcess<Vec<u8>, Vec<u8>>,
        now: Instant,
    }

    impl Harness {
        fn new(format: CollectFormat) -> Self {
            Harness {
                p: CollectingProcess::new(format, Vec::new(), Vec::new()),
                now: Instant::now(),
            }
        }

        fn send(&mut self, t: Protocol, exporter: &str, bytes: Vec<u8>) {
            self.send_to(t, COLLECTOR, exporter, bytes);
        }

        fn send_to(&mut self, t: Protocol, collector: &str, exporter: &str, bytes: Vec<u8>) {
            let input = Input::Message {
                transport: t,
                collector: Some(addr(collector)),
                exporter: addr(exporter),
                bytes,
            };
            self.p.handle(input, self.now).unwrap();
        }

        fn take_out(&mut self) -> Vec<String> {
            let text = String::from_utf8(std::mem::take(&mut self.p.out)).unwrap();
            text.lines().map(str::to_owned).collect()
        }

        fn take_json(&mut self) -> Vec<Json> {
            self.take_out()
                .iter()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect()
        }

        fn take_diag(&mut self) -> Vec<String> {
            let text = String::from_utf8(std::mem::take(&mut self.p.diag)).unwrap();
            text.lines().map(str::to_owned).collect()
        }
    }

    #[test]
    fn flows_and_options_records_as_json() {
        let mut h = Harness::new(CollectFormat::Json);
        let mut s = Session::new(7);
        let bytes = message(&mut s, true, &[flow(1)], |b| {
            b.add_system_init_time(1_700_000_000_000).unwrap();
            b.add_statistics(&ExportStatistics {
                exported_message_total: 9,
                ..ExportStatistics::default()
            })
            .unwrap();
        });
        h.send(Protocol::Udp, A, bytes);
        let v = h.take_json();
        assert_eq!(v.len(), 4, "{v:#?}");
        assert_eq!(v[0]["flow_id"], 1);
        assert_eq!(v[0]["exporter"], A);
        assert_eq!(v[0]["observation_domain_id"], 7);
        assert_eq!(v[0]["template_id"], 278);
        assert_eq!(v[0]["sequence_number"], 0);
        assert_eq!(v[0]["export_time"], 1_700_000_100);
        assert_eq!(v[1]["template_id"], 264);
        assert_eq!(v[1]["options"], true);
        // dateTimeMilliseconds 1_700_000_000_000, in UTC.
        assert_eq!(
            v[1]["fields"]["systemInitTimeMilliseconds"],
            "2023-11-14T22:13:20.000Z"
        );
        assert_eq!(v[2]["template_id"], 266);
        assert_eq!(v[2]["fields"]["exportedMessageTotalCount"], 9);
        assert_eq!(v[2]["fields"]["observationDomainId"], 7);
        assert_eq!(v[3]["template_id"], 267);
        assert_eq!(v[3]["fields"]["notSentFlowTotalCount"], 0);
        assert!(h.take_diag().is_empty());
    }

    #[test]
    fn table_rows_and_options_lines() {
        let mut h = Harness::new(CollectFormat::Table);
        let mut s = Session::new(4);
        let bytes = message(&mut s, true, &[flow(1), flow(2)], |b| {
            b.add_statistics(&ExportStatistics::default()).unwrap();
        });
        h.send(Protocol::Tcp, A, bytes);
        let out = h.take_out();
        assert_eq!(out.len(), 5, "{out:#?}");
        assert!(out[0].starts_with("exporter "));
        assert!(out[1].starts_with("192.0.2.1:40000  "));
        assert!(out[1].contains("198.51.100.1:1234"));
        assert!(out[3].starts_with(
            "options 266 from 192.0.2.1:40000 domain 4: observationDomainId=4 \
             exportedMessageTotalCount=0 "
        ));
        assert_eq!(
            out[4],
            "options 267 from 192.0.2.1:40000 domain 4: exportingProcessId=0 \
             notSentFlowTotalCount=0"
        );
    }

    #[test]
    fn unknown_templates_reported_once_until_known() {
        let mut h = Harness::new(CollectFormat::Json);
        let mut s = Session::new(1);
        let data = message(&mut s, false, &[flow(1)], |_| {});
        h.send(Protocol::Udp, A, data.clone());
        h.send(Protocol::Udp, A, data.clone());
        assert!(h.take_out().is_empty());
        let diag = h.take_diag();
        assert_eq!(diag.len(), 1, "{diag:#?}");
        assert!(
            diag[0].starts_with(
                "udp 192.0.2.1:40000 domain 1: data set of unknown template 278 skipped"
            ),
            "{}",
            diag[0]
        );
        // Another exporter's unknown template is its own report.
        h.send(Protocol::Udp, B, data.clone());
        assert_eq!(h.take_diag().len(), 1);
        // The template arrives (with records ahead of the expected sequence
        // number: not a loss warning, the skip was reported).
        let with_templates = message(&mut s, true, &[flow(2)], |_| {});
        h.send(Protocol::Udp, A, with_templates);
        assert_eq!(h.take_json()[0]["flow_id"], 2);
        assert_eq!(h.take_diag(), Vec::<String>::new());
        h.send(Protocol::Udp, A, data);
        assert_eq!(h.take_json()[0]["flow_id"], 1);
        // ... but a sequence number going back is reported.
        assert_eq!(
            h.take_diag(),
            [
                "udp 192.0.2.1:40000 domain 1: 2 data records duplicated or reordered \
              (sequence number 0, expected 2)"
            ]
        );
    }

    #[test]
    fn lost_records_and_decode_errors() {
        let mut h = Harness::new(CollectFormat::Json);
        let mut s = Session::new(1);
        let first = message(&mut s, true, &[flow(1), flow(2)], |_| {});
        let _lost = message(&mut s, false, &[flow(3)], |_| {});
        let third = message(&mut s, false, &[flow(4)], |_| {});
        h.send(Protocol::Udp, A, first.clone());
        h.send(Protocol::Udp, A, third);
        assert_eq!(
            h.take_diag(),
            ["udp 192.0.2.1:40000 domain 1: 1 data records lost (sequence number 3, expected 2)"]
        );
        let mut bad = first.clone();
        bad[1] = 9;
        h.send(Protocol::Udp, A, bad);
        h.send(Protocol::Udp, A, first[..10].to_vec());
        let mut trailing = first;
        trailing.extend_from_slice(&[0; 3]);
        h.send(Protocol::Udp, B, trailing);
        assert_eq!(
            h.take_diag(),
            [
                "udp 192.0.2.1:40000: message dropped: IPFIX version number 9, expected 10",
                "udp 192.0.2.1:40000: message dropped: message header truncated: needs 16 octets, 10 available",
                "udp 192.0.2.1:40001: 3 octets after the 1312-octet message ignored",
            ]
        );
    }

    #[test]
    fn closing_a_tcp_connection_forgets_its_templates() {
        let mut h = Harness::new(CollectFormat::Json);
        let mut s = Session::new(1);
        h.p.handle(Input::Connected { exporter: addr(A) }, h.now)
            .unwrap();
        h.send(Protocol::Tcp, A, message(&mut s, true, &[flow(1)], |_| {}));
        assert_eq!(h.take_json().len(), 1);
        let closed = Input::Closed {
            exporter: addr(A),
            error: Some("IPFIX version number 0, expected 10".into()),
        };
        h.p.handle(closed, h.now).unwrap();
        // A new connection from the same port must resend its templates.
        let mut s = Session::new(1);
        h.send(Protocol::Tcp, A, message(&mut s, false, &[flow(2)], |_| {}));
        assert!(h.take_out().is_empty());
        let diag = h.take_diag();
        assert_eq!(diag[0], "tcp 192.0.2.1:40000: connected");
        assert_eq!(
            diag[1],
            "tcp 192.0.2.1:40000: closing connection: IPFIX version number 0, expected 10"
        );
        assert!(diag[2].contains("unknown template 278"), "{diag:#?}");
    }

    #[test]
    fn udp_and_tcp_templates_are_separate() {
        let mut h = Harness::new(CollectFormat::Json);
        let mut s = Session::new(1);
        h.send(Protocol::Udp, A, message(&mut s, true, &[], |_| {}));
        h.send(Protocol::Tcp, A, message(&mut s, false, &[flow(1)], |_| {}));
        assert!(h.take_out().is_empty());
        assert!(h.take_diag()[0].starts_with("tcp 192.0.2.1:40000 domain 1: data set of unknown"));
    }

    #[test]
    fn idle_udp_exporters_are_forgotten() {
        let mut h = Harness::new(CollectFormat::Json);
        let mut s = Session::new(1);
        let t0 = h.now;
        h.send(Protocol::Udp, A, message(&mut s, true, &[], |_| {}));
        h.now = t0 + UDP_EXPORTER_IDLE - Duration::from_secs(30);
        h.send(
            Protocol::Udp,
            B,
            message(&mut Session::new(1), true, &[], |_| {}),
        );
        assert!(h.take_diag().is_empty());
        // A has been silent for the idle time, B not.
        h.now = t0 + UDP_EXPORTER_IDLE + Duration::from_secs(30);
        h.p.expire(h.now);
        assert_eq!(
            h.take_diag(),
            ["udp 192.0.2.1:40000: silent for 30 minutes, its templates are forgotten"]
        );
        h.send(Protocol::Udp, A, message(&mut s, false, &[flow(2)], |_| {}));
        assert!(h.take_out().is_empty());
        assert!(h.take_diag()[0].contains("unknown template 278"));
        // A taught nothing since: nothing of it is left to forget, only B.
        h.now += UDP_EXPORTER_IDLE;
        h.p.expire(h.now);
        assert_eq!(
            h.take_diag(),
            ["udp 192.0.2.1:40001: silent for 30 minutes, its templates are forgotten"]
        );
    }

    #[test]
    fn custom_and_enterprise_fields() {
        let mut h = Harness::new(CollectFormat::Json);
        let label = InfoElement::enterprise(32473, 1, "label", AbstractType::String).unwrap();
        let custom = TypedTemplate::new(
            300,
            vec![
                (ie::SOURCE_IPV4_ADDRESS, FieldLength::Fixed(4)),
                (ie::PACKET_DELTA_COUNT, FieldLength::Fixed(2)),
                (label, FieldLength::Variable),
            ],
        )
        .unwrap();
        let mut s = Session::new(3);
        let mut b = s.builder(5, Mtu::DEFAULT);
        b.add_template(custom.template()).unwrap();
        b.add_custom_record(
            &custom,
            &[
                Value::Ipv4("198.51.100.7".parse().unwrap()),
                Value::Unsigned(513),
                Value::String("eth0".into()),
            ],
        )
        .unwrap();
        let bytes = b.finish().unwrap().remove(0).bytes;
        h.send(Protocol::Udp, A, bytes);
        let v = h.take_json();
        assert_eq!(
            v,
            [serde_json::json!({
                "exporter": A,
                "observation_domain_id": 3,
                "template_id": 300,
                "options": false,
                "fields": {
                    "sourceIPv4Address": "198.51.100.7",
                    "packetDeltaCount": 513,
                    "32473/1": "65746830",
                },
            })]
        );
    }

    #[test]
    fn sequence_texts() {
        assert_eq!(sequence_gap(10, 13), 3);
        assert_eq!(sequence_gap(10, 7), -3);
        assert_eq!(sequence_gap(u32::MAX, 1), 2);
        assert_eq!(sequence_gap(1, u32::MAX), -2);
        assert_eq!(
            sequence_text(u32::MAX, 1),
            "2 data records lost (sequence number 1, expected 4294967295)"
        );
    }

    #[test]
    fn a_failing_output_is_an_error() {
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut p = CollectingProcess::new(CollectFormat::Json, Broken, Vec::new());
        let mut s = Session::new(1);
        let input = Input::Message {
            transport: Protocol::Udp,
            collector: None,
            exporter: addr(A),
            bytes: message(&mut s, true, &[flow(1)], |_| {}),
        };
        let err = p.handle(input, Instant::now()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    }

    #[test]
    fn unknown_template_reports_are_bounded() {
        let mut h = Harness::new(CollectFormat::Json);
        // One message of 16 000 empty data sets of distinct unknown templates:
        // header (version 10, length, export time, sequence 0, domain 5).
        let mut bytes = vec![0, 10, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 5];
        for id in 0..16_000u16 {
            bytes.extend_from_slice(&(300 + id).to_be_bytes());
            bytes.extend_from_slice(&4u16.to_be_bytes());
        }
        let len = u16::try_from(bytes.len()).unwrap();
        bytes[2..4].copy_from_slice(&len.to_be_bytes());
        h.send(Protocol::Udp, A, bytes);
        assert!(h.p.unknown_reported.len() <= REPORT_MEMORY);
        let diag = h.take_diag();
        assert!(diag.len() <= REPORT_MEMORY + 2, "{} lines", diag.len());
        assert!(diag.iter().any(|l| l.contains("without a report")));
    }

    /// Forged source addresses: messages that teach nothing (header only,
    /// or malformed) leave no per-exporter state; templates from more
    /// sources than the cache keeps leave no more entries than it has
    /// domains (plus the one just added).
    #[test]
    fn udp_exporter_memory_is_bounded_whatever_the_sources() {
        let mut h = Harness::new(CollectFormat::Json);
        // A header alone: version 10, length 16, export time, sequence 0,
        // domain 1.
        let empty = [0, 10, 0, 16, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1].to_vec();
        for i in 0..2_000u32 {
            let src = format!("203.0.113.{}:{}", i % 250, 1024 + i);
            h.send(Protocol::Udp, &src, empty.clone());
            h.send(Protocol::Udp, &src, empty[..10].to_vec());
        }
        let remembered = |h: &Harness| h.p.udp.values().map(|u| u.last_seen.len()).sum::<usize>();
        assert_eq!(remembered(&h), 0);
        let max = crate::ipfix::DecoderConfig::default().limits.max_domains;
        let mut s = Session::new(1);
        let with_templates = message(&mut s, true, &[], |_| {});
        for i in 0..(max as u32 + 500) {
            let src = format!("198.51.100.{}:{}", i % 250, 1024 + i);
            h.send(Protocol::Udp, &src, with_templates.clone());
        }
        assert!(
            remembered(&h) <= max + 1,
            "{} entries for a cache of {max} domains",
            remembered(&h)
        );
        let live = h.p.udp[&Some(addr(COLLECTOR))]
            .decoder
            .templates()
            .exporters();
        assert!(remembered(&h) >= live.len());
        let _ = (h.take_out(), h.take_diag());
    }

    /// A flood of malformed messages: ten lines per ten seconds, then one
    /// that says how many more were dropped.
    #[test]
    fn dropped_messages_are_logged_at_a_bounded_rate() {
        let mut h = Harness::new(CollectFormat::Json);
        for _ in 0..1_000 {
            h.send(Protocol::Udp, A, vec![0, 9, 0, 16]);
        }
        let lines = h.take_diag();
        assert_eq!(lines.len(), 10, "{lines:#?}");
        assert!(lines
            .iter()
            .all(|l| l.starts_with("udp 192.0.2.1:40000: message dropped")));
        h.now += DROP_WINDOW;
        h.send(Protocol::Udp, A, vec![0, 9, 0, 16]);
        let lines = h.take_diag();
        assert_eq!(
            lines[0],
            "990 more malformed messages dropped in 10 s, not shown"
        );
        assert_eq!(lines.len(), 2, "{lines:#?}");
        // A quiet window after a flood still says what it hid.
        for _ in 0..20 {
            h.send(Protocol::Udp, A, vec![0, 9, 0, 16]);
        }
        let _ = h.take_diag();
        h.now += DROP_WINDOW + EXPIRY_CHECK;
        h.p.expire(h.now);
        assert_eq!(
            h.take_diag(),
            ["11 more malformed messages dropped in 10 s, not shown"]
        );
    }

    /// One line per message a sender can cause at line rate — a withdrawal
    /// over UDP, trailing octets, a sequence number off — is held to
    /// NOTE_LINES per window, then counted.
    #[test]
    fn lines_single_messages_cause_are_held_to_a_rate() {
        let mut h = Harness::new(CollectFormat::Json);
        // Header, then a template set withdrawing template 300.
        let withdrawal = |seq: u8| {
            let mut m = vec![0, 10, 0, 24, 0, 0, 0, 0, 0, 0, 0, seq, 0, 0, 0, 1];
            m.extend_from_slice(&[0, 2, 0, 8, 1, 44, 0, 0]);
            m
        };
        for _ in 0..1_000 {
            let mut m = withdrawal(0);
            m.push(0); // a trailing octet too
            h.send(Protocol::Udp, A, m);
        }
        let lines = h.take_diag();
        assert_eq!(lines.len(), NOTE_LINES as usize, "{:#?}", &lines[..5]);
        h.now += DROP_WINDOW;
        h.send(Protocol::Udp, A, withdrawal(0));
        let lines = h.take_diag();
        assert_eq!(
            lines[0],
            "1900 more lines about single messages in 10 s, not shown"
        );
    }

    /// RFC 7011 §8.4: a UDP template belongs to the exporter and to the
    /// collector socket it was sent to. An exporter's template sent to one
    /// listener does not decode its data sent to another.
    #[test]
    fn udp_templates_are_kept_per_collector_socket() {
        let mut h = Harness::new(CollectFormat::Json);
        let mut s = Session::new(1);
        h.send_to(
            Protocol::Udp,
            "127.0.0.1:4739",
            A,
            message(&mut s, true, &[], |_| {}),
        );
        let data = message(&mut s, false, &[flow(5)], |_| {});
        h.send_to(Protocol::Udp, "127.0.0.1:4740", A, data.clone());
        assert!(h.take_out().is_empty());
        assert!(h.take_diag()[0].contains("unknown template 278"));
        h.send_to(Protocol::Udp, "127.0.0.1:4739", A, data);
        let v = h.take_json();
        assert_eq!(v.len(), 1, "{v:#?}");
        assert_eq!(v[0]["flow_id"], 5);
    }

    /// Over TCP a template is withdrawn before its ID is used again (RFC
    /// 7011 §8.1): a redefinition, and a withdrawal of an unknown template,
    /// are said once per connection and template.
    #[test]
    fn tcp_template_misuse_is_reported_once() {
        let mut h = Harness::new(CollectFormat::Json);
        let mut s = Session::new(1);
        for _ in 0..3 {
            h.send(Protocol::Tcp, A, message(&mut s, true, &[], |_| {}));
        }
        let lines = h.take_diag();
        assert!(
            lines.iter().any(|l| l
                == "tcp 192.0.2.1:40000 domain 1: template 278 redefined without a withdrawal \
                    (RFC 7011 §8.1); the new definition is used"),
            "{lines:#?}"
        );
        assert_eq!(
            lines
                .iter()
                .filter(|l| l.contains("template 278 redefined"))
                .count(),
            1
        );
        // Withdrawal of template 999, never defined: a template set with
        // one withdrawal record.
        let mut withdrawal = vec![0, 10, 0, 24, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1];
        withdrawal.extend_from_slice(&[0, 2, 0, 8, 0x03, 0xe7, 0, 0]);
        h.send(Protocol::Tcp, A, withdrawal.clone());
        h.send(Protocol::Tcp, A, withdrawal);
        assert_eq!(
            h.take_diag()
                .iter()
                .filter(|l| l.as_str()
                    == "tcp 192.0.2.1:40000 domain 1: withdrawal of unknown template 999")
                .count(),
            1
        );
        // UDP refreshes templates by design: nothing to say.
        for _ in 0..2 {
            h.send(
                Protocol::Udp,
                B,
                message(&mut Session::new(1), true, &[], |_| {}),
            );
        }
        assert!(!h.take_diag().iter().any(|l| l.contains("redefined")));
    }

    /// `--format top` takes the data records, options ones included (the
    /// view decides), with their exporter and domain; nothing is printed.
    #[test]
    fn the_live_view_takes_the_records() {
        let mut h = Harness::new(CollectFormat::Top);
        let mut s = Session::new(4);
        h.send(
            Protocol::Udp,
            A,
            message(&mut s, true, &[flow(1), flow(2)], |b| {
                b.add_statistics(&ExportStatistics::default()).unwrap();
            }),
        );
        let records = h.p.take_records();
        // Two flows, and the statistics' two options records.
        assert_eq!(records.len(), 4, "{records:#?}");
        let key = DomainKey {
            exporter: addr(A),
            observation_domain_id: 4,
        };
        assert!(records.iter().all(|(k, _)| *k == key));
        assert_eq!(records.iter().filter(|(_, r)| r.is_options()).count(), 2);
        assert!(h.p.take_records().is_empty());
        assert!(h.take_out().is_empty());
    }
}
