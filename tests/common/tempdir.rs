//! The one scratch directory of the tests: created under the system temp
//! directory with a name unique to this process and call, removed with its
//! contents on drop (also when the test panics).

use std::path::{Path, PathBuf};

pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> Self {
        let d = std::env::temp_dir().join(super::unique(prefix));
        std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("creating {}: {e}", d.display()));
        TempDir(d)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.0.join(rel)
    }

    /// `join(rel)` as a string, for command lines.
    pub fn str(&self, rel: &str) -> String {
        self.join(rel).to_str().unwrap().to_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
