//! `make deb`: the man pages and shell completions of the Debian package,
//! generated from the clap definitions the binary parses with, so they
//! cannot drift from its flags. Writes into the directory given:
//! `man/ipfix-flow-exporter.1` (and one page per subcommand,
//! `ipfix-flow-exporter-run.1`...), `completions/ipfix-flow-exporter.bash`,
//! `_ipfix-flow-exporter` (zsh) and `ipfix-flow-exporter.fish`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::CommandFactory;
use clap_complete::Shell;
use ipfix_flow_exporter::cli::Cli;

fn main() -> Result<()> {
    let out = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .context("usage: dist_assets OUT_DIR")?;
    man_pages(&out.join("man"))?;
    completions(&out.join("completions"))
}

fn man_pages(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let cmd = Cli::command();
    // One page for the command, one per subcommand (`man ipfix-flow-exporter-run`).
    clap_mangen::generate_to(cmd, dir).with_context(|| format!("writing into {}", dir.display()))
}

fn completions(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let mut cmd = Cli::command();
        let name = cmd.get_name().to_owned();
        clap_complete::generate_to(shell, &mut cmd, name, dir)
            .with_context(|| format!("writing the {shell} completion into {}", dir.display()))?;
    }
    Ok(())
}
