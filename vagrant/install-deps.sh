#!/usr/bin/env bash
# Installs what the dev environment needs on Ubuntu 22.04 (jammy): the build
# dependencies of this crate, of l3afd and of tc-root, nfdump, Prometheus and
# Grafana, the Go toolchain (for l3afd) and, for RUST_USER, Rust through rustup.
# Idempotent; run as root.
#
#   install-deps.sh [--print-packages]
#
# Environment, with defaults (l3af-arch's choices):
#   GRAFANA_VERSION  10.4.1   the dl.grafana.com .deb
#   GO_VERSION       (newest) e.g. go1.24.4; empty: the first release https://go.dev/dl/?mode=json lists
#   RUST_USER        vagrant  who gets rustup (the build runs as this user)
#   RUST_TOOLCHAIN   stable
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

GRAFANA_VERSION=${GRAFANA_VERSION:-10.4.1}
GO_VERSION=${GO_VERSION:-}
RUST_USER=${RUST_USER:-vagrant}
RUST_TOOLCHAIN=${RUST_TOOLCHAIN:-stable}
kernel=$(uname -r)

packages=(
    # fetching and scripting
    ca-certificates curl git jq lsb-release iproute2 python3
    # this crate (scripts/setup.sh's build packages) and the linker rustc uses
    build-essential clang llvm make pkg-config libelf-dev zlib1g-dev
    # bpftool: l3af/check-artifact, and tc-root's vmlinux.h
    linux-tools-common linux-tools-generic "linux-tools-$kernel"
    # tc-root (eBPF-Package-Repository): bpf/bpf_helpers.h and the kernel's headers directory
    libbpf-dev "linux-headers-$kernel"
    # the collector
    nfdump
    # metrics; Grafana's .deb needs the last three
    prometheus prometheus-node-exporter adduser libfontconfig1 musl
)

if [ "${1:-}" = --print-packages ]; then
    printf '%s\n' "${packages[@]}"
    exit 0
fi
[ "$(id -u)" -eq 0 ] || die "run as root"
export DEBIAN_FRONTEND=noninteractive TZ=Etc/UTC
arch=$(dpkg --print-architecture)

say "apt packages"
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null

if [ "$(dpkg-query -W -f='${Version}' grafana 2>/dev/null || true)" != "$GRAFANA_VERSION" ]; then
    say "Grafana $GRAFANA_VERSION"
    deb=$(mktemp -d)/grafana_${GRAFANA_VERSION}_$arch.deb
    curl -fsSL -o "$deb" "https://dl.grafana.com/oss/release/grafana_${GRAFANA_VERSION}_$arch.deb"
    dpkg -i "$deb" >/dev/null
    rm -rf "$(dirname "$deb")"
fi

if [ -z "$GO_VERSION" ]; then
    GO_VERSION=$(curl -fsSL 'https://go.dev/dl/?mode=json' | jq -r '.[0].version')
fi
if [ "$(/usr/local/go/bin/go env GOVERSION 2>/dev/null || true)" != "$GO_VERSION" ]; then
    say "Go $GO_VERSION in /usr/local/go"
    rm -rf /usr/local/go
    curl -fsSL "https://go.dev/dl/$GO_VERSION.linux-$arch.tar.gz" | tar -C /usr/local -xz
fi
# l3afd's go.mod may ask for a newer Go: let the go command fetch it.
/usr/local/go/bin/go env -w GOTOOLCHAIN="$GO_VERSION+auto"
# shellcheck disable=SC2016 # expanded at login, not here
echo 'export PATH=$PATH:/usr/local/go/bin' >/etc/profile.d/go.sh

if id "$RUST_USER" >/dev/null 2>&1; then
    home=$(getent passwd "$RUST_USER" | cut -d: -f6)
    if [ -x "$home/.cargo/bin/rustup" ]; then
        say "Rust $RUST_TOOLCHAIN for $RUST_USER (update)"
        sudo -u "$RUST_USER" -H "$home/.cargo/bin/rustup" -q toolchain install --profile minimal "$RUST_TOOLCHAIN"
    else
        say "Rust $RUST_TOOLCHAIN for $RUST_USER (rustup)"
        curl -fsSL https://sh.rustup.rs |
            sudo -u "$RUST_USER" -H sh -s -- -y -q --profile minimal --default-toolchain "$RUST_TOOLCHAIN"
    fi
else
    warn "no user $RUST_USER: Rust not installed"
fi
