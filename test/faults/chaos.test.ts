import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { mulberry32 } from "../../src/fixture/faults/random.js";
import {
  chaos,
  closeAfterMessages,
  greylist,
  rateLimit,
  reject,
  startTestSmtp,
  type TestSmtp,
} from "../../src/index.js";
import {
  commandCodes,
  faultAttempts,
  ONE_MESSAGE_THEN_MAIL,
  rawClient,
  sendFails,
} from "./helpers.js";

let smtp: TestSmtp;
beforeAll(async () => {
  smtp = await startTestSmtp();
});
afterAll(() => smtp.close());
afterEach(() => smtp.reset());

/** Forty RCPT commands in one transaction; the codes the client got. */
async function rcptCodes(): Promise<number[]> {
  const c = await rawClient(smtp);
  await c.command("MAIL FROM:<app@sender.test>");
  const codes: number[] = [];
  for (let i = 0; i < 40; i++) codes.push((await c.command(`RCPT TO:<r${i}@example.com>`)).code);
  c.close();
  return codes;
}

const actions = [reject.rcpt(450), reject.rcpt(550)];

describe("chaos({ probability, seed })", () => {
  test("the same seed gives the same failures twice", async () => {
    smtp.use(chaos({ probability: 0.5, seed: 1234, actions }));
    const first = await rcptCodes();
    smtp.resetFaults();
    smtp.use(chaos({ probability: 0.5, seed: 1234, actions }));
    const second = await rcptCodes();
    expect(second).toEqual(first);
    // Both actions and successes all occur: it is not trivially constant.
    expect(new Set(first)).toEqual(new Set([250, 450, 550]));
  });

  test("another seed gives another sequence", async () => {
    smtp.use(chaos({ probability: 0.5, seed: 1234, actions }));
    const a = await rcptCodes();
    smtp.resetFaults();
    smtp.use(chaos({ probability: 0.5, seed: 99, actions }));
    expect(await rcptCodes()).not.toEqual(a);
  });

  test("a baseline chaos fault starts its sequence over on resetFaults()", async () => {
    const s = await startTestSmtp({ faults: [chaos({ probability: 0.5, seed: 7, actions })] });
    const codes = async () => {
      const c = await rawClient(s);
      await c.command("MAIL FROM:<app@sender.test>");
      const out: number[] = [];
      for (let i = 0; i < 20; i++) out.push((await c.command(`RCPT TO:<r${i}@x.test>`)).code);
      c.close();
      return out;
    };
    try {
      const first = await codes();
      s.resetFaults();
      expect(await codes()).toEqual(first);
    } finally {
      await s.close();
    }
  });

  test("installed again, one chaos object starts over with its actions' state (rateLimit, greylist)", async () => {
    const limited = chaos({
      probability: 1,
      seed: 7,
      actions: [rateLimit({ max: 1, perMs: 60_000 }), greylist()],
    });
    smtp.use(limited);
    const first = await rcptCodes();
    smtp.resetFaults();
    smtp.use(limited);
    expect(await rcptCodes()).toEqual(first);
  });

  test("a counting action (closeAfterMessages) counts every message chaos sees", async () => {
    smtp.use(chaos({ probability: 1, seed: 1, actions: [closeAfterMessages(1)] }));
    const c = await rawClient(smtp);
    const codes = await commandCodes(c, ONE_MESSAGE_THEN_MAIL);
    expect(codes).toEqual([250, 250, 354, 250, 421]);
    await c.waitClose();
  });

  test("the seed is in the name, the attempt's reason and the client's error", async () => {
    const fault = chaos({ probability: 1, seed: 42 });
    expect(fault.name).toBe("chaos({ probability: 1, seed: 42 })");
    smtp.use(fault);
    const err = await sendFails(smtp);
    expect(err.message).toContain("chaos seed 42");
    expect(faultAttempts(smtp)[0]?.reason).toBe(
      "fault: chaos({ probability: 1, seed: 42 }) -> reject.mail(451 4.3.0)",
    );
  });

  test("without a seed one is drawn and shown", () => {
    expect(chaos({ probability: 0.1 }).name).toMatch(
      /^chaos\(\{ probability: 0\.1, seed: \d+ \}\)$/,
    );
  });

  test("probability 0 never fires", async () => {
    smtp.use(chaos({ probability: 0, seed: 5, actions }));
    expect(new Set(await rcptCodes())).toEqual(new Set([250]));
  });
});

describe("mulberry32", () => {
  test("is deterministic and uniform enough for chaos", () => {
    const a = mulberry32(1);
    const b = mulberry32(1);
    const xs = Array.from({ length: 1000 }, () => a());
    expect(Array.from({ length: 1000 }, () => b())).toEqual(xs);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(mean).toBeGreaterThan(0.45);
    expect(mean).toBeLessThan(0.55);
  });
});
