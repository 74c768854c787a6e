//! The flows of the window as ranked rows, per exporter and direction.
//! Pure.
//!
//! Groups come in a fixed order (exporter address and port, observation
//! domain, then ingress, egress, other values, unknown direction), so the
//! screen does not jump around as the traffic changes. Within a group the
//! flows are ranked by the sort key, largest first; ties are broken by the
//! other count (also largest first), then by the tuple (protocol, source,
//! source port, destination, destination port), so that the order is the
//! same on every refresh. An unknown count ranks below 0.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::net::SocketAddr;

use super::record::{FlowDirection, FlowKey, Tuple};
use super::window::Sums;
use crate::config::TopSort;
use crate::ipfix::DomainKey;

/// One flow on screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    pub tuple: Tuple,
    pub octets: Option<u128>,
    pub packets: Option<u128>,
}

/// One exporter's flows in one direction: how many and how much in all,
/// and the largest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub exporter: DomainKey,
    pub direction: FlowDirection,
    pub flows: usize,
    pub octets: u128,
    pub packets: u128,
    /// At most `per_group`, ranked.
    pub rows: Vec<Row>,
}

/// Ranks `flows`, keeping the first `per_group(number of groups)` rows of
/// each group (what fits on the screen depends on how many groups share it).
pub fn rank<'a>(
    flows: impl IntoIterator<Item = (&'a FlowKey, &'a Sums)>,
    sort: TopSort,
    per_group: impl FnOnce(usize) -> usize,
) -> Vec<Group> {
    let mut groups: BTreeMap<(SocketAddr, u32, FlowDirection), Vec<Row>> = BTreeMap::new();
    for (key, sums) in flows {
        let group = (
            key.exporter.exporter,
            key.exporter.observation_domain_id,
            key.direction,
        );
        groups.entry(group).or_default().push(Row {
            tuple: key.tuple,
            octets: sums.octets(),
            packets: sums.packets(),
        });
    }
    let per_group = per_group(groups.len());
    groups
        .into_iter()
        .map(|((addr, domain, direction), mut rows)| {
            let flows = rows.len();
            let octets = rows.iter().filter_map(|r| r.octets).sum();
            let packets = rows.iter().filter_map(|r| r.packets).sum();
            let order = |a: &Row, b: &Row| order(sort, a, b);
            // The top `per_group` in linear time, then only they are sorted.
            if per_group == 0 {
                rows.clear();
            } else if rows.len() > per_group {
                rows.select_nth_unstable_by(per_group - 1, order);
                rows.truncate(per_group);
            }
            rows.sort_unstable_by(order);
            Group {
                exporter: DomainKey {
                    exporter: addr,
                    observation_domain_id: domain,
                },
                direction,
                flows,
                octets,
                packets,
                rows,
            }
        })
        .collect()
}

/// `a` before `b` when it ranks higher.
fn order(sort: TopSort, a: &Row, b: &Row) -> Ordering {
    let counts = |r: &Row| match sort {
        TopSort::Octets => (r.octets, r.packets),
        TopSort::Packets => (r.packets, r.octets),
    };
    // Both counts larger first (reversed), then the tuple smaller first.
    counts(b)
        .cmp(&counts(a))
        .then_with(|| a.tuple.cmp(&b.tuple))
}

#[cfg(test)]
mod tests {
    use super::super::record::tests::exporter;
    use super::*;

    fn key(exp: &str, direction: FlowDirection, src: &str, port: u16) -> FlowKey {
        FlowKey {
            exporter: exporter(exp, 1),
            direction,
            tuple: Tuple {
                protocol: Some(17),
                src: Some(src.parse().unwrap()),
                src_port: Some(port),
                dst: Some("198.51.100.1".parse().unwrap()),
                dst_port: Some(53),
            },
        }
    }

    fn sums(octets: Option<u128>, packets: Option<u128>) -> Sums {
        Sums {
            octets: octets.unwrap_or(0),
            packets: packets.unwrap_or(0),
            octet_records: octets.map_or(0, |_| 1),
            packet_records: packets.map_or(0, |_| 1),
            records: 1,
        }
    }

    const A: &str = "192.0.2.9:4739";
    const B: &str = "[2001:db8::9]:4739";

    /// Source ports of each group's rows, with the group's direction.
    fn layout(groups: &[Group]) -> Vec<(String, String, Vec<u16>)> {
        groups
            .iter()
            .map(|g| {
                (
                    g.exporter.exporter.to_string(),
                    g.direction.text(),
                    g.rows.iter().map(|r| r.tuple.src_port.unwrap()).collect(),
                )
            })
            .collect()
    }

    fn golden_flows() -> Vec<(FlowKey, Sums)> {
        use FlowDirection::*;
        vec![
            (key(A, Ingress, "192.0.2.1", 1), sums(Some(9_000), Some(10))),
            (key(A, Ingress, "192.0.2.1", 2), sums(Some(5_000), Some(50))),
            (key(A, Ingress, "192.0.2.1", 3), sums(Some(1_200), Some(20))),
            (key(A, Egress, "192.0.2.1", 4), sums(Some(300), Some(3))),
            (key(B, Unknown, "2001:db8::1", 5), sums(Some(80), None)),
            (key(B, Ingress, "2001:db8::1", 6), sums(None, Some(7))),
            (key(A, Other(9), "192.0.2.1", 7), sums(Some(1), Some(1))),
        ]
    }

    #[test]
    fn golden_ranking_by_octets_and_by_packets() {
        let flows = golden_flows();
        let by_octets = rank(
            flows.iter().map(|(k, s)| (k, s)),
            TopSort::Octets,
            |groups| {
                assert_eq!(groups, 5);
                10
            },
        );
        let s = |x: &str| x.to_owned();
        assert_eq!(
            layout(&by_octets),
            [
                (s(A), s("ingress"), vec![1, 2, 3]),
                (s(A), s("egress"), vec![4]),
                (s(A), s("9"), vec![7]),
                (s(B), s("ingress"), vec![6]),
                (s(B), s("-"), vec![5]),
            ]
        );
        let g = &by_octets[0];
        assert_eq!((g.flows, g.octets, g.packets), (3, 15_200, 80));
        // Unknown counts are left out of the group's sums, and shown as such.
        assert_eq!((by_octets[4].octets, by_octets[4].packets), (80, 0));
        assert_eq!(by_octets[4].rows[0].packets, None);

        let by_packets = rank(flows.iter().map(|(k, s)| (k, s)), TopSort::Packets, |_| 10);
        assert_eq!(layout(&by_packets)[0].2, [2, 3, 1]);
    }

    #[test]
    fn ties_break_on_the_other_count_then_the_tuple() {
        use FlowDirection::Ingress;
        let flows = [
            (key(A, Ingress, "192.0.2.3", 1), sums(Some(100), Some(1))),
            (key(A, Ingress, "192.0.2.2", 2), sums(Some(100), Some(1))),
            (key(A, Ingress, "192.0.2.2", 3), sums(Some(100), Some(2))),
            (key(A, Ingress, "192.0.2.2", 4), sums(Some(100), None)),
            (key(A, Ingress, "192.0.2.2", 5), sums(Some(0), Some(1))),
            (key(A, Ingress, "192.0.2.2", 6), sums(None, Some(9))),
        ];
        let groups = rank(flows.iter().map(|(k, s)| (k, s)), TopSort::Octets, |_| 10);
        // 100/2 first (more packets), then 100/1 by source address, then
        // 100 with unknown packets; 0 octets before unknown octets.
        assert_eq!(layout(&groups)[0].2, [3, 2, 1, 4, 5, 6]);
        // The same whatever order the flows come in.
        let reversed = rank(
            flows.iter().rev().map(|(k, s)| (k, s)),
            TopSort::Octets,
            |_| 10,
        );
        assert_eq!(groups, reversed);
    }

    #[test]
    fn each_group_keeps_its_top_rows_and_counts_all() {
        use FlowDirection::Ingress;
        let flows: Vec<(FlowKey, Sums)> = (1..=100u16)
            .map(|p| {
                (
                    key(A, Ingress, "192.0.2.1", p),
                    sums(Some(u128::from(p) * 10), Some(1)),
                )
            })
            .collect();
        let groups = rank(flows.iter().map(|(k, s)| (k, s)), TopSort::Octets, |_| 3);
        assert_eq!(layout(&groups)[0].2, [100, 99, 98]);
        assert_eq!((groups[0].flows, groups[0].octets), (100, 50_500));
        let none = rank(flows.iter().map(|(k, s)| (k, s)), TopSort::Octets, |_| 0);
        assert!(none[0].rows.is_empty());
        assert_eq!(none[0].flows, 100);
    }

    #[test]
    fn exporters_differ_by_port_and_domain() {
        use FlowDirection::Ingress;
        let mut other_domain = key(A, Ingress, "192.0.2.1", 2);
        other_domain.exporter.observation_domain_id = 2;
        let flows = [
            (key(A, Ingress, "192.0.2.1", 1), sums(Some(1), Some(1))),
            (other_domain, sums(Some(1), Some(1))),
            (
                key("192.0.2.9:4740", Ingress, "192.0.2.1", 3),
                sums(Some(1), Some(1)),
            ),
        ];
        let groups = rank(flows.iter().map(|(k, s)| (k, s)), TopSort::Octets, |_| 10);
        let seen: Vec<(String, u32)> = groups
            .iter()
            .map(|g| {
                (
                    g.exporter.exporter.to_string(),
                    g.exporter.observation_domain_id,
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                (A.to_owned(), 1),
                (A.to_owned(), 2),
                ("192.0.2.9:4740".to_owned(), 1)
            ]
        );
    }
}
