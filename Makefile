# Tally: `make run` starts a dev server; `make test` runs every check and test.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

# Debian packages the build, the tests and `tallyd dev` need.
SYSTEM_PACKAGES := git ca-certificates python3 protobuf-compiler libprotobuf-dev openssl postgresql libpq-dev pkg-config
LINT_PATHS := Package.swift $(filter-out Sources/TallyProto,$(wildcard Sources/*)) Tests Benchmarks/Package.swift Benchmarks/Sources Benchmarks/Tests Benchmarks/GRPCBaseline/Package.swift \
  Benchmarks/GRPCBaseline/Sources Benchmarks/WireScan
DEV_DIR ?= .dev
DEV_PORT ?= 7443
FUZZ_SECONDS ?= 60

.PHONY: run test deps build lint check-generated unit-tests smoke bench-smoke bench fuzz clean
# The stages share .build, the cores and the dev clusters: one at a time, even under make -j.
.NOTPARALLEL:

# The server and the CLI only (no tests), then a dev server with its own PostgreSQL in $(DEV_DIR),
# whose demo tenant gets the demo data set on its first start.
run: deps
	swift build --product tallyd
	swift build --product tally
	scripts/run-dev $(DEV_DIR) $(DEV_PORT)

test: deps check-generated lint build unit-tests smoke bench-smoke fuzz

deps:
	@scripts/install-system-packages $(SYSTEM_PACKAGES)

check-generated:
	scripts/check-generated-code

lint:
	swift format lint --strict --recursive --parallel $(LINT_PATHS)

# Builds everything and fails on any warning in the project's own code.
build:
	swift build --build-tests 2>&1 | tee .build-warnings.log
	@if grep -E '^/.*/(Sources|Tests)/.*warning:' .build-warnings.log | grep -v '/.build/'; then \
	  echo "build: the warnings above must be fixed" >&2; rm -f .build-warnings.log; exit 1; fi
	@rm -f .build-warnings.log

# Unit and end-to-end tests, against a throwaway PostgreSQL cluster removed afterwards.
unit-tests:
	scripts/with-test-postgres swift test --skip-build

# The binaries as a person uses them: tallyd dev, tally with no flags, SIGTERM.
smoke:
	scripts/smoke-test

# tally-bench against a fresh dev server: one second per shape (make test), or the full release
# runs docs/BENCHMARKS.md quotes (make bench; JSON results in bench-results/full/).
bench-smoke:
	scripts/bench smoke

bench:
	scripts/bench

fuzz:
	scripts/fuzz $(FUZZ_SECONDS)

clean:
	rm -rf .build .build-protoc .build-fuzz
