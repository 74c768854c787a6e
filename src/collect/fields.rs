//! Rendering of decoded fields and times, shared by the JSON and table
//! outputs: field keys, values as JSON or as text, UTC timestamps. Pure.

use std::fmt::Write as _;

use serde_json::Value as Json;

use crate::ipfix::{DecodedField, Value};

/// The key of a field: its element name when the decoder knows it,
/// otherwise `pen:number` (enterprise-specific) or the bare number (IANA).
pub fn field_key(f: &DecodedField) -> String {
    match (&f.name, f.id.pen()) {
        (Some(name), _) => name.to_string(),
        (None, Some(pen)) => format!("{pen}:{}", f.id.number()),
        (None, None) => f.id.number().to_string(),
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

/// A value as JSON: numbers stay numbers (times as their raw epoch
/// numbers), addresses and strings are strings, octets are lowercase hex.
pub fn value_json(v: &Value) -> Json {
    match v {
        Value::Unsigned(n) | Value::DateTimeMilliseconds(n) | Value::DateTimeNtp(n) => {
            Json::from(*n)
        }
        Value::Signed(n) => Json::from(*n),
        Value::DateTimeSeconds(n) => Json::from(*n),
        // NaN and infinities have no JSON number.
        Value::Float(f) => serde_json::Number::from_f64(*f)
            .map_or_else(|| Json::String(f.to_string()), Json::Number),
        Value::Boolean(b) => Json::Bool(*b),
        Value::Mac(m) => Json::String(mac_text(m)),
        Value::Ipv4(a) => Json::String(a.to_string()),
        Value::Ipv6(a) => Json::String(a.to_string()),
        Value::String(s) => Json::String(s.clone()),
        Value::Bytes(b) => Json::String(hex(b)),
    }
}

/// A value for people: times in UTC, strings quoted, octets as `0x` hex.
pub fn value_text(v: &Value) -> String {
    match v {
        Value::Unsigned(n) => n.to_string(),
        Value::Signed(n) => n.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Boolean(b) => b.to_string(),
        Value::Mac(m) => mac_text(m),
        Value::Ipv4(a) => a.to_string(),
        Value::Ipv6(a) => a.to_string(),
        Value::DateTimeSeconds(s) => utc_text(u64::from(*s) * 1000, false),
        Value::DateTimeMilliseconds(ms) => utc_text(*ms, true),
        Value::DateTimeNtp(t) => {
            ntp_epoch_ms(*t).map_or_else(|| t.to_string(), |ms| utc_text(ms, true))
        }
        Value::String(s) => format!("{s:?}"),
        Value::Bytes(b) => format!("0x{}", hex(b)),
    }
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

/// Seconds from the NTP era 0 epoch (1900-01-01) to the UNIX epoch.
const NTP_UNIX_OFFSET_SECS: u64 = 2_208_988_800;

/// RFC 7011 §6.1.9/§6.1.10: NTP timestamp (seconds since 1900 in the high
/// 32 bits, binary fraction in the low 32) as milliseconds since the UNIX
/// epoch; `None` before 1970.
fn ntp_epoch_ms(t: u64) -> Option<u64> {
    let secs = (t >> 32).checked_sub(NTP_UNIX_OFFSET_SECS)?;
    let frac_ms = ((t & 0xffff_ffff) * 1000) >> 32;
    Some(secs * 1000 + frac_ms)
}

const MS_PER_DAY: u64 = 86_400_000;

/// `2026-01-02T03:04:05.678Z` (ISO 8601, UTC) for milliseconds since the
/// UNIX epoch; without the milliseconds when `with_ms` is false.
pub fn utc_text(epoch_ms: u64, with_ms: bool) -> String {
    let days = epoch_ms / MS_PER_DAY;
    let ms_of_day = epoch_ms % MS_PER_DAY;
    let (y, m, d) = civil_from_days(days);
    let (secs, ms) = (ms_of_day / 1000, ms_of_day % 1000);
    let (hh, mm, ss) = (secs / 3600, secs / 60 % 60, secs % 60);
    if with_ms {
        format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{ms:03}Z")
    } else {
        format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (H. Hinnant's `civil_from_days`, restricted to days >= 0).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097; // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March = 0
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipfix::ie::{self, ElementId};

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
        assert_eq!(keys, ["flowId", "32473:1", "82", "flowId#2"]);
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

    #[test]
    fn json_values() {
        assert_eq!(value_json(&Value::Unsigned(u64::MAX)), Json::from(u64::MAX));
        assert_eq!(value_json(&Value::Signed(-2)), Json::from(-2));
        assert_eq!(value_json(&Value::Float(1.5)), Json::from(1.5));
        assert_eq!(value_json(&Value::Float(f64::NAN)), Json::from("NaN"));
        assert_eq!(value_json(&Value::Boolean(true)), Json::Bool(true));
        assert_eq!(
            value_json(&Value::Mac([0, 0x1b, 2, 3, 4, 0xff])),
            Json::from("00:1b:02:03:04:ff")
        );
        assert_eq!(
            value_json(&Value::Ipv6("2001:db8::1".parse().unwrap())),
            Json::from("2001:db8::1")
        );
        assert_eq!(
            value_json(&Value::Bytes(vec![0xde, 0xad, 0x01])),
            Json::from("dead01")
        );
        assert_eq!(value_json(&Value::Bytes(vec![])), Json::from(""));
        assert_eq!(value_json(&Value::DateTimeMilliseconds(5)), Json::from(5));
        assert_eq!(
            value_json(&Value::String("eth0".into())),
            Json::from("eth0")
        );
    }

    #[test]
    fn text_values() {
        assert_eq!(value_text(&Value::String("a b".into())), "\"a b\"");
        assert_eq!(value_text(&Value::Bytes(vec![1, 0xab])), "0x01ab");
        assert_eq!(
            value_text(&Value::DateTimeMilliseconds(1_700_000_000_123)),
            "2023-11-14T22:13:20.123Z"
        );
        assert_eq!(
            value_text(&Value::DateTimeSeconds(1_700_000_000)),
            "2023-11-14T22:13:20Z"
        );
        // NTP: 1970-01-01 00:00:00.5
        let ntp = (NTP_UNIX_OFFSET_SECS << 32) | 0x8000_0000;
        assert_eq!(
            value_text(&Value::DateTimeNtp(ntp)),
            "1970-01-01T00:00:00.500Z"
        );
        assert_eq!(value_text(&Value::DateTimeNtp(5)), "5");
    }

    #[test]
    fn utc_calendar() {
        assert_eq!(utc_text(0, true), "1970-01-01T00:00:00.000Z");
        // Leap day and the day after, 2024.
        assert_eq!(utc_text(1_709_164_800_000, false), "2024-02-29T00:00:00Z");
        assert_eq!(
            utc_text(1_709_251_199_999, true),
            "2024-02-29T23:59:59.999Z"
        );
        assert_eq!(utc_text(1_709_251_200_000, false), "2024-03-01T00:00:00Z");
        // 2000 was a leap year, 2100 will not be.
        assert_eq!(utc_text(951_782_400_000, false), "2000-02-29T00:00:00Z");
        assert_eq!(utc_text(4_107_542_400_000, false), "2100-03-01T00:00:00Z");
        assert_eq!(utc_text(253_402_300_799_000, false), "9999-12-31T23:59:59Z");
        // No overflow at the top of the range.
        assert!(utc_text(u64::MAX, true).ends_with(".615Z"));
    }
}
