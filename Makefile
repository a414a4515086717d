# The one test command: `make test`. It prepares what the tests need that cargo cannot
# (a Python venv with biscuit-python for the cross-implementation token test), then runs every
# test in the workspace.

TARGET ?= $(or $(CARGO_TARGET_DIR),target)
VENV := $(TARGET)/venv

.PHONY: test run check venv

test: venv
	QUIRE_TEST_PYTHON=$(abspath $(VENV))/bin/python cargo test --workspace

run:
	cargo run --release -- serve

check:
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings

venv: $(VENV)/.ready

$(VENV)/.ready:
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check biscuit-python==0.4.0
	touch $@
