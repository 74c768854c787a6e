//! Our fixed templates and the encoding of a [`FlowRecord`] into them.
//!
//! | ID  | kind    | records                                   | interface element  |
//! |-----|---------|-------------------------------------------|--------------------|
//! | 256 | data    | IPv4 TCP/UDP/SCTP/other, ingress          | `ingressInterface` |
//! | 257 | data    | IPv4 ICMP, ingress                        | `ingressInterface` |
//! | 258 | data    | IPv6 non-ICMPv6, ingress                  | `ingressInterface` |
//! | 259 | data    | IPv6 ICMPv6, ingress                      | `ingressInterface` |
//! | 260 | data    | IPv4 TCP/UDP/SCTP/other, egress           | `egressInterface`  |
//! | 261 | data    | IPv4 ICMP, egress                         | `egressInterface`  |
//! | 262 | data    | IPv6 non-ICMPv6, egress                   | `egressInterface`  |
//! | 263 | data    | IPv6 ICMPv6, egress                       | `egressInterface`  |
//! | 264 | options | scope `observationDomainId`; `systemInitTimeMilliseconds` | |
//! | 265 | options | scope `observationDomainId`; `exportedMessageTotalCount`, `exportedFlowRecordTotalCount`, `exportedOctetTotalCount`, `ignoredPacketTotalCount`, `ignoredOctetTotalCount`, `notSentFlowTotalCount` | |
//!
//! Data template elements, in order, all at full IANA size (IPv4 record 73
//! octets, IPv6 record 97):
//!
//! | # | non-ICMP                   | ICMP                         | octets |
//! |---|----------------------------|------------------------------|--------|
//! | 1 | `octetDeltaCount` (1)      | same                         | 8      |
//! | 2 | `packetDeltaCount` (2)     | same                         | 8      |
//! | 3 | `protocolIdentifier` (4)   | same                         | 1      |
//! | 4 | `sourceIPv4Address` (8) / `sourceIPv6Address` (27) | same | 4 / 16 |
//! | 5 | `destinationIPv4Address` (12) / `destinationIPv6Address` (28) | same | 4 / 16 |
//! | 6 | `sourceTransportPort` (7)  | same (0)                     | 2      |
//! | 7 | `destinationTransportPort` (11) | same (0)                | 2      |
//! | 8 | `flowDirection` (61)       | same                         | 1      |
//! | 9 | `tcpControlBits` (6), 2 octets | `ipClassOfService` (5)   | 2 / 1  |
//! | 10 | `ipClassOfService` (5)    | `icmpTypeCodeIPv4` (32) / `icmpTypeCodeIPv6` (139) | 1 / 2 |
//! | 11 | `ingressInterface` (10) / `egressInterface` (14) | same  | 4      |
//! | 12 | `minimumTTL` (52)         | same                          | 1      |
//! | 13 | `maximumTTL` (53)         | same                          | 1      |
//! | 14 | `flowStartSysUpTime` (22) | same                          | 4      |
//! | 15 | `flowEndSysUpTime` (21)   | same                          | 4      |
//! | 16 | `flowId` (148)            | same                          | 8      |
//! | 17 | `ipDiffServCodePoint` (195) | same                        | 1      |
//! | 18 | `flowStartMilliseconds` (152) | same                      | 8      |
//! | 19 | `flowEndMilliseconds` (153) | same                        | 8      |
//! | 20 | `flowEndReason` (136)     | same                          | 1      |
//!
//! Elements 1–17 keep the C package's order. Values: `icmpTypeCode*` =
//! type × 256 + code; `ipDiffServCodePoint` = TOS >> 2; `ipClassOfService`
//! = TOS (IPv4) or traffic class (IPv6); `minimumTTL`/`maximumTTL` carry the
//! IPv6 hop limit. SysUpTime elements are milliseconds since the
//! `system_init_ms` anchor the caller passes (the same value it sends in
//! template 264): `record_ms - system_init_ms`, 0 for records before the
//! anchor, `u32::MAX` for records more than 2^32 ms (49.7 days) after it —
//! clamped, never wrapped; the absolute `flow*Milliseconds` elements are
//! exact.

use std::net::IpAddr;

use super::error::EncodeError;
use super::field::FieldSpecifier;
use super::ie::{self, InfoElement};
use super::template::Template;
use crate::flow::{Direction, FlowRecord};

/// First data template ID; the eight data templates are 256..=263.
pub const FIRST_DATA_TEMPLATE_ID: u16 = 256;
/// Options template: `systemInitTimeMilliseconds` per observation domain.
pub const SYSTEM_INIT_TEMPLATE_ID: u16 = 264;
/// Options template: exporting-process statistics (RFC 7011 §4.3).
pub const STATISTICS_TEMPLATE_ID: u16 = 265;

/// Which of the eight data templates a record goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowTemplate {
    pub ipv6: bool,
    pub icmp: bool,
    pub direction: Direction,
}

/// The elements of the data templates, one variant per element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FlowField {
    OctetDeltaCount,
    PacketDeltaCount,
    ProtocolIdentifier,
    SourceIpv4Address,
    DestinationIpv4Address,
    SourceIpv6Address,
    DestinationIpv6Address,
    SourceTransportPort,
    DestinationTransportPort,
    FlowDirection,
    TcpControlBits,
    IpClassOfService,
    IcmpTypeCodeIpv4,
    IcmpTypeCodeIpv6,
    IngressInterface,
    EgressInterface,
    MinimumTtl,
    MaximumTtl,
    FlowStartSysUpTime,
    FlowEndSysUpTime,
    FlowId,
    IpDiffServCodePoint,
    FlowStartMilliseconds,
    FlowEndMilliseconds,
    FlowEndReason,
}

impl FlowField {
    fn element(self) -> InfoElement {
        use FlowField::*;
        match self {
            OctetDeltaCount => ie::OCTET_DELTA_COUNT,
            PacketDeltaCount => ie::PACKET_DELTA_COUNT,
            ProtocolIdentifier => ie::PROTOCOL_IDENTIFIER,
            SourceIpv4Address => ie::SOURCE_IPV4_ADDRESS,
            DestinationIpv4Address => ie::DESTINATION_IPV4_ADDRESS,
            SourceIpv6Address => ie::SOURCE_IPV6_ADDRESS,
            DestinationIpv6Address => ie::DESTINATION_IPV6_ADDRESS,
            SourceTransportPort => ie::SOURCE_TRANSPORT_PORT,
            DestinationTransportPort => ie::DESTINATION_TRANSPORT_PORT,
            FlowDirection => ie::FLOW_DIRECTION,
            TcpControlBits => ie::TCP_CONTROL_BITS,
            IpClassOfService => ie::IP_CLASS_OF_SERVICE,
            IcmpTypeCodeIpv4 => ie::ICMP_TYPE_CODE_IPV4,
            IcmpTypeCodeIpv6 => ie::ICMP_TYPE_CODE_IPV6,
            IngressInterface => ie::INGRESS_INTERFACE,
            EgressInterface => ie::EGRESS_INTERFACE,
            MinimumTtl => ie::MINIMUM_TTL,
            MaximumTtl => ie::MAXIMUM_TTL,
            FlowStartSysUpTime => ie::FLOW_START_SYS_UP_TIME,
            FlowEndSysUpTime => ie::FLOW_END_SYS_UP_TIME,
            FlowId => ie::FLOW_ID,
            IpDiffServCodePoint => ie::IP_DIFF_SERV_CODE_POINT,
            FlowStartMilliseconds => ie::FLOW_START_MILLISECONDS,
            FlowEndMilliseconds => ie::FLOW_END_MILLISECONDS,
            FlowEndReason => ie::FLOW_END_REASON,
        }
    }

    /// Full-size length; every element of ours has a fixed size.
    fn len(self) -> usize {
        self.element().ty.default_length().map_or(0, usize::from)
    }

    /// Writes this element of `r` (big-endian, full size) at the cursor.
    fn emit(self, r: &FlowRecord, system_init_ms: u64, out: &mut Cursor<'_>) {
        use FlowField::*;
        match self {
            OctetDeltaCount => out.put(&r.octets.to_be_bytes()),
            PacketDeltaCount => out.put(&r.packets.to_be_bytes()),
            ProtocolIdentifier => out.put(&[r.protocol]),
            SourceIpv4Address | SourceIpv6Address => put_addr(r.src_addr, out),
            DestinationIpv4Address | DestinationIpv6Address => put_addr(r.dst_addr, out),
            SourceTransportPort => out.put(&r.src_port.to_be_bytes()),
            DestinationTransportPort => out.put(&r.dst_port.to_be_bytes()),
            FlowDirection => out.put(&[r.direction.flow_direction()]),
            TcpControlBits => out.put(&r.tcp_flags.to_be_bytes()),
            IpClassOfService => out.put(&[r.tos]),
            IcmpTypeCodeIpv4 | IcmpTypeCodeIpv6 => out.put(&r.icmp_type_code().to_be_bytes()),
            IngressInterface => out.put(&r.ingress_ifindex.to_be_bytes()),
            EgressInterface => out.put(&r.egress_ifindex.to_be_bytes()),
            MinimumTtl => out.put(&[r.ttl_min]),
            MaximumTtl => out.put(&[r.ttl_max]),
            FlowStartSysUpTime => {
                out.put(&sys_up_time_ms(r.start_ms, system_init_ms).to_be_bytes())
            }
            FlowEndSysUpTime => out.put(&sys_up_time_ms(r.end_ms, system_init_ms).to_be_bytes()),
            FlowId => out.put(&r.flow_id.to_be_bytes()),
            IpDiffServCodePoint => out.put(&[r.dscp()]),
            FlowStartMilliseconds => out.put(&r.start_ms.to_be_bytes()),
            FlowEndMilliseconds => out.put(&r.end_ms.to_be_bytes()),
            FlowEndReason => out.put(&[r.end_reason.code()]),
        }
    }
}

fn put_addr(addr: IpAddr, out: &mut Cursor<'_>) {
    match addr {
        IpAddr::V4(a) => out.put(&a.octets()),
        IpAddr::V6(a) => out.put(&a.octets()),
    }
}

/// Writes fields one after another into a record's slot in the message,
/// without an intermediate buffer (a million records an interval).
struct Cursor<'a> {
    buf: &'a mut [u8],
    at: usize,
    overflow: bool,
}

impl<'a> Cursor<'a> {
    fn new(buf: &'a mut [u8]) -> Self {
        Cursor {
            buf,
            at: 0,
            overflow: false,
        }
    }

    fn put(&mut self, bytes: &[u8]) {
        let end = self.at + bytes.len();
        match self.buf.get_mut(self.at..end) {
            Some(slot) => slot.copy_from_slice(bytes),
            None => self.overflow = true,
        }
        self.at = end;
    }

    /// True when the fields filled the slot exactly.
    fn filled(&self) -> bool {
        !self.overflow && self.at == self.buf.len()
    }
}

/// Milliseconds since `system_init_ms`, saturating at 0 below the anchor and
/// clamped to `u32::MAX` (unsigned32, RFC 5102 `flowStartSysUpTime`).
pub fn sys_up_time_ms(epoch_ms: u64, system_init_ms: u64) -> u32 {
    u32::try_from(epoch_ms.saturating_sub(system_init_ms)).unwrap_or(u32::MAX)
}

impl FlowTemplate {
    /// All eight, in template ID order.
    pub fn all() -> impl Iterator<Item = FlowTemplate> {
        Direction::ALL.into_iter().flat_map(|direction| {
            [(false, false), (false, true), (true, false), (true, true)]
                .into_iter()
                .map(move |(ipv6, icmp)| FlowTemplate {
                    ipv6,
                    icmp,
                    direction,
                })
        })
    }

    /// The template a record belongs to: by direction, IP version (of the
    /// destination, as [`FlowRecord::is_ipv6`]) and ICMP-ness.
    pub fn of(record: &FlowRecord) -> Result<Self, EncodeError> {
        if record.src_addr.is_ipv6() != record.dst_addr.is_ipv6() {
            return Err(EncodeError::MixedAddressFamily {
                flow_id: record.flow_id,
            });
        }
        Ok(FlowTemplate {
            ipv6: record.is_ipv6(),
            icmp: record.is_icmp(),
            direction: record.direction,
        })
    }

    pub fn id(self) -> u16 {
        // SANITY: index() < 8.
        FIRST_DATA_TEMPLATE_ID + self.index() as u16
    }

    /// Position among [`Self::all`] (0..8), in template ID order.
    pub fn index(self) -> usize {
        let direction = match self.direction {
            Direction::Ingress => 0,
            Direction::Egress => 4,
        };
        direction + 2 * usize::from(self.ipv6) + usize::from(self.icmp)
    }

    fn fields(self) -> [FlowField; 20] {
        use FlowField::*;
        let (src, dst) = if self.ipv6 {
            (SourceIpv6Address, DestinationIpv6Address)
        } else {
            (SourceIpv4Address, DestinationIpv4Address)
        };
        let (ninth, tenth) = match (self.icmp, self.ipv6) {
            (false, _) => (TcpControlBits, IpClassOfService),
            (true, false) => (IpClassOfService, IcmpTypeCodeIpv4),
            (true, true) => (IpClassOfService, IcmpTypeCodeIpv6),
        };
        let interface = match self.direction {
            Direction::Ingress => IngressInterface,
            Direction::Egress => EgressInterface,
        };
        [
            OctetDeltaCount,
            PacketDeltaCount,
            ProtocolIdentifier,
            src,
            dst,
            SourceTransportPort,
            DestinationTransportPort,
            FlowDirection,
            ninth,
            tenth,
            interface,
            MinimumTtl,
            MaximumTtl,
            FlowStartSysUpTime,
            FlowEndSysUpTime,
            FlowId,
            IpDiffServCodePoint,
            FlowStartMilliseconds,
            FlowEndMilliseconds,
            FlowEndReason,
        ]
    }

    /// The template record announcing this template.
    pub fn template(self) -> Result<Template, EncodeError> {
        let specs = self
            .fields()
            .iter()
            .map(|f| {
                let e = f.element();
                FieldSpecifier::new(e.id, e.default_length())
            })
            .collect();
        Template::new(self.id(), specs)
    }

    /// Octets of one data record: 73 (IPv4) or 97 (IPv6).
    pub fn record_len(self) -> usize {
        self.fields().iter().map(|f| f.len()).sum()
    }

    /// Writes `record` into `buf` (exactly [`Self::record_len`] octets).
    pub fn emit_record(
        self,
        record: &FlowRecord,
        system_init_ms: u64,
        buf: &mut [u8],
    ) -> Result<(), EncodeError> {
        let mut out = Cursor::new(buf);
        for field in self.fields() {
            field.emit(record, system_init_ms, &mut out);
        }
        if !out.filled() {
            return Err(EncodeError::InvalidTemplate {
                template_id: self.id(),
                reason: "record does not match the template's length",
            });
        }
        Ok(())
    }
}

/// Options template 264: scope `observationDomainId`, then
/// `systemInitTimeMilliseconds` (RFC 7011 §4; anchors the SysUpTime
/// elements for collectors).
pub fn system_init_template() -> Result<Template, EncodeError> {
    options_template(
        SYSTEM_INIT_TEMPLATE_ID,
        &[ie::SYSTEM_INIT_TIME_MILLISECONDS],
    )
}

/// Options template 265: scope `observationDomainId`, then the RFC 7011
/// §4.3 exporting-process reliability statistics, in
/// [`ExportStatistics`] order.
pub fn statistics_template() -> Result<Template, EncodeError> {
    options_template(
        STATISTICS_TEMPLATE_ID,
        &[
            ie::EXPORTED_MESSAGE_TOTAL_COUNT,
            ie::EXPORTED_FLOW_RECORD_TOTAL_COUNT,
            ie::EXPORTED_OCTET_TOTAL_COUNT,
            ie::IGNORED_PACKET_TOTAL_COUNT,
            ie::IGNORED_OCTET_TOTAL_COUNT,
            ie::NOT_SENT_FLOW_TOTAL_COUNT,
        ],
    )
}

fn options_template(id: u16, fields: &[InfoElement]) -> Result<Template, EncodeError> {
    let scope = &ie::OBSERVATION_DOMAIN_ID;
    let specs = std::iter::once(scope)
        .chain(fields)
        .map(|e| FieldSpecifier::new(e.id, e.default_length()))
        .collect();
    Template::new_options(id, 1, specs)
}

/// Values of the statistics options record (template 265), totals since the
/// exporting process started, as the caller counted them for this
/// collector.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportStatistics {
    /// `exportedMessageTotalCount`: messages sent, excluding this one.
    pub exported_message_total: u64,
    /// `exportedFlowRecordTotalCount`: flow records sent, excluding this
    /// message's.
    pub exported_flow_record_total: u64,
    /// `exportedOctetTotalCount`: sum of the Length of sent messages.
    pub exported_octet_total: u64,
    /// `ignoredPacketTotalCount`: packets the metering process did not
    /// process (flow table full).
    pub ignored_packet_total: u64,
    /// `ignoredOctetTotalCount`: their octets.
    pub ignored_octet_total: u64,
    /// `notSentFlowTotalCount`: flow records generated but dropped.
    pub not_sent_flow_total: u64,
}

impl ExportStatistics {
    /// In template 265 order.
    pub fn values(&self) -> [u64; 6] {
        [
            self.exported_message_total,
            self.exported_flow_record_total,
            self.exported_octet_total,
            self.ignored_packet_total,
            self.ignored_octet_total,
            self.not_sent_flow_total,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_in_index_and_id_order() {
        for (i, t) in FlowTemplate::all().enumerate() {
            assert_eq!(t.index(), i);
            assert_eq!(usize::from(t.id()), 256 + i);
        }
    }

    #[test]
    fn ids_and_lengths() {
        let ids: Vec<u16> = FlowTemplate::all().map(|t| t.id()).collect();
        assert_eq!(ids, (256..=263).collect::<Vec<_>>());
        for t in FlowTemplate::all() {
            assert_eq!(t.record_len(), if t.ipv6 { 97 } else { 73 });
            let template = t.template().unwrap();
            assert_eq!(template.fields().len(), 20);
            // 4-octet header + 20 IANA specifiers.
            assert_eq!(template.buffer_len(), 84);
        }
        assert_eq!(system_init_template().unwrap().buffer_len(), 6 + 2 * 4);
        assert_eq!(statistics_template().unwrap().buffer_len(), 6 + 7 * 4);
    }

    #[test]
    fn template_256_golden() {
        let t = FlowTemplate {
            ipv6: false,
            icmp: false,
            direction: Direction::Ingress,
        };
        let template = t.template().unwrap();
        let mut buf = vec![0u8; template.buffer_len()];
        template.emit(&mut buf).unwrap();
        #[rustfmt::skip]
        let golden = [
            0x01, 0x00, 0x00, 0x14, // template 256, 20 fields
            0x00, 0x01, 0x00, 0x08, // octetDeltaCount
            0x00, 0x02, 0x00, 0x08, // packetDeltaCount
            0x00, 0x04, 0x00, 0x01, // protocolIdentifier
            0x00, 0x08, 0x00, 0x04, // sourceIPv4Address
            0x00, 0x0c, 0x00, 0x04, // destinationIPv4Address
            0x00, 0x07, 0x00, 0x02, // sourceTransportPort
            0x00, 0x0b, 0x00, 0x02, // destinationTransportPort
            0x00, 0x3d, 0x00, 0x01, // flowDirection
            0x00, 0x06, 0x00, 0x02, // tcpControlBits
            0x00, 0x05, 0x00, 0x01, // ipClassOfService
            0x00, 0x0a, 0x00, 0x04, // ingressInterface
            0x00, 0x34, 0x00, 0x01, // minimumTTL
            0x00, 0x35, 0x00, 0x01, // maximumTTL
            0x00, 0x16, 0x00, 0x04, // flowStartSysUpTime
            0x00, 0x15, 0x00, 0x04, // flowEndSysUpTime
            0x00, 0x94, 0x00, 0x08, // flowId
            0x00, 0xc3, 0x00, 0x01, // ipDiffServCodePoint
            0x00, 0x98, 0x00, 0x08, // flowStartMilliseconds
            0x00, 0x99, 0x00, 0x08, // flowEndMilliseconds
            0x00, 0x88, 0x00, 0x01, // flowEndReason
        ];
        assert_eq!(buf, golden);
    }

    #[test]
    fn icmp_and_egress_swap_the_right_elements() {
        let ids = |t: FlowTemplate| -> Vec<u16> {
            t.template()
                .unwrap()
                .fields()
                .iter()
                .map(|f| f.id.number())
                .collect()
        };
        let v6_icmp_egress = FlowTemplate {
            ipv6: true,
            icmp: true,
            direction: Direction::Egress,
        };
        assert_eq!(v6_icmp_egress.id(), 263);
        assert_eq!(
            ids(v6_icmp_egress),
            [1, 2, 4, 27, 28, 7, 11, 61, 5, 139, 14, 52, 53, 22, 21, 148, 195, 152, 153, 136]
        );
        let v4_icmp_ingress = FlowTemplate {
            ipv6: false,
            icmp: true,
            direction: Direction::Ingress,
        };
        assert_eq!(v4_icmp_ingress.id(), 257);
        assert_eq!(
            ids(v4_icmp_ingress)[8..11],
            [5, 32, 10] // ipClassOfService, icmpTypeCodeIPv4, ingressInterface
        );
    }

    #[test]
    fn sys_up_time_clamps() {
        assert_eq!(sys_up_time_ms(1_000, 400), 600);
        assert_eq!(sys_up_time_ms(399, 400), 0);
        assert_eq!(sys_up_time_ms(400 + (1 << 32), 400), u32::MAX);
        assert_eq!(sys_up_time_ms(400 + u64::from(u32::MAX), 400), u32::MAX);
    }
}
