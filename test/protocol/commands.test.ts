import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { verbOf } from "../../src/protocol/commands.js";

describe("verbOf", () => {
  test.each([
    ["MAIL FROM:<a@b>", "MAIL"],
    ["mail FROM:<a@b>", "MAIL"],
    ["rCpT TO:<a@b>", "RCPT"],
    ["data", "DATA"],
    ["StartTLS", "STARTTLS"],
    ["xclient ADDR=1.2.3.4", "XCLIENT"],
    ["MA@L x", "MA@L"],
    ["M`IL", "M`IL"],
    // A unit above 0xFF must not spill into the next letter's byte: 0x14D << 24 is "M" << 24.
    ["\u014dAIL FROM:<a@b>", "\u014cAIL"],
    ["\u0144ATA", "\u0143ATA"],
    ["\u014eOOP", "\u014eOOP"],
  ])("%j -> %j", (line, verb) => {
    const sp = line.indexOf(" ");
    expect(verbOf(line, sp === -1 ? line.length : sp)).toBe(verb);
  });

  test("is the first word upper-cased, whatever the characters", () => {
    fc.assert(
      fc.property(
        fc.string({
          unit: fc.constantFrom(
            ..."mailMAILrcptRCPTdtDTehloHELO@`[{ \u0131\u017f\u00e9\u014d\u0144\u014e\u0152".split(
              "",
            ),
          ),
          maxLength: 8,
        }),
        (line) => {
          const sp = line.indexOf(" ");
          const end = sp === -1 ? line.length : sp;
          expect(verbOf(line, end)).toBe(line.slice(0, end).toUpperCase());
        },
      ),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 2000) },
    );
  });
});
