import { describe, expect, test } from "vitest";
import type { Capability } from "../../src/protocol/capabilities.js";
import { SMTPError } from "../../src/protocol/errors.js";
import type { Directive } from "../../src/protocol/host.js";
import { reply } from "../../src/protocol/reply.js";
import type { SMTPSession, Stage } from "../../src/protocol/types.js";
import {
  type ConfigPatch,
  codesOf,
  deferred,
  type StartOptions,
  startEngine,
} from "./engine-host.js";

const MAIL = "MAIL FROM:<a@example.com>\r\n";
const RCPT = "RCPT TO:<b@example.com>\r\n";
const BODY = "Subject: hi\r\n\r\nhello\r\n";

/** An engine past EHLO with MAIL and RCPT accepted. */
function inTransaction(options: StartOptions = {}) {
  const t = startEngine({ ehlo: true, ...options });
  t.feed(MAIL + RCPT);
  expect(t.codes()).toEqual([250, 250]);
  return t;
}

describe("greeting", () => {
  test.each<[string, ConfigPatch, string]>([
    ["an ESMTP greeting with the server name", {}, "220 mx.test ESMTP\r\n"],
    ["the banner after the name", { banner: "ready" }, "220 mx.test ESMTP ready\r\n"],
    ["an LMTP greeting in LMTP mode", { lmtp: true }, "220 mx.test LMTP\r\n"],
    [
      "no enhanced code even when ENHANCEDSTATUSCODES is on",
      { capabilities: ["ENHANCEDSTATUSCODES"] },
      "220 mx.test ESMTP\r\n",
    ],
  ])("sends %s", (_name, config, expected) => {
    const t = startEngine({ config, greet: false });
    t.engine.greet();
    expect(t.host.writes).toEqual([expected]);
  });
});

describe("EHLO, HELO and LHLO", () => {
  test("EHLO answers 250 with the helo line and the extensions, one per line", () => {
    const t = startEngine();
    t.feed("EHLO Client.Test\r\n");
    expect(t.text()).toBe(
      "250-mx.test Nice to meet you, [127.0.0.1]\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n",
    );
    expect(t.session.hostNameAppearsAs).toBe("client.test");
    expect(t.session.openingCommand).toBe("EHLO");
    expect(t.session.transmissionType).toBe("ESMTP");
  });

  test("HELO answers a single 250 line without extensions", () => {
    const t = startEngine();
    t.feed("HELO client.test\r\n");
    expect(t.text()).toBe("250 mx.test Nice to meet you, [127.0.0.1]\r\n");
    expect(t.session.transmissionType).toBe("SMTP");
  });

  test("LHLO in LMTP mode answers like EHLO", () => {
    const t = startEngine({ config: { lmtp: true } });
    t.feed("LHLO client.test\r\n");
    const [r] = t.take();
    expect(r?.code).toBe(250);
    expect(r?.lines).toEqual([
      "mx.test Nice to meet you, [127.0.0.1]",
      "PIPELINING",
      "8BITMIME",
      "SMTPUTF8",
    ]);
    expect(t.session.transmissionType).toBe("LMTP");
  });

  test.each([
    ["EHLO in LMTP mode", { lmtp: true }, "EHLO client.test", 500],
    ["HELO in LMTP mode", { lmtp: true }, "HELO client.test", 500],
    ["LHLO outside LMTP mode", {}, "LHLO client.test", 502],
    ["EHLO without a name", {}, "EHLO", 501],
    ["HELO without a name", {}, "HELO ", 501],
    ["EHLO with two names", {}, "EHLO a b", 501],
  ])("refuses %s", (_name, config: ConfigPatch, line, code) => {
    const t = startEngine({ config });
    t.feed(`${line}\r\n`);
    expect(t.codes()).toEqual([code]);
    expect(t.session.hostNameAppearsAs).toBe("");
  });

  test.each<[string, ConfigPatch, Partial<SMTPSession>, string[]]>([
    ["nothing when no extension is on", { capabilities: [] }, {}, []],
    [
      "every always-on keyword in smtp-server's order",
      { capabilities: ["DSN", "ENHANCEDSTATUSCODES", "SMTPUTF8", "8BITMIME", "PIPELINING"] },
      {},
      ["PIPELINING", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "DSN"],
    ],
    ["SIZE with the limit", { capabilities: ["SIZE"], size: 1000 }, {}, ["SIZE 1000"]],
    ["SIZE without a limit", { capabilities: ["SIZE"], size: 0 }, {}, ["SIZE"]],
    [
      "SIZE without the number when hidden",
      { capabilities: ["SIZE"], size: 1000, hideSize: true },
      {},
      ["SIZE"],
    ],
    [
      "STARTTLS when TLS is available",
      { capabilities: ["STARTTLS"], tlsAvailable: true },
      {},
      ["STARTTLS"],
    ],
    ["no STARTTLS without a TLS context", { capabilities: ["STARTTLS"] }, {}, []],
    [
      "no STARTTLS on a secure session",
      { capabilities: ["STARTTLS"], tlsAvailable: true },
      { secure: true },
      [],
    ],
    [
      "AUTH with the mechanisms",
      { capabilities: ["AUTH"], authMethods: ["PLAIN", "LOGIN"] },
      {},
      ["AUTH PLAIN LOGIN"],
    ],
    ["no AUTH without mechanisms", { capabilities: ["AUTH"] }, {}, []],
    [
      "no AUTH once authenticated",
      { capabilities: ["AUTH"], authMethods: ["PLAIN"] },
      { user: "alice" },
      [],
    ],
    [
      "REQUIRETLS only on a secure session",
      { capabilities: ["REQUIRETLS"] },
      { secure: true },
      ["REQUIRETLS"],
    ],
    ["no REQUIRETLS in plaintext", { capabilities: ["REQUIRETLS"] }, {}, []],
    [
      "CHUNKING and BINARYMIME",
      { capabilities: ["CHUNKING", "BINARYMIME"] },
      {},
      ["CHUNKING", "BINARYMIME"],
    ],
    [
      "no CHUNKING when BDAT is disabled",
      { capabilities: ["CHUNKING", "BINARYMIME"], disabledCommands: new Set(["BDAT"]) },
      {},
      [],
    ],
  ])("advertises %s", (_name, config, session, keywords) => {
    const t = startEngine({ config });
    Object.assign(t.session, session);
    t.feed("EHLO client.test\r\n");
    const [r] = t.take();
    expect(r?.lines.slice(1)).toEqual(keywords);
  });

  test("advertises the live capability set at every EHLO", () => {
    const t = startEngine({ config: { capabilities: ["PIPELINING", "CHUNKING"] } });
    t.feed("EHLO a.test\r\n");
    expect(t.take()[0]?.lines.slice(1)).toEqual(["PIPELINING", "CHUNKING"]);
    t.config.capabilities.set({ PIPELINING: false });
    t.feed("EHLO a.test\r\n");
    expect(t.take()[0]?.lines.slice(1)).toEqual(["CHUNKING"]);
  });

  test("a second EHLO resets the transaction", () => {
    const t = inTransaction();
    t.feed("EHLO again.test\r\n");
    expect(t.codes()).toEqual([250]);
    expect(t.session.envelope.mailFrom).toBe(false);
    expect(t.session.transaction).toBe(2);
  });
});

describe("command sequencing", () => {
  test.each([
    ["MAIL", MAIL],
    ["RCPT", RCPT],
    ["DATA", "DATA\r\n"],
  ])("refuses %s before HELO/EHLO with 503", (_verb, line) => {
    const t = startEngine();
    t.feed(line);
    const [r] = t.take();
    expect(r).toEqual({ code: 503, lines: ["Error: send HELO/EHLO first"] });
  });

  test("asks for LHLO first in LMTP mode", () => {
    const t = startEngine({ config: { lmtp: true } });
    t.feed(MAIL);
    expect(t.take()).toEqual([{ code: 503, lines: ["Error: send LHLO first"] }]);
  });

  test.each<[string, string, number[], string]>([
    ["a nested MAIL", MAIL + MAIL, [250, 503], "Error: nested MAIL command"],
    ["RCPT without MAIL", RCPT, [503], "Error: need MAIL command"],
    ["DATA without MAIL", "DATA\r\n", [503], "Error: need MAIL command"],
    ["DATA without RCPT", `${MAIL}DATA\r\n`, [250, 503], "Error: need RCPT command"],
  ])("refuses %s with 503", (_name, input, codes, text) => {
    const t = startEngine({ ehlo: true });
    t.feed(input);
    const replies = t.take();
    expect(replies.map((r) => r.code)).toEqual(codes);
    expect(replies.at(-1)?.lines).toEqual([text]);
  });

  test("keeps the envelope of a refused nested MAIL untouched", () => {
    const t = startEngine({ ehlo: true });
    t.feed(`${MAIL}MAIL FROM:<other@example.com>\r\n`);
    expect(t.session.envelope.mailFrom).toMatchObject({ address: "a@example.com" });
  });

  test("records the sender and recipients in the session envelope", () => {
    const t = inTransaction();
    t.feed("RCPT TO:<c@example.com>\r\n");
    expect(t.codes()).toEqual([250]);
    expect(t.session.envelope.mailFrom).toEqual({ address: "a@example.com", args: false });
    expect(t.session.envelope.rcptTo.map((r) => r.address)).toEqual([
      "b@example.com",
      "c@example.com",
    ]);
  });
});

describe("RSET, NOOP, VRFY, HELP, QUIT", () => {
  test("RSET answers 250 and clears the transaction", () => {
    const t = inTransaction();
    t.feed("RSET\r\n");
    expect(t.take()).toEqual([{ code: 250, lines: ["Flushed"] }]);
    expect(t.session.envelope.mailFrom).toBe(false);
    expect(t.session.envelope.rcptTo).toEqual([]);
    expect(t.session.transaction).toBe(2);
    t.feed(MAIL);
    expect(t.codes()).toEqual([250]);
  });

  test("RSET keeps the greeting: MAIL needs no new EHLO", () => {
    const t = startEngine({ ehlo: true });
    t.feed(`RSET\r\n${MAIL}`);
    expect(t.codes()).toEqual([250, 250]);
  });

  test.each([
    ["NOOP", "NOOP", { code: 250, lines: ["OK"] }],
    ["NOOP with an argument", "NOOP hello", { code: 250, lines: ["OK"] }],
    [
      "VRFY with an address",
      "VRFY bob",
      { code: 252, lines: ["Try to send something. No promises though"] },
    ],
    ["VRFY without an address", "VRFY", { code: 501, lines: ["Error: Syntax: VRFY address"] }],
    ["HELP", "HELP", { code: 214, lines: ["See https://tools.ietf.org/html/rfc5321 for details"] }],
    ["lower-case verbs", "noop", { code: 250, lines: ["OK"] }],
  ])("answers %s before any greeting", (_name, line, expected) => {
    const t = startEngine();
    t.feed(`${line}\r\n`);
    expect(t.take()).toEqual([expected]);
    expect(t.host.closes).toBe(0);
  });

  test("QUIT answers 221 and closes the connection", () => {
    const t = startEngine({ ehlo: true });
    t.feed("QUIT\r\n");
    expect(t.take()).toEqual([{ code: 221, lines: ["Bye"] }]);
    expect(t.host.closes).toBe(1);
    expect(t.engine.closed).toBe(true);
  });

  test("ignores everything after QUIT, in the same feed and later", () => {
    const t = startEngine({ ehlo: true });
    const before = t.host.writes.length;
    t.feed("QUIT\r\nNOOP\r\n");
    t.feed("NOOP\r\n");
    expect(t.codes()).toEqual([221]);
    expect(t.host.writes.length - before).toBe(1);
  });

  test("closing mid-message aborts the open data sink", () => {
    const t = inTransaction();
    t.feed("DATA\r\npartial body\r\n");
    t.engine.close();
    expect(t.host.sink.aborted).toBe("connection closed");
  });
});

describe("unknown, disabled and over-long commands", () => {
  test("answers an unknown command 500", () => {
    const t = startEngine();
    t.feed("FOO bar\r\n");
    expect(t.take()).toEqual([{ code: 500, lines: ["Error: command not recognized"] }]);
  });

  test("answers 421 and closes at the tenth unrecognized command", () => {
    const t = startEngine();
    t.feed("FOO\r\n".repeat(9));
    expect(t.codes()).toEqual(Array(9).fill(500));
    expect(t.host.closes).toBe(0);
    t.feed("FOO\r\nNOOP\r\n");
    expect(t.take()).toEqual([{ code: 421, lines: ["Error: too many unrecognized commands"] }]);
    expect(t.host.closes).toBe(1);
  });

  test("forgives unrecognized commands once a message is answered, as smtp-server does", () => {
    const t = startEngine({ ehlo: true, config: { maxUnrecognizedCommands: 3 } });
    t.feed(`FOO\r\nFOO\r\n${MAIL}${RCPT}DATA\r\n.\r\nFOO\r\nFOO\r\n`);
    expect(t.codes()).toEqual([500, 500, 250, 250, 354, 250, 500, 500]);
    t.feed("FOO\r\n");
    expect(t.codes()).toEqual([421]);
  });

  test("honours maxUnrecognizedCommands", () => {
    const t = startEngine({ config: { maxUnrecognizedCommands: 2 } });
    t.feed("FOO\r\nBAR\r\n");
    expect(t.codes()).toEqual([500, 421]);
  });

  test.each(["VRFY", "HELP", "NOOP", "RSET"])("answers disabled %s with 502", (verb) => {
    const t = startEngine({ config: { disabledCommands: new Set([verb]) } });
    t.feed(`${verb.toLowerCase()} x\r\n`);
    expect(t.take()).toEqual([{ code: 502, lines: ["Error: command not implemented"] }]);
  });

  test.each<[string, ConfigPatch]>([
    ["BDAT without CHUNKING", {}],
    ["STARTTLS without a TLS context", { capabilities: ["STARTTLS"] }],
    ["AUTH without mechanisms", { capabilities: ["AUTH"] }],
  ])("answers %s with 502", (name, config) => {
    const t = startEngine({ config, ehlo: true });
    t.feed(`${name.split(" ")[0]}\r\n`);
    expect(t.codes()).toEqual([502]);
  });

  test("answers a line longer than maxCommandLength 500 and goes on", () => {
    const t = startEngine({ ehlo: true, config: { maxCommandLength: 512 } });
    t.feed(`NOOP ${"x".repeat(600)}\r\nNOOP\r\n`);
    expect(t.take()).toEqual([
      { code: 500, lines: ["Error: line too long"] },
      { code: 250, lines: ["OK"] },
    ]);
  });

  test("accepts a line of exactly maxCommandLength octets before the CRLF", () => {
    const t = startEngine({ config: { maxCommandLength: 16 } });
    t.feed(`NOOP ${"x".repeat(11)}\r\n`);
    expect(t.codes()).toEqual([250]);
  });

  test("answers 421 and closes when a line never ends", () => {
    const t = startEngine({ config: { maxCommandLength: 512 } });
    t.feed("x".repeat(600));
    expect(t.codes()).toEqual([]);
    t.feed("x".repeat(600));
    expect(t.codes()).toEqual([421]);
    expect(t.host.closes).toBe(1);
  });

  test("answers an HTTP request 421 and closes", () => {
    const t = startEngine();
    t.feed("GET / HTTP/1.1\r\nHost: x\r\n");
    expect(t.codes()).toEqual([421]);
    expect(t.host.closes).toBe(1);
  });

  test("answers a TLS ClientHello sent as the first bytes 421 and closes; later, they are a line like any", () => {
    // A TLS record header (handshake, version 3.1) and the start of a ClientHello.
    const hello = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x0a]);
    const t = startEngine();
    t.feed(hello);
    expect(t.codes()).toEqual([421]);
    expect(t.host.closes).toBe(1);
    expect(t.host.events.map((e) => [e.stage, e.reason])).toEqual([
      ["CONNECT", "tls handshake on plaintext"],
    ]);
    const later = startEngine({ ehlo: true });
    later.feed(hello);
    expect(later.codes().at(-1)).toBe(500);
    expect(later.host.closes).toBe(0);
  });

  test("a ClientHello whose first read holds one byte is still a TLS handshake, and a lone first byte that is not one is a line's start", () => {
    const hello = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x0a]);
    const split = startEngine();
    split.feed(hello.subarray(0, 1));
    expect(split.codes()).toEqual([]);
    split.feed(hello.subarray(1));
    expect(split.codes()).toEqual([421]);
    expect(split.host.closes).toBe(1);
    expect(split.host.events.map((e) => [e.stage, e.reason])).toEqual([
      ["CONNECT", "tls handshake on plaintext"],
    ]);
    // The held byte is not lost when it was not a TLS record: it is the line's first.
    const control = startEngine();
    control.feed(Buffer.from([0x16]));
    control.feed(Buffer.from("NOOP\r\n"));
    expect(control.codes()).toEqual([500]);
    expect(control.host.closes).toBe(0);
  });
});

describe("pipelining (RFC 2920)", () => {
  test("answers several commands of one read in order, in one write", () => {
    const t = startEngine({ ehlo: true });
    const before = t.host.writes.length;
    t.feed(`${MAIL}${RCPT}RCPT TO:<c@example.com>\r\nNOOP\r\nDATA\r\n`);
    expect(t.host.writes.length - before).toBe(1);
    expect(t.codes()).toEqual([250, 250, 250, 250, 354]);
  });

  test("answers a command split over several reads once it is complete", () => {
    const t = startEngine({ ehlo: true });
    t.feed("MAIL FROM:<a@exa");
    expect(t.codes()).toEqual([]);
    t.feed("mple.com>\r");
    expect(t.codes()).toEqual([]);
    t.feed("\n");
    expect(t.codes()).toEqual([250]);
  });

  test("accepts a bare LF as a command line end", () => {
    const t = startEngine({ ehlo: true });
    t.feed("NOOP\nNOOP\r\n");
    expect(t.codes()).toEqual([250, 250]);
  });

  test("handles commands after DATA only after the DATA reply", () => {
    const t = inTransaction();
    t.feed(`DATA\r\n${BODY}.\r\n${MAIL}QUIT\r\n`);
    expect(t.codes()).toEqual([354, 250, 250, 221]);
    expect(t.host.sink.body).toBe(BODY);
  });

  test("waits for an async end of data before reading the commands that follow it", async () => {
    const verdict = deferred<undefined>();
    const t = inTransaction({ setup: (h) => (h.onEnd = () => verdict.promise) });
    t.feed(`DATA\r\n${BODY}.\r\n${MAIL}${RCPT}QUIT\r\n`);
    expect(t.codes()).toEqual([354]);
    expect(t.host.sink.endInfo).toEqual({ bytes: BODY.length, sizeExceeded: false, bareLf: 0 });
    // Nothing after the dot has been read as a command yet.
    expect(t.session.envelope.mailFrom).toMatchObject({ address: "a@example.com" });
    t.feed("NOOP\r\n");
    expect(t.codes()).toEqual([]);
    verdict.resolve(undefined);
    await t.host.until(() => t.host.closes > 0, "QUIT");
    expect(t.take()).toEqual([
      { code: 250, lines: ["OK: message queued"] },
      { code: 250, lines: ["Accepted"] },
      { code: 250, lines: ["Accepted"] },
      { code: 221, lines: ["Bye"] },
    ]);
    expect(t.host.sink.repliedWith).toEqual({
      reply: expect.objectContaining({ code: 250 }),
      delivered: true,
    });
  });

  test("keeps the order of replies when a MAIL hook is async", async () => {
    const verdict = deferred();
    const t = startEngine({ ehlo: true, setup: (h) => (h.onMailFrom = () => verdict.promise) });
    t.feed(`${MAIL}${RCPT}NOOP\r\n`);
    expect(t.codes()).toEqual([]);
    expect(t.engine.backlog).toBeGreaterThan(0);
    verdict.resolve();
    await t.untilReplies(3);
    expect(t.codes()).toEqual([250, 250, 250]);
    expect(t.engine.backlog).toBe(0);
  });
});

describe("MAIL and RCPT parameters", () => {
  test("parses DSN parameters into the envelope when DSN is on", () => {
    const t = startEngine({ ehlo: true, config: { capabilities: ["DSN"] } });
    t.feed(
      "MAIL FROM:<a@example.com> RET=HDRS ENVID=id+2B1\r\n" +
        "RCPT TO:<b@example.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b+40example.com\r\n",
    );
    expect(t.codes()).toEqual([250, 250]);
    expect(t.session.envelope.dsn).toEqual({ ret: "HDRS", envid: "id+1" });
    expect(t.session.envelope.rcptTo[0]?.dsn).toEqual({
      notify: ["SUCCESS", "FAILURE"],
      orcpt: "rfc822;b@example.com",
    });
  });

  test("refuses DSN parameters with 555 when DSN is off", () => {
    const t = startEngine({ ehlo: true });
    t.feed("MAIL FROM:<a@example.com> RET=HDRS\r\n");
    expect(t.codes()).toEqual([555]);
  });

  test("takes SMTPUTF8 and BODY=8BITMIME into the envelope", () => {
    const t = startEngine({ ehlo: true });
    // UTF-8 bytes (a string is fed as latin1, one byte per character).
    t.feed(Buffer.from("MAIL FROM:<ä@example.com> SMTPUTF8 BODY=8BITMIME\r\n"));
    expect(t.codes()).toEqual([250]);
    expect(t.session.envelope.mailFrom).toMatchObject({ address: "ä@example.com" });
    expect(t.session.envelope.smtpUtf8).toBe(true);
    expect(t.session.envelope.bodyType).toBe("8bitmime");
  });

  test("answers a bad MAIL syntax 501", () => {
    const t = startEngine({ ehlo: true });
    t.feed("MAIL FROM:a@example.com>\r\nMAIL TO:<a@example.com>\r\n");
    expect(t.codes()).toEqual([501, 501]);
  });

  test("answers 452 beyond maxRecipients and keeps the first ones", () => {
    const t = startEngine({ ehlo: true, config: { maxRecipients: 1 } });
    t.feed(`${MAIL}${RCPT}RCPT TO:<c@example.com>\r\nRCPT TO:<B@example.com>\r\n`);
    expect(t.codes()).toEqual([250, 250, 452, 250]);
    expect(t.session.envelope.rcptTo).toHaveLength(1);
  });

  test("a long envelope: a repeated recipient (any case) replaces its entry, in every transaction", () => {
    const t = startEngine({ ehlo: true, config: { maxRecipients: 40 } });
    const rcpts = (from: number, to: number) =>
      Array.from({ length: to - from }, (_, i) => `RCPT TO:<r${from + i}@example.com>\r\n`).join(
        "",
      );
    for (let round = 0; round < 2; round++) {
      t.feed(`${MAIL}${rcpts(0, 40)}RCPT TO:<R20@EXAMPLE.com>\r\nRCPT TO:<r40@example.com>\r\n`);
      expect(t.codes()).toEqual([250, ...Array(41).fill(250), 452]);
      const list = t.session.envelope.rcptTo.map((r) => r.address);
      expect(list).toHaveLength(40);
      expect(list[20]).toBe("R20@EXAMPLE.com");
      expect(list.filter((a) => a.toLowerCase() === "r20@example.com")).toHaveLength(1);
      t.feed("RSET\r\n");
      expect(t.codes()).toEqual([250]);
      // The index of a long envelope goes with its transaction.
      expect(t.engine.rcptIndex).toBeUndefined();
    }
  });

  test("notes the extensions the client used", () => {
    const t = startEngine({ ehlo: true, config: { capabilities: ["PIPELINING", "SIZE"] } });
    t.feed(`MAIL FROM:<a@example.com> SIZE=10\r\n${RCPT}`);
    expect([...t.engine.used].sort()).toEqual(["PIPELINING", "SIZE"]);
  });
});

describe("AUTH and STARTTLS gates", () => {
  const authOn: ConfigPatch = {
    capabilities: ["AUTH"],
    authMethods: ["PLAIN"],
    authRequired: true,
    allowInsecureAuth: true,
    maxUnauthenticatedCommands: 4,
  };

  test("answers MAIL 530 until the client authenticates", () => {
    const t = startEngine({ ehlo: true, config: authOn });
    t.feed(MAIL);
    expect(t.take()).toEqual([{ code: 530, lines: ["Error: authentication Required"] }]);
    t.session.user = "alice";
    t.feed(MAIL);
    expect(t.codes()).toEqual([250]);
  });

  test("closes with 421 after too many unauthenticated commands", () => {
    const t = startEngine({ ehlo: true, config: authOn }); // EHLO was the first
    t.feed("NOOP\r\nNOOP\r\nNOOP\r\nNOOP\r\n");
    expect(t.codes()).toEqual([250, 250, 421]);
    expect(t.host.closes).toBe(1);
  });

  test("STARTTLS drops what the client pipelined in plaintext and wants a new EHLO", async () => {
    const t = startEngine({
      ehlo: true,
      config: { capabilities: ["STARTTLS"], tlsAvailable: true },
    });
    t.feed(`STARTTLS\r\n${MAIL}`);
    expect(t.codes()).toEqual([220]);
    await t.host.until(() => t.session.secure, "the TLS upgrade");
    t.feed(MAIL);
    expect(t.codes()).toEqual([503]);
    expect(t.host.tlsStarts).toBe(1);
  });
});

describe("connection loss and observation", () => {
  test("a lost connection aborts the message being received", () => {
    const t = inTransaction();
    t.feed("DATA\r\nhalf a mess");
    t.engine.lost();
    expect(t.host.sink.aborted).toBe("client disconnected");
    t.feed("age\r\n.\r\n");
    expect(t.codes()).toEqual([354]);
  });

  test("reports every refusal with its stage and reason, and no accepting reply", () => {
    const t = startEngine({ ehlo: true });
    t.feed(`${RCPT}${MAIL}FOO\r\n`);
    expect(t.codes().slice(-3)).toEqual([503, 250, 500]);
    expect(t.host.events.map((e) => [e.stage, e.reply.code, e.reason])).toEqual([
      ["RCPT", 503, "sequence"],
      ["OTHER", 500, "unrecognized"],
    ]);
  });
});

describe("hook rejections", () => {
  test("answers a sync MAIL rejection with the SMTPError's code and enhanced code", () => {
    const t = startEngine({
      ehlo: true,
      config: { capabilities: ["ENHANCEDSTATUSCODES"] },
      setup: (h) => {
        h.onMailFrom = () => {
          throw new SMTPError(550, "Sender blocked", "5.7.1");
        };
      },
    });
    t.feed(MAIL);
    expect(t.text()).toBe("550 5.7.1 Sender blocked\r\n");
    expect(t.session.envelope.mailFrom).toBe(false);
  });

  test("answers a plain Error with responseCode with that code", () => {
    const t = startEngine({
      ehlo: true,
      setup: (h) => {
        h.onMailFrom = () => {
          throw Object.assign(new Error("Try later"), { responseCode: 451 });
        };
      },
    });
    t.feed(MAIL);
    expect(t.take()).toEqual([{ code: 451, lines: ["Try later"] }]);
  });

  test("answers a plain Error without responseCode 550", async () => {
    const t = startEngine({
      ehlo: true,
      setup: (h) => {
        h.onMailFrom = () => Promise.reject(new Error("nope"));
      },
    });
    t.feed(MAIL);
    await t.untilReplies(1);
    expect(t.take()).toEqual([{ code: 550, lines: ["nope"] }]);
  });

  test("answers an async RCPT rejection and keeps the other recipients", async () => {
    const t = startEngine({
      ehlo: true,
      setup: (h) => {
        h.onRcptTo = async (a) => {
          if (a.address.startsWith("bad")) throw new SMTPError(550, "No such user", "5.1.1");
        };
      },
    });
    t.feed(`${MAIL}${RCPT}RCPT TO:<bad@example.com>\r\nRCPT TO:<c@example.com>\r\n`);
    await t.untilReplies(4);
    expect(t.codes()).toEqual([250, 250, 550, 250]);
    expect(t.session.envelope.rcptTo.map((r) => r.address)).toEqual([
      "b@example.com",
      "c@example.com",
    ]);
  });

  test.each([
    [
      "throws a string",
      () => {
        throw "boom";
      },
    ],
    ["rejects with undefined", () => Promise.reject(undefined)],
    ["rejects with a number", () => Promise.reject(42)],
  ])("answers 451 when a hook %s", async (_name, hook) => {
    const t = startEngine({ ehlo: true, setup: (h) => (h.onMailFrom = hook) });
    t.feed(MAIL);
    await t.untilReplies(1);
    expect(t.take()).toEqual([{ code: 451, lines: ["Error: internal server error"] }]);
  });

  test.each([
    ["CRLF", "line one\r\nline two"],
    ["a bare LF", "line one\nline two"],
    ["a bare CR", "line one\rline two"],
  ])(
    "turns a rejection message with %s into a multi-line reply, never a second reply",
    (_n, msg) => {
      const t = startEngine({
        ehlo: true,
        setup: (h) => {
          h.onMailFrom = () => {
            throw new SMTPError(550, msg);
          };
        },
      });
      t.feed(MAIL);
      expect(t.text()).toBe("550-line one\r\n550 line two\r\n");
    },
  );

  test("never lets a directive's reply text break the reply framing", () => {
    const t = startEngine({
      ehlo: true,
      setup: (h) => {
        h.interceptor = (stage) =>
          stage === "MAIL" ? { reply: reply(451, "a\r\n250 forged") } : undefined;
      },
    });
    t.feed(MAIL);
    expect(t.text()).toBe("451 a 250 forged\r\n");
  });

  test("replaces NUL and other controls in reply text with a space", () => {
    const t = startEngine({
      ehlo: true,
      setup: (h) => {
        h.onMailFrom = () => {
          throw new SMTPError(550, "x\0y\x1bz\tok");
        };
      },
    });
    t.feed(MAIL);
    expect(t.text()).toBe("550 x y z\tok\r\n");
  });

  test("answers a rejection at the end of data and resets the transaction", async () => {
    const t = inTransaction({
      setup: (h) => (h.onEnd = () => Promise.reject(new SMTPError(554, "Spam"))),
    });
    t.feed(`DATA\r\n${BODY}.\r\n`);
    await t.untilReplies(2);
    expect(t.take()).toEqual([
      { code: 354, lines: ["End data with <CR><LF>.<CR><LF>"] },
      { code: 554, lines: ["Spam"] },
    ]);
    expect(t.session.envelope.mailFrom).toBe(false);
  });
});

describe("SIZE (RFC 1870)", () => {
  const sized: StartOptions = { ehlo: true, config: { capabilities: ["SIZE"], size: 100 } };

  test("refuses MAIL with SIZE= over the limit with 552", () => {
    const t = startEngine(sized);
    t.feed("MAIL FROM:<a@example.com> SIZE=101\r\nMAIL FROM:<a@example.com> SIZE=100\r\n");
    const replies = t.take();
    expect(replies.map((r) => r.code)).toEqual([552, 250]);
    expect(replies[0]?.lines).toEqual(["Error: message exceeds fixed maximum message size 100"]);
  });

  test("answers a body over the limit 552 after the dot and tells the sink", () => {
    const t = inTransaction(sized);
    const body = `${"x".repeat(98)}\r\n${"y".repeat(30)}\r\n`;
    t.feed(`DATA\r\n${body}.\r\nNOOP\r\n`);
    expect(t.codes()).toEqual([354, 552, 250]);
    const sink = t.host.sink;
    expect(sink.exceededCalls).toBe(1);
    expect(sink.endInfo).toEqual({ bytes: body.length, sizeExceeded: true, bareLf: 0 });
    expect(sink.body.length).toBeLessThanOrEqual(100);
    expect(t.session.envelope.mailFrom).toBe(false);
  });

  test("accepts a body of exactly the limit", () => {
    const t = inTransaction(sized);
    const body = `${"x".repeat(98)}\r\n`;
    t.feed(`DATA\r\n${body}.\r\n`);
    expect(t.codes()).toEqual([354, 250]);
    expect(t.host.sink.exceededCalls).toBe(0);
    expect(t.host.sink.body).toBe(body);
  });
});

/** A whole dialog: what the engine answers and what its sinks got. */
function runDialog(chunks: Buffer[], config: ConfigPatch = {}) {
  const t = startEngine({ config, greet: false });
  t.engine.greet();
  for (const c of chunks) t.feed(c);
  return { replies: t.host.output, bodies: t.host.sinks.map((s) => s.body) };
}

describe("the DATA and BDAT readers at every chunk boundary", () => {
  const dialogs: ReadonlyArray<[string, string, number[], string[]]> = [
    [
      "DATA with stuffing, a lone CR-dot and a bare LF",
      `EHLO c.test\r\n${MAIL}${RCPT}DATA\r\n` +
        "Subject: dots\r\n\r\n..stuffed\r\n.\r.\r\nbare\nlf\r\n\r\n.\r\n" +
        `${MAIL}${RCPT}DATA\r\n.\r\nQUIT\r\n`,
      [220, 250, 250, 250, 354, 250, 250, 250, 354, 250, 221],
      ["Subject: dots\r\n\r\n.stuffed\r\n\r.\r\nbare\nlf\r\n\r\n", ""],
    ],
    [
      "BDAT chunks holding CRLF.CRLF and command-like bytes",
      `EHLO c.test\r\n${MAIL}${RCPT}BDAT 6\r\na\r\n.\r\nBDAT 6 LAST\r\nQUIT\r\n` +
        `${MAIL}${RCPT}BDAT 0 LAST\r\nQUIT\r\n`,
      [220, 250, 250, 250, 250, 250, 250, 250, 250, 221],
      ["a\r\n.\r\nQUIT\r\n", ""],
    ],
  ];

  test.each(dialogs)(
    "%s: same replies and bytes at every split point",
    (_n, text, codes, bodies) => {
      const dialog = Buffer.from(text, "latin1");
      const config: ConfigPatch = { capabilities: ["PIPELINING", "CHUNKING"] };
      const whole = runDialog([dialog], config);
      expect(codesOf(whole.replies)).toEqual(codes);
      expect(whole.bodies).toEqual(bodies);
      for (let cut = 1; cut < dialog.length; cut++) {
        const split = runDialog([dialog.subarray(0, cut), dialog.subarray(cut)], config);
        expect(split, `split at ${cut}`).toEqual(whole);
      }
      const bytes = [...dialog].map((b) => Buffer.from([b]));
      expect(runDialog(bytes, config), "one byte at a time").toEqual(whole);
    },
  );
});

describe("ENHANCEDSTATUSCODES (RFC 2034)", () => {
  test.each<[string, Capability[], string[]]>([
    [
      "adds enhanced codes when advertised",
      ["ENHANCEDSTATUSCODES"],
      [
        "250 2.1.0 Accepted\r\n",
        "250 2.1.5 Accepted\r\n",
        "354 End data with <CR><LF>.<CR><LF>\r\n",
        "250 2.6.0 OK: message queued\r\n",
        "503 5.5.1 Error: need MAIL command\r\n",
        "502 5.5.1 Error: command not implemented\r\n",
        "221 2.0.0 Bye\r\n",
      ],
    ],
    [
      "leaves them out otherwise",
      [],
      [
        "250 Accepted\r\n",
        "250 Accepted\r\n",
        "354 End data with <CR><LF>.<CR><LF>\r\n",
        "250 OK: message queued\r\n",
        "503 Error: need MAIL command\r\n",
        "502 Error: command not implemented\r\n",
        "221 Bye\r\n",
      ],
    ],
  ])("%s", (_name, capabilities, expected) => {
    const t = startEngine({ ehlo: true, config: { capabilities } });
    for (const line of [MAIL, RCPT, "DATA\r\n", ".\r\n", RCPT, "BDAT 0 LAST\r\n", "QUIT\r\n"]) {
      t.feed(line);
      expect(t.text()).toBe(expected.shift());
    }
  });

  test("never puts an enhanced code on the EHLO reply", () => {
    const t = startEngine({ config: { capabilities: ["ENHANCEDSTATUSCODES"] } });
    t.feed("EHLO c.test\r\n");
    expect(t.text()).toBe(
      "250-mx.test Nice to meet you, [127.0.0.1]\r\n250 ENHANCEDSTATUSCODES\r\n",
    );
  });
});

describe("BDAT (RFC 3030 CHUNKING)", () => {
  const chunking: StartOptions = { config: { capabilities: ["CHUNKING", "BINARYMIME", "SIZE"] } };

  test("takes a message in chunks and answers each one", () => {
    const t = inTransaction(chunking);
    t.feed("BDAT 5\r\nhelloBDAT 6 LAST\r\n world");
    const replies = t.take();
    expect(replies).toEqual([
      { code: 250, lines: ["5 octets received"] },
      { code: 250, lines: ["OK: message queued"] },
    ]);
    expect(t.host.sinks).toHaveLength(1);
    expect(t.host.sink.body).toBe("hello world");
    expect(t.host.sink.endInfo).toEqual({ bytes: 11, sizeExceeded: false, bareLf: 0 });
    expect(t.session.envelope.mailFrom).toBe(false);
  });

  test("ends the message with BDAT 0 LAST", () => {
    const t = inTransaction(chunking);
    t.feed("BDAT 3\r\nabcBDAT 0 LAST\r\n");
    expect(t.codes()).toEqual([250, 250]);
    expect(t.host.sink.body).toBe("abc");
  });

  test("passes dots and CRLF.CRLF through untouched", () => {
    const t = inTransaction(chunking);
    const chunk = "a\r\n.\r\n..b\r\n";
    t.feed(`BDAT ${chunk.length} LAST\r\n${chunk}`);
    expect(t.codes()).toEqual([250]);
    expect(t.host.sink.body).toBe(chunk);
  });

  test("reads a chunk split across several feeds", () => {
    const t = inTransaction(chunking);
    t.feed("BDAT 10 LAST\r\n0123");
    expect(t.codes()).toEqual([]);
    t.feed("456");
    t.feed("789NOOP\r\n");
    expect(t.codes()).toEqual([250, 250]);
    expect(t.host.sink.body).toBe("0123456789");
  });

  test("takes a chunk size with leading zeros (RFC 3030: 1*DIGIT)", () => {
    const t = inTransaction(chunking);
    t.feed("BDAT 0000000000000006 LAST\r\nhello!NOOP\r\n");
    expect(t.codes()).toEqual([250, 250]);
    expect(t.host.sink.body).toBe("hello!");
  });

  test("closes with 421 at a chunk size past 15 digits: its chunk could not be skipped", () => {
    const t = inTransaction(chunking);
    t.feed("BDAT 1234567890123456 LAST\r\nRSET\r\n");
    expect(t.take()).toEqual([
      { code: 421, lines: ["Error: BDAT chunk size too large, closing connection"] },
    ]);
    expect(t.engine.closed).toBe(true);
  });

  test("answers pipelined BDATs in order", () => {
    const t = startEngine({ ehlo: true, ...chunking });
    t.feed(`${MAIL}${RCPT}BDAT 2\r\nabBDAT 2\r\ncdBDAT 2 LAST\r\nefQUIT\r\n`);
    expect(t.codes()).toEqual([250, 250, 250, 250, 250, 221]);
    expect(t.host.sink.body).toBe("abcdef");
  });

  test("a BDAT refused before EHLO whose size is past 15 digits: its refusal, then the connection closes", () => {
    const t = startEngine(chunking);
    t.feed("BDAT 1234567890123456 LAST\r\nNOOP\r\n");
    expect(t.codes()).toEqual([503]);
    expect(t.engine.closed).toBe(true);
  });

  test("reads and drops the chunk of a BDAT refused for want of MAIL", () => {
    const t = startEngine({ ehlo: true, ...chunking });
    t.feed("BDAT 6 LAST\r\nNOOP\r\nNOOP\r\n");
    expect(t.take()).toEqual([
      { code: 503, lines: ["Error: need MAIL command"] },
      { code: 250, lines: ["OK"] },
    ]);
    expect(t.host.sinks).toHaveLength(0);
  });

  test("reads and drops the chunk of a BDAT refused before EHLO", () => {
    const t = startEngine(chunking);
    t.feed("BDAT 6\r\nNOOP\r\nNOOP\r\n");
    expect(t.codes()).toEqual([503, 250]);
  });

  test("reads and drops the chunk of a BDAT refused for want of RCPT", () => {
    const t = startEngine({ ehlo: true, ...chunking });
    t.feed(`${MAIL}BDAT 6\r\nNOOP\r\nNOOP\r\n`);
    expect(t.codes()).toEqual([250, 503, 250]);
  });

  test("answers a BDAT without a size 501", () => {
    const t = inTransaction(chunking);
    t.feed("BDAT\r\nBDAT x\r\n");
    expect(t.codes()).toEqual([501, 501]);
  });

  test("answers 552 when the chunks go over the size limit and aborts the sink", () => {
    const t = inTransaction({ config: { capabilities: ["CHUNKING"], size: 10 } });
    t.feed("BDAT 8\r\n12345678BDAT 8 LAST\r\n12345678NOOP\r\n");
    expect(t.codes()).toEqual([250, 552, 250]);
    expect(t.host.sink.exceededCalls).toBe(1);
    expect(t.host.sink.aborted).toBe("size");
    expect(t.host.sink.body).toBe("12345678");
    expect(t.session.envelope.mailFrom).toBe(false);
  });

  test("RSET between chunks aborts the sink", () => {
    const t = inTransaction(chunking);
    t.feed("BDAT 3\r\nabcRSET\r\n");
    expect(t.codes()).toEqual([250, 250]);
    expect(t.host.sink.aborted).toBe("client reset (RSET)");
    t.feed(`${MAIL}${RCPT}BDAT 1 LAST\r\nz`);
    expect(t.codes()).toEqual([250, 250, 250]);
    expect(t.host.sinks).toHaveLength(2);
    expect(t.host.sink.body).toBe("z");
  });

  test("refuses DATA after BDAT in the same transaction with 503", () => {
    const t = inTransaction(chunking);
    t.feed("BDAT 3\r\nabcDATA\r\n");
    const replies = t.take();
    expect(replies.map((r) => r.code)).toEqual([250, 503]);
    expect(replies[1]?.lines).toEqual(["Error: DATA not allowed after BDAT"]);
  });

  test("refuses BODY=BINARYMIME with DATA", () => {
    const t = startEngine({ ehlo: true, ...chunking });
    t.feed(`MAIL FROM:<a@example.com> BODY=BINARYMIME\r\n${RCPT}DATA\r\n`);
    expect(t.codes()).toEqual([250, 250, 503]);
  });

  test("waits for an async end before reading what follows BDAT LAST", async () => {
    const verdict = deferred<undefined>();
    const t = inTransaction({ ...chunking, setup: (h) => (h.onEnd = () => verdict.promise) });
    t.feed("BDAT 2 LAST\r\nabNOOP\r\n");
    expect(t.codes()).toEqual([]);
    verdict.resolve(undefined);
    await t.untilReplies(2);
    expect(t.codes()).toEqual([250, 250]);
  });
});

describe("bare LF policy", () => {
  const data = `DATA\r\nline one\nline two\r\n.\r\nNOOP\r\n`;

  test("accepts bare LF as data by default", () => {
    const t = inTransaction();
    t.feed(data);
    expect(t.codes()).toEqual([354, 250, 250]);
    expect(t.host.sink.body).toBe("line one\nline two\r\n");
  });

  test('answers 550 after the data with "reject" and aborts the sink', () => {
    const t = inTransaction({ config: { bareLf: "reject" } });
    t.feed(data);
    const replies = t.take();
    expect(replies.map((r) => r.code)).toEqual([354, 550, 250]);
    expect(replies[1]?.lines).toEqual(["Error: bare <LF> received; lines must end with <CR><LF>"]);
    expect(t.host.sink.aborted).toBe("bare LF");
    expect(t.host.sink.endInfo).toBeUndefined();
    expect(t.session.envelope.mailFrom).toBe(false);
  });
});

describe("interceptors (the fault seam)", () => {
  function withInterceptor(
    at: Stage,
    directive: Directive | Promise<Directive>,
    options: StartOptions = {},
  ) {
    return startEngine({
      ...options,
      setup: (h) => {
        h.interceptor = (stage) => (stage === at ? directive : undefined);
        options.setup?.(h);
      },
    });
  }

  test("answers with the directive's reply instead of running the command", () => {
    const t = withInterceptor("MAIL", { reply: reply(451, "Greylisted", "4.7.1") }, { ehlo: true });
    const seen: string[] = [];
    t.host.onMailFrom = (a) => void seen.push(a.address);
    t.feed(MAIL + RCPT);
    expect(t.take()).toEqual([
      { code: 451, lines: ["Greylisted"] },
      { code: 503, lines: ["Error: need MAIL command"] },
    ]);
    expect(seen).toEqual([]);
    expect(t.host.events.at(-2)).toMatchObject({
      stage: "MAIL",
      reason: "fault",
    });
  });

  test("asks with the stage and the command line", () => {
    const t = startEngine({ ehlo: true });
    t.feed(MAIL);
    expect(t.host.intercepted.at(-1)).toEqual({ stage: "MAIL", command: MAIL.trim() });
  });

  test("waits for an async directive", async () => {
    const d = deferred<Directive>();
    const t = withInterceptor("RCPT", d.promise, { ehlo: true });
    t.feed(`${MAIL}${RCPT}NOOP\r\n`);
    expect(t.codes()).toEqual([250]);
    d.resolve({ reply: reply(550, "No") });
    await t.untilReplies(2);
    expect(t.codes()).toEqual([550, 250]);
  });

  test("disconnects before the reply", () => {
    const t = withInterceptor("RCPT", { disconnect: "before" }, { ehlo: true });
    t.feed(`${MAIL}${RCPT}NOOP\r\n`);
    expect(t.codes()).toEqual([250]);
    expect(t.host.closes).toBe(1);
  });

  test("disconnects after the reply", () => {
    const t = withInterceptor("MAIL", { disconnect: "after" }, { ehlo: true });
    t.feed(`${MAIL}NOOP\r\n`);
    expect(t.codes()).toEqual([250]);
    expect(t.host.closes).toBe(1);
  });

  test("disconnects after the reply of an async hook", async () => {
    const t = withInterceptor(
      "MAIL",
      { disconnect: "after" },
      {
        ehlo: true,
        setup: (h) => (h.onMailFrom = async () => undefined),
      },
    );
    t.feed(`${MAIL}NOOP\r\n`);
    await t.host.until(() => t.host.closes > 0);
    expect(t.codes()).toEqual([250]);
  });

  test("answers with a reply and then disconnects", () => {
    const t = withInterceptor("EHLO", { reply: reply(554, "Go away"), disconnect: "after" });
    t.feed("EHLO c.test\r\nNOOP\r\n");
    expect(t.codes()).toEqual([554]);
    expect(t.host.closes).toBe(1);
  });

  test("hangs: no reply, nothing more read, no close", () => {
    const t = withInterceptor("RCPT", { hang: true }, { ehlo: true });
    t.feed(`${MAIL}${RCPT}NOOP\r\n`);
    t.feed("NOOP\r\n");
    expect(t.codes()).toEqual([250]);
    expect(t.host.closes).toBe(0);
  });

  test("dropReply at DATA_END keeps the message and closes without the reply", () => {
    const t = withInterceptor("DATA_END", { dropReply: true });
    t.feed(`EHLO c.test\r\n${MAIL}${RCPT}DATA\r\n${BODY}.\r\nNOOP\r\n`);
    expect(t.codes()).toEqual([250, 250, 250, 354]);
    expect(t.host.closes).toBe(1);
    expect(t.host.sink.endInfo).toBeDefined();
    expect(t.host.sink.aborted).toBeUndefined();
    expect(t.host.sink.repliedWith).toEqual({
      reply: expect.objectContaining({ code: 250 }),
      delivered: false,
    });
  });

  test("a reply at DATA_END replaces the verdict, aborts the sink and ends the transaction", () => {
    const t = withInterceptor("DATA_END", { reply: reply(452, "Out of storage") }, { ehlo: true });
    t.feed(`${MAIL}${RCPT}DATA\r\n${BODY}.\r\n${MAIL}`);
    expect(t.codes()).toEqual([250, 250, 354, 452, 250]);
    expect(t.host.sink.endInfo).toBeUndefined();
    expect(t.host.sink.aborted).toBeDefined();
  });

  test("a disconnect before the DATA_END reply aborts the sink", () => {
    const t = withInterceptor("DATA_END", { disconnect: "before" }, { ehlo: true });
    t.feed(`${MAIL}${RCPT}DATA\r\n${BODY}.\r\n`);
    expect(t.codes()).toEqual([250, 250, 354]);
    expect(t.host.closes).toBe(1);
    expect(t.host.sink.aborted).toBeDefined();
  });

  test("a reply instead of BDAT still reads and drops the chunk", () => {
    const t = withInterceptor(
      "BDAT",
      { reply: reply(452, "Later") },
      {
        ehlo: true,
        config: { capabilities: ["CHUNKING"] },
      },
    );
    t.feed(`${MAIL}${RCPT}BDAT 6\r\nNOOP\r\nNOOP\r\n`);
    expect(t.codes()).toEqual([250, 250, 452, 250]);
  });

  test("a hang at DATA_END aborts the sink and answers nothing more", () => {
    const t = withInterceptor("DATA_END", { hang: true }, { ehlo: true });
    t.feed(`${MAIL}${RCPT}DATA\r\n${BODY}.\r\nNOOP\r\n`);
    expect(t.codes()).toEqual([250, 250, 354]);
    expect(t.host.sink.aborted).toBeDefined();
    expect(t.host.closes).toBe(0);
  });

  test("a reply instead of a later BDAT drops its chunk, not into the open message", () => {
    const t = startEngine({
      ehlo: true,
      config: { capabilities: ["CHUNKING"] },
      setup: (h) => {
        h.interceptor = (stage, command) =>
          stage === "BDAT" && command === "BDAT 3"
            ? { reply: reply(451, "Lost chunk") }
            : undefined;
      },
    });
    t.feed(`${MAIL}${RCPT}BDAT 2\r\nabBDAT 3\r\nxyzBDAT 2 LAST\r\ncd`);
    // RFC 3030 2: the refusal fails the transaction; the BDAT after it finds none.
    expect(t.codes()).toEqual([250, 250, 250, 451, 503]);
    expect(t.host.sink.body).toBe("ab");
    expect(t.host.sink.aborted).toBe("transaction reset");
    expect(t.engine.session.envelope.mailFrom).toBe(false);
  });

  test("BDAT with extra spaces around its size is taken; a malformed one's chunk is still dropped", () => {
    const t = startEngine({ ehlo: true, config: { capabilities: ["CHUNKING"] } });
    t.feed(`${MAIL}${RCPT}BDAT  6 LAST\r\nRSET\r\n`);
    expect(t.codes()).toEqual([250, 250, 250]);
    expect(t.host.sink.body).toBe("RSET\r\n");
    const u = startEngine({ ehlo: true, config: { capabilities: ["CHUNKING"] } });
    // A 501 whose size is readable: the six bytes after it are its chunk, not commands.
    u.feed(`${MAIL}${RCPT}BDAT 6 LASTX\r\nRSET\r\nNOOP\r\n`);
    expect(u.codes()).toEqual([250, 250, 501, 250]);
    expect(u.engine.session.envelope.mailFrom).toBe(false);
  });

  test("a refused BDAT aborts the open message at once; its chunk is still read and dropped", () => {
    const t = startEngine({
      ehlo: true,
      config: { capabilities: ["CHUNKING"] },
      setup: (h) => {
        h.interceptor = (stage, command) =>
          stage === "BDAT" && command === "BDAT 3"
            ? { reply: reply(451, "Lost chunk") }
            : undefined;
      },
    });
    t.feed(`${MAIL}${RCPT}BDAT 2\r\nabBDAT 3\r\nx`);
    expect(t.host.sink.aborted).toBe("transaction reset");
    t.feed("yzNOOP\r\n");
    expect(t.codes()).toEqual([250, 250, 250, 451, 250]);
    expect(t.host.sink.body).toBe("ab");
  });

  test("an async BDAT directive holds input until BDAT 0 LAST is answered", async () => {
    const verdict = deferred<undefined>();
    const t = startEngine({
      ehlo: true,
      config: { capabilities: ["CHUNKING"] },
      setup: (h) => {
        h.interceptor = (stage) => (stage === "BDAT" ? Promise.resolve(undefined) : undefined);
        h.onEnd = () => verdict.promise;
      },
    });
    t.feed(`${MAIL}${RCPT}BDAT 2\r\nabBDAT 0 LAST\r\nNOOP\r\n`);
    await t.untilReplies(3);
    expect(t.codes()).toEqual([250, 250, 250]);
    expect(t.host.sink.endInfo).toBeDefined();
    verdict.resolve(undefined);
    await t.untilReplies(2);
    expect(t.take()).toEqual([
      { code: 250, lines: ["OK: message queued"] },
      { code: 250, lines: ["OK"] },
    ]);
  });

  test("the CONNECT stage can replace the greeting", () => {
    const t = withInterceptor(
      "CONNECT",
      { reply: reply(554, "No service"), disconnect: "after" },
      {
        greet: false,
      },
    );
    t.engine.greet();
    expect(t.codes()).toEqual([554]);
    expect(t.host.closes).toBe(1);
  });
});

describe("LMTP (RFC 2033)", () => {
  const lmtp: StartOptions = { ehlo: true, config: { lmtp: true } };
  const dialog = `${MAIL}${RCPT}RCPT TO:<c@example.com>\r\nRCPT TO:<d@example.com>\r\nDATA\r\n${BODY}.\r\n`;

  test("answers the data once per recipient", () => {
    const t = startEngine(lmtp);
    t.feed(dialog);
    expect(t.codes()).toEqual([250, 250, 250, 250, 354, 250, 250, 250]);
  });

  test("gives each recipient its own verdict", () => {
    const t = startEngine({
      ...lmtp,
      setup: (h) =>
        (h.onEnd = () => [reply(250, "ok b"), reply(552, "full c"), reply(250, "ok d")]),
    });
    t.feed(dialog);
    expect(t.take().slice(5)).toEqual([
      { code: 250, lines: ["ok b"] },
      { code: 552, lines: ["full c"] },
      { code: 250, lines: ["ok d"] },
    ]);
  });

  test.each<[string, StartOptions]>([
    ["a size overflow", { config: { lmtp: true, size: 10 } }],
    ["a rejection", { setup: (h) => (h.onEnd = () => Promise.reject(new SMTPError(554, "no"))) }],
    ["a bare LF rejection", { config: { lmtp: true, bareLf: "reject" } }],
  ])("answers %s once per recipient", async (_name, options) => {
    const t = startEngine({ ...lmtp, ...options, config: { lmtp: true, ...options.config } });
    t.feed(`${MAIL}${RCPT}RCPT TO:<c@example.com>\r\nDATA\r\n${"x".repeat(20)}\nx\r\n.\r\n`);
    await t.untilReplies(6);
    const codes = t.codes();
    expect(codes).toHaveLength(6);
    expect(codes[4]).toBeGreaterThanOrEqual(500);
    expect(codes[5]).toBe(codes[4]);
  });
});

describe("shutdown", () => {
  test("answers 421 and closes at once when idle", () => {
    const t = startEngine({ ehlo: true });
    t.engine.shutdown();
    expect(t.take()).toEqual([{ code: 421, lines: ["Server shutting down"] }]);
    expect(t.host.closes).toBe(1);
  });

  test("answers commands after shutdown with 421", () => {
    const t = inTransaction();
    t.feed("DATA\r\n");
    t.take();
    t.engine.shutdown();
    t.feed(`${BODY}.\r\nNOOP\r\n`);
    expect(t.codes()).toEqual([250, 421]);
    expect(t.host.closes).toBe(1);
  });

  test("finishes the message in flight, then answers 421", () => {
    const t = inTransaction();
    t.feed("DATA\r\nSubject: x\r\n");
    t.take();
    t.engine.shutdown();
    expect(t.codes()).toEqual([]);
    expect(t.host.closes).toBe(0);
    t.feed("\r\nbody\r\n.\r\n");
    expect(t.codes()).toEqual([250, 421]);
    expect(t.host.closes).toBe(1);
    expect(t.host.sink.aborted).toBeUndefined();
  });

  test("waits for a pending hook, then answers it and 421", async () => {
    const verdict = deferred<undefined>();
    const t = inTransaction({ setup: (h) => (h.onEnd = () => verdict.promise) });
    t.feed(`DATA\r\n${BODY}.\r\n`);
    t.take();
    t.engine.shutdown();
    expect(t.codes()).toEqual([]);
    verdict.resolve(undefined);
    await t.host.until(() => t.host.closes > 0);
    expect(t.codes()).toEqual([250, 421]);
  });
});
