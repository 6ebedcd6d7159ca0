#!/usr/bin/env bash
# Runs every check and test: format, lints, template lint, unit, integration and end-to-end tests
# against real local emulators (installed into .local/ by scripts/bootstrap.sh), the report of
# IAM grants no test exercised, the browser test, and sam build.
#
# Time on a fresh two-core machine goes mostly to compiling and to the system tests, which wait
# on the emulators more than they compute: so clippy and sam build (each in a target directory
# of its own, no lock shared with the tests) run in the background, at low priority, while the
# tests run, and their results are checked at the end. Each phase prints the time so far.
set -euo pipefail
cd "$(dirname "$0")/.."
T0=$SECONDS
phase() { printf '== %s   (%ss so far)\n' "$1" "$((SECONDS - T0))"; }
bash scripts/bootstrap.sh
# shellcheck disable=SC1091
. .local/env.sh
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-eu-central-1}" SAM_CLI_TELEMETRY=0
phase "cargo fmt"; cargo fmt --all -- --check
phase "infrastructure checks (sam build follows in the background)"
INFRA_SKIP_BUILD=1 bash scripts/check-infra.sh
phase "cargo test: build"; cargo test --workspace --no-run
# While the tests run (they wait on the emulators more than they compute), clippy and sam build
# use the CPU they leave: low priority, each in a target directory of its own (no lock shared
# with the tests), each checked at the end.
mkdir -p .local/logs
CLIPPY_LOG=.local/logs/clippy.log SAM_LOG=.local/logs/sam-build.log
CARGO_TARGET_DIR=target/clippy nice -n 10 cargo clippy --workspace --all-targets -- -D warnings \
    >"$CLIPPY_LOG" 2>&1 &
CLIPPY_PID=$!
INFRA_ONLY_BUILD=1 nice -n 19 bash scripts/check-infra.sh >"$SAM_LOG" 2>&1 &
SAM_PID=$!
trap 'kill "$CLIPPY_PID" "$SAM_PID" 2>/dev/null || true' EXIT
phase "cargo test"
rm -f .local/logs/iam-used.log
cargo test --workspace
phase "IAM grants no test exercised"
cargo run -q -p local-runner --bin iam-report
phase "browser test"; bash scripts/browser-test.sh
phase "cargo clippy (waiting for it)"
if ! wait "$CLIPPY_PID"; then
    cat "$CLIPPY_LOG"
    echo "cargo clippy failed" >&2
    exit 1
fi
phase "sam build (waiting for it)"
if ! wait "$SAM_PID"; then
    cat "$SAM_LOG"
    echo "sam build failed" >&2
    exit 1
fi
trap - EXIT
sed 's/^/   /' "$SAM_LOG"
phase "all checks passed"
