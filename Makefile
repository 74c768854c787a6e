# ipfix-flow-exporter. `make demo` and `make test` are the two front doors.

CARGO ?= cargo
BPF_SRC := $(wildcard bpf/*.h bpf/*.c l3af/*/*.bpf.c benches/bpf/*.c)

.PHONY: all setup build release test lint fmt demo clean soak kernels

all: build

setup:
	bash scripts/setup.sh

build:
	$(CARGO) build

release:
	$(CARGO) build --release

# Everything CI runs. Needs root (BPF, tc, namespaces); IPFIX_TESTS_STRICT
# turns any test that would skip into a failure. The emulated-l3afd tests
# deploy the real artifact, so it is built and checked first, and the
# package test installs the Debian package (`make deb`); a bounded fuzz
# session of the decoder and the kernel matrix follow. Benchmarks (`make
# bench`) and the soak (`make soak`) are not part of it.
test: setup package check-artifact deb
	IPFIX_TESTS_STRICT=1 IPFIX_ARTIFACT=$(abspath $(L3AF_TARBALL)) IPFIX_DEB=$(abspath $(DEB)) \
		$(CARGO) test --lib --bins --tests
	$(MAKE) fuzz
	$(MAKE) kernels
	$(MAKE) lint

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings
	clang-format --dry-run --Werror $(BPF_SRC)
	shellcheck scripts/*.sh

fmt:
	$(CARGO) fmt --all
	clang-format -i $(BPF_SRC)

demo: setup release
	bash scripts/demo.sh

# Minutes of traffic with churn and collector restarts (SOAK_MINUTES, 10).
soak: setup
	$(CARGO) test --release --test soak

clean:
	$(CARGO) clean

# --- Kernel matrix (README.md, "Kernels") -----------------------------------
# `make kernels`: the kernel tests, the object rules and the end-to-end runs
# inside a qemu guest on each of Debian 12's kernels (6.1 without TCX, 6.12),
# from Debian's packages unpacked under target/kernels/ (never installed).
# About 4 min; KERNELS="<release> ..." picks others.
kernels: setup
	bash scripts/kernels.sh

# --- L3AF artifact (l3af/README.md) ------------------------------------------
# `make package` builds the libc-only binary (feature `static`; libelf.a and
# libz.a found through .cargo/config.toml) and writes $(L3AF_TARBALL).
# `make check-artifact` checks that tarball against DESIGN §3.
# Its own target directory: the static build does not evict `make release`.
PKG_TARGET_DIR ?= $(or $(CARGO_TARGET_DIR),target)/package
L3AF_OUT ?= $(or $(CARGO_TARGET_DIR),target)/l3af
L3AF_PKG := l3af_bpf_ipfix
L3AF_TARBALL := $(L3AF_OUT)/$(L3AF_PKG).tar.gz
L3AF_BPF_DIR := $(PKG_TARGET_DIR)/release/bpf
L3AF_FILES := bpf_ipfix_ingress bpf_ipfix_egress bpf_ipfix_ingress.bpf.o bpf_ipfix_egress.bpf.o
# Owner 0:0 and this mtime on every entry: the same inputs give the same bytes.
L3AF_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)

.PHONY: package check-artifact

package:
	$(CARGO) build --release --locked --features static --target-dir $(PKG_TARGET_DIR)
	rm -rf $(L3AF_OUT)/$(L3AF_PKG) $(L3AF_OUT)/$(L3AF_PKG).tar $(L3AF_TARBALL)
	install -d -m 0755 $(L3AF_OUT)/$(L3AF_PKG)
	install -m 0755 $(PKG_TARGET_DIR)/release/ipfix-flow-exporter $(L3AF_OUT)/$(L3AF_PKG)/bpf_ipfix_ingress
	install -m 0755 $(PKG_TARGET_DIR)/release/ipfix-flow-exporter $(L3AF_OUT)/$(L3AF_PKG)/bpf_ipfix_egress
	install -m 0644 $(L3AF_BPF_DIR)/bpf_ipfix_ingress.bpf.o $(L3AF_BPF_DIR)/bpf_ipfix_egress.bpf.o $(L3AF_OUT)/$(L3AF_PKG)/
	tar -C $(L3AF_OUT) -cf $(L3AF_OUT)/$(L3AF_PKG).tar --format=ustar --no-recursion \
		--owner=0 --group=0 --numeric-owner --mtime=@$(L3AF_EPOCH) \
		$(L3AF_PKG) $(addprefix $(L3AF_PKG)/,$(L3AF_FILES))
	gzip -9 -n $(L3AF_OUT)/$(L3AF_PKG).tar
	ldd $(L3AF_OUT)/$(L3AF_PKG)/bpf_ipfix_ingress
	@echo "wrote $(L3AF_TARBALL); publish it under <repo>/ipfix-flow-exporter/<version>/$$(lsb_release -cs 2>/dev/null || echo '<codename>')/"

check-artifact:
	l3af/check-artifact --bpf-dir $(L3AF_BPF_DIR) $(L3AF_TARBALL)

# --- Debian package (README.md, "A host service") ---------------------------
# `make deb`: the release binary (Debian's libelf and zlib, not the static
# one of the L3AF artifact), the systemd unit, example config and changelog
# of l3af/deb/, man pages and completions generated from the clap
# definitions; cargo-deb writes $(DEB).
DEB_OUT ?= $(or $(CARGO_TARGET_DIR),target)/debian
DEB := $(DEB_OUT)/ipfix-flow-exporter.deb
DEB_DIST := $(or $(CARGO_TARGET_DIR),target)/release/dist

.PHONY: deb

deb:
	$(CARGO) build --release --locked
	rm -rf $(DEB_DIST)
	$(CARGO) run --locked --quiet --example dist_assets -- $(DEB_DIST)
	gzip -9 -n $(DEB_DIST)/man/*.1
	$(CARGO) deb --no-build --locked --output $(DEB)

# --- Benchmarks ---------------------------------------------------------------
# Timing figures, never part of `make test`: as root, runs benches/bench/
# (kernel test runs, bench-only BPF variants, user-space drain and encode,
# veth throughput between namespaces, start to first export), prints a table
# and writes BENCHMARKS.md and $(BENCH_DIR)/results.json. Takes about 3 min.
BENCH_DIR ?= $(abspath $(or $(CARGO_TARGET_DIR),target))/bench

.PHONY: bench

bench: setup
	BENCH_OUT_DIR=$(BENCH_DIR) BENCH_PEERS='$(PEERS)' $(CARGO) bench --bench bench

# --- Fuzzing (fuzz/README.md) ------------------------------------------------
# `make fuzz`: bounded libFuzzer sessions of the IPFIX decoder, the TCP
# framer and the collecting process (`decoder`: one input every way), and of
# the collector's state (`collector_state`: sequences of messages from
# several exporters, sockets and transports into one collecting process),
# from seed corpora of our own encoder's messages. Fails on a crash, a
# broken bound, a 10 s input, a malloc over 64 MB or 1 GB of RSS. Needs
# cargo-fuzz (`cargo install cargo-fuzz --locked`); RUSTC_BOOTSTRAP=1 lets the
# stable toolchain take the -Z sanitizer flags cargo-fuzz passes.
FUZZ_SECONDS ?= 45
FUZZ_LIMITS := -timeout=10 -malloc_limit_mb=64 -rss_limit_mb=1024

.PHONY: fuzz

fuzz:
	$(CARGO) run --quiet --manifest-path fuzz/Cargo.toml --example seed_corpus -- \
		fuzz/corpus/decoder fuzz/corpus/collector_state
	cd fuzz && RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run decoder -- \
		-max_total_time=$(FUZZ_SECONDS) $(FUZZ_LIMITS) -max_len=16384
	cd fuzz && RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run collector_state -- \
		-max_total_time=$(FUZZ_SECONDS) $(FUZZ_LIMITS) -max_len=65536

# --- The real l3afd (tests/e2e_real_l3afd.rs, l3af/l3afd.pins) ---------------
# `make l3afd` builds every pinned l3afd version from its Go module into
# target/l3afd/<version>/bin/l3afd, once (a binary already there is kept).
# `make test-l3afd` runs the real-l3afd scenarios against each, one l3afd at
# a time. Not part of `make test` while the Go module proxy here refuses
# github.com/l3af-project/l3afd/v2 (403; l3af/README.md, "Tested with").
L3AFD_MODULE := github.com/l3af-project/l3afd/v2
L3AFD_PINS := $(shell grep -v '^\#' l3af/l3afd.pins | grep .)
L3AFD_DIR := $(abspath $(or $(CARGO_TARGET_DIR),target))/l3afd
L3AFD_BINS := $(foreach v,$(L3AFD_PINS),$(L3AFD_DIR)/$(v)/bin/l3afd)

.PHONY: l3afd test-l3afd

l3afd: $(L3AFD_BINS)

$(L3AFD_DIR)/%/bin/l3afd:
	GOBIN=$(L3AFD_DIR)/$*/bin go install $(L3AFD_MODULE)@$*

test-l3afd: setup package l3afd
	IPFIX_TESTS_STRICT=1 IPFIX_ARTIFACT=$(abspath $(L3AF_TARBALL)) \
		$(CARGO) test --test e2e_real_l3afd -- --test-threads=1
