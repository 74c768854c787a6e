//! Total counts (`octetTotalCount`, `packetTotalCount`) turned into the
//! deltas the view adds up. Pure.
//!
//! A flow's delta is its total minus the total its previous record gave.
//! The first total of a flow counts whole (a flow that started and ended
//! between two exports has only that record); so does a total smaller than
//! the previous one (the exporter restarted, or a new flow reuses the
//! tuple). The previous totals are remembered per flow for [`TOTALS_IDLE`]
//! after its last record, and for at most [`MAX_REMEMBERED`] flows: when
//! that many are remembered, the half least recently seen are forgotten.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::record::{Count, FlowKey};

/// How long a flow's last totals are kept after its last record: longer
/// than any export interval in use.
pub const TOTALS_IDLE: Duration = Duration::from_secs(30 * 60);
/// Flows whose last totals are kept at most.
pub const MAX_REMEMBERED: usize = 1 << 16;

#[derive(Debug, Clone, Copy, Default)]
struct Last {
    octets: Option<u64>,
    packets: Option<u64>,
    seen: Option<Instant>,
}

/// The last totals of the flows that send totals.
#[derive(Debug)]
pub struct Totals {
    last: HashMap<FlowKey, Last>,
    capacity: usize,
}

impl Default for Totals {
    fn default() -> Self {
        Totals::with_capacity(MAX_REMEMBERED)
    }
}

impl Totals {
    pub fn with_capacity(capacity: usize) -> Self {
        Totals {
            last: HashMap::new(),
            capacity: capacity.max(2),
        }
    }

    /// The deltas of one record of `key` received at `now`: a delta count
    /// as it is, a total count less the flow's previous total.
    pub fn deltas(
        &mut self,
        key: &FlowKey,
        octets: Option<Count>,
        packets: Option<Count>,
        now: Instant,
    ) -> (Option<u64>, Option<u64>) {
        let totals =
            matches!(octets, Some(Count::Total(_))) || matches!(packets, Some(Count::Total(_)));
        if !totals {
            return (delta_only(octets), delta_only(packets));
        }
        if !self.last.contains_key(key) && self.last.len() >= self.capacity {
            self.forget_oldest_half();
        }
        let last = self.last.entry(*key).or_default();
        last.seen = Some(now);
        (
            step(octets, &mut last.octets),
            step(packets, &mut last.packets),
        )
    }

    /// Forgets the flows silent for [`TOTALS_IDLE`].
    pub fn expire(&mut self, now: Instant) {
        self.last.retain(|_, l| {
            l.seen
                .is_some_and(|seen| now.saturating_duration_since(seen) < TOTALS_IDLE)
        });
    }

    pub fn len(&self) -> usize {
        self.last.len()
    }

    pub fn is_empty(&self) -> bool {
        self.last.is_empty()
    }

    /// Forgets all but the `capacity / 2` flows seen last (exactly that
    /// many stay, also when many were seen at the same instant).
    fn forget_oldest_half(&mut self) {
        let keep = self.capacity / 2;
        let cut = self.last.len().saturating_sub(keep);
        if cut == 0 {
            return;
        }
        let mut by_age: Vec<(Option<Instant>, FlowKey)> =
            self.last.iter().map(|(k, l)| (l.seen, *k)).collect();
        by_age.select_nth_unstable_by_key(cut - 1, |(seen, _)| *seen);
        for (_, key) in &by_age[..cut] {
            self.last.remove(key);
        }
    }
}

fn delta_only(c: Option<Count>) -> Option<u64> {
    match c {
        Some(Count::Delta(n)) => Some(n),
        _ => None,
    }
}

/// The delta of `count` given the flow's previous total; records the new
/// total.
fn step(count: Option<Count>, last: &mut Option<u64>) -> Option<u64> {
    match count {
        None => None,
        Some(Count::Delta(n)) => Some(n),
        Some(Count::Total(total)) => {
            let delta = match *last {
                Some(before) if total >= before => total - before,
                _ => total,
            };
            *last = Some(total);
            Some(delta)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::record::tests::exporter;
    use super::super::record::{FlowDirection, Tuple};
    use super::*;

    fn key(port: u16) -> FlowKey {
        FlowKey {
            exporter: exporter("192.0.2.9:4739", 1),
            direction: FlowDirection::Unknown,
            tuple: Tuple {
                protocol: Some(17),
                src: Some("192.0.2.1".parse().unwrap()),
                src_port: Some(port),
                dst: Some("192.0.2.2".parse().unwrap()),
                dst_port: Some(53),
            },
        }
    }

    #[test]
    fn totals_become_deltas() {
        let mut t = Totals::default();
        let now = Instant::now();
        let k = key(1);
        let total = |o, p| (Some(Count::Total(o)), Some(Count::Total(p)));
        let (o, p) = total(1_000, 10);
        // The first total counts whole.
        assert_eq!(t.deltas(&k, o, p, now), (Some(1_000), Some(10)));
        let (o, p) = total(1_600, 14);
        assert_eq!(t.deltas(&k, o, p, now), (Some(600), Some(4)));
        // Unchanged: nothing new.
        assert_eq!(t.deltas(&k, o, p, now), (Some(0), Some(0)));
        // Smaller than before: a restart, counted whole.
        let (o, p) = total(300, 2);
        assert_eq!(t.deltas(&k, o, p, now), (Some(300), Some(2)));
        // Another flow has its own history.
        assert_eq!(t.deltas(&key(2), o, p, now), (Some(300), Some(2)));
        // A total beside a delta; a missing count stays missing.
        assert_eq!(
            t.deltas(&k, Some(Count::Delta(5)), Some(Count::Total(7)), now),
            (Some(5), Some(5))
        );
        assert_eq!(
            t.deltas(&k, None, Some(Count::Total(9)), now),
            (None, Some(2))
        );
    }

    #[test]
    fn deltas_alone_are_not_remembered() {
        let mut t = Totals::default();
        let d = Some(Count::Delta(5));
        assert_eq!(t.deltas(&key(1), d, None, Instant::now()), (Some(5), None));
        assert!(t.is_empty());
    }

    #[test]
    fn idle_flows_are_forgotten() {
        let mut t = Totals::default();
        let t0 = Instant::now();
        let total = Some(Count::Total(100));
        t.deltas(&key(1), total, None, t0);
        t.deltas(&key(2), total, None, t0 + Duration::from_secs(60));
        t.expire(t0 + TOTALS_IDLE + Duration::from_secs(1));
        assert_eq!(t.len(), 1);
        // key(1) forgot its total: the same total counts whole again.
        let later = t0 + TOTALS_IDLE + Duration::from_secs(2);
        assert_eq!(t.deltas(&key(1), total, None, later), (Some(100), None));
        assert_eq!(t.deltas(&key(2), total, None, later), (Some(0), None));
    }

    #[test]
    fn memory_is_bounded_and_keeps_the_recent_flows() {
        let mut t = Totals::with_capacity(8);
        let t0 = Instant::now();
        let total = Some(Count::Total(10));
        for port in 0..8u16 {
            t.deltas(
                &key(port),
                total,
                None,
                t0 + Duration::from_secs(port.into()),
            );
        }
        assert_eq!(t.len(), 8);
        // A ninth flow: the four oldest go, the four newest stay.
        t.deltas(&key(100), total, None, t0 + Duration::from_secs(100));
        assert_eq!(t.len(), 5);
        let now = t0 + Duration::from_secs(101);
        assert_eq!(t.deltas(&key(7), total, None, now), (Some(0), None));
        assert_eq!(t.deltas(&key(0), total, None, now), (Some(10), None));
        for port in 1000..2000u16 {
            t.deltas(&key(port), total, None, now);
            assert!(t.len() <= 8);
        }
    }
}
