#!/usr/bin/env bash
# Runs every check and test: format, lints, template lint, unit, integration and end-to-end tests
# against real local emulators (installed into .local/ by scripts/bootstrap.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
# shellcheck disable=SC1091
. .local/env.sh
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-eu-central-1}" SAM_CLI_TELEMETRY=0
echo "== cargo fmt"; cargo fmt --all -- --check
echo "== cargo clippy"; cargo clippy --workspace --all-targets -- -D warnings
echo "== infrastructure checks"; bash scripts/check-infra.sh
echo "== cargo test"; cargo test --workspace
echo "== browser test"; bash scripts/browser-test.sh
