# shellcheck shell=bash
# Helpers shared by the provisioning scripts in this directory; sourced, not run.
# The settings below have defaults that an environment variable overrides.

VAGRANT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# The crate's checkout (in the VM: the synced folder).
SRC_DIR=${SRC_DIR:-$(dirname "$VAGRANT_DIR")}
PAYLOAD=${PAYLOAD:-$SRC_DIR/l3af/payload.json}
DELETE_PAYLOAD=${DELETE_PAYLOAD:-$SRC_DIR/l3af/delete_payload.json}
# The kernel function's name in the payload, the package repository and the pins.
PKG_NAME=${PKG_NAME:-ipfix-flow-exporter}
# l3afd's [ebpf-repo] url is file://$REPO_DIR (vagrant/l3afd.cfg).
REPO_DIR=${REPO_DIR:-/srv/l3afd}
# l3afd's [l3afd] bpf-dir: where it unpacks artifacts.
BPF_DIR=${BPF_DIR:-/dev/shm}
# The collector (start-collector.sh): nfcapd's flow files, a new one this often.
FLOW_DIR=${FLOW_DIR:-/var/cache/nfdump/$PKG_NAME}
ROTATE_SECS=${ROTATE_SECS:-60}

say() { printf '==> %s\n' "$*"; }
warn() { printf '%s: warning: %s\n' "${0##*/}" "$*" >&2; }
die() {
    printf '%s: %s\n' "${0##*/}" "$*" >&2
    exit 1
}
# need COMMAND [PACKAGE]
need() {
    command -v "$1" >/dev/null 2>&1 || die "$1 not found${2:+ (Debian/Ubuntu package: $2)}"
}

# payload_value JQ_PATH: the one value JQ_PATH (e.g. .version) has in every
# $PKG_NAME program of $PAYLOAD, as a string. Fails when the programs disagree.
payload_value() {
    need jq jq
    [ -r "$PAYLOAD" ] || die "payload $PAYLOAD not readable"
    jq -er --arg n "$PKG_NAME" "
        [ .[].bpf_programs | to_entries[] | (.value // [])[]
          | select(.name == \$n) | $1 | tostring ] | unique
        | if length == 1 then .[0]
          else error(\"$1: expected one value for \(\$n), found \(.)\") end" "$PAYLOAD"
}

# The distribution code name, as l3afd computes it (lsb_release -cs).
codename() {
    if [ -n "${CODENAME:-}" ]; then
        printf '%s\n' "$CODENAME"
    else
        need lsb_release lsb-release
        lsb_release -cs
    fi
}

# The interface of the IPv4 default route (empty when there is none).
default_iface() {
    ip -o -4 route show default 2>/dev/null | awk '{ for (i = 1; i < NF; i++) if ($i == "dev") { print $(i + 1); exit } }'
}

# iface_ipv4 IFACE: its first IPv4 address (empty when it has none).
iface_ipv4() {
    ip -o -4 addr show dev "$1" 2>/dev/null | awk '{ split($4, a, "/"); print a[1]; exit }'
}

# The version as l3afd writes it in pin paths: dots become underscores.
pin_version() {
    printf '%s\n' "${1//./_}"
}
