// 20 concurrent tests on one server, each with its own inbox.scope(). Every test
// waits until all 20 have sent their mail before it checks its scope, so the check
// runs while the others' messages are in the inbox (and the run can only finish if
// the 20 tests really run at once: see maxConcurrency in vitest.config.mjs).
import nodemailer from "nodemailer";
import { inbox, startTestSmtp, testSmtp } from "smtp-fixture";
import "smtp-fixture/vitest";
import { beforeAll, describe, test } from "vitest";

beforeAll(startTestSmtp);

const TESTS = 20;
/** Test n sends (n % 3) + 1 messages, so neighbours differ in count. */
const countOf = (n: number) => (n % 3) + 1;
let total = 0;
for (let n = 1; n <= TESTS; n++) total += countOf(n);

describe.concurrent("20 concurrent tests, one scope each", () => {
  for (let n = 1; n <= TESTS; n++) {
    const count = countOf(n);
    test(`test ${n} sees only its own ${count} message(s)`, async ({ expect }) => {
      const scope = inbox.scope(`t${n}`);
      const to = scope.address("user");
      const mailer = nodemailer.createTransport(testSmtp().transport);
      const subjects = Array.from({ length: count }, (_, i) => `test ${n} message ${i + 1}`);
      for (const subject of subjects) {
        await mailer.sendMail({ from: "app@example.com", to, subject, text: "hi" });
      }

      const mine = await scope.waitFor(to, { count });
      expect(mine.map((m) => m.subject)).toEqual(subjects);

      // Everyone's mail is in now; this scope still holds only its own.
      await inbox.waitFor({}, { count: total, timeout: 15_000 });
      expect(inbox.messages).toHaveLength(total);
      expect(scope.messages).toHaveLength(count);
      expect(scope.messages.map((m) => m.subject)).toEqual(subjects);
      expect(scope).toHaveReceived(to, { count });
      expect(scope).not.toHaveReceived({ subject: new RegExp(`^test (?!${n} )`) });
      mailer.close();
    });
  }
});
