#!/usr/bin/env bash
# Builds and installs l3afd the way l3af-arch's dev environment does (source
# from GitHub, `make install`, /usr/local/l3afd/<version>/l3afd/ with `latest`
# links), builds tc-root and publishes it in the package repository, and runs
# l3afd as a systemd service with vagrant/l3afd.cfg. Idempotent; run as root.
#
# Environment, with defaults:
#   L3AFD_SRC      /root/l3afd    used as is when present (vagrant syncs a host checkout
#                                 there when config.yaml names one), else cloned:
#   L3AFD_REPO     https://github.com/l3af-project/l3afd.git
#   L3AFD_REF      main
#   EBPF_PKG_SRC   /root/eBPF-Package-Repository   likewise, cloned from
#   EBPF_PKG_REPO  https://github.com/l3af-project/eBPF-Package-Repository.git
#   EBPF_PKG_REF   main
#   ROOT_PROGRAMS  tc-root        add xdp-root to deploy XDP functions too
#   L3AFD_CFG      vagrant/l3afd.cfg
#   REPO_DIR       /srv/l3afd     must be the cfg's [ebpf-repo] url
#   CODENAME       lsb_release -cs
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

L3AFD_SRC=${L3AFD_SRC:-/root/l3afd}
L3AFD_REPO=${L3AFD_REPO:-https://github.com/l3af-project/l3afd.git}
L3AFD_REF=${L3AFD_REF:-main}
EBPF_PKG_SRC=${EBPF_PKG_SRC:-/root/eBPF-Package-Repository}
EBPF_PKG_REPO=${EBPF_PKG_REPO:-https://github.com/l3af-project/eBPF-Package-Repository.git}
EBPF_PKG_REF=${EBPF_PKG_REF:-main}
ROOT_PROGRAMS=${ROOT_PROGRAMS:-tc-root}
L3AFD_CFG=${L3AFD_CFG:-$VAGRANT_DIR/l3afd.cfg}
# [graceful-restart] basepath in vagrant/l3afd.cfg.
L3AFD_PREFIX=/usr/local/l3afd
export PATH=$PATH:/usr/local/go/bin

# cfg_value SECTION KEY: the value in $L3AFD_CFG (l3afd's "key: value" format).
cfg_value() {
    awk -v sec="[$1]" -v key="$2" '
        /^[ \t]*[#;]/ { next }
        /^[ \t]*\[/ { insec = ($1 == sec); next }
        insec {
            i = index($0, ":"); j = index($0, "=")
            if (j && (!i || j < i)) i = j
            if (!i) next
            k = substr($0, 1, i - 1); gsub(/[ \t]/, "", k)
            if (k != key) next
            v = substr($0, i + 1); gsub(/^[ \t]+|[ \t]+$/, "", v)
            print v; exit
        }' "$L3AFD_CFG"
}

# source_dir DIR URL REF: DIR, cloned first when it is not there.
source_dir() {
    if [ -d "$1" ]; then
        say "using $1 as it is"
    else
        need git git
        say "cloning $2 ($3) into $1"
        git clone -q --depth 1 --branch "$3" "$2" "$1"
    fi
}

[ -r "$L3AFD_CFG" ] || die "no l3afd config at $L3AFD_CFG"
repo_url=$(cfg_value ebpf-repo url)
[ "$repo_url" = "file://$REPO_DIR" ] ||
    die "$L3AFD_CFG: [ebpf-repo] url is '$repo_url', but artifacts are published in $REPO_DIR"

# --- l3afd ---------------------------------------------------------------
source_dir "$L3AFD_SRC" "$L3AFD_REPO" "$L3AFD_REF"
say "building l3afd (make install)"
make -C "$L3AFD_SRC" install
# l3afd's Makefile sets GOPATH=$HOME/go, so go install puts it here.
l3afd_bin=$HOME/go/bin/l3afd
[ -x "$l3afd_bin" ] || die "make install did not produce $l3afd_bin"
version=$(sed -n 's/.*main\.Version=\(v[0-9][0-9.]*\).*/\1/p' "$L3AFD_SRC/Makefile" | head -1)
version=${version:-dev}
install -d -m 0755 "$L3AFD_PREFIX/$version/l3afd" "$L3AFD_PREFIX/latest"
install -m 0755 "$l3afd_bin" "$L3AFD_PREFIX/$version/l3afd/l3afd"
install -m 0644 "$L3AFD_CFG" "$L3AFD_PREFIX/$version/l3afd/l3afd.cfg"
ln -sfn "$L3AFD_PREFIX/$version/l3afd/l3afd" "$L3AFD_PREFIX/latest/l3afd"
ln -sfn "$L3AFD_PREFIX/$version/l3afd/l3afd.cfg" "$L3AFD_PREFIX/latest/l3afd.cfg"
say "installed l3afd $version in $L3AFD_PREFIX/$version/l3afd (latest -> it)"

# --- tc-root (and any other root program) ----------------------------------
source_dir "$EBPF_PKG_SRC" "$EBPF_PKG_REPO" "$EBPF_PKG_REF"
for prog in $ROOT_PROGRAMS; do
    say "building $prog"
    rm -f "$EBPF_PKG_SRC/$prog"/*.tar.gz
    make -C "$EBPF_PKG_SRC/$prog"
    tarballs=("$EBPF_PKG_SRC/$prog"/*.tar.gz)
    if [ "${#tarballs[@]}" -ne 1 ] || [ ! -f "${tarballs[0]}" ]; then
        die "$prog: expected one .tar.gz, found: ${tarballs[*]}"
    fi
    # l3afd.cfg names these "version: latest".
    NAME=$prog VERSION=latest ARTIFACT=$(basename "${tarballs[0]}") \
        bash "$VAGRANT_DIR/publish-artifact.sh" "${tarballs[0]}"
done

# --- the service -------------------------------------------------------------
for dir in "$(cfg_value l3afd bpf-log-dir)" "$(dirname "$(cfg_value l3af-config-store filename)")"; do
    [ -z "$dir" ] || install -d -m 0755 "$dir"
done
# l3afd.cfg's pid-file, where systemd looks for it (/var/run is /run).
PID_FILE=$(cfg_value l3afd pid-file)
[ -n "$PID_FILE" ] || die "$L3AFD_CFG: [l3afd] pid-file is empty"
PID_FILE=${PID_FILE/#\/var\/run\//\/run\/}
cat >/etc/systemd/system/l3afd.service <<UNIT
[Unit]
Description=L3AF daemon: deploys eBPF kernel functions (dev environment)
Documentation=https://github.com/l3af-project/l3afd
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
ExecStart=$L3AFD_PREFIX/latest/l3afd --config $L3AFD_PREFIX/latest/l3afd.cfg
# l3afd's graceful restart (PUT /l3af/configs/v1/restart) starts its
# successor, which writes its PID here, and then exits: systemd reads the
# file when the main process exits and follows the new main PID instead of
# stopping the unit and killing the successor with it.
PIDFile=$PID_FILE
# On SIGTERM l3afd stops every program and daemon it started, within its
# shutdown-timeout (25s); whatever is left after that is killed.
KillMode=mixed
TimeoutStopSec=60
Restart=on-failure
RestartSec=5

[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable l3afd.service
systemctl restart l3afd.service
say "l3afd running: systemctl status l3afd, journalctl -u l3afd"
