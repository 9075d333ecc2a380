/**
 * The matchers of smtp-fixture/vitest on real mail: nodemailer sends through a real
 * TestSmtp, and each matcher is checked passing, failing (with its message) and negated.
 */
import { createHash } from "node:crypto";
import nodemailer from "nodemailer";
import { afterAll, beforeAll, describe, expect, expectTypeOf, test } from "vitest";
import type { ReceivedMessage, TestSmtp } from "../../src/index.js";
import { startTestSmtp } from "../../src/index.js";
import { createSmtpTest, smtpMatchers } from "../../src/vitest/index.js";

let smtp: TestSmtp;
let welcome: ReceivedMessage;
let plain: ReceivedMessage;

const TERMS = "Be excellent to each other.\n";
const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

beforeAll(async () => {
  smtp = await startTestSmtp();
  const mailer = nodemailer.createTransport(smtp.transport);
  await mailer.sendMail({
    from: '"App" <noreply@app.test>',
    to: "alice@example.com",
    subject: "Welcome",
    text: "Hi Alice, confirm at https://app.test/confirm?id=42.",
    html: '<p><a href="https://app.test/confirm?id=42">confirm</a> <a href="https://app.test/help">help</a></p>',
    headers: { "X-Campaign": "spring", "X-Tags": ["one", "two"] },
    attachments: [
      { filename: "terms.txt", content: TERMS },
      {
        filename: "data.bin",
        content: Buffer.from([0, 1, 2, 3]),
        contentType: "application/octet-stream",
      },
    ],
  });
  await mailer.sendMail({
    from: "noreply@app.test",
    to: "bob@example.com",
    subject: "Plain",
    text: "Nothing to click.",
  });
  mailer.close();
  welcome = await smtp.inbox.waitFor("alice@example.com");
  plain = await smtp.inbox.waitFor("bob@example.com");
});

afterAll(() => smtp.close());

type AssertionFailure = Error & { expected?: unknown; actual?: unknown };

/** The assertion error `fn` throws. */
function thrownBy(fn: () => unknown): AssertionFailure {
  try {
    fn();
  } catch (error) {
    return error as AssertionFailure;
  }
  throw new Error("expected the assertion to fail");
}

/** The message of the assertion error `fn` throws, without colours. */
function failure(fn: () => unknown): string {
  return thrownBy(fn).message.replace(/\x1b\[[0-9;]*m/g, "");
}

describe("toHaveReceived", () => {
  test("passes on a TestSmtp, its inbox and a scope, for every kind of match", () => {
    expect(smtp).toHaveReceived("alice@example.com");
    expect(smtp.inbox).toHaveReceived(/@example\.com$/, { count: 2 });
    expect(smtp).toHaveReceived({ to: "alice@example.com", subject: "Welcome" }, { count: 1 });
    expect(smtp).toHaveReceived((m) => m.attachments.length === 2);
    expect(smtp).not.toHaveReceived("carol@example.com");
    expect(smtp).toHaveReceived("carol@example.com", { count: 0 });
    const scope = smtp.inbox.scope("none");
    expect(scope).not.toHaveReceived({});
    expect(scope).toHaveReceived({}, { count: 0 });
  });

  test("a failure lists what arrived, why each missed, and suggests waitFor", () => {
    const message = failure(() =>
      expect(smtp).toHaveReceived({ to: "alice@example.com", subject: "Welcome!" }),
    );
    expect(message).toContain(
      'Expected smtp to have received a message matching { to: "alice@example.com", subject: "Welcome!" }; 0 matched.',
    );
    expect(message).toContain("2 message(s) have arrived:");
    expect(message).toMatch(/- [\d.]+ to \[alice@example\.com\] subject "Welcome"\n/);
    expect(message).toContain('subject: wanted "Welcome!" got "Welcome"');
    expect(message).toMatch(/- [\d.]+ to \[bob@example\.com\] subject "Plain"\n/);
    expect(message).toContain("toHaveReceived checks what has already arrived");
    expect(message).toContain("await smtp.inbox.waitFor(match)");
  });

  test("a count mismatch says how many matched, with expected and actual counts", () => {
    const error = thrownBy(() => expect(smtp.inbox).toHaveReceived(/@example\.com$/, { count: 3 }));
    expect(error.message).toContain(
      "Expected inbox to have received exactly 3 message(s) matching /@example\\.com$/; 2 matched.",
    );
    expect(error.message).toContain("await inbox.waitFor(match)");
    expect(error.expected).toBe(3);
    expect(error.actual).toBe(2);
  });

  test("an empty scope says nothing arrived and names the scope", () => {
    const scope = smtp.inbox.scope("mine");
    const message = failure(() => expect(scope).toHaveReceived(scope.address("x")));
    expect(message).toContain('Expected inbox.scope("mine") to have received a message matching');
    expect(message).toContain("No messages have arrived.");
    // The advice waits on the same scope object: inbox.scope("mine") again would be a
    // new scope with other addresses, and its waitFor would time out.
    expect(message).toContain("await scope.waitFor(match), on this same scope object");
    expect(message).not.toMatch(/await inbox\.scope\(/);
  });

  test("a scope and an address it did not hand out: .not is a TypeError, a miss says where the mail is", () => {
    const scope = smtp.inbox.scope("foreign");
    // alice@example.com got mail (beforeAll), but not through this scope's addresses.
    expect(() => expect(scope).not.toHaveReceived("alice@example.com")).toThrow(
      /toHaveReceived\(match\): alice@example\.com is not an address of this scope .*check the whole inbox/,
    );
    const message = failure(() => expect(scope).toHaveReceived({ to: "alice@example.com" }));
    expect(message).toContain("alice@example.com is not an address of this scope");
    expect(message).toContain("smtp.inbox has 1 matching message(s).");
    // A match naming one of its own addresses is the scope's to judge.
    expect(scope).not.toHaveReceived(scope.address("nobody"));
  });

  test("following a scope's advice finds mail that arrives after the failure", async () => {
    const scope = smtp.inbox.scope("late one");
    const to = scope.address("late");
    const message = failure(() => expect(scope).toHaveReceived(to));
    const advised = /await (\w+)\.waitFor\(match\)/.exec(message)?.[1];
    expect(advised).toBe("scope");
    // Named as the test wrote the tag, not as it goes into addresses ("late_one").
    expect(message).toContain('Expected inbox.scope("late one")');
    const mailer = nodemailer.createTransport(smtp.transport);
    await mailer.sendMail({ from: "late@app.test", to, subject: "Late", text: "x" });
    mailer.close();
    // `scope` is the object passed to expect, as the advice says.
    await expect(scope.waitFor(to, { timeout: 5_000 })).resolves.toMatchObject({ subject: "Late" });
    expect(scope).toHaveReceived(to, { count: 1 });
  });

  test(".not fails listing the matching messages", () => {
    const message = failure(() => expect(smtp).not.toHaveReceived({ from: "noreply@app.test" }));
    expect(message).toContain(
      'Expected smtp not to have received a message matching { from: "noreply@app.test" }, but 2 did:',
    );
    expect(message).toMatch(/subject "Welcome"[\s\S]*subject "Plain"/);
    expect(message).not.toContain("waitFor");
  });

  test("throws a TypeError for something that is not an inbox, or a bad match", () => {
    expect(() => expect(smtp.inbox.waitFor("alice@example.com")).toHaveReceived("x@y")).toThrow(
      "toHaveReceived: expected a TestSmtp, an Inbox or an InboxScope, got a Promise (did you forget to await inbox.waitFor(...)?)",
    );
    expect(() => expect(welcome).toHaveReceived("x@y")).toThrow(TypeError);
    expect(() => expect(smtp).toHaveReceived({ recipient: "x@y" } as never)).toThrow(
      /unknown key "recipient" \(did you mean "to"\?\)/,
    );
    expect(() => expect(smtp).toHaveReceived("a@b", { count: -1 })).toThrow(
      "toHaveReceived: count must be an integer >= 0, got -1",
    );
  });

  test("options other than { count } are a TypeError, as for waitFor, not silently ignored", () => {
    const call = (options: unknown) => () =>
      expect(smtp).toHaveReceived("alice@example.com", options as never);
    expect(call(1)).toThrow("toHaveReceived: options must be an object like { count: 1 }, got 1");
    expect(call({ cuont: 1 })).toThrow(
      'toHaveReceived: unknown option "cuont"; valid options: count',
    );
    // .not with a window reads like expectNone, but this matcher checks only the present.
    expect(() =>
      expect(smtp).not.toHaveReceived("nobody@example.com", { within: 500 } as never),
    ).toThrow(
      'toHaveReceived: unknown option "within"; valid options: count; toHaveReceived checks what has already arrived and does not wait: await inbox.expectNone(match, { within }) instead',
    );
    expect(call({ timeout: 500 })).toThrow(
      "does not wait: await inbox.waitFor(match, { timeout }) instead",
    );
    expect(smtp).toHaveReceived("alice@example.com", { count: 1 });
  });

  test("an asymmetric matcher as the match is a TypeError that says what to use", () => {
    for (const asymmetric of [
      expect.stringContaining("alice"),
      expect.objectContaining({ subject: "Welcome" }),
    ]) {
      const error = thrownBy(() => expect(smtp).toHaveReceived(asymmetric));
      expect(error).toBeInstanceOf(TypeError);
      expect(error.message).toMatch(
        /^toHaveReceived\(match\): an asymmetric matcher \(.+\) is no match here; expected a recipient address/,
      );
      expect(error.message).toContain("a RegExp (/alice/)");
      expect(error.message).not.toContain("$$typeof");
    }
    // The same for a wait.
    expect(() => smtp.inbox.find(expect.stringContaining("alice"))).toThrow(
      /^inbox\.find\(match\): an asymmetric matcher/,
    );
  });

  test("a missing match is a TypeError that says so, not 'got undefined undefined'", () => {
    for (const missing of [undefined, null]) {
      const error = thrownBy(() => expect(smtp).toHaveReceived(missing as never));
      expect(error).toBeInstanceOf(TypeError);
      expect(error.message).toContain(`toHaveReceived(match): match is missing (got ${missing})`);
      expect(error.message).not.toContain("undefined undefined");
    }
    expect(() => expect(undefined).toHaveReceived("a@b")).toThrow(
      "toHaveReceived: expected a TestSmtp, an Inbox or an InboxScope, got undefined",
    );
  });
});

describe("toHaveReceived in strict mode", () => {
  // Three rules on: a hint built from every rule would name others than "bare-lf".
  const RULES = ["missing-date", "missing-message-id", "bare-lf"] as const;
  let strict: TestSmtp;
  let waitError: Error;

  beforeAll(async () => {
    strict = await startTestSmtp({ strict: [...RULES] });
    const mailer = nodemailer.createTransport(strict.transport);
    // As written: no Date, no Message-ID (nodemailer would add both to a built message).
    await mailer.sendMail({
      envelope: { from: "app@app.test", to: ["sloppy@example.com"] },
      raw: "From: app@app.test\r\nTo: sloppy@example.com\r\nSubject: Sloppy\r\n\r\nhi\r\n",
    });
    await mailer.sendMail({
      from: "app@app.test",
      to: "tidy@example.com",
      subject: "Tidy",
      text: "hi",
    });
    mailer.close();
    await strict.inbox.waitFor("tidy@example.com");
    waitError = await strict.inbox.waitFor("sloppy@example.com").then(
      () => new Error("waitFor resolved"),
      (error: Error) => error,
    );
  });

  afterAll(() => strict.close());

  test("a matched message that broke a rule fails, with waitFor's StrictModeError text", () => {
    expect(waitError.name).toBe("StrictModeError");
    for (const received of [strict, strict.inbox]) {
      const message = failure(() => expect(received).toHaveReceived("sloppy@example.com"));
      expect(message).toMatch(
        /to have received a message matching "sloppy@example\.com": 1 matched, and strict mode fails this one:\n {2}- [\d.]+ to \[sloppy@example\.com\] subject "Sloppy"\n/,
      );
      expect(message).toContain(waitError.message);
      expect(message).toContain("missing-date: ");
      expect(message).toContain("missing-message-id: ");
      // The hint starts from the rules on, as waitFor's does.
      expect(message).toContain('To accept this, turn the rules off: strict: ["bare-lf"]');
    }
    expect(() => expect(strict).toHaveReceived({ subject: "Sloppy" }, { count: 1 })).toThrow(
      /StrictModeError|strict mode: the client broke 2 rules/,
    );
  });

  test("a scope's matched message fails too", async () => {
    const scope = strict.inbox.scope("strict");
    const to = scope.address("sloppy");
    const mailer = nodemailer.createTransport(strict.transport);
    await mailer.sendMail({
      envelope: { from: "app@app.test", to: [to] },
      raw: `From: app@app.test\r\nTo: ${to}\r\nSubject: Scoped\r\n\r\nhi\r\n`,
    });
    mailer.close();
    await expect(scope.waitFor(to)).rejects.toThrow(/missing-date/);
    expect(failure(() => expect(scope).toHaveReceived(to))).toContain(
      "strict mode: the client broke 2 rules (missing-date, missing-message-id):",
    );
  });

  test("messages that broke no rule pass, whatever the others did", () => {
    expect(strict).toHaveReceived("tidy@example.com", { count: 1 });
    expect(strict).not.toHaveReceived("nobody@example.com");
    expect(strict).toHaveReceived("nobody@example.com", { count: 0 });
  });

  test(".not fails on a matched message that broke a rule, even when the count differs", () => {
    const message = failure(() =>
      expect(strict).not.toHaveReceived("sloppy@example.com", { count: 2 }),
    );
    expect(message).toContain(
      'Expected smtp not to have received exactly 2 message(s) matching "sloppy@example.com": 1 matched, and strict mode fails this one:',
    );
    expect(message).toContain(waitError.message);
    // Received at all: the usual .not failure.
    expect(failure(() => expect(strict).not.toHaveReceived("sloppy@example.com"))).toContain(
      "but 1 did:",
    );
  });

  test("a count mismatch shows the count, then the broken rules", () => {
    const message = failure(() =>
      expect(strict).toHaveReceived("sloppy@example.com", { count: 2 }),
    );
    expect(message).toContain("; 1 matched.");
    expect(message).toContain(`The matching ones fail strict mode too:\n${waitError.message}`);
  });
});

describe("toHaveAttachment", () => {
  test("passes by filename, pattern or fields", () => {
    expect(welcome).toHaveAttachment("terms.txt");
    expect(welcome).toHaveAttachment(/\.bin$/);
    expect(welcome).toHaveAttachment({ filename: "terms.txt", contentType: "text/plain" });
    expect(welcome).toHaveAttachment({ content: TERMS, size: TERMS.length });
    expect(welcome).toHaveAttachment({ sha256: sha256(TERMS) });
    expect(welcome).toHaveAttachment({ content: new Uint8Array([0, 1, 2, 3]) });
    expect(welcome).not.toHaveAttachment("invoice.pdf");
    expect(plain).not.toHaveAttachment(/./);
  });

  test("a failure lists the attachments", () => {
    const message = failure(() => expect(welcome).toHaveAttachment("invoice.pdf"));
    expect(message).toContain(
      `Expected message ${welcome.id} to have an attachment matching "invoice.pdf", but its attachments are:`,
    );
    expect(message).toMatch(/- "terms\.txt" \(text\/plain, 28 bytes, sha256 [0-9a-f]{12}\.\.\.\)/);
    expect(message).toMatch(/- "data\.bin" \(application\/octet-stream, 4 bytes, /);
    expect(failure(() => expect(plain).toHaveAttachment(/./))).toContain(
      "but it has no attachments.",
    );
  });

  test("a failed field match diffs against the nearest attachment", () => {
    const error = thrownBy(() =>
      expect(welcome).toHaveAttachment({ filename: "terms.txt", content: "Be nice.\n" }),
    );
    expect(error.message).toContain(
      'to have an attachment matching { filename: "terms.txt", content: "Be nice.\\n" }',
    );
    expect(error.expected).toEqual({ filename: "terms.txt", content: "Be nice.\n" });
    expect(error.actual).toEqual({ filename: "terms.txt", content: TERMS });
  });

  test("in the diff, a field the nearest attachment meets (a RegExp too) is no difference", () => {
    const error = thrownBy(() => expect(welcome).toHaveAttachment({ filename: /terms/, size: 6 }));
    expect(error.expected).toEqual({ filename: "terms.txt", size: 6 });
    expect(error.actual).toEqual({ filename: "terms.txt", size: TERMS.length });
  });

  test(".not fails naming the matching attachment; bad matches throw", () => {
    const message = failure(() => expect(welcome).not.toHaveAttachment("terms.txt"));
    expect(message).toContain('not to have an attachment matching "terms.txt", but it has:');
    expect(message).toContain('- "terms.txt" (text/plain');
    expect(message).not.toContain("data.bin");
    expect(() => expect(welcome).toHaveAttachment({ name: "x" } as never)).toThrow(
      'toHaveAttachment(match): unknown key "name"; use filename, contentType, size, sha256, content',
    );
    expect(() => expect(smtp).toHaveAttachment("x")).toThrow(
      /toHaveAttachment: expected a ReceivedMessage \(from inbox\.waitFor or inbox\.messages\), got a TestSmtp$/,
    );
  });

  test("a wrongly typed field is a TypeError naming the field", () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ sha256: 123 }, '"sha256" must be the hex SHA-256 of the content (64 hex digits)'],
      [{ sha256: "abc" }, '"sha256" must be the hex SHA-256'],
      [{ size: "28" }, '"size" must be a size in bytes (an integer >= 0)'],
      [{ size: -1 }, '"size" must be a size in bytes'],
      [{ filename: 7 }, '"filename" must be a string, a RegExp or an asymmetric matcher'],
      [{ contentType: ["text/plain"] }, '"contentType" must be a string, a RegExp'],
      [{ content: 5 }, '"content" must be a string, a Uint8Array (Buffer)'],
    ];
    for (const [match, text] of cases) {
      const error = thrownBy(() => expect(welcome).toHaveAttachment(match as never));
      expect(error, JSON.stringify(match)).toBeInstanceOf(TypeError);
      expect(error.message).toContain(`toHaveAttachment(match): ${text}`);
    }
    expect(welcome).toHaveAttachment({ sha256: sha256(TERMS).toUpperCase() });
  });

  test("takes asymmetric matchers for the filename and for any field", () => {
    expect(welcome).toHaveAttachment(expect.stringContaining("terms"));
    expect(welcome).toHaveAttachment({ filename: expect.stringContaining("terms") });
    expect(welcome).toHaveAttachment({ contentType: expect.stringMatching(/^text\//) });
    expect(welcome).toHaveAttachment({ filename: "data.bin", size: expect.any(Number) });
    expect(welcome).toHaveAttachment({ sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(welcome).toHaveAttachment({ content: expect.stringContaining("excellent") });
    expect(welcome).not.toHaveAttachment(expect.stringContaining("invoice"));
    expect(welcome).not.toHaveAttachment({ filename: expect.stringContaining("terms"), size: 4 });
    const message = failure(() =>
      expect(welcome).toHaveAttachment({ filename: expect.stringContaining("invoice") }),
    );
    expect(message).toContain(
      'to have an attachment matching { filename: StringContaining "invoice" }, but its attachments are:',
    );
    const error = thrownBy(() =>
      expect(welcome).toHaveAttachment({
        filename: expect.stringContaining("terms"),
        content: expect.stringContaining("rude"),
      }),
    );
    expect(error.actual).toEqual({ filename: "terms.txt", content: TERMS });
  });
});

describe("toHaveHeader", () => {
  test("passes for presence, an exact value, a pattern or an asymmetric matcher", () => {
    expect(welcome).toHaveHeader("X-Campaign");
    expect(welcome).toHaveHeader("x-campaign", "spring");
    expect(welcome).toHaveHeader("X-Tags", "two");
    expect(welcome).toHaveHeader("Subject", /^Wel/);
    expect(welcome).toHaveHeader("From", expect.stringContaining("noreply@app.test"));
    expect(welcome).not.toHaveHeader("X-Campaign", "summer");
    expect(welcome).not.toHaveHeader("Bcc");
  });

  test("a wrong value fails with the values and a diff", () => {
    const error = thrownBy(() => expect(welcome).toHaveHeader("X-Campaign", "summer"));
    const message = failure(() => expect(welcome).toHaveHeader("X-Campaign", "summer"));
    expect(message).toContain(
      `Expected message ${welcome.id} to have a "X-Campaign" header equal to "summer", but its values are:\n  "spring"`,
    );
    expect(error.expected).toBe("summer");
    expect(error.actual).toBe("spring");
  });

  test("a missing header fails listing the headers there are", () => {
    const message = failure(() => expect(plain).toHaveHeader("X-Campaign", /spr/));
    expect(message).toContain(
      `Expected message ${plain.id} to have a "X-Campaign" header matching /spr/, but it has none.`,
    );
    expect(message).toMatch(/Its headers: .*\bsubject\b/);
  });

  test(".not fails with the matching values; a bad name throws", () => {
    const message = failure(() => expect(welcome).not.toHaveHeader("X-Tags"));
    expect(message).toContain('not to have a "X-Tags" header, but it has:\n  "one"\n  "two"');
    expect(() => expect(welcome).toHaveHeader("")).toThrow(TypeError);
  });
});

describe("toContainLink", () => {
  test("passes for an exact link or a pattern", () => {
    expect(welcome).toContainLink("https://app.test/confirm?id=42");
    expect(welcome).toContainLink("https://app.test/help");
    expect(welcome).toContainLink(/\/confirm\?id=\d+$/);
    expect(welcome).not.toContainLink("https://app.test/confirm");
    expect(plain).not.toContainLink(/./);
  });

  test("a failure lists the links", () => {
    const message = failure(() => expect(welcome).toContainLink("https://app.test/confirm"));
    expect(message).toContain(
      `Expected message ${welcome.id} to contain a link equal to "https://app.test/confirm", but its links are:\n  "https://app.test/confirm?id=42"\n  "https://app.test/help"`,
    );
    expect(failure(() => expect(plain).toContainLink(/confirm/))).toContain(
      "but it has no links (in text or HTML hrefs).",
    );
    expect(failure(() => expect(welcome).not.toContainLink(/help/))).toContain(
      'not to contain a link matching /help/, but it has:\n  "https://app.test/help"',
    );
  });

  test("a link that is neither a string nor a RegExp is a TypeError", () => {
    expect(() => expect(welcome).toContainLink(42 as never)).toThrow(
      new TypeError(
        "toContainLink(link): expected a whole link as a string, a RegExp or an asymmetric matcher, got 42",
      ),
    );
    expect(welcome).toContainLink(expect.stringContaining("/help"));
  });
});

test("smtpMatchers has the four matchers, and registering them again by hand changes nothing", () => {
  expect(Object.keys(smtpMatchers).sort()).toEqual([
    "toContainLink",
    "toHaveAttachment",
    "toHaveHeader",
    "toHaveReceived",
  ]);
  expect.extend(smtpMatchers);
  expect(welcome).toContainLink(/confirm/);
});

test("the matchers are typed on vitest's Assertion", () => {
  expectTypeOf(expect(welcome).toHaveHeader).toBeCallableWith("X-Campaign", /spring/);
  expectTypeOf(expect(smtp).toHaveReceived).toBeCallableWith({ subject: "Hi" }, { count: 2 });
  expectTypeOf(expect(welcome).toHaveAttachment).toBeCallableWith({ size: 3 });
  expectTypeOf(expect(welcome).toContainLink).toBeCallableWith(/x/);
  // Type errors, checked by tsc (npm run typecheck); never run.
  const typeErrors = () => {
    // @ts-expect-error a header name is a string
    expect(welcome).toHaveHeader(42);
    // @ts-expect-error not a MessageMatch
    expect(smtp).toHaveReceived(42);
    // @ts-expect-error a link is a string or a RegExp
    expect(welcome).toContainLink({ href: "x" });
  };
  void typeErrors;
});

describe("createSmtpTest", () => {
  test("a scope among the server options is refused: it would give a file-scoped server", () => {
    expect(() => createSmtpTest({ scope: "test" } as never)).toThrow(
      new TypeError(
        'createSmtpTest: scope is a setting, not a server option; give it second: createSmtpTest({}, { scope: "test" })',
      ),
    );
    expect(() => createSmtpTest({}, { scope: "suite" as never })).toThrow(
      new TypeError('createSmtpTest: scope must be "test", "file" or "worker", got "suite"'),
    );
  });

  test("settings that are not an object are a TypeError, not a file-wide server", () => {
    expect(() => createSmtpTest({}, "test" as never)).toThrow(
      new TypeError(
        'createSmtpTest: settings must be an object like { scope: "test" }, got "test"',
      ),
    );
    for (const settings of [null, 1, ["test"]]) {
      expect(() => createSmtpTest({}, settings as never)).toThrow(
        /^createSmtpTest: settings must be an object like \{ scope: "test" \}, got /,
      );
    }
  });

  test("an unknown setting is a TypeError: a misspelt scope names scope", () => {
    expect(() => createSmtpTest({}, { scpoe: "test" } as never)).toThrow(
      new TypeError('createSmtpTest: unknown setting "scpoe"; did you mean "scope"?'),
    );
    expect(() => createSmtpTest({}, { Scope: "test" } as never)).toThrow(
      new TypeError('createSmtpTest: unknown setting "Scope"; did you mean "scope"?'),
    );
    // A server option given second: it goes first.
    expect(() => createSmtpTest({}, { tls: true } as never)).toThrow(
      new TypeError(
        'createSmtpTest: unknown setting "tls"; the one setting is scope ("test", "file" or "worker"), and server options go first: createSmtpTest({ tls: ... }, { scope })',
      ),
    );
    expect(() => createSmtpTest({}, { scope: "test" })).not.toThrow();
  });
});
