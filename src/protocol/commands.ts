/**
 * The command table, typed against the verb union. Cross-cutting gates are flags
 * (`needsHelo`, `needsAuth`) checked by the engine's guard, not code in handlers.
 */
import type { Capability } from "./capabilities.js";
import type { Engine } from "./engine.js";
import { auth, startTls } from "./handlers/auth.js";
import { bdat, bdatOutOfOrder, data, dataOutOfOrder, refusedBdat } from "./handlers/data.js";
import { mail, mailOutOfOrder, rcpt, rcptOutOfOrder } from "./handlers/mail.js";
import { greet, help, noop, quit, rset, vrfy } from "./handlers/session.js";
import { xclient, xforward } from "./handlers/xclient.js";
import type { Reply } from "./reply.js";
import type { Stage } from "./types.js";
import type { MaybePromise } from "./util.js";

export type Verb =
  | "EHLO"
  | "HELO"
  | "LHLO"
  | "MAIL"
  | "RCPT"
  | "DATA"
  | "BDAT"
  | "RSET"
  | "NOOP"
  | "QUIT"
  | "VRFY"
  | "HELP"
  | "STARTTLS"
  | "AUTH"
  | "XCLIENT"
  | "XFORWARD";

export interface CommandSpec {
  /** The fault stage consulted before the command runs. */
  readonly stage?: Stage;
  readonly needsHelo?: boolean;
  readonly needsAuth?: boolean;
  /** Whether the command exists right now (extension advertised, LMTP mode...). */
  readonly available?: (e: Engine) => boolean;
  readonly run: (e: Engine, args: string, line: string) => MaybePromise<void>;
  /**
   * The command was answered without running (a gate or a fault's reply): a BDAT
   * fails its transaction and still has to read and drop its chunk (RFC 3030 2).
   */
  readonly skipped?: (e: Engine, args: string) => void;
  /**
   * The 503 the command gets when the transaction is not at it (RCPT without MAIL, a
   * BDAT behind a refused one, ...). Such a command is answered by its handler, after
   * its syntax check, as usual; faults are not asked about it: they are about what
   * the server does to a client's well-ordered commands, and a 503 is the client's.
   */
  readonly outOfOrder?: (e: Engine) => Reply | undefined;
}

const caps = (e: Engine) => e.config.capabilities;

/**
 * Whether the session can use extensions: it did not open with HELO, whose reply
 * offers none (RFC 5321 2.2.1, 4.1.1.1). Before any greeting it is true, so that a
 * command that needs one gets its 503 for want of EHLO rather than a 502.
 */
export function esmtpSession(e: Engine): boolean {
  return e.session.openingCommand !== "HELO";
}

/**
 * Whether `capability` is offered to this client, as its EHLO/LHLO reply says: on,
 * and the session not opened with HELO. What decides whether a command or a MAIL/RCPT
 * parameter of the extension exists.
 */
export function offered(e: Engine, capability: Capability): boolean {
  return esmtpSession(e) && caps(e).has(capability);
}

const TABLE: Readonly<Record<Verb, CommandSpec>> = {
  EHLO: { stage: "EHLO", run: greet("EHLO") },
  HELO: { stage: "HELO", run: greet("HELO") },
  LHLO: { stage: "EHLO", run: greet("LHLO"), available: (e) => e.config.lmtp },
  MAIL: { stage: "MAIL", needsHelo: true, needsAuth: true, run: mail, outOfOrder: mailOutOfOrder },
  RCPT: { stage: "RCPT", needsHelo: true, needsAuth: true, run: rcpt, outOfOrder: rcptOutOfOrder },
  DATA: { stage: "DATA", needsHelo: true, needsAuth: true, run: data, outOfOrder: dataOutOfOrder },
  BDAT: {
    stage: "BDAT",
    needsHelo: true,
    needsAuth: true,
    run: bdat,
    skipped: refusedBdat,
    outOfOrder: bdatOutOfOrder,
    available: (e) => offered(e, "CHUNKING"),
  },
  RSET: { stage: "RSET", run: rset },
  NOOP: { run: noop },
  QUIT: { stage: "QUIT", run: quit },
  VRFY: { run: vrfy },
  HELP: { run: help },
  STARTTLS: {
    stage: "STARTTLS",
    run: startTls,
    // Over TLS already (secure: true, or after STARTTLS) it is known: 503, as smtp-server.
    available: (e) => e.session.secure || (e.config.tlsAvailable && caps(e).has("STARTTLS")),
  },
  AUTH: {
    stage: "AUTH",
    needsHelo: true,
    run: auth,
    available: (e) => authOffered(e),
  },
  // Known whatever the options: an untrusted peer gets smtp-server's 550, not 500.
  XCLIENT: { run: xclient },
  XFORWARD: { run: xforward },
};

/**
 * Whether AUTH is offered: mechanisms configured and the capability on (the engine
 * checks `disabledCommands` for the command; the MAIL parameter checks it here).
 */
export function authOffered(e: Engine): boolean {
  return e.config.authMethods.length > 0 && caps(e).has("AUTH") && !isDisabled(e, "AUTH");
}

/**
 * The spec for an upper-case verb, or undefined. A Map lookup: indexing the table
 * with a string read off the wire would intern that string first, for every command.
 */
export function commandSpec(verb: string): CommandSpec | undefined {
  return BY_VERB.get(verb);
}

const BY_VERB: ReadonlyMap<string, CommandSpec> = new Map(Object.entries(TABLE));

/**
 * The verb of a command line, upper-case: `text` up to `end` (the first space, or
 * the end). Four-letter verbs (all the frequent ones) are recognised from their
 * character codes, without making a string; anything else is sliced and upper-cased.
 */
export function verbOf(text: string, end: number): string {
  // Only ASCII fits the packing: a wider unit (ō is 0x14D) would spill into its
  // neighbour's byte and read as another letter (0x14D << 24 is "M" << 24).
  if (
    end === 4 &&
    (text.charCodeAt(0) | text.charCodeAt(1) | text.charCodeAt(2) | text.charCodeAt(3)) < 0x80
  ) {
    const known = FOUR_LETTER.get(
      (upper(text, 0) << 24) | (upper(text, 1) << 16) | (upper(text, 2) << 8) | upper(text, 3),
    );
    if (known !== undefined) return known;
  }
  return text.slice(0, end).toUpperCase();
}

/** A UTF-16 code unit with ASCII lower-case letters made upper-case (other units never collide with A-Z). */
function upper(text: string, i: number): number {
  return text.charCodeAt(i) & 0xffdf;
}

const FOUR_LETTER: ReadonlyMap<number, string> = new Map(
  Object.keys(TABLE)
    .filter((v) => v.length === 4)
    .map((v) => [
      (v.charCodeAt(0) << 24) | (v.charCodeAt(1) << 16) | (v.charCodeAt(2) << 8) | v.charCodeAt(3),
      v,
    ]),
);

/**
 * Whether `verb` (upper-case) is disabled for this session: a `session.disabledCommands`
 * list set by a hook replaces the server's `disabledCommands` (as in smtp-server).
 */
export function isDisabled(e: Engine, verb: string): boolean {
  const own = e.session.disabledCommands;
  if (!Array.isArray(own)) return e.config.disabledCommands.has(verb);
  return own.some(
    (c) =>
      String(c ?? "")
        .trim()
        .toUpperCase() === verb,
  );
}
