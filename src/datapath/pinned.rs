//! The pins of the objects we loaded, and the one place they are removed.
//!
//! A [`PinOwner`] holds the [`PinSet`]s of one process. Dropped before
//! [`PinOwner::keep`] (a failed start), it removes only what this start
//! created: pins adopted from a crashed predecessor keep what it metered.
//! After `keep`, a crash leaves every pin for the successor to adopt;
//! [`PinOwner::remove_all`] is the clean exit.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Pin files of one object, and which of them this load created.
#[derive(Debug, Default)]
pub struct PinSet {
    pub dir: PathBuf,
    /// Directories this load created, deepest first.
    pub created_dirs: Vec<PathBuf>,
    pub files: Vec<(PathBuf, bool)>,
}

impl PinSet {
    pub fn reused(&self) -> impl Iterator<Item = &Path> {
        self.files
            .iter()
            .filter(|(_, created)| !created)
            .map(|(p, _)| p.as_path())
    }

    /// Removes the pin files and directories this load created, keeps the
    /// ones it reused.
    pub fn remove_created(&self) {
        for (path, created) in &self.files {
            if *created {
                let _ = fs::remove_file(path);
            }
        }
        self.remove_created_dirs();
    }

    /// Removes every pin file of the object, then the directories this load
    /// created where they are empty (another object may still pin there).
    pub fn remove_all(&self) -> Result<()> {
        for (path, _) in &self.files {
            match fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).with_context(|| format!("unpinning {}", path.display())),
            }
        }
        self.remove_created_dirs();
        Ok(())
    }

    fn remove_created_dirs(&self) {
        for dir in &self.created_dirs {
            let _ = fs::remove_dir(dir);
        }
    }
}

/// Owns the pins of this process (see the module documentation).
#[derive(Debug, Default)]
pub struct PinOwner {
    sets: Vec<PinSet>,
    kept: bool,
}

impl PinOwner {
    pub fn add(&mut self, set: PinSet) {
        self.sets.push(set);
    }

    pub fn sets(&self) -> &[PinSet] {
        &self.sets
    }

    /// Running: from now on a crash leaves every pin for a successor.
    pub fn keep(&mut self) {
        self.kept = true;
    }

    /// The clean exit: every pin goes, then the directories we created and
    /// `also_if_empty` (those a crashed predecessor created), where empty.
    pub fn remove_all(mut self, also_if_empty: &[&Path]) -> Result<()> {
        self.kept = true;
        let sets = std::mem::take(&mut self.sets);
        let mut first_error = None;
        for set in sets.iter().rev() {
            if let Err(e) = set.remove_all() {
                first_error.get_or_insert(e);
            }
        }
        for dir in also_if_empty {
            let _ = fs::remove_dir(dir);
        }
        first_error.map_or(Ok(()), Err)
    }
}

impl Drop for PinOwner {
    fn drop(&mut self) {
        if self.kept {
            return;
        }
        for set in self.sets.iter().rev() {
            set.remove_created();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pin directory as a load leaves it: `new` created by it, `old`
    /// adopted.
    fn pinned(root: &Path) -> PinSet {
        let dir = root.join("iface");
        fs::create_dir_all(&dir).unwrap();
        let new = dir.join("new_map");
        let old = dir.join("old_map");
        fs::write(&new, "").unwrap();
        fs::write(&old, "").unwrap();
        PinSet {
            dir: dir.clone(),
            created_dirs: vec![dir],
            files: vec![(new, true), (old, false)],
        }
    }

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("pinned-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_failed_start_removes_only_what_it_created() {
        let root = tmp("failed");
        let mut owner = PinOwner::default();
        owner.add(pinned(&root));
        drop(owner);
        assert!(!root.join("iface/new_map").exists());
        assert!(root.join("iface/old_map").exists(), "adopted pin kept");
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn kept_pins_survive_and_a_clean_exit_removes_everything() {
        let root = tmp("kept");
        let mut owner = PinOwner::default();
        owner.add(pinned(&root));
        owner.keep();
        drop(owner);
        assert!(root.join("iface/new_map").exists() && root.join("iface/old_map").exists());
        let mut owner = PinOwner::default();
        owner.add(pinned(&root));
        owner.remove_all(&[&root]).unwrap();
        assert!(
            !root.exists(),
            "files, the created directory and the empty root gone"
        );
    }
}
