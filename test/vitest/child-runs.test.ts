/**
 * Real vitest runs (3, 4 and 5) of the fixture files in test/vitest-runs/, which use
 * the built package as a user would:
 * - hook.test.ts: `beforeAll(startTestSmtp)` exactly as written, no afterAll;
 * - fixture.test.ts: the `smtpTest` / `createSmtpTest` fixtures and the matchers;
 * - shared-reset.test.ts, shared-reset-faults.test.ts: smtpTest's shared server reset
 *   after each test (after the last of the tests running at once), keeping the faults
 *   given at start;
 * - concurrent.test.ts: 20 concurrent tests, each in its own inbox.scope();
 * - dump.test.ts: dumpOnFailure, with one test failing on purpose;
 * - unawaited-wait.test.ts: a wait without `await` in the last test.
 * Closure is proven inside the child: each fixture writes a marker file when its
 * server's listening socket emits `close` (a process exiting with it open would not).
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import {
  outcomes,
  passedPerFile,
  runVitest,
  type VitestPackage,
  vitestVersion,
} from "./child-vitest.js";

const FILES = [
  "hook.test.ts",
  "fixture.test.ts",
  "shared-reset.test.ts",
  "shared-reset-faults.test.ts",
  "concurrent.test.ts",
];
const MAJOR: Record<VitestPackage, string> = { vitest3: "3", vitest: "4", vitest5: "5" };

describe.each(["vitest3", "vitest", "vitest5"] as const)("a real %s run", (pkg) => {
  const version = vitestVersion(pkg);

  test.skipIf(version.skip)(
    `beforeAll(startTestSmtp), the smtpTest fixture, its reset between tests and 20 scoped concurrent tests pass (${version.skip ?? `node ${version.node === process.execPath ? process.version : "22"}`})`,
    async () => {
      const child = await runVitest(version, { files: FILES });
      try {
        const report = `${outcomes(child.report).join("\n")}\n${child.stdout}\n${child.stderr}`;
        expect(child.version?.split(".")[0], report).toBe(MAJOR[pkg]);
        expect(child.code, report).toBe(0);
        expect(passedPerFile(child.report), report).toEqual({
          "hook.test.ts": 3,
          "fixture.test.ts": 4,
          "shared-reset.test.ts": 7,
          "shared-reset-faults.test.ts": 2,
          "concurrent.test.ts": 20,
        });
        expect(child.report.numFailedTests, report).toBe(0);
        expect(child.report.numPassedTests, report).toBe(36);
        // Every server the fixtures started was closed by the runner, not by the exit.
        expect(child.markers).toEqual([
          `fixture-file-${pkg}.closed`,
          `fixture-test1-${pkg}.closed`,
          `fixture-test2-${pkg}.closed`,
          `hook-${pkg}.closed`,
        ]);
        const hook = await readFile(join(child.dir, "markers", `hook-${pkg}.closed`), "utf8");
        expect(hook).toMatch(/^\d+ listening=false\n$/);
      } finally {
        await child.cleanup();
      }
    },
  );

  test.skipIf(version.skip)(
    "dumpOnFailure writes the failed test's mail and transcripts, and only for it",
    async () => {
      const child = await runVitest(version, { files: ["dump.test.ts"] });
      try {
        const report = `${outcomes(child.report).join("\n")}\n${child.stdout}\n${child.stderr}`;
        expect(child.code, report).toBe(1);
        expect(outcomes(child.report), report).toEqual([
          "dump.test.ts > passes and leaves no dump: passed",
          "dump.test.ts > fails on purpose: failed",
        ]);
        const dumps = join(child.dir, "dumps");
        expect(await readdir(dumps)).toEqual(["dump.test.ts - fails on purpose"]);
        const dir = join(dumps, "dump.test.ts - fails on purpose");
        const files = (await readdir(dir)).sort();
        // The afterEach that resets the server ran after the dump: the message is there.
        expect(files).toEqual([
          expect.stringMatching(/^0001-[\w.]+\.eml$/),
          expect.stringMatching(/^0001-[\w.]+\.json$/),
          "attempts.json",
          "error.txt",
          expect.stringMatching(/^transcript-\d+\.txt$/),
        ]);
        const eml = await readFile(join(dir, files[0]!), "utf8");
        expect(eml).toContain("Subject: Actual subject\r\n");
        // Why it failed, next to what arrived.
        const error = await readFile(join(dir, "error.txt"), "utf8");
        expect(error).toMatch(/^fails on purpose\n\n/);
        expect(error).toContain("Expected subject");
        const transcript = await readFile(join(dir, files[4]!), "utf8");
        expect(transcript).toMatch(/^C: EHLO /m);
        expect(transcript).toMatch(/^S: 250 /m);
        expect(child.stdout + child.stderr).toContain(
          `smtp-fixture: "fails on purpose" failed; 1 message(s) and 1 transcript(s) written to ${dir}`,
        );
      } finally {
        await child.cleanup();
      }
    },
  );

  test.skipIf(version.skip)(
    "a wait left without await fails the run when the server closes after the file, with its report",
    async () => {
      // The wait's 30 s are longer than the run's limit: it must end when the server closes.
      const child = await runVitest(version, {
        files: ["unawaited-wait.test.ts"],
        timeoutMs: 15_000,
      });
      try {
        const printed = `${child.stdout}\n${child.stderr}`;
        const report = `${outcomes(child.report).join("\n")}\n${printed}`;
        expect(outcomes(child.report), report).toEqual([
          "unawaited-wait.test.ts > forgets to await its wait: passed",
        ]);
        expect(child.code, report).toBe(1);
        expect(printed).toMatch(
          /WaitForTimeoutError: inbox\.waitFor\("never@example\.com"\): the server was closed while waiting \(\d+ ms into a 30000 ms wait\)/,
        );
      } finally {
        await child.cleanup();
      }
    },
  );
});
