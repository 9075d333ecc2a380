// A wait left without `await` in the file's last test: the test passes, and the wait
// fails the run (an unhandled rejection) when the hook's server closes after the file,
// at once, not 30 s later or never.
import { inbox, startTestSmtp } from "smtp-fixture";
import { beforeAll, test } from "vitest";

beforeAll(startTestSmtp);

test("forgets to await its wait", () => {
  void inbox.waitFor("never@example.com", { timeout: 30_000 });
});
