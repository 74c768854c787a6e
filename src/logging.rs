//! Log setup: stderr for `run`/`collect`, a file in `--log-dir` under l3afd
//! (which discards the daemon's stdout and stderr).

use std::fs::{self, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use anyhow::{Context, Result};
use log::LevelFilter;

/// The C package's `--verbose` 0–5 (its log.h: 0 off, 1 debug, 2 info,
/// 3 warn, 4 error, 5 critical only) as log levels.
pub fn level_from_verbose(verbose: u8) -> LevelFilter {
    match verbose {
        0 => LevelFilter::Off,
        1 => LevelFilter::Debug,
        2 => LevelFilter::Info,
        3 => LevelFilter::Warn,
        _ => LevelFilter::Error,
    }
}

/// Logs to stderr at `level` (RUST_LOG still overrides).
pub fn to_stderr(level: LevelFilter) {
    env_logger::Builder::new()
        .filter_level(level)
        .parse_env("RUST_LOG")
        .init();
}

/// Logs to `<dir>/<file_name>` (appending; created 0640, the directory 0750
/// when missing, both owned by the caller, root under l3afd).
pub fn to_file(dir: &Path, file_name: &str, level: LevelFilter) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o750)
        .create(dir)
        .with_context(|| format!("creating log directory {}", dir.display()))?;
    let path = dir.join(file_name);
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .open(&path)
        .with_context(|| format!("opening log file {}", path.display()))?;
    env_logger::Builder::new()
        .filter_level(level)
        .parse_env("RUST_LOG")
        .target(env_logger::Target::Pipe(Box::new(file)))
        .init();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbose_levels_follow_the_c_package() {
        assert_eq!(level_from_verbose(0), LevelFilter::Off);
        assert_eq!(level_from_verbose(1), LevelFilter::Debug);
        assert_eq!(level_from_verbose(2), LevelFilter::Info);
        assert_eq!(level_from_verbose(3), LevelFilter::Warn);
        assert_eq!(level_from_verbose(5), LevelFilter::Error);
    }
}
