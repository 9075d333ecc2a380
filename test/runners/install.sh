#!/usr/bin/env bash
# Installs the other vitest majors (3 and 5, with the Node 22 that vitest 5 needs)
# and Jest into node_modules/.runners/<name>, so they never shadow the project's
# vitest 4 or node binaries (and vanish with node_modules).
# test/vitest/child-runs.test.ts runs the fixture under each vitest,
# test/jest/jest-run.test.ts under Jest.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
for runner in vitest3 vitest5 jest; do
  target="$root/node_modules/.runners/$runner"
  mkdir -p "$target"
  cp "$here/$runner/package.json" "$here/$runner/package-lock.json" "$target/"
  # npm install, not npm ci: the registry lacks some platform builds (rollup for
  # android, freebsd, ...) that an exact lockfile would insist on.
  (cd "$target" && npm install --no-save --no-audit --no-fund --legacy-peer-deps)
done
