#!/usr/bin/env bash
# Runs the integration tests that need something from outside cargo (`make test` calls this after
# the plain `cargo test`, which reports them as ignored). Each group below names a prerequisite,
# how to check it and the test-name filter that selects its tests. Every group whose prerequisite
# is present runs; a missing one is reported as SKIPPED on the last line (never as passed), and
# fails the run under CI=true. An ignored test that belongs to no group fails the run: it would
# otherwise never run anywhere.
set -uo pipefail
cd "$(dirname "$0")/.."

python="${QUIRE_TEST_PYTHON:-python3}"
moto="${QUIRE_TEST_MOTO:-moto_server}"

have_postgres() {
  pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null &&
    { [ -n "${QUIRE_TEST_PG_BIN:-}" ] || compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; }
}
have_moto() { command -v "$moto" >/dev/null; }
have_biscuit_python() { "$python" -c 'import biscuit_auth' 2>/dev/null; }
have_shared_pdfs() { [ -d ../shared/testdata/pdfs ]; }

# filter | check | what is missing when the check fails
groups=(
  "postgres|have_postgres|PostgreSQL at 127.0.0.1:5432 and its server binaries (/usr/lib/postgresql/*/bin)"
  "s3::|have_moto|moto_server ($moto)"
  "biscuit_python|have_biscuit_python|biscuit-python ($python -c 'import biscuit_auth')"
  "testdata::|have_shared_pdfs|the real-world PDF corpus (../shared/testdata/pdfs)"
)

ignored=$(cargo test --quiet --test it -- --ignored --list --format terse 2>/dev/null | sed -n 's/: test$//p')
if [ -z "$ignored" ]; then
  echo "error: could not list the ignored tests (does the suite build?)" >&2
  exit 1
fi

filters=()
skipped=()
all_filters=()
for g in "${groups[@]}"; do
  IFS='|' read -r filter check missing <<<"$g"
  all_filters+=("$filter")
  count=$(grep -cF -- "$filter" <<<"$ignored")
  if "$check"; then
    filters+=("$filter")
  else
    skipped+=("$filter ($count ignored tests) did not run: missing $missing")
  fi
done

orphans=$(grep -vF "${all_filters[@]/#/-e}" <<<"$ignored" || true)
if [ -n "$orphans" ]; then
  echo "error: ignored tests that no prerequisite group runs (name them after a group in tests/prerequisites.sh):" >&2
  echo "$orphans" >&2
  exit 1
fi

status=0
if [ ${#filters[@]} -gt 0 ]; then
  cargo test --test it -- --ignored "${filters[@]}" || status=$?
fi

if [ ${#skipped[@]} -gt 0 ]; then
  for s in "${skipped[@]}"; do echo "SKIPPED: $s"; done
  if [ -n "${CI:-}" ] && [ "${CI}" != "false" ]; then
    echo "error: CI must run every test; install or start what is missing (.ci/run does)" >&2
    status=1
  fi
fi
exit $status
