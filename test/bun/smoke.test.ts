/**
 * Runs the Bun smoke suite (test/bun/smoke.mjs) under Bun: the built package in
 * dist/, the fixture over STARTTLS with nodemailer verifying the test CA, and an
 * SMTPServer with onData. Bun comes from the `bun` devDependency (or PATH); when
 * it is missing the suite is skipped with the reason, unless
 * REQUIRE_REAL_CLIENTS=1 (CI), where that is an error.
 */
import { accessSync, constants, existsSync } from "node:fs";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";
import { run } from "../helpers/clients.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
const script = fileURLToPath(new URL("./smoke.mjs", import.meta.url));
const dist = join(root, "dist", "index.js");

function findBun(): string | undefined {
  const dirs = [join(root, "node_modules", ".bin"), ...(process.env.PATH ?? "").split(delimiter)];
  for (const dir of dirs) {
    if (!dir) continue;
    const file = join(dir, "bun");
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {}
  }
  return undefined;
}

const bun = findBun();
const skip =
  bun === undefined
    ? 'skipped: bun is not installed (npm install -D bun, or put "bun" on PATH)'
    : undefined;
if (skip && process.env.REQUIRE_REAL_CLIENTS === "1") {
  throw new Error(
    `${skip}, but REQUIRE_REAL_CLIENTS=1 demands it: CI must install the bun devDependency.`,
  );
}
// Shown in the run's output (vitest's reporter folds skipped titles into a count).
if (skip) console.warn(`smtp-fixture tests: ${skip}`);

describe.skipIf(skip)(`Bun smoke suite ${skip ?? ""}`.trim(), () => {
  test("the fixture (STARTTLS) and SMTPServer (onData) work under Bun", {
    timeout: 40_000,
  }, async () => {
    expect(existsSync(dist), `${dist} is missing: run "npm run build" first (npm test does)`).toBe(
      true,
    );
    const r = await run(bun!, [script], { timeoutMs: 30_000 });
    expect(r.code, `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/^runtime: bun \d+\.\d+/m);
    expect(r.stdout.trim().split("\n").at(-1)).toBe("OK");
  });
});
