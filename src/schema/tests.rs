//! Whole-message tests: our templates and records through the builder and
//! back through the decoder, byte-exact golden messages, MTU splitting,
//! sequence numbers, custom (variable-length, enterprise) records, options
//! records, and a property test over generated flows.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::*;
use crate::flow::record::{PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP};
use crate::flow::{Direction, FlowEndReason, FlowRecord};
use crate::ipfix::*;

const EXPORTER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)), 40000);
const EXPORT_TIME: u32 = 1_700_000_002;
const SYSTEM_INIT_MS: u64 = 1_699_999_990_000;

fn v4_tcp_ingress() -> FlowRecord {
    FlowRecord {
        src_addr: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
        dst_addr: IpAddr::V4(Ipv4Addr::new(198, 51, 100, 2)),
        src_port: 49152,
        dst_port: 443,
        protocol: PROTO_TCP,
        icmp_type: 0,
        icmp_code: 0,
        direction: Direction::Ingress,
        vlan_id: 100,
        inner_vlan_id: 0,
        src_mac: [0x02, 0, 0, 0, 0, 0x01],
        dst_mac: [0x02, 0, 0, 0, 0, 0x02],
        ingress_ifindex: 2,
        egress_ifindex: 0,
        packets: 10,
        octets: 1500,
        tcp_flags: 0x1b,
        ttl_min: 63,
        ttl_max: 64,
        tos: 0xb8,
        start_ms: 1_700_000_000_000,
        end_ms: 1_700_000_001_500,
        end_reason: FlowEndReason::EndOfFlow,
        flow_id: 42,
    }
}

fn v6_icmp_egress() -> FlowRecord {
    FlowRecord {
        src_addr: IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
        dst_addr: IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2)),
        src_port: 0,
        dst_port: 0,
        protocol: PROTO_ICMPV6,
        icmp_type: 128,
        icmp_code: 0,
        direction: Direction::Egress,
        vlan_id: 300,
        inner_vlan_id: 42,
        src_mac: [0x02, 0, 0, 0, 0, 0x0a],
        dst_mac: [0x02, 0, 0, 0, 0, 0x0b],
        ingress_ifindex: 9,
        egress_ifindex: 3,
        packets: 4,
        octets: 416,
        tcp_flags: 0,
        ttl_min: 64,
        ttl_max: 64,
        tos: 0,
        start_ms: 1_700_000_000_000,
        end_ms: 1_700_000_003_000,
        end_reason: FlowEndReason::IdleTimeout,
        flow_id: 43,
    }
}

fn encode(session: &mut Session, mtu: Mtu, records: &[FlowRecord]) -> Vec<Message> {
    let mut b = session.builder(EXPORT_TIME, mtu);
    b.add_flow_records(records, Some(SYSTEM_INIT_MS)).unwrap();
    b.finish().unwrap()
}

fn templates_message(session: &mut Session) -> Message {
    let mut b = session.builder(EXPORT_TIME, Mtu::DEFAULT);
    b.add_flow_templates(true).unwrap();
    let mut msgs = b.finish().unwrap();
    assert_eq!(msgs.len(), 1);
    msgs.remove(0)
}

/// A decoder that has seen our templates.
fn primed_decoder() -> Decoder {
    let mut d = Decoder::default();
    let msg = templates_message(&mut Session::new(7));
    d.decode(EXPORTER, &msg.bytes).unwrap();
    d
}

fn decode_flows(d: &mut Decoder, msgs: &[Message]) -> Vec<FlowRecord> {
    msgs.iter()
        .flat_map(|m| {
            let decoded = d.decode(EXPORTER, &m.bytes).unwrap();
            assert_eq!(decoded.message_len(), m.bytes.len());
            decoded
                .records()
                .map(|r| r.to_flow_record().unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn golden_ipv4_tcp_ingress_message() {
    let msgs = encode(&mut Session::new(7), Mtu::DEFAULT, &[v4_tcp_ingress()]);
    #[rustfmt::skip]
    let golden: [u8; 116] = [
        // message header
        0x00, 0x0a, 0x00, 0x74,                         // version 10, length 116
        0x65, 0x53, 0xf1, 0x02,                         // export time 1700000002
        0x00, 0x00, 0x00, 0x00,                         // sequence number 0
        0x00, 0x00, 0x00, 0x07,                         // observation domain 7
        // data set
        0x01, 0x16, 0x00, 0x64,                         // set 278, length 100
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0xdc, // octetDeltaCount 1500
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, // packetDeltaCount 10
        0x06,                                           // protocolIdentifier TCP
        192, 0, 2, 1,                                   // sourceIPv4Address
        198, 51, 100, 2,                                // destinationIPv4Address
        0xc0, 0x00,                                     // sourceTransportPort 49152
        0x01, 0xbb,                                     // destinationTransportPort 443
        0x00,                                           // flowDirection ingress
        0x00, 0x1b,                                     // tcpControlBits FIN SYN PSH ACK
        0xb8,                                           // ipClassOfService
        0x00, 0x00, 0x00, 0x02,                         // ingressInterface 2
        0x00, 0x00, 0x00, 0x00,                         // egressInterface 0 (not known)
        0x3f,                                           // minimumTTL 63
        0x40,                                           // maximumTTL 64
        0x00, 0x00, 0x27, 0x10,                         // flowStartSysUpTime 10000
        0x00, 0x00, 0x2c, 0xec,                         // flowEndSysUpTime 11500
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a, // flowId 42
        0x2e,                                           // ipDiffServCodePoint 46 (EF)
        0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, // flowStartMilliseconds
        0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x6d, 0xdc, // flowEndMilliseconds
        0x03,                                           // flowEndReason end of flow
        0x04,                                           // ipVersion 4
        0x00, 0x64,                                     // vlanId 100 (ingress)
        0x00, 0x00,                                     // postVlanId 0 (not known)
        0x00, 0x00,                                     // dot1qCustomerVlanId 0 (none)
        0x02, 0, 0, 0, 0, 0x01,                         // sourceMacAddress
        0x02, 0, 0, 0, 0, 0x02,                         // destinationMacAddress
    ];
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].bytes, golden);
    let mut d = primed_decoder();
    assert_eq!(decode_flows(&mut d, &msgs), [v4_tcp_ingress()]);
}

#[test]
fn golden_ipv6_icmpv6_egress_message() {
    let msgs = encode(&mut Session::new(7), Mtu::DEFAULT, &[v6_icmp_egress()]);
    #[rustfmt::skip]
    let golden: [u8; 140] = [
        // message header
        0x00, 0x0a, 0x00, 0x8c,                         // version 10, length 140
        0x65, 0x53, 0xf1, 0x02,                         // export time 1700000002
        0x00, 0x00, 0x00, 0x00,                         // sequence number 0
        0x00, 0x00, 0x00, 0x07,                         // observation domain 7
        // data set
        0x01, 0x1d, 0x00, 0x7c,                         // set 285, length 124
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xa0, // octetDeltaCount 416
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, // packetDeltaCount 4
        0x3a,                                           // protocolIdentifier ICMPv6
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0x01,                      // sourceIPv6Address 2001:db8::1
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0x02,                      // destinationIPv6Address 2001:db8::2
        0x00, 0x00,                                     // sourceTransportPort 0
        0x00, 0x00,                                     // destinationTransportPort 0
        0x01,                                           // flowDirection egress
        0x00,                                           // ipClassOfService
        0x80, 0x00,                                     // icmpTypeCodeIPv6 128/0 echo request
        0x00, 0x00, 0x00, 0x09,                         // ingressInterface 9 (came in there)
        0x00, 0x00, 0x00, 0x03,                         // egressInterface 3
        0x40,                                           // minimumTTL (hop limit) 64
        0x40,                                           // maximumTTL (hop limit) 64
        0x00, 0x00, 0x27, 0x10,                         // flowStartSysUpTime 10000
        0x00, 0x00, 0x32, 0xc8,                         // flowEndSysUpTime 13000
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2b, // flowId 43
        0x00,                                           // ipDiffServCodePoint
        0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, // flowStartMilliseconds
        0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x73, 0xb8, // flowEndMilliseconds
        0x01,                                           // flowEndReason idle timeout
        0x06,                                           // ipVersion 6
        0x00, 0x00,                                     // vlanId 0 (not known)
        0x01, 0x2c,                                     // postVlanId 300 (egress)
        0x00, 0x2a,                                     // dot1qCustomerVlanId 42
        0x02, 0, 0, 0, 0, 0x0a,                         // sourceMacAddress
        0x02, 0, 0, 0, 0, 0x0b,                         // destinationMacAddress
    ];
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].bytes, golden);
    let mut d = primed_decoder();
    assert_eq!(decode_flows(&mut d, &msgs), [v6_icmp_egress()]);
}

#[test]
fn golden_options_message() {
    let mut session = Session::new(7);
    let mut b = session.builder(EXPORT_TIME, Mtu::DEFAULT);
    b.add_system_init_time(SYSTEM_INIT_MS).unwrap();
    b.add_statistics(&ExportStatistics {
        exporting_process_id: 0x4242,
        exported_message_total: 1,
        exported_flow_record_total: 2,
        exported_octet_total: 3,
        ignored_packet_total: 4,
        ignored_octet_total: 5,
        not_sent_flow_total: 6,
    })
    .unwrap();
    let msgs = b.finish().unwrap();
    #[rustfmt::skip]
    let golden: [u8; 96] = [
        0x00, 0x0a, 0x00, 0x60,                         // version 10, length 96
        0x65, 0x53, 0xf1, 0x02,                         // export time
        0x00, 0x00, 0x00, 0x00,                         // sequence number 0
        0x00, 0x00, 0x00, 0x07,                         // observation domain 7
        0x01, 0x08, 0x00, 0x10,                         // set 264, length 16
        0x00, 0x00, 0x00, 0x07,                         //   scope observationDomainId 7
        0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x40, 0xf0, //   systemInitTimeMilliseconds
        0x01, 0x0a, 0x00, 0x30,                         // set 266, length 48
        0x00, 0x00, 0x00, 0x07,                         //   scope observationDomainId 7
        0, 0, 0, 0, 0, 0, 0, 1,                         //   exportedMessageTotalCount
        0, 0, 0, 0, 0, 0, 0, 2,                         //   exportedFlowRecordTotalCount
        0, 0, 0, 0, 0, 0, 0, 3,                         //   exportedOctetTotalCount
        0, 0, 0, 0, 0, 0, 0, 4,                         //   ignoredPacketTotalCount
        0, 0, 0, 0, 0, 0, 0, 5,                         //   ignoredOctetTotalCount
        0x01, 0x0b, 0x00, 0x10,                         // set 267, length 16
        0x00, 0x00, 0x42, 0x42,                         //   scope exportingProcessId
        0, 0, 0, 0, 0, 0, 0, 6,                         //   notSentFlowTotalCount
    ];
    assert_eq!(msgs[0].bytes, golden);
    // Options data records count toward the sequence number.
    assert_eq!(session.next_sequence_number(), 3);

    let mut d = primed_decoder();
    let decoded = d.decode(EXPORTER, &msgs[0].bytes).unwrap();
    let recs: Vec<_> = decoded.records().collect();
    assert_eq!(recs.len(), 3);
    assert!(recs
        .iter()
        .all(|r| r.is_options() && r.scope_fields().len() == 1));
    assert_eq!(
        recs[0].get(ie::OBSERVATION_DOMAIN_ID.id),
        Some(&Value::Unsigned(7))
    );
    assert_eq!(
        recs[0].get(ie::SYSTEM_INIT_TIME_MILLISECONDS.id),
        Some(&Value::DateTimeMilliseconds(SYSTEM_INIT_MS))
    );
    assert_eq!(
        recs[2].get(ie::NOT_SENT_FLOW_TOTAL_COUNT.id),
        Some(&Value::Unsigned(6))
    );
    assert_eq!(
        recs[2].get(ie::EXPORTING_PROCESS_ID.id),
        Some(&Value::Unsigned(0x4242))
    );
    assert_eq!(
        recs[1].fields[4].name.as_deref(),
        Some("ignoredPacketTotalCount")
    );
}

#[test]
fn template_message_decodes_to_our_sixteen_templates() {
    let msg = templates_message(&mut Session::new(7));
    // 16 header + set 2 (4 + 8 × 112) + eight sets 3, one options template
    // each (4 + 14, 30, 14, 14, 14, 18, 34, 30)
    assert_eq!(
        msg.bytes.len(),
        16 + 4 + 8 * 112 + 8 * 4 + 14 + 30 + 14 + 14 + 14 + 18 + 34 + 30
    );
    assert_eq!(msg.data_records, 0);
    let mut d = Decoder::default();
    let decoded = d.decode(EXPORTER, &msg.bytes).unwrap();
    let ids: Vec<u16> = decoded
        .events
        .iter()
        .map(|e| match e {
            Event::Template {
                template,
                replaced: false,
            } => template.id(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        ids,
        [278, 279, 280, 281, 282, 283, 284, 285, 264, 266, 267, 276, 277, 286, 287, 296]
    );
}

/// Template 286 names interfaces by index: variable-length strings,
/// decoded back as what was sent.
#[test]
fn interface_names_round_trip() {
    let mut session = Session::new(7);
    let templates = templates_message(&mut session);
    let interfaces = [
        InterfaceName {
            index: 2,
            name: "eth0".into(),
            description: "uplink to ToR 1".into(),
        },
        InterfaceName {
            index: 17,
            name: "veth0a1b2c3".into(),
            description: String::new(),
        },
    ];
    let mut b = session.builder(EXPORT_TIME, Mtu::DEFAULT);
    b.add_interface_names(&interfaces).unwrap();
    let msgs = b.finish().unwrap();
    let mut d = Decoder::default();
    d.decode(EXPORTER, &templates.bytes).unwrap();
    let decoded = d.decode(EXPORTER, &msgs[0].bytes).unwrap();
    let got: Vec<(Option<&Value>, Option<&Value>, Option<&Value>)> = decoded
        .records()
        .map(|r| {
            assert_eq!(r.template_id, 286);
            assert!(r.is_options());
            (
                r.get(ie::INGRESS_INTERFACE.id),
                r.get(ie::INTERFACE_NAME.id),
                r.get(ie::INTERFACE_DESCRIPTION.id),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                Some(&Value::Unsigned(2)),
                Some(&Value::String("eth0".into())),
                Some(&Value::String("uplink to ToR 1".into()))
            ),
            (
                Some(&Value::Unsigned(17)),
                Some(&Value::String("veth0a1b2c3".into())),
                Some(&Value::String(String::new()))
            ),
        ]
    );
}

#[test]
fn every_template_round_trips() {
    let mut records = Vec::new();
    for (i, t) in FlowTemplate::in_use(true).enumerate() {
        let mut r = if t.ipv6 {
            v6_icmp_egress()
        } else {
            v4_tcp_ingress()
        };
        r.flow_id = i as u64;
        r.direction = t.direction;
        (r.ingress_ifindex, r.egress_ifindex) = match t.direction {
            Direction::Ingress => (5, 0),
            Direction::Egress => (4, 6),
        };
        (
            r.protocol,
            r.icmp_type,
            r.icmp_code,
            r.tcp_flags,
            r.src_port,
        ) = match (t.icmp, t.ipv6) {
            (true, false) => (PROTO_ICMP, 3, 1, 0, 0),
            (true, true) => (PROTO_ICMPV6, 1, 4, 0, 0),
            (false, _) => (PROTO_TCP, 0, 0, 0x12, 80),
        };
        assert_eq!(FlowTemplate::of(&r, true).unwrap(), t);
        records.push(r);
    }
    let msgs = encode(&mut Session::new(7), Mtu::DEFAULT, &records);
    assert_eq!(msgs.len(), 1);
    let decoded = primed_decoder().decode(EXPORTER, &msgs[0].bytes).unwrap();
    let ids: Vec<u16> = decoded.records().map(|r| r.template_id).collect();
    assert_eq!(ids, (278..=285).collect::<Vec<_>>());
    let flows: Vec<FlowRecord> = decoded
        .records()
        .map(|r| r.to_flow_record().unwrap())
        .collect();
    assert_eq!(flows, records);
    // The SysUpTime elements are relative to the anchor.
    let first = decoded.records().next().unwrap();
    assert_eq!(
        first.get(ie::FLOW_START_SYS_UP_TIME.id),
        Some(&Value::Unsigned(10_000))
    );
}

#[test]
fn mtu_splitting_and_sequence_numbers() {
    let records: Vec<FlowRecord> = (0..100)
        .map(|i| FlowRecord {
            flow_id: i,
            ..v4_tcp_ingress()
        })
        .collect();
    let mut session = Session::new(7);
    let msgs = encode(&mut session, Mtu::DEFAULT, &records);
    // (1400 - 16 - 4) / 96 = 14 records per message: 14 × 7 + 2.
    assert_eq!(msgs.len(), 8);
    assert!(msgs.iter().all(|m| m.bytes.len() <= 1400));
    assert_eq!(msgs[0].bytes.len(), 16 + 4 + 14 * 96);
    let seqs: Vec<u32> = msgs.iter().map(|m| m.sequence_number).collect();
    assert_eq!(seqs, [0, 14, 28, 42, 56, 70, 84, 98]);
    // The next batch continues where this one ended.
    let next = encode(&mut session, Mtu::DEFAULT, &records[..1]);
    assert_eq!(next[0].sequence_number, 100);

    let mut d = primed_decoder();
    let mut flows = decode_flows(&mut d, &msgs);
    flows.extend(decode_flows(&mut d, &next));
    assert_eq!(flows.len(), 101);
    assert_eq!(flows[..100], records[..]);
}

#[test]
fn sequence_gap_is_reported() {
    let mut session = Session::new(7);
    let first = encode(&mut session, Mtu::DEFAULT, &[v4_tcp_ingress()]);
    let _lost = encode(&mut session, Mtu::DEFAULT, &[v4_tcp_ingress()]);
    let third = encode(&mut session, Mtu::DEFAULT, &[v4_tcp_ingress()]);
    let mut d = primed_decoder();
    d.decode(EXPORTER, &first[0].bytes).unwrap();
    let decoded = d.decode(EXPORTER, &third[0].bytes).unwrap();
    assert_eq!(
        decoded.events[0],
        Event::SequenceMismatch {
            expected: 1,
            received: 2
        }
    );
}

#[test]
fn oversized_custom_record_is_an_error() {
    let blob = InfoElement::enterprise(32473, 9, "blob", AbstractType::OctetArray).unwrap();
    let t = TypedTemplate::new(400, vec![(blob, FieldLength::Variable)]).unwrap();
    let mut session = Session::new(1);
    let mut b = session.builder(0, Mtu::DEFAULT);
    let err = b
        .add_custom_record(&t, &[Value::Bytes(vec![0; 1400])])
        .unwrap_err();
    assert_eq!(
        err,
        EncodeError::RecordTooLarge {
            set_id: 400,
            record_len: 1403,
            mtu: 1400
        }
    );
    assert!(b.finish().unwrap().is_empty());
}

#[test]
fn custom_variable_length_and_enterprise_round_trip() {
    let label = InfoElement::enterprise(32473, 1, "interfaceLabel", AbstractType::String).unwrap();
    let score = InfoElement::enterprise(32473, 2, "score", AbstractType::Signed32).unwrap();
    let blob = InfoElement::enterprise(32473, 3, "opaque", AbstractType::OctetArray).unwrap();
    let template = TypedTemplate::new(
        300,
        vec![
            (ie::FLOW_ID, FieldLength::Fixed(8)),
            (ie::OCTET_DELTA_COUNT, FieldLength::Fixed(4)), // reduced size
            (label.clone(), FieldLength::Variable),
            (score.clone(), FieldLength::Fixed(2)), // reduced size
            (blob.clone(), FieldLength::Variable),
        ],
    )
    .unwrap();
    let rows: Vec<Vec<Value>> = (0..40u16)
        .map(|i| {
            vec![
                Value::Unsigned(u64::from(i)),
                Value::Unsigned(u64::from(i) * 1000),
                Value::String("x".repeat(usize::from(i) * 10)),
                Value::Signed(-i64::from(i)),
                Value::Bytes(vec![i as u8; usize::from(i) * 9]),
            ]
        })
        .collect();
    let mut session = Session::new(9);
    let mut b = session.builder(EXPORT_TIME, Mtu::DEFAULT);
    b.add_template(template.template()).unwrap();
    for row in &rows {
        b.add_custom_record(&template, row).unwrap();
    }
    let msgs = b.finish().unwrap();
    assert!(msgs.len() > 1, "long values spill into more messages");
    assert!(msgs.iter().all(|m| m.bytes.len() <= 1400));

    // Knowing the elements: typed and named values.
    let mut d = Decoder::default().with_elements([label, score, blob]);
    let mut got = Vec::new();
    for m in &msgs {
        for r in d.decode(EXPORTER, &m.bytes).unwrap().records() {
            assert_eq!(r.fields[2].name.as_deref(), Some("interfaceLabel"));
            got.push(r.values().cloned().collect::<Vec<_>>());
        }
    }
    assert_eq!(got, rows);

    // Not knowing them: raw octets, same framing.
    let mut d = Decoder::default();
    let mut count = 0;
    for m in &msgs {
        for r in d.decode(EXPORTER, &m.bytes).unwrap().records() {
            assert_eq!(r.fields[2].name, None);
            assert!(matches!(r.fields[3].value, Value::Bytes(ref b) if b.len() == 2));
            count += 1;
        }
    }
    assert_eq!(count, rows.len());
}

/// xorshift64*: deterministic, dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn byte(&mut self) -> u8 {
        self.next().to_be_bytes()[0]
    }
}

/// A flow the datapath could produce. Fields a template does not carry are
/// zero, as the datapath leaves them: ICMP type/code outside ICMP, TCP
/// flags and ports in ICMP, the interface of the other direction.
fn arbitrary_flow(rng: &mut Rng, flow_id: u64) -> FlowRecord {
    let ipv6 = rng.below(2) == 1;
    let (src_addr, dst_addr) = if ipv6 {
        let a = Ipv6Addr::from(u128::from(rng.next()) << 64 | u128::from(rng.next()));
        let b = Ipv6Addr::from(u128::from(rng.next()) << 64 | u128::from(rng.next()));
        (IpAddr::V6(a), IpAddr::V6(b))
    } else {
        let (a, b) = (rng.next().to_be_bytes(), rng.next().to_be_bytes());
        (
            IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3])),
            IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3])),
        )
    };
    let protocols = [PROTO_ICMP, PROTO_TCP, 17, PROTO_ICMPV6, 132, 47, rng.byte()];
    let protocol = protocols[rng.below(protocols.len() as u64) as usize];
    let direction = Direction::ALL[rng.below(2) as usize];
    let ttl_min = rng.byte();
    let start_ms = 1_600_000_000_000 + rng.below(1 << 40);
    let end_reasons = [
        FlowEndReason::IdleTimeout,
        FlowEndReason::ActiveTimeout,
        FlowEndReason::EndOfFlow,
        FlowEndReason::ForcedEnd,
        FlowEndReason::LackOfResources,
    ];
    let mut r = FlowRecord {
        src_addr,
        dst_addr,
        src_port: rng.next() as u16,
        dst_port: rng.next() as u16,
        protocol,
        icmp_type: rng.byte(),
        icmp_code: rng.byte(),
        direction,
        vlan_id: rng.next() as u16 & 0xfff,
        inner_vlan_id: rng.next() as u16 & 0xfff,
        src_mac: rng.next().to_be_bytes()[..6].try_into().unwrap(),
        dst_mac: rng.next().to_be_bytes()[2..].try_into().unwrap(),
        ingress_ifindex: rng.next() as u32,
        egress_ifindex: rng.next() as u32,
        packets: rng.next(),
        octets: rng.next(),
        tcp_flags: rng.next() as u16 & 0x1ff,
        ttl_min,
        ttl_max: ttl_min.saturating_add(rng.byte() % 8),
        tos: rng.byte(),
        start_ms,
        end_ms: start_ms + rng.below(1 << 30),
        end_reason: end_reasons[rng.below(5) as usize],
        flow_id,
    };
    if r.is_icmp() {
        (r.src_port, r.dst_port, r.tcp_flags) = (0, 0, 0);
    } else {
        (r.icmp_type, r.icmp_code) = (0, 0);
    }
    match direction {
        Direction::Ingress => r.egress_ifindex = 0,
        Direction::Egress => r.ingress_ifindex = 0,
    }
    r
}

#[test]
fn property_generated_flows_round_trip() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for round in 0..20u64 {
        let n = rng.below(300) as usize;
        let records: Vec<FlowRecord> = (0..n)
            .map(|i| arbitrary_flow(&mut rng, round * 1000 + i as u64))
            .collect();
        let mtu = Mtu::new(200 + rng.below(1300) as usize).unwrap();
        let mut session = Session::new(round as u32);
        let mut b = session.builder(EXPORT_TIME, mtu);
        b.add_flow_records(&records, Some(SYSTEM_INIT_MS)).unwrap();
        let msgs = b.finish().unwrap();
        assert!(msgs.iter().all(|m| m.bytes.len() <= mtu.bytes()));
        let total: u32 = msgs.iter().map(|m| m.data_records).sum();
        assert_eq!(total as usize, n);
        assert_eq!(session.next_sequence_number() as usize, n);

        let mut d = Decoder::default();
        let mut t = Session::new(round as u32);
        d.decode(EXPORTER, &templates_message(&mut t).bytes)
            .unwrap();
        let mut flows = Vec::new();
        for m in &msgs {
            let decoded = d.decode(EXPORTER, &m.bytes).unwrap();
            assert!(!decoded
                .events
                .iter()
                .any(|e| matches!(e, Event::SequenceMismatch { .. })));
            flows.extend(decoded.records().map(|r| r.to_flow_record().unwrap()));
        }
        flows.sort_by_key(|f| f.flow_id);
        assert_eq!(flows, records, "round {round}");
    }
}

#[test]
fn mixed_address_family_rejects_the_batch() {
    let mut bad = v4_tcp_ingress();
    bad.src_addr = IpAddr::V6(Ipv6Addr::LOCALHOST);
    let mut session = Session::new(1);
    let mut b = session.builder(0, Mtu::DEFAULT);
    assert_eq!(
        b.add_flow_records(&[v4_tcp_ingress(), bad], Some(0)),
        Err(EncodeError::MixedAddressFamily { flow_id: 42 })
    );
    assert!(b.finish().unwrap().is_empty());
}

/// Mutated and truncated real messages: errors allowed, panics not.
#[test]
fn fuzzed_input_never_panics() {
    let mut session = Session::new(1);
    let mut b = session.builder(0, Mtu::DEFAULT);
    b.add_flow_templates(true).unwrap();
    let label = InfoElement::enterprise(1, 1, "l", AbstractType::String).unwrap();
    let custom = TypedTemplate::new(400, vec![(label, FieldLength::Variable)]).unwrap();
    b.add_template(custom.template()).unwrap();
    b.add_custom_record(&custom, &[Value::String("abc".into())])
        .unwrap();
    b.add_system_init_time(5).unwrap();
    let seeds: Vec<Vec<u8>> = b.finish().unwrap().into_iter().map(|m| m.bytes).collect();
    let mut state = 0x1234_5678_9abc_def0u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut d = Decoder::default();
    for _ in 0..20_000 {
        let seed = &seeds[(next() % seeds.len() as u64) as usize];
        let mut m = seed.clone();
        for _ in 0..1 + next() % 4 {
            let at = (next() % m.len() as u64) as usize;
            m[at] = next() as u8;
        }
        if next() % 4 == 0 {
            m.truncate((next() % m.len() as u64) as usize);
        }
        let _ = d.decode(EXPORTER, &m);
    }
}

/// The README's element table, as the schema table says it must read.
fn readme_element_table() -> String {
    let mut out =
        String::from("| # | element | ID | octets | in templates |\n|---|---|---|---|---|\n");
    for (i, e) in elements::FLOW_ELEMENTS.iter().enumerate() {
        out += &format!(
            "| {} | `{}` | {} | {} | {} |\n",
            i + 1,
            e.element.name,
            e.element.id.number(),
            e.octets(),
            e.carried.describe()
        );
    }
    out
}

#[test]
fn readme_element_table_is_the_schema_table() {
    let readme = include_str!("../../README.md");
    let want = readme_element_table();
    assert!(
        readme.contains(&want),
        "README.md's element table differs from schema::elements; it should read:\n{want}"
    );
}
