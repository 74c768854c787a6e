//! IPFIX (RFC 7011) wire format: encoder and decoder. Pure, no I/O.
//!
//! Wire units, each a checked buffer view plus a value type with `parse`,
//! `buffer_len` and `emit`: [`header`] (message header, §3.1), [`set`] (set
//! header and padding, §3.3), [`field`] (field specifier, §3.2),
//! [`template`] (template, options template and withdrawal records, §3.4,
//! §8.1), [`varlen`] (variable-length prefix, §7), [`typed_template`]
//! (data records against a template whose elements are known, §3.4.3;
//! decoded ones are [`data_record`]s) with [`value`] (typed values, §6).
//! [`ie`] names the Information Elements this crate uses; [`registry`] is
//! the whole IANA registry, for decoding what others send.
//!
//! Exporting: a [`Session`] per collector and observation domain owns the
//! sequence number; its [`MessageBuilder`] packs templates and records into
//! MTU-bounded messages.
//!
//! Collecting: [`Decoder`] with its [`TemplateCache`] per (exporter,
//! observation domain).
//!
//! A wire library: it knows nothing of flows. Our own templates, and how a
//! flow record is written into them and read back, are `src/schema/`.

pub mod builder;
mod bytes;
pub mod data_record;
pub mod decoder;
pub mod error;
pub mod field;
pub mod header;
pub mod ie;
pub mod registry;
mod registry_table;
pub mod set;
mod staging;
pub mod template;
pub mod template_cache;
pub mod typed_template;
pub mod value;
pub mod varlen;

pub use builder::{Message, MessageBuilder, Mtu, Session};
pub use data_record::{DataRecord, DecodedField};
pub use decoder::{message_length, DecodedMessage, Decoder, DecoderConfig, Event};
pub use error::{DecodeError, EncodeError, WireError};
pub use ie::{AbstractType, ElementId, FieldLength, InfoElement};
pub use template::Template;
pub use template_cache::{CacheLimits, DomainKey, TemplateCache};
pub use typed_template::TypedTemplate;
pub use value::Value;
