//! One collector: its transport, its IPFIX transport session (sequence
//! numbers), template timing, queue and counters.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::tcp::{TcpEvent, TcpLink};
use super::udp::UdpLink;
use crate::endpoint::{Endpoint, Protocol};
use crate::flow::FlowRecord;
use crate::ipfix::{EncodeError, Message, Mtu, Session};
use crate::schema::{ExportStatistics, FlowMessages};

/// Template copies sent when a UDP session starts, so that one lost
/// datagram does not leave the collector blind until the next refresh.
pub const UDP_TEMPLATE_COPIES: usize = 3;
/// Over UDP, templates also go out every this many messages.
pub const UDP_TEMPLATE_EVERY_MESSAGES: u64 = 1000;
/// Flow records a TCP session holds while its collector is away or slow
/// (`--tcp-queue-records`); beyond it the oldest are dropped and counted as
/// not sent. At about 100 bytes a record this bounds the queue near 6.5 MB
/// per collector.
pub const TCP_QUEUE_RECORDS: usize = 65_536;
/// Records encoded per step while draining the TCP queue.
const TCP_ENCODE_BATCH: usize = 512;

/// Counters of one collector, since the exporter started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionStats {
    pub messages: u64,
    /// Flow data records sent (options records not included).
    pub flow_records: u64,
    pub octets: u64,
    /// Failed sends, ICMP-refused datagrams and broken connections.
    pub send_errors: u64,
    /// Flow records dropped instead of sent (notSentFlowTotalCount).
    pub not_sent: u64,
}

impl std::fmt::Display for SessionStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} messages, {} flow records, {} octets sent; {} send errors; {} records not sent",
            self.messages, self.flow_records, self.octets, self.send_errors, self.not_sent
        )
    }
}

enum Link {
    Udp(UdpLink),
    Tcp {
        link: TcpLink,
        queue: VecDeque<FlowRecord>,
    },
}

/// What the session needs from the rest of the exporter for each message.
#[derive(Debug, Clone, Copy)]
pub struct Context {
    pub now: Instant,
    pub export_time_secs: u32,
    /// Anchor of the SysUpTime elements (systemInitTimeMilliseconds).
    pub system_init_ms: u64,
    /// Datapath totals: ignoredPacketTotalCount / ignoredOctetTotalCount.
    pub ignored_packets: u64,
    pub ignored_octets: u64,
}

pub struct CollectorSession {
    pub spec: Endpoint,
    link: Link,
    ipfix: Session,
    observation_domain_id: u32,
    mtu: Mtu,
    template_refresh: Duration,
    /// When templates last went out in this transport session.
    templates_sent: Option<Instant>,
    messages_since_templates: u64,
    system_init_sent: Option<u64>,
    pub stats: SessionStats,
    /// Start of the current outage, for "logged once per outage".
    outage_since: Option<Instant>,
    pub peer: Option<SocketAddr>,
    tcp_queue_records: usize,
}

impl CollectorSession {
    pub fn new(
        spec: Endpoint,
        observation_domain_id: u32,
        mtu: Mtu,
        template_refresh: Duration,
        tcp_queue_records: usize,
    ) -> Self {
        let link = match spec.protocol {
            Protocol::Udp => Link::Udp(UdpLink::new(&spec.host, spec.port)),
            Protocol::Tcp => Link::Tcp {
                link: TcpLink::new(&spec.host, spec.port),
                queue: VecDeque::new(),
            },
        };
        CollectorSession {
            spec,
            link,
            ipfix: Session::new(observation_domain_id),
            observation_domain_id,
            mtu,
            template_refresh,
            templates_sent: None,
            messages_since_templates: 0,
            system_init_sent: None,
            stats: SessionStats::default(),
            outage_since: None,
            peer: None,
            tcp_queue_records: tcp_queue_records.max(1),
        }
    }

    /// Records still waiting (TCP only).
    pub fn queued(&self) -> usize {
        match &self.link {
            Link::Udp(_) => 0,
            Link::Tcp { queue, .. } => queue.len(),
        }
    }

    /// At shutdown: whatever still waits (queued, or encoded but not written
    /// whole) is counted as not sent. Returns that number.
    pub fn abandon_pending(&mut self) -> u64 {
        let Link::Tcp { link, queue } = &mut self.link else {
            return 0;
        };
        let pending = link.pending_records();
        let left = queue.len() as u64 + pending;
        queue.clear();
        self.stats.flow_records = self.stats.flow_records.saturating_sub(pending);
        self.stats.not_sent += left;
        left
    }

    /// True when nothing waits to be written.
    pub fn is_drained(&self) -> bool {
        match &self.link {
            Link::Udp(_) => true,
            Link::Tcp { link, queue } => queue.is_empty() && link.is_idle(),
        }
    }

    /// Exports `records` (UDP: now; TCP: queued, then written as the
    /// connection allows).
    pub fn export(&mut self, records: &[FlowRecord], cx: &Context) {
        if records.is_empty() {
            return;
        }
        match &mut self.link {
            Link::Tcp { queue, .. } => {
                queue.extend(records.iter().cloned());
                let excess = queue.len().saturating_sub(self.tcp_queue_records);
                if excess > 0 {
                    queue.drain(..excess);
                    self.stats.not_sent += excess as u64;
                    self.warn_outage(
                        cx.now,
                        &format!("queue full, dropped {excess} oldest records"),
                    );
                }
                self.poll(cx);
            }
            Link::Udp(_) => {
                if !self.udp_ready(cx) {
                    self.stats.not_sent += records.len() as u64;
                    return;
                }
                self.udp_templates_if_due(cx);
                if self.system_init_sent != Some(cx.system_init_ms) {
                    // The SysUpTime anchor moved: tell the collector first.
                    self.udp_system_init(cx);
                }
                match self.encode(cx, |b| b.add_flow_records(records, cx.system_init_ms)) {
                    Ok(msgs) => {
                        for m in msgs {
                            self.udp_send(&m, cx, true);
                        }
                    }
                    Err(e) => self.encode_failed(records.len(), &e),
                }
            }
        }
    }

    /// Sends the per-interval options records: systemInitTimeMilliseconds
    /// and the RFC 7011 §4 statistics.
    pub fn export_options(&mut self, cx: &Context) {
        let sendable = match &self.link {
            Link::Udp(_) => self.udp_ready(cx),
            Link::Tcp { link, .. } => link.is_connected(),
        };
        if !sendable {
            return;
        }
        if matches!(self.link, Link::Udp(_)) {
            // Templates due now go first, numbered first: encoded before
            // them, the options would carry a sequence number older than
            // the messages sent ahead of them (RFC 7011 §3.1 numbers
            // messages in the order they are sent).
            self.udp_templates_if_due(cx);
        }
        let stats = ExportStatistics {
            exported_message_total: self.stats.messages,
            exported_flow_record_total: self.stats.flow_records,
            exported_octet_total: self.stats.octets,
            ignored_packet_total: cx.ignored_packets,
            ignored_octet_total: cx.ignored_octets,
            not_sent_flow_total: self.stats.not_sent,
        };
        let encoded = self.encode(cx, |b| {
            b.add_system_init_time(cx.system_init_ms)?;
            b.add_statistics(&stats)
        });
        let msgs = match encoded {
            Ok(m) => m,
            Err(e) => return self.encode_failed(0, &e),
        };
        match &mut self.link {
            Link::Udp(_) => {
                for m in msgs {
                    self.udp_send(&m, cx, false);
                }
            }
            Link::Tcp { link, .. } => {
                for m in &msgs {
                    link.push(&m.bytes, 0);
                }
                for m in &msgs {
                    self.count_sent(m, false);
                }
                self.poll(cx);
            }
        }
        self.system_init_sent = Some(cx.system_init_ms);
    }

    /// Drives a session between intervals. UDP: sends the first templates
    /// as soon as the collector's address is known, instead of with the
    /// first interval's records — the collector hears from a new exporter
    /// within moments, and can decode its first data message. TCP:
    /// connects, (re)sends templates on a new connection, writes queued
    /// records as the socket accepts them.
    pub fn poll(&mut self, cx: &Context) {
        if matches!(self.link, Link::Udp(_)) {
            if self.templates_sent.is_none() && self.udp_ready(cx) {
                self.udp_templates_if_due(cx);
            }
            return;
        }
        let Link::Tcp { link, queue } = &mut self.link else {
            return;
        };
        loop {
            match link.poll(cx.now) {
                TcpEvent::Nothing => {}
                TcpEvent::Connected(peer) => {
                    if let Some(since) = self.outage_since.take() {
                        log::warn!(
                            "collector {} is back after {:.1} s",
                            self.spec,
                            cx.now.duration_since(since).as_secs_f64()
                        );
                    } else {
                        log::info!("connected to collector {} ({peer})", self.spec);
                    }
                    self.peer = Some(peer);
                    // A new transport session: sequence numbers restart at 0
                    // and the templates come first (RFC 7011 §8.1, §10.4.2).
                    self.ipfix = Session::new(self.observation_domain_id);
                    let greeting = {
                        let mut b = self.ipfix.builder(cx.export_time_secs, self.mtu);
                        b.add_flow_templates()
                            .and_then(|()| b.add_system_init_time(cx.system_init_ms))
                            .and_then(|()| b.finish())
                    };
                    match greeting {
                        Ok(msgs) => {
                            for m in &msgs {
                                link.push(&m.bytes, 0);
                                self.stats.messages += 1;
                                self.stats.octets += m.bytes.len() as u64;
                            }
                        }
                        Err(e) => log::error!("encoding templates for {}: {e}", self.spec),
                    }
                    self.templates_sent = Some(cx.now);
                    self.system_init_sent = Some(cx.system_init_ms);
                    continue;
                }
                TcpEvent::Down {
                    error,
                    lost_records,
                } => {
                    // Encoded, but never written whole: not sent after all.
                    self.stats.not_sent += lost_records;
                    self.stats.flow_records = self.stats.flow_records.saturating_sub(lost_records);
                    self.stats.send_errors += 1;
                    if self.outage_since.is_none() {
                        self.outage_since = Some(cx.now);
                        log::warn!(
                            "collector {} unreachable ({error}); reconnecting with backoff, \
                             keeping up to {} records",
                            self.spec,
                            self.tcp_queue_records
                        );
                    }
                    return;
                }
            }
            if !link.is_connected() || !link.is_idle() || queue.is_empty() {
                return;
            }
            let n = queue.len().min(TCP_ENCODE_BATCH);
            let batch: Vec<FlowRecord> = queue.drain(..n).collect();
            let anchor_moved = self.system_init_sent != Some(cx.system_init_ms);
            let encoded = {
                let mut b = self.ipfix.builder(cx.export_time_secs, self.mtu);
                let init = if anchor_moved {
                    // The SysUpTime anchor moved: tell the collector first.
                    b.add_system_init_time(cx.system_init_ms)
                } else {
                    Ok(())
                };
                init.and_then(|()| b.add_flow_records(&batch, cx.system_init_ms))
                    .and_then(|()| b.finish())
            };
            if anchor_moved {
                self.system_init_sent = Some(cx.system_init_ms);
            }
            match encoded {
                Ok(msgs) => {
                    for m in &msgs {
                        link.push(&m.bytes, u64::from(m.data_records));
                        self.stats.messages += 1;
                        self.stats.octets += m.bytes.len() as u64;
                    }
                    self.stats.flow_records += batch.len() as u64;
                }
                Err(e) => {
                    self.stats.not_sent += batch.len() as u64;
                    log::error!("encoding {} records for {}: {e}", batch.len(), self.spec);
                }
            }
        }
    }

    fn udp_ready(&mut self, cx: &Context) -> bool {
        let Link::Udp(udp) = &mut self.link else {
            return false;
        };
        match udp.ready(cx.now) {
            Ok(true) => {
                if self.peer.is_none() {
                    self.peer = udp.peer;
                    log::info!(
                        "exporting to {} from {}",
                        self.spec,
                        udp.local_addr().map(|a| a.to_string()).unwrap_or_default()
                    );
                }
                true
            }
            Ok(false) => false,
            Err(e) => {
                self.stats.send_errors += 1;
                self.warn_outage(cx.now, &e.to_string());
                false
            }
        }
    }

    fn udp_templates_if_due(&mut self, cx: &Context) {
        let copies = match self.templates_sent {
            None => UDP_TEMPLATE_COPIES,
            Some(t)
                if cx.now.duration_since(t) >= self.template_refresh
                    || self.messages_since_templates >= UDP_TEMPLATE_EVERY_MESSAGES =>
            {
                1
            }
            Some(_) => 0,
        };
        for _ in 0..copies {
            let encoded = self.encode(cx, |b| {
                b.add_flow_templates()?;
                b.add_system_init_time(cx.system_init_ms)
            });
            match encoded {
                Ok(msgs) => {
                    for m in msgs {
                        self.udp_send(&m, cx, false);
                    }
                }
                Err(e) => self.encode_failed(0, &e),
            }
        }
        if copies > 0 {
            self.templates_sent = Some(cx.now);
            self.messages_since_templates = 0;
            self.system_init_sent = Some(cx.system_init_ms);
        }
    }

    fn udp_system_init(&mut self, cx: &Context) {
        match self.encode(cx, |b| b.add_system_init_time(cx.system_init_ms)) {
            Ok(msgs) => {
                for m in msgs {
                    self.udp_send(&m, cx, false);
                }
                self.system_init_sent = Some(cx.system_init_ms);
            }
            Err(e) => self.encode_failed(0, &e),
        }
    }

    fn encode(
        &mut self,
        cx: &Context,
        add: impl FnOnce(&mut crate::ipfix::MessageBuilder<'_>) -> Result<(), EncodeError>,
    ) -> Result<Vec<Message>, EncodeError> {
        let mut b = self.ipfix.builder(cx.export_time_secs, self.mtu);
        add(&mut b)?;
        b.finish()
    }

    fn udp_send(&mut self, m: &Message, cx: &Context, flow_data: bool) {
        let Link::Udp(udp) = &self.link else {
            return;
        };
        match udp.send(&m.bytes) {
            Ok(refused) => {
                if refused {
                    // An earlier datagram met an ICMP port unreachable.
                    self.stats.send_errors += 1;
                    self.warn_outage(cx.now, "collector not listening (ICMP port unreachable)");
                    self.count_sent(m, flow_data);
                    return;
                }
                self.count_sent(m, flow_data);
                if let Some(since) = self.outage_since.take() {
                    log::warn!(
                        "collector {} accepts data again after {:.1} s",
                        self.spec,
                        cx.now.duration_since(since).as_secs_f64()
                    );
                }
            }
            Err(e) => {
                self.stats.send_errors += 1;
                self.stats.not_sent += u64::from(m.data_records);
                self.warn_outage(cx.now, &e.to_string());
            }
        }
    }

    fn count_sent(&mut self, m: &Message, flow_data: bool) {
        self.stats.messages += 1;
        self.stats.octets += m.bytes.len() as u64;
        self.messages_since_templates += 1;
        if flow_data {
            self.stats.flow_records += u64::from(m.data_records);
        }
    }

    fn encode_failed(&mut self, records: usize, e: &EncodeError) {
        self.stats.not_sent += records as u64;
        log::error!("encoding {records} records for {}: {e}", self.spec);
    }

    /// Logs the first failure of an outage; later ones are only counted.
    fn warn_outage(&mut self, now: Instant, what: &str) {
        if self.outage_since.is_none() {
            self.outage_since = Some(now);
            log::warn!(
                "collector {}: {what} (counted; logged once per outage)",
                self.spec
            );
        }
    }
}
