/**
 * What an installed package holds: `npm pack`'s file list (what npm would publish), and
 * the paths a user's code resolves through `exports`.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { expect, test } from "vitest";
import { run } from "../helpers/clients.js";

test("the package has the built code, its types, the test certificates and the licence, not the CA's key or the sources", async () => {
  // --ignore-scripts: no prepack build while other test files read dist/.
  const npm = await run("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], {
    timeoutMs: 60_000,
  });
  expect(npm.code, npm.stderr).toBe(0);
  const [packed] = JSON.parse(npm.stdout) as [{ files: { path: string }[] }];
  const files = packed.files.map((f) => f.path);
  for (const needed of [
    "LICENSE",
    "README.md",
    "package.json",
    "dist/index.js",
    "dist/index.d.ts",
    "dist/vitest/index.js",
    "dist/vitest/index.d.ts",
    "fixtures/tls/localhost.pem",
    "fixtures/tls/ca.pem",
    "fixtures/tls/expired.pem",
    "fixtures/tls/wrong-host.pem",
    "fixtures/tls/client.pem",
    "fixtures/tls/self-signed-client.pem",
  ]) {
    expect(files).toContain(needed);
  }
  expect(files).not.toContain("fixtures/tls/ca-key.pem");
  expect(files.filter((f) => /^(src|test|bench|examples)\//.test(f))).toEqual([]);
});

test("a user's code reaches the test certificates through the package's exports", () => {
  // The package resolving its own name goes through `exports`, as a user's import does.
  const require = createRequire(import.meta.url);
  const expired = require.resolve("smtp-fixture/fixtures/tls/expired.pem");
  expect(readFileSync(expired, "utf8")).toMatch(/^-----BEGIN CERTIFICATE-----/);
  expect(() => require.resolve("smtp-fixture/src/index.ts")).toThrow(/is not defined by "exports"/);
});
