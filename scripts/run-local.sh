#!/usr/bin/env bash
# Runs the whole system locally on http://127.0.0.1:3000 (PORT to change) against DynamoDB Local
# and moto, which it installs (into .local/) and starts itself. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
# shellcheck disable=SC1091
. .local/env.sh
exec cargo run --release -p local-runner
