//! One direction's export cycle: retire the active map, drain it, turn the
//! entries into records, hand them to the sink.

use std::time::Duration;

use anyhow::Result;

use super::clock::{Clock, TimeBase};
use super::expiry::{end_reason, IntervalFacts};
use super::ids::{FlowIds, IdAllocator};
use super::record::{Direction, FlowEndReason, FlowRecord};
use super::sink::RecordSink;
use super::source::FlowSource;
use crate::datapath::abi::{FlowKey, FlowValue};

/// What one interval did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IntervalReport {
    pub records: u64,
    pub packets: u64,
    pub octets: u64,
}

pub struct Meter<S> {
    source: S,
    direction: Direction,
    idle_timeout: Duration,
    ids: FlowIds,
    /// Entries drained per chunk: about one IPFIX message worth, so that a
    /// crash can lose at most the chunk being exported.
    chunk: usize,
    last_table_full: Option<u64>,
    records: Vec<FlowRecord>,
}

pub struct MeterConfig {
    pub direction: Direction,
    pub idle_timeout: Duration,
    /// Shared by every meter of the run.
    pub ids: IdAllocator,
    /// Bound on remembered flow ids (see [`FlowIds`]).
    pub max_known_flows: usize,
    pub chunk: usize,
}

impl<S: FlowSource> Meter<S> {
    pub fn new(source: S, cfg: &MeterConfig) -> Self {
        let idle_ns = u64::try_from(cfg.idle_timeout.as_nanos()).unwrap_or(u64::MAX);
        Meter {
            source,
            direction: cfg.direction,
            idle_timeout: cfg.idle_timeout,
            ids: FlowIds::new(cfg.ids.clone(), idle_ns, cfg.max_known_flows),
            chunk: cfg.chunk.max(1),
            last_table_full: None,
            records: Vec::new(),
        }
    }

    pub fn direction(&self) -> Direction {
        self.direction
    }

    pub fn source_mut(&mut self) -> &mut S {
        &mut self.source
    }

    /// One export interval: retire the active map and export all of it.
    /// With `shutting_down`, open flows end as "forced end".
    pub fn interval(
        &mut self,
        clock: &dyn Clock,
        shutting_down: bool,
        sink: &mut dyn RecordSink,
    ) -> Result<IntervalReport> {
        self.source.retire_active()?;
        self.export_retired(clock, shutting_down, sink)
    }

    /// At startup: exports what a predecessor left in the inactive map.
    pub fn drain_leftovers(
        &mut self,
        clock: &dyn Clock,
        sink: &mut dyn RecordSink,
    ) -> Result<IntervalReport> {
        self.source.adopt_inactive()?;
        self.export_retired(clock, false, sink)
    }

    fn export_retired(
        &mut self,
        clock: &dyn Clock,
        shutting_down: bool,
        sink: &mut dyn RecordSink,
    ) -> Result<IntervalReport> {
        let stats = self.source.stats()?;
        let overflowed = self
            .last_table_full
            .is_some_and(|prev| stats.table_full_packets > prev);
        self.last_table_full = Some(stats.table_full_packets);

        let time = TimeBase::sample(clock);
        let facts = IntervalFacts {
            now_boot_ns: clock.boot_ns(),
            shutting_down,
            table_overflowed: overflowed,
        };
        let mut report = IntervalReport::default();
        let Meter {
            source,
            direction,
            idle_timeout,
            ids,
            chunk,
            records,
            ..
        } = self;
        source.drain_retired(*chunk, &mut |entries| {
            records.clear();
            for (key, value) in entries {
                let reason = end_reason(value, &facts, *idle_timeout);
                let flow_id = ids.assign(key, value.first_seen_ns, value.last_seen_ns);
                if matches!(reason, FlowEndReason::EndOfFlow | FlowEndReason::ForcedEnd) {
                    ids.forget(key);
                }
                match to_record(key, value, *direction, &time, reason, flow_id) {
                    Some(r) => {
                        report.records += 1;
                        report.packets += r.packets;
                        report.octets += r.octets;
                        records.push(r);
                    }
                    None => log::error!("dropping flow entry with a corrupt key: {key:?}"),
                }
            }
            sink.records(records);
        })?;
        self.ids.expire(facts.now_boot_ns);
        sink.stats(self.direction, &stats, time.boot_epoch_ms());
        Ok(report)
    }
}

/// Kernel entry to record. `None` only for a key with an unknown IP version,
/// which the program never writes.
pub fn to_record(
    key: &FlowKey,
    value: &FlowValue,
    direction: Direction,
    time: &TimeBase,
    end_reason: FlowEndReason,
    flow_id: u64,
) -> Option<FlowRecord> {
    let (ingress_ifindex, egress_ifindex) = match direction {
        Direction::Ingress => (key.ifindex, 0),
        Direction::Egress => (value.peer_ifindex, key.ifindex),
    };
    Some(FlowRecord {
        src_addr: key.src_ip().ok()?,
        dst_addr: key.dst_ip().ok()?,
        src_port: key.src_port,
        dst_port: key.dst_port,
        protocol: key.protocol,
        icmp_type: key.icmp_type,
        icmp_code: key.icmp_code,
        direction,
        ingress_ifindex,
        egress_ifindex,
        packets: value.packets,
        octets: value.octets,
        tcp_flags: (value.tcp_flags & 0x1ff) as u16,
        ttl_min: u8::try_from(value.ttl_min).unwrap_or(u8::MAX),
        ttl_max: u8::try_from(value.ttl_max).unwrap_or(u8::MAX),
        tos: value.tos,
        start_ms: time.epoch_ms(value.first_seen_ns),
        end_ms: time.epoch_ms(value.last_seen_ns),
        end_reason,
        flow_id,
    })
}
