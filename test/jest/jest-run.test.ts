/**
 * A real Jest 30 run of test/jest-runs/ (the README's Jest set-up, as a user writes
 * it: native ESM, the built package, startTestSmtp() in beforeAll and close in
 * afterAll). Jest is installed by `npm run setup:runners` into
 * node_modules/.runners/jest; without it the test skips with the reason, unless
 * REQUIRE_REAL_CLIENTS=1 (CI), where that is a failure.
 */
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { expect, test } from "vitest";
import { run } from "../helpers/clients.js";

const REPO = resolve(fileURLToPath(new URL("../..", import.meta.url)));
const JEST = join(REPO, "node_modules/.runners/jest/node_modules/jest/bin/jest.js");
const RUNS = join(REPO, "test/jest-runs");

function missing(): string | undefined {
  if (existsSync(JEST)) return undefined;
  const why = "jest is not installed (run `npm run setup:runners`)";
  if (process.env.REQUIRE_REAL_CLIENTS === "1") throw new Error(`${why}; CI must install it`);
  // Shown in the run's output (vitest's reporter folds skipped titles into a count).
  console.warn(`smtp-fixture tests: skipped: ${why}`);
  return why;
}

interface JestReport {
  success: boolean;
  numPassedTests: number;
  numFailedTests: number;
  testResults: { assertionResults: { title: string; status: string }[] }[];
}

const skip = missing();

/** Runs Jest on the `.test.mjs` files of `dir` with its jest.config.mjs; the log and report. */
async function runJest(
  dir: string,
): Promise<{ code: number | null; log: string; report: JestReport }> {
  const scratch = await mkdtemp(join(tmpdir(), "smtp-fixture-jest-"));
  try {
    const out = join(scratch, "report.json");
    const env: NodeJS.ProcessEnv = {};
    for (const [key, value] of Object.entries(process.env)) {
      if (!/^(VITEST|JEST|SMTP_(HOST|PORT|URL)$|FORCE_COLOR$)/.test(key)) env[key] = value;
    }
    env.NODE_OPTIONS = "--experimental-vm-modules";
    env.NO_COLOR = "1";
    const result = await run(
      process.execPath,
      [
        JEST,
        "--rootDir",
        dir,
        "--config",
        join(dir, "jest.config.mjs"),
        "--json",
        `--outputFile=${out}`,
      ],
      { env, timeoutMs: 60_000 },
    );
    const log = `exit ${result.code}\n${result.stdout}\n${result.stderr}`;
    expect(existsSync(out), log).toBe(true);
    const report = JSON.parse(await readFile(out, "utf8")) as JestReport;
    // A handle left open (the server, a timer) would keep Jest from exiting by itself.
    expect(result.stderr, log).not.toMatch(/did not exit|open handle/i);
    return { code: result.code, log, report };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

const statuses = (report: JestReport) =>
  report.testResults.flatMap((f) => f.assertionResults.map((a) => a.status));

test.skipIf(skip)(
  `under Jest the documented set-up passes and the process exits on its own${skip ? ` (${skip})` : ""}`,
  async () => {
    const { code, log, report } = await runJest(RUNS);
    expect(code, log).toBe(0);
    expect(report.success, log).toBe(true);
    expect(report.numFailedTests, log).toBe(0);
    expect(statuses(report)).toEqual(["passed", "passed", "passed"]);
  },
  90_000,
);

test.skipIf(skip)(
  `with Jest's fakeTimers.enableGlobally, the fixture's waits and delays still run on real time${skip ? ` (${skip})` : ""}`,
  async () => {
    const { code, log, report } = await runJest(join(REPO, "test/jest-runs-fake"));
    expect(code, log).toBe(0);
    expect(statuses(report), log).toEqual(["passed", "passed"]);
  },
  90_000,
);
