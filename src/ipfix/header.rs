//! IPFIX Message Header, RFC 7011 §3.1.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |       Version Number          |            Length             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                           Export Time                         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       Sequence Number                         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Observation Domain ID                      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use super::bytes::{check_len, get_u16, get_u32, put_u16, put_u32};
use super::error::WireError;

mod offset {
    use std::ops::Range;
    pub const VERSION: Range<usize> = 0..2;
    pub const LENGTH: Range<usize> = VERSION.end..VERSION.end + 2;
    pub const EXPORT_TIME: Range<usize> = LENGTH.end..LENGTH.end + 4;
    pub const SEQUENCE_NUMBER: Range<usize> = EXPORT_TIME.end..EXPORT_TIME.end + 4;
    pub const OBSERVATION_DOMAIN_ID: Range<usize> = SEQUENCE_NUMBER.end..SEQUENCE_NUMBER.end + 4;
}

/// Length of the message header: 16 octets.
pub const MESSAGE_HEADER_LEN: usize = offset::OBSERVATION_DOMAIN_ID.end;

/// "Version of IPFIX to which this Message conforms. The value of this
/// field is 0x000a for the current version" (§3.1).
pub const IPFIX_VERSION: u16 = 10;

/// A message header over a buffer of at least [`MESSAGE_HEADER_LEN`] octets.
#[derive(Debug, Clone)]
pub struct MessageHeaderView<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> MessageHeaderView<T> {
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        check_len("message header", buffer.as_ref(), MESSAGE_HEADER_LEN)?;
        Ok(MessageHeaderView { buffer })
    }

    pub fn version(&self) -> u16 {
        get_u16(self.buffer.as_ref(), offset::VERSION)
    }

    pub fn length(&self) -> u16 {
        get_u16(self.buffer.as_ref(), offset::LENGTH)
    }

    pub fn export_time_secs(&self) -> u32 {
        get_u32(self.buffer.as_ref(), offset::EXPORT_TIME)
    }

    pub fn sequence_number(&self) -> u32 {
        get_u32(self.buffer.as_ref(), offset::SEQUENCE_NUMBER)
    }

    pub fn observation_domain_id(&self) -> u32 {
        get_u32(self.buffer.as_ref(), offset::OBSERVATION_DOMAIN_ID)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> MessageHeaderView<T> {
    pub fn set_version(&mut self, value: u16) {
        put_u16(self.buffer.as_mut(), offset::VERSION, value)
    }

    pub fn set_length(&mut self, value: u16) {
        put_u16(self.buffer.as_mut(), offset::LENGTH, value)
    }

    pub fn set_export_time_secs(&mut self, value: u32) {
        put_u32(self.buffer.as_mut(), offset::EXPORT_TIME, value)
    }

    pub fn set_sequence_number(&mut self, value: u32) {
        put_u32(self.buffer.as_mut(), offset::SEQUENCE_NUMBER, value)
    }

    pub fn set_observation_domain_id(&mut self, value: u32) {
        put_u32(self.buffer.as_mut(), offset::OBSERVATION_DOMAIN_ID, value)
    }
}

/// The message header as values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageHeader {
    /// "Total length of the IPFIX Message, measured in octets, including
    /// Message Header and Set(s)."
    pub length: u16,
    /// "Time at which the IPFIX Message Header leaves the Exporter,
    /// expressed in seconds since the UNIX epoch".
    pub export_time_secs: u32,
    /// "Incremental sequence counter modulo 2^32 of all IPFIX Data Records
    /// sent in the current stream from the current Observation Domain ...
    /// Template and Options Template Records do not increase the Sequence
    /// Number." It is the count *before* this message's records.
    pub sequence_number: u32,
    pub observation_domain_id: u32,
}

impl MessageHeader {
    /// Checks the version and that the length at least covers the header.
    /// Whether the buffer holds `length` octets is the caller's check.
    pub fn parse<T: AsRef<[u8]>>(view: &MessageHeaderView<T>) -> Result<Self, WireError> {
        let version = view.version();
        if version != IPFIX_VERSION {
            return Err(WireError::BadVersion { version });
        }
        let length = view.length();
        if usize::from(length) < MESSAGE_HEADER_LEN {
            return Err(WireError::MessageLengthTooShort {
                length,
                min: MESSAGE_HEADER_LEN,
            });
        }
        Ok(MessageHeader {
            length,
            export_time_secs: view.export_time_secs(),
            sequence_number: view.sequence_number(),
            observation_domain_id: view.observation_domain_id(),
        })
    }

    pub fn buffer_len(&self) -> usize {
        MESSAGE_HEADER_LEN
    }

    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, view: &mut MessageHeaderView<T>) {
        view.set_version(IPFIX_VERSION);
        view.set_length(self.length);
        view.set_export_time_secs(self.export_time_secs);
        view.set_sequence_number(self.sequence_number);
        view.set_observation_domain_id(self.observation_domain_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[rustfmt::skip]
    const GOLDEN: [u8; 16] = [
        0x00, 0x0a,             // version 10
        0x00, 0x5c,             // length 92
        0x65, 0x53, 0xf1, 0x00, // export time 1700000000 s
        0x00, 0x00, 0x01, 0x2c, // sequence number 300
        0x00, 0x00, 0x00, 0x07, // observation domain 7
    ];

    const REPR: MessageHeader = MessageHeader {
        length: 92,
        export_time_secs: 1_700_000_000,
        sequence_number: 300,
        observation_domain_id: 7,
    };

    #[test]
    fn parse_golden() {
        let view = MessageHeaderView::new_checked(&GOLDEN[..]).unwrap();
        assert_eq!(MessageHeader::parse(&view).unwrap(), REPR);
    }

    #[test]
    fn emit_golden() {
        let mut buf = [0xffu8; MESSAGE_HEADER_LEN];
        assert_eq!(REPR.buffer_len(), buf.len());
        REPR.emit(&mut MessageHeaderView::new_checked(&mut buf[..]).unwrap());
        assert_eq!(buf, GOLDEN);
    }

    #[test]
    fn round_trip_extremes() {
        let repr = MessageHeader {
            length: u16::MAX,
            export_time_secs: u32::MAX,
            sequence_number: u32::MAX,
            observation_domain_id: 0,
        };
        let mut buf = [0u8; MESSAGE_HEADER_LEN];
        repr.emit(&mut MessageHeaderView::new_checked(&mut buf[..]).unwrap());
        let view = MessageHeaderView::new_checked(&buf[..]).unwrap();
        assert_eq!(MessageHeader::parse(&view).unwrap(), repr);
    }

    #[test]
    fn truncated() {
        for len in 0..MESSAGE_HEADER_LEN {
            assert_eq!(
                MessageHeaderView::new_checked(&GOLDEN[..len]).unwrap_err(),
                WireError::Truncated {
                    unit: "message header",
                    needed: 16,
                    available: len
                }
            );
        }
    }

    #[test]
    fn bad_version_and_short_length() {
        let mut v9 = GOLDEN;
        v9[1] = 9;
        let view = MessageHeaderView::new_checked(&v9[..]).unwrap();
        assert_eq!(
            MessageHeader::parse(&view),
            Err(WireError::BadVersion { version: 9 })
        );
        let mut short = GOLDEN;
        short[2..4].copy_from_slice(&15u16.to_be_bytes());
        let view = MessageHeaderView::new_checked(&short[..]).unwrap();
        assert_eq!(
            MessageHeader::parse(&view),
            Err(WireError::MessageLengthTooShort {
                length: 15,
                min: 16
            })
        );
    }
}
