//! The exporter's API: our templates, batches of [`FlowRecord`]s, the two
//! options records, and custom records, added to a [`MessageBuilder`].
//!
//! ```no_run
//! # use ipfix_flow_exporter::ipfix::{Session, Mtu, ExportStatistics};
//! # let records = vec![];
//! let mut session = Session::new(1); // per collector and observation domain
//! let system_init_ms = 1_700_000_000_000;
//! let mut b = session.builder(1_700_000_100, Mtu::DEFAULT);
//! b.add_flow_templates()?; // at start, on refresh, on reconnect
//! b.add_system_init_time(system_init_ms)?;
//! b.add_flow_records(&records, system_init_ms)?;
//! b.add_statistics(&ExportStatistics::default())?;
//! for message in b.finish()? { /* send message.bytes */ }
//! # Ok::<(), ipfix_flow_exporter::ipfix::EncodeError>(())
//! ```

use super::builder::MessageBuilder;
use super::error::EncodeError;
use super::record::TypedTemplate;
use super::templates::{
    statistics_template, system_init_template, ExportStatistics, FlowTemplate,
    STATISTICS_TEMPLATE_ID, SYSTEM_INIT_TEMPLATE_ID,
};
use super::value::Value;
use crate::flow::FlowRecord;

/// observationDomainId (4) + one 8-octet value.
const SYSTEM_INIT_RECORD_LEN: usize = 4 + 8;
/// observationDomainId (4) + six 8-octet counters.
const STATISTICS_RECORD_LEN: usize = 4 + 6 * 8;

impl MessageBuilder<'_> {
    /// The eight data templates (256..=263) and the two options templates
    /// (264, 265). Send them when a session starts, when the UDP refresh
    /// timer fires, and after each TCP reconnect.
    pub fn add_flow_templates(&mut self) -> Result<(), EncodeError> {
        for t in FlowTemplate::all() {
            self.add_template(&t.template()?)?;
        }
        self.add_template(&system_init_template()?)?;
        self.add_template(&statistics_template()?)
    }

    /// One data record per flow, each routed to its template by direction,
    /// IP version and ICMP-ness; records of one template share a data set
    /// per message. The whole batch is checked before anything is added, so
    /// an error (mixed address families) adds nothing.
    pub fn add_flow_records(
        &mut self,
        records: &[FlowRecord],
        system_init_ms: u64,
    ) -> Result<(), EncodeError> {
        // One pass to route, then one data set per template: the builder
        // keeps one set per template per message only if records of a
        // template arrive together.
        let mut by_template: [Vec<&FlowRecord>; 8] = Default::default();
        for record in records {
            let template = FlowTemplate::of(record)?;
            by_template[template.index()].push(record);
        }
        for (template, group) in FlowTemplate::all().zip(&by_template) {
            let len = template.record_len();
            for record in group {
                self.add_data_record(template.id(), len, |buf| {
                    template.emit_record(record, system_init_ms, buf)
                })?;
            }
        }
        Ok(())
    }

    /// The options record of template 264: when this observation domain's
    /// SysUpTime clock started, in milliseconds since the UNIX epoch.
    pub fn add_system_init_time(&mut self, system_init_ms: u64) -> Result<(), EncodeError> {
        let domain = self.observation_domain_id();
        self.add_data_record(SYSTEM_INIT_TEMPLATE_ID, SYSTEM_INIT_RECORD_LEN, |buf| {
            let mut out = Vec::with_capacity(SYSTEM_INIT_RECORD_LEN);
            out.extend_from_slice(&domain.to_be_bytes());
            out.extend_from_slice(&system_init_ms.to_be_bytes());
            copy_exact(SYSTEM_INIT_TEMPLATE_ID, &out, buf)
        })
    }

    /// The options record of template 265.
    pub fn add_statistics(&mut self, stats: &ExportStatistics) -> Result<(), EncodeError> {
        let domain = self.observation_domain_id();
        self.add_data_record(STATISTICS_TEMPLATE_ID, STATISTICS_RECORD_LEN, |buf| {
            let mut out = Vec::with_capacity(STATISTICS_RECORD_LEN);
            out.extend_from_slice(&domain.to_be_bytes());
            for v in stats.values() {
                out.extend_from_slice(&v.to_be_bytes());
            }
            copy_exact(STATISTICS_TEMPLATE_ID, &out, buf)
        })
    }

    /// A record of a custom template (variable-length, enterprise-specific
    /// or reduced-size fields). Announce the template with
    /// `add_template(custom.template())` first in each session.
    pub fn add_custom_record(
        &mut self,
        template: &TypedTemplate,
        values: &[Value],
    ) -> Result<(), EncodeError> {
        let mut out = Vec::with_capacity(template.min_record_len());
        template.encode_record(values, &mut out)?;
        self.add_data_record(template.id(), out.len(), |buf| {
            copy_exact(template.id(), &out, buf)
        })
    }
}

fn copy_exact(template_id: u16, src: &[u8], dst: &mut [u8]) -> Result<(), EncodeError> {
    if src.len() != dst.len() {
        return Err(EncodeError::InvalidTemplate {
            template_id,
            reason: "record does not match the template's length",
        });
    }
    dst.copy_from_slice(src);
    Ok(())
}
