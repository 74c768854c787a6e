#!/usr/bin/env bash
# The guest side of the kernel matrix (scripts/kernels.sh): runs inside the
# virtme-ng guest, on the kernel under test, over the host's root filesystem.
# Runs each prebuilt test binary once, strict (nothing may skip for a missing
# tool or root), and writes to RESULTS_DIR (the guest's one writable export):
#   uname        the release the guest booted
#   <test>.log   each binary's output
#   summary      "<test> <exit status> <seconds>" per binary
#   rc           0 when every binary passed; written last
# The guest inherits no environment from the host: everything is set here.
# Usage: kernels-guest.sh RESULTS_DIR TEST_BINARY...
set -uo pipefail

results=${1:?usage: kernels-guest.sh RESULTS_DIR TEST_BINARY...}
shift
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export IPFIX_TESTS_STRICT=1 RUST_BACKTRACE=1

uname -r >"$results/uname"
if ! mountpoint -q /sys/fs/bpf; then
    mount -t bpf bpf /sys/fs/bpf || {
        echo "guest: cannot mount bpffs" >"$results/summary"
        echo 1 >"$results/rc"
        exit 1
    }
fi

rc=0
for exe in "$@"; do
    name=$(basename "$exe")
    name=${name%-*}
    start=$SECONDS
    # --show-output: the SKIP lines of passing tests reach the log.
    "$exe" --show-output >"$results/$name.log" 2>&1
    status=$?
    echo "$name $status $((SECONDS - start))s" >>"$results/summary"
    if [ "$status" -ne 0 ]; then
        rc=1
    fi
done
echo "$rc" >"$results/rc"
exit "$rc"
