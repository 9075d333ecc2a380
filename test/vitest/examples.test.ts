/**
 * The examples run for real: examples/vitest/ in a child vitest, examples/node-test/
 * under `node --test`. Both import the built package, like a user's project would.
 */
import { join } from "node:path";
import { expect, test } from "vitest";
import { run } from "../helpers/clients.js";
import { outcomes, REPO, runVitest, vitestVersion } from "./child-vitest.js";

test("examples/vitest/signup.test.ts passes in a real vitest run", async () => {
  const child = await runVitest(vitestVersion("vitest"), { root: join(REPO, "examples/vitest") });
  try {
    const report = `${outcomes(child.report).join("\n")}\n${child.stdout}\n${child.stderr}`;
    expect(child.code, report).toBe(0);
    expect(outcomes(child.report), report).toEqual([
      "signup.test.ts > signup sends the welcome mail: passed",
      "signup.test.ts > signup blind-copies the audit address without a Bcc header: passed",
      "signup.test.ts > signup to an address the server refuses fails, and only the audit copy is delivered: passed",
    ]);
  } finally {
    await child.cleanup();
  }
});

test("examples/node-test/signup.test.mjs passes under node --test", async () => {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^(VITEST|NODE_TEST_CONTEXT$)/.test(key)) env[key] = value;
  }
  const result = await run(
    process.execPath,
    ["--test", "--test-reporter=tap", join(REPO, "examples/node-test/signup.test.mjs")],
    { env, timeoutMs: 60_000 },
  );
  const output = `${result.stdout}\n${result.stderr}`;
  expect(result.code, output).toBe(0);
  expect(result.stdout, output).toMatch(/^# pass 3$/m);
  expect(result.stdout, output).toMatch(/^# fail 0$/m);
});
