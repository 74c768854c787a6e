# ipfix-flow-exporter. `make demo` and `make test` are the two front doors.

CARGO ?= cargo
BPF_SRC := $(wildcard bpf/*.h bpf/*.c)

.PHONY: all setup build release test lint fmt demo clean

all: build

setup:
	bash scripts/setup.sh

build:
	$(CARGO) build

release:
	$(CARGO) build --release

# Everything CI runs. Needs root (BPF, tc, namespaces); IPFIX_TESTS_STRICT
# turns any test that would skip into a failure.
test: setup
	IPFIX_TESTS_STRICT=1 $(CARGO) test --all-targets
	$(MAKE) lint

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings
	clang-format --dry-run --Werror $(BPF_SRC)

fmt:
	$(CARGO) fmt --all
	clang-format -i $(BPF_SRC)

demo: setup release
	bash scripts/demo.sh

clean:
	$(CARGO) clean
