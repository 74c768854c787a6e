use std::process::ExitCode;

use ipfix_flow_exporter::cli::{Cli, CliError, Command};
use ipfix_flow_exporter::config::{CollectConfig, RunConfig};
use ipfix_flow_exporter::{collect, l3afd, logging, standalone};

/// `run`'s configuration read again from the same command line (and the
/// `--config` file it names, which may have changed): SIGHUP.
fn reread(argv: &[String]) -> anyhow::Result<RunConfig> {
    match Cli::parse_with_config(argv) {
        Ok(Cli {
            command: Command::Run(args),
            ..
        }) => Ok(RunConfig::from_args(&args)?),
        Ok(_) => anyhow::bail!("not a run command line"),
        Err(CliError::Clap(e)) => Err(anyhow::anyhow!(
            "{}",
            e.to_string().lines().next().unwrap_or("invalid arguments")
        )),
        Err(e) => Err(e.into()),
    }
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    let argv0 = argv.first().cloned().unwrap_or_default();
    // Copied into the l3afd artifact as bpf_ipfix_ingress / bpf_ipfix_egress:
    // l3afd's --key=value arguments, its log directory, its pins.
    if l3afd::is_l3afd_invocation(&argv0) {
        return match l3afd::main(&argv0, &argv[1..]) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        };
    }

    let cli = match Cli::parse_with_config(&argv) {
        Ok(c) => c,
        Err(CliError::Clap(e)) => {
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
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    logging::to_stderr(match cli.verbose {
        0 => log::LevelFilter::Warn,
        1 => log::LevelFilter::Info,
        _ => log::LevelFilter::Debug,
    });

    let result = match &cli.command {
        Command::Run(args) => RunConfig::from_args(args)
            .map_err(anyhow::Error::from)
            .and_then(|cfg| standalone::run(&cfg, &|| reread(&argv))),
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
