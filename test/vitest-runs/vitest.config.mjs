// Config of the child vitest runs started by test/vitest/*.test.ts. A plain object
// (no import of "vitest/config"), so the same file serves vitest 3, 4 and 5.
import { tmpdir } from "node:os";
import { join } from "node:path";

export default {
  // Keeps vite's cache out of the fixture and example folders.
  cacheDir: join(tmpdir(), "smtp-fixture-vitest-runs-cache"),
  test: {
    include: ["**/*.test.ts"],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    // concurrent.test.ts needs its 20 tests running at once (the default is 5).
    maxConcurrency: 20,
  },
};
