//! UTC timestamps as text (ISO 8601, `2026-01-02T03:04:05.678Z`) for the
//! IPFIX time types: seconds and milliseconds since the UNIX epoch
//! (RFC 7011 §6.1.7, §6.1.8) and NTP timestamps (§6.1.9, §6.1.10). Pure.

/// How many fractional digits a timestamp shows: the resolution of its
/// IPFIX type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    Seconds,
    Milliseconds,
    Microseconds,
    Nanoseconds,
}

/// Seconds from the NTP era 0 epoch (1900-01-01) to the UNIX epoch.
pub const NTP_UNIX_OFFSET_SECS: i64 = 2_208_988_800;

const SECS_PER_DAY: i64 = 86_400;
const NANOS_PER_SEC: u64 = 1_000_000_000;

/// `2026-01-02T03:04:05.678Z` for milliseconds since the UNIX epoch;
/// without the milliseconds when `with_ms` is false.
pub fn utc_text(epoch_ms: u64, with_ms: bool) -> String {
    let precision = if with_ms {
        Precision::Milliseconds
    } else {
        Precision::Seconds
    };
    // u64::MAX / 1000 fits an i64; the remainder is below 1000.
    let secs = i64::try_from(epoch_ms / 1000).unwrap_or(i64::MAX);
    let nanos = u32::try_from(epoch_ms % 1000 * 1_000_000).unwrap_or(0);
    utc_text_precise(secs, nanos, precision)
}

/// An NTP timestamp (seconds since 1900 in the high 32 bits, a binary
/// fraction of a second in the low 32) as UTC text at `precision`; the
/// fraction is truncated, never rounded up into the next second.
///
/// The 32-bit seconds wrap in February 2036. RFC 7011 §6.1.9 says nothing
/// of eras; this reads them as SNTP does (RFC 4330 §3): with the top bit
/// set, 1968 to 2036 (era 0); with it clear, 2036 to 2104 (era 1).
pub fn ntp_text(ntp: u64, precision: Precision) -> String {
    let secs_1900 = ntp >> 32;
    let era_secs: i64 = if secs_1900 & 0x8000_0000 != 0 {
        0
    } else {
        1 << 32
    };
    // Both terms are below 2^33: no overflow.
    let secs = i64::try_from(secs_1900).unwrap_or(0) + era_secs - NTP_UNIX_OFFSET_SECS;
    let fraction = ntp & 0xffff_ffff;
    let nanos = u32::try_from((fraction * NANOS_PER_SEC) >> 32).unwrap_or(0);
    utc_text_precise(secs, nanos, precision)
}

/// `secs` since the UNIX epoch (negative: before 1970) and `nanos` into
/// that second, at `precision` (digits below it are dropped).
pub fn utc_text_precise(secs: i64, nanos: u32, precision: Precision) -> String {
    let days = secs.div_euclid(SECS_PER_DAY);
    let secs_of_day = secs.rem_euclid(SECS_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (secs_of_day / 3600, secs_of_day / 60 % 60, secs_of_day % 60);
    let date = format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}");
    match precision {
        Precision::Seconds => format!("{date}Z"),
        Precision::Milliseconds => format!("{date}.{:03}Z", nanos / 1_000_000),
        Precision::Microseconds => format!("{date}.{:06}Z", nanos / 1_000),
        Precision::Nanoseconds => format!("{date}.{nanos:09}Z"),
    }
}

/// Days since 1970-01-01 (negative before) to (year, month, day), proleptic
/// Gregorian (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March = 0
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar() {
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
        // Before 1970.
        assert_eq!(
            utc_text_precise(-1, 0, Precision::Seconds),
            "1969-12-31T23:59:59Z"
        );
        assert_eq!(
            utc_text_precise(-86_400 * 365 - 1, 5, Precision::Nanoseconds),
            "1968-12-31T23:59:59.000000005Z"
        );
    }

    #[test]
    fn precisions_truncate() {
        let at = |p| utc_text_precise(1_700_000_000, 123_456_789, p);
        assert_eq!(at(Precision::Seconds), "2023-11-14T22:13:20Z");
        assert_eq!(at(Precision::Milliseconds), "2023-11-14T22:13:20.123Z");
        assert_eq!(at(Precision::Microseconds), "2023-11-14T22:13:20.123456Z");
        assert_eq!(at(Precision::Nanoseconds), "2023-11-14T22:13:20.123456789Z");
    }

    #[test]
    fn ntp_times() {
        let unix_1970 = 2_208_988_800u64 << 32;
        // Half a second: fraction 0x8000_0000.
        assert_eq!(
            ntp_text(unix_1970 | 0x8000_0000, Precision::Microseconds),
            "1970-01-01T00:00:00.500000Z"
        );
        // The smallest fraction is 0.23 ns: truncated to 0, never rounded.
        assert_eq!(
            ntp_text(unix_1970 | 1, Precision::Nanoseconds),
            "1970-01-01T00:00:00.000000000Z"
        );
        // The largest fraction stays within its second.
        assert_eq!(
            ntp_text(unix_1970 | 0xffff_ffff, Precision::Nanoseconds),
            "1970-01-01T00:00:00.999999999Z"
        );
        // 2023-11-14T22:13:20Z, and 1900 (era 0 ends at 2036).
        assert_eq!(
            ntp_text((1_700_000_000 + 2_208_988_800) << 32, Precision::Seconds),
            "2023-11-14T22:13:20Z"
        );
        assert_eq!(
            ntp_text(0x8000_0000 << 32, Precision::Seconds),
            "1968-01-20T03:14:08Z"
        );
        // Top bit clear: era 1, from 2036-02-07T06:28:16Z on.
        assert_eq!(ntp_text(0, Precision::Seconds), "2036-02-07T06:28:16Z");
        assert_eq!(
            ntp_text(u64::MAX >> 1, Precision::Nanoseconds),
            "2104-02-26T09:42:23.999999999Z"
        );
    }
}
