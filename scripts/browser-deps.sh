#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Install the browser test's npm dependency (playwright-core only: it drives Debian's
# chromium, no browser is downloaded) from tests/browser/package-lock.json into
# tests/browser/node_modules (git-ignored). Idempotent: does nothing when the installed
# tree matches the lock. Fails loudly when npm or the registry cannot be reached: the
# browser test must not be skipped in silence.
set -euo pipefail
dir="$(cd "$(dirname "$0")/.." && pwd)/tests/browser"
stamp="$dir/node_modules/.writ-lock.sha256"
want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -f "$dir/node_modules/playwright-core/package.json" ]; then
	echo "browser-deps: playwright-core present"
	exit 0
fi
command -v npm >/dev/null || { echo "browser-deps: npm is missing: run scripts/deps.sh (it installs nodejs and npm)" >&2; exit 1; }
echo "browser-deps: npm ci in tests/browser"
# never fetch a browser build: the test uses /usr/bin/chromium
if ! (cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error); then
	echo "browser-deps: FAILED: npm could not install playwright-core (is the npm registry reachable?)." >&2
	echo "browser-deps: the browser test (ctest -L browser) cannot run without it." >&2
	exit 1
fi
echo "$want" >"$stamp"
