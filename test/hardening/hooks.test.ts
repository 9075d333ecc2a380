/**
 * User hooks that misbehave: throw, reject (with Errors and with things that are
 * not Errors), call back twice, never call back, settle after the client left.
 * Whatever they do, the client gets a 4xx/5xx reply (or, for a hook that never
 * answers, 421 after `socketTimeout`), the session stays usable where it can, the
 * process never sees an uncaught exception or unhandled rejection, and no test hangs.
 */
import { describe, expect, test } from "vitest";
import { SMTPError, SMTPServer } from "../../src/index.js";
import type { RawClient, RawReply } from "../helpers/raw-client.js";
import { type AnyHook, type HookPoint, hookHarness } from "./hook-harness.js";
import { ClosedCounter, dialog, portOf, REPLY_LINE, within } from "./support.js";

/**
 * The idle timeout that bounds a hook that never answers: given only to the tests
 * that need the server to time out, which send their whole dialog before the idle
 * phase in one write (a command still unread when a stalled loop runs the expired
 * timer would get the 421 instead of its reply).
 */
const TIMEOUT_MS = 200;
/** Generous bound on any single wait in this file. */
const BOUND_MS = 5000;
/** Every other test's: well over BOUND_MS, so a missing reply fails on BOUND_MS, not on the idle timeout. */
const SOCKET_TIMEOUT_MS = 30_000;

const suite = hookHarness({ socketTimeout: SOCKET_TIMEOUT_MS, closeTimeout: 1000 });
const { start, connect } = suite;
type Point = Exclude<HookPoint, "onSecure">;

function checkGrammar(r: RawReply): void {
  for (const line of r.raw.split("\r\n").slice(0, -1)) expect(line).toMatch(REPLY_LINE);
}

/**
 * Runs the dialog up to the command the hook answers and returns that reply, and
 * whether the session is still usable afterwards (NOOP answered 250).
 */
async function drive(point: Point, port: number): Promise<{ reply: RawReply; usable: boolean }> {
  const c = await connect(port);
  const read = () => within(c.read(), BOUND_MS, `reply at ${point}`);
  const greeting = await read();
  let reply = greeting;
  if (point !== "onConnect") {
    expect(greeting.code).toBe(220);
    expect((await c.command("EHLO client.test")).code).toBe(250);
    if (point === "onAuth") {
      reply = await within(
        c.command(`AUTH PLAIN ${Buffer.from("\0user\0pass").toString("base64")}`),
        BOUND_MS,
        "AUTH",
      );
    } else {
      reply = await within(c.command("MAIL FROM:<a@x.test>"), BOUND_MS, "MAIL");
      if (point !== "onMailFrom") {
        expect(reply.code).toBe(250);
        reply = await within(c.command("RCPT TO:<b@x.test>"), BOUND_MS, "RCPT");
      }
      if (point === "onData") {
        expect(reply.code).toBe(250);
        expect((await within(c.command("DATA"), BOUND_MS, "DATA")).code).toBe(354);
        reply = await within(c.command("Subject: x\r\n\r\nbody\r\n."), BOUND_MS, "end of data");
      }
    }
  }
  checkGrammar(reply);
  // After onConnect there is no session to probe (a refusal or 421 closes it).
  if (c.closed || point === "onConnect") return { reply, usable: false };
  let usable = false;
  try {
    usable = (await within(c.command("NOOP"), BOUND_MS, "NOOP")).code === 250;
  } catch {
    usable = false;
  }
  return { reply, usable };
}

/**
 * The dialog up to the command a hook that never answers holds, sent in one write
 * after the greeting, and the replies before that command read: the client's next
 * reply is the held one's. onConnect: nothing sent, the greeting is the held reply.
 */
async function driveToHeld(point: Point, port: number): Promise<RawClient> {
  const c = await connect(port);
  if (point === "onConnect") return c;
  expect((await within(c.read(), BOUND_MS, "greeting")).code).toBe(220);
  const lines = ["EHLO client.test"];
  if (point === "onAuth")
    lines.push(`AUTH PLAIN ${Buffer.from("\0user\0pass").toString("base64")}`);
  else lines.push("MAIL FROM:<a@x.test>");
  if (point === "onRcptTo" || point === "onData") lines.push("RCPT TO:<b@x.test>");
  const body = point === "onData" ? "DATA\r\nSubject: x\r\n\r\nbody\r\n.\r\n" : "";
  c.write(`${lines.map((l) => `${l}\r\n`).join("")}${body}`);
  // Every command before the held one is answered as usual.
  const before =
    point === "onData" ? [...lines.map(() => 250), 354] : lines.slice(1).map(() => 250);
  for (const code of before) {
    expect((await within(c.read(), BOUND_MS, `reply before ${point}`)).code).toBe(code);
  }
  return c;
}

/** Each misbehaviour, as a hook with smtp-server's signature (callback last). */
const last = (args: unknown[]) => args[args.length - 1] as (err?: unknown, v?: unknown) => void;

const FAILING: ReadonlyArray<[string, AnyHook]> = [
  [
    "throws an Error synchronously",
    () => {
      throw new Error("boom");
    },
  ],
  [
    "throws a string synchronously",
    () => {
      throw "boom";
    },
  ],
  [
    "throws undefined synchronously",
    () => {
      throw undefined;
    },
  ],
  [
    "rejects with an Error",
    async () => {
      throw new Error("rejected");
    },
  ],
  ["rejects with a string", () => Promise.reject("rejected")],
  ["rejects with a number", () => Promise.reject(42)],
  ["rejects with null", () => Promise.reject(null)],
  ["rejects with undefined", () => Promise.reject(undefined)],
  ["rejects with a plain object", () => Promise.reject({ reason: "nope" })],
  [
    "rejects with an object carrying responseCode",
    () => Promise.reject({ responseCode: 554, message: "no" }),
  ],
  ["rejects with 0", () => Promise.reject(0)],
  ["rejects with an empty string", () => Promise.reject("")],
  ["rejects with false", () => Promise.reject(false)],
  ["rejects with NaN", () => Promise.reject(Number.NaN)],
  ["calls back with an Error", (...a: unknown[]) => last(a)(new Error("no"))],
  ["calls back with a string", (...a: unknown[]) => last(a)("no")],
  [
    "calls back with an Error, then with success",
    (...a: unknown[]) => {
      last(a)(new Error("first"));
      last(a)();
    },
  ],
  [
    "calls back with an Error, then returns a resolved promise",
    (...a: unknown[]) => {
      last(a)(new Error("first"));
      return Promise.resolve();
    },
  ],
  [
    "calls back with an Error, then throws",
    (...a: unknown[]) => {
      last(a)(new Error("first"));
      throw new Error("second");
    },
  ],
];

const POINTS: readonly Point[] = ["onConnect", "onAuth", "onMailFrom", "onRcptTo", "onData"];

describe.each(POINTS)("%s hook that fails", (point) => {
  test.each(FAILING)(`${point} that %s: a 4xx/5xx reply, no crash`, async (_name, hook) => {
    const port = await start(point, hook);
    const { reply, usable } = await drive(point, port);
    expect(reply.code).toBeGreaterThanOrEqual(400);
    expect(reply.code).toBeLessThan(600);
    // onConnect refusals close the connection; every later hook leaves it usable.
    if (point !== "onConnect") expect(usable).toBe(true);
  });
});

const SUCCEEDING: ReadonlyArray<[string, AnyHook]> = [
  [
    "calls back with success twice",
    (...a: unknown[]) => {
      last(a)();
      last(a)();
    },
  ],
  [
    "calls back with success, then with an Error",
    (...a: unknown[]) => {
      last(a)();
      last(a)(new Error("late"));
    },
  ],
  [
    "calls back with success, then throws",
    (...a: unknown[]) => {
      last(a)();
      throw new Error("after the callback");
    },
  ],
  [
    "calls back with success, then returns a rejected promise",
    (...a: unknown[]) => {
      last(a)();
      return Promise.reject(new Error("late rejection"));
    },
  ],
];

/** A successful answer per point: onAuth needs a user, onData must drain its stream. */
function succeed(point: Point, hook: AnyHook): AnyHook {
  return (...args: unknown[]) => {
    const cb = last(args);
    if (point === "onData") (args[0] as NodeJS.ReadableStream).resume();
    const patched = (err?: unknown) =>
      err ? cb(err) : point === "onAuth" ? cb(null, { user: "u" }) : cb();
    return hook(...args.slice(0, -1), patched);
  };
}

describe.each(POINTS)("%s hook that answers twice", (point) => {
  test.each(SUCCEEDING)(
    `${point} that %s: the first answer wins, exactly one reply`,
    async (_n, hook) => {
      const port = await start(point, succeed(point, hook));
      const { reply, usable } = await drive(point, port);
      expect(reply.code).toBeLessThan(400);
      if (point !== "onConnect") expect(usable).toBe(true);
    },
  );
});

describe.each(POINTS)("%s hook that never answers", (point) => {
  test(`${point}: 421 after socketTimeout (${TIMEOUT_MS} ms), then the connection closes`, async () => {
    const hook: AnyHook = (...args) => {
      if (point === "onData") (args[0] as NodeJS.ReadableStream).resume();
      return new Promise(() => {});
    };
    const port = await start(point, hook, { socketTimeout: TIMEOUT_MS });
    const t0 = performance.now();
    const c = await driveToHeld(point, port);
    const reply = await within(c.read(), BOUND_MS, `reply at ${point}`);
    checkGrammar(reply);
    expect(reply.code).toBe(421);
    await within(c.waitClose(), BOUND_MS, "close after the 421");
    expect(performance.now() - t0).toBeLessThan(BOUND_MS);
  });
});

describe("onData that never reads its stream and never answers", () => {
  test("a large message: backpressure, then 421 on the idle timeout, no hang", async () => {
    const port = await start("onData", () => new Promise(() => {}), { socketTimeout: TIMEOUT_MS });
    const c = await connect(port);
    await c.read();
    c.write("EHLO client.test\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@x.test>\r\nDATA\r\n");
    expect((await c.readMany(4)).map((r) => r.code)).toEqual([250, 250, 250, 354]);
    c.write(`Subject: big\r\n\r\n${"z".repeat(76)}\r\n`.repeat(40_000)); // ~3 MB
    c.write(".\r\n");
    const r = await within(c.read(), BOUND_MS * 2, "timeout reply");
    expect(r.code).toBe(421);
  });
});

describe("hooks that settle after the client has gone", () => {
  test.each(["resolve", "reject", "callback", "callback-error"] as const)(
    "onRcptTo that %ss after the client reset the connection: no crash, the server closes cleanly",
    async (how) => {
      const closes = new ClosedCounter();
      let settle: (() => void) | undefined;
      let enter!: () => void;
      const entered = new Promise<void>((resolve) => {
        enter = resolve;
      });
      const hook: AnyHook = (...args) => {
        const cb = last(args);
        enter();
        return new Promise<void>((resolve, reject) => {
          settle = () => {
            if (how === "resolve") resolve();
            else if (how === "reject") reject(new Error("late"));
            else if (how === "callback") cb();
            else cb(new Error("late"));
          };
        });
      };
      const port = await start("onRcptTo", hook, { onClose: closes.onClose, socketTimeout: 0 });
      const c = await connect(port);
      await c.read();
      await c.command("EHLO client.test");
      await c.command("MAIL FROM:<a@x.test>");
      c.write("RCPT TO:<b@x.test>\r\nDATA\r\n");
      await within(entered, BOUND_MS, "hook called");
      if (typeof c.socket.resetAndDestroy === "function") c.socket.resetAndDestroy();
      else c.close();
      await closes.until(1, BOUND_MS);
      settle?.();
      // The settled hook's reply goes nowhere; the server still closes promptly.
      await within(suite.server!.close(), BOUND_MS, "server.close()");
      suite.server = undefined;
    },
  );
});

describe("onClose that throws or rejects", () => {
  test.each([
    [
      "throws",
      () => {
        throw new Error("onClose boom");
      },
    ],
    ["rejects", () => Promise.reject(new Error("onClose rejected"))],
    ["rejects with a non-Error", () => Promise.reject("onClose string")],
  ] as const)("onClose that %s is reported through 'error', never thrown", async (_n, onClose) => {
    const errors: Error[] = [];
    let reported: () => void = () => undefined;
    const firstError = new Promise<void>((resolve) => {
      reported = resolve;
    });
    suite.server = new SMTPServer({
      onClose: onClose as () => unknown,
      disabledCommands: ["AUTH"],
    });
    suite.server.on("error", (e: Error) => {
      errors.push(e);
      reported();
    });
    await suite.server.listen(0, "127.0.0.1");
    const c = await connect(portOf(suite.server));
    await c.read();
    expect((await c.command("QUIT")).code).toBe(221);
    await within(c.waitClose(), BOUND_MS, "close");
    await within(firstError, BOUND_MS, "'error' from onClose");
    await within(suite.server.close(), BOUND_MS, "server.close()");
    suite.server = undefined;
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(Error);
    expect(errors[0]!.message).toMatch(/^onClose (boom|rejected|string)$/);
  });

  test("without an 'error' listener, a throwing onClose is swallowed", async () => {
    suite.server = new SMTPServer({
      onClose: () => {
        throw new Error("nobody listens");
      },
      disabledCommands: ["AUTH"],
    });
    await suite.server.listen(0, "127.0.0.1");
    const c = await connect(portOf(suite.server));
    await c.read();
    await c.command("QUIT");
    await within(c.waitClose(), BOUND_MS, "close");
  });
});

/** RFC 5321 4.2: textstring = 1*(%d09 / %d32-126); no CR, LF or NUL inside a reply line. */
const STRICT_LINE = /^[2-5][0-9]{2}([ -][\t\x20-\x7e]*)?$/;

describe("rejection texts from hooks cannot break or forge replies", () => {
  const MESSAGES: ReadonlyArray<[string, unknown]> = [
    [
      "an SMTPError spanning CRLF and LF lines",
      new SMTPError(550, "line one\r\nline two\nline three"),
    ],
    ["a bare CR", Object.assign(new Error("before\rafter"), { responseCode: 550 })],
    ["a NUL", Object.assign(new Error("x\0y"), { responseCode: 550 })],
    [
      "a forged success after CRLF",
      Object.assign(new Error("no\r\n250 2.1.5 fake ok"), { responseCode: 550 }),
    ],
    [
      "a forged success after a bare CR",
      Object.assign(new Error("no\r250 2.1.5 fake ok"), { responseCode: 550 }),
    ],
    ["an empty message", Object.assign(new Error(""), { responseCode: 550 })],
  ];
  const DIALOG = "EHLO client.test\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@x.test>\r\nQUIT\r\n";

  test.each(MESSAGES)(
    "onRcptTo rejecting with %s: every line is RFC 5321 text, one 5xx reply",
    async (_n, err) => {
      const port = await start("onRcptTo", () => Promise.reject(err));
      const r = await dialog(port, [DIALOG], { finish: "wait" });
      expect(r.end).toBe("server");
      expect(r.tail).toBe("");
      const bad = r.text
        .split("\r\n")
        .slice(0, -1)
        .filter((line) => !STRICT_LINE.test(line));
      expect(bad, JSON.stringify(r.text)).toEqual([]);
      expect(r.replies.map((x) => x.code)).toEqual([220, 250, 250, 550, 221]);
    },
  );
});

describe("connections the server ended are released as soon as the client is gone", () => {
  /** Well under Connection.close()'s 2 s safety timer, well over a loopback close. */
  const PROMPT_MS = 1000;

  test("refused by onConnect while the client talks early (sent bytes before the refusal)", async () => {
    const closes = new ClosedCounter();
    const port = await start("onConnect", (...a: unknown[]) => last(a)(new Error("go away")), {
      onClose: closes.onClose,
    });
    const c = await connect(port);
    expect((await c.read()).code).toBeGreaterThanOrEqual(500);
    c.write("EHLO early.talker\r\n");
    await within(c.waitClose(), BOUND_MS, "client sees the close");
    const t0 = performance.now();
    await closes.until(1, BOUND_MS);
    expect(performance.now() - t0, "onClose after the client had gone (ms)").toBeLessThan(
      PROMPT_MS,
    );
  });

  test("421 idle timeout while reading is paused by a stalled onData (backpressure)", async () => {
    const closes = new ClosedCounter();
    const port = await start("onData", () => new Promise(() => {}), {
      onClose: closes.onClose,
      socketTimeout: TIMEOUT_MS,
    });
    const c = await connect(port);
    await c.read();
    c.write("EHLO client.test\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@x.test>\r\nDATA\r\n");
    expect((await c.readMany(4)).map((r) => r.code)).toEqual([250, 250, 250, 354]);
    c.write(`${"z".repeat(998)}\r\n`.repeat(4000)); // ~4 MB: fills every buffer
    expect((await within(c.read(), BOUND_MS, "timeout reply")).code).toBe(421);
    c.close();
    const t0 = performance.now();
    await closes.until(1, BOUND_MS);
    expect(performance.now() - t0, "onClose after the client had gone (ms)").toBeLessThan(
      PROMPT_MS,
    );
  });
});
