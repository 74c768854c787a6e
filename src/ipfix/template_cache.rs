//! Templates a collector has learnt, per exporter and observation domain.
//!
//! RFC 7011 §8: templates are "locally unique within a combination of a
//! Transport Session and an Observation Domain"; a collector keys them by
//! the exporter's transport address and the message's Observation Domain
//! ID. §8.4: "If a Template is received with a Template ID already in use
//! ... the Collecting Process MUST ... replace" (over UDP, where templates
//! are refreshed); §8.1 withdrawals remove them; a closed TCP/SCTP session
//! forgets all of its exporter's templates ([`TemplateCache::forget_exporter`]).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use super::error::DecodeError;
use super::record::TypedTemplate;

/// One exporter's observation domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DomainKey {
    pub exporter: SocketAddr,
    pub observation_domain_id: u32,
}

#[derive(Debug, Default)]
struct Domain {
    templates: HashMap<u16, Arc<TypedTemplate>>,
    /// Sequence number the next message should carry, once one was seen.
    next_sequence_number: Option<u32>,
}

/// The template cache. Bounded in domains; each domain holds at most the
/// 65280 template IDs there are.
#[derive(Debug)]
pub struct TemplateCache {
    domains: HashMap<DomainKey, Domain>,
    max_domains: usize,
}

impl TemplateCache {
    pub fn new(max_domains: usize) -> Self {
        TemplateCache {
            domains: HashMap::new(),
            max_domains,
        }
    }

    fn domain_mut(&mut self, key: DomainKey) -> Result<&mut Domain, DecodeError> {
        if !self.domains.contains_key(&key) && self.domains.len() >= self.max_domains {
            return Err(DecodeError::TooManyDomains {
                limit: self.max_domains,
            });
        }
        Ok(self.domains.entry(key).or_default())
    }

    /// Makes sure the domain exists (fails when the cache is full).
    pub(crate) fn open(&mut self, key: DomainKey) -> Result<(), DecodeError> {
        self.domain_mut(key).map(|_| ())
    }

    pub fn get(&self, key: DomainKey, template_id: u16) -> Option<Arc<TypedTemplate>> {
        self.domains.get(&key)?.templates.get(&template_id).cloned()
    }

    /// Learns or replaces a template; returns whether it replaced one.
    pub fn insert(&mut self, key: DomainKey, template: TypedTemplate) -> Result<bool, DecodeError> {
        let domain = self.domain_mut(key)?;
        Ok(domain
            .templates
            .insert(template.id(), Arc::new(template))
            .is_some())
    }

    /// Withdraws one template; returns whether it was known.
    pub fn withdraw(&mut self, key: DomainKey, template_id: u16) -> bool {
        self.domains
            .get_mut(&key)
            .is_some_and(|d| d.templates.remove(&template_id).is_some())
    }

    /// Withdraws every options template (`options`) or every data template
    /// of the domain; returns how many.
    pub fn withdraw_all(&mut self, key: DomainKey, options: bool) -> usize {
        let Some(domain) = self.domains.get_mut(&key) else {
            return 0;
        };
        let before = domain.templates.len();
        domain
            .templates
            .retain(|_, t| t.template().is_options() != options);
        before - domain.templates.len()
    }

    /// Forgets every domain of `exporter` (its transport session closed).
    pub fn forget_exporter(&mut self, exporter: SocketAddr) {
        self.domains.retain(|k, _| k.exporter != exporter);
    }

    /// Records that a message of `key` started at `sequence_number` with
    /// `data_records` records; returns the number that was expected
    /// instead, if it differs.
    pub(crate) fn track_sequence(
        &mut self,
        key: DomainKey,
        sequence_number: u32,
        data_records: u32,
    ) -> Option<u32> {
        let domain = self.domains.get_mut(&key)?;
        let expected = domain
            .next_sequence_number
            .filter(|&e| e != sequence_number);
        domain.next_sequence_number = Some(sequence_number.wrapping_add(data_records));
        expected
    }

    /// Templates known for `key`.
    pub fn template_count(&self, key: DomainKey) -> usize {
        self.domains.get(&key).map_or(0, |d| d.templates.len())
    }

    pub fn domain_count(&self) -> usize {
        self.domains.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipfix::field::FieldSpecifier;
    use crate::ipfix::ie;
    use crate::ipfix::template::Template;

    fn key(port: u16, domain: u32) -> DomainKey {
        DomainKey {
            exporter: SocketAddr::from(([127, 0, 0, 1], port)),
            observation_domain_id: domain,
        }
    }

    fn typed(id: u16, options: bool) -> TypedTemplate {
        let f = FieldSpecifier::new(ie::FLOW_ID.id, ie::FLOW_ID.default_length());
        let t = if options {
            Template::new_options(id, 1, vec![f])
        } else {
            Template::new(id, vec![f])
        };
        TypedTemplate::resolve(t.unwrap(), |_| None).unwrap()
    }

    #[test]
    fn keyed_by_exporter_and_domain() {
        let mut c = TemplateCache::new(8);
        assert!(!c.insert(key(1, 1), typed(256, false)).unwrap());
        assert!(c.get(key(1, 1), 256).is_some());
        assert!(c.get(key(1, 2), 256).is_none());
        assert!(c.get(key(2, 1), 256).is_none());
        assert!(c.insert(key(1, 1), typed(256, false)).unwrap());
    }

    #[test]
    fn withdrawals_and_forgetting() {
        let mut c = TemplateCache::new(8);
        for (id, options) in [(256, false), (257, false), (300, true)] {
            c.insert(key(1, 1), typed(id, options)).unwrap();
        }
        c.insert(key(1, 2), typed(256, false)).unwrap();
        assert!(c.withdraw(key(1, 1), 257));
        assert!(!c.withdraw(key(1, 1), 257));
        assert_eq!(c.withdraw_all(key(1, 1), false), 1);
        assert_eq!(c.template_count(key(1, 1)), 1);
        assert_eq!(c.withdraw_all(key(1, 1), true), 1);
        c.forget_exporter(key(1, 1).exporter);
        assert_eq!(c.domain_count(), 0);
    }

    #[test]
    fn bounded_domains() {
        let mut c = TemplateCache::new(1);
        c.open(key(1, 1)).unwrap();
        assert_eq!(
            c.open(key(1, 2)),
            Err(DecodeError::TooManyDomains { limit: 1 })
        );
        c.open(key(1, 1)).unwrap();
    }

    #[test]
    fn sequence_tracking() {
        let mut c = TemplateCache::new(1);
        c.open(key(1, 1)).unwrap();
        assert_eq!(c.track_sequence(key(1, 1), 10, 5), None);
        assert_eq!(c.track_sequence(key(1, 1), 15, 1), None);
        assert_eq!(c.track_sequence(key(1, 1), 20, 0), Some(16));
        assert_eq!(c.track_sequence(key(1, 1), 20, 0), None);
    }
}
