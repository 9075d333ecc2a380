/** The four matchers of `smtp-fixture/vitest`, with failure messages that show what did arrive. */
import { describeValue } from "../fixture/describe-value.js";
import { isPlainObject } from "../fixture/faults/fault.js";
import { foreignOf, strictRulesOf } from "../fixture/inbox-view.js";
import { compileMatch, describeMatch } from "../fixture/match.js";
import { StrictModeError } from "../fixture/strict.js";
import { foreignReport, notInScope } from "../fixture/wait-errors.js";
import type {
  Inbox,
  InboxScope,
  MessageMatch,
  ReceivedAttachment,
  ReceivedMessage,
  TestSmtp,
  TextMatcher,
} from "../index.js";

/**
 * What `toHaveAttachment` accepts: a filename (a string, a RegExp or an asymmetric
 * matcher such as `expect.stringContaining`), or fields to match. Every field also
 * takes an asymmetric matcher; a wrongly typed field is a TypeError.
 */
export type AttachmentMatch =
  | string
  | RegExp
  | {
      /** Exact filename, a pattern, or an asymmetric matcher. */
      filename?: TextMatcher;
      /** Exact (lower-case) MIME type, a pattern, or an asymmetric matcher. */
      contentType?: TextMatcher;
      /** Decoded size in bytes (an integer >= 0). */
      size?: number;
      /** Hex SHA-256 of the decoded content (64 hex digits, either case). */
      sha256?: string;
      /**
       * The decoded content: a string is compared as UTF-8, a Uint8Array byte for byte;
       * an asymmetric matcher gets the content as UTF-8 text.
       */
      content?: string | Uint8Array;
    };

export interface ToHaveReceivedOptions {
  /** Exactly this many matching messages (default: at least one). */
  count?: number;
}

/** The matchers this module adds; `R` is what the assertion returns. */
export interface SmtpMatchers<R = void> {
  /**
   * On a `TestSmtp`, an `Inbox` or an `InboxScope`: a message matching `match` is
   * already there (with `count`: exactly that many). Synchronous: it checks what has
   * arrived; `await inbox.waitFor(match)` first for mail still on its way. In strict
   * mode a matched message that broke a rule fails it (negated too), with the
   * violations, as it fails the `waitFor` that finds it.
   */
  toHaveReceived(match: MessageMatch, options?: ToHaveReceivedOptions): R;
  /**
   * On a `ReceivedMessage`: some attachment matches (a filename string, RegExp or
   * asymmetric matcher, or fields).
   */
  toHaveAttachment(match: AttachmentMatch): R;
  /**
   * On a `ReceivedMessage`: the header is present (name case-insensitive); with a
   * value, some occurrence equals the string (decoded, unfolded) or matches the RegExp
   * (or asymmetric matcher such as `expect.stringContaining`).
   */
  toHaveHeader(name: string, value?: TextMatcher): R;
  /** On a `ReceivedMessage`: `links` contains this exact URL, or one matching the RegExp. */
  toContainLink(link: string | RegExp): R;
}

// Methods, not `extends SmtpMatchers<T>`: a program that sees two copies of this file
// (the sources and the built .d.ts) merges them as overloads instead of failing.
// `Matchers` is where vitest >= 3.2 looks, `Assertion` covers vitest 3.0 and 3.1. They
// return `void`, which is right for vitest 3, 4 and 5 alike.
// No type parameters: vitest 3 and 4 declare these interfaces as `<T = any>`, vitest 5
// as `<R, T>` (with defaults), and TypeScript requires the declarations of an interface
// to name the same parameters (TS2428 under `skipLibCheck: false`), except that one may
// leave out parameters that have defaults: none is what all three accept.
declare module "vitest" {
  interface Matchers {
    /** See {@link SmtpMatchers.toHaveReceived}. */
    toHaveReceived(match: MessageMatch, options?: ToHaveReceivedOptions): void;
    /** See {@link SmtpMatchers.toHaveAttachment}. */
    toHaveAttachment(match: AttachmentMatch): void;
    /** See {@link SmtpMatchers.toHaveHeader}. */
    toHaveHeader(name: string, value?: TextMatcher): void;
    /** See {@link SmtpMatchers.toContainLink}. */
    toContainLink(link: string | RegExp): void;
  }
  interface Assertion {
    toHaveReceived(match: MessageMatch, options?: ToHaveReceivedOptions): void;
    toHaveAttachment(match: AttachmentMatch): void;
    toHaveHeader(name: string, value?: TextMatcher): void;
    toContainLink(link: string | RegExp): void;
  }
}

/** What a matcher gets as `this` (the part of vitest's MatcherState used here). */
export interface MatcherContext {
  isNot: boolean;
  equals(a: unknown, b: unknown): boolean;
  utils: {
    printReceived(value: unknown): string;
    printExpected(value: unknown): string;
    matcherHint(name: string, received?: string, expected?: string, options?: object): string;
  };
}

/** What a matcher returns (vitest's SyncExpectationResult). */
export interface MatcherResult {
  pass: boolean;
  message: () => string;
  actual?: unknown;
  expected?: unknown;
}

type MatcherFn<A extends unknown[]> = (
  this: MatcherContext,
  received: unknown,
  ...args: A
) => MatcherResult;

const LISTED = 20;

const toHaveReceived: MatcherFn<[MessageMatch, ToHaveReceivedOptions?]> = function (
  received,
  match,
  options,
) {
  const { view, label, advice } = inboxOf(received, "toHaveReceived");
  const count = checkReceivedOptions(options);
  if (count !== undefined && (!Number.isInteger(count) || count < 0)) {
    throw new TypeError(
      `toHaveReceived: count must be an integer >= 0, got ${String(count as unknown)}`,
    );
  }
  if (match === undefined || match === null) {
    throw new TypeError(
      `toHaveReceived(match): match is missing (got ${String(match)}); pass a recipient address ("bob@example.com"), a RegExp, an object like { to, subject } or a predicate (message) => boolean`,
    );
  }
  const compiled = compileMatch(match, "toHaveReceived(match)");
  // A scope never sees mail to an address it did not hand out: `.not` would pass
  // whatever arrived (as expectNone, a TypeError), and a miss says where to look.
  const foreign = foreignOf(view, match);
  if (foreign && this.isNot) {
    throw new TypeError(
      `toHaveReceived(match): ${notInScope(foreign)}, and .not.toHaveReceived would pass though such mail arrived; check the whole inbox: expect(smtp.inbox).not.toHaveReceived(...)`,
    );
  }
  const all = view.messages;
  const found = all.filter((m) => compiled.test(m));
  const counted = count === undefined ? found.length > 0 : found.length === count;
  const strict = strictFailure(view, found);
  // A matched message that broke strict mode fails either form, as it fails the
  // waitFor that finds it: under `.not`, vitest fails a matcher that passes.
  const not = this.isNot === true;
  const pass = not ? counted || strict !== undefined : counted && strict === undefined;
  const hint = this.utils.matcherHint(".toHaveReceived", label, "match", { isNot: this.isNot });
  const wanted = `${count === undefined ? "a message" : `exactly ${count} message(s)`} matching ${describeMatch(match)}`;
  const message = () => {
    const lines = [hint, ""];
    if (strict !== undefined && counted !== not) {
      lines.push(
        `Expected ${label} ${not ? "not " : ""}to have received ${wanted}: ${found.length} matched, ` +
          `and strict mode fails ${strict.broken.length === 1 ? "this one" : "these"}:`,
        ...strict.broken.slice(0, LISTED).map((m) => `  - ${summary(m)}`),
      );
      if (strict.broken.length > LISTED)
        lines.push(`  ... and ${strict.broken.length - LISTED} more`);
      lines.push("", strict.error.message);
      return lines.join("\n");
    }
    if (this.isNot) {
      lines.push(`Expected ${label} not to have received ${wanted}, but ${found.length} did:`);
      lines.push(...found.slice(0, LISTED).map((m) => `  - ${summary(m)}`));
      if (found.length > LISTED) lines.push(`  ... and ${found.length - LISTED} more`);
      return lines.join("\n");
    }
    lines.push(`Expected ${label} to have received ${wanted}; ${found.length} matched.`);
    if (all.length === 0) lines.push("No messages have arrived.");
    else {
      lines.push(`${all.length} message(s) have arrived:`);
      for (const m of all.slice(-LISTED)) {
        const misses = compiled.mismatches(m);
        lines.push(`  - ${summary(m)}${misses.length === 0 ? " (matches)" : ""}`);
        for (const miss of misses) lines.push(`      ${miss.reason}`);
      }
      if (all.length > LISTED) lines.push(`  (the ${all.length - LISTED} older ones not shown)`);
    }
    if (foreign) lines.push("", ...foreignReport(foreign, compiled));
    if (count === undefined || found.length < count) {
      lines.push(
        "",
        "toHaveReceived checks what has already arrived. If the mail may still be on its way, " +
          `wait for it first: ${advice}`,
      );
    }
    if (strict !== undefined)
      lines.push("", `The matching ones fail strict mode too:`, strict.error.message);
    return lines.join("\n");
  };
  return count === undefined
    ? { pass, message }
    : { pass, message, actual: found.length, expected: count };
};

/**
 * The matched messages that broke strict-mode rules, and the StrictModeError that
 * `waitFor` would have rejected with for them (the same text, the same hint), or
 * undefined when none did.
 */
function strictFailure(
  view: InboxLike,
  found: readonly ReceivedMessage[],
): { broken: ReceivedMessage[]; error: StrictModeError } | undefined {
  const broken = found.filter((m) => m.violations.length > 0);
  if (broken.length === 0) return undefined;
  const violations = broken.flatMap((m) => m.violations);
  return { broken, error: new StrictModeError(violations, strictRulesOf(view)) };
}

/**
 * `toHaveReceived`'s options: `{ count }` or nothing. A number, another key or a wait
 * option (`within`, `timeout`: this matcher does not wait) is a TypeError, as it is
 * for `waitFor`, not an option silently ignored.
 */
function checkReceivedOptions(options: unknown): number | undefined {
  if (options === undefined) return undefined;
  if (!isPlainObject(options)) {
    const n = typeof options === "number" ? options : 2;
    throw new TypeError(
      `toHaveReceived: options must be an object like { count: ${n} }, got ${describeValue(options)}`,
    );
  }
  for (const key of Object.keys(options)) {
    if (key === "count") continue;
    const wait =
      key === "within" || key === "timeout"
        ? `; toHaveReceived checks what has already arrived and does not wait: await inbox.${key === "within" ? "expectNone(match, { within })" : "waitFor(match, { timeout })"} instead`
        : "";
    throw new TypeError(`toHaveReceived: unknown option "${key}"; valid options: count${wait}`);
  }
  return options.count as number | undefined;
}

const toHaveAttachment: MatcherFn<[AttachmentMatch]> = function (received, match) {
  const mail = messageOf(received, "toHaveAttachment");
  const check = checkAttachmentMatch(match);
  const eq = (a: unknown, b: unknown) => this.equals(a, b);
  const test = (a: ReceivedAttachment) => attachmentMisses(a, check, eq) === 0;
  const pass = mail.attachments.some(test);
  const hint = this.utils.matcherHint(".toHaveAttachment", "message", "match", {
    isNot: this.isNot,
  });
  const shown = describeAttachmentMatch(check, (v) => this.utils.printExpected(v));
  const list = mail.attachments.map((a) => `  - ${describeAttachment(a)}`);
  const message = () =>
    [
      hint,
      "",
      this.isNot
        ? `Expected message ${mail.id} not to have an attachment matching ${shown}, but it has:`
        : `Expected message ${mail.id} to have an attachment matching ${shown}, but ${
            list.length === 0 ? "it has no attachments." : "its attachments are:"
          }`,
      ...(this.isNot
        ? mail.attachments.filter(test).map((a) => `  - ${describeAttachment(a)}`)
        : list),
    ].join("\n");
  if (pass || !("fields" in check)) return { pass, message };
  const nearest = nearestAttachment(mail.attachments, check, eq);
  if (!nearest) return { pass, message };
  // A field the nearest attachment meets shows its own value on both sides of the
  // diff (a RegExp that matched is no difference); the others show what was asked.
  const actual = pick(nearest, check.fields);
  const expected: Record<string, unknown> = {};
  for (const key of Object.keys(actual)) {
    const want = (check.fields as Record<string, unknown>)[key];
    const one = { [key]: want } as AttachmentFields;
    expected[key] = attachmentMisses(nearest, { fields: one }, eq) === 0 ? actual[key] : want;
  }
  return { pass, message, expected, actual };
};

const toHaveHeader: MatcherFn<[string, TextMatcher?]> = function (received, name, value) {
  const mail = messageOf(received, "toHaveHeader");
  if (typeof name !== "string" || name === "") {
    throw new TypeError(`toHaveHeader(name, value?): name must be a header name like "X-Campaign"`);
  }
  const values = mail.headerAll(name);
  const ok = (v: string) => (value instanceof RegExp ? testRe(value, v) : this.equals(v, value));
  const hits = value === undefined ? values : values.filter(ok);
  const pass = hits.length > 0;
  const printed =
    value === undefined
      ? ""
      : ` ${value instanceof RegExp ? "matching" : "equal to"} ${this.utils.printExpected(value)}`;
  const hint = this.utils.matcherHint(
    ".toHaveHeader",
    "message",
    value === undefined ? "name" : "name, value",
    { isNot: this.isNot },
  );
  const message = () => {
    const lines = [hint, ""];
    if (this.isNot) {
      lines.push(
        `Expected message ${mail.id} not to have a ${JSON.stringify(name)} header${printed}, but it has:`,
      );
      lines.push(...hits.map((v) => `  ${this.utils.printReceived(v)}`));
    } else if (values.length === 0) {
      lines.push(
        `Expected message ${mail.id} to have a ${JSON.stringify(name)} header${printed}, but it has none.`,
      );
      lines.push(
        `Its headers: ${[...new Set(mail.headers.map((h) => h.key))].join(", ") || "(none)"}`,
      );
    } else {
      lines.push(
        `Expected message ${mail.id} to have a ${JSON.stringify(name)} header${printed}, but its values are:`,
      );
      lines.push(...values.map((v) => `  ${this.utils.printReceived(v)}`));
    }
    return lines.join("\n");
  };
  if (!pass && typeof value === "string" && values.length === 1) {
    return { pass, message, expected: value, actual: values[0] };
  }
  return { pass, message };
};

const toContainLink: MatcherFn<[string | RegExp]> = function (received, link) {
  const mail = messageOf(received, "toContainLink");
  if (typeof link !== "string" && !(link instanceof RegExp) && !isAsymmetric(link)) {
    throw new TypeError(
      `toContainLink(link): expected a whole link as a string, a RegExp or an asymmetric matcher, got ${describeValue(link)}`,
    );
  }
  const links = mail.links;
  const ok = (l: string) => (link instanceof RegExp ? testRe(link, l) : this.equals(l, link));
  const hits = links.filter(ok);
  const pass = hits.length > 0;
  const hint = this.utils.matcherHint(".toContainLink", "message", "link", { isNot: this.isNot });
  const message = () =>
    [
      hint,
      "",
      this.isNot
        ? `Expected message ${mail.id} not to contain a link ${link instanceof RegExp ? "matching" : "equal to"} ${this.utils.printExpected(link)}, but it has:`
        : `Expected message ${mail.id} to contain a link ${link instanceof RegExp ? "matching" : "equal to"} ${this.utils.printExpected(link)}, but ${
            links.length === 0 ? "it has no links (in text or HTML hrefs)." : "its links are:"
          }`,
      ...(this.isNot ? hits : links).map((l) => `  ${this.utils.printReceived(l)}`),
    ].join("\n");
  return { pass, message };
};

/** One of the matchers, as `expect.extend` takes it (any vitest 3, 4, 5). */
export type SmtpMatcherFn = (
  this: MatcherContext,
  received: unknown,
  // biome-ignore lint/suspicious/noExplicitAny: each matcher checks its own arguments
  ...args: any[]
) => MatcherResult;

/** The matchers, for `expect.extend(smtpMatchers)` (importing this module already did that). */
export const smtpMatchers: Readonly<Record<keyof SmtpMatchers, SmtpMatcherFn>> = {
  toHaveReceived,
  toHaveAttachment,
  toHaveHeader,
  toContainLink,
};

type InboxLike = Inbox | InboxScope;

function isInboxLike(x: unknown): x is InboxLike {
  if (!x || (typeof x !== "object" && typeof x !== "function")) return false;
  const v = x as Partial<Record<keyof InboxLike, unknown>>;
  return (
    typeof v.filter === "function" && typeof v.waitFor === "function" && Array.isArray(v.messages)
  );
}

interface InboxOf {
  view: InboxLike;
  /** How the failure message names it. */
  label: string;
  /** How to wait for the mail on this same view. */
  advice: string;
}

function inboxOf(received: unknown, matcher: string): InboxOf {
  const smtp = received as Partial<TestSmtp> | null | undefined;
  if (smtp && typeof smtp === "object" && isInboxLike(smtp.inbox)) {
    return { view: smtp.inbox, label: "smtp", advice: "await smtp.inbox.waitFor(match)" };
  }
  if (isInboxLike(received)) {
    const tag = (received as Partial<InboxScope>).tag;
    if (typeof tag !== "string") {
      return { view: received, label: "inbox", advice: "await inbox.waitFor(match)" };
    }
    // A scope names itself the way its own waitFor errors do.
    const own = (received as unknown as { label?: unknown }).label;
    return {
      view: received,
      label: typeof own === "string" ? own : `inbox.scope(${JSON.stringify(tag)})`,
      advice:
        "await scope.waitFor(match), on this same scope object (the one passed to expect). " +
        "Calling inbox.scope(...) again would make a new scope, with other addresses, that never sees this mail",
    };
  }
  throw new TypeError(
    `${matcher}: expected a TestSmtp, an Inbox or an InboxScope, got ${describeReceived(received)}`,
  );
}

function messageOf(received: unknown, matcher: string): ReceivedMessage {
  const m = received as Partial<ReceivedMessage> | null | undefined;
  if (
    m &&
    typeof m === "object" &&
    typeof m.headerAll === "function" &&
    Array.isArray(m.attachments) &&
    m.envelope !== undefined
  ) {
    return m as ReceivedMessage;
  }
  throw new TypeError(
    `${matcher}: expected a ReceivedMessage (from inbox.waitFor or inbox.messages), got ${describeReceived(received)}`,
  );
}

/** `x` as `describeValue` shows it; a promise with the await that matchers usually lack. */
function describeReceived(x: unknown): string {
  if (typeof (x as { then?: unknown } | null | undefined)?.then === "function") {
    return "a Promise (did you forget to await inbox.waitFor(...)?)";
  }
  return describeValue(x);
}

function summary(m: ReceivedMessage): string {
  const rcpts = m.envelope.rcptTo.map((r) => r.address).join(", ");
  const subject = m.subject === undefined ? "no subject" : JSON.stringify(m.subject);
  return `${m.id} to [${rcpts}] subject ${subject}`;
}

function testRe(re: RegExp, value: string): boolean {
  re.lastIndex = 0;
  return re.test(value);
}

/** A vitest asymmetric matcher (`expect.stringContaining(...)`, `expect.any(...)`, ...). */
function isAsymmetric(x: unknown): boolean {
  return (
    typeof x === "object" &&
    x !== null &&
    typeof (x as { asymmetricMatch?: unknown }).asymmetricMatch === "function"
  );
}

type Equals = (a: unknown, b: unknown) => boolean;

/** A string (equal), a RegExp (tested) or an asymmetric matcher (through `equals`). */
function textMatches(want: unknown, value: string | undefined, equals: Equals): boolean {
  if (value === undefined) return false;
  if (want instanceof RegExp) return testRe(want, value);
  return typeof want === "string" ? want === value : equals(value, want);
}

const ATTACHMENT_KEYS = ["filename", "contentType", "size", "sha256", "content"] as const;

type AttachmentFields = Exclude<AttachmentMatch, string | RegExp>;

/** A checked match: a filename matcher, or fields. */
type CheckedMatch = { filename: unknown } | { fields: AttachmentFields };

const WHAT: Record<(typeof ATTACHMENT_KEYS)[number], string> = {
  filename: "a string, a RegExp or an asymmetric matcher (expect.stringContaining(...))",
  contentType: "a string, a RegExp or an asymmetric matcher (expect.stringMatching(...))",
  size: "a size in bytes (an integer >= 0) or an asymmetric matcher",
  sha256: "the hex SHA-256 of the content (64 hex digits) or an asymmetric matcher",
  content:
    "a string, a Uint8Array (Buffer) or an asymmetric matcher (given the content as UTF-8 text)",
};

/** Throws a TypeError for a match no attachment could be checked against. */
function checkAttachmentMatch(match: AttachmentMatch): CheckedMatch {
  if (typeof match === "string" || match instanceof RegExp || isAsymmetric(match)) {
    return { filename: match };
  }
  if (!match || typeof match !== "object" || Array.isArray(match)) {
    throw new TypeError(
      `toHaveAttachment(match): expected a filename, a RegExp or an object like { filename, contentType, size, sha256, content }, got ${describeValue(match)}`,
    );
  }
  for (const key of Object.keys(match)) {
    if (!(ATTACHMENT_KEYS as readonly string[]).includes(key)) {
      throw new TypeError(
        `toHaveAttachment(match): unknown key "${key}"; use ${ATTACHMENT_KEYS.join(", ")}`,
      );
    }
  }
  for (const key of ATTACHMENT_KEYS) {
    const value: unknown = match[key];
    if (value === undefined || isAsymmetric(value) || validField(key, value)) continue;
    throw new TypeError(
      `toHaveAttachment(match): "${key}" must be ${WHAT[key]}, got ${describeValue(value)}`,
    );
  }
  return { fields: match };
}

function validField(key: (typeof ATTACHMENT_KEYS)[number], value: unknown): boolean {
  switch (key) {
    case "filename":
    case "contentType":
      return typeof value === "string" || value instanceof RegExp;
    case "size":
      return typeof value === "number" && Number.isInteger(value) && value >= 0;
    case "sha256":
      return typeof value === "string" && /^[0-9a-f]{64}$/i.test(value);
    case "content":
      return typeof value === "string" || value instanceof Uint8Array;
  }
}

/** How many of the match's fields the attachment misses (0: it matches). */
function attachmentMisses(a: ReceivedAttachment, check: CheckedMatch, equals: Equals): number {
  if (!("fields" in check)) return textMatches(check.filename, a.filename, equals) ? 0 : 1;
  const match = check.fields;
  let misses = 0;
  const field = (want: unknown, got: unknown, same: () => boolean) => {
    if (want === undefined) return;
    if (isAsymmetric(want) ? !equals(got, want) : !same()) misses++;
  };
  field(match.filename, a.filename, () => textMatches(match.filename, a.filename, equals));
  field(match.contentType, a.contentType, () =>
    textMatches(match.contentType, a.contentType, equals),
  );
  field(match.size, a.size, () => match.size === a.size);
  field(match.sha256, a.sha256, () => match.sha256?.toLowerCase() === a.sha256);
  field(match.content, utf8(a.content), () => sameBytes(match.content!, a.content));
  return misses;
}

function utf8(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes);
}

function sameBytes(want: string | Uint8Array, got: Uint8Array): boolean {
  const bytes = typeof want === "string" ? new TextEncoder().encode(want) : want;
  return bytes.byteLength === got.byteLength && bytes.every((b, i) => b === got[i]);
}

function nearestAttachment(
  list: readonly ReceivedAttachment[],
  check: CheckedMatch,
  equals: Equals,
): ReceivedAttachment | undefined {
  let best: ReceivedAttachment | undefined;
  let fewest = Number.POSITIVE_INFINITY;
  for (const a of list) {
    const misses = attachmentMisses(a, check, equals);
    if (misses < fewest) {
      best = a;
      fewest = misses;
    }
  }
  return best;
}

/** The attachment's fields that the match names, for a readable diff. */
function pick(a: ReceivedAttachment, match: AttachmentFields): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of ATTACHMENT_KEYS) {
    const want: unknown = match[key];
    if (want === undefined) continue;
    out[key] =
      key === "content" && (typeof want === "string" || isAsymmetric(want))
        ? utf8(a.content)
        : a[key];
  }
  return out;
}

function describeAttachmentMatch(check: CheckedMatch, print: (v: unknown) => string): string {
  const show = (v: unknown) => {
    if (v instanceof RegExp) return String(v);
    if (v instanceof Uint8Array) return `<${v.byteLength} bytes>`;
    if (isAsymmetric(v)) return print(v);
    return JSON.stringify(v);
  };
  if (!("fields" in check)) return show(check.filename);
  const match = check.fields;
  const parts = ATTACHMENT_KEYS.filter((k) => match[k] !== undefined).map(
    (k) => `${k}: ${show(match[k])}`,
  );
  return `{ ${parts.join(", ")} }`;
}

function describeAttachment(a: ReceivedAttachment): string {
  const name = a.filename === undefined ? "(no filename)" : JSON.stringify(a.filename);
  return `${name} (${a.contentType}, ${a.size} bytes, sha256 ${a.sha256.slice(0, 12)}...)`;
}
