//! Who this daemon is under l3afd: the direction comes from the name it was
//! started under (l3afd passes a wrong `--direction` after a graceful
//! restart), the program name from where l3afd unpacked the artifact:
//! `<bpf-dir>/<name>/<version>/<artifact-dir>/<binary>`. Each of the two
//! daemons of an interface is its own IPFIX exporter, with an observation
//! domain of its own.

use std::path::Path;

use crate::datapath::names::artifact_binary;
use crate::flow::Direction;

/// The function's name when the path does not tell.
pub const DEFAULT_NAME: &str = "ipfix-flow-exporter";

/// `bpf_ipfix_ingress` → ingress, `bpf_ipfix_egress` → egress.
pub fn direction_from_binary(argv0: &str) -> Option<Direction> {
    let base = Path::new(argv0).file_name()?.to_str()?;
    Direction::ALL
        .into_iter()
        .find(|d| artifact_binary(*d) == base)
}

/// The observation domain a daemon exports in unless
/// `--observation-domain-id` says otherwise: ifindex × 10 plus 1 for
/// ingress, plus 2 for egress. The two daemons l3afd runs for one interface
/// are then two exporters to a collector (nfdump keys exporters by source
/// address and observation domain; sharing one, their sequence numbers
/// collide), and an operator reads the interface and direction off the
/// number (81: ifindex 8, ingress). Wraps modulo 2^32 for an ifindex above
/// 429 496 728.
pub fn observation_domain(ifindex: u32, direction: Direction) -> u32 {
    let dir = match direction {
        Direction::Ingress => 1,
        Direction::Egress => 2,
    };
    (u64::from(ifindex) * 10 + dir) as u32
}

/// `<name>` of `<bpf-dir>/<name>/<version>/<artifact-dir>/<binary>`.
pub fn name_from_exe(exe: &Path) -> Option<String> {
    let name = exe.ancestors().nth(3)?.file_name()?.to_str()?;
    (!name.is_empty()).then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_binary_name_fixes_the_direction() {
        assert_eq!(
            direction_from_binary("/usr/local/l3afd/repo/x/1/l3af_bpf_ipfix/bpf_ipfix_egress"),
            Some(Direction::Egress)
        );
        assert_eq!(
            direction_from_binary("bpf_ipfix_ingress"),
            Some(Direction::Ingress)
        );
        assert_eq!(direction_from_binary("ipfix-flow-exporter"), None);
    }

    #[test]
    fn the_two_directions_of_an_interface_are_two_domains() {
        assert_eq!(observation_domain(8, Direction::Ingress), 81);
        assert_eq!(observation_domain(8, Direction::Egress), 82);
        let mut seen = std::collections::HashSet::new();
        for ifindex in 1..2000 {
            for d in Direction::ALL {
                assert!(seen.insert(observation_domain(ifindex, d)));
            }
        }
        // Wraps instead of overflowing.
        let _ = observation_domain(u32::MAX, Direction::Egress);
    }

    #[test]
    fn the_name_comes_from_the_artifact_path() {
        let exe = Path::new(
            "/var/l3afd/repo/ipfix-flow-exporter/latest/l3af_bpf_ipfix/bpf_ipfix_ingress",
        );
        assert_eq!(name_from_exe(exe).as_deref(), Some("ipfix-flow-exporter"));
        assert_eq!(
            name_from_exe(Path::new("/x/my-ipfix/2.1/l3af_bpf_ipfix/bpf_ipfix_egress")).as_deref(),
            Some("my-ipfix")
        );
        assert_eq!(name_from_exe(Path::new("bpf_ipfix_ingress")), None);
    }
}
