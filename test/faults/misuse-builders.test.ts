/**
 * Builder misuse that used to build a wrong or a no-op fault silently, and errors
 * that did not say what to write: each call here is now either read as meant
 * (checked against a real server) or a TypeError at the call naming the form to use.
 */
import { afterAll, afterEach, beforeAll, describe, expect, expectTypeOf, test } from "vitest";
import {
  chaos,
  closeAfterMessages,
  delay,
  disconnect,
  dropAfterData,
  failTimes,
  greylist,
  hang,
  partialRecipients,
  rateLimit,
  reject,
  slowDrip,
  startTestSmtp,
  type TestSmtp,
  tlsFailure,
  withScope,
} from "../../src/index.js";
import { faultAttempts, send, sendFails } from "./helpers.js";

/** Calls a builder the way plain JavaScript (or a cast) can: any arguments. */
// biome-ignore lint/suspicious/noExplicitAny: misuse on purpose, as untyped callers write it
const loose = (f: unknown) => f as (...args: any[]) => unknown;

let smtp: TestSmtp;
beforeAll(async () => {
  smtp = await startTestSmtp();
});
afterAll(() => smtp.close());
afterEach(() => smtp.reset());

describe("a number where options go is read as meant, never as {}", () => {
  test('reject.at("RCPT", 450) answers 450, like reject.rcpt(450)', async () => {
    const fault = reject.at("RCPT", 450);
    expect(fault.name).toBe("reject.at(RCPT, 450 4.2.1)");
    smtp.use(fault);
    const err = await sendFails(smtp);
    expect(err.responseCode).toBe(450);
    expect(err.response).toBe("450 4.2.1 Mailbox unavailable");
  });

  test("reject.at(stage, ...) takes every form of reject.<stage>()", async () => {
    expect(reject.at("rcpt", 451, "4.3.0 Busy", { once: true }).name).toBe(
      "reject.at(RCPT, 451 4.3.0) [once]",
    );
    expect(reject.at("RCPT", "bob@x.test", 550).name).toBe(
      'reject.at(RCPT, "bob@x.test", 550 5.1.1)',
    );
    smtp.use(reject.at("RCPT", "carol@example.com", 553, "5.1.3 Bad address"));
    expect((await send(smtp)).ok).toBe(true); // bob is not carol
    const err = await sendFails(smtp, { to: "carol@example.com" });
    expect(err.response).toBe("553 5.1.3 Bad address");
  });

  test("greylist(5000) is refused: the number would have been ignored", () => {
    expect(() => loose(greylist)(5000)).toThrow(
      new TypeError(
        "greylist(): options must be an object, e.g. greylist({ minDelayMs: 5000 }); got 5000",
      ),
    );
  });
});

describe("options after the code or the match (reject.<stage>(code | match, ..., options))", () => {
  test("reject.mail(451, { once: true }) fails once, then lets mail through", async () => {
    smtp.use(reject.mail(451, { once: true }));
    expect((await sendFails(smtp)).response).toBe("451 4.3.0 Local error in processing");
    expect((await send(smtp)).ok).toBe(true);
    expect(smtp.listFaults()).toEqual([
      { name: "reject.mail(451 4.3.0) [once]", stages: ["MAIL"], remaining: 0 },
    ]);
  });

  test("reject.rcpt(450, { match, once }): a match in the options after a code is taken", async () => {
    smtp.use(reject.rcpt(450, { match: "carol@example.com", once: true }));
    expect((await send(smtp)).ok).toBe(true);
    expect((await sendFails(smtp, { to: "carol@example.com" })).response).toBe(
      "450 4.2.1 Mailbox unavailable",
    );
    expect((await send(smtp, { to: "carol@example.com" })).ok).toBe(true);
  });

  test('reject.rcpt("bob@...", { code, once }) and (match, code, { once })', async () => {
    smtp.use(
      reject.rcpt("carol@example.com", { code: 450, once: true }),
      reject.rcpt("bob@example.com", 552, { once: true }),
    );
    expect((await sendFails(smtp)).response).toBe("552 5.2.2 Exceeded storage allocation");
    expect((await sendFails(smtp, { to: "carol@example.com" })).response).toBe(
      "450 4.2.1 Mailbox unavailable",
    );
    expect((await send(smtp)).ok).toBe(true);
    expect((await send(smtp, { to: "carol@example.com" })).ok).toBe(true);
    expect(faultAttempts(smtp)).toHaveLength(2);
  });

  test.each([
    [
      "code given twice",
      () => loose(reject.mail)(550, "m", { code: 451 }),
      "reject.mail(): code is given twice (as an argument and in the options); give it once",
    ],
    [
      "match given twice",
      () => loose(reject.mail)(/x/, 550, "m", { match: "y@x.test" }),
      "reject.mail(): match is given twice (first argument and options); give it once",
    ],
    [
      "options not last",
      () => loose(reject.mail)(550, {}, "m"),
      'reject.mail(): options come last: "m" after {} would be ignored; use reject.mail(options?), reject.mail(code, message?, options?) or reject.mail(match, code?, message?, options?)',
    ],
    [
      "an argument after the options",
      () => loose(reject.mail)(550, "m", { once: true }, 4),
      "reject.mail(): options come last: 4 after { once: true } would be ignored",
    ],
    [
      "a number after the message",
      () => loose(reject.mail)(550, "m", 4),
      "reject.mail(): the last argument must be options such as { once: true }, got 4; use reject.mail(options?), reject.mail(code, message?, options?) or reject.mail(match, code?, message?, options?)",
    ],
    [
      "a code written as a string",
      () => loose(reject.rcpt)("bob@x.test", "550"),
      'reject.rcpt(): the reply code must be a number, e.g. reject.rcpt("bob@x.test", 550); got "550"',
    ],
    [
      "a message without a code",
      () => loose(reject.rcpt)("bob@x.test", "5.1.1 No such user"),
      'reject.rcpt(): the reply code must be a number, e.g. reject.rcpt("bob@x.test", 550); got "5.1.1 No such user" (a message goes after the code: reject.rcpt("bob@x.test", 550, "5.1.1 No such user"))',
    ],
    [
      "null as the options of reject.at",
      () => loose(reject.at)("RCPT", null),
      'reject.at(): the first argument must be options, a reply code or a match, got null; use reject.at("RCPT", options?), reject.at("RCPT", code, message?, options?) or reject.at("RCPT", match, code?, message?, options?)',
    ],
    [
      "an array as the options of reject.at",
      () => loose(reject.at)("RCPT", [450]),
      "reject.at(): the first argument must be options, a reply code or a match, got [450]",
    ],
  ])("%s", (_what, make, message) => {
    expect(make).toThrow(TypeError);
    expect(make).toThrow(message);
  });
});

describe("a match that is not an address is refused (it would never match)", () => {
  test.each([
    [
      "a code written as the match",
      () => loose(reject.rcpt)("550"),
      'reject.rcpt(): the match "550" is not an address, so it would never match; a reply code is a number, not a string: 550',
    ],
    [
      "angle brackets",
      () => reject.rcpt("<bob@x.test>", 550),
      'reject.rcpt(): the match "<bob@x.test>" is not an address, so it would never match; write it without angle brackets: "bob@x.test"',
    ],
    [
      "a name",
      () => reject.mail({ match: "Bob Smith" }),
      'reject.mail(): the match "Bob Smith" is not an address, so it would never match; give an address ("bob@example.com"), a domain ("@example.com"), "<>" for the null sender, a RegExp or a predicate',
    ],
  ])("%s", (_what, make, message) => {
    expect(make).toThrow(TypeError);
    expect(make).toThrow(message);
  });

  test("addresses, domains, <>, postmaster and EHLO names still work", () => {
    expect(() => reject.rcpt("Bob@X.test")).not.toThrow();
    expect(() => reject.rcpt("@example.com")).not.toThrow();
    expect(() => reject.mail("<>")).not.toThrow();
    expect(() => reject.rcpt("postmaster")).not.toThrow();
    expect(() => reject.ehlo("raw.test")).not.toThrow();
  });
});

describe("an address where the reply text goes is refused (it would refuse everyone)", () => {
  test.each([
    [
      "reject.rcpt(550, address)",
      () => reject.rcpt(550, "bob@x.test"),
      'reject.rcpt(): the text after the code, "bob@x.test", is an address: as reply text it would refuse every command of the stage, not that address\'s. To match it, put it first: reject.rcpt("bob@x.test", 550); for reply text that is an address, reject.rcpt({ code: 550, message: "bob@x.test" })',
    ],
    [
      "reject.mail(451, domain, options)",
      () => reject.mail(451, "@spam.test", { once: true }),
      'put it first: reject.mail("@spam.test", 451)',
    ],
  ])("%s", (_what, make, message) => {
    expect(make).toThrow(TypeError);
    expect(make).toThrow(message);
  });

  test("text with an address in it, and an address in the options, still work", () => {
    expect(() => reject.rcpt(550, "5.1.1 <bob@x.test>: Recipient address rejected")).not.toThrow();
    expect(() => reject.rcpt({ code: 550, message: "bob@x.test" })).not.toThrow();
    expect(() => reject.rcpt("bob@x.test", 550, "No such user")).not.toThrow();
    // A match given in the options: the address is the text on purpose.
    expect(() => reject.rcpt(550, "bob@x.test", { match: "alice@y.test" })).not.toThrow();
    // A match given as undefined is none: still the swapped arguments.
    expect(() => loose(reject.rcpt)(550, "bob@x.test", { match: undefined })).toThrow(
      /put it first/,
    );
  });
});

describe("partialRecipients keys must be addresses", () => {
  test("a key in angle brackets is refused, naming the address to write", () => {
    expect(() => partialRecipients({ "<bob@x.test>": 550 })).toThrow(
      new TypeError(
        'partialRecipients() for "<bob@x.test>": write the address without angle brackets: "bob@x.test" (it is compared with the RCPT address, case-insensitively)',
      ),
    );
  });

  test.each([["not an address"], ["@x.test"], ["bob"], ["bob@x.test "]])("%j is refused", (key) => {
    expect(() => partialRecipients({ [key]: 550 })).toThrow(
      `partialRecipients() for ${JSON.stringify(key)}: not an envelope address; give addresses like "bob@example.com"`,
    );
  });

  test("a valid key still refuses its recipient at RCPT", async () => {
    smtp.use(partialRecipients({ "Bob@Example.com": 550 }));
    expect((await sendFails(smtp)).response).toBe("550 5.1.1 No such user");
  });
});

describe("arguments that would be ignored are a TypeError", () => {
  test.each([
    [
      'disconnect.before("RCPT", 1)',
      () => loose(disconnect.before)("RCPT", 1),
      'disconnect.before(): options must be an object, e.g. disconnect.before("RCPT", { once: true }); got 1',
    ],
    [
      'disconnect.after("RCPT", null)',
      () => loose(disconnect.after)("RCPT", null),
      'disconnect.after(): options must be an object, e.g. disconnect.after("RCPT", { once: true }); got null',
    ],
    [
      'disconnect.before("RCPT", "bob@x.test")',
      () => loose(disconnect.before)("RCPT", "bob@x.test"),
      'disconnect.before(): options must be an object, e.g. disconnect.before("RCPT", { once: true }); got "bob@x.test" (to limit it to an address, give { match: "bob@x.test" })',
    ],
    [
      'disconnect.before("RCPT", {}, 1)',
      () => loose(disconnect.before)("RCPT", {}, 1),
      'disconnect.before(): too many arguments (3): 1 would be ignored; use disconnect.before(stage, options?), e.g. disconnect.before("RCPT", { once: true })',
    ],
    [
      'delay.reply("RCPT", 500, 3)',
      () => loose(delay.reply)("RCPT", 500, 3),
      'delay.reply(): options must be an object, e.g. delay.reply("RCPT", 500, { once: true }); got 3',
    ],
    [
      'slowDrip("RCPT", 5)',
      () => loose(slowDrip)("RCPT", 5),
      'slowDrip(): options must be an object, e.g. slowDrip("RCPT", { bytesPerChunk: 1, intervalMs: 20 }); got 5',
    ],
    [
      'hang("RCPT", 5)',
      () => loose(hang)("RCPT", 5),
      'hang(): options must be an object, e.g. hang("RCPT", { once: true }); got 5',
    ],
    [
      'hang.during("DATA", { afterBytes: 1 }, 2)',
      () => loose(hang.during)("DATA", { afterBytes: 1 }, 2),
      'hang.during(): too many arguments (3): 2 would be ignored; use hang.during("DATA", { afterBytes })',
    ],
    [
      "closeAfterMessages(2, 5)",
      () => loose(closeAfterMessages)(2, 5),
      "closeAfterMessages(): options must be an object, e.g. closeAfterMessages(2, { once: true }); got 5",
    ],
    [
      "dropAfterData(true)",
      () => loose(dropAfterData)(true),
      "dropAfterData(): options must be an object, e.g. dropAfterData({ once: true }); got true",
    ],
    [
      'tlsFailure("alert")',
      () => loose(tlsFailure)("alert"),
      'tlsFailure(): options must be an object, e.g. tlsFailure({ mode: "alert" }); got "alert"',
    ],
    [
      "failTimes(2, reject.mail(451), { once: true })",
      () => loose(failTimes)(2, reject.mail(451), { once: true }),
      "failTimes(): too many arguments (3): { once: true } would be ignored; use failTimes(n, fault) or failTimes(n, { stage, code, ... }), e.g. failTimes(2, reject.mail(451)); n is the count, so once and times have no place",
    ],
    [
      "greylist({}, 1)",
      () => loose(greylist)({}, 1),
      "greylist(): too many arguments (2): 1 would be ignored",
    ],
    [
      "rateLimit({ max, perMs }, 1)",
      () => loose(rateLimit)({ max: 1, perMs: 10 }, 1),
      "rateLimit(): too many arguments (2): 1 would be ignored",
    ],
    [
      "partialRecipients(map, 1)",
      () => loose(partialRecipients)({ "a@x.test": 450 }, 1),
      'partialRecipients(): options must be an object, e.g. partialRecipients({ "a@x.test": 450 }, { once: true }); got 1',
    ],
    [
      "chaos({ probability }, 1)",
      () => loose(chaos)({ probability: 0.5 }, 1),
      "chaos(): too many arguments (2): 1 would be ignored",
    ],
    [
      "withScope(scope, fault, 1)",
      () => loose(withScope)(smtp.inbox.scope(), reject.rcpt(), 1),
      "withScope(): too many arguments (3): 1 would be ignored",
    ],
  ])("%s", (_what, make, message) => {
    expect(make).toThrow(TypeError);
    expect(make).toThrow(message);
  });
});

describe("failTimes(n, ...) says what to write", () => {
  test.each([
    [
      "a stage in the wrong place is named after failTimes, not reject.at",
      () => failTimes(2, { stage: "MALE" as "MAIL", code: 451 }),
      'failTimes(): unknown stage "MALE"',
    ],
    [
      "times in the options would be replaced by n",
      () => failTimes(2, { stage: "MAIL", code: 451, times: 5 } as never),
      "failTimes(): n (2) is the count; drop times: 5",
    ],
    [
      "once in the options",
      () => failTimes(2, { stage: "MAIL", once: true } as never),
      "failTimes(): n (2) is the count; drop once: true",
    ],
    [
      "a fault with a count of its own",
      () => failTimes(2, reject.mail({ code: 451, times: 5 })),
      "failTimes(): reject.mail(451 4.3.0) [times 5] already has a count (times: 5); n (2) is the count, so build the fault without once or times",
    ],
    [
      "options without a stage",
      () => failTimes(2, { code: 451 } as never),
      'failTimes(): { code: 451 } has no stage; give one, e.g. failTimes(2, { stage: "MAIL", code: 451 }), or a fault: failTimes(2, reject.mail(451))',
    ],
  ])("%s", (_what, make, message) => {
    expect(make).toThrow(TypeError);
    expect(make).toThrow(message);
  });
});

describe("stages and values are described properly", () => {
  test.each([
    [
      "reject.at() without a stage",
      () => loose(reject.at)(),
      'reject.at(): the stage is missing; give it first, e.g. "RCPT" (valid stages: CONNECT (or GREETING), EHLO',
    ],
    [
      "a number as the stage",
      () => loose(delay.reply)(500, "RCPT"),
      'delay.reply(): the stage must be a name such as "RCPT", got 500; valid stages: CONNECT',
    ],
    [
      "disconnect.during without its stage",
      () => loose(disconnect.during)({ afterBytes: 10 }),
      'disconnect.during(): the stage comes first: disconnect.during("DATA", { afterBytes: 10 })',
    ],
    [
      "afterBytes given to hang()",
      () => loose(hang)("DATA", { afterBytes: 10 }),
      'hang(): afterBytes is for a stop part-way through the data: hang.during("DATA", { afterBytes: 10 })',
    ],
    [
      "afterBytes given to disconnect.before()",
      () => loose(disconnect.before)("DATA", { afterBytes: 10, once: true }),
      'disconnect.before(): afterBytes is for a cut part-way through the data: disconnect.during("DATA", { afterBytes: 10, once: true })',
    ],
    [
      "an empty object is {}",
      () => partialRecipients({}),
      'partialRecipients(): give an object of recipients and codes, e.g. { "a@x.test": 450, "b@x.test": 550 }; got {}',
    ],
  ])("%s", (_what, make, message) => {
    expect(make).toThrow(TypeError);
    expect(make).toThrow(message);
    expect(make).not.toThrow(/ a undefined| a object| a number|\{ {2}\}/);
  });
});

describe("the types follow the forms", () => {
  test("the forms read as meant compile; the refused ones do not", () => {
    expectTypeOf(reject.at).toBeCallableWith("RCPT", 450);
    expectTypeOf(reject.at).toBeCallableWith("RCPT", 451, "4.3.0 Busy", { once: true });
    expectTypeOf(reject.at).toBeCallableWith("RCPT", "bob@x.test", { code: 550 });
    expectTypeOf(reject.mail).toBeCallableWith(451, { once: true });
    expectTypeOf(reject.rcpt).toBeCallableWith("bob@x.test", { code: 450, once: true });
    expectTypeOf(reject.rcpt).toBeCallableWith("bob@x.test", 550, { once: true });
    if (false as boolean) {
      // @ts-expect-error a number is not greylist's options
      greylist(5000);
      // @ts-expect-error options are an object
      delay.reply("RCPT", 500, 3);
      // @ts-expect-error n is the count: no third argument
      failTimes(2, reject.mail(451), { once: true });
      // @ts-expect-error the code comes once
      reject.mail(451, { code: 450 });
    }
  });
});
