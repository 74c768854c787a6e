//! One message's template changes, held back until the whole message has
//! decoded (RFC 7011 §9.1: a Collecting Process that finds a message
//! malformed discards it whole, so templates from its earlier sets are not
//! learnt either, and no state is created for a sender whose messages do
//! not decode). Data sets later in the message see the changes made before
//! them, as if they were already applied.

use std::collections::HashMap;
use std::sync::Arc;

use super::template_cache::{DomainKey, TemplateCache};
use super::typed_template::TypedTemplate;

enum Change {
    Learn(Arc<TypedTemplate>),
    Withdraw(u16),
    WithdrawAll { options: bool },
}

/// The template changes of one message of one domain.
pub(crate) struct Staged {
    key: DomainKey,
    changes: Vec<Change>,
    /// Templates as this message left them: learnt (`Some`) or withdrawn
    /// (`None`) by it.
    overlay: HashMap<u16, Option<Arc<TypedTemplate>>>,
    /// Whether the message withdrew all data (`[0]`) or all options (`[1]`)
    /// templates the cache held.
    all_withdrawn: [bool; 2],
}

fn kind(t: &TypedTemplate) -> usize {
    usize::from(t.template().is_options())
}

impl Staged {
    pub fn new(key: DomainKey) -> Self {
        Staged {
            key,
            changes: Vec::new(),
            overlay: HashMap::new(),
            all_withdrawn: [false; 2],
        }
    }

    /// Template `id` as the cache will hold it once the changes so far are
    /// applied.
    pub fn get(&self, cache: &TemplateCache, id: u16) -> Option<Arc<TypedTemplate>> {
        if let Some(t) = self.overlay.get(&id) {
            return t.clone();
        }
        let t = cache.get(self.key, id)?;
        (!self.all_withdrawn[kind(&t)]).then_some(t)
    }

    /// Learns (or replaces) a template; true when it replaced one.
    pub fn learn(&mut self, cache: &TemplateCache, template: TypedTemplate) -> bool {
        let id = template.id();
        let replaced = self.get(cache, id).is_some();
        let t = Arc::new(template);
        self.overlay.insert(id, Some(Arc::clone(&t)));
        self.changes.push(Change::Learn(t));
        replaced
    }

    /// Withdraws one template; true when it was known.
    pub fn withdraw(&mut self, cache: &TemplateCache, id: u16) -> bool {
        let known = self.get(cache, id).is_some();
        self.overlay.insert(id, None);
        self.changes.push(Change::Withdraw(id));
        known
    }

    /// Withdraws every options (`options`) or data template; how many.
    pub fn withdraw_all(&mut self, cache: &TemplateCache, options: bool) -> usize {
        let k = usize::from(options);
        let mut gone: std::collections::BTreeSet<u16> = cache
            .template_ids(self.key, options)
            .into_iter()
            .filter(|&id| self.get(cache, id).is_some())
            .collect();
        gone.extend(
            self.overlay
                .iter()
                .filter(|(_, t)| t.as_ref().is_some_and(|t| kind(t) == k))
                .map(|(&id, _)| id),
        );
        for &id in &gone {
            self.overlay.insert(id, None);
        }
        self.all_withdrawn[k] = true;
        self.changes.push(Change::WithdrawAll { options });
        gone.len()
    }

    /// Applies the changes, in the message's order.
    pub fn commit(self, cache: &mut TemplateCache) {
        let Staged {
            key,
            changes,
            overlay,
            ..
        } = self;
        // Only `changes` holds the templates now: learnt without a copy.
        drop(overlay);
        for change in changes {
            match change {
                Change::Learn(t) => {
                    cache.insert(key, Arc::unwrap_or_clone(t));
                }
                Change::Withdraw(id) => {
                    cache.withdraw(key, id);
                }
                Change::WithdrawAll { options } => {
                    cache.withdraw_all(key, options);
                }
            }
        }
    }
}
