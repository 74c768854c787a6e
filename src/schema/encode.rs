//! The exporter's API: our templates, batches of [`FlowRecord`]s and the two
//! options records, added to an [`ipfix::MessageBuilder`](MessageBuilder).
//!
//! ```no_run
//! # use ipfix_flow_exporter::ipfix::{Session, Mtu};
//! # use ipfix_flow_exporter::schema::{ExportStatistics, FlowMessages};
//! # let records = vec![];
//! let mut session = Session::new(1); // per collector and observation domain
//! let system_init_ms = 1_700_000_000_000;
//! let mut b = session.builder(1_700_000_100, Mtu::DEFAULT);
//! b.add_flow_templates(true)?; // at start, on refresh, on reconnect
//! b.add_system_init_time(system_init_ms)?;
//! b.add_flow_records(&records, Some(system_init_ms))?;
//! b.add_statistics(&ExportStatistics::default())?;
//! for message in b.finish()? { /* send message.bytes */ }
//! # Ok::<(), ipfix_flow_exporter::ipfix::EncodeError>(())
//! ```

use super::data::FlowTemplate;
use std::net::IpAddr;

use super::options::{
    exporter_address_record, exporting_statistics_record, interface_name_values,
    interface_names_template, metering_statistics_record, options_templates, sampling_record,
    system_init_record, ExportStatistics, InterfaceName, Sampling,
    EXPORTING_STATISTICS_TEMPLATE_ID, METERING_STATISTICS_TEMPLATE_ID, SYSTEM_INIT_TEMPLATE_ID,
};
use crate::flow::FlowRecord;
use crate::ipfix::header::MESSAGE_HEADER_LEN;
use crate::ipfix::set::SET_HEADER_LEN;
use crate::ipfix::{EncodeError, MessageBuilder, Mtu};

/// Our records on a [`MessageBuilder`].
pub trait FlowMessages {
    /// The eight data templates in use — with the SysUpTime elements
    /// (278..=285) or without (288..=295) — and the options templates
    /// (264, 266, 267, 276, 277, 286, 287, 296). Send them when a session starts,
    /// when the UDP refresh timer fires, and after each TCP reconnect.
    fn add_flow_templates(&mut self, sysuptime: bool) -> Result<(), EncodeError>;

    /// One data record per flow, each routed to its template by direction,
    /// IP version and ICMP-ness; records of one template share a data set
    /// per message. The whole batch is checked before anything is added, so
    /// an error (mixed address families) adds nothing. `sysuptime_anchor`:
    /// the templates with SysUpTime elements, counted from this anchor
    /// (template 264's), or `None` for the ones without.
    fn add_flow_records(
        &mut self,
        records: &[FlowRecord],
        sysuptime_anchor: Option<u64>,
    ) -> Result<(), EncodeError>;

    /// The options record of template 264: when this observation domain's
    /// SysUpTime clock started, in milliseconds since the UNIX epoch.
    fn add_system_init_time(&mut self, system_init_ms: u64) -> Result<(), EncodeError>;

    /// The statistics options records of templates 266 and 267.
    fn add_statistics(&mut self, stats: &ExportStatistics) -> Result<(), EncodeError>;

    /// The options record of template 276 (IPv4) or 277 (IPv6): the
    /// address this exporting process sends from.
    fn add_exporter_address(
        &mut self,
        exporting_process_id: u32,
        addr: IpAddr,
    ) -> Result<(), EncodeError>;

    /// The options records of template 286: each interface's name and
    /// description by its index.
    fn add_interface_names(&mut self, interfaces: &[InterfaceName]) -> Result<(), EncodeError>;

    /// The options record of template 287 or 296: how this observation
    /// domain's packets are selected (also when every packet is).
    fn add_sampling(&mut self, sampling: &Sampling) -> Result<(), EncodeError>;
}

impl FlowMessages for MessageBuilder<'_> {
    fn add_sampling(&mut self, sampling: &Sampling) -> Result<(), EncodeError> {
        let (id, out) = sampling_record(self.observation_domain_id(), sampling);
        self.add_exact_record(id, &out)
    }

    fn add_interface_names(&mut self, interfaces: &[InterfaceName]) -> Result<(), EncodeError> {
        let template = interface_names_template()?;
        for interface in interfaces {
            self.add_custom_record(&template, &interface_name_values(interface))?;
        }
        Ok(())
    }

    fn add_exporter_address(
        &mut self,
        exporting_process_id: u32,
        addr: IpAddr,
    ) -> Result<(), EncodeError> {
        let (id, out) = exporter_address_record(exporting_process_id, addr);
        self.add_exact_record(id, &out)
    }

    fn add_flow_templates(&mut self, sysuptime: bool) -> Result<(), EncodeError> {
        for t in FlowTemplate::in_use(sysuptime) {
            self.add_template(&t.template()?)?;
        }
        // pmacct's nfacctd (1.7) steps over an IPFIX options template by
        // NetFlow v9's rule, 4 octets too far per scope field: after the
        // first of a set it reads garbage. One set each costs 4 octets.
        for t in options_templates()? {
            self.add_template_alone(&t)?;
        }
        Ok(())
    }

    fn add_flow_records(
        &mut self,
        records: &[FlowRecord],
        sysuptime_anchor: Option<u64>,
    ) -> Result<(), EncodeError> {
        let (sysuptime, system_init_ms) =
            (sysuptime_anchor.is_some(), sysuptime_anchor.unwrap_or(0));
        // One pass to route, then one data set per template: the builder
        // keeps one set per template per message only if records of a
        // template arrive together.
        let mut by_template: [Vec<&FlowRecord>; 16] = Default::default();
        for record in records {
            let template = FlowTemplate::of(record, sysuptime)?;
            by_template[template.index()].push(record);
        }
        for (template, group) in FlowTemplate::all().zip(&by_template) {
            if group.is_empty() {
                continue;
            }
            let len = template.record_len();
            for record in group {
                self.add_data_record(template.id(), len, |buf| {
                    template.emit_record(record, system_init_ms, buf)
                })?;
            }
        }
        Ok(())
    }

    fn add_system_init_time(&mut self, system_init_ms: u64) -> Result<(), EncodeError> {
        let out = system_init_record(self.observation_domain_id(), system_init_ms);
        self.add_exact_record(SYSTEM_INIT_TEMPLATE_ID, &out)
    }

    fn add_statistics(&mut self, stats: &ExportStatistics) -> Result<(), EncodeError> {
        let metering = metering_statistics_record(self.observation_domain_id(), stats);
        self.add_exact_record(METERING_STATISTICS_TEMPLATE_ID, &metering)?;
        self.add_exact_record(
            EXPORTING_STATISTICS_TEMPLATE_ID,
            &exporting_statistics_record(stats),
        )
    }
}

/// Flow records that surely fit one message at `mtu`, whatever their
/// templates: the unit of the drain chunk (`daemon::drain_chunk`).
pub fn records_per_message(mtu: Mtu) -> usize {
    (mtu.bytes().saturating_sub(MESSAGE_OVERHEAD) / FlowTemplate::max_record_len().max(1)).max(1)
}

/// Message header (16) and a set header (4) for each data template a
/// message may mix.
const MESSAGE_OVERHEAD: usize = 16 + 4 * 8;

/// The smallest MTU every message of ours fits: one template, or one
/// record, behind a message and a set header.
pub fn min_mtu() -> usize {
    let templates = FlowTemplate::all()
        .filter_map(|t| t.template().ok())
        .chain(options_templates().into_iter().flatten())
        .map(|t| t.buffer_len());
    let stats = ExportStatistics::default();
    let records = FlowTemplate::all().map(FlowTemplate::record_len).chain([
        system_init_record(0, 0).len(),
        metering_statistics_record(0, &stats).len(),
        exporting_statistics_record(&stats).len(),
    ]);
    MESSAGE_HEADER_LEN + SET_HEADER_LEN + templates.chain(records).max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_per_message_counts_the_largest_record() {
        // (1400 - 48) / 120.
        assert_eq!(records_per_message(Mtu::DEFAULT), 11);
        assert_eq!(records_per_message(Mtu::new(200).unwrap()), 1);
    }

    /// The IPv6 data record (120) is our largest item; the 27-field data
    /// template record (112) is next.
    #[test]
    fn min_mtu_fits_the_largest_record_and_template() {
        assert_eq!(min_mtu(), 16 + 4 + 120);
        for mtu in [min_mtu(), min_mtu() + 1] {
            let mut session = crate::ipfix::Session::new(1);
            let mut b = session.builder(0, Mtu::new(mtu).unwrap());
            b.add_flow_templates(true).unwrap();
            b.add_system_init_time(1).unwrap();
            b.add_statistics(&ExportStatistics::default()).unwrap();
            for m in b.finish().unwrap() {
                assert!(m.bytes.len() <= mtu);
            }
        }
    }
}
