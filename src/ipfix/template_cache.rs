//! Templates a collector has learnt, per exporter and observation domain.
//!
//! RFC 7011 §8: templates are "locally unique within a combination of a
//! Transport Session and an Observation Domain"; a collector keys them by
//! the exporter's transport address and the message's Observation Domain
//! ID. §8.4: "If a Template is received with a Template ID already in use
//! ... the Collecting Process MUST ... replace" (over UDP, where templates
//! are refreshed); §8.1 withdrawals remove them; a closed TCP/SCTP session
//! forgets all of its exporter's templates ([`TemplateCache::forget_exporter`]).
//!
//! # Bounds
//!
//! Anyone who can send the collector a datagram decides what goes in here,
//! so every part is bounded, and no exporter can take another's room:
//!
//! - a domain is created only when a template is learnt for it: messages
//!   without templates (any number of observation domain IDs) cost nothing;
//! - at most [`CacheLimits::max_domains`] domains. A new one evicts the least
//!   recently used domain; a domain is used by every message it receives;
//! - at most [`CacheLimits::max_domains_per_exporter`] domains and
//!   [`CacheLimits::max_fields_per_exporter`] field specifiers per exporter
//!   address (its IP address, any port). An exporter over its share evicts
//!   its own least recently used domains, never another exporter's; within
//!   one domain over the share, the least recently learnt templates go;
//! - at most [`CacheLimits::max_fields`] field specifiers in all (one costs
//!   about 60 octets cached), evicting least recently used domains.
//!
//! The domain or template being learnt is never evicted for itself, so one
//! template larger than a share is kept, alone. Evictions are silent: data
//! sets of an evicted template come back as unknown templates until the
//! exporter sends the template again (over UDP it does so periodically,
//! §8.4). Evicting is O(log n) per domain or template evicted, plus a scan
//! of the use order when an exporter evicts its own domains.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use super::typed_template::TypedTemplate;

/// One exporter's observation domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DomainKey {
    pub exporter: SocketAddr,
    pub observation_domain_id: u32,
}

/// How much the cache holds; see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheLimits {
    pub max_domains: usize,
    pub max_domains_per_exporter: usize,
    pub max_fields: usize,
    pub max_fields_per_exporter: usize,
}

impl Default for CacheLimits {
    /// 4096 domains, 256 per exporter; 2^21 field specifiers (about
    /// 120 MiB), 2^16 per exporter (four templates of the largest size a
    /// message can carry, or thousands of usual ones).
    fn default() -> Self {
        CacheLimits {
            max_domains: 4096,
            max_domains_per_exporter: 256,
            max_fields: 1 << 21,
            max_fields_per_exporter: 1 << 16,
        }
    }
}

#[derive(Debug)]
struct Learnt {
    template: Arc<TypedTemplate>,
    /// When it was learnt (or last replaced): its place in `by_age`.
    stamp: u64,
}

#[derive(Debug)]
struct Domain {
    templates: HashMap<u16, Learnt>,
    /// Template IDs by when they were learnt, oldest first.
    by_age: BTreeMap<u64, u16>,
    /// Field specifiers over all `templates`.
    fields: usize,
    /// When a message of this domain was last seen: its place in
    /// `TemplateCache::by_use`.
    used: u64,
    /// Sequence number the next message should carry, once one was seen.
    next_sequence_number: Option<u32>,
}

/// What one exporter address holds.
#[derive(Debug, Default, Clone, Copy)]
struct Share {
    domains: usize,
    fields: usize,
}

/// The template cache.
#[derive(Debug)]
pub struct TemplateCache {
    domains: HashMap<DomainKey, Domain>,
    /// Domains by last use, least recent first.
    by_use: BTreeMap<u64, DomainKey>,
    shares: HashMap<IpAddr, Share>,
    fields: usize,
    /// Logical clock for `used` and `stamp`: every use takes the next tick.
    clock: u64,
    limits: CacheLimits,
}

fn field_count(template: &TypedTemplate) -> usize {
    template.template().fields().len()
}

impl TemplateCache {
    pub fn new(limits: CacheLimits) -> Self {
        TemplateCache {
            domains: HashMap::new(),
            by_use: BTreeMap::new(),
            shares: HashMap::new(),
            fields: 0,
            clock: 0,
            limits,
        }
    }

    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    /// Marks the domain as used now (a message of it arrived), if it exists.
    pub(crate) fn touch(&mut self, key: DomainKey) {
        let now = self.tick();
        if let Some(domain) = self.domains.get_mut(&key) {
            self.by_use.remove(&domain.used);
            domain.used = now;
            self.by_use.insert(now, key);
        }
    }

    pub fn get(&self, key: DomainKey, template_id: u16) -> Option<Arc<TypedTemplate>> {
        let learnt = self.domains.get(&key)?.templates.get(&template_id)?;
        Some(Arc::clone(&learnt.template))
    }

    /// Learns or replaces a template, creating its domain (and evicting to
    /// make room, see the module documentation); returns whether it
    /// replaced one.
    pub fn insert(&mut self, key: DomainKey, template: TypedTemplate) -> bool {
        let id = template.id();
        let added = field_count(&template);
        let existing = self.domains.get(&key);
        let new_domain = existing.is_none();
        let removed = existing
            .and_then(|d| d.templates.get(&id))
            .map_or(0, |l| field_count(&l.template));
        let grows = added.saturating_sub(removed);
        self.make_room(key, usize::from(new_domain), grows);

        let now = self.tick();
        let domain = self.domains.entry(key).or_insert_with(|| Domain {
            templates: HashMap::new(),
            by_age: BTreeMap::new(),
            fields: 0,
            used: now,
            next_sequence_number: None,
        });
        if new_domain {
            self.by_use.insert(now, key);
            self.shares.entry(key.exporter.ip()).or_default().domains += 1;
        }
        let old = domain.templates.insert(
            id,
            Learnt {
                template: Arc::new(template),
                stamp: now,
            },
        );
        if let Some(old) = &old {
            domain.by_age.remove(&old.stamp);
        }
        domain.by_age.insert(now, id);
        domain.fields = domain.fields - removed + added;
        self.fields = self.fields - removed + added;
        let share = self.shares.entry(key.exporter.ip()).or_default();
        share.fields = share.fields - removed + added;
        self.shrink_domain(key, id);
        old.is_some()
    }

    /// Evicts other domains until `key` may add `domains` (0 or 1) domains
    /// and `fields` field specifiers: the exporter's own first, then anyone's
    /// least recently used.
    fn make_room(&mut self, key: DomainKey, domains: usize, fields: usize) {
        let ip = key.exporter.ip();
        let limits = self.limits;
        let over_share = |s: Share| {
            s.domains + domains > limits.max_domains_per_exporter
                || s.fields + fields > limits.max_fields_per_exporter
        };
        while over_share(self.shares.get(&ip).copied().unwrap_or_default()) {
            let victim = self
                .by_use
                .values()
                .find(|k| k.exporter.ip() == ip && **k != key)
                .copied();
            match victim {
                Some(victim) => self.remove_domain(victim),
                None => break,
            }
        }
        while self.domains.len() + domains > limits.max_domains
            || self.fields + fields > limits.max_fields
        {
            let victim = self.by_use.values().find(|k| **k != key).copied();
            match victim {
                Some(victim) => self.remove_domain(victim),
                None => break,
            }
        }
    }

    /// Evicts the domain's least recently learnt templates, except `keep`,
    /// while its exporter or the whole cache holds too many fields.
    fn shrink_domain(&mut self, key: DomainKey, keep: u16) {
        let ip = key.exporter.ip();
        loop {
            let share = self.shares.get(&ip).copied().unwrap_or_default();
            if share.fields <= self.limits.max_fields_per_exporter
                && self.fields <= self.limits.max_fields
            {
                return;
            }
            let oldest = self
                .domains
                .get(&key)
                .and_then(|d| d.by_age.values().find(|&&id| id != keep).copied());
            match oldest {
                Some(id) => {
                    self.remove_template(key, id);
                }
                None => return,
            }
        }
    }

    /// Removes one template and its fields from every count.
    fn remove_template(&mut self, key: DomainKey, template_id: u16) -> bool {
        let Some(domain) = self.domains.get_mut(&key) else {
            return false;
        };
        let Some(learnt) = domain.templates.remove(&template_id) else {
            return false;
        };
        domain.by_age.remove(&learnt.stamp);
        let n = field_count(&learnt.template);
        domain.fields -= n;
        self.fields -= n;
        if let Some(share) = self.shares.get_mut(&key.exporter.ip()) {
            share.fields -= n;
        }
        true
    }

    /// Removes a domain, its templates and sequence state.
    fn remove_domain(&mut self, key: DomainKey) {
        let Some(domain) = self.domains.remove(&key) else {
            return;
        };
        self.by_use.remove(&domain.used);
        self.fields -= domain.fields;
        let ip = key.exporter.ip();
        if let Some(share) = self.shares.get_mut(&ip) {
            share.domains -= 1;
            share.fields -= domain.fields;
            if share.domains == 0 {
                self.shares.remove(&ip);
            }
        }
    }

    /// Withdraws one template; returns whether it was known.
    pub fn withdraw(&mut self, key: DomainKey, template_id: u16) -> bool {
        self.remove_template(key, template_id)
    }

    /// The IDs of the domain's options (`options`) or data templates.
    pub(crate) fn template_ids(&self, key: DomainKey, options: bool) -> Vec<u16> {
        self.domains.get(&key).map_or_else(Vec::new, |d| {
            d.templates
                .iter()
                .filter(|(_, l)| l.template.template().is_options() == options)
                .map(|(&id, _)| id)
                .collect()
        })
    }

    /// Withdraws every options template (`options`) or every data template
    /// of the domain; returns how many.
    pub fn withdraw_all(&mut self, key: DomainKey, options: bool) -> usize {
        let ids = self.template_ids(key, options);
        for &id in &ids {
            self.remove_template(key, id);
        }
        ids.len()
    }

    /// Forgets every domain of `exporter` (its transport session closed).
    pub fn forget_exporter(&mut self, exporter: SocketAddr) {
        let keys: Vec<DomainKey> = self
            .domains
            .keys()
            .filter(|k| k.exporter == exporter)
            .copied()
            .collect();
        for key in keys {
            self.remove_domain(key);
        }
    }

    /// Records that a message of `key` started at `sequence_number` with
    /// `data_records` records; returns the number that was expected
    /// instead, if it differs. Only domains with templates are tracked: a
    /// domain without them decodes no records.
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

    /// Every exporter address the cache holds a domain of.
    pub fn exporters(&self) -> std::collections::HashSet<SocketAddr> {
        self.domains.keys().map(|k| k.exporter).collect()
    }

    pub fn domain_count(&self) -> usize {
        self.domains.len()
    }

    /// Field specifiers over every cached template.
    pub fn field_count(&self) -> usize {
        self.fields
    }

    pub fn limits(&self) -> CacheLimits {
        self.limits
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

    /// Exporter `host` (192.0.2.host), port 4739.
    fn at(host: u8, domain: u32) -> DomainKey {
        DomainKey {
            exporter: SocketAddr::from(([192, 0, 2, host], 4739)),
            observation_domain_id: domain,
        }
    }

    fn typed_n(id: u16, options: bool, fields: usize) -> TypedTemplate {
        let f = FieldSpecifier::new(ie::FLOW_ID.id, ie::FLOW_ID.default_length());
        let t = if options {
            Template::new_options(id, 1, vec![f; fields])
        } else {
            Template::new(id, vec![f; fields])
        };
        TypedTemplate::resolve(t.unwrap(), |_| None).unwrap()
    }

    fn typed(id: u16, options: bool) -> TypedTemplate {
        typed_n(id, options, 1)
    }

    fn limits(
        domains: usize,
        per_exporter: usize,
        fields: usize,
        fields_each: usize,
    ) -> CacheLimits {
        CacheLimits {
            max_domains: domains,
            max_domains_per_exporter: per_exporter,
            max_fields: fields,
            max_fields_per_exporter: fields_each,
        }
    }

    /// Every count agrees with the templates actually held.
    fn assert_consistent(c: &TemplateCache) {
        let mut shares: HashMap<IpAddr, Share> = HashMap::new();
        let mut total = 0;
        for (k, d) in &c.domains {
            let fields: usize = d.templates.values().map(|l| field_count(&l.template)).sum();
            assert_eq!(d.fields, fields, "{k:?}");
            assert_eq!(d.by_age.len(), d.templates.len(), "{k:?}");
            assert_eq!(c.by_use.get(&d.used), Some(k));
            let s = shares.entry(k.exporter.ip()).or_default();
            s.domains += 1;
            s.fields += fields;
            total += fields;
        }
        assert_eq!(c.by_use.len(), c.domains.len());
        assert_eq!(c.fields, total);
        assert_eq!(c.shares.len(), shares.len());
        for (ip, s) in shares {
            let got = c.shares[&ip];
            assert_eq!((got.domains, got.fields), (s.domains, s.fields), "{ip}");
        }
    }

    #[test]
    fn keyed_by_exporter_and_domain() {
        let mut c = TemplateCache::new(CacheLimits::default());
        assert!(!c.insert(key(1, 1), typed(256, false)));
        assert!(c.get(key(1, 1), 256).is_some());
        assert!(c.get(key(1, 2), 256).is_none());
        assert!(c.get(key(2, 1), 256).is_none());
        assert!(c.insert(key(1, 1), typed(256, false)));
        assert_consistent(&c);
    }

    #[test]
    fn withdrawals_and_forgetting() {
        let mut c = TemplateCache::new(CacheLimits::default());
        for (id, options) in [(256, false), (257, false), (300, true)] {
            c.insert(key(1, 1), typed(id, options));
        }
        c.insert(key(1, 2), typed(256, false));
        assert!(c.withdraw(key(1, 1), 257));
        assert!(!c.withdraw(key(1, 1), 257));
        assert_eq!(c.withdraw_all(key(1, 1), false), 1);
        assert_eq!(c.template_count(key(1, 1)), 1);
        assert_eq!(c.withdraw_all(key(1, 1), true), 1);
        assert_consistent(&c);
        c.forget_exporter(key(1, 1).exporter);
        assert_eq!(c.domain_count(), 0);
        assert_eq!(c.field_count(), 0);
        assert_consistent(&c);
    }

    #[test]
    fn domains_exist_only_with_templates() {
        let mut c = TemplateCache::new(CacheLimits::default());
        c.touch(key(1, 1));
        assert_eq!(c.track_sequence(key(1, 1), 10, 0), None);
        assert_eq!(c.domain_count(), 0);
        c.insert(key(1, 1), typed(256, false));
        assert_eq!(c.domain_count(), 1);
    }

    /// The least recently used domain goes first: a message uses its
    /// domain, learning a template too.
    #[test]
    fn full_table_evicts_the_least_recently_used_domain() {
        let mut c = TemplateCache::new(limits(3, 3, 100, 100));
        for (host, domain) in [(1, 1), (2, 1), (3, 1)] {
            c.insert(at(host, domain), typed(256, false));
        }
        c.touch(at(1, 1));
        c.insert(at(4, 1), typed(256, false));
        assert_eq!(c.domain_count(), 3);
        assert!(c.get(at(2, 1), 256).is_none(), "least recently used");
        for host in [1, 3, 4] {
            assert!(c.get(at(host, 1), 256).is_some(), "192.0.2.{host}");
        }
        assert_consistent(&c);
    }

    /// The colleague's report: 4096 header-only messages of different
    /// domains from one exporter locked every other exporter out. Now they
    /// create nothing, and templates for thousands of domains from one
    /// exporter only ever evict that exporter's own domains.
    #[test]
    fn one_exporter_cannot_push_out_another() {
        let defaults = CacheLimits::default();
        let mut c = TemplateCache::new(defaults);
        c.insert(at(9, 1), typed(256, false));
        for domain in 0..4096 {
            c.touch(at(1, domain));
            c.track_sequence(at(1, domain), 0, 0);
        }
        assert_eq!(c.domain_count(), 1);
        for domain in 0..4096 {
            c.insert(at(1, domain), typed(256, false));
        }
        assert_eq!(c.domain_count(), defaults.max_domains_per_exporter + 1);
        assert!(
            c.get(at(9, 1), 256).is_some(),
            "the other exporter's domain"
        );
        assert!(c.get(at(1, 4095), 256).is_some(), "the newest domain");
        assert!(c.get(at(1, 0), 256).is_none(), "the oldest domain");
        assert_consistent(&c);
    }

    #[test]
    fn field_share_evicts_own_domains_then_own_templates() {
        let mut c = TemplateCache::new(limits(100, 100, 1000, 10));
        c.insert(at(9, 1), typed_n(256, false, 8));
        c.insert(at(1, 1), typed_n(256, false, 4));
        c.insert(at(1, 2), typed_n(256, false, 4));
        // 4 + 4 + 4 > 10: domain 1 (the least recently used) goes.
        c.insert(at(1, 3), typed_n(256, false, 4));
        assert!(c.get(at(1, 1), 256).is_none());
        assert_eq!(c.template_count(at(1, 2)), 1);
        // Within one domain: its oldest templates go, never the new one.
        c.insert(at(1, 3), typed_n(257, false, 5));
        c.insert(at(1, 3), typed_n(258, false, 5));
        assert_eq!(c.domain_count(), 2, "the other exporter's and domain 3");
        assert!(c.get(at(1, 3), 256).is_none());
        assert!(c.get(at(1, 3), 258).is_some());
        // One template over the whole share is kept, alone.
        c.insert(at(1, 3), typed_n(259, false, 20));
        assert_eq!(c.template_count(at(1, 3)), 1);
        assert!(c.get(at(9, 1), 256).is_some(), "another exporter untouched");
        assert_consistent(&c);
    }

    #[test]
    fn replacing_a_template_counts_its_fields_once() {
        let mut c = TemplateCache::new(limits(10, 10, 100, 10));
        for _ in 0..5 {
            c.insert(at(1, 1), typed_n(256, false, 10));
        }
        assert_eq!((c.field_count(), c.template_count(at(1, 1))), (10, 1));
        assert_consistent(&c);
    }

    #[test]
    fn total_fields_bounded_across_exporters() {
        let mut c = TemplateCache::new(limits(100, 100, 20, 20));
        for host in 1..=10 {
            c.insert(at(host, 1), typed_n(256, false, 5));
            assert!(c.field_count() <= 20);
        }
        assert_eq!(c.domain_count(), 4);
        assert!(c.get(at(10, 1), 256).is_some());
        assert_consistent(&c);
    }

    #[test]
    fn sequence_tracking() {
        let mut c = TemplateCache::new(CacheLimits::default());
        c.insert(key(1, 1), typed(256, false));
        assert_eq!(c.track_sequence(key(1, 1), 10, 5), None);
        assert_eq!(c.track_sequence(key(1, 1), 15, 1), None);
        assert_eq!(c.track_sequence(key(1, 1), 20, 0), Some(16));
        assert_eq!(c.track_sequence(key(1, 1), 20, 0), None);
    }
}
