#!/usr/bin/env bash
# Builds the l3afd artifact from the checkout and checks it (make package
# check-artifact, see l3af/README.md). Run as the user who owns the Rust
# toolchain (in the VM: vagrant, through rustup).
#
# Environment, with defaults:
#   SRC_DIR           the checkout (this script's parent directory)
#   CARGO_TARGET_DIR  $SRC_DIR/target   in the VM a directory of its own, off the synced folder
#   L3AF_OUT          $CARGO_TARGET_DIR/l3af   where the tarball goes
#   MAX_GLIBC         this machine's glibc: the binary must run on the l3afd host (this one)
#   MAKE              make
# Prints the tarball's path on its last line.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

# rustup puts cargo in ~/.cargo/bin, which a non-login shell may not have.
if ! command -v cargo >/dev/null 2>&1 && [ -r "$HOME/.cargo/env" ]; then
    # shellcheck source=/dev/null
    . "$HOME/.cargo/env"
fi
need cargo "rustup: https://rustup.rs"
need "${MAKE:-make}" make

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$SRC_DIR/target}
L3AF_OUT=${L3AF_OUT:-$CARGO_TARGET_DIR/l3af}
MAX_GLIBC=${MAX_GLIBC:-$(getconf GNU_LIBC_VERSION | awk '{print $2}')}
pkg_target_dir=$CARGO_TARGET_DIR/package
tarball=$L3AF_OUT/$(payload_value .artifact)

say "building $tarball from $SRC_DIR"
"${MAKE:-make}" -C "$SRC_DIR" package PKG_TARGET_DIR="$pkg_target_dir" L3AF_OUT="$L3AF_OUT"
[ -f "$tarball" ] || die "make package did not write $tarball"
say "checking it (glibc <= $MAX_GLIBC)"
# Through python3: a synced folder may not keep the executable bit.
python3 "$SRC_DIR/l3af/check-artifact" --bpf-dir "$pkg_target_dir/release/bpf" \
    --max-glibc "$MAX_GLIBC" "$tarball"
printf '%s\n' "$tarball"
