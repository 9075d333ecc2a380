/**
 * XCLIENT and XFORWARD in the engine (no sockets), per-session disabledCommands,
 * authRequiredMessage and rejectOversized: what smtp-server 3.21 does, checked
 * against the session the hooks see.
 */
import { describe, expect, test } from "vitest";
import type { AuthOutcome } from "../../src/protocol/host.js";
import type { AuthRequest } from "../../src/protocol/sasl.js";
import { resolveTrust } from "../../src/protocol/trust.js";
import type { MaybePromise } from "../../src/protocol/util.js";
import { type ConfigPatch, codesOf, type StartOptions, startEngine } from "./engine-host.js";

const XCLIENT_KEYWORD = "XCLIENT NAME ADDR PORT PROTO HELO LOGIN";
const XFORWARD_KEYWORD = "XFORWARD NAME ADDR PORT PROTO HELO IDENT SOURCE";

/** An engine whose peer (127.0.0.1, see engine-host) may use both commands. */
function trusted(config: ConfigPatch = {}, options: StartOptions = {}) {
  return startEngine({
    ehlo: true,
    ...options,
    config: { xclient: true, xforward: true, ...config },
  });
}

function ehloLines(t: ReturnType<typeof startEngine>): string[] {
  t.feed("EHLO client.test\r\n");
  const [r] = t.take();
  return r?.lines ?? [];
}

describe("XCLIENT and XFORWARD are offered only to trusted peers", () => {
  test("EHLO lists both keywords, after SIZE, for a peer in the trust lists", () => {
    const t = trusted({ size: 1000, capabilities: ["PIPELINING", "SIZE"] });
    expect(ehloLines(t)).toEqual([
      "mx.test Nice to meet you, [127.0.0.1]",
      "PIPELINING",
      "SIZE 1000",
      XCLIENT_KEYWORD,
      XFORWARD_KEYWORD,
    ]);
  });

  test.each<[string, ConfigPatch]>([
    ["neither option set", {}],
    [
      "a list without the peer",
      { xclient: resolveTrust(["10.0.0.5"], "x"), xforward: resolveTrust(["10.0.0.5"], "x") },
    ],
    ["the options off", { xclient: false, xforward: false }],
  ])("with %s: not in EHLO, and both commands get 550 as in smtp-server", (_name, config) => {
    const t = startEngine({ ehlo: true, config });
    expect(ehloLines(t).some((l) => l.startsWith("XCLIENT") || l.startsWith("XFORWARD"))).toBe(
      false,
    );
    t.feed("XCLIENT ADDR=10.1.2.3\r\nXFORWARD ADDR=10.1.2.3\r\n");
    expect(t.take()).toEqual([
      { code: 550, lines: ["Error: Not allowed"] },
      { code: 550, lines: ["Error: Not allowed"] },
    ]);
    expect(t.session.remoteAddress).toBe("127.0.0.1");
  });

  test("the 550 carries 5.7.0 when enhanced status codes are on", () => {
    const t = startEngine({ ehlo: true, config: { capabilities: ["ENHANCEDSTATUSCODES"] } });
    t.feed("XCLIENT ADDR=10.1.2.3\r\n");
    expect(t.text()).toBe("550 5.7.0 Error: Not allowed\r\n");
  });

  test.each([
    ["an IPv4 entry matches the IPv4-mapped IPv6 peer", "::ffff:127.0.0.1", "127.0.0.1"],
    ["an IPv4-mapped entry matches the IPv4 peer", "127.0.0.1", "::FFFF:127.0.0.1"],
    ["IPv6 entries compare in one form", "2001:db8::1", "2001:DB8:0:0:0:0:0:0001"],
  ])("%s", (_name, peer, entry) => {
    const t = startEngine({
      greet: false,
      config: { xclient: resolveTrust([entry], "useXClient") },
    });
    t.session.remoteAddress = peer;
    t.engine.greet();
    t.take();
    expect(ehloLines(t)).toContain(XCLIENT_KEYWORD);
  });

  test("a disabled command is neither offered nor accepted (502, as any disabled command)", () => {
    const t = trusted({ disabledCommands: new Set(["XCLIENT"]) });
    const lines = ehloLines(t);
    expect(lines).not.toContain(XCLIENT_KEYWORD);
    expect(lines).toContain(XFORWARD_KEYWORD);
    t.feed("XCLIENT ADDR=10.1.2.3\r\n");
    expect(t.codes()).toEqual([502]);
  });
});

describe("XCLIENT rewrites the session and starts it over", () => {
  test("ADDR, NAME and PORT rewrite the session; the answer is a fresh 220 greeting", () => {
    const t = trusted();
    t.feed("XCLIENT ADDR=10.1.2.3 NAME=relay.example PORT=4321 PROTO=ESMTP HELO=c.example\r\n");
    expect(t.text()).toBe("220 mx.test ESMTP\r\n");
    const s = t.session;
    expect(s.remoteAddress).toBe("10.1.2.3");
    expect(s.remotePort).toBe(4321);
    expect(s.clientHostname).toBe("relay.example");
    expect(Object.fromEntries(s.xClient)).toEqual({
      "ADDR:DEFAULT": "127.0.0.1",
      ADDR: "10.1.2.3",
      "NAME:DEFAULT": "[127.0.0.1]",
      NAME: "relay.example",
      "PORT:DEFAULT": 50000,
      PORT: 4321,
      PROTO: "ESMTP",
      HELO: "c.example",
    });
  });

  test("after ADDR the client must greet again, and neither command is offered any more", () => {
    const t = trusted();
    t.feed("XCLIENT ADDR=10.1.2.3\r\n");
    t.take();
    expect(t.session.hostNameAppearsAs).toBe("");
    t.feed("MAIL FROM:<a@example.com>\r\n");
    expect(t.take()).toEqual([{ code: 503, lines: ["Error: send HELO/EHLO first"] }]);
    const lines = ehloLines(t);
    expect(lines[0]).toBe("mx.test Nice to meet you, [127.0.0.1]");
    expect(lines).not.toContain(XCLIENT_KEYWORD);
    expect(lines).not.toContain(XFORWARD_KEYWORD);
    t.feed("XCLIENT ADDR=10.9.9.9\r\nXFORWARD ADDR=10.9.9.9\r\n");
    expect(t.codes()).toEqual([550, 550]);
    expect(t.session.remoteAddress).toBe("10.1.2.3");
  });

  test("without ADDR the session keeps its EHLO and the commands stay available", () => {
    const t = trusted();
    t.feed("XCLIENT NAME=relay.example\r\nMAIL FROM:<a@example.com>\r\n");
    expect(t.codes()).toEqual([220, 250]);
    expect(t.session.hostNameAppearsAs).toBe("client.test");
  });

  test("an IPv6 ADDR comes as IPV6:..., and is stored in one normal form", () => {
    const t = trusted();
    t.feed("XCLIENT ADDR=IPV6:2001:DB8:0:0:0:0:0:0001\r\n");
    expect(t.codes()).toEqual([220]);
    expect(t.session.remoteAddress).toBe("2001:db8::1");
  });

  test("values are xtext-decoded", () => {
    const t = trusted();
    t.feed("XCLIENT NAME=mail+2Dout.example HELO=a+2Bb\r\n");
    expect(t.codes()).toEqual([220]);
    expect(t.session.clientHostname).toBe("mail-out.example");
    expect(t.session.xClient.get("HELO")).toBe("a+b");
  });

  test("[UNAVAILABLE] and [TEMPUNAVAIL] mean unknown: false, NAME falls back to [address]", () => {
    const t = trusted();
    t.feed("XCLIENT PROTO=[TEMPUNAVAIL] HELO=[unavailable] PORT=[UNAVAILABLE]\r\n");
    expect(t.codes()).toEqual([220]);
    expect(t.session.xClient.get("PROTO")).toBe(false);
    expect(t.session.xClient.get("HELO")).toBe(false);
    t.feed("XCLIENT ADDR=10.1.2.3 NAME=[UNAVAILABLE]\r\n");
    expect(t.codes()).toEqual([220]);
    expect(t.session.clientHostname).toBe("[10.1.2.3]");
    expect(t.session.xClient.get("NAME")).toBe("");
  });

  test("ADDR=[UNAVAILABLE] leaves the address but still hands the session over", () => {
    const t = trusted();
    t.feed("XCLIENT ADDR=[UNAVAILABLE]\r\n");
    expect(t.codes()).toEqual([220]);
    expect(t.session.remoteAddress).toBe("127.0.0.1");
    expect(t.session.xClient.get("ADDR")).toBe(false);
    t.feed("XCLIENT NAME=x.example\r\n");
    expect(t.codes()).toEqual([550]);
  });

  test("a repeated attribute keeps its first value", () => {
    const t = trusted();
    t.feed("XCLIENT NAME=first.example NAME=second.example\r\n");
    expect(t.codes()).toEqual([220]);
    expect(t.session.clientHostname).toBe("first.example");
  });

  test.each([
    ["no attributes", "XCLIENT", "Error: Bad command parameter syntax"],
    ["only spaces", "XCLIENT   ", "Error: Bad command parameter syntax"],
    ["an attribute without =", "XCLIENT ADDR=10.1.2.3 NAME", "Error: Bad command parameter syntax"],
    ["two = in one attribute", "XCLIENT NAME=a=b", "Error: Bad command parameter syntax"],
    [
      "an unknown attribute",
      "XCLIENT ADDR=10.1.2.3 IDENT=x",
      "Error: Bad command parameter syntax",
    ],
    ["a CR LF smuggled as xtext", "XCLIENT HELO=a+0D+0Ab", "Error: Bad command parameter syntax"],
    ["a C1 control as xtext", "XCLIENT PROTO=a+85", "Error: Bad command parameter syntax"],
    [
      "an ADDR that is no IP address",
      "XCLIENT ADDR=mail.example",
      "Error: Bad command parameter syntax. Invalid address",
    ],
    [
      "a NAME that is no host name",
      "XCLIENT NAME=a+20b",
      "Error: Bad command parameter syntax. Invalid hostname",
    ],
  ])("%s: 501 and nothing applied", (_name, line, text) => {
    const t = trusted();
    t.feed(`${line}\r\n`);
    expect(t.take()).toEqual([{ code: 501, lines: [text] }]);
    expect(t.session.remoteAddress).toBe("127.0.0.1");
    expect(t.session.remotePort).toBe(50000);
    expect(t.session.xClient.size).toBe(0);
  });

  test("a valid attribute before an invalid one is not applied either", () => {
    const t = trusted();
    t.feed("XCLIENT ADDR=10.1.2.3 PORT=1 FOO=bar\r\n");
    expect(t.codes()).toEqual([501]);
    expect(t.session.remoteAddress).toBe("127.0.0.1");
    t.feed("XCLIENT ADDR=10.1.2.3\r\n");
    expect(t.codes()).toEqual([220]);
  });

  test("attribute names are case-insensitive", () => {
    const t = trusted();
    t.feed("xclient addr=10.1.2.3 port=25\r\n");
    expect(t.codes()).toEqual([220]);
    expect(t.session.remoteAddress).toBe("10.1.2.3");
    expect(t.session.remotePort).toBe(25);
  });

  test("refused during a mail transaction (503)", () => {
    const t = trusted();
    t.feed("MAIL FROM:<a@example.com>\r\nXCLIENT ADDR=10.1.2.3\r\n");
    expect(t.take()).toEqual([
      { code: 250, lines: ["Accepted"] },
      { code: 503, lines: ["Error: Mail transaction in progress"] },
    ]);
    expect(t.session.remoteAddress).toBe("127.0.0.1");
  });

  test("needs no EHLO first, as in smtp-server", () => {
    const t = trusted({}, { ehlo: false });
    t.feed("XCLIENT ADDR=10.1.2.3\r\n");
    expect(t.codes()).toEqual([220]);
  });
});

describe("XCLIENT LOGIN", () => {
  function withAuth(answer: (r: AuthRequest) => MaybePromise<AuthOutcome>) {
    const seen: AuthRequest[] = [];
    const t = trusted(
      {},
      {
        setup(host) {
          host.onAuth = (r) => {
            seen.push(r);
            return answer(r);
          };
        },
      },
    );
    return { t, seen };
  }

  test("asks onAuth with method XCLIENT and no password; the user is the session's", async () => {
    const { t, seen } = withAuth(() => Promise.resolve({ ok: true, user: { name: "bob" } }));
    t.feed("XCLIENT LOGIN=bob\r\n");
    await t.untilReplies(1);
    expect(t.codes()).toEqual([220]);
    expect(seen).toEqual([
      {
        method: "XCLIENT",
        username: "bob",
        password: null,
        validatePassword: expect.any(Function),
      },
    ]);
    expect(seen[0]?.validatePassword("anything")).toBe(false);
    expect(t.session.user).toEqual({ name: "bob" });
    t.feed("EHLO client.test\r\n");
    t.take();
    expect(t.session.transmissionType).toBe("ESMTPA");
  });

  test("an onAuth refusal is a 550 and the end of the connection", async () => {
    const { t } = withAuth(() => ({ ok: false, reply: { code: 535, lines: ["no"] } }));
    t.feed("XCLIENT LOGIN=bob\r\nNOOP\r\n");
    await t.host.until(() => t.host.closes > 0);
    expect(t.take()).toEqual([{ code: 550, lines: ["Authentication credentials invalid"] }]);
  });

  test("an onAuth error is a 550 with its message, then the connection ends", async () => {
    const { t } = withAuth(() => Promise.reject(new Error("Unknown user bob")));
    t.feed("XCLIENT LOGIN=bob\r\n");
    await t.host.until(() => t.host.closes > 0);
    expect(t.take()).toEqual([{ code: 550, lines: ["Unknown user bob"] }]);
  });

  test("a pass without a user (smtp-server's bare callback) leaves the session unauthenticated", () => {
    const { t } = withAuth(() => ({ ok: true, user: undefined }));
    t.feed("XCLIENT LOGIN=bob\r\n");
    expect(t.codes()).toEqual([220]);
    expect(t.session.user).toBeUndefined();
  });

  test("an empty LOGIN logs the session out without asking onAuth", () => {
    const { t, seen } = withAuth(() => ({ ok: true, user: "x" }));
    t.session.user = "proxy";
    t.feed("XCLIENT LOGIN=\r\n");
    expect(t.codes()).toEqual([220]);
    expect(t.session.user).toBeUndefined();
    expect(seen).toEqual([]);
  });

  test("ADDR drops the identity the proxy had", () => {
    const { t } = withAuth(() => ({ ok: true, user: "x" }));
    t.session.user = "proxy";
    t.feed("XCLIENT ADDR=10.1.2.3\r\n");
    expect(t.codes()).toEqual([220]);
    expect(t.session.user).toBeUndefined();
  });

  test("LOGIN after ADDR in one command authenticates the relayed client", async () => {
    const { t } = withAuth(() => Promise.resolve({ ok: true, user: "alice" }));
    t.session.user = "proxy";
    t.feed("XCLIENT LOGIN=alice ADDR=10.1.2.3\r\n");
    await t.untilReplies(1);
    expect(t.codes()).toEqual([220]);
    expect(t.session.user).toBe("alice");
  });

  test("commands pipelined after an async LOGIN wait for its greeting", async () => {
    const { t } = withAuth(() => Promise.resolve({ ok: true, user: "alice" }));
    t.feed("XCLIENT LOGIN=alice\r\nNOOP\r\n");
    await t.untilReplies(2);
    expect(codesOf(t.text())).toEqual([220, 250]);
  });
});

describe("XFORWARD records the relayed client for the transaction", () => {
  test("answers 250 and stores every attribute; ADDR, NAME, PORT and HELO rewrite the session", () => {
    const t = trusted();
    t.feed(
      "XFORWARD NAME=c.example ADDR=10.1.2.3 PORT=4321 PROTO=ESMTP HELO=C.Example IDENT=abc SOURCE=REMOTE\r\n",
    );
    expect(t.take()).toEqual([{ code: 250, lines: ["OK"] }]);
    const s = t.session;
    expect(s.remoteAddress).toBe("10.1.2.3");
    expect(s.remotePort).toBe(4321);
    expect(s.clientHostname).toBe("c.example");
    expect(s.hostNameAppearsAs).toBe("c.example");
    expect(Object.fromEntries(s.xForward)).toEqual({
      NAME: "c.example",
      "ADDR:DEFAULT": "127.0.0.1",
      ADDR: "10.1.2.3",
      PORT: 4321,
      PROTO: "ESMTP",
      HELO: "c.example",
      IDENT: "abc",
      SOURCE: "REMOTE",
    });
  });

  test("the transaction that follows sees the forwarded client", () => {
    const t = trusted();
    t.feed("XFORWARD ADDR=10.1.2.3\r\nMAIL FROM:<a@example.com>\r\n");
    expect(t.codes()).toEqual([250, 250]);
    expect(t.session.remoteAddress).toBe("10.1.2.3");
  });

  test("only [UNAVAILABLE] means unknown for XFORWARD", () => {
    const t = trusted();
    t.feed("XFORWARD IDENT=[UNAVAILABLE] SOURCE=[TEMPUNAVAIL]\r\n");
    expect(t.codes()).toEqual([250]);
    expect(t.session.xForward.get("IDENT")).toBe(false);
    expect(t.session.xForward.get("SOURCE")).toBe("[TEMPUNAVAIL]");
  });

  test("trust stays with the proxy's own address after XFORWARD ADDR", () => {
    const t = startEngine({ ehlo: true, config: { xforward: resolveTrust(["127.0.0.1"], "x") } });
    t.feed("XFORWARD ADDR=10.1.2.3\r\nXFORWARD ADDR=10.4.5.6\r\n");
    expect(t.codes()).toEqual([250, 250]);
    expect(t.session.remoteAddress).toBe("10.4.5.6");
    expect(t.session.xForward.get("ADDR:DEFAULT")).toBe("127.0.0.1");
    expect(ehloLines(t)).toContain(XFORWARD_KEYWORD);
  });

  test("LOGIN is an XCLIENT attribute only: 501", () => {
    const t = trusted();
    t.feed("XFORWARD LOGIN=bob\r\n");
    expect(t.codes()).toEqual([501]);
  });

  test("refused during a mail transaction (503)", () => {
    const t = trusted();
    t.feed("MAIL FROM:<a@example.com>\r\nXFORWARD ADDR=10.1.2.3\r\n");
    expect(t.codes()).toEqual([250, 503]);
  });
});

describe("session.disabledCommands replaces the server's list for one session", () => {
  test("an empty list allows what the server disabled; undefined returns to the server list", () => {
    const t = startEngine({ ehlo: true, config: { disabledCommands: new Set(["VRFY"]) } });
    t.feed("VRFY a\r\n");
    expect(t.codes()).toEqual([502]);
    t.session.disabledCommands = [];
    t.feed("VRFY a\r\n");
    expect(t.codes()).toEqual([252]);
    t.session.disabledCommands = ["noop", " Help "];
    t.feed("NOOP\r\nHELP\r\nVRFY a\r\n");
    expect(t.codes()).toEqual([502, 502, 252]);
    t.session.disabledCommands = undefined;
    t.feed("NOOP\r\nVRFY a\r\n");
    expect(t.codes()).toEqual([250, 502]);
  });

  test("EHLO follows the session list for AUTH and STARTTLS", () => {
    const t = startEngine({
      ehlo: true,
      config: {
        authMethods: ["PLAIN"],
        tlsAvailable: true,
        disabledCommands: new Set(["AUTH"]),
        capabilities: ["AUTH", "STARTTLS"],
      },
    });
    expect(ehloLines(t).slice(1)).toEqual(["STARTTLS"]);
    t.session.disabledCommands = ["STARTTLS"];
    expect(ehloLines(t).slice(1)).toEqual(["AUTH PLAIN"]);
    t.feed("STARTTLS\r\n");
    expect(t.codes()).toEqual([502]);
  });

  test("AUTH allowed again for a session makes it required there, with authRequiredMessage", () => {
    const config: ConfigPatch = {
      authMethods: ["PLAIN"],
      authRequired: true,
      allowInsecureAuth: true,
      disabledCommands: new Set(["AUTH"]),
      capabilities: ["AUTH"],
      authRequiredMessage: "Log in first, please",
    };
    const open = startEngine({ ehlo: true, config });
    open.feed("MAIL FROM:<a@example.com>\r\n");
    expect(open.codes()).toEqual([250]);
    const locked = startEngine({ greet: false, config });
    locked.session.disabledCommands = [];
    locked.engine.greet();
    locked.feed("EHLO client.test\r\nMAIL FROM:<a@example.com>\r\n");
    expect(locked.take().at(-1)).toEqual({ code: 530, lines: ["Log in first, please"] });
  });
});

describe("authRequiredMessage", () => {
  test("without it the 530 is smtp-server's text", () => {
    const t = startEngine({
      ehlo: true,
      config: { authMethods: ["PLAIN"], authRequired: true, capabilities: ["AUTH"] },
    });
    t.feed("MAIL FROM:<a@example.com>\r\n");
    expect(t.take()).toEqual([{ code: 530, lines: ["Error: authentication Required"] }]);
  });
});

describe("rejectOversized: false lets the sink decide and see every byte", () => {
  const BIG = `Subject: big\r\n\r\n${"x".repeat(300)}\r\n`;

  test("DATA over the limit: the sink gets the whole message and its verdict stands", () => {
    const t = startEngine({ ehlo: true, config: { size: 100, rejectOversized: false } });
    t.feed(`MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n${BIG}.\r\n`);
    expect(t.codes()).toEqual([250, 250, 354, 250]);
    const sink = t.host.sink;
    expect(sink.body).toBe(BIG);
    expect(sink.exceededCalls).toBe(1);
    expect(sink.endInfo).toEqual({ bytes: BIG.length, sizeExceeded: true, bareLf: 0 });
  });

  test("DATA over the limit with the default: 552, and nothing past the limit reaches the sink", () => {
    const t = startEngine({ ehlo: true, config: { size: 100 } });
    t.feed(`MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n${BIG}.\r\n`);
    expect(t.codes()).toEqual([250, 250, 354, 552]);
    expect(t.host.sink.body.length).toBeLessThanOrEqual(100);
  });

  test("a sink that refuses an oversized message is answered with its own reply", () => {
    const t = startEngine({
      ehlo: true,
      config: { size: 100, rejectOversized: false },
      setup(host) {
        host.onEnd = (info) =>
          info.sizeExceeded ? { code: 552, lines: ["Message too large"] } : undefined;
      },
    });
    t.feed(`MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n${BIG}.\r\n`);
    expect(t.take().at(-1)).toEqual({ code: 552, lines: ["Message too large"] });
  });

  test("BDAT over the limit: chunks are acknowledged, LAST gets the sink's verdict", () => {
    const t = startEngine({
      ehlo: true,
      config: { size: 10, rejectOversized: false, capabilities: ["CHUNKING"] },
    });
    t.feed("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\n");
    t.feed("BDAT 8\r\n12345678BDAT 8\r\nabcdefghBDAT 2 LAST\r\nZZ");
    expect(t.take()).toEqual([
      { code: 250, lines: ["Accepted"] },
      { code: 250, lines: ["Accepted"] },
      { code: 250, lines: ["8 octets received"] },
      { code: 250, lines: ["16 octets received"] },
      { code: 250, lines: ["OK: message queued"] },
    ]);
    expect(t.host.sink.body).toBe("12345678abcdefghZZ");
    expect(t.host.sink.endInfo).toEqual({ bytes: 18, sizeExceeded: true, bareLf: 0 });
  });
});
