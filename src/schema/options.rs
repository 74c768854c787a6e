//! Our options templates (RFC 7011 §4): the SysUpTime anchor (264) and the
//! metering process statistics (266, §4.1 and §4.2), scoped by
//! `observationDomainId`; the exporting process reliability statistics
//! (267, §4.3), scoped by `exportingProcessId`; the exporter's address
//! (276, 277); the interfaces' names (286), scoped by interface index.
//! Template 265 (all six
//! counters under `observationDomainId`) is retired: its ID is never used
//! again with another meaning.

use std::net::IpAddr;

use crate::abi::SampleMode;
use crate::ipfix::field::FieldSpecifier;
use crate::ipfix::ie::{self, InfoElement};
use crate::ipfix::{EncodeError, Template, TypedTemplate, Value};

/// Options template: `systemInitTimeMilliseconds` per observation domain.
pub const SYSTEM_INIT_TEMPLATE_ID: u16 = 264;
/// Retired: the statistics before they were split as RFC 7011 §4 says.
pub const RETIRED_STATISTICS_TEMPLATE_ID: u16 = 265;
/// Options template: metering process (reliability) statistics (§4.1, §4.2).
pub const METERING_STATISTICS_TEMPLATE_ID: u16 = 266;
/// Options template: exporting process reliability statistics (§4.3).
pub const EXPORTING_STATISTICS_TEMPLATE_ID: u16 = 267;
/// Options templates: the exporter's address as the collector sees it
/// (before NAT), IPv4 and IPv6.
pub const EXPORTER_IPV4_TEMPLATE_ID: u16 = 276;
pub const EXPORTER_IPV6_TEMPLATE_ID: u16 = 277;
/// Options template: each interface's name and description, scoped by its
/// index (hosts run no SNMP: without it collectors show bare numbers).
pub const INTERFACE_NAMES_TEMPLATE_ID: u16 = 286;

/// Options templates: how packets are selected (RFC 5476 PSAMP selector
/// report, and the legacy samplingInterval/samplingAlgorithm nfdump and
/// pmacct read), scoped by observation domain: systematic count-based
/// (287) and uniform probabilistic (296).
pub const SAMPLING_SYSTEMATIC_TEMPLATE_ID: u16 = 287;
pub const SAMPLING_RANDOM_TEMPLATE_ID: u16 = 296;
/// The one selector of each observation domain.
pub const SELECTOR_ID: u64 = 1;

/// How the metering process selects packets: 1 in `period`, as `mode`
/// says (period 1: every packet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sampling {
    pub period: u32,
    pub mode: SampleMode,
}

impl Default for Sampling {
    fn default() -> Self {
        Sampling {
            period: 1,
            mode: SampleMode::Systematic,
        }
    }
}

/// PSAMP selectorAlgorithm (RFC 5477 registry) and the legacy
/// samplingAlgorithm (1 deterministic, 2 random).
fn algorithms(mode: SampleMode) -> (u16, u8) {
    match mode {
        SampleMode::Systematic => (1, 1), // systematic count-based
        SampleMode::Random => (4, 2),     // uniform probabilistic
    }
}

/// Options template 287 (systematic: samplingPacketInterval 1 and
/// samplingPacketSpace N - 1) or 296 (random: samplingProbability 1/N):
/// scope `observationDomainId`, `selectorId`, `selectorAlgorithm`, the
/// algorithm's parameters, then `samplingInterval` (N) and
/// `samplingAlgorithm`.
pub fn sampling_template(mode: SampleMode) -> Result<Template, EncodeError> {
    match mode {
        SampleMode::Systematic => options_template(
            SAMPLING_SYSTEMATIC_TEMPLATE_ID,
            ie::OBSERVATION_DOMAIN_ID,
            &[
                ie::SELECTOR_ID,
                ie::SELECTOR_ALGORITHM,
                ie::SAMPLING_PACKET_INTERVAL,
                ie::SAMPLING_PACKET_SPACE,
                ie::SAMPLING_INTERVAL,
                ie::SAMPLING_ALGORITHM,
            ],
        ),
        SampleMode::Random => options_template(
            SAMPLING_RANDOM_TEMPLATE_ID,
            ie::OBSERVATION_DOMAIN_ID,
            &[
                ie::SELECTOR_ID,
                ie::SELECTOR_ALGORITHM,
                ie::SAMPLING_PROBABILITY,
                ie::SAMPLING_INTERVAL,
                ie::SAMPLING_ALGORITHM,
            ],
        ),
    }
}

/// The record of template 287 or 296 for `domain`, and its template ID.
pub fn sampling_record(domain: u32, sampling: &Sampling) -> (u16, Vec<u8>) {
    let period = sampling.period.max(1);
    let (selector_algorithm, legacy_algorithm) = algorithms(sampling.mode);
    let mut out = domain.to_be_bytes().to_vec();
    out.extend_from_slice(&SELECTOR_ID.to_be_bytes());
    out.extend_from_slice(&selector_algorithm.to_be_bytes());
    let id = match sampling.mode {
        SampleMode::Systematic => {
            out.extend_from_slice(&1u32.to_be_bytes());
            out.extend_from_slice(&(period - 1).to_be_bytes());
            SAMPLING_SYSTEMATIC_TEMPLATE_ID
        }
        SampleMode::Random => {
            out.extend_from_slice(&(1.0 / f64::from(period)).to_be_bytes());
            SAMPLING_RANDOM_TEMPLATE_ID
        }
    };
    out.extend_from_slice(&period.to_be_bytes());
    out.push(legacy_algorithm);
    (id, out)
}

/// One interface of the exporter's network namespace, as template 286
/// carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceName {
    /// The index `ingressInterface`/`egressInterface` carry.
    pub index: u32,
    /// `interfaceName`: `eth0`.
    pub name: String,
    /// `interfaceDescription`: the interface's alias (`ip link set eth0
    /// alias ...`), empty when it has none.
    pub description: String,
}

/// Template 264's elements after the scope.
const SYSTEM_INIT_ELEMENTS: [InfoElement; 1] = [ie::SYSTEM_INIT_TIME_MILLISECONDS];

/// Template 266's elements after the scope, in
/// [`ExportStatistics::metering`] order.
const METERING_ELEMENTS: [InfoElement; 5] = [
    ie::EXPORTED_MESSAGE_TOTAL_COUNT,
    ie::EXPORTED_FLOW_RECORD_TOTAL_COUNT,
    ie::EXPORTED_OCTET_TOTAL_COUNT,
    ie::IGNORED_PACKET_TOTAL_COUNT,
    ie::IGNORED_OCTET_TOTAL_COUNT,
];

/// Template 267's elements after the scope.
const EXPORTING_ELEMENTS: [InfoElement; 1] = [ie::NOT_SENT_FLOW_TOTAL_COUNT];

/// Options template 264: scope `observationDomainId`, then
/// `systemInitTimeMilliseconds` (anchors the SysUpTime elements for
/// collectors).
pub fn system_init_template() -> Result<Template, EncodeError> {
    options_template(
        SYSTEM_INIT_TEMPLATE_ID,
        ie::OBSERVATION_DOMAIN_ID,
        &SYSTEM_INIT_ELEMENTS,
    )
}

/// Options template 266: scope `observationDomainId`, then the metering
/// process statistics (RFC 7011 §4.1) and reliability statistics (§4.2).
pub fn metering_statistics_template() -> Result<Template, EncodeError> {
    options_template(
        METERING_STATISTICS_TEMPLATE_ID,
        ie::OBSERVATION_DOMAIN_ID,
        &METERING_ELEMENTS,
    )
}

/// Options template 267: scope `exportingProcessId`, then the exporting
/// process reliability statistics (RFC 7011 §4.3).
pub fn exporting_statistics_template() -> Result<Template, EncodeError> {
    options_template(
        EXPORTING_STATISTICS_TEMPLATE_ID,
        ie::EXPORTING_PROCESS_ID,
        &EXPORTING_ELEMENTS,
    )
}

/// Options templates 276 and 277: scope `exportingProcessId`, then
/// `exporterIPv4Address` or `exporterIPv6Address`: the address the
/// exporter sends from, which NAT and containers hide from the collector.
pub fn exporter_address_template(ipv6: bool) -> Result<Template, EncodeError> {
    if ipv6 {
        options_template(
            EXPORTER_IPV6_TEMPLATE_ID,
            ie::EXPORTING_PROCESS_ID,
            &[ie::EXPORTER_IPV6_ADDRESS],
        )
    } else {
        options_template(
            EXPORTER_IPV4_TEMPLATE_ID,
            ie::EXPORTING_PROCESS_ID,
            &[ie::EXPORTER_IPV4_ADDRESS],
        )
    }
}

/// Options template 286: scope `ingressInterface` (the interface index,
/// whichever direction a record uses it in), then `interfaceName` and
/// `interfaceDescription`, both variable-length strings.
pub fn interface_names_template() -> Result<TypedTemplate, EncodeError> {
    TypedTemplate::new_options(
        INTERFACE_NAMES_TEMPLATE_ID,
        1,
        [
            ie::INGRESS_INTERFACE,
            ie::INTERFACE_NAME,
            ie::INTERFACE_DESCRIPTION,
        ]
        .into_iter()
        .map(|e| {
            let length = e.default_length();
            (e, length)
        })
        .collect(),
    )
}

/// The values of template 286's record for `interface`.
pub fn interface_name_values(interface: &InterfaceName) -> [Value; 3] {
    [
        Value::Unsigned(u64::from(interface.index)),
        Value::String(interface.name.clone()),
        Value::String(interface.description.clone()),
    ]
}

/// Every options template, in ID order.
pub fn options_templates() -> Result<[Template; 8], EncodeError> {
    Ok([
        system_init_template()?,
        metering_statistics_template()?,
        exporting_statistics_template()?,
        exporter_address_template(false)?,
        exporter_address_template(true)?,
        interface_names_template()?.template().clone(),
        sampling_template(SampleMode::Systematic)?,
        sampling_template(SampleMode::Random)?,
    ])
}

/// The record of template 276 or 277, and its template ID.
pub fn exporter_address_record(exporting_process_id: u32, addr: IpAddr) -> (u16, Vec<u8>) {
    let mut out = exporting_process_id.to_be_bytes().to_vec();
    match addr {
        IpAddr::V4(a) => {
            out.extend_from_slice(&a.octets());
            (EXPORTER_IPV4_TEMPLATE_ID, out)
        }
        IpAddr::V6(a) => {
            out.extend_from_slice(&a.octets());
            (EXPORTER_IPV6_TEMPLATE_ID, out)
        }
    }
}

fn options_template(
    id: u16,
    scope: InfoElement,
    fields: &[InfoElement],
) -> Result<Template, EncodeError> {
    let specs = std::iter::once(&scope)
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

/// The record of template 266.
pub fn metering_statistics_record(domain: u32, stats: &ExportStatistics) -> Vec<u8> {
    let mut out = domain.to_be_bytes().to_vec();
    for v in stats.metering() {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out
}

/// The record of template 267.
pub fn exporting_statistics_record(stats: &ExportStatistics) -> Vec<u8> {
    let mut out = stats.exporting_process_id.to_be_bytes().to_vec();
    out.extend_from_slice(&stats.not_sent_flow_total.to_be_bytes());
    out
}

/// Values of the statistics options records (templates 266 and 267), totals
/// since the exporting process started, as the caller counted them for
/// this collector.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportStatistics {
    /// `exportingProcessId`, the scope of template 267: this process's id,
    /// unique on the host while it runs.
    pub exporting_process_id: u32,
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
    /// In template 266 order.
    pub fn metering(&self) -> [u64; 5] {
        [
            self.exported_message_total,
            self.exported_flow_record_total,
            self.exported_octet_total,
            self.ignored_packet_total,
            self.ignored_octet_total,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths() {
        assert_eq!(system_init_template().unwrap().buffer_len(), 6 + 2 * 4);
        assert_eq!(
            metering_statistics_template().unwrap().buffer_len(),
            6 + 6 * 4
        );
        assert_eq!(
            exporting_statistics_template().unwrap().buffer_len(),
            6 + 2 * 4
        );
        let stats = ExportStatistics::default();
        assert_eq!(system_init_record(1, 2).len(), 4 + 8);
        assert_eq!(metering_statistics_record(1, &stats).len(), 4 + 5 * 8);
        assert_eq!(exporting_statistics_record(&stats).len(), 4 + 8);
    }

    #[test]
    fn sampling_records_golden() {
        let systematic = Sampling {
            period: 100,
            mode: SampleMode::Systematic,
        };
        #[rustfmt::skip]
        let golden = [
            0, 0, 0, 7,             // observationDomainId 7
            0, 0, 0, 0, 0, 0, 0, 1, // selectorId 1
            0, 1,                   // selectorAlgorithm 1: systematic count-based
            0, 0, 0, 1,             // samplingPacketInterval 1
            0, 0, 0, 99,            // samplingPacketSpace 99
            0, 0, 0, 100,           // samplingInterval 100
            1,                      // samplingAlgorithm 1: deterministic
        ];
        assert_eq!(sampling_record(7, &systematic), (287, golden.to_vec()));
        let random = Sampling {
            period: 4,
            mode: SampleMode::Random,
        };
        let (id, rec) = sampling_record(7, &random);
        assert_eq!(id, 296);
        assert_eq!(&rec[12..14], &[0, 4], "uniform probabilistic");
        assert_eq!(&rec[14..22], &0.25f64.to_be_bytes());
        assert_eq!(&rec[22..], &[0, 0, 0, 4, 2]);
        for mode in [SampleMode::Systematic, SampleMode::Random] {
            let t = sampling_template(mode).unwrap();
            let (_, rec) = sampling_record(1, &Sampling { period: 1, mode });
            let fixed: usize = t
                .fields()
                .iter()
                .map(|f| usize::from(f.length.to_wire()))
                .sum();
            assert_eq!(rec.len(), fixed, "{mode:?}");
        }
    }
}
