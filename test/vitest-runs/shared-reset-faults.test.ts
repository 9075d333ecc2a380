// A file-scoped createSmtpTest server keeps the faults given at start across its reset
// after each test. A file of its own: vitest 3 keeps file-scoped fixtures by name, so
// two file-scoped fixtures of one file would share a server there.
import { reject } from "smtp-fixture";
import { createSmtpTest } from "smtp-fixture/vitest";
import { describe, expect } from "vitest";

const test = createSmtpTest({ faults: [reject.rcpt("blocked@example.com", 550)] });

describe("faults given at start", () => {
  test("stay when a test's own faults go", ({ smtp }) => {
    smtp.use(reject.mail({ code: 451 }));
    expect(smtp.listFaults()).toHaveLength(2);
  });

  test("the next test has the start's fault only", ({ smtp }) => {
    expect(smtp.listFaults().map((f) => f.stages)).toEqual([["RCPT"]]);
  });
});
