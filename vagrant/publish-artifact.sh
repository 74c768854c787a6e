#!/usr/bin/env bash
# Publishes an artifact where l3afd fetches it:
#   $REPO_DIR/<name>/<version>/<codename>/<artifact>
# (l3afd: <[ebpf-repo] url>/<name>/<version>/<lsb_release -cs>/<artifact>).
#
#   publish-artifact.sh [TARBALL]
#
# TARBALL defaults to $CARGO_TARGET_DIR/l3af/l3af_bpf_ipfix.tar.gz (what
# build-package.sh writes). Environment, with defaults:
#   REPO_DIR   /srv/l3afd            the package repository (vagrant/l3afd.cfg)
#   NAME       ipfix-flow-exporter   the program's name in the payload
#   VERSION    the payload's "version" (l3af/payload.json)
#   ARTIFACT   the payload's "artifact", or TARBALL's file name when NAME is not ours
#   CODENAME   lsb_release -cs
#   BPF_DIR    /dev/shm              l3afd's bpf-dir, only to warn about a stale unpacked copy
# Prints the published path on its last line.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

NAME=${NAME:-$PKG_NAME}
if [ "$NAME" = "$PKG_NAME" ]; then
    VERSION=${VERSION:-$(payload_value .version)}
    ARTIFACT=${ARTIFACT:-$(payload_value .artifact)}
fi
TARBALL=${1:-${CARGO_TARGET_DIR:-$SRC_DIR/target}/l3af/${ARTIFACT:-l3af_bpf_ipfix.tar.gz}}
[ -f "$TARBALL" ] || die "no artifact at $TARBALL (run build-package.sh first)"
ARTIFACT=${ARTIFACT:-$(basename "$TARBALL")}
[ -n "${VERSION:-}" ] || die "VERSION is not set"
CODENAME=$(codename)
[ -n "$CODENAME" ] || die "no distribution code name (lsb_release -cs)"

dest_dir=$REPO_DIR/$NAME/$VERSION/$CODENAME
dest=$dest_dir/$ARTIFACT
install -d -m 0755 "$dest_dir"
# Copy then rename: l3afd never reads a half-written artifact.
trap 'rm -f "$dest.tmp.$$"' EXIT
install -m 0644 "$TARBALL" "$dest.tmp.$$"
mv -f "$dest.tmp.$$" "$dest"

# l3afd unpacks to <bpf-dir>/<name>/<version>/<artifact without extensions>/
# and reuses that directory while it exists.
unpacked=$BPF_DIR/$NAME/$VERSION/${ARTIFACT%%.*}
if [ -d "$unpacked" ]; then
    warn "l3afd keeps using $unpacked; delete the program and that directory (redeploy.sh does) to load this build"
fi
say "published $TARBALL"
printf '%s\n' "$dest"
