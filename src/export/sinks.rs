//! The sinks a run writes its flow records to — JSON lines on stdout and
//! the IPFIX collectors — as its configuration asks, and again after a
//! reload ([`ExportSinks::reconfigure`]): a collector that stays keeps its
//! session, one that goes writes what it holds and closes, a new one
//! starts; JSON output starts or stops.

use std::io::Stdout;
use std::time::Instant;

use super::ipfix_sink::IpfixSink;
use crate::config::{ExportConfig, OutputFormat};
use crate::flow::record_sink::{CollectorStatus, RecordSink};
use crate::flow::{FlowRecord, IntervalSummary};
use crate::output::json::JsonLines;
use crate::sys::SystemClock;

pub struct ExportSinks {
    json: Option<JsonLines<Stdout>>,
    ipfix: Option<IpfixSink>,
    /// The domain when the configuration names none (a one-interface run's
    /// ifindex, else the host's).
    default_domain: u32,
    /// The latest boot time, for a collector sink a reload starts.
    boot_epoch_ms: u64,
}

impl ExportSinks {
    pub fn new(cfg: &ExportConfig, default_domain: u32, boot_epoch_ms: u64) -> Self {
        let mut sinks = ExportSinks {
            json: None,
            ipfix: None,
            default_domain,
            boot_epoch_ms,
        };
        sinks.reconfigure(cfg, Instant::now());
        sinks
    }

    /// The sinks `cfg` asks for from now on; sessions that end may write
    /// what they hold until `deadline`.
    pub fn reconfigure(&mut self, cfg: &ExportConfig, deadline: Instant) {
        let json = matches!(cfg.output, Some(OutputFormat::Json));
        if json != self.json.is_some() {
            self.json = json.then(|| JsonLines::new(std::io::stdout()));
        }
        let domain = cfg.observation_domain_id.unwrap_or(self.default_domain);
        match (&mut self.ipfix, cfg.collectors.is_empty()) {
            (Some(sink), false) => sink.retarget(cfg, domain, deadline),
            (Some(sink), true) => {
                sink.flush(deadline);
                self.ipfix = None;
            }
            (None, false) => {
                self.ipfix = Some(IpfixSink::new(
                    cfg,
                    domain,
                    self.boot_epoch_ms,
                    Box::new(SystemClock { kernel: cfg.clock }),
                    Box::new(crate::sys::interface_names),
                ));
            }
            (None, true) => {}
        }
    }

    fn each(&mut self) -> impl Iterator<Item = &mut dyn RecordSink> {
        let json = self.json.as_mut().map(|s| s as &mut dyn RecordSink);
        let ipfix = self.ipfix.as_mut().map(|s| s as &mut dyn RecordSink);
        json.into_iter().chain(ipfix)
    }
}

impl RecordSink for ExportSinks {
    fn records(&mut self, records: &[FlowRecord]) {
        self.each().for_each(|s| s.records(records));
    }

    fn summary(&mut self, summary: &IntervalSummary) {
        self.boot_epoch_ms = summary.boot_epoch_ms;
        self.each().for_each(|s| s.summary(summary));
    }

    fn end_of_interval(&mut self) {
        self.each().for_each(|s| s.end_of_interval());
    }

    fn poll(&mut self) {
        self.each().for_each(|s| s.poll());
    }

    fn next_poll(&self, now: Instant) -> Option<Instant> {
        self.ipfix.as_ref().and_then(|s| s.next_poll(now))
    }

    fn flush(&mut self, deadline: Instant) {
        self.each().for_each(|s| s.flush(deadline));
    }

    fn collectors(&self) -> Vec<CollectorStatus> {
        self.ipfix
            .as_ref()
            .map_or_else(Vec::new, |s| s.collectors())
    }
}
