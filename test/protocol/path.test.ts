import fc from "fast-check";
import { describe, expect, test } from "vitest";
import {
  checkMailParams,
  checkRcptParams,
  decodeXtext,
  encodeXtext,
  type MailParamContext,
  needsSmtpUtf8,
  normalizeIPv6,
  type PathResult,
  parseMailFrom,
  parseRcptTo,
  type RcptParamContext,
} from "../../src/protocol/path.js";
import { type Reply, reply } from "../../src/protocol/reply.js";
import type { SMTPAddress } from "../../src/protocol/types.js";

const strict = { lenient: false };
const lenient = { lenient: true };

const BAD_SENDER = reply(501, "Error: Bad sender address syntax", "5.1.7");
const BAD_RECIPIENT = reply(501, "Error: Bad recipient address syntax", "5.1.3");
const BAD_PARAM = reply(501, "Error: Bad command parameter syntax");

function accepted(r: PathResult): SMTPAddress {
  if (!r.ok) throw new Error(`expected success, got ${r.reply.code} ${r.reply.lines.join(" ")}`);
  return r.value;
}

function rejected(r: { ok: true } | { ok: false; reply: Reply }): Reply {
  if (r.ok) throw new Error("expected a rejection, got success");
  return r.reply;
}

function mailArgs(text: string): SMTPAddress {
  return accepted(parseMailFrom(`FROM:<a@b.example> ${text}`, strict));
}

function rcptArgs(text: string): SMTPAddress {
  return accepted(parseRcptTo(`TO:<a@b.example> ${text}`, strict));
}

const FULL_MAIL_CTX: MailParamContext = {
  esmtp: true,
  size: 1000,
  hideSize: false,
  dsn: true,
  secure: true,
  requireTls: true,
  smtpUtf8: true,
  eightBitMime: true,
  binaryMime: true,
  auth: true,
};

const FULL_RCPT_CTX: RcptParamContext = { dsn: true, smtpUtf8: true };

describe("parseMailFrom / parseRcptTo: paths", () => {
  test.each([
    ["FROM:<a@b.example>", "a@b.example"],
    ["from:<a@b.example>", "a@b.example"],
    ["From: <a@b.example>", "a@b.example"],
    ["FROM :  <a@b.example>  ", "a@b.example"],
    ["FROM:<a+tag@sub.b.example>", "a+tag@sub.b.example"],
    ["FROM:<A.B-C_D@B.Example>", "A.B-C_D@B.Example"],
  ])("accepts %j as %j", (text, address) => {
    expect(accepted(parseMailFrom(text, strict))).toEqual({ address, args: false });
  });

  test("refuses spaces between the verb and FROM: or TO: (RFC 5321 4.1.1.2: one space), as smtp-server does", () => {
    // argText is what follows the verb and its one space: `MAIL  FROM:<...>` gives this.
    expect(rejected(parseMailFrom(" FROM:<a@b.example>", strict)).code).toBe(501);
    expect(rejected(parseMailFrom("\tFROM:<a@b.example>", lenient)).code).toBe(501);
    expect(rejected(parseRcptTo(" TO:<a@b.example>", strict)).code).toBe(501);
    expect(rejected(parseRcptTo(" TO:<a@b.example>", lenient)).code).toBe(501);
  });

  test("accepts the null sender for MAIL but not for RCPT", () => {
    expect(accepted(parseMailFrom("FROM:<>", strict))).toEqual({ address: "", args: false });
    expect(accepted(parseMailFrom("FROM:<> BODY=8BITMIME", strict)).args).toEqual({
      BODY: "8BITMIME",
    });
    expect(rejected(parseRcptTo("TO:<>", strict))).toEqual(BAD_RECIPIENT);
    expect(rejected(parseRcptTo("TO:<>", lenient))).toEqual(BAD_RECIPIENT);
  });

  test.each([
    ["<@relay.example:user@d.example>", "user@d.example"],
    ["<@a.example,@b.example:user@d.example>", "user@d.example"],
    ["<@[127.0.0.1],@b.example:user@d.example>", "user@d.example"],
  ])("accepts and strips the source route in %s", (path, address) => {
    expect(accepted(parseMailFrom(`FROM:${path}`, strict)).address).toBe(address);
    expect(accepted(parseRcptTo(`TO:${path}`, strict)).address).toBe(address);
  });

  test.each([
    ['"john doe"@example.com', '"john doe"@example.com'],
    ['"john\\"doe"@example.com', '"john\\"doe"@example.com'],
    ['"a@b"@example.com', '"a@b"@example.com'],
    ['"a>b<c"@example.com', '"a>b<c"@example.com'],
    ['".dots..allowed."@example.com', '".dots..allowed."@example.com'],
    ['""@example.com', '""@example.com'],
  ])("accepts the quoted local part in %s and keeps it as sent", (mailbox, address) => {
    const parsed = accepted(parseRcptTo(`TO:<${mailbox}> NOTIFY=NEVER`, strict));
    expect(parsed).toEqual({ address, args: { NOTIFY: "NEVER" } });
  });

  test.each([
    ["user@[127.0.0.1]", "user@[127.0.0.1]"],
    ["user@[IPv6:::1]", "user@[IPv6:::1]"],
    ["user@[ipv6:0:0:0:0:0:0:0:1]", "user@[IPv6:::1]"],
    ["user@[IPv6:2001:DB8:0:0:1:0:0:1]", "user@[IPv6:2001:db8::1:0:0:1]"],
    ["user@[IPv6:::FFFF:192.0.2.1]", "user@[IPv6:::ffff:192.0.2.1]"],
  ])("accepts the address literal %s as %s", (mailbox, address) => {
    expect(accepted(parseMailFrom(`FROM:<${mailbox}>`, strict)).address).toBe(address);
  });

  test.each(["postmaster", "Postmaster", "POSTMASTER"])(
    "accepts the domainless RCPT TO:<%s> but not as a sender",
    (name) => {
      expect(accepted(parseRcptTo(`TO:<${name}>`, strict)).address).toBe(name);
      expect(rejected(parseMailFrom(`FROM:<${name}>`, strict))).toEqual(BAD_SENDER);
    },
  );

  test.each([
    ["jöran@bücher.example", "jöran@bücher.example"],
    ["用户@例子.广告", "用户@例子.广告"],
    ["a@xn--mnchen-3ya.de", "a@münchen.de"],
    ["a@www.xn--mnchen-3ya.DE", "a@www.münchen.DE"],
  ])("accepts the UTF-8 address %s as %s", (mailbox, address) => {
    expect(accepted(parseRcptTo(`TO:<${mailbox}>`, strict)).address).toBe(address);
  });

  test("does not enforce the 64-octet local part limit, as smtp-server does not", () => {
    const mailbox = `${"l".repeat(100)}@b.example`;
    expect(accepted(parseMailFrom(`FROM:<${mailbox}>`, strict)).address).toBe(mailbox);
  });

  test("limits local-part@domain to 253 characters (a 256-octet path with brackets)", () => {
    const domain = `${"d".repeat(60)}.${"d".repeat(60)}.${"d".repeat(60)}.example`; // 189
    const ok = `${"l".repeat(253 - domain.length - 1)}@${domain}`;
    expect(ok).toHaveLength(253);
    expect(accepted(parseMailFrom(`FROM:<${ok}>`, strict)).address).toBe(ok);
    expect(rejected(parseMailFrom(`FROM:<l${ok}>`, strict))).toEqual(BAD_SENDER);
    expect(accepted(parseMailFrom(`FROM:<l${ok}>`, lenient)).address).toBe(`l${ok}`);
  });

  test.each([
    ["", "no path"],
    ["a@b.example", "no brackets"],
    ["<a@b.example", "no closing bracket"],
    ["a@b.example>", "no opening bracket"],
    ["<a@b.example>SIZE=1", "text glued to the path"],
    ["<<a@b.example>>", "nested brackets"],
    ["<a<b@c.example>", "a bracket in the mailbox"],
    ["<ab.example>", "no @"],
    ["<a@b@c.example>", "two @"],
    ["<@b.example>", "an empty local part"],
    ["<a@>", "an empty domain"],
    ["<@relay.example:>", "a source route without mailbox"],
    ["<@relay.example,user@d.example>", "a malformed source route"],
    ["<.a@b.example>", "a leading dot in the local part"],
    ["<a.@b.example>", "a trailing dot in the local part"],
    ["<a..b@b.example>", "consecutive dots in the local part"],
    ["<john doe@example.com>", "a space in an unquoted local part"],
    ['<jo"hn@example.com>', "a quote in an unquoted local part"],
    ['<"john@example.com>', "an unterminated quoted local part"],
    ['<"john"x@example.com>', "text after the quoted local part"],
    ["<a@b..example>", "consecutive dots in the domain"],
    ["<a@.b.example>", "a leading dot in the domain"],
    ["<a@b.example.>", "a trailing dot in the domain"],
    ["<a@b-.example>", "a hyphen before a dot"],
    ["<a@b.-example>", "a hyphen after a dot"],
    ["<a@under_score.example>", "an underscore in the domain"],
    ["<a@b example>", "a space in the domain"],
    ["<a@xn--a.example>", "invalid punycode"],
    ["<u@[300.1.1.1]>", "an invalid IPv4 literal"],
    ["<u@[IPv6:zz::1]>", "an invalid IPv6 literal"],
    ["<u@[IPv6:127.0.0.1]>", "an IPv4 address tagged IPv6"],
    ["<u@[example.com]>", "a general address literal"],
    ["<u@[1.2.3.4>", "an unterminated address literal"],
    ["<a\x01b@c.example>", "a C0 control character"],
    ["<a\tb@c.example>", "a tab"],
    ["<ab@c.example\x7f>", "DEL"],
    ["<a\x85b@c.example>", "a C1 control character"],
    ["<a\u200Bb@c.example>", "a zero-width space"],
    ["<a\u2060b@c.example>", "a word joiner"],
    ["<a@\uFEFFc.example>", "a byte order mark"],
    ["<a\uFFFDb@c.example>", "U+FFFD, what bytes that are not UTF-8 decode to"],
  ])("rejects %j (%s) with 501 and the MAIL/RCPT address syntax reply", (path) => {
    expect(rejected(parseMailFrom(`FROM:${path}`, strict))).toEqual(BAD_SENDER);
    expect(rejected(parseRcptTo(`TO:${path}`, strict))).toEqual(BAD_RECIPIENT);
  });

  test.each([
    ["MAIL", "<a@b.example>"],
    ["MAIL", "FROM<a@b.example>"],
    ["MAIL", "TO:<a@b.example>"],
    ["MAIL", ""],
    ["RCPT", "<a@b.example>"],
    ["RCPT", "FROM:<a@b.example>"],
    ["RCPT", "T O:<a@b.example>"],
  ])("answers %s %j without the FROM:/TO: keyword with the syntax reply", (verb, text) => {
    if (verb === "MAIL") {
      expect(rejected(parseMailFrom(text, strict))).toEqual(
        reply(501, "Error: Syntax: MAIL FROM:<address>"),
      );
    } else {
      expect(rejected(parseRcptTo(text, strict))).toEqual(
        reply(501, "Error: Syntax: RCPT TO:<address>"),
      );
    }
  });
});

describe("the bare-path fast path", () => {
  // `FROM:<x>` alone may be answered by a shortcut; with a parameter after it the
  // general parser runs. Both must agree on every path, valid or not.
  const PATH_UNIT = fc.constantFrom(
    ..."aZ09.-_+=!#$%&'*/?^`{|}~@\"\\ <>:[]()\x00\u00e9".split(""),
    "xn--",
    "IPv6:",
  );
  const outcome = (r: PathResult) => (r.ok ? r.value.address : r.reply);

  test("MAIL and RCPT, strict and lenient, agree with the general parser", () => {
    fc.assert(
      fc.property(
        fc.string({ unit: PATH_UNIT, maxLength: 12 }),
        fc.constantFrom("FROM:", "from:", "From:"),
        fc.boolean(),
        (inner, prefix, lax) => {
          const opts = lax ? lenient : strict;
          const mail = outcome(parseMailFrom(`${prefix}<${inner}>`, opts));
          const mailGeneral = outcome(parseMailFrom(`${prefix}<${inner}> BODY=7BIT`, opts));
          const to = prefix.replace(/from/i, (w) => (w === "FROM" ? "TO" : "to"));
          const rcpt = outcome(parseRcptTo(`${to}<${inner}>`, opts));
          const rcptGeneral = outcome(parseRcptTo(`${to}<${inner}> NOTIFY=NEVER`, opts));
          expect(mail).toEqual(mailGeneral);
          expect(rcpt).toEqual(rcptGeneral);
        },
      ),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 2000) },
    );
  });

  test.each(["user@example.com", "first.last+tag@sub.example-host.org", "a@b", "-a-@1.2.3.4"])(
    "accepts %s as it is",
    (mailbox) => {
      expect(accepted(parseMailFrom(`FROM:<${mailbox}>`, strict)).address).toBe(mailbox);
      expect(accepted(parseRcptTo(`TO:<${mailbox}>`, strict)).address).toBe(mailbox);
    },
  );
});

describe("lenient address parsing", () => {
  test.each([
    ["user.@example.com", "user.@example.com"],
    ["a..b@example.com", "a..b@example.com"],
    ["a@under_score", "a@under_score"],
    ["a@[not a literal]", "a@[not a literal]"],
    ["a@b..example", "a@b..example"],
    ["a@xn--mnchen-3ya.de", "a@münchen.de"],
    ["a@xn--a.example", "a@xn--a.example"],
    [`${"l".repeat(300)}@b.example`, `${"l".repeat(300)}@b.example`],
  ])("accepts %s (only one @ with non-empty sides is checked)", (mailbox, address) => {
    expect(accepted(parseMailFrom(`FROM:<${mailbox}>`, lenient)).address).toBe(address);
  });

  test.each([
    "a@b.example",
    "<ab.example>",
    "<@b.example>",
    "<a@>",
    "<a@b@c.example>",
    "<a b@c.example>",
    "<a\x00b@c.example>",
    "<a\u200Bb@c.example>",
  ])("still rejects %j", (path) => {
    expect(rejected(parseMailFrom(`FROM:${path}`, lenient))).toEqual(BAD_SENDER);
    expect(rejected(parseRcptTo(`TO:${path}`, lenient))).toEqual(BAD_RECIPIENT);
  });
});

describe("parseMailFrom / parseRcptTo: parameters", () => {
  test("sets args to false when the command has no parameters", () => {
    expect(accepted(parseMailFrom("FROM:<a@b.example>   ", strict)).args).toBe(false);
    expect(accepted(parseRcptTo("TO:<a@b.example>", strict)).args).toBe(false);
  });

  test("upper-cases keys, xtext-decodes values and stores bare keys as true", () => {
    const parsed = mailArgs("size=100 body=8bitmime\tX-Foo=a+2Bb+3Dc SMTPUTF8 Z=");
    expect(parsed.args).toEqual({
      SIZE: "100",
      BODY: "8bitmime",
      "X-FOO": "a+b=c",
      SMTPUTF8: true,
      Z: true,
    });
  });

  test("keeps everything after the first = in the value", () => {
    expect(rcptArgs("ORCPT=rfc822;a=b@c.example").args).toEqual({ ORCPT: "rfc822;a=b@c.example" });
  });

  test("skips parameters without a name, as smtp-server does", () => {
    expect(mailArgs("=x SIZE=1").args).toEqual({ SIZE: "1" });
  });

  test.each([
    ["MAIL", "SIZE=1 size=2", "SIZE"],
    ["MAIL", "SMTPUTF8 SMTPUTF8", "SMTPUTF8"],
    ["RCPT", "NOTIFY=NEVER ORCPT=rfc822;a@b NOTIFY=DELAY", "NOTIFY"],
  ])("rejects the duplicate parameter in %s %s", (verb, params, key) => {
    const result =
      verb === "MAIL"
        ? parseMailFrom(`FROM:<a@b.example> ${params}`, strict)
        : parseRcptTo(`TO:<a@b.example> ${params}`, strict);
    expect(rejected(result)).toEqual(reply(501, `Error: duplicate ${key} parameter`));
  });

  test.each(["ENVID=a+0D+0Ab", "X=a\x01b", "X=+7F", "X_Y=1", "-X=1", "X\x01=1", "ÜBER=1"])(
    "rejects the malformed parameter %j with 501",
    (params) => {
      expect(rejected(parseMailFrom(`FROM:<a@b.example> ${params}`, strict))).toEqual(BAD_PARAM);
      expect(rejected(parseRcptTo(`TO:<a@b.example> ${params}`, strict))).toEqual(BAD_PARAM);
    },
  );

  test("reports a bad address before bad parameters", () => {
    expect(rejected(parseMailFrom("FROM:<bad> X=a+0D", strict))).toEqual(BAD_SENDER);
  });

  test.each([
    ["MAIL", "BODY"],
    ["MAIL", "SIZE"],
    ["MAIL", "SIZE="],
    ["MAIL", "RET"],
    ["MAIL", "ENVID"],
    ["MAIL", "AUTH"],
    ["RCPT", "NOTIFY"],
    ["RCPT", "ORCPT="],
  ])("requires a value for %s parameter %s", (verb, param) => {
    const key = param.replace("=", "");
    const expected = reply(501, `Error: ${key} parameter requires a value`);
    const result =
      verb === "MAIL"
        ? parseMailFrom(`FROM:<a@b.example> ${param}`, strict)
        : parseRcptTo(`TO:<a@b.example> ${param}`, strict);
    expect(rejected(result)).toEqual(expected);
  });
});

describe("checkMailParams", () => {
  const defaults = {
    bodyType: "7bit",
    smtpUtf8: false,
    requireTLS: false,
    ret: null,
    envid: null,
    declaredSize: null,
  };

  test("returns the defaults when there are no parameters", () => {
    const addr = accepted(parseMailFrom("FROM:<a@b.example>", strict));
    expect(checkMailParams(addr, FULL_MAIL_CTX)).toEqual({ ok: true, ...defaults });
  });

  test("applies every supported parameter of a nodemailer-style command", () => {
    const addr = mailArgs(
      "SIZE=100 BODY=8BITMIME SMTPUTF8 REQUIRETLS RET=hdrs ENVID=id+2B1 AUTH=<>",
    );
    expect(checkMailParams(addr, FULL_MAIL_CTX)).toEqual({
      ok: true,
      bodyType: "8bitmime",
      smtpUtf8: true,
      requireTLS: true,
      ret: "HDRS",
      envid: "id+1",
      declaredSize: 100,
    });
  });

  test.each([
    [{}, "SIZE=1000", 1000],
    [{}, "SIZE=0", 0],
    [{ hideSize: true }, "SIZE=5000", 5000],
    [{ size: 0 }, "SIZE=99999999999999999999", 1e20],
  ])("accepts a declared SIZE within the limit (ctx %j, %s)", (over, params, size) => {
    const result = checkMailParams(mailArgs(params), { ...FULL_MAIL_CTX, ...over });
    expect(result).toMatchObject({ ok: true, declaredSize: size });
  });

  test("rejects SIZE with 555 after HELO (esmtp: false), where nothing was offered", () => {
    const result = checkMailParams(mailArgs("SIZE=10"), { ...FULL_MAIL_CTX, esmtp: false });
    expect(rejected(result)).toEqual(reply(555, "Error: Unsupported parameter SIZE", "5.5.4"));
  });

  test("rejects a declared SIZE over the limit with 552 and enhanced code 5.3.4", () => {
    expect(rejected(checkMailParams(mailArgs("SIZE=1001"), FULL_MAIL_CTX))).toEqual(
      reply(552, "Error: message exceeds fixed maximum message size 1000", "5.3.4"),
    );
  });

  test.each(["SIZE=abc", "SIZE=-1", "SIZE=1.5", "SIZE=123456789012345678901"])(
    "rejects the malformed %s with 501",
    (params) => {
      expect(rejected(checkMailParams(mailArgs(params), FULL_MAIL_CTX))).toEqual(
        reply(501, "Error: Bad message size syntax"),
      );
    },
  );

  test.each([
    ["7BIT", {}, "7bit"],
    ["7bit", { eightBitMime: false, binaryMime: false }, "7bit"],
    ["8BITMIME", {}, "8bitmime"],
    ["8bitMIME", { binaryMime: false }, "8bitmime"],
    ["BINARYMIME", {}, "binarymime"],
  ])("accepts BODY=%s when advertised (ctx %j)", (body, over, bodyType) => {
    const result = checkMailParams(mailArgs(`BODY=${body}`), { ...FULL_MAIL_CTX, ...over });
    expect(result).toMatchObject({ ok: true, bodyType });
  });

  test.each([
    ["BINARYMIME", { binaryMime: false }, "7BIT or 8BITMIME"],
    ["8BITMIME", { eightBitMime: false, binaryMime: false }, "7BIT"],
    ["QUOTED", { binaryMime: false }, "7BIT or 8BITMIME"],
    ["QUOTED", {}, "7BIT, 8BITMIME or BINARYMIME"],
  ])("rejects BODY=%s (ctx %j) with 501 listing the allowed values", (body, over, list) => {
    const result = checkMailParams(mailArgs(`BODY=${body}`), { ...FULL_MAIL_CTX, ...over });
    expect(rejected(result)).toEqual(reply(501, `Invalid BODY parameter value. Must be ${list}`));
  });

  test("accepts SMTPUTF8 only when advertised and only without a value", () => {
    expect(checkMailParams(mailArgs("SMTPUTF8"), FULL_MAIL_CTX)).toMatchObject({ smtpUtf8: true });
    expect(
      rejected(checkMailParams(mailArgs("SMTPUTF8"), { ...FULL_MAIL_CTX, smtpUtf8: false })),
    ).toEqual(reply(555, "Error: Unsupported parameter SMTPUTF8", "5.5.4"));
    expect(rejected(checkMailParams(mailArgs("SMTPUTF8=yes"), FULL_MAIL_CTX))).toEqual(
      reply(501, "Invalid SMTPUTF8 parameter. This flag does not accept a value"),
    );
  });

  test("accepts REQUIRETLS only on TLS connections where it is advertised", () => {
    const ok = checkMailParams(mailArgs("REQUIRETLS"), FULL_MAIL_CTX);
    expect(ok).toMatchObject({ ok: true, requireTLS: true });
    // Offered once TLS is on: a plain connection is told to use TLS.
    const plain = { ...FULL_MAIL_CTX, secure: false };
    expect(rejected(checkMailParams(mailArgs("REQUIRETLS"), plain))).toEqual(
      reply(530, "REQUIRETLS not permitted on non-TLS connections"),
    );
    // Not offered (hidden): 555 with or without TLS, not a 530 that leads to a 555.
    const unsupported = reply(555, "Error: Unsupported parameter REQUIRETLS", "5.5.4");
    const hidden = { ...FULL_MAIL_CTX, requireTls: false };
    expect(rejected(checkMailParams(mailArgs("REQUIRETLS"), hidden))).toEqual(unsupported);
    const hiddenPlain = { ...FULL_MAIL_CTX, secure: false, requireTls: false };
    expect(rejected(checkMailParams(mailArgs("REQUIRETLS"), hiddenPlain))).toEqual(unsupported);
    expect(rejected(checkMailParams(mailArgs("REQUIRETLS=1"), FULL_MAIL_CTX))).toEqual(
      reply(501, "Invalid REQUIRETLS parameter. This flag does not accept a value"),
    );
  });

  test.each([
    ["RET=FULL", { ret: "FULL" }],
    ["RET=hdrs", { ret: "HDRS" }],
    ["ENVID=QQ314159", { envid: "QQ314159" }],
    ["ENVID=a+20b+2Bc", { envid: "a b+c" }],
    [`ENVID=${"e".repeat(100)}`, { envid: "e".repeat(100) }],
  ])("accepts the DSN parameter %s when DSN is advertised", (params, expected) => {
    expect(checkMailParams(mailArgs(params), FULL_MAIL_CTX)).toMatchObject({
      ok: true,
      ...expected,
    });
  });

  test.each([
    ["RET=ALL", "Invalid RET parameter value. Must be FULL or HDRS"],
    [`ENVID=${"e".repeat(101)}`, "Error: ENVID parameter must not exceed 100 characters"],
    [`ENVID=${"+2B".repeat(34)}`, "Error: ENVID parameter must not exceed 100 characters"],
  ])("rejects the malformed DSN parameter %s with 501", (params, text) => {
    expect(rejected(checkMailParams(mailArgs(params), FULL_MAIL_CTX))).toEqual(reply(501, text));
  });

  test.each(["RET=FULL", "ENVID=abc"])(
    "rejects %s with 555 when DSN is not advertised",
    (params) => {
      const key = params.slice(0, params.indexOf("="));
      const result = checkMailParams(mailArgs(params), { ...FULL_MAIL_CTX, dsn: false });
      expect(rejected(result)).toEqual(reply(555, `Error: Unsupported parameter ${key}`, "5.5.4"));
    },
  );

  test.each(["AUTH=<>", "AUTH=user+2Btag@b.example"])("accepts %s and keeps it in args", (p) => {
    const addr = mailArgs(p);
    expect(checkMailParams(addr, FULL_MAIL_CTX)).toEqual({ ok: true, ...defaults });
    expect(addr.args).toEqual({ AUTH: decodeXtext(p.slice(5)) });
  });

  test("rejects AUTH= with 555 when AUTH is not offered (RFC 4954 5)", () => {
    const result = checkMailParams(mailArgs("AUTH=<>"), { ...FULL_MAIL_CTX, auth: false });
    expect(rejected(result)).toEqual(reply(555, "Error: Unsupported parameter AUTH", "5.5.4"));
  });

  test.each(["X-FOO=1", "NOTIFY=NEVER", "ORCPT=rfc822;a@b", "XYZ"])(
    "rejects the unknown MAIL parameter %s with 555 5.5.4",
    (params) => {
      const key = params.split("=")[0] ?? "";
      expect(rejected(checkMailParams(mailArgs(params), FULL_MAIL_CTX))).toEqual(
        reply(555, `Error: Unsupported parameter ${key}`, "5.5.4"),
      );
    },
  );

  test("accepts the parameters listed in extraParams, case-insensitively", () => {
    const ctx = { ...FULL_MAIL_CTX, extraParams: ["x-foo", "XYZ"] };
    expect(checkMailParams(mailArgs("X-FOO=1 xyz"), ctx)).toEqual({ ok: true, ...defaults });
  });
});

describe("checkRcptParams", () => {
  test("returns the address unchanged when there are no parameters", () => {
    const addr = accepted(parseRcptTo("TO:<a@b.example>", strict));
    expect(checkRcptParams(addr, FULL_RCPT_CTX)).toEqual({ ok: true, value: addr });
  });

  test.each([
    ["NOTIFY=NEVER", { notify: ["NEVER"] }],
    ["NOTIFY=success,Failure", { notify: ["SUCCESS", "FAILURE"] }],
    ["NOTIFY=DELAY", { notify: ["DELAY"] }],
    ["ORCPT=rfc822;a+2Bb@c.example", { orcpt: "rfc822;a+b@c.example" }],
    ["NOTIFY=FAILURE ORCPT=rfc822;x@y", { notify: ["FAILURE"], orcpt: "rfc822;x@y" }],
  ])("fills dsn from %s when DSN is advertised", (params, dsn) => {
    const addr = rcptArgs(params);
    const result = checkRcptParams(addr, FULL_RCPT_CTX);
    expect(result).toEqual({ ok: true, value: { ...addr, dsn } });
    expect(addr.dsn).toBeUndefined();
  });

  test.each([
    ["NOTIFY=ALWAYS", "Error: NOTIFY parameter must be NEVER, SUCCESS, FAILURE, or DELAY"],
    ["NOTIFY=SUCCESS,", "Error: NOTIFY parameter must be NEVER, SUCCESS, FAILURE, or DELAY"],
    ["NOTIFY=NEVER,SUCCESS", "Error: NOTIFY=NEVER cannot be combined with other values"],
    ["ORCPT=rfc822", "Error: Bad ORCPT parameter syntax"],
    ["ORCPT=rfc822;", "Error: Bad ORCPT parameter syntax"],
    ["ORCPT=;a@b", "Error: Bad ORCPT parameter syntax"],
  ])("rejects %s with 501", (params, text) => {
    expect(rejected(checkRcptParams(rcptArgs(params), FULL_RCPT_CTX))).toEqual(reply(501, text));
  });

  test("accepts a non-ASCII ORCPT only with SMTPUTF8", () => {
    const addr = rcptArgs("ORCPT=utf-8;jöran@b.example");
    expect(checkRcptParams(addr, FULL_RCPT_CTX).ok).toBe(true);
    expect(rejected(checkRcptParams(addr, { dsn: true, smtpUtf8: false }))).toEqual(
      reply(501, "Error: Bad ORCPT parameter syntax"),
    );
  });

  test.each([
    [{ dsn: false, smtpUtf8: true }, "NOTIFY=NEVER", "NOTIFY"],
    [{ dsn: false, smtpUtf8: true }, "ORCPT=rfc822;a@b", "ORCPT"],
    [FULL_RCPT_CTX, "X-FOO=1", "X-FOO"],
    [FULL_RCPT_CTX, "BODY=8BITMIME", "BODY"],
    [FULL_RCPT_CTX, "SIZE", "SIZE"],
  ])("rejects with 555 (ctx %j) the RCPT parameter %s", (ctx, params, key) => {
    expect(rejected(checkRcptParams(rcptArgs(params), ctx))).toEqual(
      reply(555, `Error: Unsupported parameter ${key}`, "5.5.4"),
    );
  });

  test("accepts the parameters listed in extraParams", () => {
    const addr = rcptArgs("X-FOO=1");
    const result = checkRcptParams(addr, { ...FULL_RCPT_CTX, extraParams: ["X-FOO"] });
    expect(result).toEqual({ ok: true, value: addr });
  });
});

/** Characters xtext cares about, mixed with any grapheme (fast-check's "binary" unit is slow to start). */
const XTEXT_UNIT = fc.oneof(
  fc.constantFrom("+", "=", "+2B", "+2b", " ", "\x00", "\x1f", "\x7f", "\x85", "ö", "😀"),
  fc.string({ unit: "grapheme-ascii", minLength: 1, maxLength: 1 }),
  fc.string({ unit: "grapheme", minLength: 1, maxLength: 1 }),
);

describe("xtext", () => {
  test.each([
    ["plain", "plain"],
    ["a+2Bb+3Dc", "a+b=c"],
    ["a+20b", "a b"],
    ["+2b", "+2b"],
    ["+ZZ", "+ZZ"],
    ["end+", "end+"],
    ["+2", "+2"],
  ])("decodes %j to %j", (encoded, decoded) => {
    expect(decodeXtext(encoded)).toBe(decoded);
  });

  test.each([
    ["plain", "plain"],
    ["a+b=c d", "a+2Bb+3Dc+20d"],
    ["\x01\x7f", "+01+7F"],
    ["jöran", "jöran"],
  ])("encodes %j to %j", (decoded, encoded) => {
    expect(encodeXtext(decoded)).toBe(encoded);
  });

  test("round-trips any string through encodeXtext and decodeXtext", () => {
    fc.assert(
      fc.property(fc.string({ unit: XTEXT_UNIT }), (s) => decodeXtext(encodeXtext(s)) === s),
    );
  });

  test("encodes to xchars and hexchars only (RFC 3461 4) for ASCII input", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary-ascii" }), (s) =>
        /^(?:[!-*,-<>-~]|\+[0-9A-F]{2})*$/.test(encodeXtext(s)),
      ),
    );
  });
});

describe("needsSmtpUtf8", () => {
  test.each([
    ["a@b.example", false],
    ["", false],
    ['"john doe"@b.example', false],
    ["jöran@b.example", true],
    ["a@例子.广告", true],
  ])("tells whether %j needs SMTPUTF8 (%s)", (address, expected) => {
    expect(needsSmtpUtf8(address)).toBe(expected);
  });
});

describe("normalizeIPv6", () => {
  test.each([
    ["::1", "::1"],
    ["0:0:0:0:0:0:0:1", "::1"],
    ["2001:DB8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
    ["2001:0db8::0001", "2001:db8::1"],
    ["0:0:0:0:0:ffff:192.0.2.1", "::ffff:192.0.2.1"],
    ["::192.0.2.1", "::192.0.2.1"],
    ["fe80::1%ETH0", "fe80::1%eth0"],
    ["::", "::"],
  ])("writes %s as %s (RFC 5952)", (input, output) => {
    expect(normalizeIPv6(input)).toBe(output);
  });
});
