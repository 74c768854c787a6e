#!/usr/bin/env bash
# After a code change: rebuild the artifact and have l3afd load the new build.
# l3afd reuses the unpacked artifact of a version for as long as it exists, so
# this deletes the program, removes that copy, publishes, and adds it again.
# From the host: vagrant provision --provision-with redeploy
# In the VM, as vagrant (it uses sudo where it must):
#
#   CARGO_TARGET_DIR=~/target ~/ipfix-flow-exporter/vagrant/redeploy.sh
#
# Environment, with defaults:
#   TARBALL   (build it with build-package.sh)   an artifact to deploy instead
#   SUDO      sudo, or nothing when run as root
# and those of build-package.sh, publish-artifact.sh and post-payload.sh.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -eq 0 ]; then
    SUDO=${SUDO-}
else
    SUDO=${SUDO-sudo}
fi
version=$(payload_value .version)
artifact=$(payload_value .artifact)

if [ -z "${TARBALL:-}" ]; then
    # The build's output goes on to stderr; its last line is the tarball.
    TARBALL=$(bash "$VAGRANT_DIR/build-package.sh" | tee /dev/stderr | tail -n 1)
fi
[ -f "$TARBALL" ] || die "no artifact at $TARBALL"

say "taking $PKG_NAME out of l3afd"
bash "$VAGRANT_DIR/post-payload.sh" delete || warn "delete failed (was it deployed?); going on"

unpacked=$BPF_DIR/$PKG_NAME/$version
say "removing l3afd's unpacked copy $unpacked"
$SUDO rm -rf "$unpacked"

$SUDO env REPO_DIR="$REPO_DIR" BPF_DIR="$BPF_DIR" PAYLOAD="$PAYLOAD" ${CODENAME:+CODENAME="$CODENAME"} \
    bash "$VAGRANT_DIR/publish-artifact.sh" "$TARBALL"

bash "$VAGRANT_DIR/post-payload.sh" add
say "redeployed $(basename "$TARBALL" .tar.gz) ($artifact, version $version); where-to-look.sh shows where to look"
