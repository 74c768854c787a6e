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
use std::hash::Hash;
use std::rc::Rc;

use crate::abi::{FlowKey, FLOW_KEY4_SIZE, FLOW_KEY_SIZE};

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

/// Flow keys as the tables hold them: the bytes of their flow map's key
/// (24 for IPv4, 48 for IPv6), hashed in one piece (the derived `Hash` of
/// [`FlowKey`] feeds SipHash field by field, with length prefixes for the
/// address arrays: twice the work). IPv4 keys, the common case, hash half
/// as many bytes and make a table entry of 40 bytes instead of 64.
type Key4 = [u8; FLOW_KEY4_SIZE];
type Key6 = [u8; FLOW_KEY_SIZE];

pub struct FlowIds {
    known4: HashMap<Key4, Known>,
    known6: HashMap<Key6, Known>,
    alloc: IdAllocator,
    idle_ns: u64,
    /// Most flows remembered; beyond it the idle ones are forgotten first
    /// and then the oldest (they get a new id if they come back).
    capacity: usize,
}

/// The id of a flow in `known` (see [`FlowIds::assign`]).
fn assign_in<K: Eq + Hash>(
    known: &mut HashMap<K, Known>,
    key: K,
    alloc: &IdAllocator,
    idle_ns: u64,
    first_seen_ns: u64,
    last_seen_ns: u64,
) -> u64 {
    // One hash and one probe, found or not: at a million flows an interval
    // the table is far larger than the caches.
    match known.entry(key) {
        Entry::Occupied(mut o) => {
            let k = o.get_mut();
            if first_seen_ns.saturating_sub(k.last_seen_ns) < idle_ns {
                k.last_seen_ns = k.last_seen_ns.max(last_seen_ns);
            } else {
                *k = Known {
                    id: alloc.next(),
                    last_seen_ns,
                };
            }
            k.id
        }
        Entry::Vacant(v) => {
            let id = alloc.next();
            v.insert(Known { id, last_seen_ns });
            id
        }
    }
}

impl FlowIds {
    pub fn new(alloc: IdAllocator, idle_ns: u64, capacity: usize) -> Self {
        FlowIds {
            known4: HashMap::new(),
            known6: HashMap::new(),
            alloc,
            idle_ns,
            capacity: capacity.max(1),
        }
    }

    /// The id of the flow a record with these timestamps belongs to.
    pub fn assign(&mut self, key: &FlowKey, first_seen_ns: u64, last_seen_ns: u64) -> u64 {
        let packed = key.emit();
        let (alloc, idle) = (&self.alloc, self.idle_ns);
        if key.ip_version == 4 {
            let mut k = [0u8; FLOW_KEY4_SIZE];
            k.copy_from_slice(&packed[..FLOW_KEY4_SIZE]);
            assign_in(
                &mut self.known4,
                k,
                alloc,
                idle,
                first_seen_ns,
                last_seen_ns,
            )
        } else {
            assign_in(
                &mut self.known6,
                packed,
                alloc,
                idle,
                first_seen_ns,
                last_seen_ns,
            )
        }
    }

    /// The flow ended: its next packet starts a new flow.
    pub fn forget(&mut self, key: &FlowKey) {
        if key.ip_version == 4 {
            self.known4.remove(&key.emit4());
        } else {
            self.known6.remove(&key.emit());
        }
    }

    /// Drops flows idle for the idle timeout, then the oldest ones while over
    /// capacity. Called once per interval.
    pub fn expire(&mut self, now_ns: u64) {
        let idle = self.idle_ns;
        let live = |k: &mut Known| now_ns.saturating_sub(k.last_seen_ns) < idle;
        self.known4.retain(|_, k| live(k));
        self.known6.retain(|_, k| live(k));
        if self.len() > self.capacity {
            let mut ages: Vec<u64> = self
                .known4
                .values()
                .chain(self.known6.values())
                .map(|k| k.last_seen_ns)
                .collect();
            // Forget the `excess` oldest: everything up to the excess-th age.
            let excess = self.len() - self.capacity;
            let (_, nth, _) = ages.select_nth_unstable(excess - 1);
            let threshold = *nth;
            self.known4.retain(|_, k| k.last_seen_ns > threshold);
            self.known6.retain(|_, k| k.last_seen_ns > threshold);
        }
    }

    /// Forgets every flow of the interfaces (by index) that went away,
    /// ended or not: nothing of theirs stays behind.
    pub fn forget_interfaces(&mut self, ifindexes: &[u32]) {
        if ifindexes.is_empty() {
            return;
        }
        self.known4
            .retain(|packed, _| !ifindexes.contains(&FlowKey::ifindex_of(packed)));
        self.known6
            .retain(|packed, _| !ifindexes.contains(&FlowKey::ifindex_of(packed)));
    }

    pub fn len(&self) -> usize {
        self.known4.len() + self.known6.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
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

    fn key6(port: u16, ifindex: u32) -> FlowKey {
        FlowKey {
            src_port: port,
            ip_version: 6,
            ifindex,
            ..FlowKey::default()
        }
    }

    #[test]
    fn both_families_keep_ids_apart_and_share_the_capacity() {
        let mut ids = FlowIds::new(IdAllocator::new(1), 30 * SEC, 4);
        let v4 = ids.assign(&key(1), 0, SEC);
        let v6 = ids.assign(&key6(1, 0), 0, SEC);
        assert_ne!(v4, v6, "one tuple, two families, two flows");
        assert_eq!(ids.assign(&key6(1, 0), SEC, 2 * SEC), v6);
        ids.forget(&key6(1, 0));
        assert_ne!(ids.assign(&key6(1, 0), 3 * SEC, 3 * SEC), v6);
        assert_eq!(ids.assign(&key(1), 3 * SEC, 3 * SEC), v4, "IPv4 untouched");
        // Six flows over a capacity of four: the two oldest go, whichever
        // family they are of.
        for p in 2..6u16 {
            ids.assign(&key6(p, 7), 0, 10 * SEC + u64::from(p));
        }
        ids.expire(11 * SEC);
        assert_eq!(ids.len(), 4);
        ids.forget_interfaces(&[7]);
        assert_eq!(
            ids.len(),
            0,
            "the IPv6 flows of ifindex 7 and nothing else were left"
        );
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
