//! One collector: its transport link around its exporting state
//! ([`CollectorState`], which decides what to send and counts it). This
//! file only moves bytes, reports what the link did, and logs outages once
//! each.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::state::{CollectorState, NotEncoded, Outgoing, Transport, Unwritten};
use super::tcp::{TcpEvent, TcpLink, TlsClient};
use super::udp::UdpLink;
use crate::config::ExportConfig;
use crate::endpoint::{Endpoint, Protocol};
use crate::flow::FlowRecord;
use crate::ipfix::Mtu;
use crate::schema::InterfaceName;

use super::state::{Context, SessionStats};

/// How soon a session with work in progress is polled again.
const POLL_BUSY: Duration = Duration::from_millis(20);
/// How often a connected, idle TCP session is looked at.
const POLL_IDLE_TCP: Duration = Duration::from_millis(250);

enum Link {
    Udp(UdpLink),
    Tcp(TcpLink),
}

pub struct CollectorSession {
    pub spec: Endpoint,
    link: Link,
    state: CollectorState,
    /// Start of the current outage, for "logged once per outage".
    outage_since: Option<Instant>,
    pub peer: Option<SocketAddr>,
    tcp_queue_records: usize,
}

impl CollectorSession {
    pub fn new(spec: Endpoint, observation_domain_id: u32, cfg: &ExportConfig) -> Self {
        let (link, transport) = match spec.protocol {
            Protocol::Udp => (
                Link::Udp(UdpLink::new(&spec.host, spec.port)),
                Transport::Udp,
            ),
            Protocol::Tcp => (
                Link::Tcp(TcpLink::new(&spec.host, spec.port, cfg.tcp_reconnect)),
                Transport::Tcp,
            ),
            // Validation loaded the TLS configuration for any tls://
            // collector; without it (a bug) every attempt fails, logged.
            Protocol::Tls => {
                let tls = TlsClient {
                    config: cfg.tls.as_ref().map(|t| std::sync::Arc::clone(&t.config)),
                    name: crate::tls::server_name(&spec.host),
                };
                let link = TcpLink::new(&spec.host, spec.port, cfg.tcp_reconnect).with_tls(tls);
                (Link::Tcp(link), Transport::Tcp)
            }
        };
        CollectorSession {
            spec,
            link,
            state: CollectorState::new(
                transport,
                observation_domain_id,
                // The process: unique on the host while it runs.
                std::process::id(),
                cfg.mtu,
                cfg.template_refresh,
                cfg.tcp_queue_records,
                cfg.sysuptime_elements,
            )
            .with_sampling(cfg.sampling),
            outage_since: None,
            peer: None,
            tcp_queue_records: cfg.tcp_queue_records,
        }
    }

    /// The interfaces to name (template 286); see
    /// [`CollectorState::set_interfaces`].
    pub fn set_interfaces(&mut self, interfaces: &[InterfaceName]) {
        self.state.set_interfaces(interfaces);
    }

    pub fn stats(&self) -> SessionStats {
        self.state.stats
    }

    /// Resolved (UDP) or connected (TCP), and not in an outage.
    pub fn is_up(&self) -> bool {
        self.outage_since.is_none()
            && match &self.link {
                Link::Udp(_) => self.peer.is_some(),
                Link::Tcp(link) => link.is_connected(),
            }
    }

    /// Records still waiting (TCP only).
    pub fn queued(&self) -> usize {
        self.state.queued()
    }

    /// At shutdown: whatever still waits (queued, or encoded but not written
    /// whole) is counted as not sent. Returns that number.
    pub fn abandon_pending(&mut self) -> u64 {
        let pending = match &self.link {
            Link::Udp(_) => Unwritten::default(),
            Link::Tcp(link) => link.unwritten(),
        };
        self.state.abandon(pending)
    }

    /// At shutdown, after the records: TCP withdraws every template, closes
    /// its side and waits for the collector's (RFC 7011 §10.4.2), by
    /// `deadline`.
    pub fn close(&mut self, cx: &Context, deadline: Instant) {
        let Link::Tcp(link) = &self.link else {
            return;
        };
        if !link.is_connected() || !link.is_idle() || self.state.queued() > 0 {
            return;
        }
        let withdrawal = self.state.withdrawal(cx);
        self.tcp_push_all(&withdrawal);
        let Link::Tcp(link) = &mut self.link else {
            return;
        };
        match link.finish(deadline) {
            Ok(()) => log::info!(
                "collector {}: templates withdrawn, connection closed",
                self.spec
            ),
            Err(e) => log::warn!("collector {}: closing: {e}", self.spec),
        }
    }

    /// When [`Self::poll`] has work next. UDP: only until the first
    /// templates are out (the collector's name resolving). TCP: soon while
    /// connecting or writing; a connected, idle session is looked at a few
    /// times a second, to notice a collector that closed.
    pub fn next_poll(&self, now: Instant) -> Option<Instant> {
        match &self.link {
            Link::Udp(_) if self.state.is_new() => Some(now + POLL_BUSY),
            Link::Udp(_) => None,
            Link::Tcp(link) if link.is_connected() && self.is_drained() => {
                Some(now + POLL_IDLE_TCP)
            }
            Link::Tcp(_) => Some(now + POLL_BUSY),
        }
    }

    /// True when nothing waits to be written.
    pub fn is_drained(&self) -> bool {
        match &self.link {
            Link::Udp(_) => true,
            Link::Tcp(link) => self.state.queued() == 0 && link.is_idle(),
        }
    }

    /// Exports `records` (UDP: now; TCP: queued, then written as the
    /// connection allows).
    pub fn export(&mut self, records: &[FlowRecord], cx: &Context) {
        if records.is_empty() {
            return;
        }
        if matches!(self.link, Link::Tcp(_)) {
            let dropped = self.state.enqueue(records);
            if dropped > 0 {
                self.warn_outage(
                    cx.now,
                    &format!("queue full, dropped {dropped} oldest records"),
                );
            }
            return self.poll(cx);
        }
        if !self.udp_ready(cx) {
            return self.state.dropped(records.len());
        }
        let templates = self.state.due_templates(cx);
        self.udp_send_all(&templates, cx);
        let encoded = self.state.encode_records(records, cx);
        self.send_encoded(encoded, cx);
    }

    /// Sends the per-interval options records: systemInitTimeMilliseconds
    /// and the RFC 7011 §4 statistics.
    pub fn export_options(&mut self, cx: &Context) {
        match &self.link {
            Link::Udp(_) => {
                if !self.udp_ready(cx) {
                    return;
                }
                // Templates due now go first, numbered first: encoded
                // before them, the options would carry a sequence number
                // older than the messages sent ahead of them (RFC 7011 §3.1
                // numbers messages in the order they are sent).
                let templates = self.state.due_templates(cx);
                self.udp_send_all(&templates, cx);
            }
            Link::Tcp(link) if !link.is_connected() => return,
            Link::Tcp(_) => {}
        }
        let encoded = self.state.encode_options(cx);
        self.send_encoded(encoded, cx);
        if matches!(self.link, Link::Tcp(_)) {
            self.poll(cx);
        }
    }

    /// Drives a session between intervals. UDP: sends the first templates
    /// as soon as the collector's address is known, instead of with the
    /// first interval's records — the collector hears from a new exporter
    /// within moments, and can decode its first data message. TCP:
    /// connects, (re)sends templates on a new connection, writes queued
    /// records as the socket accepts them.
    pub fn poll(&mut self, cx: &Context) {
        if matches!(self.link, Link::Udp(_)) {
            if self.state.is_new() && self.udp_ready(cx) {
                let templates = self.state.due_templates(cx);
                self.udp_send_all(&templates, cx);
            }
            return;
        }
        loop {
            let Link::Tcp(link) = &mut self.link else {
                return;
            };
            match link.poll(cx.now) {
                TcpEvent::Nothing => {}
                TcpEvent::Connected(peer) => {
                    self.connected(peer, cx);
                    continue;
                }
                TcpEvent::Down { error, lost } => {
                    self.state.connection_lost(lost);
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
            if !link.is_connected() || !link.is_idle() {
                return;
            }
            let Some(encoded) = self.state.next_batch(cx) else {
                return;
            };
            self.send_encoded(encoded, cx);
        }
    }

    fn connected(&mut self, peer: SocketAddr, cx: &Context) {
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
        if let Link::Tcp(link) = &self.link {
            if let Some(local) = link.local_addr() {
                self.state.set_exporter_address(local.ip());
            }
        }
        let greeting = self.state.connected(cx);
        self.tcp_push_all(&greeting);
    }

    fn send_encoded(&mut self, encoded: Result<Vec<Outgoing>, NotEncoded>, cx: &Context) {
        match encoded {
            Ok(out) => match self.link {
                Link::Udp(_) => self.udp_send_all(&out, cx),
                Link::Tcp(_) => self.tcp_push_all(&out),
            },
            Err(NotEncoded { records, error }) => {
                log::error!("encoding {records} records for {}: {error}", self.spec);
            }
        }
    }

    fn tcp_push_all(&mut self, out: &[Outgoing]) {
        let Link::Tcp(link) = &mut self.link else {
            return;
        };
        for o in out {
            link.push(&o.message.bytes, o.flow_records);
            self.state.sent(o);
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
                    let max = udp.max_datagram;
                    if let Some(local) = udp.local_addr() {
                        self.state.set_exporter_address(local.ip());
                    }
                    self.fit_path_mtu(max);
                }
                true
            }
            Ok(false) => false,
            Err(e) => {
                self.state.send_error();
                self.warn_outage(cx.now, &e.to_string());
                false
            }
        }
    }

    /// Never a datagram over the path MTU: a larger `--mtu` is lowered to
    /// it, with a warning (not below the smallest MTU our messages fit).
    fn fit_path_mtu(&mut self, max_datagram: Option<usize>) {
        let Some(max) = max_datagram else {
            return;
        };
        let mtu = self.state.mtu().bytes();
        if max >= mtu {
            return;
        }
        let floor = crate::schema::min_mtu();
        let to = max.max(floor);
        match Mtu::new(to) {
            Ok(m) => {
                log::warn!(
                    "collector {}: --mtu {mtu} is more than the path carries in one datagram \
                     ({max} octets); sending messages of at most {to}{}",
                    self.spec,
                    if to > max {
                        " (the smallest our messages fit; they will be fragmented)"
                    } else {
                        ""
                    }
                );
                self.state.lower_mtu(m);
            }
            Err(e) => log::error!("collector {}: {e}", self.spec),
        }
    }

    fn udp_send_all(&mut self, out: &[Outgoing], cx: &Context) {
        for o in out {
            self.udp_send(o, cx);
        }
    }

    fn udp_send(&mut self, o: &Outgoing, cx: &Context) {
        let Link::Udp(udp) = &self.link else {
            return;
        };
        match udp.send(&o.message.bytes) {
            Ok(true) => {
                // An earlier datagram met an ICMP port unreachable.
                self.state.send_error();
                self.warn_outage(cx.now, "collector not listening (ICMP port unreachable)");
                self.state.sent(o);
            }
            Ok(false) => {
                self.state.sent(o);
                if let Some(since) = self.outage_since.take() {
                    log::warn!(
                        "collector {} accepts data again after {:.1} s",
                        self.spec,
                        cx.now.duration_since(since).as_secs_f64()
                    );
                }
            }
            Err(e) => {
                self.state.send_failed(o);
                self.warn_outage(cx.now, &e.to_string());
            }
        }
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
