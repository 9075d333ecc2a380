/** `test.extend` fixtures that start a TestSmtp and close it when their scope ends. */
import { type TestAPI, test } from "vitest";
import { describeValue } from "../fixture/describe-value.js";
import { type InboxScope, startTestSmtp, type TestSmtp, type TestSmtpOptions } from "../index.js";
import { claim, claimScope } from "./owners.js";

/** The fixtures `smtpTest` adds to the test context. */
export interface SmtpFixtures {
  smtp: TestSmtp;
  /**
   * This test's own view of `smtp`'s inbox (`smtp.inbox.scope()`), made when a test
   * asks for it: the way concurrent tests share a server. `dumpOnFailure` writes a
   * failed test's scope, not the whole server (the other tests' mail).
   */
  scope: InboxScope;
}

export interface SmtpTestSettings {
  /**
   * vitest's fixture scope. `"file"` (default): one server per test file, started by
   * the first test that uses `smtp`, closed after the file's last test. `"test"`: a
   * fresh server per test (recorded on the test, so `dumpOnFailure` writes that
   * test's own server even when other tests run at the same time). `"worker"`: one
   * per vitest worker.
   */
  scope?: "test" | "file" | "worker";
}

/**
 * A vitest `test` with an `smtp` fixture: a started `TestSmtp`, closed when its scope
 * ends. Its address is published as SMTP_HOST / SMTP_PORT / SMTP_URL, and `testSmtp()`
 * returns it.
 *
 * ```ts
 * const test = createSmtpTest({ auth: { users: { app: "s3cret" } } }, { scope: "test" });
 * test("logs in", async ({ smtp }) => { ... });
 * ```
 *
 * A file-scoped server is shared by the file's tests: give each test its own view
 * with `smtp.inbox.scope()` (safe with `describe.concurrent`), or
 * `afterEach(() => testSmtp().reset())` for sequential tests.
 */
const SCOPES: readonly unknown[] = ["test", "file", "worker"];

export function createSmtpTest(
  options: TestSmtpOptions = {},
  settings: SmtpTestSettings = {},
): TestAPI<SmtpFixtures> {
  if (options !== null && typeof options === "object" && "scope" in options) {
    throw new TypeError(
      `createSmtpTest: scope is a setting, not a server option; give it second: createSmtpTest({}, { scope: ${JSON.stringify((options as { scope?: unknown }).scope)} })`,
    );
  }
  const scope = settings.scope ?? "file";
  if (!SCOPES.includes(scope)) {
    throw new TypeError(
      `createSmtpTest: scope must be "test", "file" or "worker", got ${describeValue(scope)}`,
    );
  }
  const run = async (use: (smtp: TestSmtp) => Promise<void>, onStart?: (s: TestSmtp) => void) => {
    const smtp = await startTestSmtp(options);
    try {
      onStart?.(smtp);
      await use(smtp);
    } finally {
      await smtp.close();
    }
  };
  // vitest reads a fixture's dependencies from its first parameter: it must be a pattern.
  // A test-scoped server is recorded on its test (for dumpOnFailure); a file- or
  // worker-scoped fixture has no test to record it on.
  return test.extend<SmtpFixtures>({
    smtp: [
      scope === "test"
        ? async ({ task }, use) => run(use, (smtp) => claim(task, smtp))
        : // biome-ignore lint/correctness/noEmptyPattern: vitest requires the destructuring
          async ({}, use) => run(use),
      { scope },
    ],
    scope: async ({ smtp, task }, use) => {
      const view = smtp.inbox.scope();
      claimScope(task, view);
      await use(view);
    },
  });
}

/**
 * `test` with a file-scoped `smtp` fixture (one server per test file, default options).
 * `createSmtpTest(options, { scope })` makes one with other options or a fresh server
 * per test.
 */
export const smtpTest: TestAPI<SmtpFixtures> = createSmtpTest();
