//! The IPFIX exporting process as a [`RecordSink`]: every collector gets
//! every record, each in its own transport session; one failing collector
//! never holds up the others. A reload ([`IpfixSink::retarget`]) keeps the
//! sessions of the collectors that stay.

use std::time::{Duration, Instant};

use super::session::CollectorSession;
use super::state::Context;
use crate::config::ExportConfig;
use crate::endpoint::{Endpoint, Protocol};
use crate::flow::clock::Clock;
use crate::flow::record_sink::{CollectorStatus, RecordSink};
use crate::flow::{FlowRecord, FlowStats, IntervalSummary};
use crate::ipfix::Mtu;
use crate::schema::elements::sysuptime_anchor_ms;
use crate::schema::{InterfaceName, Sampling};

/// What a session is built with besides its collector: a reload keeps a
/// collector's session (its sequence numbers, its connection, its queue)
/// only while these stay the same.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SessionSettings {
    observation_domain_id: u32,
    mtu: Mtu,
    template_refresh: Duration,
    tcp_queue_records: usize,
    tcp_reconnect: Duration,
    sysuptime_elements: bool,
    sampling: Sampling,
}

impl SessionSettings {
    fn of(cfg: &ExportConfig, observation_domain_id: u32) -> Self {
        SessionSettings {
            observation_domain_id,
            mtu: cfg.mtu,
            template_refresh: cfg.template_refresh,
            tcp_queue_records: cfg.tcp_queue_records,
            tcp_reconnect: cfg.tcp_reconnect,
            sysuptime_elements: cfg.sysuptime_elements,
            sampling: cfg.sampling,
        }
    }
}

/// Reads the interfaces to name (template 286) once per interval.
pub type InterfaceTable = Box<dyn FnMut() -> Vec<InterfaceName>>;

pub struct IpfixSink {
    pub sessions: Vec<CollectorSession>,
    clock: Box<dyn Clock>,
    interfaces: InterfaceTable,
    boot_epoch_ms: u64,
    stats: [FlowStats; 2],
    settings: SessionSettings,
    /// The TLS the `tls://` sessions were made with: a reload reads the
    /// files again, so those sessions start again with what they hold now
    /// (a renewed certificate).
    tls: Option<crate::tls::ClientTls>,
}

impl IpfixSink {
    /// A session per collector of `cfg`, in `observation_domain_id`.
    pub fn new(
        cfg: &ExportConfig,
        observation_domain_id: u32,
        boot_epoch_ms: u64,
        clock: Box<dyn Clock>,
        interfaces: InterfaceTable,
    ) -> Self {
        let mut sink = IpfixSink {
            clock,
            interfaces,
            sessions: cfg
                .collectors
                .iter()
                .map(|c| CollectorSession::new(c.clone(), observation_domain_id, cfg))
                .collect(),
            boot_epoch_ms,
            stats: [FlowStats::default(); 2],
            settings: SessionSettings::of(cfg, observation_domain_id),
            tls: cfg.tls.clone(),
        };
        sink.read_interfaces();
        sink
    }

    /// A reload: the collectors of `cfg` from now on. A collector that
    /// stays keeps its session when the session settings did not change
    /// (a `tls://` one never does: its certificate files were read again);
    /// every other session writes what it holds and closes (bounded by
    /// `deadline`, the rest counted as not sent), and new ones start.
    pub fn retarget(&mut self, cfg: &ExportConfig, observation_domain_id: u32, deadline: Instant) {
        let settings = SessionSettings::of(cfg, observation_domain_id);
        let same = settings == self.settings;
        let same_tls = cfg.tls == self.tls;
        let (mut kept, retired): (Vec<_>, Vec<_>) = std::mem::take(&mut self.sessions)
            .into_iter()
            .partition(|s| {
                same && cfg.collectors.contains(&s.spec)
                    && (s.spec.protocol != Protocol::Tls || same_tls)
            });
        for s in &retired {
            log::info!("collector {}: closing (reload)", s.spec);
        }
        self.sessions = retired;
        self.drain(deadline);
        self.settings = settings;
        self.tls = cfg.tls.clone();
        self.sessions = cfg
            .collectors
            .iter()
            .map(|c| {
                take_session(&mut kept, c).unwrap_or_else(|| {
                    log::info!("collector {c}: starting (reload)");
                    CollectorSession::new(c.clone(), observation_domain_id, cfg)
                })
            })
            .collect();
        self.read_interfaces();
    }

    fn read_interfaces(&mut self) {
        let table = (self.interfaces)();
        for s in &mut self.sessions {
            s.set_interfaces(&table);
        }
    }

    fn context(&self) -> Context {
        let now_ms = self.clock.epoch_ms();
        let ignored = |f: fn(&FlowStats) -> u64| self.stats.iter().map(f).sum();
        Context {
            now: self.clock.now(),
            export_time_secs: u32::try_from(now_ms / 1000).unwrap_or(u32::MAX),
            system_init_ms: sysuptime_anchor_ms(self.boot_epoch_ms, now_ms),
            ignored_packets: ignored(FlowStats::ignored_packets),
            ignored_octets: ignored(FlowStats::ignored_octets),
        }
    }

    /// Waits (bounded by `deadline`) until every TCP session has written its
    /// queue; what is left is counted as not sent.
    fn drain(&mut self, deadline: Instant) {
        while self.clock.now() < deadline && self.sessions.iter().any(|s| !s.is_drained()) {
            self.poll();
            std::thread::sleep(Duration::from_millis(5));
        }
        let cx = self.context();
        for s in &mut self.sessions {
            s.close(&cx, deadline);
        }
        for s in &mut self.sessions {
            let left = s.abandon_pending();
            if left > 0 {
                log::warn!("collector {}: {left} records not sent when closing", s.spec);
            }
            log::info!("collector {}: {}", s.spec, s.stats());
        }
    }
}

/// The session of `spec` out of `sessions`, if there is one.
fn take_session(sessions: &mut Vec<CollectorSession>, spec: &Endpoint) -> Option<CollectorSession> {
    let i = sessions.iter().position(|s| &s.spec == spec)?;
    Some(sessions.remove(i))
}

impl RecordSink for IpfixSink {
    fn collectors(&self) -> Vec<CollectorStatus> {
        self.sessions
            .iter()
            .map(|s| {
                let st = s.stats();
                CollectorStatus {
                    name: s.spec.to_string(),
                    messages: st.messages,
                    flow_records: st.flow_records,
                    send_errors: st.send_errors,
                    not_sent: st.not_sent,
                    up: s.is_up(),
                }
            })
            .collect()
    }

    fn records(&mut self, records: &[FlowRecord]) {
        let cx = self.context();
        for s in &mut self.sessions {
            s.export(records, &cx);
        }
    }

    fn summary(&mut self, summary: &IntervalSummary) {
        self.stats[summary.direction as usize] = summary.totals;
        self.boot_epoch_ms = summary.boot_epoch_ms;
    }

    fn end_of_interval(&mut self) {
        self.read_interfaces();
        let cx = self.context();
        for s in &mut self.sessions {
            s.export_options(&cx);
        }
    }

    fn poll(&mut self) {
        let cx = self.context();
        for s in &mut self.sessions {
            s.poll(&cx);
        }
    }

    fn next_poll(&self, now: Instant) -> Option<Instant> {
        self.sessions.iter().filter_map(|s| s.next_poll(now)).min()
    }

    fn flush(&mut self, deadline: Instant) {
        self.drain(deadline);
    }
}
