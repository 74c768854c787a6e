//! `run --config FILE`: a TOML file whose keys are `run`'s long flags
//! (`iface = ["eth0", "veth*"]`, `active-timeout = "10s"`, `replace-pins =
//! true`), turned into the flags they stand for, so that the file and the
//! command line are parsed and validated by one definition. Flags given on
//! the command line win over the file. Pure: text in, flags out; an
//! unknown key, a key given twice or a value of the wrong shape is an
//! error naming the key and its line.

use thiserror::Error;
use toml::de::{DeTable, DeValue};

/// How a flag takes values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagKind {
    /// A switch: `true` gives it, `false` leaves it out.
    Switch,
    /// One value: a string or a number.
    One,
    /// Repeatable: a string, a number, or an array of them.
    Many,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigFileError {
    #[error("line {line}: {message}")]
    Syntax { line: usize, message: String },
    #[error(
        "line {line}: unknown key {key:?} (the keys are run's long flags, e.g. active-timeout)"
    )]
    UnknownKey { line: usize, key: String },
    #[error("line {line}: {key:?} {why}")]
    BadValue {
        line: usize,
        key: String,
        why: &'static str,
    },
}

/// 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(0, |t| t.bytes().filter(|&b| b == b'\n').count())
        + 1
}

/// The flags the file stands for, as command-line words per key (`["--iface",
/// "eth0", "--iface", "veth*"]`), in the file's order. `kind` says how a
/// long flag takes values, `None` for one `run` does not have.
pub fn flags(
    text: &str,
    kind: impl Fn(&str) -> Option<FlagKind>,
) -> Result<Vec<(String, Vec<String>)>, ConfigFileError> {
    let table = DeTable::parse(text).map_err(|e| ConfigFileError::Syntax {
        line: e.span().map_or(1, |s| line_of(text, s.start)),
        message: e.message().trim().to_owned(),
    })?;
    let mut entries: Vec<_> = table.get_ref().iter().collect();
    // The table keeps keys sorted; the file's order is the spans'.
    entries.sort_by_key(|(k, _)| k.span().start);
    let mut out = Vec::new();
    for (key, value) in entries {
        let line = line_of(text, key.span().start);
        let name = key.get_ref().to_string();
        let bad = |why| ConfigFileError::BadValue {
            line,
            key: name.clone(),
            why,
        };
        let Some(k) = kind(&name) else {
            return Err(ConfigFileError::UnknownKey { line, key: name });
        };
        let flag = format!("--{name}");
        let words = match (k, value.get_ref()) {
            (FlagKind::Switch, DeValue::Boolean(true)) => vec![flag],
            (FlagKind::Switch, DeValue::Boolean(false)) => Vec::new(),
            (FlagKind::Switch, _) => return Err(bad("is a switch: true or false")),
            (_, DeValue::Array(items)) if k == FlagKind::Many => {
                let mut w = Vec::new();
                for item in items.iter() {
                    w.push(flag.clone());
                    w.push(scalar(item.get_ref()).ok_or_else(|| bad("wants strings or numbers"))?);
                }
                w
            }
            (_, v) => {
                let one = scalar(v).ok_or_else(|| {
                    bad(if k == FlagKind::Many {
                        "wants a string, a number or an array of them"
                    } else {
                        "wants one string or number"
                    })
                })?;
                vec![flag, one]
            }
        };
        out.push((name, words));
    }
    Ok(out)
}

/// A string or an integer as a flag's value.
fn scalar(v: &DeValue<'_>) -> Option<String> {
    match v {
        DeValue::String(s) => Some(s.to_string()),
        DeValue::Integer(i) if i.radix() == 10 => Some(i.as_str().replace('_', "")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(k: &str) -> Option<FlagKind> {
        match k {
            "iface" | "collector" => Some(FlagKind::Many),
            "active-timeout" | "mtu" => Some(FlagKind::One),
            "replace-pins" => Some(FlagKind::Switch),
            _ => None,
        }
    }

    #[test]
    fn keys_become_flags_in_file_order() {
        let text = "iface = [\"eth0\", \"veth*\"]\nmtu = 1_400\nactive-timeout = \"5s\"\n\
                    replace-pins = true\ncollector = \"tcp://192.0.2.1\"\n";
        let got = flags(text, kind).unwrap();
        let words: Vec<&str> = got
            .iter()
            .flat_map(|(_, w)| w.iter().map(String::as_str))
            .collect();
        assert_eq!(
            words,
            [
                "--iface",
                "eth0",
                "--iface",
                "veth*",
                "--mtu",
                "1400",
                "--active-timeout",
                "5s",
                "--replace-pins",
                "--collector",
                "tcp://192.0.2.1"
            ]
        );
        let off = flags("replace-pins = false\n", kind).unwrap();
        assert_eq!(off, [("replace-pins".to_owned(), Vec::new())]);
    }

    #[test]
    fn mistakes_name_the_key_and_the_line() {
        let e = flags("mtu = 1400\n\n# comment\nifac = \"eth0\"\n", kind).unwrap_err();
        assert_eq!(
            e,
            ConfigFileError::UnknownKey {
                line: 4,
                key: "ifac".into()
            }
        );
        assert_eq!(
            e.to_string(),
            "line 4: unknown key \"ifac\" (the keys are run's long flags, e.g. active-timeout)"
        );
        let e = flags("iface = \"a\"\nmtu = [1, 2]\n", kind).unwrap_err();
        assert_eq!(e.to_string(), "line 2: \"mtu\" wants one string or number");
        let e = flags("replace-pins = \"yes\"\n", kind).unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 1: \"replace-pins\" is a switch: true or false"
        );
        let e = flags("iface = [true]\n", kind).unwrap_err();
        assert_eq!(e.to_string(), "line 1: \"iface\" wants strings or numbers");
        let e = flags("[run]\niface = \"a\"\n", kind).unwrap_err();
        assert!(
            matches!(e, ConfigFileError::UnknownKey { line: 1, .. }),
            "{e}"
        );
        for broken in ["mtu = \n", "mtu = 1\nmtu = 2\n", "iface = \"a\n"] {
            let e = flags(broken, kind).unwrap_err();
            assert!(
                matches!(e, ConfigFileError::Syntax { .. }),
                "{broken:?}: {e}"
            );
        }
        let e = flags("mtu = 1\n\nmtu = 2\n", kind).unwrap_err();
        assert!(e.to_string().starts_with("line 3:"), "{e}");
    }
}
