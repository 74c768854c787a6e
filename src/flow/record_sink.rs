//! Where exported records go: the JSON output, the IPFIX exporter, or both.

use std::time::Instant;

use super::record::FlowRecord;
use super::stats::IntervalSummary;

/// Receives what the flow exporter exports. Implementations count and log their own
/// failures: a sink never stops the flow exporter.
pub trait RecordSink {
    fn records(&mut self, records: &[FlowRecord]);
    /// Called once per interval and direction, after its records, with what
    /// the interval read of the datapath.
    fn summary(&mut self, _summary: &IntervalSummary) {}
    /// Called after every direction exported its interval.
    fn end_of_interval(&mut self) {}
    /// Called between intervals, by [`Self::next_poll`]: progress
    /// connections and queues.
    fn poll(&mut self) {}
    /// When the sink next needs [`Self::poll`]; `None` while it has nothing
    /// in progress (the loop then sleeps until its own next deadline).
    fn next_poll(&self, _now: Instant) -> Option<Instant> {
        None
    }
    /// At shutdown, after the last records: finish writing, until `deadline`.
    fn flush(&mut self, _deadline: Instant) {}
    /// How each collector the sink sends to is doing (for the metrics).
    fn collectors(&self) -> Vec<CollectorStatus> {
        Vec::new()
    }
}

/// One collector's totals and state, as a sink reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectorStatus {
    /// As configured: `udp://HOST:PORT` or `tcp://HOST:PORT`.
    pub name: String,
    pub messages: u64,
    pub flow_records: u64,
    pub send_errors: u64,
    pub not_sent: u64,
    /// Resolved (UDP) or connected (TCP), and not in an outage.
    pub up: bool,
}
