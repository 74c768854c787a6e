//! SIGHUP in a standalone `run`: what a configuration read again may
//! change while the run goes on, and what only a restart can. Pure.
//!
//! A reload applies the interfaces to meter, the collectors and JSON
//! output, the session settings (MTU, template refresh, TCP queue and
//! reconnect, sysUpTime elements, observation domain) and the active
//! timeout. What was loaded, pinned or bound at start — the directions,
//! the maps' size and allocation, the attach mode, the pin directory, the
//! sampling, the clock, the idle timeout (the flowIds' memory), the
//! metrics socket — and whether the run meters one plain interface (its
//! pin directory, lock and domain) are fixed: a reload that changes any of
//! them is refused whole, naming each, and the run goes on as it was.

use crate::config::RunConfig;
use crate::daemon::Reloaded;

/// What `new` changes of `old` that only a restart can, as flag names
/// (`--max-flows`); empty when the reload may go ahead.
pub fn restart_only(old: &RunConfig, new: &RunConfig) -> Vec<&'static str> {
    let (o, n) = (&old.export, &new.export);
    [
        (
            old.interfaces.single() != new.interfaces.single(),
            "--iface",
        ),
        (old.directions != new.directions, "--direction"),
        (old.max_flows != new.max_flows, "--max-flows"),
        (old.flow_map_alloc != new.flow_map_alloc, "--flow-map-alloc"),
        (old.attach != new.attach, "--attach"),
        (old.pin_dir != new.pin_dir, "--pin-path"),
        (old.sample_period != new.sample_period, "--sample-period"),
        (old.sample_mode != new.sample_mode, "--sample-mode"),
        (o.clock != n.clock, "--clock"),
        (o.idle_timeout != n.idle_timeout, "--idle-timeout"),
        (o.metrics_listen != n.metrics_listen, "--metrics-listen"),
    ]
    .into_iter()
    .filter_map(|(changed, flag)| changed.then_some(flag))
    .collect()
}

/// `new` as a reload of a run configured with `old`, or the error to log.
pub fn reload(old: &RunConfig, new: &RunConfig) -> Result<Reloaded, String> {
    let fixed = restart_only(old, new);
    if !fixed.is_empty() {
        return Err(format!(
            "{} changed, which takes a restart",
            fixed.join(", ")
        ));
    }
    Ok(Reloaded {
        export: new.export.clone(),
        interfaces: new.interfaces.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};

    fn cfg(args: &[&str]) -> RunConfig {
        let argv: Vec<String> = ["ipfix-flow-exporter", "run"]
            .iter()
            .chain(args)
            .map(|s| s.to_string())
            .collect();
        let Command::Run(a) = Cli::parse_with_config(&argv).unwrap().command else {
            panic!("not run")
        };
        RunConfig::from_args(&a).unwrap()
    }

    #[test]
    fn interfaces_collectors_and_session_settings_reload() {
        let old = cfg(&["--iface", "veth*", "--collector", "192.0.2.1"]);
        let new = cfg(&[
            "--iface",
            "veth*",
            "--iface",
            "eth0",
            "--exclude-iface",
            "veth9",
            "--collector",
            "tcp://192.0.2.2",
            "--output",
            "json",
            "--mtu",
            "1200",
            "--active-timeout",
            "2s",
            "--observation-domain-id",
            "7",
        ]);
        assert_eq!(restart_only(&old, &new), Vec::<&str>::new());
        let r = reload(&old, &new).unwrap();
        assert_eq!(r.interfaces, new.interfaces);
        assert_eq!(r.export, new.export);
    }

    #[test]
    fn what_was_loaded_pinned_or_bound_at_start_is_named_and_refused() {
        let old = cfg(&["--iface", "veth*", "--collector", "192.0.2.1"]);
        let new = cfg(&[
            "--iface",
            "veth*",
            "--collector",
            "192.0.2.1",
            "--max-flows",
            "4096",
            "--clock",
            "precise",
            "--metrics-listen",
            "127.0.0.1:9464",
            "--idle-timeout",
            "5s",
        ]);
        assert_eq!(
            reload(&old, &new).unwrap_err(),
            "--max-flows, --clock, --idle-timeout, --metrics-listen changed, which takes a restart"
        );
    }

    #[test]
    fn a_one_interface_run_stays_one() {
        let one = cfg(&["--iface", "eth0", "--collector", "192.0.2.1"]);
        let other = cfg(&["--iface", "eth1", "--collector", "192.0.2.1"]);
        let many = cfg(&["--iface", "eth*", "--collector", "192.0.2.1"]);
        // Another plain interface has another pin directory too.
        assert_eq!(restart_only(&one, &other), ["--iface", "--pin-path"]);
        assert_eq!(restart_only(&one, &many), ["--iface", "--pin-path"]);
        assert_eq!(restart_only(&one, &one), Vec::<&str>::new());
    }
}
