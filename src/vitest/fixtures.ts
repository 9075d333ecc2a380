/** `test.extend` fixtures that start a TestSmtp and close it when their scope ends. */
import { type TestAPI, type TestContext, test } from "vitest";
import { isOpen } from "../fixture/current.js";
import { describeValue } from "../fixture/describe-value.js";
import { editDistance } from "../fixture/edit-distance.js";
import { isPlainObject } from "../fixture/faults/fault.js";
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
   * the first test that uses `smtp`, closed after the file's last test, and reset
   * (`smtp.reset()`) after each test that used it, once no other test is using it.
   * `"test"`: a fresh server per test (recorded on the test, so `dumpOnFailure` writes
   * that test's own server even when other tests run at the same time). `"worker"`:
   * one per vitest worker, reset as a file's is.
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
 * A file-scoped server is shared by the file's tests, and reset after each test that
 * used it (after its `afterEach` hooks, so `dumpOnFailure` still sees its mail): the
 * next test starts with an empty inbox and the start options' faults. Tests running at
 * once (`smtpTest.concurrent`) share it until the last of them ends: give each its own
 * view with the `scope` fixture.
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
  checkSettings(settings);
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
  const scopeFixture = async (
    { smtp, task }: { smtp: TestSmtp; task: Task },
    use: (view: InboxScope) => Promise<void>,
  ) => {
    const view = smtp.inbox.scope();
    claimScope(task, view);
    try {
      await use(view);
    } finally {
      // After the test's afterEach hooks (dumpOnFailure has written it): a file's
      // server does not keep every test's scope.
      view[Symbol.dispose]();
    }
  };
  // vitest reads a fixture's dependencies from its first parameter: it must be a pattern.
  if (scope === "test") {
    // A test-scoped server is recorded on its test (for dumpOnFailure).
    return test.extend<SmtpFixtures>({
      smtp: [async ({ task }, use) => run(use, (smtp) => claim(task, smtp)), { scope }],
      scope: scopeFixture,
    });
  }
  // A file- or worker-scoped server is the hidden fixture; `smtp` hands it to each test
  // and puts it back to the start options after the test (see `lend`).
  const extended = test.extend<SmtpFixtures & SharedServer>({
    smtpSharedServer: [
      // biome-ignore lint/correctness/noEmptyPattern: vitest requires the destructuring
      async ({}, use) => run(use),
      { scope },
    ],
    smtp: async ({ smtpSharedServer }, use) => lend(smtpSharedServer, use),
    scope: scopeFixture,
  });
  return extended as unknown as TestAPI<SmtpFixtures>;
}

/**
 * The second argument: an object with known keys. A string (`createSmtpTest({}, "test")`)
 * or a misspelt key (`{ scpoe: "test" }`) would otherwise give a file-wide server
 * without a word.
 */
function checkSettings(settings: unknown): asserts settings is SmtpTestSettings {
  if (!isPlainObject(settings)) {
    const scope = typeof settings === "string" ? JSON.stringify(settings) : '"test"';
    throw new TypeError(
      `createSmtpTest: settings must be an object like { scope: ${scope} }, got ${describeValue(settings)}`,
    );
  }
  for (const key of Object.keys(settings)) {
    if (key === "scope") continue;
    const near = editDistance(key.toLowerCase(), "scope") <= 2;
    throw new TypeError(
      near
        ? `createSmtpTest: unknown setting "${key}"; did you mean "scope"?`
        : `createSmtpTest: unknown setting "${key}"; the one setting is scope ("test", "file" or "worker"), and server options go first: createSmtpTest({ ${key}: ... }, { scope })`,
    );
  }
}

type Task = TestContext["task"];

/** The hidden file- or worker-scoped fixture that holds the shared server. */
interface SharedServer {
  smtpSharedServer: TestSmtp;
}

/** How many tests are using each shared server right now. */
const borrowers = new WeakMap<TestSmtp, number>();

/**
 * Gives the shared server to one test. When the last test using it ends (after the
 * test's `afterEach` hooks: dumpOnFailure has written it by then), the server is
 * reset, as msw resets its handlers: inbox, attempts, transcripts, faults,
 * capabilities and strict mode back to the start options. Tests running at once share
 * it until the last of them ends: resetting at the first one's end would clear the
 * others' mail and faults under them.
 */
async function lend(smtp: TestSmtp, use: (smtp: TestSmtp) => Promise<void>): Promise<void> {
  borrowers.set(smtp, (borrowers.get(smtp) ?? 0) + 1);
  try {
    await use(smtp);
  } finally {
    const left = (borrowers.get(smtp) ?? 1) - 1;
    borrowers.set(smtp, left);
    if (left === 0 && isOpen(smtp)) smtp.reset();
  }
}

/**
 * `test` with a file-scoped `smtp` fixture (one server per test file, default options).
 * `createSmtpTest(options, { scope })` makes one with other options or a fresh server
 * per test.
 */
export const smtpTest: TestAPI<SmtpFixtures> = createSmtpTest();
