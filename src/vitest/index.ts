/**
 * `smtp-fixture/vitest`: matchers, a `test.extend` fixture and a failure dump for
 * vitest 3, 4 and 5.
 *
 * Importing this module registers the matchers on vitest's `expect` (a side effect);
 * `smtpMatchers` is exported too, for a manual `expect.extend(smtpMatchers)`.
 *
 * ```ts
 * import { smtpTest as test, dumpOnFailure } from "smtp-fixture/vitest";
 * import { expect } from "vitest";
 *
 * dumpOnFailure();
 *
 * test("sends the welcome mail", async ({ smtp }) => {
 *   await signup("alice@example.com", { smtp: smtp.transport });
 *   const mail = await smtp.inbox.waitFor("alice@example.com");
 *   expect(smtp).toHaveReceived({ to: "alice@example.com", subject: "Welcome" });
 *   expect(mail).toHaveHeader("X-Campaign", "signup");
 *   expect(mail).toContainLink(/^https:\/\/app\.test\/confirm\?/);
 *   expect(mail).toHaveAttachment("terms.pdf");
 * });
 * ```
 */
import { expect } from "vitest";
import { smtpMatchers } from "./matchers.js";

export { type DumpOptions, type DumpServer, dumpOnFailure } from "./dump.js";
export { createSmtpTest, type SmtpFixtures, type SmtpTestSettings, smtpTest } from "./fixtures.js";
export {
  type AttachmentMatch,
  type MatcherContext,
  type MatcherResult,
  type SmtpMatcherFn,
  type SmtpMatchers,
  smtpMatchers,
  type ToHaveReceivedOptions,
} from "./matchers.js";

expect.extend(smtpMatchers);
