//! Which interfaces `run` meters: names and shell-style patterns to
//! include, patterns to exclude, or every interface. Pure: matching and
//! the difference between what is attached and what should be.

use std::collections::BTreeMap;

/// Longest interface name the kernel accepts (IFNAMSIZ - 1).
pub const IFNAME_MAX: usize = 15;

/// A name, or a pattern where `*` matches any run of characters and `?`
/// any one character.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern(String);

impl Pattern {
    /// `s` as a pattern; `None` when no interface could ever match it
    /// (empty, a '/' or whitespace, longer than an interface name without
    /// a `*`).
    pub fn parse(s: &str) -> Option<Self> {
        let bad = s.is_empty()
            || s.chars()
                .any(|c| c == '/' || c.is_whitespace() || c == '\0')
            || (!s.contains('*') && s.chars().count() > IFNAME_MAX);
        (!bad).then(|| Pattern(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True when the pattern is a plain name.
    pub fn is_literal(&self) -> bool {
        !self.0.contains(['*', '?'])
    }

    pub fn matches(&self, name: &str) -> bool {
        glob(self.0.as_bytes(), name.as_bytes())
    }
}

/// Iterative glob match with one backtrack point: linear in practice,
/// never exponential.
fn glob(pat: &[u8], s: &[u8]) -> bool {
    let (mut p, mut i) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        match pat.get(p) {
            Some(b'*') => {
                star = Some((p, i));
                p += 1;
            }
            Some(&c) if c == b'?' || c == s[i] => {
                p += 1;
                i += 1;
            }
            _ => match star {
                Some((sp, si)) => {
                    p = sp + 1;
                    i = si + 1;
                    star = Some((sp, si + 1));
                }
                None => return false,
            },
        }
    }
    pat[p..].iter().all(|&c| c == b'*')
}

/// The interfaces a run meters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceSelector {
    /// Empty means every interface.
    pub include: Vec<Pattern>,
    pub exclude: Vec<Pattern>,
}

impl InterfaceSelector {
    pub fn matches(&self, name: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|p| p.matches(name)))
            && !self.exclude.iter().any(|p| p.matches(name))
    }

    /// The one interface of a run given a single plain `--iface NAME`:
    /// such a run keeps one interface's pin directory and lock, takes its
    /// index as the observation domain, and refuses to start without it.
    pub fn single(&self) -> Option<&str> {
        match (self.include.as_slice(), self.exclude.is_empty()) {
            ([one], true) if one.is_literal() => Some(one.as_str()),
            _ => None,
        }
    }

    /// What to do so that the attached set (index → name) becomes the
    /// matching part of `present` (every interface of the namespace, index
    /// and name): interfaces to attach, and indices to detach (gone, or
    /// renamed to a name that no longer matches).
    pub fn plan(
        &self,
        attached: &BTreeMap<u32, String>,
        present: &[(u32, String)],
    ) -> (Vec<(u32, String)>, Vec<u32>) {
        let want: BTreeMap<u32, &str> = present
            .iter()
            .filter(|(_, name)| self.matches(name))
            .map(|(i, name)| (*i, name.as_str()))
            .collect();
        let attach = want
            .iter()
            .filter(|(i, _)| !attached.contains_key(i))
            .map(|(i, name)| (*i, (*name).to_owned()))
            .collect();
        let detach = attached
            .keys()
            .filter(|i| !want.contains_key(i))
            .copied()
            .collect();
        (attach, detach)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pat(s: &str) -> Pattern {
        Pattern::parse(s).unwrap()
    }

    fn sel(include: &[&str], exclude: &[&str]) -> InterfaceSelector {
        InterfaceSelector {
            include: include.iter().map(|s| pat(s)).collect(),
            exclude: exclude.iter().map(|s| pat(s)).collect(),
        }
    }

    #[test]
    fn patterns_match_like_the_shell() {
        for (p, yes, no) in [
            (
                "veth*",
                &["veth", "veth0", "vethab12"][..],
                &["eth0", "xveth"][..],
            ),
            ("eth?", &["eth0", "eth9"], &["eth", "eth10"]),
            ("*", &["lo", "a"], &[]),
            ("e*h*0", &["eth0", "eh0", "eXhY0"], &["eth01", "th0"]),
            ("eth0.100", &["eth0.100"], &["eth0x100", "eth0"]),
            ("**x", &["x", "ax"], &["xa"]),
        ] {
            for n in yes {
                assert!(pat(p).matches(n), "{p} should match {n}");
            }
            for n in no {
                assert!(!pat(p).matches(n), "{p} should not match {n}");
            }
        }
    }

    #[test]
    fn a_pattern_no_interface_could_match_is_refused() {
        for bad in ["", "a/b", "eth 0", "abcdefghijklmnop"] {
            assert_eq!(Pattern::parse(bad), None, "{bad:?}");
        }
        assert!(Pattern::parse("abcdefghijklmnop*").is_some());
    }

    #[test]
    fn a_glob_with_many_stars_stays_linear() {
        let p = pat(&"*a".repeat(8));
        let name = "a".repeat(15) + "b";
        assert!(!p.matches(&name));
    }

    #[test]
    fn include_then_exclude_and_all_when_no_include() {
        let s = sel(&["veth*", "eth0"], &["veth9*"]);
        assert!(s.matches("eth0") && s.matches("veth1"));
        assert!(!s.matches("veth90") && !s.matches("lo"));
        let all = sel(&[], &["lo"]);
        assert!(all.matches("eth0") && !all.matches("lo"));
    }

    #[test]
    fn single_is_one_plain_name_only() {
        assert_eq!(sel(&["eth0"], &[]).single(), Some("eth0"));
        assert_eq!(sel(&["eth*"], &[]).single(), None);
        assert_eq!(sel(&["eth0", "eth1"], &[]).single(), None);
        assert_eq!(sel(&["eth0"], &["lo"]).single(), None);
        assert_eq!(sel(&[], &[]).single(), None);
    }

    #[test]
    fn plan_attaches_new_matches_and_detaches_departed_or_renamed_ones() {
        let s = sel(&["v*"], &[]);
        let attached: BTreeMap<u32, String> = [
            (2, "va".to_owned()),
            (3, "vb".to_owned()),
            (4, "vc".to_owned()),
        ]
        .into();
        // 2 stays, 3 is gone, 4 was renamed away from the pattern, 5 and 6
        // are new (6 does not match).
        let present = vec![
            (1, "lo".to_owned()),
            (2, "va".to_owned()),
            (4, "renamed".to_owned()),
            (5, "vd".to_owned()),
            (6, "eth0".to_owned()),
        ];
        let (attach, detach) = s.plan(&attached, &present);
        assert_eq!(attach, vec![(5, "vd".to_owned())]);
        assert_eq!(detach, vec![3, 4]);
    }
}
