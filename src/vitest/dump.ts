/** dumpOnFailure: a failed test leaves its mail and transcripts on disk. */
import { mkdir, rm, writeFile } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { afterEach, type TestContext } from "vitest";
import { currentSmtp } from "../fixture/current.js";
import type { TestSmtp } from "../index.js";

/**
 * Registers an `afterEach` that, when the test failed, writes the inbox
 * (`inbox.dump()`: every message as `.eml` + `.json`, and `attempts.json`) and every
 * connection transcript (`transcript-N.txt`) to `<dir>/<file> - <test name>/`, and
 * prints the path.
 *
 * `smtp` is the server, or a function returning it; by default the most recently
 * started one (`testSmtp()`, which is what `beforeAll(startTestSmtp)` and the `smtp`
 * fixture made; with concurrent tests on servers of their own, pass a function that
 * finds the right one). Call it at the top of a file or in a `describe`, after any
 * `afterEach` that resets the server (vitest runs `afterEach` hooks last-registered
 * first). Add `dir` to .gitignore.
 */
export function dumpOnFailure(
  smtp: TestSmtp | (() => TestSmtp | undefined) = currentSmtp,
  dir = "smtp-failures",
): void {
  // vitest reads the hook's first parameter as fixture names: it must be a pattern.
  afterEach(async ({ task }: TestContext) => {
    if (task.result?.state !== "fail") return;
    const server = typeof smtp === "function" ? smtp() : smtp;
    if (!server) return;
    const target = resolve(dir, safeName(testName(task)));
    try {
      await rm(target, { recursive: true, force: true });
      await mkdir(target, { recursive: true });
      await server.inbox.dump(target);
      await Promise.all(
        server.transcripts.map((t) =>
          writeFile(join(target, `transcript-${t.connection}.txt`), t.toString()),
        ),
      );
    } catch (error) {
      // The test has failed already; a failed dump is reported, not added to its errors.
      console.error(`smtp-fixture: could not write the failure dump to ${target}:`, error);
      return;
    }
    console.error(
      `smtp-fixture: "${task.name}" failed; ${server.inbox.messages.length} message(s) and ` +
        `${server.transcripts.length} transcript(s) written to ${target}`,
    );
  });
}

interface NamedTask {
  name: string;
  suite?: NamedTask | undefined;
  file?: { name: string; filepath?: string } | undefined;
  type?: string;
}

/** `<file> - <describe> > <test>` (with ` (retry N)` on a retry). */
function testName(task: TestContext["task"]): string {
  const t = task as unknown as NamedTask & { result?: { retryCount?: number } };
  const names = [t.name];
  for (let s = t.suite; s && s !== t.file && s.type === "suite"; s = s.suite) {
    if (s.name) names.unshift(s.name);
  }
  const file = t.file ? basename(t.file.filepath ?? t.file.name) : undefined;
  const retry = t.result?.retryCount ? ` (retry ${t.result.retryCount})` : "";
  return `${file ? `${file} - ` : ""}${names.join(" > ")}${retry}`;
}

function safeName(name: string): string {
  const clean = name
    .replace(/[^\w .,()+=@-]+/g, "_")
    .replace(/\s+/g, " ")
    .trim()
    .slice(0, 120);
  return clean === "" || clean === "." || clean === ".." ? "test" : clean;
}
