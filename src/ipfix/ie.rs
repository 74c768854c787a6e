//! Information Elements: abstract types, element identities, and the
//! elements this crate uses by name.
//!
//! RFC 7012 §3 defines the abstract data types; the IANA "IPFIX Information
//! Elements" registry assigns numbers, names and types. Code that sends or
//! reads an element refers to the named constants below
//! (`ie::OCTET_DELTA_COUNT`), never to a number or a name string. The whole
//! registry, for naming and typing whatever another exporter sends, is
//! [`super::registry`]; every constant here must agree with it in number,
//! name and type (a test there checks).
//!
//! `tcpControlBits` is `unsigned16` since RFC 7125 revised it (RFC 5102 had
//! `unsigned8`); the registry copy agrees. Every other element is unchanged
//! since RFC 5102.

use std::borrow::Cow;
use std::fmt;

use super::error::EncodeError;

/// Abstract data types, RFC 7012 §3.1 (RFC 6313 adds the three list types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AbstractType {
    Unsigned8,
    Unsigned16,
    Unsigned32,
    Unsigned64,
    Signed8,
    Signed16,
    Signed32,
    Signed64,
    Float32,
    Float64,
    Boolean,
    MacAddress,
    OctetArray,
    String,
    DateTimeSeconds,
    DateTimeMilliseconds,
    DateTimeMicroseconds,
    DateTimeNanoseconds,
    Ipv4Address,
    Ipv6Address,
    BasicList,
    SubTemplateList,
    SubTemplateMultiList,
}

impl AbstractType {
    /// The type's name as RFC 7012 §3.1 and RFC 6313 §4.5 spell it (and the
    /// registry's "Abstract Data Type" column).
    pub const fn name(self) -> &'static str {
        use AbstractType::*;
        match self {
            Unsigned8 => "unsigned8",
            Unsigned16 => "unsigned16",
            Unsigned32 => "unsigned32",
            Unsigned64 => "unsigned64",
            Signed8 => "signed8",
            Signed16 => "signed16",
            Signed32 => "signed32",
            Signed64 => "signed64",
            Float32 => "float32",
            Float64 => "float64",
            Boolean => "boolean",
            MacAddress => "macAddress",
            OctetArray => "octetArray",
            String => "string",
            DateTimeSeconds => "dateTimeSeconds",
            DateTimeMilliseconds => "dateTimeMilliseconds",
            DateTimeMicroseconds => "dateTimeMicroseconds",
            DateTimeNanoseconds => "dateTimeNanoseconds",
            Ipv4Address => "ipv4Address",
            Ipv6Address => "ipv6Address",
            BasicList => "basicList",
            SubTemplateList => "subTemplateList",
            SubTemplateMultiList => "subTemplateMultiList",
        }
    }

    /// Full-size encoding length (RFC 7011 §6.1), `None` for the types whose
    /// length is given by the template or by the variable-length prefix.
    pub const fn default_length(self) -> Option<u16> {
        use AbstractType::*;
        match self {
            Unsigned8 | Signed8 | Boolean => Some(1),
            Unsigned16 | Signed16 => Some(2),
            Unsigned32 | Signed32 | Float32 | DateTimeSeconds | Ipv4Address => Some(4),
            Unsigned64 | Signed64 | Float64 | DateTimeMilliseconds | DateTimeMicroseconds
            | DateTimeNanoseconds => Some(8),
            MacAddress => Some(6),
            Ipv6Address => Some(16),
            OctetArray | String | BasicList | SubTemplateList | SubTemplateMultiList => None,
        }
    }

    /// Whether a template may carry this type with `length`.
    ///
    /// RFC 7011 §6.2: reduced-size encoding applies to unsigned and signed
    /// integers (any length from 1 up to the full size) and to float64
    /// (encoded as float32). RFC 7011 §7: variable length is for octetArray,
    /// string and the RFC 6313 list types; those also take any fixed length.
    pub fn accepts(self, length: FieldLength) -> bool {
        use AbstractType::*;
        match (self, length) {
            (OctetArray | String | BasicList | SubTemplateList | SubTemplateMultiList, _) => true,
            (_, FieldLength::Variable) => false,
            (
                Unsigned8 | Unsigned16 | Unsigned32 | Unsigned64 | Signed8 | Signed16 | Signed32
                | Signed64,
                FieldLength::Fixed(n),
            ) => n >= 1 && Some(n) <= self.default_length(),
            (Float64, FieldLength::Fixed(n)) => n == 4 || n == 8,
            (_, FieldLength::Fixed(n)) => Some(n) == self.default_length(),
        }
    }
}

impl fmt::Display for AbstractType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Field length in a template, RFC 7011 §3.2 / §7.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldLength {
    /// A fixed number of octets, always below [`FieldLength::VARIABLE_WIRE`].
    Fixed(u16),
    /// Variable length: each value carries a 1- or 3-octet length prefix.
    Variable,
}

impl FieldLength {
    /// RFC 7011 §7: "the Field Length field in the Template Record ... is
    /// set to 65535" for variable-length elements.
    pub const VARIABLE_WIRE: u16 = 65535;

    /// The template's Field Length value as carried on the wire.
    pub fn from_wire(value: u16) -> Self {
        if value == Self::VARIABLE_WIRE {
            FieldLength::Variable
        } else {
            FieldLength::Fixed(value)
        }
    }

    /// The value written into a Field Specifier. A `Fixed(65535)` cannot be
    /// expressed on the wire; it is rejected where templates are built.
    pub fn to_wire(self) -> u16 {
        match self {
            FieldLength::Fixed(n) => n,
            FieldLength::Variable => Self::VARIABLE_WIRE,
        }
    }
}

/// The identity of an element on the wire: IANA (no PEN) or
/// enterprise-specific (RFC 7011 §3.2, enterprise bit set, PEN follows).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ElementId {
    pen: Option<u32>,
    number: u16,
}

impl ElementId {
    /// Largest element number: the 16th bit is the enterprise bit (§3.2).
    pub const MAX_NUMBER: u16 = 0x7fff;

    /// IANA element, for [`InfoElement::iana`] only (a number above 0x7fff
    /// is a compile error there, since its callers are evaluated at compile
    /// time).
    const fn iana(number: u16) -> Self {
        // SANITY: only reached from `const` and `static` items (the
        // constants below, the registry table), so a violation fails the
        // build; it never runs at run time.
        assert!(number <= Self::MAX_NUMBER);
        ElementId { pen: None, number }
    }

    /// An element identity; `pen` is the IANA Private Enterprise Number of
    /// an enterprise-specific element, `None` for IANA elements.
    pub fn new(pen: Option<u32>, number: u16) -> Result<Self, EncodeError> {
        if number > Self::MAX_NUMBER {
            return Err(EncodeError::ElementNumberOutOfRange { number });
        }
        Ok(ElementId { pen, number })
    }

    /// From a parsed field specifier: the enterprise bit already removed.
    pub(crate) fn from_wire(pen: Option<u32>, number_without_e_bit: u16) -> Self {
        ElementId {
            pen,
            number: number_without_e_bit & Self::MAX_NUMBER,
        }
    }

    pub fn pen(self) -> Option<u32> {
        self.pen
    }

    pub fn number(self) -> u16 {
        self.number
    }
}

impl fmt::Display for ElementId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.pen {
            None => write!(f, "{}", self.number),
            Some(pen) => write!(f, "{}/{}", pen, self.number),
        }
    }
}

/// An Information Element definition: identity, name, abstract type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InfoElement {
    pub id: ElementId,
    pub name: Cow<'static, str>,
    pub ty: AbstractType,
}

impl InfoElement {
    /// An IANA element, for the constants below and the generated registry
    /// table (`registry_table.rs`); evaluated at compile time there.
    pub(super) const fn iana(number: u16, name: &'static str, ty: AbstractType) -> Self {
        InfoElement {
            id: ElementId::iana(number),
            name: Cow::Borrowed(name),
            ty,
        }
    }

    /// A custom enterprise-specific element (RFC 7011 §3.2), e.g. from
    /// configuration, under the Private Enterprise Number `pen`.
    pub fn enterprise(
        pen: u32,
        number: u16,
        name: impl Into<Cow<'static, str>>,
        ty: AbstractType,
    ) -> Result<Self, EncodeError> {
        Ok(InfoElement {
            id: ElementId::new(Some(pen), number)?,
            name: name.into(),
            ty,
        })
    }

    /// Full-size length of this element (variable for strings and octet
    /// arrays).
    pub fn default_length(&self) -> FieldLength {
        match self.ty.default_length() {
            Some(n) => FieldLength::Fixed(n),
            None => FieldLength::Variable,
        }
    }
}

use AbstractType::*;

// ---- The elements this crate uses by name. Number, name and abstract type,
// ---- as the IANA registry has them (a test in `registry` checks). Keep
// ---- IANA_ELEMENTS below sorted by number (a test checks).

pub const OCTET_DELTA_COUNT: InfoElement = InfoElement::iana(1, "octetDeltaCount", Unsigned64);
pub const PACKET_DELTA_COUNT: InfoElement = InfoElement::iana(2, "packetDeltaCount", Unsigned64);
pub const PROTOCOL_IDENTIFIER: InfoElement = InfoElement::iana(4, "protocolIdentifier", Unsigned8);
pub const IP_CLASS_OF_SERVICE: InfoElement = InfoElement::iana(5, "ipClassOfService", Unsigned8);
/// unsigned16 since RFC 7125 (9 flag bits NS..FIN in the low bits).
pub const TCP_CONTROL_BITS: InfoElement = InfoElement::iana(6, "tcpControlBits", Unsigned16);
pub const SOURCE_TRANSPORT_PORT: InfoElement =
    InfoElement::iana(7, "sourceTransportPort", Unsigned16);
pub const SOURCE_IPV4_ADDRESS: InfoElement = InfoElement::iana(8, "sourceIPv4Address", Ipv4Address);
pub const INGRESS_INTERFACE: InfoElement = InfoElement::iana(10, "ingressInterface", Unsigned32);
pub const DESTINATION_TRANSPORT_PORT: InfoElement =
    InfoElement::iana(11, "destinationTransportPort", Unsigned16);
pub const DESTINATION_IPV4_ADDRESS: InfoElement =
    InfoElement::iana(12, "destinationIPv4Address", Ipv4Address);
pub const EGRESS_INTERFACE: InfoElement = InfoElement::iana(14, "egressInterface", Unsigned32);
pub const SAMPLING_INTERVAL: InfoElement = InfoElement::iana(34, "samplingInterval", Unsigned32);
pub const SAMPLING_ALGORITHM: InfoElement = InfoElement::iana(35, "samplingAlgorithm", Unsigned8);
pub const FLOW_END_SYS_UP_TIME: InfoElement = InfoElement::iana(21, "flowEndSysUpTime", Unsigned32);
pub const FLOW_START_SYS_UP_TIME: InfoElement =
    InfoElement::iana(22, "flowStartSysUpTime", Unsigned32);
pub const SOURCE_IPV6_ADDRESS: InfoElement =
    InfoElement::iana(27, "sourceIPv6Address", Ipv6Address);
pub const DESTINATION_IPV6_ADDRESS: InfoElement =
    InfoElement::iana(28, "destinationIPv6Address", Ipv6Address);
pub const ICMP_TYPE_CODE_IPV4: InfoElement = InfoElement::iana(32, "icmpTypeCodeIPv4", Unsigned16);
pub const EXPORTED_OCTET_TOTAL_COUNT: InfoElement =
    InfoElement::iana(40, "exportedOctetTotalCount", Unsigned64);
pub const EXPORTED_MESSAGE_TOTAL_COUNT: InfoElement =
    InfoElement::iana(41, "exportedMessageTotalCount", Unsigned64);
pub const EXPORTED_FLOW_RECORD_TOTAL_COUNT: InfoElement =
    InfoElement::iana(42, "exportedFlowRecordTotalCount", Unsigned64);
pub const MINIMUM_TTL: InfoElement = InfoElement::iana(52, "minimumTTL", Unsigned8);
pub const MAXIMUM_TTL: InfoElement = InfoElement::iana(53, "maximumTTL", Unsigned8);
pub const SOURCE_MAC_ADDRESS: InfoElement = InfoElement::iana(56, "sourceMacAddress", MacAddress);
pub const VLAN_ID: InfoElement = InfoElement::iana(58, "vlanId", Unsigned16);
pub const POST_VLAN_ID: InfoElement = InfoElement::iana(59, "postVlanId", Unsigned16);
pub const IP_VERSION: InfoElement = InfoElement::iana(60, "ipVersion", Unsigned8);
pub const FLOW_DIRECTION: InfoElement = InfoElement::iana(61, "flowDirection", Unsigned8);
pub const DESTINATION_MAC_ADDRESS: InfoElement =
    InfoElement::iana(80, "destinationMacAddress", MacAddress);
pub const INTERFACE_NAME: InfoElement = InfoElement::iana(82, "interfaceName", String);
pub const INTERFACE_DESCRIPTION: InfoElement =
    InfoElement::iana(83, "interfaceDescription", String);
/// Counts since the flow's start (RFC 7012 §5.10.1): some exporters send
/// these instead of the delta counts; `collect --format top` reads them.
pub const OCTET_TOTAL_COUNT: InfoElement = InfoElement::iana(85, "octetTotalCount", Unsigned64);
pub const PACKET_TOTAL_COUNT: InfoElement = InfoElement::iana(86, "packetTotalCount", Unsigned64);
pub const FLOW_END_REASON: InfoElement = InfoElement::iana(136, "flowEndReason", Unsigned8);
pub const ICMP_TYPE_CODE_IPV6: InfoElement = InfoElement::iana(139, "icmpTypeCodeIPv6", Unsigned16);
pub const EXPORTER_IPV4_ADDRESS: InfoElement =
    InfoElement::iana(130, "exporterIPv4Address", Ipv4Address);
pub const EXPORTER_IPV6_ADDRESS: InfoElement =
    InfoElement::iana(131, "exporterIPv6Address", Ipv6Address);
pub const EXPORTING_PROCESS_ID: InfoElement =
    InfoElement::iana(144, "exportingProcessId", Unsigned32);
pub const FLOW_ID: InfoElement = InfoElement::iana(148, "flowId", Unsigned64);
pub const OBSERVATION_DOMAIN_ID: InfoElement =
    InfoElement::iana(149, "observationDomainId", Unsigned32);
pub const FLOW_START_MILLISECONDS: InfoElement =
    InfoElement::iana(152, "flowStartMilliseconds", DateTimeMilliseconds);
pub const FLOW_END_MILLISECONDS: InfoElement =
    InfoElement::iana(153, "flowEndMilliseconds", DateTimeMilliseconds);
pub const SYSTEM_INIT_TIME_MILLISECONDS: InfoElement =
    InfoElement::iana(160, "systemInitTimeMilliseconds", DateTimeMilliseconds);
pub const IGNORED_PACKET_TOTAL_COUNT: InfoElement =
    InfoElement::iana(164, "ignoredPacketTotalCount", Unsigned64);
pub const IGNORED_OCTET_TOTAL_COUNT: InfoElement =
    InfoElement::iana(165, "ignoredOctetTotalCount", Unsigned64);
pub const NOT_SENT_FLOW_TOTAL_COUNT: InfoElement =
    InfoElement::iana(166, "notSentFlowTotalCount", Unsigned64);
pub const IP_DIFF_SERV_CODE_POINT: InfoElement =
    InfoElement::iana(195, "ipDiffServCodePoint", Unsigned8);
pub const DOT1Q_CUSTOMER_VLAN_ID: InfoElement =
    InfoElement::iana(245, "dot1qCustomerVlanId", Unsigned16);
pub const SELECTOR_ID: InfoElement = InfoElement::iana(302, "selectorId", Unsigned64);
pub const SELECTOR_ALGORITHM: InfoElement = InfoElement::iana(304, "selectorAlgorithm", Unsigned16);
pub const SAMPLING_PACKET_INTERVAL: InfoElement =
    InfoElement::iana(305, "samplingPacketInterval", Unsigned32);
pub const SAMPLING_PACKET_SPACE: InfoElement =
    InfoElement::iana(306, "samplingPacketSpace", Unsigned32);
pub const SAMPLING_PROBABILITY: InfoElement =
    InfoElement::iana(311, "samplingProbability", Float64);

/// Every IANA element this crate uses by name, sorted by number. The
/// decoder names and types fields from the whole registry
/// ([`super::registry`]), which agrees with this list.
pub static IANA_ELEMENTS: [InfoElement; 53] = [
    OCTET_DELTA_COUNT,
    PACKET_DELTA_COUNT,
    PROTOCOL_IDENTIFIER,
    IP_CLASS_OF_SERVICE,
    TCP_CONTROL_BITS,
    SOURCE_TRANSPORT_PORT,
    SOURCE_IPV4_ADDRESS,
    INGRESS_INTERFACE,
    DESTINATION_TRANSPORT_PORT,
    DESTINATION_IPV4_ADDRESS,
    EGRESS_INTERFACE,
    FLOW_END_SYS_UP_TIME,
    FLOW_START_SYS_UP_TIME,
    SOURCE_IPV6_ADDRESS,
    DESTINATION_IPV6_ADDRESS,
    ICMP_TYPE_CODE_IPV4,
    SAMPLING_INTERVAL,
    SAMPLING_ALGORITHM,
    EXPORTED_OCTET_TOTAL_COUNT,
    EXPORTED_MESSAGE_TOTAL_COUNT,
    EXPORTED_FLOW_RECORD_TOTAL_COUNT,
    MINIMUM_TTL,
    MAXIMUM_TTL,
    SOURCE_MAC_ADDRESS,
    VLAN_ID,
    POST_VLAN_ID,
    IP_VERSION,
    FLOW_DIRECTION,
    DESTINATION_MAC_ADDRESS,
    INTERFACE_NAME,
    INTERFACE_DESCRIPTION,
    OCTET_TOTAL_COUNT,
    PACKET_TOTAL_COUNT,
    EXPORTER_IPV4_ADDRESS,
    EXPORTER_IPV6_ADDRESS,
    FLOW_END_REASON,
    ICMP_TYPE_CODE_IPV6,
    EXPORTING_PROCESS_ID,
    FLOW_ID,
    OBSERVATION_DOMAIN_ID,
    FLOW_START_MILLISECONDS,
    FLOW_END_MILLISECONDS,
    SYSTEM_INIT_TIME_MILLISECONDS,
    IGNORED_PACKET_TOTAL_COUNT,
    IGNORED_OCTET_TOTAL_COUNT,
    NOT_SENT_FLOW_TOTAL_COUNT,
    IP_DIFF_SERV_CODE_POINT,
    DOT1Q_CUSTOMER_VLAN_ID,
    SELECTOR_ID,
    SELECTOR_ALGORITHM,
    SAMPLING_PACKET_INTERVAL,
    SAMPLING_PACKET_SPACE,
    SAMPLING_PROBABILITY,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_sorted_unique_iana() {
        for pair in IANA_ELEMENTS.windows(2) {
            assert!(pair[0].id.number < pair[1].id.number, "{:?}", pair[1]);
        }
        assert!(IANA_ELEMENTS.iter().all(|e| e.id.pen.is_none()));
    }

    /// RFC 7012 §3.1 and RFC 6313 §4.5 spellings, as the registry's
    /// "Abstract Data Type" column has them.
    #[test]
    fn type_names() {
        let golden = [
            (Unsigned8, "unsigned8"),
            (Unsigned64, "unsigned64"),
            (Signed32, "signed32"),
            (Float64, "float64"),
            (Boolean, "boolean"),
            (MacAddress, "macAddress"),
            (OctetArray, "octetArray"),
            (String, "string"),
            (DateTimeSeconds, "dateTimeSeconds"),
            (DateTimeNanoseconds, "dateTimeNanoseconds"),
            (Ipv4Address, "ipv4Address"),
            (Ipv6Address, "ipv6Address"),
            (SubTemplateMultiList, "subTemplateMultiList"),
        ];
        for (ty, name) in golden {
            assert_eq!(ty.name(), name);
            assert_eq!(ty.to_string(), name);
        }
    }

    /// The numbers and types the README and DESIGN promise collectors.
    #[test]
    fn iana_numbers_and_lengths() {
        let expect: [(&InfoElement, u16, Option<u16>); 20] = [
            (&OCTET_DELTA_COUNT, 1, Some(8)),
            (&OCTET_TOTAL_COUNT, 85, Some(8)),
            (&PACKET_TOTAL_COUNT, 86, Some(8)),
            (&TCP_CONTROL_BITS, 6, Some(2)),
            (&FLOW_END_SYS_UP_TIME, 21, Some(4)),
            (&FLOW_START_SYS_UP_TIME, 22, Some(4)),
            (&SOURCE_IPV6_ADDRESS, 27, Some(16)),
            (&ICMP_TYPE_CODE_IPV4, 32, Some(2)),
            (&FLOW_DIRECTION, 61, Some(1)),
            (&ICMP_TYPE_CODE_IPV6, 139, Some(2)),
            (&EXPORTING_PROCESS_ID, 144, Some(4)),
            (&OBSERVATION_DOMAIN_ID, 149, Some(4)),
            (&SYSTEM_INIT_TIME_MILLISECONDS, 160, Some(8)),
            (&NOT_SENT_FLOW_TOTAL_COUNT, 166, Some(8)),
            (&IP_DIFF_SERV_CODE_POINT, 195, Some(1)),
            (&SOURCE_MAC_ADDRESS, 56, Some(6)),
            (&VLAN_ID, 58, Some(2)),
            (&IP_VERSION, 60, Some(1)),
            (&DESTINATION_MAC_ADDRESS, 80, Some(6)),
            (&DOT1Q_CUSTOMER_VLAN_ID, 245, Some(2)),
        ];
        for (ie, number, len) in expect {
            assert_eq!((ie.id.number(), ie.ty.default_length()), (number, len));
        }
    }

    #[test]
    fn reduced_size_rules() {
        use FieldLength::*;
        assert!(Unsigned64.accepts(Fixed(4)));
        assert!(Unsigned64.accepts(Fixed(1)));
        assert!(!Unsigned64.accepts(Fixed(9)));
        assert!(!Unsigned64.accepts(Fixed(0)));
        assert!(!Unsigned32.accepts(Variable));
        assert!(Signed16.accepts(Fixed(1)));
        assert!(Float64.accepts(Fixed(4)));
        assert!(!Float64.accepts(Fixed(2)));
        assert!(!Float32.accepts(Fixed(8)));
        assert!(!Ipv4Address.accepts(Fixed(2)));
        assert!(!DateTimeMilliseconds.accepts(Fixed(4)));
        assert!(!Boolean.accepts(Fixed(2)));
        assert!(String.accepts(Variable));
        assert!(OctetArray.accepts(Fixed(3)));
    }

    #[test]
    fn element_ids() {
        assert!(ElementId::new(None, 0x8000).is_err());
        let id = ElementId::new(Some(32473), 7).unwrap();
        assert_eq!(id.to_string(), "32473/7");
        assert_eq!(FLOW_ID.id.to_string(), "148");
        let custom = InfoElement::enterprise(32473, 1, "myName", String).unwrap();
        assert_eq!(custom.default_length(), FieldLength::Variable);
        assert_eq!(FieldLength::from_wire(65535), FieldLength::Variable);
        assert_eq!(FieldLength::from_wire(4).to_wire(), 4);
    }
}
