import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import {
  chaos,
  type FaultContext,
  failTimes,
  greylist,
  partialRecipients,
  reject,
  startTestSmtp,
  type TestSmtp,
  withScope,
} from "../../src/index.js";
import { RawClient } from "../helpers/raw-client.js";
import { rawClient, send, sendFails } from "./helpers.js";

let smtp: TestSmtp;
beforeAll(async () => {
  // A baseline fault: always there, restored by resetFaults().
  smtp = await startTestSmtp({ faults: [reject.rcpt("blocked@example.com", 550)] });
});
afterAll(() => smtp.close());
afterEach(() => smtp.reset());

const codesFor = async (tos: string[]) =>
  Promise.all(tos.map(async (to) => ((await send(smtp, { to })).ok ? 250 : "failed")));

describe("matching", () => {
  test("an address matches case-insensitively; @domain matches a whole domain", async () => {
    smtp.use(reject.rcpt("Bob@Example.com"), reject.rcpt("@spam.test", 550));
    expect(
      await codesFor(["bob@example.com", "BOB@EXAMPLE.COM", "x@spam.test", "ok@example.com"]),
    ).toEqual(["failed", "failed", "failed", 250]);
  });

  test("an address matches the mailbox whether its domain is written in Unicode or punycode", async () => {
    // nodemailer sends the punycode form (RCPT TO:<user@xn--bcher-kva.example>).
    smtp.use(reject.rcpt("user@bücher.example", 550), reject.rcpt("@xn--mller-kva.example", 550));
    expect(await codesFor(["user@bücher.example", "x@müller.example", "ok@example.com"])).toEqual([
      "failed",
      "failed",
      250,
    ]);
    smtp.resetFaults();
    smtp.use(partialRecipients({ "user@bücher.example": 551 }));
    const partial = await send(smtp, { to: ["user@xn--bcher-kva.example", "ok@example.com"] });
    expect(partial.ok && partial.info.rejected).toEqual(["user@xn--bcher-kva.example"]);
  });

  test("a quoted local part matches the same mailbox unquoted", async () => {
    smtp.use(reject.rcpt("first.last@example.com", 550));
    const c = await rawClient(smtp);
    expect((await c.command("MAIL FROM:<a@x.test>")).code).toBe(250);
    expect((await c.command('RCPT TO:<"first.last"@example.com>')).code).toBe(550);
    c.close();
  });

  test("a RegExp is tested against the address", async () => {
    smtp.use(reject.rcpt(/^(bob|carol)@/));
    expect(await codesFor(["bob@example.com", "carol@example.com", "dave@example.com"])).toEqual([
      "failed",
      "failed",
      250,
    ]);
  });

  test("a predicate sees the command and the session", async () => {
    const seen: FaultContext[] = [];
    smtp.use(
      reject.mail((ctx) => {
        seen.push(ctx);
        return ctx.session.hostNameAppearsAs === "bad.client";
      }),
    );
    const good = await rawClient(smtp);
    expect((await good.command("MAIL FROM:<a@x.test>")).code).toBe(250);
    const bad = await RawClient.connect(smtp.port);
    await bad.read();
    await bad.command("EHLO bad.client");
    expect((await bad.command("MAIL FROM:<a@x.test>")).code).toBe(550);
    good.close();
    bad.close();
    expect(seen.map((c) => [c.stage, c.command, c.address, c.message])).toEqual([
      ["MAIL", "MAIL FROM:<a@x.test>", "a@x.test", 1],
      ["MAIL", "MAIL FROM:<a@x.test>", "a@x.test", 2],
    ]);
  });

  test("an EHLO fault matches the name the client gave", async () => {
    smtp.use(reject.ehlo("bad.client"));
    const c = await RawClient.connect(smtp.port);
    await c.read();
    expect((await c.command("EHLO good.client")).code).toBe(250);
    expect((await c.command("EHLO BAD.client")).code).toBe(550);
    c.close();
  });

  test("{ connection: n } counts connections from when the fault was installed", async () => {
    const early = await rawClient(smtp); // opened before use(): never matches
    smtp.use(reject.connect({ connection: 2 }));
    const outcomes = [];
    for (let i = 0; i < 3; i++) outcomes.push((await send(smtp)).ok);
    expect(outcomes).toEqual([true, false, true]);
    expect((await early.command("NOOP")).code).toBe(250);
    early.close();
  });

  test("{ message: n } is the nth MAIL FROM on the server since the fault was installed", async () => {
    expect((await send(smtp)).ok).toBe(true); // before use(): not counted
    smtp.use(reject.dataEnd({ message: 2 }, 451));
    const outcomes = [];
    for (let i = 0; i < 3; i++) outcomes.push((await send(smtp)).ok);
    expect(outcomes).toEqual([true, false, true]);
  });

  test("{ transaction: n } is the nth transaction on its connection", async () => {
    smtp.use(reject.mail({ transaction: 2 }, 451));
    const c = await rawClient(smtp);
    expect((await c.command("MAIL FROM:<a@x.test>")).code).toBe(250);
    expect((await c.command("RSET")).code).toBe(250);
    expect((await c.command("MAIL FROM:<a@x.test>")).code).toBe(451);
    c.close();
  });

  test.each([
    // A client retrying a refused MAIL moves on to the next number.
    [
      "MAIL, counting refused MAILs too",
      reject.mail({ transaction: 2 }, 451),
      [250, 451, 250, 250],
      [250, 503, 250, 250],
    ],
    [
      "RCPT, as the transaction its MAIL began",
      reject.rcpt({ transaction: 2 }, 550),
      [250, 250, 250, 250],
      [250, 550, 250, 250],
    ],
  ])("{ transaction: n } at %s", async (_name, fault, mailCodes, rcptCodes) => {
    smtp.use(fault);
    const c = await rawClient(smtp);
    const mail = [];
    const rcpt = [];
    for (let i = 0; i < 4; i++) {
      mail.push((await c.command("MAIL FROM:<a@x.test>")).code);
      rcpt.push((await c.command("RCPT TO:<bob@example.com>")).code);
      expect((await c.command("RSET")).code).toBe(250);
    }
    expect([mail, rcpt]).toEqual([mailCodes, rcptCodes]);
    c.close();
  });

  test("an object match combines its keys", async () => {
    smtp.use(reject.rcpt({ address: "bob@example.com", message: 2 }, 550));
    expect(await codesFor(["bob@example.com"])).toEqual([250]);
    expect((await send(smtp, { to: "bob@example.com" })).ok).toBe(false);
    expect((await send(smtp, { to: "bob@example.com" })).ok).toBe(true);
  });
});

describe("counting: once and times", () => {
  test("once fires one time, then stays listed as spent", async () => {
    smtp.use(reject.mail({ code: 451, once: true }));
    expect((await sendFails(smtp)).responseCode).toBe(451);
    expect((await send(smtp)).ok).toBe(true);
    expect(smtp.listFaults()[0]).toEqual({
      name: "reject.mail(451 4.3.0) [once]",
      stages: ["MAIL"],
      remaining: 0,
    });
  });

  test("times: n fires n times", async () => {
    smtp.use(reject.mail(451, undefined, { times: 2 }));
    expect((await send(smtp)).ok).toBe(false);
    expect((await send(smtp)).ok).toBe(false);
    expect((await send(smtp)).ok).toBe(true);
  });

  test("only matching commands count", async () => {
    smtp.use(reject.rcpt("bob@example.com", 550, undefined, { once: true }));
    expect((await send(smtp, { to: "carol@example.com" })).ok).toBe(true);
    expect((await send(smtp, { to: "bob@example.com" })).ok).toBe(false);
    expect((await send(smtp, { to: "bob@example.com" })).ok).toBe(true);
  });
});

describe("use(), listFaults() and resetFaults()", () => {
  test("the newest fault wins", async () => {
    smtp.use(reject.rcpt(550));
    smtp.use(reject.rcpt(450));
    expect((await sendFails(smtp)).responseCode).toBe(450);
    expect(smtp.listFaults().map((f) => f.name)).toEqual([
      "reject.rcpt(450 4.2.1)",
      "reject.rcpt(550 5.1.1)",
      'reject.rcpt("blocked@example.com", 550 5.1.1)',
    ]);
  });

  test("of the faults given to one use(a, b), the first decides (as in msw)", async () => {
    smtp.use(reject.rcpt(451), reject.rcpt(552));
    expect((await sendFails(smtp)).responseCode).toBe(451);
  });

  test("resetFaults() goes back to the faults given at start", async () => {
    smtp.use(reject.mail(451), greylist());
    smtp.resetFaults();
    expect(smtp.listFaults()).toEqual([
      {
        name: 'reject.rcpt("blocked@example.com", 550 5.1.1)',
        stages: ["RCPT"],
        remaining: Infinity,
      },
    ]);
    expect((await send(smtp)).ok).toBe(true);
    expect((await sendFails(smtp, { to: "blocked@example.com" })).responseCode).toBe(550);
  });
});

describe("state", () => {
  const shared = greylist();

  test.each([1, 2])("a fault instance starts fresh each time it is installed (%i)", async () => {
    smtp.use(shared);
    expect((await send(smtp)).ok).toBe(false);
    expect((await send(smtp)).ok).toBe(true);
  });
});

describe("resetFaults() in afterEach leaves no fault behind", () => {
  afterEach(() => smtp.resetFaults());

  test("test 1 installs a fault that refuses everything", async () => {
    smtp.use(reject.mail(), reject.connect(), greylist());
    expect((await send(smtp)).ok).toBe(false);
  });

  test("test 2 does not see it", async () => {
    expect(smtp.listFaults().map((f) => f.name)).toEqual([
      'reject.rcpt("blocked@example.com", 550 5.1.1)',
    ]);
    expect((await send(smtp)).ok).toBe(true);
  });
});

describe("scoped faults", () => {
  test("a scope option limits a fault to that scope's addresses", async () => {
    const mine = smtp.inbox.scope("mine");
    const theirs = smtp.inbox.scope("theirs");
    smtp.use(reject.rcpt({ code: 550, scope: mine }));
    expect((await send(smtp, { to: mine.address("alice") })).ok).toBe(false);
    expect((await send(smtp, { to: theirs.address("alice") })).ok).toBe(true);
    await theirs.waitFor(theirs.address("alice"));
    expect(mine.attempts.map((a) => a.reason)).toEqual([
      "fault: reject.rcpt(550 5.1.1) [scope mine]",
    ]);
    expect(theirs.attempts.filter((a) => a.outcome === "rejected")).toEqual([]);
  });

  test("withScope() scopes any fault, and concurrent tests do not see each other's faults", async () => {
    const a = smtp.inbox.scope("a");
    const b = smtp.inbox.scope("b");
    smtp.use(withScope(a, greylist()));
    const [ra, rb] = await Promise.all([
      send(smtp, { to: a.address("u") }),
      send(smtp, { to: b.address("u") }),
    ]);
    expect(ra.ok).toBe(false);
    expect(rb.ok).toBe(true);
    expect((await send(smtp, { to: a.address("u") })).ok).toBe(true); // the greylist retry
  });

  test.each([
    ["greylist()", () => greylist()],
    ["failTimes(5, greylist())", () => failTimes(5, greylist())],
    [
      "chaos({ actions: [greylist()] })",
      () => chaos({ probability: 1, seed: 1, actions: [greylist()] }),
    ],
    [
      "chaos({ actions: [failTimes(5, greylist())] })",
      () => chaos({ probability: 1, seed: 1, actions: [failTimes(5, greylist())] }),
    ],
  ])(
    "one %s object scoped in two concurrent tests keeps each test's triplets",
    async (_n, make) => {
      const shared = make();
      const a = smtp.inbox.scope("a");
      const b = smtp.inbox.scope("b");
      smtp.use(withScope(a, shared));
      expect((await send(smtp, { to: a.address("u") })).ok).toBe(false); // a's first try
      smtp.use(withScope(b, shared)); // the other test installs the same fault object
      expect((await send(smtp, { to: a.address("u") })).ok).toBe(true); // a's retry passes
      expect((await send(smtp, { to: b.address("u") })).ok).toBe(false);
    },
  );

  test("chaos({ scope }) in two tests sharing one action object keeps each test's state", async () => {
    const g = greylist();
    const a = smtp.inbox.scope("a");
    const b = smtp.inbox.scope("b");
    smtp.use(chaos({ probability: 1, seed: 1, actions: [g], scope: a }));
    expect((await send(smtp, { to: a.address("u") })).ok).toBe(false);
    smtp.use(chaos({ probability: 1, seed: 1, actions: [g], scope: b }));
    expect((await send(smtp, { to: a.address("u") })).ok).toBe(true);
  });

  test("withScope(chaos) leaves an action with no address alone (a failTimes at EHLO)", () => {
    const a = smtp.inbox.scope("a");
    const mixed = chaos({
      probability: 1,
      seed: 1,
      actions: [failTimes(2, reject.ehlo()), reject.rcpt(451)],
    });
    expect(() => withScope(a, mixed)).not.toThrow();
  });

  test("one chaos() object scoped in two concurrent tests keeps each test's random sequence", async () => {
    const make = () => chaos({ probability: 0.5, seed: 3, actions: [reject.rcpt(451)] });
    const outcomes = async (scope: ReturnType<typeof smtp.inbox.scope>, n: number) => {
      const out: boolean[] = [];
      for (let i = 0; i < n; i++) out.push((await send(smtp, { to: scope.address(`u${i}`) })).ok);
      return out;
    };
    const alone = smtp.inbox.scope("alone");
    smtp.use(withScope(alone, make()));
    const expected = await outcomes(alone, 6); // the seed's sequence, undisturbed
    expect(expected.slice(0, 3)).not.toEqual(expected.slice(3)); // so a restart would show
    const shared = make();
    const a = smtp.inbox.scope("a");
    smtp.use(withScope(a, shared));
    const first = await outcomes(a, 3);
    smtp.use(withScope(smtp.inbox.scope("b"), shared)); // the other test's use()
    expect([...first, ...(await outcomes(a, 3))]).toEqual(expected);
  });

  test("at DATA_END a scoped fault fires when any recipient is the scope's", async () => {
    const mine = smtp.inbox.scope("m");
    smtp.use(reject.dataEnd({ scope: mine }));
    expect((await send(smtp, { to: ["x@example.com", mine.address("z")] })).ok).toBe(false);
    expect((await send(smtp, { to: ["x@example.com"] })).ok).toBe(true);
  });
});
