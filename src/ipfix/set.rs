//! Set Header and padding, RFC 7011 §3.3.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          Set ID               |          Length               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use super::bytes::{check_len, get_u16, put_u16};
use super::error::WireError;

mod offset {
    use std::ops::Range;
    pub const SET_ID: Range<usize> = 0..2;
    pub const LENGTH: Range<usize> = SET_ID.end..SET_ID.end + 2;
}

/// Length of the set header: 4 octets.
pub const SET_HEADER_LEN: usize = offset::LENGTH.end;

/// §3.3.2: "A value of 2 is reserved for Template Sets."
pub const TEMPLATE_SET_ID: u16 = 2;
/// §3.3.2: "A value of 3 is reserved for Options Template Sets."
pub const OPTIONS_TEMPLATE_SET_ID: u16 = 3;
/// §3.3.2: "Values 256 and above are used for Data Sets." The Set ID of a
/// Data Set is the Template ID of its records.
pub const MIN_DATA_SET_ID: u16 = 256;

/// What a Set ID says the set holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetKind {
    Template,
    OptionsTemplate,
    Data {
        template_id: u16,
    },
    /// 0 and 1 ("not used, for historical reasons") and 4..=255 ("reserved
    /// for future use"); a collector skips them by their length.
    Reserved {
        set_id: u16,
    },
}

impl SetKind {
    pub fn of(set_id: u16) -> Self {
        match set_id {
            TEMPLATE_SET_ID => SetKind::Template,
            OPTIONS_TEMPLATE_SET_ID => SetKind::OptionsTemplate,
            id if id >= MIN_DATA_SET_ID => SetKind::Data { template_id: id },
            id => SetKind::Reserved { set_id: id },
        }
    }
}

/// A set header over a buffer of at least [`SET_HEADER_LEN`] octets.
#[derive(Debug, Clone)]
pub struct SetHeaderView<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> SetHeaderView<T> {
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        check_len("set header", buffer.as_ref(), SET_HEADER_LEN)?;
        Ok(SetHeaderView { buffer })
    }

    pub fn set_id(&self) -> u16 {
        get_u16(self.buffer.as_ref(), offset::SET_ID)
    }

    pub fn length(&self) -> u16 {
        get_u16(self.buffer.as_ref(), offset::LENGTH)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> SetHeaderView<T> {
    pub fn set_set_id(&mut self, value: u16) {
        put_u16(self.buffer.as_mut(), offset::SET_ID, value)
    }

    pub fn set_length(&mut self, value: u16) {
        put_u16(self.buffer.as_mut(), offset::LENGTH, value)
    }
}

/// The set header as values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetHeader {
    pub set_id: u16,
    /// "Total length of the Set, in octets, including the Set Header, all
    /// records, and the optional padding."
    pub length: u16,
}

impl SetHeader {
    /// Checks that the length at least covers the header (a zero-length or
    /// 1..=3-octet set would stall or misalign the walk over the message).
    pub fn parse<T: AsRef<[u8]>>(view: &SetHeaderView<T>) -> Result<Self, WireError> {
        let (set_id, length) = (view.set_id(), view.length());
        if usize::from(length) < SET_HEADER_LEN {
            return Err(WireError::SetLengthTooShort {
                set_id,
                length,
                min: SET_HEADER_LEN,
            });
        }
        Ok(SetHeader { set_id, length })
    }

    pub fn kind(&self) -> SetKind {
        SetKind::of(self.set_id)
    }

    /// Octets after the header: records and padding.
    pub fn body_len(&self) -> usize {
        usize::from(self.length).saturating_sub(SET_HEADER_LEN)
    }

    pub fn buffer_len(&self) -> usize {
        SET_HEADER_LEN
    }

    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, view: &mut SetHeaderView<T>) {
        view.set_set_id(self.set_id);
        view.set_length(self.length);
    }
}

/// Padding that brings a set of `set_len` octets to a multiple of `align`.
///
/// §3.3.1: "The Exporting Process MAY insert some padding octets, so that
/// the subsequent Set starts at an aligned boundary. ... the padding
/// octet(s) MUST be composed of octets with value zero (0). The padding
/// length MUST be shorter than any allowable record in this Set." Our
/// encoder does not pad; the decoder treats any tail of a set shorter than
/// the set's smallest record as padding.
pub fn padding_len(set_len: usize, align: usize) -> usize {
    match align {
        0 | 1 => 0,
        a => (a - set_len % a) % a,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[rustfmt::skip]
    const GOLDEN: [u8; 4] = [
        0x01, 0x00, // set ID 256: a data set of template 256
        0x00, 0x4d, // length 77 = 4 header + 73 record
    ];

    #[test]
    fn parse_emit_golden() {
        let view = SetHeaderView::new_checked(&GOLDEN[..]).unwrap();
        let repr = SetHeader::parse(&view).unwrap();
        assert_eq!(
            repr,
            SetHeader {
                set_id: 256,
                length: 77
            }
        );
        assert_eq!(repr.kind(), SetKind::Data { template_id: 256 });
        assert_eq!(repr.body_len(), 73);
        let mut buf = [0u8; SET_HEADER_LEN];
        assert_eq!(repr.buffer_len(), buf.len());
        repr.emit(&mut SetHeaderView::new_checked(&mut buf[..]).unwrap());
        assert_eq!(buf, GOLDEN);
    }

    #[test]
    fn kinds() {
        assert_eq!(SetKind::of(2), SetKind::Template);
        assert_eq!(SetKind::of(3), SetKind::OptionsTemplate);
        assert_eq!(SetKind::of(0), SetKind::Reserved { set_id: 0 });
        assert_eq!(SetKind::of(1), SetKind::Reserved { set_id: 1 });
        assert_eq!(SetKind::of(255), SetKind::Reserved { set_id: 255 });
        assert_eq!(SetKind::of(65535), SetKind::Data { template_id: 65535 });
    }

    #[test]
    fn truncated_and_short_lengths() {
        for len in 0..SET_HEADER_LEN {
            assert!(matches!(
                SetHeaderView::new_checked(&GOLDEN[..len]),
                Err(WireError::Truncated { needed: 4, .. })
            ));
        }
        for length in 0u16..4 {
            let mut b = GOLDEN;
            b[2..4].copy_from_slice(&length.to_be_bytes());
            let view = SetHeaderView::new_checked(&b[..]).unwrap();
            assert_eq!(
                SetHeader::parse(&view),
                Err(WireError::SetLengthTooShort {
                    set_id: 256,
                    length,
                    min: 4
                })
            );
        }
    }

    #[test]
    fn padding() {
        assert_eq!(padding_len(77, 4), 3);
        assert_eq!(padding_len(80, 4), 0);
        assert_eq!(padding_len(77, 8), 3);
        assert_eq!(padding_len(77, 0), 0);
    }
}
