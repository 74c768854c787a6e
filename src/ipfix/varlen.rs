//! Variable-length encoding, RFC 7011 §7.
//!
//! "In most cases, the length of the Information Element will be less than
//! 255 octets. ... the length is carried in the first octet":
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Length (< 255)|          Information Element                  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! "The length may also be encoded into 3 octets before the Information
//! Element, allowing the length of the Information Element to be greater
//! than or equal to 255 octets. In this case, the first octet of the Length
//! field MUST be 255, and the length is carried in the second and third
//! octets":
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |      255      |      Length (0 to 65535)      |       IE      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! We emit the short form below 255 and the long form from 255 on; we
//! accept either form on input ("the 3-octet form MAY be used even for
//! lengths < 255").

use super::error::WireError;

/// The first octet that announces the 3-octet form.
pub const LONG_FORM_MARKER: u8 = 255;
const SHORT_FORM_LEN: usize = 1;
const LONG_FORM_LEN: usize = 1 + 2;

/// The length prefix of one variable-length value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VarLen {
    /// Length of the value that follows, in octets.
    pub len: u16,
    /// Whether the prefix uses the 3-octet form.
    pub long_form: bool,
}

impl VarLen {
    /// The prefix we emit for a value of `len` octets.
    pub fn for_len(len: usize) -> Result<Self, WireError> {
        let len = u16::try_from(len).map_err(|_| WireError::LengthOverflow { length: len })?;
        Ok(VarLen {
            len,
            long_form: len >= u16::from(LONG_FORM_MARKER),
        })
    }

    /// Parses a prefix; returns it and the number of prefix octets.
    pub fn parse(buf: &[u8]) -> Result<(Self, usize), WireError> {
        let truncated = |needed| WireError::Truncated {
            unit: "variable-length prefix",
            needed,
            available: buf.len(),
        };
        match buf {
            [] => Err(truncated(SHORT_FORM_LEN)),
            [LONG_FORM_MARKER, hi, lo, ..] => Ok((
                VarLen {
                    len: u16::from_be_bytes([*hi, *lo]),
                    long_form: true,
                },
                LONG_FORM_LEN,
            )),
            [LONG_FORM_MARKER, ..] => Err(truncated(LONG_FORM_LEN)),
            [len, ..] => Ok((
                VarLen {
                    len: u16::from(*len),
                    long_form: false,
                },
                SHORT_FORM_LEN,
            )),
        }
    }

    pub fn buffer_len(&self) -> usize {
        if self.long_form {
            LONG_FORM_LEN
        } else {
            SHORT_FORM_LEN
        }
    }

    pub fn emit(&self, buf: &mut [u8]) -> Result<(), WireError> {
        let needed = self.buffer_len();
        let available = buf.len();
        let out = buf.get_mut(..needed).ok_or(WireError::Truncated {
            unit: "variable-length prefix",
            needed,
            available,
        })?;
        match (self.long_form, u8::try_from(self.len)) {
            (false, Ok(short)) if short < LONG_FORM_MARKER => out.copy_from_slice(&[short]),
            (false, _) => {
                return Err(WireError::LengthOverflow {
                    length: usize::from(self.len),
                })
            }
            (true, _) => {
                let [hi, lo] = self.len.to_be_bytes();
                out.copy_from_slice(&[LONG_FORM_MARKER, hi, lo]);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emit(v: VarLen) -> Vec<u8> {
        let mut b = vec![0u8; v.buffer_len()];
        v.emit(&mut b).unwrap();
        b
    }

    #[test]
    fn short_form_golden() {
        // 254 fits the 1-octet form.
        let golden = [0xfe];
        let v = VarLen::for_len(254).unwrap();
        assert_eq!(emit(v), golden);
        assert_eq!(VarLen::parse(&golden).unwrap(), (v, 1));
        assert_eq!(emit(VarLen::for_len(0).unwrap()), [0x00]);
    }

    #[test]
    fn long_form_golden() {
        #[rustfmt::skip]
        let golden = [
            0xff,       // marker: 3-octet form
            0x00, 0xff, // length 255
        ];
        let v = VarLen::for_len(255).unwrap();
        assert!(v.long_form);
        assert_eq!(emit(v), golden);
        assert_eq!(VarLen::parse(&golden).unwrap(), (v, 3));
        assert_eq!(emit(VarLen::for_len(65535).unwrap()), [0xff, 0xff, 0xff]);
    }

    #[test]
    fn long_form_accepted_for_short_lengths() {
        let (v, n) = VarLen::parse(&[0xff, 0x00, 0x05, 0xaa]).unwrap();
        assert_eq!((v.len, v.long_form, n), (5, true, 3));
    }

    #[test]
    fn truncated_and_overflow() {
        assert!(matches!(
            VarLen::parse(&[]),
            Err(WireError::Truncated { needed: 1, .. })
        ));
        assert!(matches!(
            VarLen::parse(&[0xff, 0x01]),
            Err(WireError::Truncated { needed: 3, .. })
        ));
        assert_eq!(
            VarLen::for_len(65536),
            Err(WireError::LengthOverflow { length: 65536 })
        );
        let mut short = [0u8; 2];
        assert!(VarLen::for_len(300).unwrap().emit(&mut short).is_err());
        let bad = VarLen {
            len: 300,
            long_form: false,
        };
        assert!(bad.emit(&mut [0u8; 3]).is_err());
    }
}
