//! Our two options templates (RFC 7011 §4): the SysUpTime anchor and the
//! exporting-process statistics, each scoped by `observationDomainId`.

use crate::ipfix::field::FieldSpecifier;
use crate::ipfix::ie::{self, InfoElement};
use crate::ipfix::{EncodeError, Template};

/// Options template: `systemInitTimeMilliseconds` per observation domain.
pub const SYSTEM_INIT_TEMPLATE_ID: u16 = 264;
/// Options template: exporting-process statistics (RFC 7011 §4.3).
pub const STATISTICS_TEMPLATE_ID: u16 = 265;

/// The scope of both.
const SCOPE: InfoElement = ie::OBSERVATION_DOMAIN_ID;

/// Template 264's elements after the scope.
const SYSTEM_INIT_ELEMENTS: [InfoElement; 1] = [ie::SYSTEM_INIT_TIME_MILLISECONDS];

/// Template 265's elements after the scope, in [`ExportStatistics::values`]
/// order.
const STATISTICS_ELEMENTS: [InfoElement; 6] = [
    ie::EXPORTED_MESSAGE_TOTAL_COUNT,
    ie::EXPORTED_FLOW_RECORD_TOTAL_COUNT,
    ie::EXPORTED_OCTET_TOTAL_COUNT,
    ie::IGNORED_PACKET_TOTAL_COUNT,
    ie::IGNORED_OCTET_TOTAL_COUNT,
    ie::NOT_SENT_FLOW_TOTAL_COUNT,
];

/// Options template 264: scope `observationDomainId`, then
/// `systemInitTimeMilliseconds` (anchors the SysUpTime elements for
/// collectors).
pub fn system_init_template() -> Result<Template, EncodeError> {
    options_template(SYSTEM_INIT_TEMPLATE_ID, &SYSTEM_INIT_ELEMENTS)
}

/// Options template 265: scope `observationDomainId`, then the RFC 7011
/// §4.3 exporting-process reliability statistics.
pub fn statistics_template() -> Result<Template, EncodeError> {
    options_template(STATISTICS_TEMPLATE_ID, &STATISTICS_ELEMENTS)
}

fn options_template(id: u16, fields: &[InfoElement]) -> Result<Template, EncodeError> {
    let specs = std::iter::once(&SCOPE)
        .chain(fields)
        .map(|e| FieldSpecifier::new(e.id, e.default_length()))
        .collect();
    Template::new_options(id, 1, specs)
}

/// The record of template 264.
pub fn system_init_record(domain: u32, system_init_ms: u64) -> Vec<u8> {
    let mut out = domain.to_be_bytes().to_vec();
    out.extend_from_slice(&system_init_ms.to_be_bytes());
    out
}

/// The record of template 265.
pub fn statistics_record(domain: u32, stats: &ExportStatistics) -> Vec<u8> {
    let mut out = domain.to_be_bytes().to_vec();
    for v in stats.values() {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out
}

/// Values of the statistics options record (template 265), totals since the
/// exporting process started, as the caller counted them for this
/// collector.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportStatistics {
    /// `exportedMessageTotalCount`: messages sent, excluding this one.
    pub exported_message_total: u64,
    /// `exportedFlowRecordTotalCount`: flow records sent, excluding this
    /// message's.
    pub exported_flow_record_total: u64,
    /// `exportedOctetTotalCount`: sum of the Length of sent messages.
    pub exported_octet_total: u64,
    /// `ignoredPacketTotalCount`: packets the metering process did not
    /// process (flow table full).
    pub ignored_packet_total: u64,
    /// `ignoredOctetTotalCount`: their octets.
    pub ignored_octet_total: u64,
    /// `notSentFlowTotalCount`: flow records generated but dropped.
    pub not_sent_flow_total: u64,
}

impl ExportStatistics {
    /// In template 265 order.
    pub fn values(&self) -> [u64; 6] {
        [
            self.exported_message_total,
            self.exported_flow_record_total,
            self.exported_octet_total,
            self.ignored_packet_total,
            self.ignored_octet_total,
            self.not_sent_flow_total,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths() {
        assert_eq!(system_init_template().unwrap().buffer_len(), 6 + 2 * 4);
        assert_eq!(statistics_template().unwrap().buffer_len(), 6 + 7 * 4);
        assert_eq!(system_init_record(1, 2).len(), 4 + 8);
        assert_eq!(
            statistics_record(1, &ExportStatistics::default()).len(),
            4 + 6 * 8
        );
    }
}
