//! Flows that lost packets to a full flow table, until their next record.
//!
//! A packet the flow map has no room for belongs to a flow without an
//! entry (a flow with one is updated in place), so the flow has no record
//! of the interval it lost packets in. The datapath names such flows (the
//! refused-flows map); the next record of each ends "lack of resources"
//! (RFC 5102 `flowEndReason` 5), and no other record does. A flow that
//! sends nothing for the idle timeout is forgotten, as its flowId is.

use std::collections::HashMap;

use crate::abi::FlowKey;

/// At most this many flows are remembered (the refused-flows map holds
/// 4096; a sustained overflow adds more every interval). Beyond it a flow's
/// loss is still in the `ignored*` statistics, only not on its record.
pub const MAX_LOST_FLOWS: usize = 65_536;

#[derive(Debug)]
pub struct LostFlows {
    /// Key -> when the loss was taken (kernel clock ns).
    flows: HashMap<FlowKey, u64>,
    hold_ns: u64,
}

impl LostFlows {
    /// Remembers each loss for `hold_ns` (the idle timeout).
    pub fn new(hold_ns: u64) -> Self {
        LostFlows {
            flows: HashMap::new(),
            hold_ns,
        }
    }

    /// Notes the flows the datapath says lost packets, at `now_ns`.
    pub fn note(&mut self, keys: impl IntoIterator<Item = FlowKey>, now_ns: u64) {
        for key in keys {
            if self.flows.len() >= MAX_LOST_FLOWS && !self.flows.contains_key(&key) {
                continue;
            }
            self.flows.insert(key, now_ns);
        }
    }

    /// True (once) when `key`'s flow lost packets since its last record.
    pub fn take(&mut self, key: &FlowKey) -> bool {
        !self.flows.is_empty() && self.flows.remove(key).is_some()
    }

    /// Forgets losses older than the hold time.
    pub fn expire(&mut self, now_ns: u64) {
        let hold = self.hold_ns;
        self.flows.retain(|_, at| now_ns.saturating_sub(*at) < hold);
    }

    pub fn len(&self) -> usize {
        self.flows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(port: u16) -> FlowKey {
        FlowKey {
            src_port: port,
            ip_version: 4,
            ..FlowKey::default()
        }
    }

    #[test]
    fn a_loss_marks_the_next_record_of_that_flow_once() {
        let mut lost = LostFlows::new(30);
        lost.note([key(1), key(2)], 10);
        assert!(!lost.take(&key(3)));
        assert!(lost.take(&key(1)));
        assert!(!lost.take(&key(1)), "only the next record");
        assert_eq!(lost.len(), 1);
    }

    #[test]
    fn losses_are_forgotten_after_the_hold_time() {
        let mut lost = LostFlows::new(30);
        lost.note([key(1)], 10);
        lost.note([key(2)], 25);
        lost.expire(39);
        assert_eq!(lost.len(), 2);
        lost.expire(40);
        assert!(!lost.take(&key(1)));
        assert!(lost.take(&key(2)));
        // A new loss of a remembered flow restarts its hold.
        lost.note([key(3)], 50);
        lost.note([key(3)], 70);
        lost.expire(85);
        assert!(lost.take(&key(3)));
    }

    #[test]
    fn at_most_max_lost_flows_are_remembered() {
        let mut lost = LostFlows::new(u64::MAX);
        lost.note(
            (0..=MAX_LOST_FLOWS as u32).map(|i| FlowKey {
                ifindex: i,
                ..FlowKey::default()
            }),
            0,
        );
        assert_eq!(lost.len(), MAX_LOST_FLOWS);
    }
}
