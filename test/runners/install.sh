#!/usr/bin/env bash
# Installs the other vitest majors (3 and 5, with the Node 22 that vitest 5 needs)
# into their own folders, so they never shadow the project's vitest 4 or node
# binaries. test/vitest/child-runs.test.ts runs the fixture under each of them.
set -euo pipefail
cd "$(dirname "$0")"
for runner in vitest3 vitest5; do
  # npm install, not npm ci: the registry lacks some platform builds (rollup for
  # android, freebsd, ...) that an exact lockfile would insist on.
  (cd "$runner" && npm install --no-save --no-audit --no-fund --legacy-peer-deps)
done
