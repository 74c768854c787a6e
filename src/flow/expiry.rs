//! Why a record ends: the flowEndReason policy.
//!
//! Every export interval the flow exporter retires the active flow map and exports
//! every entry in it, so a record covers the packets of one interval and no
//! unexported count ever lives in user space (a crash loses nothing the
//! kernel maps still hold). The export interval is the active timeout. The
//! reason a record carries is decided here, from the entry and the interval:
//!
//! | reason | when |
//! |---|---|
//! | end of flow (3) | the record saw TCP FIN or RST |
//! | forced end (4) | the exporter is shutting down, or the flow's interface went away |
//! | lack of resources (5) | the flow lost packets to a full flow table since its last record |
//! | idle timeout (1) | no packet for the idle timeout (idle < active) |
//! | active timeout (2) | otherwise: the flow may continue |

use std::time::Duration;

use super::record::FlowEndReason;
use crate::abi::{FlowValue, TCP_FIN, TCP_RST};

/// What is known about the interval being exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntervalFacts {
    pub now_kernel_ns: u64,
    /// The exporter is shutting down, or (for one record) its interface
    /// went away: nothing more will be metered for it.
    pub forced_end: bool,
}

/// The reason the record of `v` carries. `lost_packets`: the flow lost
/// packets to a full flow table since its last record (the datapath names
/// such flows; records of the others are whole).
pub fn end_reason(
    v: &FlowValue,
    facts: &IntervalFacts,
    idle_timeout: Duration,
    lost_packets: bool,
) -> FlowEndReason {
    let fin_or_rst = v.tcp_flags & u32::from(TCP_FIN | TCP_RST) != 0;
    let idle_ns = u64::try_from(idle_timeout.as_nanos()).unwrap_or(u64::MAX);
    if fin_or_rst {
        FlowEndReason::EndOfFlow
    } else if facts.forced_end {
        FlowEndReason::ForcedEnd
    } else if lost_packets {
        FlowEndReason::LackOfResources
    } else if facts.now_kernel_ns.saturating_sub(v.last_seen_ns) >= idle_ns {
        FlowEndReason::IdleTimeout
    } else {
        FlowEndReason::ActiveTimeout
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::{TCP_ACK, TCP_SYN};

    const SEC: u64 = 1_000_000_000;

    fn value(flags: u16, last_seen_ns: u64) -> FlowValue {
        FlowValue {
            packets: 1,
            tcp_flags: u32::from(flags),
            last_seen_ns,
            ..FlowValue::default()
        }
    }

    fn facts(now: u64) -> IntervalFacts {
        IntervalFacts {
            now_kernel_ns: now,
            forced_end: false,
        }
    }

    #[test]
    fn fin_or_rst_ends_the_flow_whatever_else_holds() {
        let f = IntervalFacts {
            forced_end: true,
            ..facts(100 * SEC)
        };
        for flags in [TCP_FIN | TCP_ACK, TCP_RST] {
            assert_eq!(
                end_reason(&value(flags, 0), &f, Duration::from_secs(1), true),
                FlowEndReason::EndOfFlow
            );
        }
    }

    #[test]
    fn shutdown_forces_the_end_of_open_flows() {
        let f = IntervalFacts {
            forced_end: true,
            ..facts(10 * SEC)
        };
        assert_eq!(
            end_reason(
                &value(TCP_SYN, 10 * SEC),
                &f,
                Duration::from_secs(30),
                false
            ),
            FlowEndReason::ForcedEnd
        );
    }

    #[test]
    fn lost_packets_mark_lack_of_resources_only_for_that_flow() {
        let f = facts(10 * SEC);
        assert_eq!(
            end_reason(&value(0, 10 * SEC), &f, Duration::from_secs(30), true),
            FlowEndReason::LackOfResources
        );
        assert_eq!(
            end_reason(&value(0, 10 * SEC), &f, Duration::from_secs(30), false),
            FlowEndReason::ActiveTimeout
        );
    }

    #[test]
    fn idle_is_measured_from_the_last_packet() {
        let idle = Duration::from_secs(2);
        assert_eq!(
            end_reason(&value(0, 8 * SEC), &facts(10 * SEC), idle, false),
            FlowEndReason::IdleTimeout
        );
        assert_eq!(
            end_reason(&value(0, 8 * SEC + 1), &facts(10 * SEC), idle, false),
            FlowEndReason::ActiveTimeout
        );
    }
}
