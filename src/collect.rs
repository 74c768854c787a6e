//! `collect`: receive IPFIX, decode, print.

use anyhow::Result;

use crate::config::CollectConfig;

pub fn run(cfg: &CollectConfig) -> Result<()> {
    anyhow::bail!("collect is not implemented yet ({} listeners)", cfg.listen.len())
}
