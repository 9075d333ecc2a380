import { describe, expect, test } from "vitest";
import {
  chaos,
  closeAfterMessages,
  delay,
  disconnect,
  failTimes,
  greylist,
  hang,
  partialRecipients,
  rateLimit,
  reject,
  slowDrip,
  startTestSmtp,
  tlsFailure,
  withScope,
} from "../../src/index.js";

const scope = { owns: () => true, tag: "t" };

describe("misuse gets a clear error", () => {
  test.each([
    [
      "a success code",
      () => reject.rcpt("bob@x.test", 250),
      /reply code 250 is not a rejection; use a code from 400 to 599/,
    ],
    ["a code above 599", () => reject.mail({ code: 600 }), /reply code 600 is not a rejection/],
    ["a 3xx code", () => reject.data(354), /reply code 354 is not a rejection/],
    ["a fractional code", () => reject.rcpt(450.5), /reply code 450\.5 is not a rejection/],
    ["a code in partialRecipients", () => partialRecipients({ "a@x.test": 250 }), /reply code 250/],
    [
      "an enhanced code of another class",
      () => reject.rcpt(550, "4.1.1 No"),
      /enhanced code 4\.1\.1 does not match reply code 550/,
    ],
    [
      "a malformed enhanced code",
      () => reject.rcpt({ code: 550, enhanced: "5.1" }),
      /enhanced code must look like "5\.1\.1"/,
    ],
    [
      "message and lines together",
      () => reject.rcpt({ message: "a", lines: ["b"] }),
      /either message or lines/,
    ],
  ])("%s", (_what, make, message) => {
    expect(make).toThrow(TypeError);
    expect(make).toThrow(message);
  });

  test("an unknown stage lists the valid ones", () => {
    expect(() => delay.reply("RCTP" as "RCPT", 10)).toThrow(
      'delay.reply(): unknown stage "RCTP"; valid stages: CONNECT (or GREETING), EHLO, HELO, STARTTLS, AUTH, MAIL, RCPT, DATA, BDAT, DATA_END, RSET, QUIT',
    );
    expect(() => hang(undefined as never)).toThrow(
      /hang\(\): the stage is missing; give it first, e\.g\. "RCPT" \(valid stages: CONNECT/,
    );
  });

  test.each([
    [
      "an unknown option",
      () => reject.mail({ code: 451, onse: true } as never),
      /unknown option "onse"; valid options: code, enhanced, message, lines, once, times, match, scope, delayMs, disconnect/,
    ],
    [
      "once and times that disagree",
      () => reject.mail({ once: true, times: 3 }),
      /once: true and times: 3 disagree/,
    ],
    ["times 0", () => reject.mail({ times: 0 }), /times must be a whole number from 1/],
    [
      "an address match where there is no address",
      () => reject.connect("bob@x.test"),
      /needs a stage with an address/,
    ],
    [
      "a scope where there is no address",
      () => reject.connect({ scope }),
      /a scoped fault fires only where the scope's addresses appear/,
    ],
    [
      "withScope on a stage without addresses",
      () => withScope(scope, hang("EHLO")),
      /would never fire/,
    ],
    [
      "an unknown match key",
      () => reject.rcpt({ connection: 1, conection: 2 } as never, 550),
      /unknown match key "conection"/,
    ],
    [
      "a match number of 0",
      () => reject.rcpt({ message: 0 }, 550),
      /match\.message must be a whole number from 1/,
    ],
    [
      "disconnect.during at another stage",
      () => disconnect.during("MAIL" as "DATA", { afterBytes: 1 }),
      /only the message data can be cut/,
    ],
    [
      "disconnect.during without afterBytes",
      () => disconnect.during("DATA", {} as never),
      /afterBytes must be a whole number/,
    ],
    ["a negative delay", () => delay.reply("RCPT", -1), /ms must be a number of milliseconds/],
    [
      "slowDrip of 0 bytes",
      () => slowDrip("EHLO", { bytesPerChunk: 0 }),
      /bytesPerChunk must be a whole number from 1/,
    ],
    [
      "an unknown tlsFailure mode",
      () => tlsFailure({ mode: "boom" as "alert" }),
      /mode must be "alert", "close" or "refuse"/,
    ],
    [
      "a greylist delay that is not a number",
      () => greylist({ minDelayMs: "1s" as never }),
      /minDelayMs must be a number of milliseconds/,
    ],
    ["failTimes without a fault", () => failTimes(2, "MAIL" as never), /must be a fault/],
    ["failTimes(0, ...)", () => failTimes(0, reject.mail()), /n must be a whole number from 1/],
    ["closeAfterMessages(-1)", () => closeAfterMessages(-1), /k must be a whole number/],
    [
      "rateLimit without a window",
      () => rateLimit({ max: 1 } as never),
      /perMs must be a number of milliseconds/,
    ],
    [
      "an empty partialRecipients",
      () => partialRecipients({}),
      /give an object of recipients and codes/,
    ],
    [
      "chaos with probability 2",
      () => chaos({ probability: 2 }),
      /probability must be a number from 0 to 1/,
    ],
    [
      "chaos with a negative seed",
      () => chaos({ probability: 0.5, seed: -1 }),
      /seed must be a 32-bit unsigned integer/,
    ],
    [
      "chaos with no actions",
      () => chaos({ probability: 0.5, actions: [] }),
      /actions must be a non-empty array of faults/,
    ],
    [
      "chaos with a fault maker not called",
      () => chaos({ probability: 0.5, actions: [reject.rcpt(451), reject.rcpt as never] }),
      /actions\[1\] is not a fault: got a function itself \(did you forget to call it/,
    ],
    [
      "options after an options object",
      () => (reject.mail as (...a: unknown[]) => unknown)({ code: 451 }, 2),
      /an options object comes alone/,
    ],
  ])("%s", (_what, make, message) => {
    expect(make).toThrow(TypeError);
    expect(make).toThrow(message);
  });

  test("use() with something that is not a fault says what was probably meant", async () => {
    const smtp = await startTestSmtp();
    try {
      expect(() => smtp.use(greylist as never)).toThrow(
        /argument 1 is not a fault: got greylist itself \(did you forget to call it, e\.g\. greylist\(\)\?\)/,
      );
      expect(() => smtp.use([reject.rcpt()] as never)).toThrow(/pass faults as separate arguments/);
      expect(() => smtp.use(reject as never)).toThrow(/a namespace\? call one of its methods/);
      expect(() => smtp.use(reject.rcpt(), 42 as never)).toThrow(
        /argument 2 is not a fault: got 42/,
      );
      expect(smtp.listFaults()).toEqual([]);
    } finally {
      await smtp.close();
    }
  });

  test("a bad baseline fault fails startTestSmtp", async () => {
    await expect(startTestSmtp({ faults: [null as never] })).rejects.toThrow(
      /startTestSmtp\(\{ faults \}\): argument 1 is not a fault: got null/,
    );
  });

  test("use() after close() is refused", async () => {
    const smtp = await startTestSmtp();
    await smtp.close();
    expect(() => smtp.use(reject.rcpt())).toThrow(/this TestSmtp is closed/);
  });
});
