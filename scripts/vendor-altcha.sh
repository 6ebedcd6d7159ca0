#!/usr/bin/env bash
# Copies the proof-of-work widget's files from the npm package `altcha` (MIT) into
# shared/assets/altcha/, where submit-wish compiles them in and serves them under /assets/altcha/
# (self-hosted: no third party sees a citizen's visit). The external build is used: it bundles no
# worker and no styles, so the pages' CSP needs no blob: workers and no inline scripts; the
# SHA-256 worker, the styles and the German texts are files of their own. init.js is ours.
#
#   bash scripts/vendor-altcha.sh          # fetch the pinned version and copy it
#   bash scripts/vendor-altcha.sh --check  # fetch it and fail if the copied files differ
#
# To move to another version: change VERSION and INTEGRITY (npm view altcha@<v> dist.integrity),
# run it, and run the browser test (it solves a challenge with the widget in Chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=3.2.2
INTEGRITY="$(npm view "altcha@$VERSION" dist.integrity)"
DEST=shared/assets/altcha
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
(cd "$WORK" && npm pack --silent "altcha@$VERSION" >/dev/null)
TARBALL="$WORK/altcha-$VERSION.tgz"
GOT="sha512-$(openssl dgst -sha512 -binary "$TARBALL" | base64 -w0)"
if [[ "$GOT" != "$INTEGRITY" ]]; then
    echo "vendor-altcha: the tarball's digest is not the registry's integrity ($GOT != $INTEGRITY)" >&2
    exit 1
fi
tar xzf "$TARBALL" -C "$WORK"
P="$WORK/package"
declare -A FILES=(
    [altcha.js]=dist/external/altcha.min.js
    [altcha.css]=dist/external/altcha.css
    [sha.js]=dist/workers/sha.js
    [de.js]=dist/i18n/de.js
    [LICENSE.txt]=LICENSE.txt
)
if [[ "${1:-}" == "--check" ]]; then
    for f in "${!FILES[@]}"; do
        cmp -s "$P/${FILES[$f]}" "$DEST/$f" || { echo "vendor-altcha: $DEST/$f differs from altcha@$VERSION" >&2; exit 1; }
    done
    echo "vendor-altcha: $DEST matches altcha@$VERSION"
    exit 0
fi
mkdir -p "$DEST"
for f in "${!FILES[@]}"; do
    cp "$P/${FILES[$f]}" "$DEST/$f"
done
printf 'altcha@%s %s\n' "$VERSION" "$INTEGRITY" >"$DEST/VERSION"
echo "vendor-altcha: copied altcha@$VERSION into $DEST"
