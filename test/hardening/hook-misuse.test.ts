// biome-ignore-all lint/suspicious/noThenProperty: hooks returning thenables are what this file tests
/**
 * Hooks that answer in ways no well-written hook does: a returned "thenable" whose
 * `then` throws (or whose `then` getter does), and a refusal that carries a success
 * code (`responseCode` 250, 354, ...). Every hook is invoked through the same
 * adapter, so each misuse is tried at every stage: the client gets the stage's
 * documented refusal, a refusal never goes out as a 2xx/3xx, and the process never
 * sees an uncaught exception or an unhandled rejection.
 */
import { describe, expect, test } from "vitest";
import { SMTPError, startTestSmtp } from "../../src/index.js";
import type { RawReply } from "../helpers/raw-client.js";
import { type AnyHook, type HookPoint, hookHarness } from "./hook-harness.js";
import { REPLY_LINE, within } from "./support.js";

/** Bound on any single wait; a hook that is never answered would hit socketTimeout. */
const BOUND_MS = 5000;
/** Well over BOUND_MS: a missing reply fails on BOUND_MS, not on the idle timeout. */
const SOCKET_TIMEOUT_MS = 30_000;

const suite = hookHarness({ socketTimeout: SOCKET_TIMEOUT_MS });
const { start, connect } = suite;

/**
 * Runs the dialog up to the command `point` answers; returns that reply and
 * whether the session is still usable afterwards (NOOP answered 250).
 */
async function drive(
  point: HookPoint,
  port: number,
): Promise<{ reply: RawReply; usable: boolean }> {
  const c = await connect(port, point === "onSecure");
  const read = (what: string) => within(c.read(), BOUND_MS, what);
  const command = (line: string) => within(c.command(line), BOUND_MS, line);
  let reply = await read("greeting");
  if (point !== "onConnect" && point !== "onSecure") {
    expect(reply.code).toBe(220);
    expect((await command("EHLO client.test")).code).toBe(250);
    if (point === "onAuth") {
      reply = await command(`AUTH PLAIN ${Buffer.from("\0user\0pass").toString("base64")}`);
    } else {
      reply = await command("MAIL FROM:<a@x.test>");
      if (point !== "onMailFrom") {
        expect(reply.code).toBe(250);
        reply = await command("RCPT TO:<b@x.test>");
      }
      if (point === "onData") {
        expect(reply.code).toBe(250);
        expect((await command("DATA")).code).toBe(354);
        reply = await command("Subject: x\r\n\r\nbody\r\n.");
      }
    }
  }
  for (const line of reply.raw.split("\r\n").slice(0, -1)) expect(line).toMatch(REPLY_LINE);
  // A refusal at connect (onConnect, onSecure) closes the connection.
  if (point === "onConnect" || point === "onSecure") {
    await within(c.waitClose(), BOUND_MS, "the refused connection closes");
    return { reply, usable: false };
  }
  return { reply, usable: (await command("NOOP")).code === 250 };
}

/** The refusal each stage documents for a rejection without a usable responseCode. */
const STAGE_DEFAULT: Record<HookPoint, number> = {
  onConnect: 554,
  onSecure: 554,
  onAuth: 535,
  onMailFrom: 550,
  onRcptTo: 550,
  onData: 450,
};

const POINTS = Object.keys(STAGE_DEFAULT) as HookPoint[];

/** An Error as smtp-server's hooks build them: a message and a `responseCode`. */
function errorWithCode(message: string, responseCode: unknown): Error {
  return Object.assign(new Error(message), { responseCode });
}

describe("a hook whose returned thenable misbehaves", () => {
  // As `await` adopts a thenable: what its `then` throws is the rejection's reason.
  const THENABLES: ReadonlyArray<[string, () => unknown, "default" | number]> = [
    [
      "whose then throws an Error",
      () => ({
        then() {
          throw new Error("bad thenable");
        },
      }),
      "default",
    ],
    [
      "whose then throws a string",
      () => ({
        then() {
          throw "bad thenable";
        },
      }),
      451,
    ],
    [
      "whose then getter throws",
      () => ({
        get then() {
          throw new Error("bad getter");
        },
      }),
      "default",
    ],
    [
      "whose then throws an SMTP refusal",
      () => ({
        then() {
          throw new SMTPError(553, "Refused by a thenable");
        },
      }),
      553,
    ],
    [
      "that rejects, then throws",
      () => ({
        then(_ok: unknown, fail: (e: unknown) => void) {
          fail(errorWithCode("first", 552));
          throw new Error("second");
        },
      }),
      552,
    ],
    [
      "that is a function whose then throws",
      () =>
        Object.assign(() => undefined, {
          then() {
            throw new Error("bad function thenable");
          },
        }),
      "default",
    ],
  ];

  describe.each(POINTS)("%s", (point) => {
    test.each(THENABLES)(
      `${point} returning a thenable %s: its refusal, no crash`,
      async (_n, make, expected) => {
        const hook: AnyHook = (...args) => {
          if (point === "onData") (args[0] as NodeJS.ReadableStream).resume();
          return make();
        };
        const port = await start(point, hook);
        const { reply, usable } = await drive(point, port);
        // At connect every refusal is 554 unless it names its own code.
        const atConnect = point === "onConnect" || point === "onSecure";
        const code =
          expected === "default" || (atConnect && expected === 451)
            ? STAGE_DEFAULT[point]
            : expected;
        expect(reply.code).toBe(code);
        if (!atConnect) expect(usable).toBe(true);
      },
    );
  });

  test.each(POINTS)("%s returning a thenable that fulfils: accepted", async (point) => {
    const hook: AnyHook = (...args) => {
      if (point === "onData") (args[0] as NodeJS.ReadableStream).resume();
      const value = point === "onAuth" ? { user: "u" } : undefined;
      return { then: (ok: (v: unknown) => void) => ok(value) };
    };
    const port = await start(point, hook);
    const c = await connect(port, point === "onSecure");
    expect((await within(c.read(), BOUND_MS, "greeting")).code).toBe(220);
    const command = (line: string) => within(c.command(line), BOUND_MS, line);
    expect((await command("EHLO client.test")).code).toBe(250);
    if (point === "onAuth") {
      expect((await command(`AUTH PLAIN ${Buffer.from("\0u\0p").toString("base64")}`)).code).toBe(
        235,
      );
    }
    expect((await command("MAIL FROM:<a@x.test>")).code).toBe(250);
    expect((await command("RCPT TO:<b@x.test>")).code).toBe(250);
    expect((await command("DATA")).code).toBe(354);
    expect((await command("Subject: x\r\n\r\nbody\r\n.")).code).toBe(250);
  });

  test("onData throwing synchronously: 451, the session goes on", async () => {
    const port = await start("onData", () => {
      throw new Error("bug in the hook");
    });
    const { reply, usable } = await drive("onData", port);
    expect(reply.raw).toBe("451 Error: internal server error\r\n");
    expect(usable).toBe(true);
  });

  test("onClose returning a thenable whose then throws: reported through 'error'", async () => {
    const errors: Error[] = [];
    let reported!: () => void;
    const firstError = new Promise<void>((resolve) => {
      reported = resolve;
    });
    const port = await start("onConnect", (...a: unknown[]) => (a.at(-1) as () => void)(), {
      onClose: () => ({
        then() {
          throw new Error("bad onClose thenable");
        },
      }),
    });
    suite.server!.on("error", (e: Error) => {
      errors.push(e);
      reported();
    });
    const c = await connect(port, false);
    expect((await within(c.read(), BOUND_MS, "greeting")).code).toBe(220);
    expect((await within(c.command("QUIT"), BOUND_MS, "QUIT")).code).toBe(221);
    await within(firstError, BOUND_MS, "'error' from onClose");
    expect(errors.map((e) => e.message)).toEqual(["bad onClose thenable"]);
  });
});

describe("a refusal never goes out with a success code", () => {
  /** Codes a refusal cannot carry: 2xx and 3xx (and nonsense around them). */
  const NOT_REFUSALS = [200, 220, 221, 235, 250, 251, 334, 354, 399, 600, 199];

  test.each(NOT_REFUSALS)(
    "onRcptTo refusing with responseCode %i: 550, and the recipient is not added",
    async (code) => {
      const port = await start("onRcptTo", (...a: unknown[]) =>
        (a.at(-1) as (e: Error) => void)(errorWithCode("refused", code)),
      );
      const c = await connect(port, false);
      await within(c.read(), BOUND_MS, "greeting");
      const command = (line: string) => within(c.command(line), BOUND_MS, line);
      expect((await command("EHLO client.test")).code).toBe(250);
      expect((await command("MAIL FROM:<a@x.test>")).code).toBe(250);
      expect((await command("RCPT TO:<b@x.test>")).raw).toBe("550 refused\r\n");
      // The recipient was refused: there is nobody to send data to.
      expect((await command("DATA")).code).toBe(503);
    },
  );

  test.each([250, 354])(
    "onData refusing with responseCode %i after the data: 450",
    async (code) => {
      const port = await start("onData", (...a: unknown[]) => {
        const stream = a[0] as NodeJS.ReadableStream;
        const cb = a.at(-1) as (e: Error) => void;
        stream.resume();
        stream.on("end", () => cb(errorWithCode("rejected by hook", code)));
      });
      const { reply, usable } = await drive("onData", port);
      expect(reply.raw).toBe("450 rejected by hook\r\n");
      expect(usable).toBe(true);
    },
  );

  test.each(POINTS.filter((p) => p !== "onConnect" && p !== "onSecure"))(
    "%s rejecting (async) with responseCode 250: the stage's default refusal",
    async (point) => {
      const port = await start(point, async (...args: unknown[]) => {
        if (point === "onData") (args[0] as NodeJS.ReadableStream).resume();
        throw errorWithCode("no", 250);
      });
      const { reply, usable } = await drive(point, port);
      expect(reply.code).toBe(STAGE_DEFAULT[point]);
      expect(usable).toBe(true);
    },
  );

  test.each(["onConnect", "onSecure"] as const)(
    "%s refusing with responseCode 250: 554 and the connection closes, never a 250",
    async (point) => {
      const port = await start(point, async () => {
        throw errorWithCode("go away", 250);
      });
      const { reply, usable } = await drive(point, port);
      expect(reply.raw).toBe("554 go away\r\n");
      expect(usable).toBe(false);
    },
  );

  test("onAuth answering without a user and responseCode 235: 535, not authenticated", async () => {
    const port = await start("onAuth", (...a: unknown[]) =>
      (a.at(-1) as (e: null, r: unknown) => void)(null, { responseCode: 235, message: "nope" }),
    );
    const { reply } = await drive("onAuth", port);
    expect(reply.raw).toBe("535 nope\r\n");
  });

  test("an enhanced code of a success class goes with the success code (ENHANCEDSTATUSCODES)", async () => {
    const port = await start(
      "onRcptTo",
      (...a: unknown[]) =>
        (a.at(-1) as (e: Error) => void)(errorWithCode("2.1.5 Recipient ok", 250)),
      { hideENHANCEDSTATUSCODES: false },
    );
    const { reply } = await drive("onRcptTo", port);
    expect(reply.raw).toBe("550 5.1.1 Recipient ok\r\n");
  });

  test("a refusal code (4xx, 5xx) is kept as given", async () => {
    const port = await start(
      "onRcptTo",
      (...a: unknown[]) =>
        (a.at(-1) as (e: Error) => void)(errorWithCode("4.2.2 Mailbox full", 452)),
      { hideENHANCEDSTATUSCODES: false },
    );
    const { reply } = await drive("onRcptTo", port);
    expect(reply.raw).toBe("452 4.2.2 Mailbox full\r\n");
  });

  test("LMTP: a recipient's Error with responseCode 250 gets 450", async () => {
    const port = await start(
      "onData",
      (...a: unknown[]) => {
        const stream = a[0] as NodeJS.ReadableStream;
        const cb = a.at(-1) as (e: null, v: unknown[]) => void;
        stream.resume();
        stream.on("end", () => cb(null, ["Delivered", errorWithCode("not delivered", 250)]));
      },
      { lmtp: true },
    );
    const c = await connect(port, false);
    await within(c.read(), BOUND_MS, "greeting");
    const command = (line: string) => within(c.command(line), BOUND_MS, line);
    expect((await command("LHLO lmtp.test")).code).toBe(250);
    expect((await command("MAIL FROM:<a@x.test>")).code).toBe(250);
    expect((await command("RCPT TO:<b@x.test>")).code).toBe(250);
    expect((await command("RCPT TO:<c@x.test>")).code).toBe(250);
    expect((await command("DATA")).code).toBe(354);
    c.write("Subject: x\r\n\r\nbody\r\n.\r\n");
    const replies = await within(c.readMany(2), BOUND_MS, "one reply per recipient");
    expect(replies.map((r) => r.raw)).toEqual(["250 Delivered\r\n", "450 not delivered\r\n"]);
  });

  test("the fixture: the refused recipient is recorded with the 550 it got", async () => {
    const smtp = await startTestSmtp({
      onRcptTo: (_address, _session, cb) => cb(errorWithCode("refused", 250)),
    });
    try {
      const c = await connect(smtp.port, false);
      await within(c.read(), BOUND_MS, "greeting");
      const command = (line: string) => within(c.command(line), BOUND_MS, line);
      expect((await command("EHLO client.test")).code).toBe(250);
      expect((await command("MAIL FROM:<a@x.test>")).code).toBe(250);
      expect((await command("RCPT TO:<b@x.test>")).raw).toBe("550 5.1.1 refused\r\n");
      expect((await command("QUIT")).code).toBe(221);
      await within(c.waitClose(), BOUND_MS, "QUIT closes");
      const attempts = smtp.inbox.attempts;
      expect(attempts).toHaveLength(1);
      expect(attempts[0]!.reply).toMatchObject({ code: 550 });
      expect(smtp.inbox.messages).toHaveLength(0);
    } finally {
      await smtp.close();
    }
  });

  test.each([200, 250, 354, 399])("new SMTPError(%i, ...) is a RangeError", (code) => {
    expect(() => new SMTPError(code, "not a refusal")).toThrow(RangeError);
  });

  test.each([421, 450, 550, 599])("new SMTPError(%i, ...) is a refusal", (code) => {
    expect(new SMTPError(code, "refused").responseCode).toBe(code);
  });
});
