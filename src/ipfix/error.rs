//! Errors of the IPFIX wire units, the encoder and the decoder. Every variant
//! carries the numbers that explain it.

use super::ie::{AbstractType, ElementId, FieldLength};

/// A wire unit could not be parsed or emitted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("{unit} truncated: needs {needed} octets, {available} available")]
    Truncated {
        unit: &'static str,
        needed: usize,
        available: usize,
    },
    #[error("IPFIX version number {version}, expected 10")]
    BadVersion { version: u16 },
    #[error("message length {length} is shorter than the {min}-octet message header")]
    MessageLengthTooShort { length: u16, min: usize },
    #[error("message length {length} exceeds the {available} octets received")]
    MessageLengthExceedsBuffer { length: u16, available: usize },
    #[error("set {set_id}: length {length} is shorter than the {min}-octet set header")]
    SetLengthTooShort {
        set_id: u16,
        length: u16,
        min: usize,
    },
    #[error("set {set_id}: length {length} runs past the message end ({available} octets left)")]
    SetLengthExceedsMessage {
        set_id: u16,
        length: u16,
        available: usize,
    },
    #[error("template record in set {set_id}: invalid template ID {template_id}")]
    InvalidTemplateId { set_id: u16, template_id: u16 },
    #[error("options template {template_id}: scope field count is 0")]
    ZeroScopeFieldCount { template_id: u16 },
    #[error("options template {template_id}: scope field count {scope_field_count} exceeds field count {field_count}")]
    ScopeFieldCountExceedsFieldCount {
        template_id: u16,
        scope_field_count: u16,
        field_count: u16,
    },
    #[error("length {length} does not fit the 16-bit length field")]
    LengthOverflow { length: usize },
}

/// Something could not be encoded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EncodeError {
    #[error(transparent)]
    Wire(#[from] WireError),
    #[error("MTU {mtu} outside {min}..={max}")]
    MtuOutOfRange { mtu: usize, min: usize, max: usize },
    #[error("set {set_id}: a {record_len}-octet record cannot fit an empty message of MTU {mtu}")]
    RecordTooLarge {
        set_id: u16,
        record_len: usize,
        mtu: usize,
    },
    #[error("element number {number} exceeds 0x7fff (the 16th bit is the enterprise bit)")]
    ElementNumberOutOfRange { number: u16 },
    #[error("template {template_id}: {reason}")]
    InvalidTemplate {
        template_id: u16,
        reason: &'static str,
    },
    #[error("element {element}: type {ty:?} cannot be encoded in length {length:?}")]
    LengthNotAllowed {
        element: ElementId,
        ty: AbstractType,
        length: FieldLength,
    },
    #[error("template {template_id}: {values} values for {fields} fields")]
    ValueCountMismatch {
        template_id: u16,
        values: usize,
        fields: usize,
    },
    #[error("element {element}: value does not match type {ty:?}")]
    ValueTypeMismatch {
        element: ElementId,
        ty: AbstractType,
    },
    #[error("element {element}: value does not fit in {length} octets")]
    ValueOutOfRange { element: ElementId, length: u16 },
    #[error("element {element}: value is {actual} octets, field is {expected}")]
    ValueLengthMismatch {
        element: ElementId,
        expected: u16,
        actual: usize,
    },
    #[error("element {element}: type {ty:?} has no encoder")]
    UnsupportedType {
        element: ElementId,
        ty: AbstractType,
    },
    #[error("flow {flow_id}: source and destination address families differ")]
    MixedAddressFamily { flow_id: u64 },
}

/// A message could not be decoded. The template cache keeps what earlier
/// sets of the same message taught it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error(transparent)]
    Wire(#[from] WireError),
    #[error("template {template_id}: field {field_index} ({element}) has length 0")]
    ZeroLengthField {
        template_id: u16,
        field_index: usize,
        element: ElementId,
    },
    #[error("template {template_id}: minimum record length {min_len} cannot fit a message")]
    RecordLengthOverflow { template_id: u16, min_len: usize },
    #[error("data set {template_id}: record truncated, field {field_index} needs {needed} octets, {available} left")]
    RecordTruncated {
        template_id: u16,
        field_index: usize,
        needed: usize,
        available: usize,
    },
}
