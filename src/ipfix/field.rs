//! Field Specifier, RFC 7011 §3.2.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |E|  Information Element ident. |        Field Length           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                      Enterprise Number                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! "E: Enterprise bit. ... If this bit is zero, the Information Element
//! identifier identifies an Information Element in [IANA-IPFIX], and the
//! four-octet Enterprise Number field MUST NOT be present. If this bit is
//! one, the Information Element identifier identifies an enterprise-specific
//! Information Element, and the Enterprise Number field MUST be present."

use super::bytes::{check_len, get_u16, get_u32, put_u16, put_u32};
use super::error::WireError;
use super::ie::{ElementId, FieldLength};

mod offset {
    use std::ops::Range;
    pub const ELEMENT_ID: Range<usize> = 0..2;
    pub const FIELD_LENGTH: Range<usize> = ELEMENT_ID.end..ELEMENT_ID.end + 2;
    pub const ENTERPRISE_NUMBER: Range<usize> = FIELD_LENGTH.end..FIELD_LENGTH.end + 4;
}

/// An IANA field specifier: 4 octets.
pub const IANA_FIELD_SPECIFIER_LEN: usize = offset::FIELD_LENGTH.end;
/// An enterprise-specific field specifier: 8 octets.
pub const ENTERPRISE_FIELD_SPECIFIER_LEN: usize = offset::ENTERPRISE_NUMBER.end;
/// The enterprise bit, the top bit of the element identifier field.
pub const ENTERPRISE_BIT: u16 = 0x8000;

/// A field specifier over a buffer long enough for its enterprise bit.
#[derive(Debug, Clone)]
pub struct FieldSpecifierView<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> FieldSpecifierView<T> {
    /// Checks 4 octets, then 8 if the enterprise bit is set.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let buf = buffer.as_ref();
        check_len("field specifier", buf, IANA_FIELD_SPECIFIER_LEN)?;
        if get_u16(buf, offset::ELEMENT_ID) & ENTERPRISE_BIT != 0 {
            check_len("field specifier", buf, ENTERPRISE_FIELD_SPECIFIER_LEN)?;
        }
        Ok(FieldSpecifierView { buffer })
    }

    pub fn enterprise_bit(&self) -> bool {
        self.raw_element_id() & ENTERPRISE_BIT != 0
    }

    /// The identifier with the enterprise bit masked off.
    pub fn element_number(&self) -> u16 {
        self.raw_element_id() & !ENTERPRISE_BIT
    }

    pub fn field_length(&self) -> u16 {
        get_u16(self.buffer.as_ref(), offset::FIELD_LENGTH)
    }

    /// Present only with the enterprise bit.
    pub fn enterprise_number(&self) -> Option<u32> {
        self.enterprise_bit()
            .then(|| get_u32(self.buffer.as_ref(), offset::ENTERPRISE_NUMBER))
    }

    /// Octets this specifier occupies: 4, or 8 with a PEN.
    pub fn specifier_len(&self) -> usize {
        if self.enterprise_bit() {
            ENTERPRISE_FIELD_SPECIFIER_LEN
        } else {
            IANA_FIELD_SPECIFIER_LEN
        }
    }

    fn raw_element_id(&self) -> u16 {
        get_u16(self.buffer.as_ref(), offset::ELEMENT_ID)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> FieldSpecifierView<T> {
    /// Writes the identifier and enterprise bit (and the PEN when `pen` is
    /// set; the buffer must then hold 8 octets, see [`FieldSpecifier::emit`]).
    fn set_element(&mut self, number: u16, pen: Option<u32>) {
        let e_bit = if pen.is_some() { ENTERPRISE_BIT } else { 0 };
        put_u16(self.buffer.as_mut(), offset::ELEMENT_ID, number | e_bit);
        if let Some(pen) = pen {
            put_u32(self.buffer.as_mut(), offset::ENTERPRISE_NUMBER, pen);
        }
    }

    fn set_field_length(&mut self, value: u16) {
        put_u16(self.buffer.as_mut(), offset::FIELD_LENGTH, value)
    }
}

/// A field specifier as values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FieldSpecifier {
    pub id: ElementId,
    pub length: FieldLength,
}

impl FieldSpecifier {
    pub fn new(id: ElementId, length: FieldLength) -> Self {
        FieldSpecifier { id, length }
    }

    pub fn parse<T: AsRef<[u8]>>(view: &FieldSpecifierView<T>) -> Self {
        FieldSpecifier {
            id: ElementId::from_wire(view.enterprise_number(), view.element_number()),
            length: FieldLength::from_wire(view.field_length()),
        }
    }

    pub fn buffer_len(&self) -> usize {
        match self.id.pen() {
            Some(_) => ENTERPRISE_FIELD_SPECIFIER_LEN,
            None => IANA_FIELD_SPECIFIER_LEN,
        }
    }

    /// Emits into the first [`Self::buffer_len`] octets of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), WireError> {
        let needed = self.buffer_len();
        check_len("field specifier", buf, needed)?;
        // SANITY: check_len above guarantees `needed` octets.
        let mut view = FieldSpecifierView {
            buffer: &mut buf[..needed],
        };
        view.set_element(self.id.number(), self.id.pen());
        view.set_field_length(self.length.to_wire());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipfix::ie;

    #[rustfmt::skip]
    const IANA_GOLDEN: [u8; 4] = [
        0x00, 0x94, // E=0, element 148 flowId
        0x00, 0x08, // length 8
    ];

    #[rustfmt::skip]
    const ENTERPRISE_GOLDEN: [u8; 8] = [
        0x80, 0x01,             // E=1, element 1
        0xff, 0xff,             // length 65535: variable length
        0x00, 0x00, 0x7e, 0xd9, // PEN 32473 (RFC 5612 documentation PEN)
    ];

    fn emit(spec: FieldSpecifier) -> Vec<u8> {
        let mut b = vec![0u8; spec.buffer_len()];
        spec.emit(&mut b).unwrap();
        b
    }

    #[test]
    fn iana_golden() {
        let view = FieldSpecifierView::new_checked(&IANA_GOLDEN[..]).unwrap();
        assert_eq!(view.specifier_len(), 4);
        let spec = FieldSpecifier::parse(&view);
        assert_eq!(
            spec,
            FieldSpecifier::new(ie::FLOW_ID.id, FieldLength::Fixed(8))
        );
        assert_eq!(emit(spec), IANA_GOLDEN);
    }

    #[test]
    fn enterprise_golden() {
        let view = FieldSpecifierView::new_checked(&ENTERPRISE_GOLDEN[..]).unwrap();
        assert_eq!(view.specifier_len(), 8);
        let spec = FieldSpecifier::parse(&view);
        let id = ElementId::new(Some(32473), 1).unwrap();
        assert_eq!(spec, FieldSpecifier::new(id, FieldLength::Variable));
        assert_eq!(emit(spec), ENTERPRISE_GOLDEN);
    }

    #[test]
    fn largest_number_round_trips() {
        let id = ElementId::new(Some(u32::MAX), ElementId::MAX_NUMBER).unwrap();
        let spec = FieldSpecifier::new(id, FieldLength::Fixed(65534));
        let bytes = emit(spec);
        assert_eq!(bytes[..4], [0xff, 0xff, 0xff, 0xfe]);
        let view = FieldSpecifierView::new_checked(&bytes[..]).unwrap();
        assert_eq!(FieldSpecifier::parse(&view), spec);
    }

    #[test]
    fn truncated() {
        for len in 0..4 {
            assert!(FieldSpecifierView::new_checked(&IANA_GOLDEN[..len]).is_err());
        }
        // The enterprise bit promises a PEN that is missing.
        for len in 4..8 {
            assert_eq!(
                FieldSpecifierView::new_checked(&ENTERPRISE_GOLDEN[..len]).unwrap_err(),
                WireError::Truncated {
                    unit: "field specifier",
                    needed: 8,
                    available: len
                }
            );
        }
        let spec = FieldSpecifier::new(ie::FLOW_ID.id, FieldLength::Fixed(8));
        assert!(spec.emit(&mut [0u8; 3]).is_err());
    }
}
