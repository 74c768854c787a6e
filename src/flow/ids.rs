//! flowId assignment: one id per flow for as long as the flow stays alive.
//!
//! A flow keeps its id across the records of consecutive intervals; after an
//! end of flow, a forced end, or no packet for the idle timeout, the next
//! packet of the same tuple starts a new flow with a new id. Ids stay unique
//! across runs of the exporter in one observation domain (l3afd restarts its
//! daemon after an update, a crash or its own graceful restart): a run
//! counts up from its start time in milliseconds shifted left by
//! [`RUN_SHIFT`] bits, so a later run starts above every id of an earlier
//! one unless that one handed out 2^22 (4 M) ids per millisecond it lived.

use std::cell::Cell;
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::rc::Rc;

use crate::abi::{FlowKey, FLOW_KEY_SIZE};

#[derive(Debug, Clone, Copy)]
struct Known {
    id: u64,
    last_seen_ns: u64,
}

/// Hands out ids; shared by the flow exporters of both directions so that an id is
/// unique in the whole run.
#[derive(Debug, Clone)]
pub struct IdAllocator(Rc<Cell<u64>>);

/// Bits of a flowId below the run's start time: room for 4 M ids per
/// millisecond of a run's life. Epoch milliseconds fit the 42 bits above
/// them until 2109.
pub const RUN_SHIFT: u32 = 22;

impl IdAllocator {
    pub fn new(run_start_epoch_ms: u64) -> Self {
        IdAllocator(Rc::new(Cell::new(run_start_epoch_ms << RUN_SHIFT)))
    }

    fn next(&self) -> u64 {
        let id = self.0.get().wrapping_add(1);
        self.0.set(id);
        id
    }
}

/// A flow key as the table holds it: its ABI bytes, hashed in one piece
/// (the derived `Hash` of [`FlowKey`] feeds SipHash field by field, with
/// length prefixes for the address arrays: twice the work).
type PackedKey = [u8; FLOW_KEY_SIZE];

pub struct FlowIds {
    known: HashMap<PackedKey, Known>,
    alloc: IdAllocator,
    idle_ns: u64,
    /// Most flows remembered; beyond it the idle ones are forgotten first
    /// and then the oldest (they get a new id if they come back).
    capacity: usize,
}

impl FlowIds {
    pub fn new(alloc: IdAllocator, idle_ns: u64, capacity: usize) -> Self {
        FlowIds {
            known: HashMap::new(),
            alloc,
            idle_ns,
            capacity: capacity.max(1),
        }
    }

    /// The id of the flow a record with these timestamps belongs to.
    pub fn assign(&mut self, key: &FlowKey, first_seen_ns: u64, last_seen_ns: u64) -> u64 {
        // One hash and one probe, found or not: at a million flows an
        // interval the table is far larger than the caches.
        match self.known.entry(key.emit()) {
            Entry::Occupied(mut o) => {
                let k = o.get_mut();
                if first_seen_ns.saturating_sub(k.last_seen_ns) < self.idle_ns {
                    k.last_seen_ns = k.last_seen_ns.max(last_seen_ns);
                } else {
                    *k = Known {
                        id: self.alloc.next(),
                        last_seen_ns,
                    };
                }
                k.id
            }
            Entry::Vacant(v) => {
                let id = self.alloc.next();
                v.insert(Known { id, last_seen_ns });
                id
            }
        }
    }

    /// The flow ended: its next packet starts a new flow.
    pub fn forget(&mut self, key: &FlowKey) {
        self.known.remove(&key.emit());
    }

    /// Drops flows idle for the idle timeout, then the oldest ones while over
    /// capacity. Called once per interval.
    pub fn expire(&mut self, now_ns: u64) {
        let idle = self.idle_ns;
        self.known
            .retain(|_, k| now_ns.saturating_sub(k.last_seen_ns) < idle);
        if self.known.len() > self.capacity {
            let mut ages: Vec<u64> = self.known.values().map(|k| k.last_seen_ns).collect();
            // Forget the `excess` oldest: everything up to the excess-th age.
            let excess = self.known.len() - self.capacity;
            let (_, nth, _) = ages.select_nth_unstable(excess - 1);
            let threshold = *nth;
            self.known.retain(|_, k| k.last_seen_ns > threshold);
        }
    }

    /// Forgets every flow of the interfaces (by index) that went away,
    /// ended or not: nothing of theirs stays behind.
    pub fn forget_interfaces(&mut self, ifindexes: &[u32]) {
        if ifindexes.is_empty() {
            return;
        }
        self.known.retain(|packed, _| {
            FlowKey::parse(packed).map_or(true, |k| !ifindexes.contains(&k.ifindex))
        });
    }

    pub fn len(&self) -> usize {
        self.known.len()
    }

    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000_000;

    fn key(port: u16) -> FlowKey {
        FlowKey {
            src_port: port,
            ip_version: 4,
            ..FlowKey::default()
        }
    }

    #[test]
    fn a_live_flow_keeps_its_id_across_intervals() {
        let mut ids = FlowIds::new(IdAllocator::new(1), 30 * SEC, 100);
        let a = ids.assign(&key(1), 0, SEC);
        let b = ids.assign(&key(1), 2 * SEC, 3 * SEC);
        assert_eq!(a, b);
        assert_ne!(a, ids.assign(&key(2), 0, SEC));
    }

    #[test]
    fn ids_carry_the_run_start_in_the_high_bits() {
        let mut ids = FlowIds::new(IdAllocator::new(0x1234), SEC, 10);
        assert_eq!(ids.assign(&key(1), 0, 0) >> RUN_SHIFT, 0x1234);
    }

    #[test]
    fn a_run_started_a_millisecond_later_reuses_no_id() {
        // Today's epoch milliseconds: the shift must not overflow.
        let t0 = 1_796_306_892_000u64;
        let mut first = FlowIds::new(IdAllocator::new(t0), SEC, 1 << 20);
        let mut seen = std::collections::HashSet::new();
        for p in 0..10_000u16 {
            assert!(seen.insert(first.assign(&key(p), 0, 0)));
        }
        // The restarted daemon meets the same flows again.
        let mut second = FlowIds::new(IdAllocator::new(t0 + 1), SEC, 1 << 20);
        for p in 0..10_000u16 {
            assert!(
                seen.insert(second.assign(&key(p), 0, 0)),
                "port {p}: the second run reused an id of the first"
            );
        }
        assert!(t0 << RUN_SHIFT > t0, "no overflow");
    }

    #[test]
    fn two_tables_sharing_an_allocator_never_share_an_id() {
        let alloc = IdAllocator::new(9);
        let mut a = FlowIds::new(alloc.clone(), SEC, 10);
        let mut b = FlowIds::new(alloc, SEC, 10);
        assert_ne!(a.assign(&key(1), 0, 0), b.assign(&key(1), 0, 0));
    }

    #[test]
    fn an_idle_gap_or_an_end_starts_a_new_flow() {
        let mut ids = FlowIds::new(IdAllocator::new(1), 30 * SEC, 100);
        let a = ids.assign(&key(1), 0, SEC);
        let b = ids.assign(&key(1), 31 * SEC, 32 * SEC);
        assert_ne!(a, b);
        ids.forget(&key(1));
        assert_ne!(b, ids.assign(&key(1), 33 * SEC, 33 * SEC));
    }

    #[test]
    fn memory_is_bounded_by_idle_expiry_and_capacity() {
        let mut ids = FlowIds::new(IdAllocator::new(1), 30 * SEC, 10);
        for p in 0..100u16 {
            ids.assign(&key(p), u64::from(p) * SEC, u64::from(p) * SEC);
        }
        ids.expire(100 * SEC);
        assert_eq!(
            ids.len(),
            10,
            "only flows seen in the last 30 s, capped at 10"
        );
        ids.expire(1000 * SEC);
        assert!(ids.is_empty());
    }
}
