#!/usr/bin/env bash
# Reads JUnit XML files with xunit-viewer (npm), as its CLI and web page do, and checks every testcase
# and status arrives (.ci/check_xunit_viewer.mjs); then renders them with its CLI. The package is
# installed into target/ci/xunit-viewer on first use. Without npm it says so and skips.
#
#   bash .ci/junit-xunit-viewer.sh FILE.xml [FILE.xml ...]
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$#" -ge 1 ] || { echo "usage: $0 FILE.xml [FILE.xml ...]" >&2; exit 2; }
XUNIT_VIEWER_VERSION=10.6.1
DIR=target/ci/xunit-viewer
if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
  echo "SKIPPED: xunit-viewer needs node and npm, which are not installed"
  exit 0
fi
PKG="$DIR/node_modules/xunit-viewer"
if ! grep -q "\"version\": \"$XUNIT_VIEWER_VERSION\"" "$PKG/package.json" 2>/dev/null; then
  mkdir -p "$DIR"
  npm install --prefix "$DIR" --no-audit --no-fund --silent "xunit-viewer@$XUNIT_VIEWER_VERSION" >/dev/null
fi
node .ci/check_xunit_viewer.mjs "$PKG" "$@"
for f in "$@"; do
  out="target/ci/$(basename "$f" .xml).xunit-viewer.html"
  node "$PKG/bin/xunit-viewer.js" --results "$f" --output "$out" --no-color >/dev/null
  [ -s "$out" ] || { echo "xunit-viewer did not render $f"; exit 1; }
done
echo "xunit-viewer rendered $# files into target/ci"
