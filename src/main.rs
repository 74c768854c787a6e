use std::process::ExitCode;

use clap::Parser;
use ipfix_flow_exporter::cli::{Cli, Command};
use ipfix_flow_exporter::collect;
use ipfix_flow_exporter::config::{CollectConfig, RunConfig};
use ipfix_flow_exporter::standalone;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            // One line naming the flag and the value.
            let text = e.to_string();
            eprintln!("{}", text.lines().next().unwrap_or("invalid arguments"));
            return ExitCode::from(2);
        }
    };
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(level)).init();

    let result = match &cli.command {
        Command::Run(args) => RunConfig::from_args(args)
            .map_err(anyhow::Error::from)
            .and_then(|cfg| standalone::run(&cfg)),
        Command::Collect(args) => CollectConfig::from_args(args)
            .map_err(anyhow::Error::from)
            .and_then(|cfg| collect::run(&cfg)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
