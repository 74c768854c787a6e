#!/usr/bin/env bash
# Installs what building, testing and the demo need on Debian 12, and mounts
# bpffs. Idempotent; run as root.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
    echo "setup: run as root (apt-get, mount)" >&2
    exit 1
fi

packages=(
    # build: clang for the BPF objects, libelf/zlib for libbpf
    clang llvm make pkg-config libelf-dev zlib1g-dev
    # tests: namespaces and tc, traffic and references, independent decoders
    iproute2 iputils-ping ethtool nftables util-linux bpftool tshark nfdump pmacct python3
    # collect --format top is tested in a pseudo-terminal, a tmux pane
    tmux
    # the metrics test checks the page with promtool (Debian ships it here)
    prometheus
    # the vagrant/ scripts' tests: they read the payload, post it, are linted
    jq curl shellcheck ruby vagrant
    # the real-l3afd tests (make test-l3afd) and the systemd unit check
    lsb-release systemd
    # the kernel matrix (make kernels): qemu guests booted by virtme-ng,
    # which needs busybox, depmod and udev (without udev the guest's exit
    # status does not come back) and reads the kernel's version with file
    qemu-system-x86 busybox-static kmod udev file python3-venv
    # the Debian package (make deb): lintian, and man for systemd-analyze
    # verify's check of the unit's Documentation=
    lintian man-db
    # lint
    clang-format
)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    # tshark asks whether non-root users may capture: no.
    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! mountpoint -q /sys/fs/bpf; then
    mount -t bpf bpf /sys/fs/bpf
fi

if ! command -v cargo >/dev/null; then
    echo "setup: cargo not found; install Rust (https://rustup.rs)" >&2
    exit 1
fi

# The kernel matrix's guests (make kernels, scripts/kernels.sh).
virtme_ng_version=1.42
if [ "$(/opt/virtme-ng/bin/vng --version 2>/dev/null)" != "virtme-ng $virtme_ng_version" ]; then
    python3 -m venv /opt/virtme-ng
    /opt/virtme-ng/bin/pip install --quiet "virtme-ng==$virtme_ng_version"
fi

# The decoder's fuzz session in `make test` (`make fuzz`).
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked --quiet
fi

# The Debian package (`make deb`).
cargo_deb_version=3.6.2
if [ "$(cargo deb --version 2>/dev/null)" != "cargo-deb $cargo_deb_version" ]; then
    cargo install cargo-deb --locked --quiet --version "$cargo_deb_version"
fi
