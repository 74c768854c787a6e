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

    /// `ignoredPacketTotalCount` (RFC 7011 §4.2: observed packets the
    /// metering process did not process): packets refused by a full
    /// table and frames that failed to parse (malformed or truncated IP,
    /// too many VLAN tags). Not non-IP frames: they are not IP packets.
    pub fn ignored_packets(&self) -> u64 {
        self.table_full_packets.wrapping_add(self.parse_failed)
    }

    /// `ignoredOctetTotalCount`: the IP octets of the table-full packets. A
    /// packet that failed to parse has no IP length to trust, so its
    /// octets are not counted here.
    pub fn ignored_octets(&self) -> u64 {
        self.table_full_octets
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignored_is_table_full_and_parse_failed_never_non_ip_or_sampled() {
        let s = FlowStats {
            packets: 100,
            non_ip: 5,
            parse_failed: 3,
            table_full_packets: 7,
            table_full_octets: 700,
            sampled_out: 11,
        };
        assert_eq!(s.ignored_packets(), 10);
        assert_eq!(s.ignored_octets(), 700);
    }
}
