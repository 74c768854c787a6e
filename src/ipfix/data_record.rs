//! A decoded data record (RFC 7011 §3.4.3): its template, its fields with
//! their names and typed values.

use std::borrow::Cow;

use super::ie::ElementId;
use super::value::Value;

/// One field of a decoded record.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedField {
    pub id: ElementId,
    /// From the IANA table or the decoder's custom elements.
    pub name: Option<Cow<'static, str>>,
    pub value: Value,
}

/// A decoded data record (an options data record when `scope_field_count`
/// is not zero).
#[derive(Debug, Clone, PartialEq)]
pub struct DataRecord {
    pub template_id: u16,
    /// The template's scope field count (§3.4.2.2): 0 for a data record;
    /// for an options record, the first this many `fields` are its scope.
    pub scope_field_count: u16,
    pub fields: Vec<DecodedField>,
}

impl DataRecord {
    /// Whether the record's template is an options template: it says so,
    /// whatever the record's values (even a zero-length scope).
    pub fn is_options(&self) -> bool {
        self.scope_field_count > 0
    }

    /// The first value of element `id`.
    pub fn get(&self, id: ElementId) -> Option<&Value> {
        self.fields.iter().find(|f| f.id == id).map(|f| &f.value)
    }

    pub fn scope_fields(&self) -> &[DecodedField] {
        self.fields
            .get(..usize::from(self.scope_field_count))
            .unwrap_or(&self.fields)
    }

    pub fn values(&self) -> impl Iterator<Item = &Value> {
        self.fields.iter().map(|f| &f.value)
    }
}
