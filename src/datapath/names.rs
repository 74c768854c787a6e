//! Names shared by the BPF objects, the pins and the l3afd payload.
//!
//! Map names = pin file names = these constants. `tests/object_rules.rs`
//! checks them against the built objects, `l3af/` payloads use them too.

use crate::flow::Direction;

/// Every map of one object, by its job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MapRole {
    /// One-slot prog array: the next program in the chain.
    JmpTable,
    /// IPv4 flows (compact key), written while the selector says 0.
    Flows4_0,
    Flows4_1,
    /// IPv6 flows (full key), written while the selector says 0.
    Flows6_0,
    Flows6_1,
    /// One entry, bit 0 names the flow map the program writes into.
    Selector,
    Config,
    /// Per-CPU statistics array (`enum flow_stat`).
    Stats,
    /// LRU hash: keys of flows that lost packets to a full flow map.
    RefusedFlows,
    /// Monitor maps: one u64 total at key 0, for l3afd's `monitor_maps`.
    MonitorPackets,
    MonitorNonIp,
    MonitorParseFailed,
    MonitorTableFullPackets,
    MonitorTableFullOctets,
}

impl MapRole {
    pub const ALL: [MapRole; 14] = [
        MapRole::JmpTable,
        MapRole::Flows4_0,
        MapRole::Flows4_1,
        MapRole::Flows6_0,
        MapRole::Flows6_1,
        MapRole::Selector,
        MapRole::Config,
        MapRole::Stats,
        MapRole::RefusedFlows,
        MapRole::MonitorPackets,
        MapRole::MonitorNonIp,
        MapRole::MonitorParseFailed,
        MapRole::MonitorTableFullPackets,
        MapRole::MonitorTableFullOctets,
    ];

    /// The monitor maps, in the order of the counters they publish.
    pub const MONITORS: [MapRole; 5] = [
        MapRole::MonitorPackets,
        MapRole::MonitorNonIp,
        MapRole::MonitorParseFailed,
        MapRole::MonitorTableFullPackets,
        MapRole::MonitorTableFullOctets,
    ];

    /// The flow maps: IPv4 and IPv6, for each selector value.
    pub const FLOWS: [MapRole; 4] = [
        MapRole::Flows4_0,
        MapRole::Flows4_1,
        MapRole::Flows6_0,
        MapRole::Flows6_1,
    ];

    /// True for the maps keyed by `struct flow_key4`.
    pub fn is_ipv4_flows(self) -> bool {
        matches!(self, MapRole::Flows4_0 | MapRole::Flows4_1)
    }

    /// Names of maps earlier builds pinned and this one does not have, by
    /// job (`ipfix_<dir>_<job>`): ABI 3's flow maps held every flow under
    /// another key layout, in maps of the same shape as the IPv6 ones.
    pub const RETIRED_JOBS: [&'static str; 2] = ["flows_0", "flows_1"];

    /// Map (and pin file) name in the object of `dir`: `ipfix_<dir>_<job>`,
    /// spelled out in full as in the BPF source and the payload.
    pub fn map_name(self, dir: Direction) -> &'static str {
        use Direction::{Egress, Ingress};
        use MapRole::*;
        match (self, dir) {
            (JmpTable, Ingress) => "ipfix_ingress_jmp_table",
            (JmpTable, Egress) => "ipfix_egress_jmp_table",
            (Flows4_0, Ingress) => "ipfix_ingress_flows4_0",
            (Flows4_0, Egress) => "ipfix_egress_flows4_0",
            (Flows4_1, Ingress) => "ipfix_ingress_flows4_1",
            (Flows4_1, Egress) => "ipfix_egress_flows4_1",
            (Flows6_0, Ingress) => "ipfix_ingress_flows6_0",
            (Flows6_0, Egress) => "ipfix_egress_flows6_0",
            (Flows6_1, Ingress) => "ipfix_ingress_flows6_1",
            (Flows6_1, Egress) => "ipfix_egress_flows6_1",
            (Selector, Ingress) => "ipfix_ingress_selector",
            (Selector, Egress) => "ipfix_egress_selector",
            (Config, Ingress) => "ipfix_ingress_config",
            (Config, Egress) => "ipfix_egress_config",
            (Stats, Ingress) => "ipfix_ingress_stats",
            (Stats, Egress) => "ipfix_egress_stats",
            (RefusedFlows, Ingress) => "ipfix_ingress_refused_flows",
            (RefusedFlows, Egress) => "ipfix_egress_refused_flows",
            (MonitorPackets, Ingress) => "ipfix_ingress_packets",
            (MonitorPackets, Egress) => "ipfix_egress_packets",
            (MonitorNonIp, Ingress) => "ipfix_ingress_non_ip",
            (MonitorNonIp, Egress) => "ipfix_egress_non_ip",
            (MonitorParseFailed, Ingress) => "ipfix_ingress_parse_failed",
            (MonitorParseFailed, Egress) => "ipfix_egress_parse_failed",
            (MonitorTableFullPackets, Ingress) => "ipfix_ingress_table_full_packets",
            (MonitorTableFullPackets, Egress) => "ipfix_egress_table_full_packets",
            (MonitorTableFullOctets, Ingress) => "ipfix_ingress_table_full_octets",
            (MonitorTableFullOctets, Egress) => "ipfix_egress_table_full_octets",
        }
    }
}

/// Entry function (program) name: `_ingress_flow_monitoring`.
pub fn entry_function(dir: Direction) -> String {
    format!("_{}_flow_monitoring", dir.as_str())
}

/// The kernel keeps 15 characters of a program name (BPF_OBJ_NAME_LEN - 1).
pub fn kernel_prog_name(dir: Direction) -> String {
    entry_function(dir).chars().take(15).collect()
}

/// Object file name in the artifact: `bpf_ipfix_ingress.bpf.o`.
pub fn object_file(dir: Direction) -> String {
    format!("bpf_ipfix_{}.bpf.o", dir.as_str())
}

/// Binary name in the artifact: `bpf_ipfix_ingress`. The name the daemon is
/// started under fixes its direction.
pub fn artifact_binary(dir: Direction) -> String {
    format!("bpf_ipfix_{}", dir.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_the_c_package() {
        assert_eq!(
            MapRole::JmpTable.map_name(Direction::Ingress),
            "ipfix_ingress_jmp_table"
        );
        assert_eq!(
            MapRole::JmpTable.map_name(Direction::Egress),
            "ipfix_egress_jmp_table"
        );
        assert_eq!(entry_function(Direction::Egress), "_egress_flow_monitoring");
        assert_eq!(kernel_prog_name(Direction::Ingress), "_ingress_flow_m");
    }

    #[test]
    fn directions_never_share_a_map_name() {
        for a in MapRole::ALL {
            assert!(a.map_name(Direction::Ingress).starts_with("ipfix_ingress_"));
            assert_eq!(
                a.map_name(Direction::Ingress)
                    .strip_prefix("ipfix_ingress_"),
                a.map_name(Direction::Egress).strip_prefix("ipfix_egress_"),
                "{a:?} has one name per direction"
            );
            for b in MapRole::ALL {
                assert_ne!(
                    a.map_name(Direction::Ingress),
                    b.map_name(Direction::Egress)
                );
            }
        }
    }
}
