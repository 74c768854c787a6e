//! IPFIX (RFC 7011) wire format: encoder and decoder. Pure, no I\/O.
