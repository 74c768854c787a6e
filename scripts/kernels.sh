#!/usr/bin/env bash
# The kernel matrix (`make kernels`; README.md, "Kernels"): the kernel tests
# (BPF_PROG_TEST_RUN), the object rules and end-to-end runs on a veth, inside
# a qemu guest per kernel, on Debian 12's own kernel packages.
#
# Each kernel's linux-image-<release>-unsigned package is downloaded with
# apt-get and unpacked under $KERNELS_DIR/<release> (never installed on the
# host), once; depmod indexes its modules there, where virtme-ng finds them
# (it looks for lib/modules/<release> above the vmlinuz it boots). The test
# binaries are built here first, so that the guests only run them. Each guest
# boots with software emulation (TCG: stock kernels hang on this machine's
# paravirtual /dev/kvm) over the host root filesystem (9p), runs
# scripts/kernels-guest.sh, and writes its results to $KERNELS_DIR/results/
# <release>/. Fails if any kernel fails or leaves no result.
#
# KERNELS: the releases to run (default: Debian 12's 6.1 and 6.12).
# KERNEL_TIMEOUT: seconds one guest may take, boot included (default 900).
set -euo pipefail

cd "$(dirname "$0")/.."
KERNELS=${KERNELS:-"6.1.0-57-amd64 6.12.118+deb12-amd64"}
KERNEL_TIMEOUT=${KERNEL_TIMEOUT:-900}
VNG=${VNG:-/opt/virtme-ng/bin/vng}
target=$(realpath -m "${CARGO_TARGET_DIR:-target}")
KERNELS_DIR=${KERNELS_DIR:-$target/kernels}
# What the guests run: everything that loads the objects into the kernel
# (lib unit tests of the test-run wrapper, tests/kernel_datapath/,
# tests/object_rules.rs) and the standalone `run` end to end.
test_files=(kernel_datapath object_rules e2e_run e2e_lifecycle)
test_targets=(--lib)
for t in "${test_files[@]}"; do
    test_targets+=(--test "$t")
done

if [ "$(id -u)" -ne 0 ]; then
    echo "kernels: run as root (apt-get download, the guests' BPF tests)" >&2
    exit 1
fi
if [ ! -x "$VNG" ]; then
    echo "kernels: $VNG missing; run scripts/setup.sh" >&2
    exit 1
fi
# vng runs virtme-run from its own venv.
PATH=$(dirname "$VNG"):$PATH

# Unpacks linux-image-$1-unsigned into $KERNELS_DIR/$1, once.
fetch_kernel() {
    local release=$1 pkg="linux-image-$1-unsigned" root="$KERNELS_DIR/$1"
    if [ -f "$root/package" ]; then
        return
    fi
    local debs="$KERNELS_DIR/debs" tmp="$KERNELS_DIR/.unpack-$release"
    mkdir -p "$debs"
    rm -f "$debs/${pkg}_"*.deb
    (cd "$debs" && apt-get download -q "$pkg") || {
        echo "kernels: apt-get download $pkg failed (is it in the apt sources? apt-cache search linux-image | grep unsigned)" >&2
        return 1
    }
    rm -rf "$tmp" "$root"
    dpkg-deb -x "$debs/${pkg}_"*.deb "$tmp"
    depmod -b "$tmp" "$release"
    # Written last: its presence marks a complete unpack.
    dpkg-deb -f "$debs/${pkg}_"*.deb Package Version >"$tmp/package"
    mv "$tmp" "$root"
}

for k in $KERNELS; do
    fetch_kernel "$k"
done

echo "kernels: building the test binaries"
mapfile -t tests < <(
    cargo test --no-run --message-format=json "${test_targets[@]}" |
        jq -r 'select(.reason == "compiler-artifact" and .profile.test and .executable != null) | .executable'
)
if [ "${#tests[@]}" -ne $((${#test_files[@]} + 1)) ]; then
    echo "kernels: expected $((${#test_files[@]} + 1)) test binaries, cargo built ${#tests[@]}: ${tests[*]}" >&2
    exit 1
fi

guest=
stop_guest() {
    if [ -n "$guest" ]; then
        kill -TERM "$guest" 2>/dev/null || true
        wait "$guest" 2>/dev/null || true
        guest=
    fi
}
trap stop_guest EXIT
trap 'stop_guest; exit 130' INT TERM

failed=()
matrix_start=$SECONDS
# Boots kernel $1 and runs the tests in it; sets vng_status.
run_guest() {
    local k=$1 results=$2
    rm -rf "$results"
    mkdir -p "$results"
    # timeout signals its whole process group (vng, qemu) when it expires.
    timeout --kill-after=20 "$KERNEL_TIMEOUT" \
        "$VNG" --disable-kvm --force-9p --run "$KERNELS_DIR/$k/boot/vmlinuz-$k" \
        --memory 4G --cpus 2 --cwd "$PWD" --rwdir="$results" \
        --exec "bash $PWD/scripts/kernels-guest.sh $results ${tests[*]}" \
        >"$results/console.log" 2>&1 </dev/null &
    guest=$!
    vng_status=0
    wait "$guest" || vng_status=$?
    guest=
}

for k in $KERNELS; do
    results="$KERNELS_DIR/results/$k"
    echo "kernels: $k ($(tr '\n' ' ' <"$KERNELS_DIR/$k/package"))"
    start=$SECONDS
    run_guest "$k" "$results"
    # A guest that died before the tests could say anything (no rc, vng
    # failed: qemu went away under software emulation, seen once here,
    # mid-test and with nothing on the console) is booted once more; a
    # test that failed wrote its rc and is never run again.
    if [ ! -f "$results/rc" ] && [ "$vng_status" -ne 0 ] && [ "$vng_status" -ne 124 ]; then
        echo "kernels: $k: the guest died after $((SECONDS - start))s without a result (vng: $vng_status, tests so far:" \
            "$(tr '\n' ';' <"$results/summary" 2>/dev/null)); booting it once more" >&2
        rm -rf "$results.died"
        mv "$results" "$results.died"
        run_guest "$k" "$results"
    fi
    took=$((SECONDS - start))
    booted=$(cat "$results/uname" 2>/dev/null || echo "none")
    rc=$(cat "$results/rc" 2>/dev/null || echo "none")
    if [ -f "$results/summary" ]; then
        sed 's/^/    /' "$results/summary"
    fi
    # What skipped on this kernel, and why (the tests name it).
    grep -h '^SKIP' "$results"/*.log 2>/dev/null | sort -u | sed 's/^/    /' || true
    if [ "$booted" != "$k" ] || [ "$rc" != 0 ] || [ "$vng_status" -ne 0 ]; then
        echo "kernels: $k FAILED after ${took}s (booted: $booted, guest rc: $rc, vng: $vng_status; $results)" >&2
        for log in "$results"/*.log; do
            if grep -qE '^test result: FAILED|panicked|error' "$log"; then
                echo "--- $log" >&2
                tail -n 40 "$log" >&2
            fi
        done
        failed+=("$k")
    else
        echo "kernels: $k passed in ${took}s"
    fi
done

echo "kernels: matrix took $((SECONDS - matrix_start))s"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "kernels: failed on ${failed[*]}" >&2
    exit 1
fi
echo "kernels: passed on $KERNELS"
