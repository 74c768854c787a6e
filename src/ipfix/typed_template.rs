//! Data Records, RFC 7011 §3.4.3, encoded and decoded against a template
//! whose elements are known.
//!
//! "The Data Records are sent in Data Sets. ... Each Data Record consists
//! of the Field Values in the order of the Field Specifiers of its
//! template"; a variable-length field carries its own length prefix (§7).

use super::bytes::Reader;
use super::data_record::{DataRecord, DecodedField};
use super::error::{DecodeError, EncodeError, WireError};
use super::field::FieldSpecifier;
use super::header::MESSAGE_HEADER_LEN;
use super::ie::{ElementId, FieldLength, InfoElement};
use super::set::SET_HEADER_LEN;
use super::template::Template;
use super::value::Value;
use super::varlen::VarLen;

/// A template together with the definitions of its elements: what generic
/// record encoding needs, and what the decoder caches.
#[derive(Debug, Clone, PartialEq)]
pub struct TypedTemplate {
    template: Template,
    /// Per field; `None` for an element the decoder does not know.
    elements: Vec<Option<InfoElement>>,
    min_record_len: usize,
}

impl TypedTemplate {
    /// A custom data template for the encoder, with reduced-size (§6.2),
    /// variable-length (§7) and enterprise-specific (§3.2) fields allowed.
    pub fn new(id: u16, fields: Vec<(InfoElement, FieldLength)>) -> Result<Self, EncodeError> {
        Self::for_encoder(id, 0, fields)
    }

    /// A custom options template: the first `scope_field_count` fields are
    /// the scope (§3.4.2.2).
    pub fn new_options(
        id: u16,
        scope_field_count: u16,
        fields: Vec<(InfoElement, FieldLength)>,
    ) -> Result<Self, EncodeError> {
        if scope_field_count == 0 {
            return Err(WireError::ZeroScopeFieldCount { template_id: id }.into());
        }
        Self::for_encoder(id, scope_field_count, fields)
    }

    fn for_encoder(
        id: u16,
        scope_field_count: u16,
        fields: Vec<(InfoElement, FieldLength)>,
    ) -> Result<Self, EncodeError> {
        for (element, length) in &fields {
            if !element.ty.accepts(*length) {
                return Err(EncodeError::LengthNotAllowed {
                    element: element.id,
                    ty: element.ty,
                    length: *length,
                });
            }
        }
        let specs = fields
            .iter()
            .map(|(e, length)| FieldSpecifier::new(e.id, *length))
            .collect();
        let template = if scope_field_count == 0 {
            Template::new(id, specs)?
        } else {
            Template::new_options(id, scope_field_count, specs)?
        };
        let elements = fields.into_iter().map(|(e, _)| Some(e)).collect();
        let min_record_len = min_record_len(&template);
        Ok(TypedTemplate {
            template,
            elements,
            min_record_len,
        })
    }

    /// A received template, its elements resolved once by `lookup`.
    /// Rejects a template with a zero-length field (it carries no value,
    /// and thousands of them in one template would make every tiny record
    /// decode into thousands of fields: refused, each decoded field uses at
    /// least one octet of input) and one whose records could never fit a
    /// message.
    pub(crate) fn resolve(
        template: Template,
        lookup: impl Fn(ElementId) -> Option<InfoElement>,
    ) -> Result<Self, DecodeError> {
        let template_id = template.id();
        if let Some((field_index, f)) = template
            .fields()
            .iter()
            .enumerate()
            .find(|(_, f)| f.length == FieldLength::Fixed(0))
        {
            return Err(DecodeError::ZeroLengthField {
                template_id,
                field_index,
                element: f.id,
            });
        }
        let min_len = min_record_len(&template);
        if min_len > usize::from(u16::MAX) - MESSAGE_HEADER_LEN - SET_HEADER_LEN {
            return Err(DecodeError::RecordLengthOverflow {
                template_id,
                min_len,
            });
        }
        let elements = template.fields().iter().map(|f| lookup(f.id)).collect();
        Ok(TypedTemplate {
            template,
            elements,
            min_record_len: min_len,
        })
    }

    pub fn template(&self) -> &Template {
        &self.template
    }

    pub fn id(&self) -> u16 {
        self.template.id()
    }

    /// The shortest record: fixed fields plus a 1-octet prefix per
    /// variable-length field. A shorter tail of a data set is padding.
    pub fn min_record_len(&self) -> usize {
        self.min_record_len
    }

    /// Appends one record of `values`, in template order, to `out`.
    pub fn encode_record(&self, values: &[Value], out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let fields = self.template.fields();
        if values.len() != fields.len() {
            return Err(EncodeError::ValueCountMismatch {
                template_id: self.id(),
                values: values.len(),
                fields: fields.len(),
            });
        }
        let start = out.len();
        let result = fields
            .iter()
            .zip(&self.elements)
            .zip(values)
            .try_for_each(|((spec, element), value)| encode_field(spec, element, value, out));
        if result.is_err() {
            out.truncate(start);
        }
        result
    }

    /// Decodes the record at the start of `buf`; returns it and the octets
    /// it used. An options record's first `scope_field_count` fields are
    /// its scope. A received template has no zero-length field
    /// ([`Self::resolve`]): every decoded field used at least one octet of
    /// input, so decoded output is bounded by the message size.
    pub fn decode_record(&self, buf: &[u8]) -> Result<(DataRecord, usize), DecodeError> {
        let mut reader = Reader::new(buf);
        let record = self.decode_from(&mut reader)?;
        Ok((record, reader.position()))
    }

    pub(crate) fn decode_from(&self, reader: &mut Reader<'_>) -> Result<DataRecord, DecodeError> {
        let template_id = self.id();
        let fields = self.template.fields();
        // At most one field per octet left: capacity follows the input.
        let mut out = Vec::with_capacity(fields.len().min(reader.remaining().max(1)));
        let scope_field_count = self.template.scope_field_count();
        for (index, (spec, element)) in fields.iter().zip(&self.elements).enumerate() {
            let truncated = |needed, available| DecodeError::RecordTruncated {
                template_id,
                field_index: index,
                needed,
                available,
            };
            let len = match spec.length {
                FieldLength::Fixed(n) => usize::from(n),
                FieldLength::Variable => {
                    let (prefix, prefix_len) =
                        VarLen::parse(reader.rest()).map_err(|e| match e {
                            WireError::Truncated {
                                needed, available, ..
                            } => truncated(needed, available),
                            other => DecodeError::Wire(other),
                        })?;
                    reader.take(prefix_len);
                    usize::from(prefix.len)
                }
            };
            let available = reader.remaining();
            let bytes = reader.take(len).ok_or_else(|| truncated(len, available))?;
            out.push(DecodedField {
                id: spec.id,
                name: element.as_ref().map(|e| e.name.clone()),
                value: Value::decode(element.as_ref().map(|e| e.ty), bytes),
            });
        }
        Ok(DataRecord {
            template_id,
            scope_field_count,
            fields: out,
        })
    }
}

fn min_record_len(template: &Template) -> usize {
    template
        .fields()
        .iter()
        .map(|f| match f.length {
            FieldLength::Fixed(n) => usize::from(n),
            FieldLength::Variable => 1,
        })
        .sum()
}

fn encode_field(
    spec: &FieldSpecifier,
    element: &Option<InfoElement>,
    value: &Value,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    // Encoder templates know every element (for_encoder); an unknown one
    // (a received template re-encoded) takes raw octets.
    let ty = element
        .as_ref()
        .map_or(super::ie::AbstractType::OctetArray, |e| e.ty);
    match spec.length {
        FieldLength::Fixed(n) => value.encode(spec.id, ty, Some(n), out),
        FieldLength::Variable => {
            let mut content = Vec::new();
            value.encode(spec.id, ty, None, &mut content)?;
            let prefix = VarLen::for_len(content.len())?;
            let at = out.len();
            out.resize(at + prefix.buffer_len(), 0);
            prefix.emit(out.get_mut(at..).unwrap_or_default())?;
            out.extend_from_slice(&content);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipfix::ie::{self, AbstractType};
    use std::net::Ipv4Addr;

    fn custom() -> TypedTemplate {
        let name =
            InfoElement::enterprise(32473, 1, "interfaceLabel", AbstractType::String).unwrap();
        let blob = InfoElement::enterprise(32473, 2, "opaque", AbstractType::OctetArray).unwrap();
        TypedTemplate::new(
            300,
            vec![
                (ie::SOURCE_IPV4_ADDRESS, FieldLength::Fixed(4)),
                (ie::PACKET_DELTA_COUNT, FieldLength::Fixed(2)),
                (name, FieldLength::Variable),
                (blob, FieldLength::Variable),
            ],
        )
        .unwrap()
    }

    fn values(label: &str, blob_len: usize) -> Vec<Value> {
        vec![
            Value::Ipv4(Ipv4Addr::new(198, 51, 100, 7)),
            Value::Unsigned(513),
            Value::String(label.into()),
            Value::Bytes(vec![0xab; blob_len]),
        ]
    }

    #[test]
    fn golden_varlen_and_enterprise_record() {
        #[rustfmt::skip]
        let golden = [
            198, 51, 100, 7,              // sourceIPv4Address
            0x02, 0x01,                   // packetDeltaCount 513, reduced to 2 octets
            0x04, b'e', b't', b'h', b'0', // 32473/1: 1-octet length 4, "eth0"
            0x00,                         // 32473/2: 1-octet length 0
        ];
        let t = custom();
        assert_eq!(t.min_record_len(), 4 + 2 + 1 + 1);
        let mut out = Vec::new();
        t.encode_record(&values("eth0", 0), &mut out).unwrap();
        assert_eq!(out, golden);
        let rec = t.decode_record(&golden).unwrap().0;
        assert_eq!(rec.values().cloned().collect::<Vec<_>>(), values("eth0", 0));
        assert_eq!(rec.fields[2].name.as_deref(), Some("interfaceLabel"));
        assert_eq!(rec.fields[2].id.to_string(), "32473/1");
    }

    #[test]
    fn long_form_round_trip() {
        let t = custom();
        let mut out = Vec::new();
        t.encode_record(&values("x", 300), &mut out).unwrap();
        // 4 + 2 + (1 + 1) + (3 + 300)
        assert_eq!(out.len(), 311);
        assert_eq!(out[8..11], [0xff, 0x01, 0x2c]);
        let rec = t.decode_record(&out).unwrap().0;
        assert_eq!(rec.values().cloned().collect::<Vec<_>>(), values("x", 300));
    }

    #[test]
    fn encode_errors_leave_output_untouched() {
        let t = custom();
        let mut out = vec![9];
        let mut bad = values("eth0", 0);
        bad[1] = Value::Unsigned(70_000); // does not fit 2 octets
        assert!(matches!(
            t.encode_record(&bad, &mut out),
            Err(EncodeError::ValueOutOfRange { length: 2, .. })
        ));
        assert!(t.encode_record(&bad[..2], &mut out).is_err());
        assert_eq!(out, [9]);
        assert!(matches!(
            TypedTemplate::new(301, vec![(ie::SOURCE_IPV4_ADDRESS, FieldLength::Fixed(2))]),
            Err(EncodeError::LengthNotAllowed { .. })
        ));
    }

    #[test]
    fn truncated_records() {
        let t = custom();
        let mut out = Vec::new();
        t.encode_record(&values("eth0", 3), &mut out).unwrap();
        for len in 0..out.len() {
            assert!(
                matches!(
                    t.decode_record(&out[..len]),
                    Err(DecodeError::RecordTruncated {
                        template_id: 300,
                        ..
                    })
                ),
                "len {len}"
            );
        }
    }

    #[test]
    fn resolve_rejects_empty_and_oversized() {
        let zero = Template::new(
            400,
            vec![FieldSpecifier::new(ie::FLOW_ID.id, FieldLength::Fixed(0))],
        )
        .unwrap();
        assert_eq!(
            TypedTemplate::resolve(zero, |_| None),
            Err(DecodeError::ZeroLengthField {
                template_id: 400,
                field_index: 0,
                element: ie::FLOW_ID.id
            })
        );
        let big = Template::new(
            401,
            vec![FieldSpecifier::new(
                ie::FLOW_ID.id,
                FieldLength::Fixed(65534),
            )],
        )
        .unwrap();
        assert!(matches!(
            TypedTemplate::resolve(big, |_| None),
            Err(DecodeError::RecordLengthOverflow {
                template_id: 401,
                ..
            })
        ));
    }

    #[test]
    fn received_fields_are_named_from_the_registry() {
        let t = Template::new(
            402,
            vec![FieldSpecifier::new(
                ie::PROTOCOL_IDENTIFIER.id,
                FieldLength::Fixed(1),
            )],
        )
        .unwrap();
        let t = TypedTemplate::resolve(t, |id| {
            crate::ipfix::registry::element(id.number()).cloned()
        })
        .unwrap();
        let rec = t.decode_record(&[6]).unwrap().0;
        assert_eq!(rec.fields.len(), 1);
        assert_eq!(
            rec.get(ie::PROTOCOL_IDENTIFIER.id),
            Some(&Value::Unsigned(6))
        );
        assert_eq!(rec.fields[0].name.as_deref(), Some("protocolIdentifier"));
    }
}
