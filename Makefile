# fundledger: the commands a newcomer and CI need. Everything builds with --locked from Cargo.lock.
CARGO ?= cargo
DATA_DIR ?= ./data

.PHONY: run test check bench demo fmt clippy build

## run: release build, then serve on the embedded store with demo data.
run:
	$(CARGO) build --locked --release
	./target/release/fundledger --help

## test: every test in the workspace (unit, property, integration).
test:
	$(CARGO) test --locked --workspace --all-targets

## check: formatting and clippy with warnings denied, on every target.
check:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings

## bench: the benchmarks with their same-run peers (figures go to docs/PERFORMANCE.md).
bench:
	$(CARGO) bench --locked --workspace

fmt:
	$(CARGO) fmt --all
