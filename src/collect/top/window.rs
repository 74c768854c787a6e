//! The last N seconds of flow records, summed per flow. Pure: the caller
//! passes the time.
//!
//! A sliding window over arrival times: a record counts from the moment it
//! is received until `span` later, exactly (the view refreshes each second,
//! so on screen a record leaves within a second of that). What a row shows
//! is the sum of the deltas of its flow's records inside the window; total
//! counts become deltas first ([`Totals`]). With `span` equal to the
//! exporter's export interval (our `run --active-timeout`, 10 s by default)
//! a row is about one interval's traffic.
//!
//! Memory is bounded: at most [`MAX_RECORDS`] records are held; beyond
//! that the oldest leave the window early, and are counted
//! ([`Window::left_early`]).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::record::{FlowCounts, FlowKey};
use super::totals::Totals;

/// Records held at most (about 100 bytes each, with the per-flow sums).
pub const MAX_RECORDS: usize = 1 << 18;

/// One received record's share, until it leaves the window.
#[derive(Debug, Clone, Copy)]
struct Entry {
    received: Instant,
    key: FlowKey,
    octets: Option<u64>,
    packets: Option<u64>,
}

/// One flow's sums over the records in the window. A count no record in
/// the window carried is `None` (unknown), not 0. The sums are 128-bit:
/// [`MAX_RECORDS`] counts of 2^64 - 1 each cannot overflow them, so a
/// hostile sender cannot make a row wrap or stick.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sums {
    pub octets: u128,
    pub packets: u128,
    /// Records in the window that carried an octet / a packet count.
    pub octet_records: u32,
    pub packet_records: u32,
    /// Records in the window.
    pub records: u32,
}

impl Sums {
    pub fn octets(&self) -> Option<u128> {
        (self.octet_records > 0).then_some(self.octets)
    }

    pub fn packets(&self) -> Option<u128> {
        (self.packet_records > 0).then_some(self.packets)
    }

    fn add(&mut self, e: &Entry) {
        self.records += 1;
        if let Some(n) = e.octets {
            self.octets += u128::from(n);
            self.octet_records += 1;
        }
        if let Some(n) = e.packets {
            self.packets += u128::from(n);
            self.packet_records += 1;
        }
    }

    fn remove(&mut self, e: &Entry) {
        self.records = self.records.saturating_sub(1);
        if let Some(n) = e.octets {
            self.octets = self.octets.saturating_sub(u128::from(n));
            self.octet_records = self.octet_records.saturating_sub(1);
        }
        if let Some(n) = e.packets {
            self.packets = self.packets.saturating_sub(u128::from(n));
            self.packet_records = self.packet_records.saturating_sub(1);
        }
    }
}

#[derive(Debug)]
pub struct Window {
    span: Duration,
    capacity: usize,
    /// In arrival order.
    entries: VecDeque<Entry>,
    flows: HashMap<FlowKey, Sums>,
    totals: Totals,
    left_early: u64,
}

impl Window {
    pub fn new(span: Duration) -> Self {
        Window::with_capacity(span, MAX_RECORDS)
    }

    pub fn with_capacity(span: Duration, capacity: usize) -> Self {
        Window {
            span,
            capacity: capacity.max(1),
            entries: VecDeque::new(),
            flows: HashMap::new(),
            totals: Totals::default(),
            left_early: 0,
        }
    }

    pub fn span(&self) -> Duration {
        self.span
    }

    /// Adds a record received at `now` (which never goes back: an
    /// [`Instant`]).
    pub fn add(&mut self, record: FlowCounts, now: Instant) {
        let (octets, packets) = self
            .totals
            .deltas(&record.key, record.octets, record.packets, now);
        if octets.is_none() && packets.is_none() {
            return;
        }
        while self.entries.len() >= self.capacity {
            if self.pop_oldest().is_none() {
                break;
            }
            self.left_early += 1;
        }
        let entry = Entry {
            received: now,
            key: record.key,
            octets,
            packets,
        };
        self.flows.entry(entry.key).or_default().add(&entry);
        self.entries.push_back(entry);
    }

    /// Drops the records received `span` or longer before `now`.
    pub fn expire(&mut self, now: Instant) {
        while self
            .entries
            .front()
            .is_some_and(|e| now.saturating_duration_since(e.received) >= self.span)
        {
            self.pop_oldest();
        }
        self.totals.expire(now);
    }

    /// The flows in the window and their sums, in no order.
    pub fn flows(&self) -> impl Iterator<Item = (&FlowKey, &Sums)> {
        self.flows.iter()
    }

    pub fn flow_count(&self) -> usize {
        self.flows.len()
    }

    pub fn record_count(&self) -> usize {
        self.entries.len()
    }

    /// Records that left the window before their time because it held
    /// [`MAX_RECORDS`].
    pub fn left_early(&self) -> u64 {
        self.left_early
    }

    fn pop_oldest(&mut self) -> Option<Entry> {
        let e = self.entries.pop_front()?;
        if let Some(sums) = self.flows.get_mut(&e.key) {
            sums.remove(&e);
            if sums.records == 0 {
                self.flows.remove(&e.key);
            }
        }
        Some(e)
    }
}

#[cfg(test)]
mod tests {
    use super::super::record::tests::exporter;
    use super::super::record::{Count, FlowDirection, Tuple};
    use super::*;

    fn key(port: u16) -> FlowKey {
        FlowKey {
            exporter: exporter("192.0.2.9:4739", 1),
            direction: FlowDirection::Ingress,
            tuple: Tuple {
                protocol: Some(6),
                src: Some("192.0.2.1".parse().unwrap()),
                src_port: Some(port),
                dst: Some("198.51.100.1".parse().unwrap()),
                dst_port: Some(443),
            },
        }
    }

    fn delta(port: u16, octets: u64, packets: u64) -> FlowCounts {
        FlowCounts {
            key: key(port),
            octets: Some(Count::Delta(octets)),
            packets: Some(Count::Delta(packets)),
        }
    }

    fn sums(w: &Window, port: u16) -> Option<(Option<u128>, Option<u128>)> {
        w.flows.get(&key(port)).map(|s| (s.octets(), s.packets()))
    }

    const SPAN: Duration = Duration::from_secs(10);

    #[test]
    fn records_of_a_flow_add_up_while_in_the_window() {
        let t0 = Instant::now();
        let mut w = Window::new(SPAN);
        w.add(delta(1, 1000, 10), t0);
        w.add(delta(1, 500, 5), t0 + Duration::from_secs(4));
        w.add(delta(2, 64, 1), t0 + Duration::from_secs(5));
        assert_eq!(sums(&w, 1), Some((Some(1500), Some(15))));
        assert_eq!((w.flow_count(), w.record_count()), (2, 3));
        // Just under the span: everything still counts.
        w.expire(t0 + SPAN - Duration::from_millis(1));
        assert_eq!(sums(&w, 1), Some((Some(1500), Some(15))));
        // At the span the first record leaves, exactly.
        w.expire(t0 + SPAN);
        assert_eq!(sums(&w, 1), Some((Some(500), Some(5))));
        // A flow whose records all left is gone.
        w.expire(t0 + SPAN + Duration::from_secs(4));
        assert_eq!(sums(&w, 1), None);
        assert_eq!(sums(&w, 2), Some((Some(64), Some(1))));
        w.expire(t0 + Duration::from_secs(60));
        assert_eq!((w.flow_count(), w.record_count()), (0, 0));
    }

    #[test]
    fn a_count_no_record_carried_is_unknown() {
        let t0 = Instant::now();
        let mut w = Window::new(SPAN);
        let mut no_packets = delta(1, 100, 0);
        no_packets.packets = None;
        w.add(no_packets, t0);
        assert_eq!(sums(&w, 1), Some((Some(100), None)));
        w.add(delta(1, 1, 0), t0 + Duration::from_secs(1));
        assert_eq!(sums(&w, 1), Some((Some(101), Some(0))));
        // The record with packets leaves last: known until then.
        w.expire(t0 + SPAN);
        assert_eq!(sums(&w, 1), Some((Some(1), Some(0))));
    }

    #[test]
    fn total_counts_add_their_increase() {
        let t0 = Instant::now();
        let mut w = Window::new(SPAN);
        let total = |o, p| FlowCounts {
            key: key(1),
            octets: Some(Count::Total(o)),
            packets: Some(Count::Total(p)),
        };
        w.add(total(1000, 10), t0);
        w.add(total(1500, 12), t0 + Duration::from_secs(5));
        assert_eq!(sums(&w, 1), Some((Some(1500), Some(12))));
        // Once the first record left, the window holds the increase only.
        w.expire(t0 + SPAN);
        assert_eq!(sums(&w, 1), Some((Some(500), Some(2))));
        w.add(total(1700, 13), t0 + Duration::from_secs(11));
        assert_eq!(sums(&w, 1), Some((Some(700), Some(3))));
    }

    #[test]
    fn memory_is_bounded_and_overflow_counted() {
        let t0 = Instant::now();
        let mut w = Window::with_capacity(SPAN, 4);
        for i in 0..10u16 {
            w.add(delta(i, 1, 1), t0);
        }
        assert_eq!(w.record_count(), 4);
        assert_eq!(w.flow_count(), 4);
        assert_eq!(w.left_early(), 6);
        // The newest stay.
        assert!(sums(&w, 9).is_some() && sums(&w, 5).is_none());
    }

    #[test]
    fn huge_counts_neither_wrap_nor_stick() {
        let t0 = Instant::now();
        let mut w = Window::new(SPAN);
        w.add(delta(1, u64::MAX, u64::MAX), t0);
        w.add(delta(1, 5, 5), t0 + Duration::from_secs(1));
        let big = u128::from(u64::MAX) + 5;
        assert_eq!(sums(&w, 1), Some((Some(big), Some(big))));
        w.expire(t0 + SPAN);
        assert_eq!(sums(&w, 1), Some((Some(5), Some(5))));
    }
}
