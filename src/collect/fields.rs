//! Rendering of decoded fields, shared by the JSON and table outputs: field
//! keys, and values by their abstract type (RFC 7012 §3.1) as JSON or as
//! text. Pure.
//!
//! | type | JSON | text |
//! |---|---|---|
//! | unsigned*, signed* (any reduced size, RFC 7011 §6.2) | number | `513` |
//! | float32, float64 | number (`"NaN"`, `"inf"`, `"-inf"`: no JSON number) | `0.25`, `1e-7` |
//! | boolean | `true` / `false` | `true` / `false` |
//! | macAddress | `"02:00:5e:00:53:01"` | `02:00:5e:00:53:01` |
//! | ipv4Address, ipv6Address | `"192.0.2.1"`, `"2001:db8::1"` | the same, unquoted |
//! | dateTimeSeconds ... dateTimeNanoseconds | `"2023-11-14T22:13:20.123Z"`, to the type's resolution | the same, unquoted |
//! | string | `"eth0"` | `"eth0"` (quoted, escaped) |
//! | octetArray, list types, unknown elements | `"0102ab"` | `0x0102ab` |
//! | a value its type cannot have | `{"malformed": "boolean", "octets": "03"}` | `malformed(boolean:0x03)` |
//!
//! A string in a fixed-length field padded with NUL octets (softflowd's
//! `interfaceName`) shows without the trailing NULs, as tshark shows it.
//! A malformed value (RFC 7011 §6.1.5: a boolean is 1 for true, 2 for
//! false, nothing else; a length the type does not take; a string that is
//! not UTF-8) keeps its octets and says which type they failed to be: an
//! exporter's bug is shown, not guessed around.

use std::fmt::Write as _;

use serde_json::{json, Value as Json};

use super::utc::{ntp_text, utc_text, utc_text_precise, Precision};
use crate::ipfix::{DecodedField, Value};

/// The key of a field: its element name when the decoder knows it (the
/// IANA registry, or a custom element), otherwise `PEN/number` for an
/// enterprise-specific element and the bare number for an IANA one.
pub fn field_key(f: &DecodedField) -> String {
    match &f.name {
        Some(name) => name.to_string(),
        None => f.id.to_string(),
    }
}

/// `fields` keyed by [`field_key`], in template order; a key seen before in
/// the same record (an element repeated in its template) gets `#2`, `#3`...
pub fn keyed_fields(fields: &[DecodedField]) -> Vec<(String, &Value)> {
    keyed_fields_counting(fields, &mut 0)
}

/// [`keyed_fields`], adding to `probes` each lookup of a key in use: the
/// work done, which the tests bound by the input size.
fn keyed_fields_counting<'a>(
    fields: &'a [DecodedField],
    probes: &mut usize,
) -> Vec<(String, &'a Value)> {
    // Linear in the number of fields: a hostile template may repeat one
    // element thousands of times.
    let mut out: Vec<(String, &Value)> = Vec::with_capacity(fields.len());
    let mut used: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut next: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut in_use = |used: &std::collections::HashSet<String>, key: &str| {
        *probes += 1;
        used.contains(key)
    };
    for f in fields {
        let base = field_key(f);
        let mut key = base.clone();
        if in_use(&used, &key) {
            let n = next.entry(base.clone()).or_insert(1);
            loop {
                *n += 1;
                key = format!("{base}#{n}");
                if !in_use(&used, &key) {
                    break;
                }
            }
        }
        used.insert(key.clone());
        out.push((key, &f.value));
    }
    out
}

/// A value as JSON (see the module's table).
pub fn value_json(v: &Value) -> Json {
    match v {
        Value::Unsigned(n) => Json::from(*n),
        Value::Signed(n) => Json::from(*n),
        // NaN and infinities have no JSON number.
        Value::Float(f) => serde_json::Number::from_f64(*f)
            .map_or_else(|| Json::String(f.to_string()), Json::Number),
        Value::Boolean(b) => Json::Bool(*b),
        Value::String(s) => Json::String(unpadded(s).to_owned()),
        Value::Bytes(b) => Json::String(hex(b)),
        Value::Malformed { ty, bytes } => json!({"malformed": ty.name(), "octets": hex(bytes)}),
        Value::Mac(_)
        | Value::Ipv4(_)
        | Value::Ipv6(_)
        | Value::DateTimeSeconds(_)
        | Value::DateTimeMilliseconds(_)
        | Value::DateTimeMicroseconds(_)
        | Value::DateTimeNanoseconds(_) => Json::String(value_text(v)),
    }
}

/// A value for people (see the module's table).
pub fn value_text(v: &Value) -> String {
    match v {
        Value::Unsigned(n) => n.to_string(),
        Value::Signed(n) => n.to_string(),
        // Debug: the shortest text that reads back as the same float, with
        // an exponent for the very large and small (Display would write
        // 1e300 as 301 digits).
        Value::Float(f) => format!("{f:?}"),
        Value::Boolean(b) => b.to_string(),
        Value::Mac(m) => mac_text(m),
        Value::Ipv4(a) => a.to_string(),
        Value::Ipv6(a) => a.to_string(),
        Value::DateTimeSeconds(s) => utc_text_precise(i64::from(*s), 0, Precision::Seconds),
        Value::DateTimeMilliseconds(ms) => utc_text(*ms, true),
        Value::DateTimeMicroseconds(t) => ntp_text(*t, Precision::Microseconds),
        Value::DateTimeNanoseconds(t) => ntp_text(*t, Precision::Nanoseconds),
        Value::String(s) => format!("{:?}", unpadded(s)),
        Value::Bytes(b) => format!("0x{}", hex(b)),
        Value::Malformed { ty, bytes } => format!("malformed({ty}:0x{})", hex(bytes)),
    }
}

/// `s` without the NUL octets that pad it to a fixed field length.
fn unpadded(s: &str) -> &str {
    s.trim_end_matches('\0')
}

pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn mac_text(m: &[u8; 6]) -> String {
    let [a, b, c, d, e, f] = *m;
    format!("{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{f:02x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipfix::ie::{self, AbstractType, ElementId};

    fn field(id: ElementId, name: Option<&'static str>, value: Value) -> DecodedField {
        DecodedField {
            id,
            name: name.map(Into::into),
            value,
        }
    }

    #[test]
    fn keys_name_or_number() {
        let pen = ElementId::new(Some(32473), 1).unwrap();
        let iana = ElementId::new(None, 82).unwrap();
        let fields = [
            field(ie::FLOW_ID.id, Some("flowId"), Value::Unsigned(1)),
            field(pen, None, Value::Bytes(vec![])),
            field(iana, None, Value::Bytes(vec![])),
            field(ie::FLOW_ID.id, Some("flowId"), Value::Unsigned(2)),
        ];
        let keys: Vec<String> = keyed_fields(&fields).into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["flowId", "32473/1", "82", "flowId#2"]);
    }

    #[test]
    fn many_repeats_of_one_element_stay_linear() {
        let fields: Vec<DecodedField> = (0..20_000)
            .map(|i| field(ie::FLOW_ID.id, Some("flowId"), Value::Unsigned(i)))
            .collect();
        let mut probes = 0;
        let keys = keyed_fields_counting(&fields, &mut probes);
        assert_eq!(keys[19_999].0, "flowId#20000");
        // One lookup for the first field, two for each repeat (taken, then
        // its next free suffix); searching the suffixes from #2 each time
        // would take n²/2 = 200 million.
        assert_eq!(probes, 1 + 2 * 19_999);
    }

    /// One golden row per abstract type (and the reduced sizes and
    /// malformed octets of each kind): the field's octets on the wire, as
    /// the decoder types them, rendered as text and as JSON.
    #[test]
    fn every_type_rendered() {
        use AbstractType as T;
        let ntp_2023 = (1_700_000_000u64 + 2_208_988_800) << 32;
        #[rustfmt::skip]
        let golden: Vec<(AbstractType, Vec<u8>, &str, Json)> = vec![
            // unsigned, full size and reduced (RFC 7011 §6.2)
            (T::Unsigned8, vec![0xff], "255", json!(255)),
            (T::Unsigned16, vec![0x02, 0x01], "513", json!(513)),
            (T::Unsigned32, vec![0x02, 0x01], "513", json!(513)),
            (T::Unsigned64, vec![0xff; 8], "18446744073709551615", json!(u64::MAX)),
            (T::Unsigned64, vec![0x01, 0x00, 0x00], "65536", json!(65536)),
            // signed: the top bit of the octets sent is the sign
            (T::Signed8, vec![0x80], "-128", json!(-128)),
            (T::Signed32, vec![0xff, 0xfe], "-2", json!(-2)),
            (T::Signed64, vec![0x7f, 0xff], "32767", json!(32767)),
            // floats; float64 reduced to float32
            (T::Float32, vec![0x3e, 0x80, 0x00, 0x00], "0.25", json!(0.25)),
            (T::Float64, vec![0x3f, 0xd0, 0, 0, 0, 0, 0, 0], "0.25", json!(0.25)),
            (T::Float64, vec![0x3f, 0xc0, 0x00, 0x00], "1.5", json!(1.5)),
            (T::Float64, vec![0x7f, 0xf8, 0, 0, 0, 0, 0, 0], "NaN", json!("NaN")),
            (T::Float64, vec![0xff, 0xf0, 0, 0, 0, 0, 0, 0], "-inf", json!("-inf")),
            (T::Float64, 1e300f64.to_be_bytes().to_vec(), "1e300", json!(1e300)),
            // boolean, RFC 7011 §6.1.5: 1 true, 2 false
            (T::Boolean, vec![1], "true", json!(true)),
            (T::Boolean, vec![2], "false", json!(false)),
            // addresses
            (T::MacAddress, vec![0x02, 0x00, 0x5e, 0x00, 0x53, 0xab], "02:00:5e:00:53:ab", json!("02:00:5e:00:53:ab")),
            (T::Ipv4Address, vec![192, 0, 2, 1], "192.0.2.1", json!("192.0.2.1")),
            (T::Ipv6Address, vec![0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], "2001:db8::1", json!("2001:db8::1")),
            // times, each to its type's resolution
            (T::DateTimeSeconds, vec![0x65, 0x53, 0xf1, 0x00], "2023-11-14T22:13:20Z", json!("2023-11-14T22:13:20Z")),
            (T::DateTimeMilliseconds, 1_700_000_000_123u64.to_be_bytes().to_vec(), "2023-11-14T22:13:20.123Z", json!("2023-11-14T22:13:20.123Z")),
            (T::DateTimeMicroseconds, (ntp_2023 | 0x8000_0000).to_be_bytes().to_vec(), "2023-11-14T22:13:20.500000Z", json!("2023-11-14T22:13:20.500000Z")),
            (T::DateTimeNanoseconds, (ntp_2023 | 0x4000_0000).to_be_bytes().to_vec(), "2023-11-14T22:13:20.250000000Z", json!("2023-11-14T22:13:20.250000000Z")),
            // strings: UTF-8, trailing NUL padding dropped, quoted as text
            (T::String, b"eth0".to_vec(), "\"eth0\"", json!("eth0")),
            (T::String, b"obs0\0\0\0\0".to_vec(), "\"obs0\"", json!("obs0")),
            (T::String, "wlan \"caf\u{e9}\"".as_bytes().to_vec(), "\"wlan \\\"caf\u{e9}\\\"\"", json!("wlan \"caf\u{e9}\"")),
            (T::String, vec![], "\"\"", json!("")),
            // octets
            (T::OctetArray, vec![0x01, 0x02, 0xab], "0x0102ab", json!("0102ab")),
            (T::OctetArray, vec![], "0x", json!("")),
            (T::BasicList, vec![0xff, 0x00], "0xff00", json!("ff00")),
            // malformed: not a value of the type
            (T::Boolean, vec![0], "malformed(boolean:0x00)", json!({"malformed": "boolean", "octets": "00"})),
            (T::Boolean, vec![3], "malformed(boolean:0x03)", json!({"malformed": "boolean", "octets": "03"})),
            (T::Unsigned8, vec![0, 4], "malformed(unsigned8:0x0004)", json!({"malformed": "unsigned8", "octets": "0004"})),
            (T::Unsigned32, vec![], "malformed(unsigned32:0x)", json!({"malformed": "unsigned32", "octets": ""})),
            (T::Float64, vec![0; 2], "malformed(float64:0x0000)", json!({"malformed": "float64", "octets": "0000"})),
            (T::Ipv4Address, vec![192, 0, 2], "malformed(ipv4Address:0xc00002)", json!({"malformed": "ipv4Address", "octets": "c00002"})),
            (T::DateTimeMilliseconds, vec![0; 4], "malformed(dateTimeMilliseconds:0x00000000)", json!({"malformed": "dateTimeMilliseconds", "octets": "00000000"})),
            (T::String, vec![b'a', 0xff], "malformed(string:0x61ff)", json!({"malformed": "string", "octets": "61ff"})),
        ];
        for (ty, octets, text, json) in golden {
            let v = Value::decode(Some(ty), &octets);
            assert_eq!(value_text(&v), text, "{ty} {octets:02x?}");
            assert_eq!(value_json(&v), json, "{ty} {octets:02x?}");
        }
        // An element the decoder does not know: its octets.
        let unknown = Value::decode(None, &[0x6f, 0x62]);
        assert_eq!(value_text(&unknown), "0x6f62");
        assert_eq!(value_json(&unknown), json!("6f62"));
    }
}
