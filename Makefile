# The one test command: `make test`. It prepares what the tests need that cargo cannot (a Python
# venv with biscuit-python for the cross-implementation token test, moto's S3 server for the
# S3 test and schemathesis for the API fuzzing, the web project's packages),
# then runs every test: the Rust suite, Schemathesis against the debug server's OpenAPI
# document (tests/schemathesis.sh), the web client's unit tests and the browser end-to-end
# test against the real server.
#
# Tests that need something from outside (PostgreSQL, moto, biscuit-python, the real-world PDF
# corpus in ../shared) are `#[ignore]`d, so a plain `cargo test` reports them as ignored rather
# than passing; tests/prerequisites.sh runs each group whose prerequisite is present, prints
# SKIPPED for the others, and fails under CI=true when anything is missing.

TARGET ?= $(or $(CARGO_TARGET_DIR),target)
VENV := $(TARGET)/venv
QUIRE_BIN := $(abspath $(TARGET))/debug/quire

.PHONY: test test-rust test-web run check venv web-deps

test: test-rust test-web

test-rust: venv
	cargo test --workspace
	QUIRE_TEST_PYTHON=$(abspath $(VENV))/bin/python QUIRE_TEST_MOTO=$(abspath $(VENV))/bin/moto_server \
		tests/prerequisites.sh
	QUIRE_BIN=$(QUIRE_BIN) QUIRE_TEST_PYTHON=$(abspath $(VENV))/bin/python \
		QUIRE_TEST_SCHEMATHESIS=$(abspath $(VENV))/bin/schemathesis tests/schemathesis.sh

# The end-to-end test drives Debian's Chromium (/usr/bin/chromium) against the server binary
# built by test-rust.
# The debug server serves web/dist from disk; build it here so the end-to-end test always drives
# the current sources (cargo's build script skips the web build when it thinks nothing changed).
test-web: web-deps
	cd web && npm test
	cd web && npm run build
	cd web && QUIRE_BIN=$(QUIRE_BIN) npm run e2e

run:
	cargo run --release -- serve

check: web-deps
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
	cd web && npm run typecheck && npm run lint

# npm ci again whenever package-lock.json changed since the last install (npm writes
# node_modules/.package-lock.json on every install), so a pull never leaves stale packages.
web-deps:
	cd web && ([ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund)

venv: $(VENV)/.ready

$(VENV)/.ready: tests/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/requirements.txt
	touch $@
