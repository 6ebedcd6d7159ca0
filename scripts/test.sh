#!/usr/bin/env bash
# Runs every check and test: format, lints, template lint, unit, integration and end-to-end tests
# against real local emulators (installed into .local/ by scripts/bootstrap.sh), the report of
# IAM grants no test exercised, the browser test, and sam build.
#
# Time on a fresh two-core machine goes mostly to compiling and to the system tests, which wait
# on the emulators more than they compute: so sam build (its own target directory, no lock
# shared with the tests) runs in the background, at low priority, while the tests run, and its
# result is checked at the end. Each phase prints its duration.
set -euo pipefail
cd "$(dirname "$0")/.."
T0=$SECONDS
phase() { printf '== %s   (%ss so far)\n' "$1" "$((SECONDS - T0))"; }
bash scripts/bootstrap.sh
# shellcheck disable=SC1091
. .local/env.sh
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-eu-central-1}" SAM_CLI_TELEMETRY=0
phase "cargo fmt"; cargo fmt --all -- --check
phase "cargo clippy"; cargo clippy --workspace --all-targets -- -D warnings
phase "infrastructure checks (sam build follows in the background)"
INFRA_SKIP_BUILD=1 bash scripts/check-infra.sh
phase "cargo test: build"; cargo test --workspace --no-run
SAM_LOG=.local/logs/sam-build.log
mkdir -p .local/logs
INFRA_ONLY_BUILD=1 nice -n 19 bash scripts/check-infra.sh >"$SAM_LOG" 2>&1 &
SAM_PID=$!
trap 'kill "$SAM_PID" 2>/dev/null || true' EXIT
phase "cargo test"
rm -f .local/logs/iam-used.log
cargo test --workspace
phase "IAM grants no test exercised"
cargo run -q -p local-runner --bin iam-report
phase "browser test"; bash scripts/browser-test.sh
phase "sam build (waiting for it)"
if ! wait "$SAM_PID"; then
    cat "$SAM_LOG"
    echo "sam build failed" >&2
    exit 1
fi
trap - EXIT
sed 's/^/   /' "$SAM_LOG"
phase "all checks passed"
