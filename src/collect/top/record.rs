//! What `--format top` reads from a data record: the flow's key and its
//! counts. Pure.
//!
//! Only standard IANA elements are read, by number through the element
//! table, so that any exporter's records count, not only ours: the source
//! and destination addresses (`sourceIPv4Address`/`sourceIPv6Address`,
//! `destinationIPv4Address`/`destinationIPv6Address`), the transport ports,
//! `protocolIdentifier`, `flowDirection` (IE 61), and the counts
//! `octetDeltaCount`/`packetDeltaCount`, or `octetTotalCount`/
//! `packetTotalCount` when a sender uses those instead. A missing element
//! is "not known" (shown as `-`), never 0; a record with neither an octet
//! nor a packet count, and every options record, is not a flow to rank.

use std::net::IpAddr;

use crate::ipfix::ie::{self, InfoElement};
use crate::ipfix::{DataRecord, DomainKey, Value};

/// `flowDirection` (RFC 5102 §5.11.6: 0 ingress, 1 egress); `Unknown` when
/// the record does not carry it. The order is the order groups are shown in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FlowDirection {
    Ingress,
    Egress,
    /// A value the registry does not define.
    Other(u64),
    Unknown,
}

impl FlowDirection {
    /// `ingress`, `egress`, the number, or `-`.
    pub fn text(self) -> String {
        match self {
            FlowDirection::Ingress => "ingress".to_owned(),
            FlowDirection::Egress => "egress".to_owned(),
            FlowDirection::Other(n) => n.to_string(),
            FlowDirection::Unknown => "-".to_owned(),
        }
    }
}

/// The five-tuple as far as the record says it; the field order is the
/// last tie-break of the ranking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tuple {
    pub protocol: Option<u8>,
    pub src: Option<IpAddr>,
    pub src_port: Option<u16>,
    pub dst: Option<IpAddr>,
    pub dst_port: Option<u16>,
}

/// One flow of the view: the exporter (the sender's address and port, and
/// the observation domain), its direction, the tuple.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowKey {
    pub exporter: DomainKey,
    pub direction: FlowDirection,
    pub tuple: Tuple,
}

/// A count as the record gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    /// `octetDeltaCount`/`packetDeltaCount`: since the flow's last record.
    Delta(u64),
    /// `octetTotalCount`/`packetTotalCount`: since the flow's start.
    Total(u64),
}

/// One record's contribution, before total counts are turned into deltas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowCounts {
    pub key: FlowKey,
    pub octets: Option<Count>,
    pub packets: Option<Count>,
}

/// The flow and counts of `record`, sent by `exporter`; `None` for an
/// options record or a record without an octet or packet count.
pub fn read_record(exporter: DomainKey, record: &DataRecord) -> Option<FlowCounts> {
    if record.is_options() {
        return None;
    }
    let octets = count(record, &ie::OCTET_DELTA_COUNT, &ie::OCTET_TOTAL_COUNT);
    let packets = count(record, &ie::PACKET_DELTA_COUNT, &ie::PACKET_TOTAL_COUNT);
    if octets.is_none() && packets.is_none() {
        return None;
    }
    let direction = match unsigned(record, &ie::FLOW_DIRECTION) {
        Some(0) => FlowDirection::Ingress,
        Some(1) => FlowDirection::Egress,
        Some(n) => FlowDirection::Other(n),
        None => FlowDirection::Unknown,
    };
    let tuple = Tuple {
        protocol: unsigned(record, &ie::PROTOCOL_IDENTIFIER).and_then(|n| u8::try_from(n).ok()),
        src: address(record, &ie::SOURCE_IPV4_ADDRESS, &ie::SOURCE_IPV6_ADDRESS),
        src_port: port(record, &ie::SOURCE_TRANSPORT_PORT),
        dst: address(
            record,
            &ie::DESTINATION_IPV4_ADDRESS,
            &ie::DESTINATION_IPV6_ADDRESS,
        ),
        dst_port: port(record, &ie::DESTINATION_TRANSPORT_PORT),
    };
    Some(FlowCounts {
        key: FlowKey {
            exporter,
            direction,
            tuple,
        },
        octets,
        packets,
    })
}

/// An unsigned element's value; `None` when absent or not decodable as a
/// number (a sender that gives it a wrong length).
fn unsigned(record: &DataRecord, element: &InfoElement) -> Option<u64> {
    match record.get(element.id) {
        Some(Value::Unsigned(n)) => Some(*n),
        _ => None,
    }
}

fn port(record: &DataRecord, element: &InfoElement) -> Option<u16> {
    unsigned(record, element).and_then(|n| u16::try_from(n).ok())
}

/// The delta count, else the total count.
fn count(record: &DataRecord, delta: &InfoElement, total: &InfoElement) -> Option<Count> {
    unsigned(record, delta)
        .map(Count::Delta)
        .or_else(|| unsigned(record, total).map(Count::Total))
}

/// The IPv4 address, else the IPv6 one.
fn address(record: &DataRecord, v4: &InfoElement, v6: &InfoElement) -> Option<IpAddr> {
    match record.get(v4.id) {
        Some(Value::Ipv4(a)) => Some(IpAddr::V4(*a)),
        _ => match record.get(v6.id) {
            Some(Value::Ipv6(a)) => Some(IpAddr::V6(*a)),
            _ => None,
        },
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::ipfix::DecodedField;

    pub fn exporter(s: &str, domain: u32) -> DomainKey {
        DomainKey {
            exporter: s.parse().unwrap(),
            observation_domain_id: domain,
        }
    }

    pub fn field(element: &InfoElement, value: Value) -> DecodedField {
        DecodedField {
            id: element.id,
            name: Some(element.name.clone()),
            value,
        }
    }

    pub fn data(fields: Vec<DecodedField>) -> DataRecord {
        DataRecord {
            template_id: 300,
            scope_field_count: 0,
            fields,
        }
    }

    #[test]
    fn an_ipv4_flow_with_delta_counts() {
        let r = data(vec![
            field(
                &ie::SOURCE_IPV4_ADDRESS,
                Value::Ipv4("192.0.2.1".parse().unwrap()),
            ),
            field(
                &ie::DESTINATION_IPV4_ADDRESS,
                Value::Ipv4("198.51.100.2".parse().unwrap()),
            ),
            field(&ie::SOURCE_TRANSPORT_PORT, Value::Unsigned(40_001)),
            field(&ie::DESTINATION_TRANSPORT_PORT, Value::Unsigned(443)),
            field(&ie::PROTOCOL_IDENTIFIER, Value::Unsigned(6)),
            field(&ie::FLOW_DIRECTION, Value::Unsigned(1)),
            field(&ie::OCTET_DELTA_COUNT, Value::Unsigned(1500)),
            field(&ie::PACKET_DELTA_COUNT, Value::Unsigned(3)),
        ]);
        let e = exporter("192.0.2.9:4739", 7);
        assert_eq!(
            read_record(e, &r),
            Some(FlowCounts {
                key: FlowKey {
                    exporter: e,
                    direction: FlowDirection::Egress,
                    tuple: Tuple {
                        protocol: Some(6),
                        src: Some("192.0.2.1".parse().unwrap()),
                        src_port: Some(40_001),
                        dst: Some("198.51.100.2".parse().unwrap()),
                        dst_port: Some(443),
                    },
                },
                octets: Some(Count::Delta(1500)),
                packets: Some(Count::Delta(3)),
            })
        );
    }

    #[test]
    fn ipv6_and_total_counts() {
        let r = data(vec![
            field(
                &ie::SOURCE_IPV6_ADDRESS,
                Value::Ipv6("2001:db8::1".parse().unwrap()),
            ),
            field(
                &ie::DESTINATION_IPV6_ADDRESS,
                Value::Ipv6("2001:db8::2".parse().unwrap()),
            ),
            field(&ie::OCTET_TOTAL_COUNT, Value::Unsigned(9_000)),
            field(&ie::PACKET_TOTAL_COUNT, Value::Unsigned(6)),
        ]);
        let f = read_record(exporter("[2001:db8::9]:4739", 0), &r).unwrap();
        assert_eq!(f.key.tuple.src, Some("2001:db8::1".parse().unwrap()));
        assert_eq!(f.key.tuple.dst, Some("2001:db8::2".parse().unwrap()));
        assert_eq!(f.octets, Some(Count::Total(9_000)));
        assert_eq!(f.packets, Some(Count::Total(6)));
        // A delta count wins over a total in the same record.
        let mut both = r.clone();
        both.fields
            .push(field(&ie::OCTET_DELTA_COUNT, Value::Unsigned(100)));
        let f = read_record(exporter("[2001:db8::9]:4739", 0), &both).unwrap();
        assert_eq!(f.octets, Some(Count::Delta(100)));
    }

    #[test]
    fn missing_fields_are_unknown_not_zero() {
        let r = data(vec![field(&ie::PACKET_DELTA_COUNT, Value::Unsigned(2))]);
        let f = read_record(exporter("192.0.2.9:4739", 1), &r).unwrap();
        assert_eq!(f.key.direction, FlowDirection::Unknown);
        assert_eq!(
            f.key.tuple,
            Tuple {
                protocol: None,
                src: None,
                src_port: None,
                dst: None,
                dst_port: None
            }
        );
        assert_eq!((f.octets, f.packets), (None, Some(Count::Delta(2))));
        // Wrongly typed values (octets where a number belongs) and an
        // out-of-range port are not guessed at.
        let odd = data(vec![
            field(&ie::OCTET_DELTA_COUNT, Value::Unsigned(10)),
            field(&ie::PACKET_DELTA_COUNT, Value::Bytes(vec![1, 2, 3])),
            field(&ie::SOURCE_TRANSPORT_PORT, Value::Unsigned(70_000)),
            field(&ie::PROTOCOL_IDENTIFIER, Value::Unsigned(300)),
            field(&ie::FLOW_DIRECTION, Value::Unsigned(7)),
        ]);
        let f = read_record(exporter("192.0.2.9:4739", 1), &odd).unwrap();
        assert_eq!((f.octets, f.packets), (Some(Count::Delta(10)), None));
        assert_eq!((f.key.tuple.src_port, f.key.tuple.protocol), (None, None));
        assert_eq!(f.key.direction, FlowDirection::Other(7));
        assert_eq!(f.key.direction.text(), "7");
    }

    #[test]
    fn not_flows() {
        let e = exporter("192.0.2.9:4739", 1);
        // No counts at all (our interface-name records look like this).
        let names = data(vec![field(
            &ie::INTERFACE_NAME,
            Value::String("eth0".into()),
        )]);
        assert_eq!(read_record(e, &names), None);
        // Options records are statistics, never flows.
        let mut options = data(vec![
            field(&ie::OBSERVATION_DOMAIN_ID, Value::Unsigned(1)),
            field(&ie::OCTET_DELTA_COUNT, Value::Unsigned(5)),
        ]);
        options.scope_field_count = 1;
        assert_eq!(read_record(e, &options), None);
    }
}
