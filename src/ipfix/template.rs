//! Template Records (RFC 7011 §3.4.1), Options Template Records (§3.4.2.2)
//! and Template Withdrawals (§8.1).
//!
//! ```text
//! Template Record Header
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |      Template ID (> 255)      |         Field Count           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! Options Template Record Header
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |         Template ID (> 255)   |         Field Count           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |      Scope Field Count        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! followed by Field Count field specifiers (§3.2); in an options template
//! "the first N Field Specifiers in the Template Record are Scope Fields.
//! The Scope Field Count MUST NOT be zero." A record with Field Count 0 is a
//! withdrawal (§8.1); Template ID 2 (in a Template Set) or 3 (in an Options
//! Template Set) withdraws all templates of that kind.

use super::bytes::{check_len, get_u16, put_u16, Reader};
use super::error::{EncodeError, WireError};
use super::field::{FieldSpecifier, FieldSpecifierView, IANA_FIELD_SPECIFIER_LEN};
use super::ie::FieldLength;
use super::set::{MIN_DATA_SET_ID, OPTIONS_TEMPLATE_SET_ID, TEMPLATE_SET_ID};

mod offset {
    use std::ops::Range;
    pub const TEMPLATE_ID: Range<usize> = 0..2;
    pub const FIELD_COUNT: Range<usize> = TEMPLATE_ID.end..TEMPLATE_ID.end + 2;
    pub const SCOPE_FIELD_COUNT: Range<usize> = FIELD_COUNT.end..FIELD_COUNT.end + 2;
}

/// Template record header (also a withdrawal record): 4 octets.
pub const TEMPLATE_HEADER_LEN: usize = offset::FIELD_COUNT.end;
/// Options template record header: 6 octets.
pub const OPTIONS_TEMPLATE_HEADER_LEN: usize = offset::SCOPE_FIELD_COUNT.end;

/// A template record header; `options` selects the 6-octet form, which is
/// only checked for when the field count is not zero (a withdrawal is 4
/// octets in both kinds of set).
#[derive(Debug, Clone)]
pub struct TemplateHeaderView<T: AsRef<[u8]>> {
    buffer: T,
    options: bool,
}

impl<T: AsRef<[u8]>> TemplateHeaderView<T> {
    pub fn new_checked(buffer: T, options: bool) -> Result<Self, WireError> {
        let buf = buffer.as_ref();
        check_len("template record header", buf, TEMPLATE_HEADER_LEN)?;
        if options && get_u16(buf, offset::FIELD_COUNT) != 0 {
            check_len("template record header", buf, OPTIONS_TEMPLATE_HEADER_LEN)?;
        }
        Ok(TemplateHeaderView { buffer, options })
    }

    pub fn template_id(&self) -> u16 {
        get_u16(self.buffer.as_ref(), offset::TEMPLATE_ID)
    }

    pub fn field_count(&self) -> u16 {
        get_u16(self.buffer.as_ref(), offset::FIELD_COUNT)
    }

    /// 0 for data templates and withdrawals.
    pub fn scope_field_count(&self) -> u16 {
        if self.options && self.field_count() != 0 {
            get_u16(self.buffer.as_ref(), offset::SCOPE_FIELD_COUNT)
        } else {
            0
        }
    }

    /// Header octets: 4, or 6 for an options template definition.
    pub fn header_len(&self) -> usize {
        if self.options && self.field_count() != 0 {
            OPTIONS_TEMPLATE_HEADER_LEN
        } else {
            TEMPLATE_HEADER_LEN
        }
    }
}

/// A data or options template.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Template {
    id: u16,
    /// 0 for a data template; the number of leading scope fields of an
    /// options template.
    scope_field_count: u16,
    fields: Vec<FieldSpecifier>,
}

impl Template {
    /// A data template (sent in a Template Set).
    pub fn new(id: u16, fields: Vec<FieldSpecifier>) -> Result<Self, EncodeError> {
        Self::validated(id, 0, fields)
    }

    /// An options template (sent in an Options Template Set): the first
    /// `scope_field_count` fields are its scope, §3.4.2.2.
    pub fn new_options(
        id: u16,
        scope_field_count: u16,
        fields: Vec<FieldSpecifier>,
    ) -> Result<Self, EncodeError> {
        if scope_field_count == 0 {
            return Err(WireError::ZeroScopeFieldCount { template_id: id }.into());
        }
        Self::validated(id, scope_field_count, fields)
    }

    fn validated(
        id: u16,
        scope_field_count: u16,
        fields: Vec<FieldSpecifier>,
    ) -> Result<Self, EncodeError> {
        let invalid = |reason| EncodeError::InvalidTemplate {
            template_id: id,
            reason,
        };
        if id < MIN_DATA_SET_ID {
            return Err(invalid("template IDs start at 256"));
        }
        if fields.is_empty() {
            return Err(invalid("no fields (a field count of 0 is a withdrawal)"));
        }
        let field_count = u16::try_from(fields.len()).map_err(|_| WireError::LengthOverflow {
            length: fields.len(),
        })?;
        if scope_field_count > field_count {
            return Err(WireError::ScopeFieldCountExceedsFieldCount {
                template_id: id,
                scope_field_count,
                field_count,
            }
            .into());
        }
        if fields
            .iter()
            .any(|f| f.length == FieldLength::Fixed(FieldLength::VARIABLE_WIRE))
        {
            return Err(invalid("fixed length 65535 means variable length"));
        }
        let template = Template {
            id,
            scope_field_count,
            fields,
        };
        u16::try_from(template.buffer_len()).map_err(|_| WireError::LengthOverflow {
            length: template.buffer_len(),
        })?;
        Ok(template)
    }

    pub fn id(&self) -> u16 {
        self.id
    }

    pub fn scope_field_count(&self) -> u16 {
        self.scope_field_count
    }

    pub fn is_options(&self) -> bool {
        self.scope_field_count > 0
    }

    pub fn fields(&self) -> &[FieldSpecifier] {
        &self.fields
    }

    /// The set this template travels in: 2, or 3 for options templates.
    pub fn set_id(&self) -> u16 {
        if self.is_options() {
            OPTIONS_TEMPLATE_SET_ID
        } else {
            TEMPLATE_SET_ID
        }
    }

    pub fn buffer_len(&self) -> usize {
        let header = if self.is_options() {
            OPTIONS_TEMPLATE_HEADER_LEN
        } else {
            TEMPLATE_HEADER_LEN
        };
        header + self.fields.iter().map(|f| f.buffer_len()).sum::<usize>()
    }

    pub fn emit(&self, buf: &mut [u8]) -> Result<(), WireError> {
        check_len("template record", buf, self.buffer_len())?;
        let field_count =
            u16::try_from(self.fields.len()).map_err(|_| WireError::LengthOverflow {
                length: self.fields.len(),
            })?;
        put_u16(buf, offset::TEMPLATE_ID, self.id);
        put_u16(buf, offset::FIELD_COUNT, field_count);
        let mut at = TEMPLATE_HEADER_LEN;
        if self.is_options() {
            put_u16(buf, offset::SCOPE_FIELD_COUNT, self.scope_field_count);
            at = OPTIONS_TEMPLATE_HEADER_LEN;
        }
        for spec in &self.fields {
            let rest = buf.get_mut(at..).unwrap_or_default();
            spec.emit(rest)?;
            at += spec.buffer_len();
        }
        Ok(())
    }
}

/// One record of a Template Set or Options Template Set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateRecord {
    Definition(Template),
    /// §8.1. `template_id` equal to the set ID withdraws every template of
    /// the set's kind.
    Withdrawal {
        template_id: u16,
        options: bool,
    },
}

impl TemplateRecord {
    /// Parses one record at the start of `buf`, the rest of a set of ID
    /// `set_id` (2 or 3). Returns the record and the octets it used. Never
    /// allocates more than the octets present can describe.
    pub fn parse(buf: &[u8], set_id: u16) -> Result<(Self, usize), WireError> {
        let options = set_id == OPTIONS_TEMPLATE_SET_ID;
        let header = TemplateHeaderView::new_checked(buf, options)?;
        let (template_id, field_count) = (header.template_id(), header.field_count());
        if field_count == 0 {
            if template_id != set_id && template_id < MIN_DATA_SET_ID {
                return Err(WireError::InvalidTemplateId {
                    set_id,
                    template_id,
                });
            }
            return Ok((
                TemplateRecord::Withdrawal {
                    template_id,
                    options,
                },
                TEMPLATE_HEADER_LEN,
            ));
        }
        if template_id < MIN_DATA_SET_ID {
            return Err(WireError::InvalidTemplateId {
                set_id,
                template_id,
            });
        }
        let scope_field_count = header.scope_field_count();
        if options && scope_field_count == 0 {
            return Err(WireError::ZeroScopeFieldCount { template_id });
        }
        if scope_field_count > field_count {
            return Err(WireError::ScopeFieldCountExceedsFieldCount {
                template_id,
                scope_field_count,
                field_count,
            });
        }
        let mut reader = Reader::new(buf);
        reader.take(header.header_len());
        // Capacity bounded by what the remaining octets can hold.
        let fits = reader.remaining() / IANA_FIELD_SPECIFIER_LEN;
        let mut fields = Vec::with_capacity(usize::from(field_count).min(fits));
        for _ in 0..field_count {
            let view = FieldSpecifierView::new_checked(reader.rest())?;
            fields.push(FieldSpecifier::parse(&view));
            reader.take(view.specifier_len());
        }
        let template = Template {
            id: template_id,
            scope_field_count,
            fields,
        };
        Ok((TemplateRecord::Definition(template), reader.position()))
    }

    pub fn buffer_len(&self) -> usize {
        match self {
            TemplateRecord::Definition(t) => t.buffer_len(),
            TemplateRecord::Withdrawal { .. } => TEMPLATE_HEADER_LEN,
        }
    }

    pub fn emit(&self, buf: &mut [u8]) -> Result<(), WireError> {
        match self {
            TemplateRecord::Definition(t) => t.emit(buf),
            TemplateRecord::Withdrawal { template_id, .. } => {
                check_len("template withdrawal", buf, TEMPLATE_HEADER_LEN)?;
                put_u16(buf, offset::TEMPLATE_ID, *template_id);
                put_u16(buf, offset::FIELD_COUNT, 0);
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipfix::ie::{self, ElementId};

    fn spec(e: &ie::InfoElement) -> FieldSpecifier {
        FieldSpecifier::new(e.id, e.default_length())
    }

    #[rustfmt::skip]
    const DATA_GOLDEN: [u8; 20] = [
        0x01, 0x2c, // template ID 300
        0x00, 0x03, // field count 3
        0x00, 0x08, 0x00, 0x04, // sourceIPv4Address (8), 4 octets
        0x00, 0x02, 0x00, 0x04, // packetDeltaCount (2), reduced to 4 octets
        0x80, 0x05, 0xff, 0xff, // E=1 element 5, variable length
        0x00, 0x00, 0x7e, 0xd9, //   PEN 32473
    ];

    fn data_template() -> Template {
        Template::new(
            300,
            vec![
                spec(&ie::SOURCE_IPV4_ADDRESS),
                FieldSpecifier::new(ie::PACKET_DELTA_COUNT.id, FieldLength::Fixed(4)),
                FieldSpecifier::new(
                    ElementId::new(Some(32473), 5).unwrap(),
                    FieldLength::Variable,
                ),
            ],
        )
        .unwrap()
    }

    #[rustfmt::skip]
    const OPTIONS_GOLDEN: [u8; 14] = [
        0x01, 0x08, // template ID 264
        0x00, 0x02, // field count 2
        0x00, 0x01, // scope field count 1
        0x00, 0x95, 0x00, 0x04, // scope: observationDomainId (149), 4
        0x00, 0xa0, 0x00, 0x08, // systemInitTimeMilliseconds (160), 8
    ];

    fn options_template() -> Template {
        Template::new_options(
            264,
            1,
            vec![
                spec(&ie::OBSERVATION_DOMAIN_ID),
                spec(&ie::SYSTEM_INIT_TIME_MILLISECONDS),
            ],
        )
        .unwrap()
    }

    fn emit(record: &TemplateRecord) -> Vec<u8> {
        let mut b = vec![0u8; record.buffer_len()];
        record.emit(&mut b).unwrap();
        b
    }

    #[test]
    fn data_template_golden() {
        let t = data_template();
        assert_eq!(t.set_id(), 2);
        let rec = TemplateRecord::Definition(t);
        assert_eq!(emit(&rec), DATA_GOLDEN);
        assert_eq!(TemplateRecord::parse(&DATA_GOLDEN, 2).unwrap(), (rec, 20));
    }

    #[test]
    fn options_template_golden() {
        let t = options_template();
        assert_eq!((t.set_id(), t.is_options()), (3, true));
        let rec = TemplateRecord::Definition(t);
        assert_eq!(emit(&rec), OPTIONS_GOLDEN);
        assert_eq!(
            TemplateRecord::parse(&OPTIONS_GOLDEN, 3).unwrap(),
            (rec, 14)
        );
    }

    #[test]
    fn parse_stops_at_record_end() {
        let mut two = DATA_GOLDEN.to_vec();
        two.extend_from_slice(&DATA_GOLDEN);
        let (_, used) = TemplateRecord::parse(&two, 2).unwrap();
        assert_eq!(used, 20);
    }

    #[test]
    fn withdrawals() {
        #[rustfmt::skip]
        let one = [
            0x01, 0x2c, // template ID 300
            0x00, 0x00, // field count 0: withdrawal
        ];
        let rec = TemplateRecord::Withdrawal {
            template_id: 300,
            options: false,
        };
        assert_eq!(TemplateRecord::parse(&one, 2).unwrap(), (rec.clone(), 4));
        assert_eq!(emit(&rec), one);
        // Template ID 3 in an Options Template Set: withdraw all options
        // templates; 4 octets, no scope field count.
        let all = [0x00, 0x03, 0x00, 0x00];
        assert_eq!(
            TemplateRecord::parse(&all, 3).unwrap(),
            (
                TemplateRecord::Withdrawal {
                    template_id: 3,
                    options: true
                },
                4
            )
        );
        // Template ID 3 in a Template Set is not a valid withdrawal.
        assert_eq!(
            TemplateRecord::parse(&all, 2),
            Err(WireError::InvalidTemplateId {
                set_id: 2,
                template_id: 3
            })
        );
    }

    #[test]
    fn truncated_everywhere() {
        for len in 0..DATA_GOLDEN.len() {
            assert!(
                matches!(
                    TemplateRecord::parse(&DATA_GOLDEN[..len], 2),
                    Err(WireError::Truncated { .. })
                ),
                "len {len}"
            );
        }
        for len in 0..OPTIONS_GOLDEN.len() {
            assert!(TemplateRecord::parse(&OPTIONS_GOLDEN[..len], 3).is_err());
        }
    }

    #[test]
    fn lying_field_count_allocates_nothing_big() {
        // Field count 65535 with room for one specifier.
        let lie = [0x01, 0x00, 0xff, 0xff, 0x00, 0x08, 0x00, 0x04];
        assert!(matches!(
            TemplateRecord::parse(&lie, 2),
            Err(WireError::Truncated { .. })
        ));
    }

    #[test]
    fn malformed_headers() {
        let low_id = [0x00, 0xff, 0x00, 0x01, 0x00, 0x08, 0x00, 0x04];
        assert_eq!(
            TemplateRecord::parse(&low_id, 2),
            Err(WireError::InvalidTemplateId {
                set_id: 2,
                template_id: 255
            })
        );
        let zero_scope = [0x01, 0x08, 0x00, 0x01, 0x00, 0x00, 0x00, 0x95, 0x00, 0x04];
        assert_eq!(
            TemplateRecord::parse(&zero_scope, 3),
            Err(WireError::ZeroScopeFieldCount { template_id: 264 })
        );
        let big_scope = [0x01, 0x08, 0x00, 0x01, 0x00, 0x02, 0x00, 0x95, 0x00, 0x04];
        assert_eq!(
            TemplateRecord::parse(&big_scope, 3),
            Err(WireError::ScopeFieldCountExceedsFieldCount {
                template_id: 264,
                scope_field_count: 2,
                field_count: 1
            })
        );
    }

    #[test]
    fn constructor_checks() {
        let f = vec![spec(&ie::FLOW_ID)];
        assert!(Template::new(255, f.clone()).is_err());
        assert!(Template::new(256, vec![]).is_err());
        assert!(Template::new_options(256, 0, f.clone()).is_err());
        assert!(Template::new_options(256, 2, f.clone()).is_err());
        let bad_len = vec![FieldSpecifier::new(
            ie::FLOW_ID.id,
            FieldLength::Fixed(65535),
        )];
        assert!(Template::new(256, bad_len).is_err());
        // 16384 enterprise specifiers do not fit a 16-bit set length.
        let pen = FieldSpecifier::new(ElementId::new(Some(1), 1).unwrap(), FieldLength::Fixed(1));
        assert!(matches!(
            Template::new(256, vec![pen; 16384]),
            Err(EncodeError::Wire(WireError::LengthOverflow { .. }))
        ));
        assert!(data_template().emit(&mut [0u8; 19]).is_err());
    }
}
