/**
 * smtp-server's `logger` option: the entries a bunyan-style logger receives, the
 * console format of `logger: true`, AUTH payloads kept out of every log line,
 * `component`, `ignoredHosts`, `server.logger`, and the same dialog logged the
 * same way as nodemailer's smtp-server 3.21 (entry kinds and client lines).
 */
import type { AddressInfo } from "node:net";
import { format } from "node:util";
import nodemailer from "nodemailer";
import { SMTPServer as Reference } from "smtp-server";
import { afterEach, describe, expect, test, vi } from "vitest";
import { type LogEntry, type SMTPLogger, startTestSmtp } from "../../src/index.js";
import { consoleLogger } from "../../src/server/logger.js";
import type { SMTPServerOptions } from "../../src/server/options.js";
import { SMTPServer } from "../../src/server/smtp-server.js";
import { loadTestCertificates } from "../../src/server/test-certs.js";
import { RawClient } from "../helpers/raw-client.js";

interface Logged {
  level: string;
  entry: LogEntry;
  /** The message as printed (util.format of the message and its arguments). */
  text: string;
  args: unknown[];
}

/** A logger object that keeps every call. */
function capture(levels = ["trace", "debug", "info", "warn", "error", "fatal"]): {
  logger: SMTPLogger;
  calls: Logged[];
} {
  const calls: Logged[] = [];
  const logger: Record<string, unknown> = {};
  for (const level of levels) {
    logger[level] = (entry: LogEntry, message: string, ...args: unknown[]) => {
      calls.push({ level, entry, text: format(message, ...args), args: [entry, message, ...args] });
    };
  }
  return { logger: logger as SMTPLogger, calls };
}

const servers: Array<{ close(): Promise<void> }> = [];
/** What each started server reported through 'error' (a test that expects some takes them out). */
const reported: Error[][] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  // close() waited for every connection to end: nothing more will be reported.
  const errors = reported.splice(0).flatMap((list) => list.map((e) => e.message));
  expect(errors, "server 'error' events no test expected").toEqual([]);
});

async function start(
  options: SMTPServerOptions,
): Promise<{ server: SMTPServer; port: number; errors: Error[] }> {
  const server = new SMTPServer({ disableReverseLookup: true, ...options });
  const errors: Error[] = [];
  server.on("error", (err: Error) => errors.push(err));
  reported.push(errors);
  await server.listen(0, "127.0.0.1");
  servers.push(server);
  return { server, port: (server.address() as AddressInfo).port, errors };
}

const accept: Pick<SMTPServerOptions, "onAuth" | "onData"> = {
  onAuth(auth, _session, callback) {
    if (auth.password === "right-password") callback(null, { user: { username: auth.username } });
    else callback(null, {});
  },
  onData(stream, _session, callback) {
    stream.resume();
    stream.on("end", () => callback());
  },
};

describe("logger: an object with level methods", () => {
  test("a nodemailer send over STARTTLS with AUTH: each step, in order, password never logged", async () => {
    const { logger, calls } = capture();
    const { server, port } = await start({ logger, ...accept });
    const transport = nodemailer.createTransport({
      host: "127.0.0.1",
      port,
      auth: { user: "ann", pass: "right-password" },
      tls: { ca: loadTestCertificates().ca, servername: "localhost" },
    });
    await transport.sendMail({
      from: "a@x.test",
      to: "b@y.test",
      subject: "logged",
      text: "hello",
    });
    transport.close();
    await server.close();

    const kinds = calls.map((c) => `${c.level} ${c.entry.tnx}`);
    expect(kinds[0]).toBe("info listen");
    expect(kinds[1]).toBe("info connection");
    expect(kinds.slice(-3)).toEqual(["info close", "info close", "info closed"]);
    const lines = calls.map((c) => c.text);
    expect(lines).toEqual(
      expect.arrayContaining([
        `SMTP Server listening on 127.0.0.1:${port}`,
        "Connection from [127.0.0.1]",
        "S: 220 localhost ESMTP",
        "C: EHLO [127.0.0.1]",
        "C: STARTTLS",
        "S: 220 Ready to start TLS",
        "C: AUTH PLAIN /* secured */",
        "ann authenticated using PLAIN",
        "S: 235 Authentication successful",
        "C: MAIL FROM:<a@x.test>",
        "C: RCPT TO:<b@y.test>",
        "C: DATA",
        "SMTP Server closed",
      ]),
    );
    expect(lines.some((l) => /^Connection upgraded to TLS using TLS_/.test(l))).toBe(true);
    expect(lines.some((l) => /^C: <\d+ bytes of DATA>$/.test(l))).toBe(true);
    // Each reply follows its command (nodemailer pipelines MAIL, RCPT and DATA).
    const at = (l: string) => lines.indexOf(l);
    expect(at("C: MAIL FROM:<a@x.test>")).toBeLessThan(at("C: RCPT TO:<b@y.test>"));
    expect(lines[at("C: MAIL FROM:<a@x.test>") + 1]).toMatch(/^S: 250 /);
    expect(lines[at("C: RCPT TO:<b@y.test>") + 1]).toMatch(/^S: 250 /);
    expect(lines[at("C: DATA") + 1]).toMatch(/^S: 354 /);

    // smtp-server's entry fields.
    const mail = calls.find((c) => c.text === "C: MAIL FROM:<a@x.test>");
    expect(mail?.entry).toMatchObject({
      component: "smtp-server",
      tnx: "command",
      command: "MAIL",
      user: "ann",
    });
    expect(typeof mail?.entry.cid).toBe("string");
    const data = calls.find((c) => c.entry.tnx === "data");
    expect(data?.entry.bytes).toBeGreaterThan(0);
    expect(calls.every((c) => c.entry.component === "smtp-server")).toBe(true);

    // The password and its base64 form appear nowhere.
    const everything = JSON.stringify(calls.map((c) => c.args));
    expect(everything).not.toContain("right-password");
    expect(everything).not.toContain(Buffer.from("\0ann\0right-password").toString("base64"));
  });

  test("AUTH LOGIN's responses are secured; a refusal is logged as authfail", async () => {
    const { logger, calls } = capture();
    const { server, port } = await start({ logger, allowInsecureAuth: true, ...accept });
    const client = await RawClient.connect(port);
    await client.read();
    await client.command("EHLO client.test");
    expect((await client.command("AUTH LOGIN")).code).toBe(334);
    expect((await client.command(Buffer.from("bob").toString("base64"))).code).toBe(334);
    expect((await client.command(Buffer.from("wrong-password").toString("base64"))).code).toBe(535);
    await client.command("QUIT");
    await client.waitClose();
    await server.close();

    const lines = calls.map((c) => c.text);
    expect(lines).toEqual(
      expect.arrayContaining([
        "C: AUTH LOGIN",
        "Authentication failed for bob using LOGIN",
        "C: QUIT",
        "S: 221 Bye",
      ]),
    );
    expect(lines.filter((l) => l === "C: /* secured */")).toHaveLength(2);
    expect(calls.find((c) => c.entry.tnx === "authfail")?.entry).toMatchObject({
      method: "LOGIN",
      user: "bob",
    });
    const everything = JSON.stringify(calls.map((c) => c.args));
    expect(everything).not.toContain("wrong-password");
    expect(everything).not.toContain(Buffer.from("wrong-password").toString("base64"));
  });

  test("a logger with only some levels gets those; component names the entries", async () => {
    const { logger, calls } = capture(["info"]);
    const { server, port } = await start({ logger, component: "mail-tests" });
    const client = await RawClient.connect(port);
    await client.read();
    await client.command("QUIT");
    await client.waitClose();
    await server.close();
    expect(calls.length).toBeGreaterThan(0);
    expect(calls.every((c) => c.level === "info")).toBe(true);
    expect(calls.every((c) => c.entry.component === "mail-tests")).toBe(true);
    expect(calls.map((c) => c.entry.tnx)).toEqual([
      "listen",
      "connection",
      "close",
      "close",
      "closed",
    ]);
  });

  test("an onAuth that fails is logged as autherror, a throwing onClose as error", async () => {
    const { logger, calls } = capture();
    const { server, port, errors } = await start({
      logger,
      allowInsecureAuth: true,
      onAuth(_auth, _session, callback) {
        callback(new Error("directory down"));
      },
      onClose() {
        throw new Error("onClose broke");
      },
    });
    const client = await RawClient.connect(port);
    await client.read();
    await client.command("EHLO client.test");
    const plain = Buffer.from("\0carol\0pw").toString("base64");
    expect((await client.command(`AUTH PLAIN ${plain}`)).code).toBeGreaterThanOrEqual(400);
    await client.command("QUIT");
    await client.waitClose();
    await server.close();
    const failed = calls.find((c) => c.entry.tnx === "autherror");
    expect(failed?.text).toBe("Authentication error for carol using PLAIN. directory down");
    expect(failed?.entry.err).toBeInstanceOf(Error);
    const error = calls.find((c) => c.entry.tnx === "error");
    expect(error?.level).toBe("error");
    expect(error?.text).toMatch(/^\S+ 127\.0\.0\.1 onClose broke$/);
    // The same error went to 'error' (the failed onAuth is a reply, not an error).
    expect(errors.splice(0).map((e) => e.message)).toEqual(["onClose broke"]);
  });

  test("BDAT: one data entry for the whole message, with its total size", async () => {
    const { logger, calls } = capture();
    const { server, port } = await start({
      logger,
      authOptional: true,
      hideCHUNKING: false,
      ...accept,
    });
    const client = await RawClient.connect(port);
    await client.read();
    await client.command("EHLO client.test");
    await client.command("MAIL FROM:<a@x.test>");
    await client.command("RCPT TO:<b@y.test>");
    client.write("BDAT 5\r\nhello");
    expect((await client.read()).code).toBe(250);
    client.write("BDAT 7 LAST\r\n world\r\n");
    expect((await client.read()).code).toBe(250);
    await client.command("QUIT");
    await client.waitClose();
    await server.close();
    const lines = calls.map((c) => c.text);
    expect(lines.filter((l) => l.startsWith("C: BDAT"))).toEqual(["C: BDAT 5", "C: BDAT 7 LAST"]);
    expect(lines.filter((l) => /bytes of DATA/.test(l))).toEqual(["C: <12 bytes of DATA>"]);
  });

  test("a client over maxClients: the 421 it gets is logged", async () => {
    const { logger, calls } = capture();
    const { server, port } = await start({ logger, maxClients: 1 });
    const first = await RawClient.connect(port);
    expect((await first.read()).code).toBe(220);
    const second = await RawClient.connect(port);
    expect((await second.read()).code).toBe(421);
    await second.waitClose();
    await first.command("QUIT");
    await first.waitClose();
    await server.close();
    const refusal = calls.find((c) => /^S: 421 .*Too many connected clients/.test(c.text));
    expect(refusal?.entry).toMatchObject({ tnx: "send", host: "127.0.0.1" });
  });

  test("a logger that throws loses its line, never the conversation", async () => {
    const broken: SMTPLogger = {
      debug() {
        throw new Error("log sink full");
      },
      info() {
        throw new Error("log sink full");
      },
    };
    const { server, port } = await start({ logger: broken, authOptional: true, ...accept });
    const client = await RawClient.connect(port);
    expect((await client.read()).code).toBe(220);
    expect((await client.command("EHLO client.test")).code).toBe(250);
    expect((await client.command("MAIL FROM:<a@x.test>")).code).toBe(250);
    expect((await client.command("QUIT")).code).toBe(221);
    await client.waitClose();
    await server.close();
  });

  test("an LMTP server logs 'LMTP Server closed', as smtp-server does", async () => {
    const { logger, calls } = capture();
    const { server } = await start({ logger, lmtp: true });
    await server.close();
    expect(calls.at(-1)?.text).toBe("LMTP Server closed");
  });

  test("a PROXY header is logged unless the relayed address is in ignoredHosts", async () => {
    async function proxied(ignoredHosts: string[] | undefined): Promise<string[]> {
      const { logger, calls } = capture();
      const { server, port } = await start({
        logger,
        useProxy: true,
        ...(ignoredHosts ? { ignoredHosts } : {}),
      });
      const client = await RawClient.connect(port);
      client.write("PROXY TCP4 192.0.2.10 198.51.100.1 56324 25\r\n");
      await client.read();
      await client.command("QUIT");
      await client.waitClose();
      await server.close();
      return calls.filter((c) => c.entry.tnx === "proxy").map((c) => c.text);
    }
    const logged = await proxied(undefined);
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatch(
      /^\[\S+\] PROXY from 192\.0\.2\.10 through 198\.51\.100\.1 \(\["TCP4","192\.0\.2\.10","198\.51\.100\.1","56324","25"\]\)$/,
    );
    expect(await proxied(["192.0.2.10"])).toEqual([]);
  });
});

describe("the fixture", () => {
  test("startTestSmtp({ logger }) logs the conversation of a message it records", async () => {
    const { logger, calls } = capture();
    const smtp = await startTestSmtp({ logger });
    try {
      const transport = nodemailer.createTransport(smtp.transport);
      await transport.sendMail({ from: "a@x.test", to: "b@y.test", text: "fixture" });
      transport.close();
      await smtp.inbox.waitFor({ to: "b@y.test" });
    } finally {
      await smtp.close();
    }
    const lines = calls.map((c) => c.text);
    expect(lines).toEqual(expect.arrayContaining(["C: RCPT TO:<b@y.test>", "SMTP Server closed"]));
    expect(lines.some((l) => /^S: 250 .*queued/i.test(l))).toBe(true);
  });
});

describe("logger: true and server.logger", () => {
  test("logger: true prints nodemailer's console format, one line per reply line", async () => {
    const printed: string[] = [];
    const spy = vi.spyOn(console, "log").mockImplementation((...args: unknown[]) => {
      printed.push(format(...args));
    });
    try {
      const { server, port } = await start({ logger: true });
      const client = await RawClient.connect(port);
      await client.read();
      await client.command("EHLO client.test");
      await client.command("QUIT");
      await client.waitClose();
      await server.close();
    } finally {
      spy.mockRestore();
    }
    const stamp = String.raw`\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\]`;
    expect(printed[0]).toMatch(
      new RegExp(`^${stamp} INFO  SMTP Server listening on 127\\.0\\.0\\.1:`),
    );
    expect(printed).toEqual(
      expect.arrayContaining([
        expect.stringMatching(new RegExp(`^${stamp} DEBUG \\[#\\S+\\] C: EHLO client\\.test$`)),
        expect.stringMatching(
          new RegExp(`^${stamp} DEBUG \\[#\\S+\\] S: 250-localhost Nice to meet you`),
        ),
        // A multi-line reply is printed line by line, each with the prefix.
        expect.stringMatching(new RegExp(`^${stamp} DEBUG \\[#\\S+\\] 250-PIPELINING$`)),
        expect.stringMatching(new RegExp(`^${stamp} INFO  SMTP Server closed$`)),
      ]),
    );
  });

  test("without a logger nothing is printed, and server.logger is a set of no-ops", async () => {
    const spy = vi.spyOn(console, "log");
    try {
      const { server, port } = await start({});
      const client = await RawClient.connect(port);
      await client.read();
      await client.command("QUIT");
      await client.waitClose();
      server.logger.info("nothing %s", "here");
      await server.close();
      expect(spy).not.toHaveBeenCalled();
    } finally {
      spy.mockRestore();
    }
  });

  test("server.logger forwards, with or without an entry, with the component merged in", () => {
    const { logger, calls } = capture();
    const server = new SMTPServer({ logger });
    server.logger.info("plain %s", "message");
    server.logger.warn({ tnx: "custom" }, "with %d fields", 2);
    expect(calls.map((c) => [c.level, c.entry, c.text])).toEqual([
      ["info", { component: "smtp-server" }, "plain message"],
      ["warn", { component: "smtp-server", tnx: "custom" }, "with 2 fields"],
    ]);
  });

  test("a logger that is neither a boolean nor an object is a TypeError that says what to pass", () => {
    expect(() => new SMTPServer({ logger: "debug" as unknown as boolean })).toThrow(
      /logger must be true, false or an object with level methods/,
    );
  });

  test("consoleLogger prefixes every line of a multi-line message", () => {
    const out: string[] = [];
    consoleLogger((line) => out.push(line)).debug({ cid: "c1" }, "S:", "250-a\r\n250 b");
    expect(out.map((l) => l.replace(/^\[[^\]]+\] /, ""))).toEqual([
      "DEBUG [#c1] S: 250-a",
      "DEBUG [#c1] 250 b",
    ]);
  });
});

describe("parity with smtp-server 3.21", () => {
  /**
   * Plays `dialog` (then QUIT) against smtp-server and against ours with the same
   * options; returns both logs as comparable lines (level, tnx, command, user,
   * and the printed text for commands and `textOf` kinds).
   */
  async function bothLogs(
    dialog: string[],
    options: Record<string, unknown>,
    textOf: string[] = [],
  ): Promise<{ ours: string[]; theirs: string[] }> {
    async function play(port: number): Promise<void> {
      const client = await RawClient.connect(port);
      await client.read();
      for (const line of dialog) await client.command(line);
      await client.command("QUIT");
      await client.waitClose();
    }
    const theirs = capture();
    const reference = new Reference({
      disableReverseLookup: true,
      ...options,
      logger: theirs.logger as never,
    } as never);
    reference.on("error", () => undefined);
    await new Promise<void>((resolve) => reference.listen(0, "127.0.0.1", () => resolve()));
    await play((reference.server.address() as AddressInfo).port);
    await new Promise<void>((resolve) => reference.close(() => resolve()));

    const ours = capture();
    const { server, port } = await start({ ...options, logger: ours.logger });
    await play(port);
    await server.close();

    // Ours logs "SMTP Server closed" once its connections have closed (close() waits
    // for them); smtp-server may log it before their close events.
    expect(ours.calls.at(-1)?.entry.tnx).toBe("closed");
    const shape = (calls: Logged[]) =>
      calls
        .filter((c) => c.entry.tnx !== "closed")
        .map((c) => {
          const { level, entry } = c;
          const tnx = entry.tnx ?? "";
          const text = tnx === "command" || textOf.includes(tnx) ? c.text : "";
          // No user: smtp-server has `false` after XCLIENT ADDR, ours `undefined` throughout.
          const user = entry.user === false ? "" : (entry.user ?? "");
          return [level, tnx, entry.command ?? "", user, text].join(" ");
        });
    return { ours: shape(ours.calls), theirs: shape(theirs.calls) };
  }

  test("the same dialog gives the same entries (level, tnx, command, user) and client lines", async () => {
    const dialog = [
      "EHLO client.test",
      `AUTH PLAIN ${Buffer.from("\0ann\0right-password").toString("base64")}`,
      "MAIL FROM:<a@x.test>",
      "RCPT TO:<b@y.test>",
      "DATA",
      "Subject: parity\r\n\r\nbody\r\n.",
    ];
    const shared = { allowInsecureAuth: true, disabledCommands: ["STARTTLS"], ...accept };
    const { ours, theirs } = await bothLogs(dialog, shared);
    expect(ours).toEqual(theirs);
  });

  test("without onData, each message is logged '<received N bytes>' as smtp-server's default handler does", async () => {
    const dialog = [
      "EHLO client.test",
      "MAIL FROM:<a@x.test>",
      "RCPT TO:<b@y.test>",
      "DATA",
      "Subject: parity\r\n\r\nbody\r\n.",
    ];
    const { ours, theirs } = await bothLogs(dialog, { authOptional: true }, ["message"]);
    // The same entries; ours comes right after the end-of-data entry, theirs before it.
    expect([...ours].sort()).toEqual([...theirs].sort());
    expect(ours).toContain("info message   <received 25 bytes>");
  });

  test("a hook that throws is logged as smtp-server logs a command that failed", async () => {
    const crash = () => {
      throw new Error("boom");
    };
    const dialog = [
      "EHLO client.test",
      `AUTH PLAIN ${Buffer.from("\0ann\0pw").toString("base64")}`,
      "MAIL FROM:<a@x.test>",
    ];
    const options = {
      allowInsecureAuth: true,
      authOptional: true,
      onAuth: crash,
      onMailFrom: crash,
    };
    const { ours, theirs } = await bothLogs(dialog, options, ["command"]);
    const id = (lines: string[]) => lines.map((l) => l.replace(/\b[0-9a-v]{16}\b/, "<cid>"));
    expect(id(ours)).toEqual(id(theirs));
    expect(ours.filter((l) => l.startsWith("error command"))).toEqual([
      expect.stringMatching(/^error command AUTH {2}\S+ Failed to process AUTH command: boom$/),
      expect.stringMatching(/^error command MAIL {2}\S+ Failed to process MAIL command: boom$/),
    ]);
  });

  test("XCLIENT and XFORWARD attributes are logged as smtp-server logs them", async () => {
    const proxyAuth = `AUTH PLAIN ${Buffer.from("\0ann\0right-password").toString("base64")}`;
    const xclientOptions = {
      useXClient: true,
      allowInsecureAuth: true,
      disabledCommands: ["STARTTLS"],
      // XCLIENT LOGIN: a bare callback() lets it through without an identity.
      onAuth: ((auth, session, cb) =>
        auth.method === "XCLIENT"
          ? cb()
          : accept.onAuth?.call(
              undefined as never,
              auth,
              session,
              cb,
            )) as SMTPServerOptions["onAuth"],
    };
    const texts = ["xclient", "auth", "authskip", "deauth"];
    const xclient = await bothLogs(
      [
        "EHLO proxy.test",
        proxyAuth,
        "XCLIENT ADDR=192.0.2.7 NAME=relayed.example PORT=4321 LOGIN=bob",
      ],
      xclientOptions,
      texts,
    );
    expect(xclient.ours).toEqual(xclient.theirs);
    expect(xclient.ours.filter((l) => / (xclient|authskip) /.test(l))).toEqual([
      "info xclient  ann XCLIENT from 192.0.2.7 through 127.0.0.1",
      'info xclient   XCLIENT hostname resolved as "relayed.example"',
      'info xclient   XCLIENT remote port resolved as "4321"',
      "info authskip  bob Authentication skipped for bob using XCLIENT",
    ]);
    const loggedOut = await bothLogs(
      ["EHLO proxy.test", proxyAuth, "XCLIENT LOGIN="],
      xclientOptions,
      texts,
    );
    expect(loggedOut.ours).toEqual(loggedOut.theirs);
    expect(loggedOut.ours).toContain("info deauth  ann User deauthenticated using XCLIENT");

    const xforward = await bothLogs(
      ["EHLO proxy.test", "XFORWARD ADDR=192.0.2.8 NAME=[UNAVAILABLE] PORT=99 HELO=Client.Example"],
      { useXForward: true, disabledCommands: ["STARTTLS"] },
      ["xforward"],
    );
    expect(xforward.ours).toEqual(xforward.theirs);
    expect(xforward.ours.filter((l) => l.includes(" xforward "))).toEqual([
      "info xforward   XFORWARD from 192.0.2.8 through 127.0.0.1",
      'info xforward   XFORWARD hostname resolved as ""',
      'info xforward   XFORWARD port resolved as "99"',
      'info xforward   XFORWARD HELO name resolved as "client.example"',
    ]);
  });

  test("a reverse lookup that fails, or finds a name that is not a host name, is logged", async () => {
    const failing = {
      reverse: (_ip: string, cb: (err: Error | null, names?: string[]) => void) =>
        cb(new Error("no PTR here")),
    };
    const failed = await bothLogs(
      ["EHLO client.test"],
      { disableReverseLookup: false, resolver: failing, disabledCommands: ["STARTTLS"] },
      ["connection"],
    );
    expect(failed.ours).toEqual(failed.theirs);
    expect(failed.ours).toContain("error connection   Reverse resolve for 127.0.0.1: no PTR here");

    const forged = {
      reverse: (_ip: string, cb: (err: Error | null, names?: string[]) => void) =>
        cb(null, ["evil\r\n250 injected"]),
    };
    const discarded = await bothLogs(
      ["EHLO client.test"],
      { disableReverseLookup: false, resolver: forged, disabledCommands: ["STARTTLS"] },
      ["connection"],
    );
    expect(discarded.ours).toEqual(discarded.theirs);
    expect(discarded.ours).toContain(
      'info connection   Discarded invalid reverse resolved hostname "evil\\r\\n250 injected" for 127.0.0.1',
    );
    expect(discarded.ours).toContain("info connection   Connection from [127.0.0.1]");
  });
});
