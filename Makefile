# SPDX-License-Identifier: Apache-2.0
# Thin wrapper: dependencies, build, the demo, the tests. CMake does the real work.
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
BUILD ?= build
FUZZ_SECONDS ?= 10

.PHONY: all deps browser-deps build packages check check-unit check-asan check-fuzz demo demo-clean bench-hsm bench-chip bench-line bench-cloud clean

all: build

deps:
	@bash scripts/deps.sh

# playwright-core for the dashboard's browser test (ctest -L browser), from
# tests/browser/package-lock.json; fails loudly when npm cannot install it.
browser-deps:
	@bash scripts/browser-deps.sh

build:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

# The factory bundle: Debian packages in $(BUILD)/packages/ (scripts/packages.sh).
packages: build
	@bash scripts/packages.sh $(BUILD)

# Every test: the normal build (with the dashboard's browser test), the same tests under
# ASan+UBSan, a short run of each libFuzzer harness.
check: deps build browser-deps check-unit check-asan check-fuzz
	@echo "make check: all test tiers passed"

check-unit: build
	ctest --test-dir $(BUILD) --output-on-failure -j$(JOBS) -LE fuzz

check-asan:
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DWRIT_SANITIZE=ON >/dev/null
	@cmake --build build-asan -j$(JOBS)
	LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	ctest --test-dir build-asan --output-on-failure -j$(JOBS) -LE 'fuzz|nosan'

check-fuzz:
	@cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DWRIT_FUZZ=ON \
		-DWRIT_FUZZ_SECONDS=$(FUZZ_SECONDS) >/dev/null
	@cmake --build build-fuzz -j$(JOBS) --target writ_fuzzers
	ctest --test-dir build-fuzz --output-on-failure -j$(JOBS) -L fuzz

demo: deps build
	@bash scripts/demo.sh

demo-clean:
	@if [ -f demo-run/cloud.pid ]; then kill "$$(cat demo-run/cloud.pid)" 2>/dev/null || true; fi
	rm -rf demo-run

bench-hsm: deps build
	@bash bench/bench_hsm.sh $(BUILD)

bench-chip: deps build
	@bash bench/bench_chip.sh $(BUILD)

bench-line: deps build
	@bash bench/bench_line.sh $(BUILD)

bench-cloud: deps build
	@bash bench/bench_cloud.sh $(BUILD)

clean:
	rm -rf build build-asan build-fuzz
