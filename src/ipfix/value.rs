//! Typed values of Information Elements and their encodings, RFC 7011 §6.
//!
//! Encoding is strict (a value must match its element's type and fit its
//! field); decoding is lenient (an encoding that does not fit the element's
//! type comes back as raw octets rather than as an error).

use std::net::{Ipv4Addr, Ipv6Addr};

use super::error::EncodeError;
use super::ie::{AbstractType, ElementId};

/// One decoded or to-be-encoded value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// unsigned8..unsigned64, any (reduced) length.
    Unsigned(u64),
    /// signed8..signed64, any (reduced) length.
    Signed(i64),
    /// float32 and float64.
    Float(f64),
    Boolean(bool),
    Mac([u8; 6]),
    Ipv4(Ipv4Addr),
    Ipv6(Ipv6Addr),
    /// dateTimeSeconds: seconds since the UNIX epoch (§6.1.7).
    DateTimeSeconds(u32),
    /// dateTimeMilliseconds: milliseconds since the UNIX epoch (§6.1.8).
    DateTimeMilliseconds(u64),
    /// dateTimeMicroseconds / dateTimeNanoseconds: the raw 64-bit NTP
    /// timestamp (§6.1.9, §6.1.10).
    DateTimeNtp(u64),
    String(String),
    /// octetArray, list types, and anything not decodable as its type.
    Bytes(Vec<u8>),
}

/// RFC 7011 §6.1.5: "The boolean data type is specified according to the
/// TruthValue in [RFC2579]... true is encoded as 1, false is encoded as 2".
const TRUE: u8 = 1;
const FALSE: u8 = 2;

impl Value {
    /// The octets of this value as element `element` of type `ty` in a
    /// field of `length` octets, or of any length for variable-length
    /// fields (`length == None`). Reduced-size integers (§6.2) are written
    /// in the low-order octets, big-endian; a value that does not fit is an
    /// error, never truncated.
    pub fn encode(
        &self,
        element: ElementId,
        ty: AbstractType,
        length: Option<u16>,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        use AbstractType as T;
        let full = ty.default_length();
        let n = length.or(full).unwrap_or(0);
        let mismatch = || EncodeError::ValueTypeMismatch { element, ty };
        let out_of_range = || EncodeError::ValueOutOfRange { element, length: n };
        match (ty, self) {
            (T::Unsigned8 | T::Unsigned16 | T::Unsigned32 | T::Unsigned64, Value::Unsigned(v)) => {
                let bytes = v.to_be_bytes();
                let low = low_octets(&bytes, n, 0x00).ok_or_else(out_of_range)?;
                out.extend_from_slice(low);
            }
            (T::Signed8 | T::Signed16 | T::Signed32 | T::Signed64, Value::Signed(v)) => {
                let negative = *v < 0;
                let fill = if negative { 0xff } else { 0x00 };
                let bytes = v.to_be_bytes();
                let low = low_octets(&bytes, n, fill).ok_or_else(out_of_range)?;
                // The kept top bit must still carry the sign.
                if low.first().map(|b| b & 0x80 != 0) != Some(negative) {
                    return Err(out_of_range());
                }
                out.extend_from_slice(low);
            }
            // §6.2: float64 may be reduced to float32; the precision loss of
            // the `as f32` is what reduced-size encoding means.
            (T::Float32 | T::Float64, Value::Float(v)) => match n {
                4 => out.extend_from_slice(&(*v as f32).to_be_bytes()),
                8 => out.extend_from_slice(&v.to_be_bytes()),
                _ => return Err(out_of_range()),
            },
            (T::Boolean, Value::Boolean(b)) => out.push(if *b { TRUE } else { FALSE }),
            (T::MacAddress, Value::Mac(m)) => out.extend_from_slice(m),
            (T::Ipv4Address, Value::Ipv4(a)) => out.extend_from_slice(&a.octets()),
            (T::Ipv6Address, Value::Ipv6(a)) => out.extend_from_slice(&a.octets()),
            (T::DateTimeSeconds, Value::DateTimeSeconds(s)) => {
                out.extend_from_slice(&s.to_be_bytes())
            }
            (T::DateTimeMilliseconds, Value::DateTimeMilliseconds(ms)) => {
                out.extend_from_slice(&ms.to_be_bytes())
            }
            (T::DateTimeMicroseconds | T::DateTimeNanoseconds, Value::DateTimeNtp(t)) => {
                out.extend_from_slice(&t.to_be_bytes())
            }
            (T::String, Value::String(s)) => fixed_or_variable(element, length, s.as_bytes(), out)?,
            (T::OctetArray, Value::Bytes(b)) => fixed_or_variable(element, length, b, out)?,
            (T::BasicList | T::SubTemplateList | T::SubTemplateMultiList, _) => {
                return Err(EncodeError::UnsupportedType { element, ty })
            }
            _ => return Err(mismatch()),
        }
        Ok(())
    }

    /// Decodes `bytes`, the whole content of one field of type `ty`.
    pub fn decode(ty: Option<AbstractType>, bytes: &[u8]) -> Value {
        use AbstractType as T;
        let raw = || Value::Bytes(bytes.to_vec());
        let Some(ty) = ty else { return raw() };
        let n = bytes.len();
        match ty {
            T::Unsigned8 | T::Unsigned16 | T::Unsigned32 | T::Unsigned64
                if (1..=8).contains(&n) =>
            {
                Value::Unsigned(bytes.iter().fold(0u64, |acc, &b| acc << 8 | u64::from(b)))
            }
            T::Signed8 | T::Signed16 | T::Signed32 | T::Signed64 if (1..=8).contains(&n) => {
                // SANITY: 1 <= n <= 8 by the guard.
                let fill = if bytes[0] & 0x80 != 0 { 0xff } else { 0x00 };
                let mut full = [fill; 8];
                full[8 - n..].copy_from_slice(bytes);
                Value::Signed(i64::from_be_bytes(full))
            }
            T::Float32 | T::Float64 => match *bytes {
                [a, b, c, d] => Value::Float(f64::from(f32::from_be_bytes([a, b, c, d]))),
                [a, b, c, d, e, f, g, h] => {
                    Value::Float(f64::from_be_bytes([a, b, c, d, e, f, g, h]))
                }
                _ => raw(),
            },
            T::Boolean => match *bytes {
                [TRUE] => Value::Boolean(true),
                [FALSE] => Value::Boolean(false),
                _ => raw(),
            },
            T::MacAddress => <[u8; 6]>::try_from(bytes).map_or_else(|_| raw(), Value::Mac),
            T::Ipv4Address => {
                <[u8; 4]>::try_from(bytes).map_or_else(|_| raw(), |a| Value::Ipv4(a.into()))
            }
            T::Ipv6Address => {
                <[u8; 16]>::try_from(bytes).map_or_else(|_| raw(), |a| Value::Ipv6(a.into()))
            }
            T::DateTimeSeconds => <[u8; 4]>::try_from(bytes)
                .map_or_else(|_| raw(), |a| Value::DateTimeSeconds(u32::from_be_bytes(a))),
            T::DateTimeMilliseconds => <[u8; 8]>::try_from(bytes).map_or_else(
                |_| raw(),
                |a| Value::DateTimeMilliseconds(u64::from_be_bytes(a)),
            ),
            T::DateTimeMicroseconds | T::DateTimeNanoseconds => <[u8; 8]>::try_from(bytes)
                .map_or_else(|_| raw(), |a| Value::DateTimeNtp(u64::from_be_bytes(a))),
            T::String => {
                std::str::from_utf8(bytes).map_or_else(|_| raw(), |s| Value::String(s.into()))
            }
            _ => raw(),
        }
    }

    /// The value as an unsigned integer, if it is one.
    pub fn as_unsigned(&self) -> Option<u64> {
        match self {
            Value::Unsigned(v) | Value::DateTimeMilliseconds(v) => Some(*v),
            Value::DateTimeSeconds(v) => Some(u64::from(*v)),
            _ => None,
        }
    }
}

/// §6.2 reduced-size encoding: the low `n` octets of a big-endian integer,
/// if the dropped high octets are all `fill` (0x00, or 0xff for negative
/// signed values) and `n` is at least 1.
fn low_octets(bytes: &[u8; 8], n: u16, fill: u8) -> Option<&[u8]> {
    let cut = bytes.len().checked_sub(usize::from(n))?;
    let (high, low) = bytes.split_at_checked(cut)?;
    (n > 0 && high.iter().all(|&b| b == fill)).then_some(low)
}

/// Octet strings: a fixed-length field takes exactly its length (§6.1.6
/// gives no padding rule, so we do not guess one); a variable-length field
/// takes any length and the caller writes the prefix.
fn fixed_or_variable(
    element: ElementId,
    length: Option<u16>,
    bytes: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    if let Some(expected) = length {
        if bytes.len() != usize::from(expected) {
            return Err(EncodeError::ValueLengthMismatch {
                element,
                expected,
                actual: bytes.len(),
            });
        }
    }
    out.extend_from_slice(bytes);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipfix::ie;
    use AbstractType as T;

    fn enc(ty: AbstractType, len: Option<u16>, v: &Value) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        v.encode(ie::FLOW_ID.id, ty, len, &mut out).map(|()| out)
    }

    #[test]
    fn unsigned_full_and_reduced() {
        let v = Value::Unsigned(0x0102);
        assert_eq!(
            enc(T::Unsigned64, None, &v).unwrap(),
            [0, 0, 0, 0, 0, 0, 1, 2]
        );
        assert_eq!(enc(T::Unsigned64, Some(2), &v).unwrap(), [1, 2]);
        assert_eq!(enc(T::Unsigned64, Some(3), &v).unwrap(), [0, 1, 2]);
        assert!(matches!(
            enc(T::Unsigned64, Some(1), &v),
            Err(EncodeError::ValueOutOfRange { length: 1, .. })
        ));
        assert!(enc(T::Unsigned64, Some(9), &v).is_err());
        assert_eq!(Value::decode(Some(T::Unsigned64), &[1, 2]), v);
        assert_eq!(
            Value::decode(Some(T::Unsigned64), &[0; 9]),
            Value::Bytes(vec![0; 9])
        );
    }

    #[test]
    fn signed_reduced_keeps_sign() {
        let minus_two = Value::Signed(-2);
        assert_eq!(enc(T::Signed32, Some(1), &minus_two).unwrap(), [0xfe]);
        assert_eq!(Value::decode(Some(T::Signed32), &[0xfe]), minus_two);
        assert_eq!(
            enc(T::Signed32, Some(2), &Value::Signed(127)).unwrap(),
            [0, 127]
        );
        // 128 needs 2 octets as a signed value, -129 too.
        assert!(enc(T::Signed16, Some(1), &Value::Signed(128)).is_err());
        assert!(enc(T::Signed16, Some(1), &Value::Signed(-129)).is_err());
        assert_eq!(
            enc(T::Signed16, Some(1), &Value::Signed(-128)).unwrap(),
            [0x80]
        );
        assert_eq!(
            Value::decode(
                Some(T::Signed64),
                &enc(T::Signed64, None, &Value::Signed(i64::MIN)).unwrap()
            ),
            Value::Signed(i64::MIN)
        );
    }

    #[test]
    fn floats_and_booleans() {
        let v = Value::Float(1.5);
        let four = enc(T::Float64, Some(4), &v).unwrap();
        assert_eq!(four, [0x3f, 0xc0, 0, 0]);
        assert_eq!(Value::decode(Some(T::Float64), &four), v);
        assert_eq!(enc(T::Float64, None, &v).unwrap().len(), 8);
        assert_eq!(enc(T::Boolean, None, &Value::Boolean(false)).unwrap(), [2]);
        assert_eq!(Value::decode(Some(T::Boolean), &[1]), Value::Boolean(true));
        assert_eq!(Value::decode(Some(T::Boolean), &[0]), Value::Bytes(vec![0]));
    }

    #[test]
    fn addresses_times_strings() {
        let a = Value::Ipv4(Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(enc(T::Ipv4Address, None, &a).unwrap(), [192, 0, 2, 1]);
        assert_eq!(Value::decode(Some(T::Ipv4Address), &[192, 0, 2, 1]), a);
        assert_eq!(
            Value::decode(Some(T::Ipv4Address), &[192, 0, 2]),
            Value::Bytes(vec![192, 0, 2])
        );
        let t = Value::DateTimeMilliseconds(1_700_000_000_123);
        assert_eq!(
            Value::decode(
                Some(T::DateTimeMilliseconds),
                &enc(T::DateTimeMilliseconds, None, &t).unwrap()
            ),
            t
        );
        let s = Value::String("eth0".into());
        assert_eq!(enc(T::String, None, &s).unwrap(), b"eth0");
        assert!(matches!(
            enc(T::String, Some(3), &s),
            Err(EncodeError::ValueLengthMismatch {
                expected: 3,
                actual: 4,
                ..
            })
        ));
        assert_eq!(
            Value::decode(Some(T::String), &[0xff]),
            Value::Bytes(vec![0xff])
        );
        assert_eq!(Value::decode(None, &[1, 2]), Value::Bytes(vec![1, 2]));
    }

    #[test]
    fn type_mismatch() {
        assert!(matches!(
            enc(T::Unsigned32, None, &Value::Signed(1)),
            Err(EncodeError::ValueTypeMismatch { .. })
        ));
        assert!(matches!(
            enc(T::BasicList, None, &Value::Bytes(vec![])),
            Err(EncodeError::UnsupportedType { .. })
        ));
    }
}
