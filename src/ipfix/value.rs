//! Typed values of Information Elements and their encodings, RFC 7011 §6.
//!
//! Encoding is strict (a value must match its element's type and fit its
//! field); decoding is lenient: octets that are not a value of the
//! element's type come back as [`Value::Malformed`] (the type and the raw
//! octets) rather than as an error, so one bad field does not cost its
//! record, and a collector can show it for what it is.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::error::EncodeError;
use super::ie::{AbstractType, ElementId, FieldLength};

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
    /// dateTimeMicroseconds: the raw 64-bit NTP timestamp (§6.1.9).
    DateTimeMicroseconds(u64),
    /// dateTimeNanoseconds: the raw 64-bit NTP timestamp (§6.1.10).
    DateTimeNanoseconds(u64),
    String(String),
    /// octetArray, the RFC 6313 list types (not decoded further), and the
    /// fields of elements the decoder does not know.
    Bytes(Vec<u8>),
    /// Octets that are not a value of the element's type `ty`: a length the
    /// type does not take (§6.2 reduces only integers and float64, and never
    /// to 0 octets), a boolean other than 1 or 2 (§6.1.5), a string that is
    /// not UTF-8 (§6.1.6). Decoded only, never encoded.
    Malformed {
        ty: AbstractType,
        bytes: Vec<u8>,
    },
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
            (T::DateTimeMicroseconds, Value::DateTimeMicroseconds(t))
            | (T::DateTimeNanoseconds, Value::DateTimeNanoseconds(t)) => {
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

    /// Decodes `bytes`, the whole content of one field of an element of
    /// type `ty` (`None`: an element the decoder does not know, kept as raw
    /// octets). Integers may come in fewer octets than their type's size
    /// (§6.2 reduced-size encoding), float64 also as float32.
    pub fn decode(ty: Option<AbstractType>, bytes: &[u8]) -> Value {
        let Some(ty) = ty else {
            return Value::Bytes(bytes.to_vec());
        };
        decode_as(ty, bytes).unwrap_or_else(|| Value::Malformed {
            ty,
            bytes: bytes.to_vec(),
        })
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

/// `bytes` as a value of type `ty`, or `None` when they are not one.
fn decode_as(ty: AbstractType, bytes: &[u8]) -> Option<Value> {
    use AbstractType as T;
    let length = u16::try_from(bytes.len()).ok()?;
    if !ty.accepts(FieldLength::Fixed(length)) {
        return None;
    }
    // From here on the length is one the type takes: 1..=8 octets for the
    // integers, 4 or 8 for float64, the full size for the other fixed types.
    let value = match ty {
        T::Unsigned8 | T::Unsigned16 | T::Unsigned32 | T::Unsigned64 => {
            Value::Unsigned(bytes.iter().fold(0u64, |acc, &b| acc << 8 | u64::from(b)))
        }
        T::Signed8 | T::Signed16 | T::Signed32 | T::Signed64 => {
            let negative = bytes.first().is_some_and(|b| b & 0x80 != 0);
            let mut full = [if negative { 0xff } else { 0x00 }; 8];
            full.get_mut(8usize.checked_sub(bytes.len())?..)?
                .copy_from_slice(bytes);
            Value::Signed(i64::from_be_bytes(full))
        }
        T::Float32 | T::Float64 => match *bytes {
            [a, b, c, d] => Value::Float(f64::from(f32::from_be_bytes([a, b, c, d]))),
            [a, b, c, d, e, f, g, h] => Value::Float(f64::from_be_bytes([a, b, c, d, e, f, g, h])),
            _ => return None,
        },
        T::Boolean => match *bytes {
            [TRUE] => Value::Boolean(true),
            [FALSE] => Value::Boolean(false),
            _ => return None,
        },
        T::MacAddress => Value::Mac(bytes.try_into().ok()?),
        T::Ipv4Address => Value::Ipv4(<[u8; 4]>::try_from(bytes).ok()?.into()),
        T::Ipv6Address => Value::Ipv6(<[u8; 16]>::try_from(bytes).ok()?.into()),
        T::DateTimeSeconds => Value::DateTimeSeconds(u32::from_be_bytes(bytes.try_into().ok()?)),
        T::DateTimeMilliseconds => {
            Value::DateTimeMilliseconds(u64::from_be_bytes(bytes.try_into().ok()?))
        }
        T::DateTimeMicroseconds => {
            Value::DateTimeMicroseconds(u64::from_be_bytes(bytes.try_into().ok()?))
        }
        T::DateTimeNanoseconds => {
            Value::DateTimeNanoseconds(u64::from_be_bytes(bytes.try_into().ok()?))
        }
        T::String => Value::String(std::str::from_utf8(bytes).ok()?.to_owned()),
        T::OctetArray | T::BasicList | T::SubTemplateList | T::SubTemplateMultiList => {
            Value::Bytes(bytes.to_vec())
        }
    };
    Some(value)
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
    use std::net::Ipv6Addr;
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
            Value::Malformed {
                ty: T::Unsigned64,
                bytes: vec![0; 9]
            }
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
        assert_eq!(
            Value::decode(Some(T::Boolean), &[0]),
            Value::Malformed {
                ty: T::Boolean,
                bytes: vec![0]
            }
        );
    }

    #[test]
    fn addresses_times_strings() {
        let a = Value::Ipv4(Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(enc(T::Ipv4Address, None, &a).unwrap(), [192, 0, 2, 1]);
        assert_eq!(Value::decode(Some(T::Ipv4Address), &[192, 0, 2, 1]), a);
        assert_eq!(
            Value::decode(Some(T::Ipv4Address), &[192, 0, 2]),
            Value::Malformed {
                ty: T::Ipv4Address,
                bytes: vec![192, 0, 2]
            }
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
            Value::Malformed {
                ty: T::String,
                bytes: vec![0xff]
            }
        );
        assert_eq!(Value::decode(None, &[1, 2]), Value::Bytes(vec![1, 2]));
    }

    /// Every abstract type decoded from annotated octets: full size,
    /// reduced size where §6.2 allows it, and octets the type cannot have.
    #[test]
    fn decode_golden() {
        let bad = |ty, bytes: &[u8]| Value::Malformed {
            ty,
            bytes: bytes.to_vec(),
        };
        let ntp: u64 = 0xe8fe_6f80_8000_0000; // 2023-11-14T22:13:20.5Z
        let ntp_octets = ntp.to_be_bytes();
        #[rustfmt::skip]
        let golden: Vec<(AbstractType, &[u8], Value)> = vec![
            (T::Unsigned8, &[0x2a], Value::Unsigned(42)),
            (T::Unsigned16, &[0x2a], Value::Unsigned(42)),               // reduced to 1 octet
            (T::Unsigned32, &[0x00, 0x01, 0x00], Value::Unsigned(256)),  // reduced to 3
            (T::Unsigned64, &[0xff; 8], Value::Unsigned(u64::MAX)),
            (T::Unsigned16, &[0, 0, 1], bad(T::Unsigned16, &[0, 0, 1])), // longer than the type
            (T::Unsigned8, &[], bad(T::Unsigned8, &[])),                 // never 0 octets
            (T::Signed8, &[0xff], Value::Signed(-1)),
            (T::Signed64, &[0x80, 0x00], Value::Signed(-32768)),         // reduced: sign from octet 1
            (T::Signed16, &[0x7f, 0xff], Value::Signed(32767)),
            (T::Float32, &[0x3f, 0xc0, 0, 0], Value::Float(1.5)),
            (T::Float64, &[0x3f, 0xf8, 0, 0, 0, 0, 0, 0], Value::Float(1.5)),
            (T::Float64, &[0x3f, 0xc0, 0, 0], Value::Float(1.5)),        // reduced to float32
            (T::Float32, &[0x3f, 0xf8, 0, 0, 0, 0, 0, 0], bad(T::Float32, &[0x3f, 0xf8, 0, 0, 0, 0, 0, 0])),
            (T::Boolean, &[1], Value::Boolean(true)),
            (T::Boolean, &[2], Value::Boolean(false)),
            (T::Boolean, &[0], bad(T::Boolean, &[0])),                   // §6.1.5: 1 or 2 only
            (T::Boolean, &[1, 1], bad(T::Boolean, &[1, 1])),
            (T::MacAddress, &[2, 0, 0x5e, 0, 0x53, 1], Value::Mac([2, 0, 0x5e, 0, 0x53, 1])),
            (T::MacAddress, &[2, 0, 0x5e, 0, 0x53], bad(T::MacAddress, &[2, 0, 0x5e, 0, 0x53])),
            (T::Ipv4Address, &[198, 51, 100, 7], Value::Ipv4(Ipv4Addr::new(198, 51, 100, 7))),
            (T::Ipv6Address, &[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
                Value::Ipv6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1))),
            (T::DateTimeSeconds, &[0x65, 0x53, 0xf1, 0x00], Value::DateTimeSeconds(1_700_000_000)),
            (T::DateTimeMilliseconds, &[0, 0, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x7b], Value::DateTimeMilliseconds(1_700_000_000_123)),
            (T::DateTimeMicroseconds, &ntp_octets, Value::DateTimeMicroseconds(ntp)),
            (T::DateTimeNanoseconds, &ntp_octets, Value::DateTimeNanoseconds(ntp)),
            (T::DateTimeSeconds, &[0, 0, 0, 0, 0x65, 0x53, 0xf1, 0x00], bad(T::DateTimeSeconds, &[0, 0, 0, 0, 0x65, 0x53, 0xf1, 0x00])),
            (T::String, b"eth0", Value::String("eth0".into())),
            (T::String, b"", Value::String(String::new())),
            (T::String, &[0xc3, 0x28], bad(T::String, &[0xc3, 0x28])),  // not UTF-8
            (T::OctetArray, &[0xde, 0xad], Value::Bytes(vec![0xde, 0xad])),
            (T::SubTemplateList, &[0xff, 1], Value::Bytes(vec![0xff, 1])), // lists: not decoded
        ];
        for (ty, octets, value) in golden {
            assert_eq!(Value::decode(Some(ty), octets), value, "{ty} {octets:02x?}");
        }
    }

    #[test]
    fn times_round_trip_by_type() {
        for (ty, v) in [
            (T::DateTimeSeconds, Value::DateTimeSeconds(7)),
            (T::DateTimeMilliseconds, Value::DateTimeMilliseconds(7)),
            (T::DateTimeMicroseconds, Value::DateTimeMicroseconds(7)),
            (T::DateTimeNanoseconds, Value::DateTimeNanoseconds(7)),
        ] {
            assert_eq!(Value::decode(Some(ty), &enc(ty, None, &v).unwrap()), v);
        }
        // A microsecond time is not a nanosecond one.
        assert!(enc(
            T::DateTimeNanoseconds,
            None,
            &Value::DateTimeMicroseconds(7)
        )
        .is_err());
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
