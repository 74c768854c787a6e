//! Our IPFIX schema: the templates we export and how a [`FlowRecord`] is
//! written into them and read back, on top of the pure wire library
//! [`crate::ipfix`].
//!
//! | ID  | kind    | records                                   |
//! |-----|---------|-------------------------------------------|
//! | 256–263 | retired | (each record carried one interface; never reused) |
//! | 264 | options | scope `observationDomainId`; `systemInitTimeMilliseconds` |
//! | 265 | retired | (the statistics before they were split as RFC 7011 §4 says; never reused) |
//! | 266 | options | scope `observationDomainId`; RFC 7011 §4.1 and §4.2 statistics |
//! | 267 | options | scope `exportingProcessId`; RFC 7011 §4.3 statistics |
//! | 268–275 | retired | (no VLAN IDs, MAC addresses or `ipVersion`; never reused) |
//! | 276, 277 | options | scope `exportingProcessId`; `exporterIPv4Address` / `exporterIPv6Address` |
//! | 278 | data    | IPv4 TCP/UDP/SCTP/other, ingress          |
//! | 279 | data    | IPv4 ICMP, ingress                        |
//! | 280 | data    | IPv6 non-ICMPv6, ingress                  |
//! | 281 | data    | IPv6 ICMPv6, ingress                      |
//! | 282–285 | data | the same four, egress                    |
//! | 286 | options | scope `ingressInterface` (the index); `interfaceName`, `interfaceDescription` |
//! | 287 | options | scope `observationDomainId`; PSAMP systematic count-based selector, `samplingInterval`/`samplingAlgorithm` |
//! | 288–295 | data | 278–285 without the SysUpTime elements |
//! | 296 | options | scope `observationDomainId`; PSAMP uniform probabilistic selector, `samplingInterval`/`samplingAlgorithm` |
//!
//! The data templates' elements are one table, [`elements::FLOW_ELEMENTS`]:
//! each element once, with the templates that carry it, its size, how it
//! is written and how it is read back. Values: `icmpTypeCode*` =
//! type × 256 + code; `ipDiffServCodePoint` = TOS >> 2; `ipClassOfService` = TOS
//! (IPv4) or traffic class (IPv6); `minimumTTL`/`maximumTTL` carry the IPv6
//! hop limit. SysUpTime elements are milliseconds since the
//! `system_init_ms` anchor the caller passes (the same value it sends in
//! template 264): 0 for records before the anchor, `u32::MAX` for records
//! more than 2^32 ms (49.7 days) after it — clamped, never wrapped; the
//! absolute `flow*Milliseconds` elements are exact.
//!
//! [`FlowRecord`]: crate::flow::FlowRecord

mod cursor;
pub mod data;
pub mod decode;
pub mod elements;
pub mod encode;
pub mod options;

#[cfg(test)]
mod tests;

pub use data::FlowTemplate;
pub use decode::{FlowRecordError, ToFlowRecord};
pub use encode::{min_mtu, records_per_message, FlowMessages};
pub use options::{ExportStatistics, InterfaceName, Sampling};
