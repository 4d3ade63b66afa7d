# fundledger: the commands a newcomer and CI need. Everything builds with --locked from Cargo.lock.
CARGO ?= cargo
DATA_DIR ?= ./data

.PHONY: run test check bench demo fmt

## run: release build, then serve on 127.0.0.1:50051 with demo data (seeded on the first start).
run:
	$(CARGO) run --locked --release -- serve --data-dir $(DATA_DIR) --listen 127.0.0.1:50051 --demo

## test: every test in the workspace (unit, property, integration, doc). Benches are compiled and
## linted by `make check` and run by `make bench`, not here: they take minutes.
test:
	$(CARGO) test --locked --workspace --no-fail-fast --lib --bins --tests --examples
	$(CARGO) test --locked --workspace --doc

## check: formatting and clippy with warnings denied, on every target.
check:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings

## bench: the benchmarks with their same-run peers (figures go to docs/PERFORMANCE.md).
bench:
	$(CARGO) bench --locked --workspace

## demo: write the demo history (seed 1, 3 years) into DATA_DIR, which must be empty.
demo:
	$(CARGO) run --locked --release -- demo --data-dir $(DATA_DIR) --seed 1 --years 3

fmt:
	$(CARGO) fmt --all
