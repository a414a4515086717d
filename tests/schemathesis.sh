#!/usr/bin/env bash
# Runs Schemathesis (property-based tests generated from the OpenAPI document) against a live
# debug server: every operation of /api/openapi.json is called with generated valid and invalid
# input, and the run fails on any server error (5xx) or any answer that does not match the
# document (status code, content type, body schema). `make test` calls this after the Rust suite.
#
# Backend routes get the API key, client routes a session token minted for an uploaded PDF
# (Schemathesis picks the credential by the operation's security scheme); the document routes'
# `{id}` is pinned to that document for reads, so they answer from a real document rather than
# only 404s. The server runs on a free port with a temporary data directory.
#
# Environment: QUIRE_BIN (the server binary, default target/debug/quire), QUIRE_TEST_SCHEMATHESIS
# (the schemathesis command, default `schemathesis`), SCHEMATHESIS_MAX_EXAMPLES (per operation,
# default 25). Without schemathesis it prints SKIPPED, and fails under CI=true (the rule of
# tests/prerequisites.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

bin="${QUIRE_BIN:-${CARGO_TARGET_DIR:-target}/debug/quire}"
st="${QUIRE_TEST_SCHEMATHESIS:-schemathesis}"
python="${QUIRE_TEST_PYTHON:-python3}"
examples="${SCHEMATHESIS_MAX_EXAMPLES:-25}"

if ! command -v "$st" >/dev/null; then
  echo "SKIPPED: schemathesis did not run: missing $st (pip install -r tests/requirements.txt)"
  if [ -n "${CI:-}" ] && [ "${CI}" != "false" ]; then
    echo "error: CI must run every test; install or start what is missing (.ci/run does)" >&2
    exit 1
  fi
  exit 0
fi
if [ ! -x "$bin" ]; then
  echo "error: no server binary at $bin (run cargo build first)" >&2
  exit 1
fi

tmp=$(mktemp -d)
server=""
cleanup() {
  if [ -n "$server" ]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

: >"$tmp/server.log"
key="schemathesis-$("$python" -c 'import secrets; print(secrets.token_hex(16))')"
QUIRE_API_KEY="$key" RUST_LOG=warn,quire=info "$bin" --log-format json serve \
  --listen 127.0.0.1:0 --data-dir "$tmp/data" 2>"$tmp/server.log" >/dev/null &
server=$!

# The server logs the address it bound; wait for it (at most 30 s).
addr=""
for _ in $(seq 300); do
  addr=$(sed -n 's/.*"message":"listening".*"addr":"\([^"]*\)".*/\1/p' "$tmp/server.log" | head -1)
  [ -n "$addr" ] && break
  if ! kill -0 "$server" 2>/dev/null; then break; fi
  sleep 0.1
done
if [ -z "$addr" ]; then
  echo "error: the server did not start; its log:" >&2
  cat "$tmp/server.log" >&2
  exit 1
fi
base="http://$addr"

# A one-page PDF, a session token for it and a webhook endpoint (a small Python client: no curl
# needed).
read -r token hook < <("$python" - "$base" "$key" <<'EOF'
import json, sys, urllib.request

base, key = sys.argv[1], sys.argv[2]
objects = [
    b"<< /Type /Catalog /Pages 2 0 R >>",
    b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>",
]
pdf = bytearray(b"%PDF-1.4\n")
offsets = []
for i, body in enumerate(objects, 1):
    offsets.append(len(pdf))
    pdf += b"%d 0 obj\n" % i + body + b"\nendobj\n"
xref = len(pdf)
pdf += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
for off in offsets:
    pdf += b"%010d 00000 n \n" % off
pdf += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)

def call(method, path, body, content_type):
    req = urllib.request.Request(base + path, data=body, method=method, headers={
        "Authorization": "Bearer " + key, "Content-Type": content_type})
    with urllib.request.urlopen(req, timeout=30) as res:
        return json.load(res)

call("POST", "/api/documents?id=sample&title=Sample", bytes(pdf), "application/pdf")
session = call("POST", "/api/sessions", json.dumps({
    "document_id": "sample", "user_id": "schemathesis", "user_name": "Schemathesis",
    "permissions": ["read-document", "write"], "expires_in": 3600}).encode(), "application/json")
# An endpoint (nothing listens there: its attempts fail and are recorded), for the attempts route.
hook = call("POST", "/api/webhooks", json.dumps({"url": "http://127.0.0.1:9/hook"}).encode(),
            "application/json")
print(session["token"], hook["id"])
EOF
)

cat >"$tmp/schemathesis.toml" <<EOF
# No state kept between runs (nor written into the checkout): every run is the same.
[cache]
enabled = false

[auth.openapi.api_key]
bearer = "\${QUIRE_ST_API_KEY}"

[auth.openapi.session_token]
bearer = "\${QUIRE_ST_SESSION_TOKEN}"

# Reads of a document use the uploaded one (deleting it would leave only 404s).
[[operations]]
include-name-regex = "^(GET|HEAD|POST) /api/documents/\\\\{id\\\\}"
parameters = { "path.id" = "sample" }

# Tokens are minted for the uploaded document.
[[operations]]
include-name = "POST /api/sessions"
parameters = { "body.document_id" = "sample" }

# Run last, on its own (below): deletes the uploaded document once, then meets 404s.
[[operations]]
include-name = "DELETE /api/documents/{id}"
parameters = { "path.id" = "sample" }

[[operations]]
include-name = "GET /api/webhooks/{id}/attempts"
parameters = { "path.id" = "$hook" }
EOF

# Deleting the uploaded document would leave the other operations only 404s (Schemathesis
# reuses ids it saw in responses): that operation runs last, on its own.
echo "schemathesis: $base, $examples examples per operation"
# From the temporary directory: Hypothesis keeps its example database in the working directory.
run() {
  (cd "$tmp" && QUIRE_ST_API_KEY="$key" QUIRE_ST_SESSION_TOKEN="$token" PYTHONPATH="$repo/tests" \
    SCHEMATHESIS_HOOKS=schemathesis_hooks \
    "$st" --config-file "$tmp/schemathesis.toml" run "$base/api/openapi.json" \
    --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
    --max-examples "$examples" --phases examples,coverage,fuzzing \
    --seed 1 --workers 1 --request-timeout 10 --no-color "$@")
}
status=0
run --exclude-name "DELETE /api/documents/{id}" || status=$?
[ $status -eq 0 ] && { run --include-name "DELETE /api/documents/{id}" || status=$?; }
if [ $status -ne 0 ]; then
  cp "$tmp/server.log" "${TMPDIR:-/tmp}/quire-schemathesis-server.log" 2>/dev/null || true
  echo "error: schemathesis found failures (above); the server log is in ${TMPDIR:-/tmp}/quire-schemathesis-server.log" >&2
fi
exit $status
