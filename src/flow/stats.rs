//! The datapath's totals: its per-CPU statistics summed over CPUs, and
//! what one interval hands every sink.

use super::record::Direction;
use crate::abi::FlowStat;

/// Totals of the per-CPU statistics, summed over CPUs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowStats {
    pub packets: u64,
    pub non_ip: u64,
    pub parse_failed: u64,
    pub table_full_packets: u64,
    pub table_full_octets: u64,
    pub sampled_out: u64,
}

impl FlowStats {
    pub fn get(&self, stat: FlowStat) -> u64 {
        match stat {
            FlowStat::Packets => self.packets,
            FlowStat::NonIp => self.non_ip,
            FlowStat::ParseFailed => self.parse_failed,
            FlowStat::TableFullPackets => self.table_full_packets,
            FlowStat::TableFullOctets => self.table_full_octets,
            FlowStat::SampledOut => self.sampled_out,
        }
    }

    pub fn add(&mut self, stat: FlowStat, n: u64) {
        let slot = match stat {
            FlowStat::Packets => &mut self.packets,
            FlowStat::NonIp => &mut self.non_ip,
            FlowStat::ParseFailed => &mut self.parse_failed,
            FlowStat::TableFullPackets => &mut self.table_full_packets,
            FlowStat::TableFullOctets => &mut self.table_full_octets,
            FlowStat::SampledOut => &mut self.sampled_out,
        };
        *slot = slot.wrapping_add(n);
    }
}

/// What an interval read of the datapath, read once and handed to every
/// sink (IPFIX statistics) and to the monitor maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntervalSummary {
    pub direction: Direction,
    /// Totals since the maps were created.
    pub totals: FlowStats,
    /// When the system booted, ms since the epoch, as sampled this
    /// interval.
    pub boot_epoch_ms: u64,
}
