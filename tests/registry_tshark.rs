//! The IANA registry (`ipfix::registry`) and `collect`'s rendering by
//! abstract type, checked against an independent IPFIX decoder: tshark's
//! (Wireshark 4.0, as Debian 12 ships it).
//!
//! Messages are built here octet by octet (not with our encoder), written
//! as a pcap and decoded twice: by tshark (`-T pdml`: every field with its
//! offset in the frame) and by `collect`'s collecting process (in memory,
//! JSON and table out). The tshark field at each value's offset is compared
//! with what `collect` printed for it.
//!
//! - [`every_registry_element_as_tshark_decodes_it`]: one message per
//!   registry element (399), each with a typical value of its type; names,
//!   types and values compared wherever tshark has them.
//! - [`chosen_values_agree_with_tshark`]: one record of chosen elements
//!   and encodings (reduced-size integers and float64, a NUL-padded and a
//!   variable-length string, every time type, both booleans, addresses),
//!   golden values for `collect` and agreement with tshark on each.
//!
//! Where tshark decodes an element otherwise (older names, its own reading
//! of an octetArray, a bug), the difference is listed below with the
//! reason. The lists are compared exactly: a new disagreement fails the
//! test, and so does one that went away.

// A failed unwrap fails the test, naming its line: the house rule against
// unwrap (Cargo.toml [lints]) is for the shipped code.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Instant;

use common::tempdir::TempDir;
use common::tshark::{
    field_types, iso_time, pdml, pdml_fields, write_pcap, PdmlField, PCAP_PAYLOAD_OFFSET,
};
use ipfix_flow_exporter::collect::{CollectingProcess, Input};
use ipfix_flow_exporter::config::CollectFormat;
use ipfix_flow_exporter::endpoint::Protocol;
use ipfix_flow_exporter::ipfix::ie::{AbstractType, InfoElement};
use ipfix_flow_exporter::ipfix::registry;
use serde_json::{json, Value as Json};

const EXPORTER: &str = "192.0.2.1:40000";
const COLLECTOR: &str = "192.0.2.2:4739";
const EXPORT_TIME: u32 = 1_700_000_100;
const VARIABLE: u16 = 65_535;
/// `ingressInterface`, the fixed-length field ahead of the element under
/// test in every sweep template (tshark refuses a template whose records
/// could be empty, as one variable-length field's could be).
const INGRESS_INTERFACE: u16 = 10;

/// 2023-11-14T22:13:20Z as an NTP timestamp's seconds, and a fraction that
/// is 0.123456789 s whichever way it is converted (tshark divides by
/// 4.294967296 in floating point, which puts 0.5 at 0.499999999).
const NTP_2023: u64 = (1_700_000_000 + 2_208_988_800) << 32;
const NTP_FRACTION: u64 = 0x1f9a_dd38;

/// One field of a hand-built record.
struct Field {
    pen: Option<u32>,
    number: u16,
    /// The template's field length; [`VARIABLE`] for a length prefix.
    length: u16,
    /// The value's octets (without a length prefix).
    value: Vec<u8>,
}

impl Field {
    fn iana(number: u16, length: u16, value: &[u8]) -> Field {
        Field {
            pen: None,
            number,
            length,
            value: value.to_vec(),
        }
    }
}

/// An IPFIX message (RFC 7011 §3.1: version 10, length, export time,
/// sequence number, observation domain 1) of a template set (§3.4.1)
/// defining `template_id` as `fields`, then a data set of one record; and
/// each field's value offset in the message.
fn message(sequence: u32, template_id: u16, fields: &[Field]) -> (Vec<u8>, Vec<usize>) {
    let mut template = Vec::new();
    template.extend_from_slice(&template_id.to_be_bytes());
    template.extend_from_slice(&u16::try_from(fields.len()).unwrap().to_be_bytes());
    for f in fields {
        let e_bit = if f.pen.is_some() { 0x8000 } else { 0 };
        template.extend_from_slice(&(f.number | e_bit).to_be_bytes());
        template.extend_from_slice(&f.length.to_be_bytes());
        if let Some(pen) = f.pen {
            template.extend_from_slice(&pen.to_be_bytes());
        }
    }
    let template_set = set(2, &template);
    let record_at = 16 + template_set.len() + 4;
    let mut record = Vec::new();
    let mut offsets = Vec::new();
    for f in fields {
        if f.length == VARIABLE {
            // §7: a 1-octet length below 255, else 255 and 2 octets.
            match u8::try_from(f.value.len()) {
                Ok(n) if n < 255 => record.push(n),
                _ => {
                    record.push(255);
                    record.extend_from_slice(&u16::try_from(f.value.len()).unwrap().to_be_bytes());
                }
            }
        } else {
            assert_eq!(usize::from(f.length), f.value.len(), "field {}", f.number);
        }
        offsets.push(record_at + record.len());
        record.extend_from_slice(&f.value);
    }
    let data_set = set(template_id, &record);
    let mut m = Vec::new();
    m.extend_from_slice(&10u16.to_be_bytes());
    let length = 16 + template_set.len() + data_set.len();
    m.extend_from_slice(&u16::try_from(length).unwrap().to_be_bytes());
    m.extend_from_slice(&EXPORT_TIME.to_be_bytes());
    m.extend_from_slice(&sequence.to_be_bytes());
    m.extend_from_slice(&1u32.to_be_bytes());
    m.extend_from_slice(&template_set);
    m.extend_from_slice(&data_set);
    (m, offsets)
}

/// A set (§3.3.2): ID, length, content.
fn set(id: u16, content: &[u8]) -> Vec<u8> {
    let mut s = Vec::new();
    s.extend_from_slice(&id.to_be_bytes());
    s.extend_from_slice(&u16::try_from(content.len() + 4).unwrap().to_be_bytes());
    s.extend_from_slice(content);
    s
}

/// What `collect` prints for `messages`, sent in order over UDP from one
/// exporter: its output lines. Nothing may go to its diagnostics.
fn collect(format: CollectFormat, messages: &[Vec<u8>]) -> Vec<String> {
    let (mut out, mut diag) = (Vec::new(), Vec::new());
    {
        let mut p = CollectingProcess::new(format, &mut out, &mut diag);
        for m in messages {
            let input = Input::Message {
                transport: Protocol::Udp,
                collector: Some(COLLECTOR.parse().unwrap()),
                exporter: EXPORTER.parse::<SocketAddr>().unwrap(),
                bytes: m.clone(),
            };
            p.handle(input, Instant::now()).unwrap();
        }
    }
    assert_eq!(String::from_utf8(diag).unwrap(), "");
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn collect_json(messages: &[Vec<u8>]) -> Vec<Json> {
    collect(CollectFormat::Json, messages)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// tshark's PDML of `messages`, one frame each.
fn tshark_fields(messages: &[Vec<u8>]) -> Vec<PdmlField> {
    let dir = TempDir::new("ipfix-registry-tshark-");
    let pcap = dir.join("messages.pcap");
    write_pcap(&pcap, messages);
    pdml_fields(&pdml(&pcap))
}

/// The field tshark decoded at octet `offset` of the IPFIX message of
/// frame `packet`: the outermost one (a flags field's bits follow it at the
/// same offset), never a length prefix's.
fn tshark_at(fields: &[PdmlField], packet: usize, offset: usize) -> Option<&PdmlField> {
    fields.iter().find(|f| {
        f.packet == packet
            && f.pos == PCAP_PAYLOAD_OFFSET + offset
            && f.name.starts_with("cflow.")
            && !f.name.starts_with("cflow.string_len")
    })
}

/// What a value is, to compare tshark's field types with abstract types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Integer,
    Float,
    Boolean,
    Mac,
    Ipv4,
    Ipv6,
    Time,
    Text,
    Octets,
}

fn kind(ty: AbstractType) -> Kind {
    use AbstractType::*;
    match ty {
        Unsigned8 | Unsigned16 | Unsigned32 | Unsigned64 | Signed8 | Signed16 | Signed32
        | Signed64 => Kind::Integer,
        Float32 | Float64 => Kind::Float,
        Boolean => Kind::Boolean,
        MacAddress => Kind::Mac,
        Ipv4Address => Kind::Ipv4,
        Ipv6Address => Kind::Ipv6,
        DateTimeSeconds | DateTimeMilliseconds | DateTimeMicroseconds | DateTimeNanoseconds => {
            Kind::Time
        }
        String => Kind::Text,
        OctetArray | BasicList | SubTemplateList | SubTemplateMultiList => Kind::Octets,
    }
}

/// The kind of a tshark field type (`tshark -G fields`), if it is one.
fn tshark_kind(ftype: &str) -> Option<Kind> {
    Some(match ftype {
        "FT_UINT8" | "FT_UINT16" | "FT_UINT24" | "FT_UINT32" | "FT_UINT40" | "FT_UINT48"
        | "FT_UINT56" | "FT_UINT64" | "FT_INT8" | "FT_INT16" | "FT_INT24" | "FT_INT32"
        | "FT_INT64" => Kind::Integer,
        "FT_FLOAT" | "FT_DOUBLE" => Kind::Float,
        "FT_BOOLEAN" => Kind::Boolean,
        "FT_ETHER" => Kind::Mac,
        "FT_IPv4" => Kind::Ipv4,
        "FT_IPv6" => Kind::Ipv6,
        "FT_ABSOLUTE_TIME" => Kind::Time,
        "FT_STRING" | "FT_STRINGZ" | "FT_STRINGZPAD" => Kind::Text,
        "FT_BYTES" => Kind::Octets,
        _ => return None,
    })
}

/// Whether tshark's `show` and `collect`'s JSON value are the same value
/// of kind `kind`: numbers as numbers (tshark writes some in hex), octets
/// without tshark's colons, times at the resolution `collect` printed.
fn same_value(kind: Kind, ours: &Json, show: &str) -> bool {
    match kind {
        Kind::Integer => {
            let theirs = match show.strip_prefix("0x") {
                Some(hex) => i128::from_str_radix(hex, 16).ok(),
                None => show.parse::<i128>().ok(),
            };
            let ours = ours
                .as_u64()
                .map(i128::from)
                .or(ours.as_i64().map(i128::from));
            theirs.is_some() && theirs == ours
        }
        Kind::Float => show
            .parse::<f64>()
            .ok()
            .is_some_and(|f| Some(f) == ours.as_f64()),
        Kind::Boolean => ours.as_bool() == Some(show == "1"),
        Kind::Mac | Kind::Ipv4 | Kind::Ipv6 | Kind::Text => ours.as_str() == Some(show),
        Kind::Octets => ours.as_str() == Some(show.replace(':', "").as_str()),
        Kind::Time => ours.as_str().is_some_and(|ours| {
            let digits = ours
                .split_once('.')
                .map_or(0, |(_, f)| f.trim_end_matches('Z').len());
            iso_time(show, digits).as_deref() == Some(ours)
        }),
    }
}

/// A typical value of each type, as the sweep sends it.
fn sample(ty: AbstractType) -> Vec<u8> {
    use AbstractType::*;
    match ty {
        Unsigned8 => vec![42],
        Unsigned16 => 0x1234u16.to_be_bytes().to_vec(),
        Unsigned32 => 0x1234_5678u32.to_be_bytes().to_vec(),
        Unsigned64 => 0x0102_0304_0506_0708u64.to_be_bytes().to_vec(),
        Signed8 => vec![0xfe],
        Signed16 => (-2i16).to_be_bytes().to_vec(),
        Signed32 => (-2i32).to_be_bytes().to_vec(),
        Signed64 => (-2i64).to_be_bytes().to_vec(),
        Float32 => 0.25f32.to_be_bytes().to_vec(),
        Float64 => 0.25f64.to_be_bytes().to_vec(),
        Boolean => vec![1],
        MacAddress => vec![0x02, 0x00, 0x5e, 0x00, 0x53, 0x01],
        Ipv4Address => vec![198, 51, 100, 7],
        Ipv6Address => "2001:db8::7"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets()
            .to_vec(),
        DateTimeSeconds => 1_700_000_000u32.to_be_bytes().to_vec(),
        DateTimeMilliseconds => 1_700_000_000_123u64.to_be_bytes().to_vec(),
        DateTimeMicroseconds | DateTimeNanoseconds => {
            (NTP_2023 | NTP_FRACTION).to_be_bytes().to_vec()
        }
        String => b"obs0".to_vec(),
        OctetArray | BasicList | SubTemplateList | SubTemplateMultiList => vec![0x01, 0x02, 0x03],
    }
}

/// The template length the sweep gives an element: its full size, or
/// variable for strings and octet arrays.
fn full_length(e: &InfoElement) -> u16 {
    e.ty.default_length().unwrap_or(VARIABLE)
}

/// tshark 4.0 names these elements as they were called before the
/// registry took its present names (RFC 5655's `collector*` names for
/// 213–215; Cisco's for 278).
const TSHARK_NAMES: [(u16, &str); 4] = [
    (213, "collectorInterface"),
    (214, "collectorProtocolVersion"),
    (215, "collectorTransportProtocol"),
    (278, "newConnectionDeltaCount"),
];

/// Elements tshark decodes as another kind of value than the registry's
/// type (checked by number; the reason is for the reader).
const TSHARK_TYPES: [(u16, &str); 25] = [
    (21, "flowEndSysUpTime: a time since boot (FT_RELATIVE_TIME)"),
    (
        22,
        "flowStartSysUpTime: a time since boot (FT_RELATIVE_TIME)",
    ),
    (
        70,
        "mplsTopLabelStackSection: split into label, EXP, bottom of stack",
    ),
    (
        71,
        "mplsLabelStackSection2: split into label, EXP, bottom of stack",
    ),
    (
        72,
        "mplsLabelStackSection3: split into label, EXP, bottom of stack",
    ),
    (
        73,
        "mplsLabelStackSection4: split into label, EXP, bottom of stack",
    ),
    (
        74,
        "mplsLabelStackSection5: split into label, EXP, bottom of stack",
    ),
    (
        75,
        "mplsLabelStackSection6: split into label, EXP, bottom of stack",
    ),
    (
        76,
        "mplsLabelStackSection7: split into label, EXP, bottom of stack",
    ),
    (
        77,
        "mplsLabelStackSection8: split into label, EXP, bottom of stack",
    ),
    (
        78,
        "mplsLabelStackSection9: split into label, EXP, bottom of stack",
    ),
    (
        79,
        "mplsLabelStackSection10: split into label, EXP, bottom of stack",
    ),
    (87, "flagsAndSamplerId: not decoded, raw octets"),
    (
        95,
        "applicationId: split into classification engine and selector (RFC 6759)",
    ),
    (100, "className: not decoded, raw octets"),
    (102, "layer2packetSectionOffset: not decoded, raw octets"),
    (103, "layer2packetSectionSize: not decoded, raw octets"),
    (
        158,
        "flowStartDeltaMicroseconds: turned into an absolute time",
    ),
    (
        159,
        "flowEndDeltaMicroseconds: turned into an absolute time",
    ),
    (
        161,
        "flowDurationMilliseconds: a duration (FT_RELATIVE_TIME)",
    ),
    (
        162,
        "flowDurationMicroseconds: a duration (FT_RELATIVE_TIME)",
    ),
    (173, "flowKeyIndicator: a bitmap shown as octets"),
    (208, "ipv4Options: a bitmap shown as octets"),
    (209, "tcpOptions: a bitmap shown as octets"),
    (285, "anonymizationFlags: a bitmap shown as octets"),
];

/// Elements tshark decodes as the same kind of value, with another value.
const TSHARK_VALUES: [(u16, &str); 3] = [
    (
        89,
        "forwardingStatus: tshark shows the status, the top two bits of the first octet \
         (RFC 7270 §4.12's layout), not the unsigned32",
    ),
    (
        139,
        "icmpTypeCodeIPv6: tshark shows the type (the high octet), then the code",
    ),
    (
        272,
        "minFlowStartMilliseconds: tshark 4.0 takes the high 4 octets (0x0000018b) for the \
         milliseconds, 1970-01-01T00:00:00.395Z; maxFlowEndMilliseconds (269), the same type, \
         it reads right",
    ),
];

/// The three lists above against what the sweep found; the sweep's own
/// findings are printed on a mismatch.
fn assert_differences(what: &str, found: &BTreeMap<u16, String>, documented: &[(u16, &str)]) {
    let found_numbers: BTreeSet<u16> = found.keys().copied().collect();
    let documented_numbers: BTreeSet<u16> = documented.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        found_numbers, documented_numbers,
        "{what}: tshark and the registry differ on these (left), the test lists those \
         (right):\n{found:#?}"
    );
}

#[test]
fn every_registry_element_as_tshark_decodes_it() {
    common::require_tools!("tshark");
    let elements = registry::elements();
    let mut messages = Vec::new();
    let mut offsets = Vec::new();
    for (k, e) in elements.iter().enumerate() {
        let fields = [
            Field::iana(
                INGRESS_INTERFACE,
                4,
                &u32::try_from(k).unwrap().to_be_bytes(),
            ),
            Field::iana(e.id.number(), full_length(e), &sample(e.ty)),
        ];
        let template_id = 256 + u16::try_from(k).unwrap();
        let (m, at) = message(u32::try_from(k).unwrap(), template_id, &fields);
        messages.push(m);
        offsets.push(at[1]);
    }
    let tshark = tshark_fields(&messages);
    let ftypes = field_types();
    let ours = collect_json(&messages);
    assert_eq!(ours.len(), elements.len());

    let mut names_compared = 0;
    let mut names = BTreeMap::new();
    let mut types = BTreeMap::new();
    let mut values = BTreeMap::new();
    for (k, e) in elements.iter().enumerate() {
        let number = e.id.number();
        let printed = &ours[k]["fields"];
        assert_eq!(printed[INGRESS_INTERFACE.to_string()], Json::Null);
        assert_eq!(printed["ingressInterface"], json!(k), "{e:?}");
        // The element under test comes second: when it is ingressInterface
        // itself, collect keys the repeat `#2`.
        let key = if number == INGRESS_INTERFACE {
            format!("{}#2", e.name)
        } else {
            e.name.to_string()
        };
        let ours = &printed[key.as_str()];
        assert!(
            !ours.is_null() && ours.get("malformed").is_none(),
            "{e:?}: {printed}"
        );

        // Names: tshark's template text item `Field (2/2): NAME`. It uses
        // NetFlow v9 names (`IP_SRC_ADDR`) for many elements: only names
        // in the registry's style are comparable.
        let tshark_name = tshark
            .iter()
            .filter(|f| f.packet == k && f.name.is_empty())
            .find_map(|f| f.show.strip_prefix("Field (2/2): "));
        let tshark_name = tshark_name.unwrap_or_else(|| panic!("{e:?}: tshark lists no field"));
        let registry_style = tshark_name.starts_with(|c: char| c.is_ascii_lowercase())
            && tshark_name.chars().all(|c| c.is_ascii_alphanumeric());
        if registry_style {
            names_compared += 1;
            if tshark_name != e.name {
                names.insert(number, format!("{} in the registry", e.name));
            }
        }

        let Some(field) = tshark_at(&tshark, k, offsets[k]) else {
            types.insert(number, format!("{}: tshark shows no field", e.name));
            continue;
        };
        let ftype = ftypes.get(&field.name).map_or("?", String::as_str);
        if tshark_kind(ftype) != Some(kind(e.ty)) {
            types.insert(
                number,
                format!("{} {}: tshark {} {ftype}", e.name, e.ty, field.name),
            );
        } else if !same_value(kind(e.ty), ours, &field.show) {
            values.insert(
                number,
                format!("{}: tshark {:?}, collect {ours}", e.name, field.show),
            );
        }
    }
    assert!(names_compared > 250, "only {names_compared} names compared");
    assert_differences("names", &names, &TSHARK_NAMES);
    for (number, name) in TSHARK_NAMES {
        let tshark_name = tshark
            .iter()
            .find_map(|f| f.show.strip_prefix("Field (2/2): ").filter(|n| *n == name));
        assert!(
            tshark_name.is_some(),
            "{number}: tshark no longer says {name}"
        );
    }
    assert_differences("types", &types, &TSHARK_TYPES);
    assert_differences("values", &values, &TSHARK_VALUES);
}

/// What tshark is expected to show for a field of the chosen record.
enum Tshark {
    /// The same value as `collect`.
    Agrees,
    /// This `show`, which `collect` deliberately does not follow.
    Shows(&'static str, &'static str),
    /// Not compared (tshark has no decoding of its own for it).
    Skip(&'static str),
}

#[test]
fn chosen_values_agree_with_tshark() {
    common::require_tools!("tshark");
    let ntp = |secs: u64, fraction: u64| ((NTP_2023 + (secs << 32)) | fraction).to_be_bytes();
    let padded_name = *b"eth0\0\0\0\0\0\0\0\0\0\0\0\0";
    #[rustfmt::skip]
    let chosen: Vec<(Field, &str, Json, &str, Tshark)> = vec![
        // Reduced-size unsigned64 (RFC 7011 §6.2), 4 and 2 octets.
        (Field::iana(1, 4, &123_456u32.to_be_bytes()), "octetDeltaCount", json!(123_456), "123456", Tshark::Agrees),
        (Field::iana(2, 2, &[0x02, 0x01]), "packetDeltaCount", json!(513), "513", Tshark::Agrees),
        (Field::iana(60, 1, &[6]), "ipVersion", json!(6), "6", Tshark::Agrees),
        // softflowd's options: a NUL-padded fixed-length name, sampling.
        (Field::iana(82, 16, &padded_name), "interfaceName", json!("eth0"), "\"eth0\"", Tshark::Agrees),
        (Field::iana(143, 4, &4242u32.to_be_bytes()), "meteringProcessId", json!(4242), "4242", Tshark::Agrees),
        (Field::iana(304, 2, &[0, 1]), "selectorAlgorithm", json!(1), "1", Tshark::Agrees),
        (Field::iana(305, 4, &100u32.to_be_bytes()), "samplingPacketInterval", json!(100), "100", Tshark::Agrees),
        // A variable-length string with quotes in it.
        (Field::iana(83, VARIABLE, b"uplink \"core\" 1"), "interfaceDescription", json!("uplink \"core\" 1"),
            "\"uplink \\\"core\\\" 1\"", Tshark::Agrees),
        (Field::iana(56, 6, &[0x00, 0x1b, 0x21, 0x3c, 0x4d, 0xff]), "sourceMacAddress", json!("00:1b:21:3c:4d:ff"),
            "00:1b:21:3c:4d:ff", Tshark::Agrees),
        (Field::iana(8, 4, &[198, 51, 100, 7]), "sourceIPv4Address", json!("198.51.100.7"), "198.51.100.7", Tshark::Agrees),
        (Field::iana(28, 16, &"2001:db8::1:2".parse::<std::net::Ipv6Addr>().unwrap().octets()),
            "destinationIPv6Address", json!("2001:db8::1:2"), "2001:db8::1:2", Tshark::Agrees),
        // Each time type, to its resolution.
        (Field::iana(150, 4, &1_700_000_000u32.to_be_bytes()), "flowStartSeconds",
            json!("2023-11-14T22:13:20Z"), "2023-11-14T22:13:20Z", Tshark::Agrees),
        (Field::iana(153, 8, &1_700_000_001_123u64.to_be_bytes()), "flowEndMilliseconds",
            json!("2023-11-14T22:13:21.123Z"), "2023-11-14T22:13:21.123Z", Tshark::Agrees),
        (Field::iana(154, 8, &ntp(2, NTP_FRACTION)), "flowStartMicroseconds",
            json!("2023-11-14T22:13:22.123456Z"), "2023-11-14T22:13:22.123456Z", Tshark::Agrees),
        (Field::iana(157, 8, &ntp(3, NTP_FRACTION)), "flowEndNanoseconds",
            json!("2023-11-14T22:13:23.123456789Z"), "2023-11-14T22:13:23.123456789Z", Tshark::Agrees),
        // float64 at full size and reduced to float32.
        (Field::iana(311, 8, &0.01f64.to_be_bytes()), "samplingProbability", json!(0.01), "0.01", Tshark::Agrees),
        (Field::iana(320, 4, &0.5f32.to_be_bytes()), "absoluteError", json!(0.5), "0.5", Tshark::Agrees),
        // Booleans, RFC 7011 §6.1.5: 1 is true, 2 is false, 3 is neither.
        (Field::iana(276, 1, &[1]), "dataRecordsReliability", json!(true), "true", Tshark::Agrees),
        (Field::iana(333, 1, &[2]), "hashDigestOutput", json!(false), "false",
            Tshark::Shows("1", "tshark 4.0 reads any octet but 0 as true")),
        (Field::iana(388, 1, &[3]), "dot1qDEI", json!({"malformed": "boolean", "octets": "03"}),
            "malformed(boolean:0x03)", Tshark::Shows("1", "tshark 4.0 reads any octet but 0 as true")),
        (Field::iana(266, VARIABLE, &[0xde, 0xad, 0xbe, 0xef]), "opaqueOctets", json!("deadbeef"), "0xdeadbeef", Tshark::Agrees),
        // An enterprise element and an IANA number past the registry copy.
        (Field { pen: Some(32_473), number: 7, length: 2, value: vec![1, 2] }, "32473/7", json!("0102"), "0x0102",
            Tshark::Skip("an enterprise element tshark does not know")),
        (Field::iana(500, 2, &[3, 4]), "500", json!("0304"), "0x0304",
            Tshark::Skip("assigned after the registry copy")),
    ];
    let fields: Vec<Field> = chosen
        .iter()
        .map(|(f, ..)| Field {
            value: f.value.clone(),
            ..*f
        })
        .collect();
    let (m, offsets) = message(0, 256, &fields);
    let messages = [m];

    let printed = collect_json(&messages);
    let expected: serde_json::Map<String, Json> = chosen
        .iter()
        .map(|(_, key, json, ..)| ((*key).to_owned(), json.clone()))
        .collect();
    assert_eq!(printed.len(), 1);
    assert_eq!(printed[0]["fields"], Json::Object(expected));

    let table = collect(CollectFormat::Table, &messages);
    let texts: Vec<String> = chosen
        .iter()
        .map(|(_, key, _, text, _)| format!("{key}={text}"))
        .collect();
    assert_eq!(
        table,
        [format!(
            "record 256 from {EXPORTER} domain 1: {}",
            texts.join(" ")
        )]
    );

    let tshark = tshark_fields(&messages);
    for ((field, key, json, _, expect), offset) in chosen.iter().zip(offsets) {
        let shown = tshark_at(&tshark, 0, offset);
        let ty = registry::element(field.number)
            .filter(|_| field.pen.is_none())
            .map(|e| e.ty);
        match (expect, shown, ty) {
            (Tshark::Agrees, Some(f), Some(ty)) => assert!(
                same_value(kind(ty), json, &f.show),
                "{key}: tshark {:?} ({}), collect {json}",
                f.show,
                f.name
            ),
            (Tshark::Shows(show, why), Some(f), _) => {
                assert_eq!(f.show, *show, "{key}: {why}")
            }
            (Tshark::Skip(why), shown, _) => {
                println!("{key}: not compared, {why}; tshark: {shown:?}")
            }
            (_, shown, _) => panic!("{key}: tshark shows {shown:?}"),
        }
    }
}
