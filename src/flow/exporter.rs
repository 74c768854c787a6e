//! One direction's export cycle: retire the active map, drain it, turn the
//! entries into records, hand them to the sink.

use std::time::Duration;

use anyhow::Result;

use super::clock::{Clock, TimeBase};
use super::expiry::{end_reason, IntervalFacts};
use super::flow_source::FlowSource;
use super::ids::{FlowIds, IdAllocator};
use super::lost::LostFlows;
use super::record::{Direction, FlowEndReason, FlowRecord};
use super::record_sink::RecordSink;
use super::stats::{FlowStats, IntervalSummary};
use crate::abi::{FlowKey, FlowValue};

/// What one interval did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IntervalReport {
    pub records: u64,
    pub packets: u64,
    pub octets: u64,
    /// The datapath totals the interval read (once), as the sinks got them.
    pub totals: FlowStats,
}

pub struct FlowExporter<S> {
    source: S,
    direction: Direction,
    idle_timeout: Duration,
    ids: FlowIds,
    /// Flows that lost packets to a full table, until their next record.
    lost: LostFlows,
    /// Entries drained per chunk: a few IPFIX messages' worth, so that a
    /// crash can lose at most the chunk being exported.
    chunk: usize,
    last_table_full: u64,
    /// Packets refused since the last table-full warning, and when it was.
    unwarned_refused: u64,
    last_full_warning: Option<std::time::Instant>,
    records: Vec<FlowRecord>,
    /// Interfaces that went away since the last interval.
    gone: Vec<u32>,
}

pub struct ExporterConfig {
    pub direction: Direction,
    pub idle_timeout: Duration,
    /// Shared by every exporter of the run.
    pub ids: IdAllocator,
    /// Bound on remembered flow ids (see [`FlowIds`]).
    pub max_known_flows: usize,
    pub chunk: usize,
}

impl<S: FlowSource> FlowExporter<S> {
    pub fn new(source: S, cfg: &ExporterConfig) -> Self {
        let idle_ns = u64::try_from(cfg.idle_timeout.as_nanos()).unwrap_or(u64::MAX);
        FlowExporter {
            last_table_full: source.initial_stats().table_full_packets,
            source,
            direction: cfg.direction,
            idle_timeout: cfg.idle_timeout,
            ids: FlowIds::new(cfg.ids.clone(), idle_ns, cfg.max_known_flows),
            lost: LostFlows::new(idle_ns),
            chunk: cfg.chunk.max(1),
            unwarned_refused: 0,
            last_full_warning: None,
            records: Vec::new(),
            gone: Vec::new(),
        }
    }

    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// Interfaces (by index) that went away: the next interval exports the
    /// last of their flows as "forced end" and forgets their flowIds.
    pub fn interfaces_gone(&mut self, ifindexes: &[u32]) {
        self.gone.extend_from_slice(ifindexes);
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
        self.export_retired(clock, shutting_down, true, sink)
    }

    /// At startup: exports what a predecessor left in the inactive map.
    pub fn drain_leftovers(
        &mut self,
        clock: &dyn Clock,
        sink: &mut dyn RecordSink,
    ) -> Result<IntervalReport> {
        self.source.adopt_inactive()?;
        self.export_retired(clock, false, false, sink)
    }

    /// Exports the retired map. `was_active`: it is the map just retired,
    /// so packets refused since the last retirement were refused while it
    /// was the active one (counted from the totals when the maps were
    /// opened; pinned maps may hold a predecessor's). The inactive map
    /// drained at startup is not: its overflow, if any, is unknown.
    fn export_retired(
        &mut self,
        clock: &dyn Clock,
        shutting_down: bool,
        was_active: bool,
        sink: &mut dyn RecordSink,
    ) -> Result<IntervalReport> {
        let stats = self.source.stats()?;
        let mut overflowed = false;
        if was_active {
            let refused = stats.table_full_packets.wrapping_sub(self.last_table_full);
            overflowed = refused > 0;
            self.last_table_full = stats.table_full_packets;
            if overflowed {
                self.warn_table_full(refused, &stats);
            }
        }

        let time = TimeBase::sample(clock);
        let facts = IntervalFacts {
            now_kernel_ns: clock.kernel_ns(),
            forced_end: shutting_down,
        };
        // Interfaces that went away before this map was retired: it holds
        // the last of their flows.
        let gone = if was_active {
            std::mem::take(&mut self.gone)
        } else {
            Vec::new()
        };
        // Flows that lost packets while the retired map was active have no
        // entry in it: their next records (from later maps) say so.
        let refused = self.source.take_refused()?;
        let newly_lost = refused.len();
        self.lost.expire(facts.now_kernel_ns);
        let mut report = IntervalReport::default();
        let FlowExporter {
            source,
            direction,
            idle_timeout,
            ids,
            lost,
            chunk,
            records,
            ..
        } = self;
        source.drain_retired(*chunk, &mut |entries| {
            records.clear();
            for (key, value) in entries {
                let facts = IntervalFacts {
                    forced_end: facts.forced_end || gone.contains(&key.ifindex),
                    ..facts
                };
                let reason = end_reason(value, &facts, *idle_timeout, lost.take(key));
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
        self.ids.expire(facts.now_kernel_ns);
        self.ids.forget_interfaces(&gone);
        self.lost.note(refused, facts.now_kernel_ns);
        if overflowed || newly_lost > 0 {
            log::debug!(
                "{}: {newly_lost} flows lost packets to the full table; {} await their next record",
                self.direction.as_str(),
                self.lost.len()
            );
        }
        report.totals = stats;
        sink.summary(&IntervalSummary {
            direction: self.direction,
            totals: stats,
            boot_epoch_ms: time.boot_epoch_ms(),
        });
        Ok(report)
    }
}

impl<S> FlowExporter<S> {
    /// A flow table overflow is never silent, but a sustained one logs once
    /// a minute with what accumulated since.
    fn warn_table_full(&mut self, refused: u64, stats: &FlowStats) {
        self.unwarned_refused += refused;
        let due = self
            .last_full_warning
            .is_none_or(|t| t.elapsed() >= TABLE_FULL_WARN_EVERY);
        if due {
            log::warn!(
                "{}: flow table full: {} packets not metered since the last warning \
                 ({} packets, {} octets in total); they pass untouched and are exported \
                 as ignoredPacketTotalCount — raise --max-flows or shorten --active-timeout",
                self.direction.as_str(),
                self.unwarned_refused,
                stats.table_full_packets,
                stats.table_full_octets
            );
            self.unwarned_refused = 0;
            self.last_full_warning = Some(std::time::Instant::now());
        }
    }
}

/// How often a sustained table overflow is logged.
const TABLE_FULL_WARN_EVERY: Duration = Duration::from_secs(60);

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
        vlan_id: key.vlan_id,
        inner_vlan_id: key.inner_vlan_id,
        src_mac: value.src_mac,
        dst_mac: value.dst_mac,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::clock::fake::FakeClock;
    use crate::flow::flow_source::FlowEntry;

    const SEC: u64 = 1_000_000_000;

    /// Two maps and a selector, as the kernel has them.
    #[derive(Default)]
    struct FakeSource {
        maps: [Vec<FlowEntry>; 2],
        active: usize,
        retired: Option<usize>,
        stats: FlowStats,
        refused: Vec<FlowKey>,
    }

    impl FlowSource for FakeSource {
        fn retire_active(&mut self) -> Result<()> {
            self.retired = Some(self.active);
            self.active ^= 1;
            Ok(())
        }

        fn adopt_inactive(&mut self) -> Result<()> {
            self.retired = Some(self.active ^ 1);
            Ok(())
        }

        fn drain_retired(
            &mut self,
            chunk: usize,
            sink: &mut dyn FnMut(&[FlowEntry]),
        ) -> Result<u64> {
            let Some(i) = self.retired.take() else {
                return Ok(0);
            };
            let all = std::mem::take(&mut self.maps[i]);
            for c in all.chunks(chunk) {
                sink(c);
            }
            Ok(all.len() as u64)
        }

        fn take_refused(&mut self) -> Result<Vec<FlowKey>> {
            Ok(std::mem::take(&mut self.refused))
        }

        fn stats(&mut self) -> Result<FlowStats> {
            Ok(self.stats)
        }

        fn initial_stats(&self) -> FlowStats {
            self.stats
        }
    }

    #[derive(Default)]
    struct Collect {
        calls: usize,
        records: Vec<FlowRecord>,
    }

    impl RecordSink for Collect {
        fn records(&mut self, records: &[FlowRecord]) {
            self.calls += 1;
            self.records.extend_from_slice(records);
        }
    }

    fn entry(port: u16, packets: u64, first: u64, last: u64, flags: u16) -> FlowEntry {
        let key = FlowKey::from_tuple(
            "192.0.2.1".parse().unwrap(),
            "198.51.100.1".parse().unwrap(),
            17,
            port,
            53,
        );
        let value = FlowValue {
            packets,
            octets: packets * 100,
            first_seen_ns: first,
            last_seen_ns: last,
            tcp_flags: u32::from(flags),
            ttl_min: 60,
            ttl_max: 64,
            ..FlowValue::default()
        };
        (key, value)
    }

    fn exporter(chunk: usize) -> FlowExporter<FakeSource> {
        exporter_over(FakeSource::default(), chunk)
    }

    fn exporter_over(source: FakeSource, chunk: usize) -> FlowExporter<FakeSource> {
        FlowExporter::new(
            source,
            &ExporterConfig {
                direction: Direction::Egress,
                idle_timeout: Duration::from_secs(30),
                ids: IdAllocator::new(7),
                max_known_flows: 100,
                chunk,
            },
        )
    }

    #[test]
    fn each_interval_exports_the_retired_map_whole_in_chunks() {
        let clock = FakeClock::new(1_700_000_000 * SEC);
        clock.advance_ns(10 * SEC);
        let mut m = exporter(2);
        m.source_mut().maps[0] = (1..=5).map(|p| entry(p, 3, 9 * SEC, 10 * SEC, 0)).collect();
        m.source_mut().maps[1] = vec![entry(9, 1, 9 * SEC, 10 * SEC, 0)];
        let mut sink = Collect::default();
        let r = m.interval(&clock, false, &mut sink).unwrap();
        assert_eq!((r.records, r.packets, r.octets), (5, 15, 1500));
        assert_eq!(sink.calls, 3, "chunks of 2");
        assert!(m.source_mut().maps[0].is_empty());
        assert_eq!(
            m.source_mut().maps[1].len(),
            1,
            "the active map is untouched"
        );
        let rec = &sink.records[0];
        assert_eq!(rec.start_ms, 1_700_000_009_000);
        assert_eq!(rec.end_ms, 1_700_000_010_000);
        assert_eq!(rec.egress_ifindex, 0);
        assert_eq!(rec.end_reason, FlowEndReason::ActiveTimeout);
    }

    #[test]
    fn flows_of_an_interface_that_went_away_end_forced_once() {
        let clock = FakeClock::new(0);
        let mut m = exporter(64);
        let mut sink = Collect::default();
        let on = |ifindex: u32, port: u16| {
            let (mut k, v) = entry(port, 1, SEC, 2 * SEC, 0);
            k.ifindex = ifindex;
            (k, v)
        };
        clock.advance_ns(2 * SEC);
        m.source_mut().maps[0] = vec![on(7, 1), on(8, 2)];
        m.interfaces_gone(&[7]);
        m.interval(&clock, false, &mut sink).unwrap();
        let reasons: Vec<(u32, FlowEndReason)> = sink
            .records
            .iter()
            .map(|r| (r.egress_ifindex, r.end_reason))
            .collect();
        assert_eq!(
            reasons,
            [
                (7, FlowEndReason::ForcedEnd),
                (8, FlowEndReason::ActiveTimeout)
            ]
        );
        // Only the interval after the departure: an interface of that index
        // metered again later is a new interface's.
        clock.advance_ns(2 * SEC);
        m.source_mut().maps[1] = vec![on(7, 1)];
        m.interval(&clock, false, &mut sink).unwrap();
        assert_eq!(sink.records[2].end_reason, FlowEndReason::ActiveTimeout);
        assert_ne!(
            sink.records[2].flow_id, sink.records[0].flow_id,
            "the forced end forgot the flow's id"
        );
        assert_eq!(m.ids.len(), 2, "7's new flow and 8's");
    }

    #[test]
    fn a_flow_keeps_its_id_across_intervals_until_it_ends() {
        let clock = FakeClock::new(0);
        let mut m = exporter(64);
        let mut sink = Collect::default();
        clock.advance_ns(2 * SEC);
        m.source_mut().maps[0] = vec![entry(1, 1, SEC, 2 * SEC, 0x02)];
        m.interval(&clock, false, &mut sink).unwrap();
        clock.advance_ns(2 * SEC);
        m.source_mut().maps[1] = vec![entry(1, 1, 3 * SEC, 4 * SEC, 0x11)];
        m.interval(&clock, false, &mut sink).unwrap();
        clock.advance_ns(2 * SEC);
        m.source_mut().maps[0] = vec![entry(1, 1, 5 * SEC, 6 * SEC, 0x02)];
        m.interval(&clock, false, &mut sink).unwrap();
        let ids: Vec<u64> = sink.records.iter().map(|r| r.flow_id).collect();
        assert_eq!(ids[0], ids[1], "same flow, next interval");
        assert_eq!(sink.records[1].end_reason, FlowEndReason::EndOfFlow);
        assert_ne!(ids[1], ids[2], "after FIN a new flow starts");
        assert_eq!(
            ids[0] >> crate::flow::ids::RUN_SHIFT,
            7,
            "run start in the high bits"
        );
    }

    /// The end reason of flow `port`'s first record from `from` on.
    fn reason_of(sink: &Collect, port: u16, from: usize) -> Option<FlowEndReason> {
        sink.records[from..]
            .iter()
            .find(|r| r.src_port == port)
            .map(|r| r.end_reason)
    }

    #[test]
    fn lack_of_resources_marks_only_the_next_record_of_each_flow_that_lost_packets() {
        let clock = FakeClock::new(0);
        let mut m = exporter(64);
        let mut sink = Collect::default();
        let lost_key = entry(2, 1, 0, 0, 0).0;
        // Interval 1: flow 1 metered whole, flow 2 refused by a full table.
        let active = m.source_mut().active;
        m.source_mut().maps[active] = vec![entry(1, 1, 0, 0, 0)];
        m.source_mut().refused = vec![lost_key];
        m.interval(&clock, false, &mut sink).unwrap();
        assert_eq!(sink.records[0].end_reason, FlowEndReason::ActiveTimeout);
        // Interval 2: both have room; flow 2's record says it lost packets.
        let active = m.source_mut().active;
        m.source_mut().maps[active] = vec![entry(1, 1, 0, 0, 0), entry(2, 1, 0, 0, 0)];
        m.interval(&clock, false, &mut sink).unwrap();

        assert_eq!(reason_of(&sink, 1, 1), Some(FlowEndReason::ActiveTimeout));
        assert_eq!(reason_of(&sink, 2, 1), Some(FlowEndReason::LackOfResources));
        // Interval 3: once only.
        let active = m.source_mut().active;
        m.source_mut().maps[active] = vec![entry(2, 1, 0, 0, 0)];
        m.interval(&clock, false, &mut sink).unwrap();
        assert_eq!(reason_of(&sink, 2, 3), Some(FlowEndReason::ActiveTimeout));
    }

    #[test]
    fn a_loss_is_forgotten_after_the_idle_timeout() {
        let clock = FakeClock::new(0);
        let mut m = exporter(64);
        let mut sink = Collect::default();
        m.source_mut().refused = vec![entry(2, 1, 0, 0, 0).0];
        m.interval(&clock, false, &mut sink).unwrap();
        clock.advance_ns(31 * SEC);
        let now = 31 * SEC;
        let active = m.source_mut().active;
        m.source_mut().maps[active] = vec![entry(2, 1, now, now, 0)];
        m.interval(&clock, false, &mut sink).unwrap();
        assert_eq!(sink.records[0].end_reason, FlowEndReason::ActiveTimeout);
    }

    #[test]
    fn shutdown_forces_the_end() {
        let clock = FakeClock::new(0);
        let mut m = exporter(64);
        let mut sink = Collect::default();
        m.source_mut().maps[0] = vec![entry(1, 1, 0, 0, 0)];
        m.interval(&clock, true, &mut sink).unwrap();
        assert_eq!(sink.records[0].end_reason, FlowEndReason::ForcedEnd);
    }
}
