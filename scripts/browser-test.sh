#!/usr/bin/env bash
# The browser test (tests/browser/run.mjs): the citizen's story by keyboard in headless Chromium —
# wish form, errors, confirmation mail, confirm, a released slot, offer, accept, .ics — plus
# decline, cancel, withdrawn, expired and unknown links, in German and English, with axe-core
# (WCAG 2.1 AA and best practices) on every page at 1280 and 375 px, reflow at 320 px, and
# screenshots in tests/artifacts/browser/ (git-ignored). It starts its own local runner on a free
# port. Prints "N passed, M failed" last; exits non-zero on any failure.
#
# Installs what it needs, idempotently: Debian's chromium (apt, only when /usr/bin/chromium is
# missing), the npm packages pinned in tests/browser/package-lock.json (npm ci, again only when
# the lock file changes), the emulators (scripts/bootstrap.sh); then builds the local runner.
set -euo pipefail
cd "$(dirname "$0")/.."

CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
if [[ ! -x "$CHROMIUM" ]]; then
    echo "browser-test: installing Debian's chromium" >&2
    SUDO=""
    if [[ "$(id -u)" -ne 0 ]]; then SUDO="sudo"; fi
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q chromium chromium-driver
fi

STAMP=tests/browser/node_modules/.terminagent-stamp
WANT="$(sha256sum tests/browser/package-lock.json | cut -d' ' -f1)"
if [[ ! -f "$STAMP" || "$(cat "$STAMP")" != "$WANT" ]]; then
    echo "browser-test: npm ci in tests/browser" >&2
    npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error >&2
    printf '%s' "$WANT" >"$STAMP"
fi

bash scripts/bootstrap.sh
# shellcheck disable=SC1091
. .local/env.sh
cargo build -p local-runner
export CHROMIUM
exec timeout --signal=TERM 1200 node tests/browser/run.mjs
