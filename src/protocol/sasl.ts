import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { type Reply, reply } from "./reply.js";

/**
 * SMTP AUTH (RFC 4954) mechanisms as pure state machines: no sockets, no timers.
 * `startSasl` takes the AUTH command's mechanism and optional initial response and
 * returns a step; a `challenge` step is answered by feeding the client's next line to
 * `next`, until the exchange ends in `credentials` (ask `onAuth`) or `error` (send it).
 * Codes and texts follow nodemailer's smtp-server, so its clients and tests see the
 * same replies.
 */

export const SASL_METHODS = ["PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2"] as const;
export type SaslMethod = (typeof SASL_METHODS)[number];

/** What `onAuth(auth, session, callback)` receives; the shape of smtp-server's. */
export interface AuthRequest {
  /** "XCLIENT": the LOGIN attribute of an XCLIENT command (no password), as smtp-server. */
  method: SaslMethod | "XCLIENT";
  /** PLAIN: the authcid, or the authzid when the authcid is empty (as smtp-server). */
  username: string;
  /** PLAIN and LOGIN; `null` for XCLIENT. */
  password?: string | null;
  /** PLAIN only: the raw RFC 4616 fields. */
  authzid?: string;
  authcid?: string;
  /** XOAUTH2 only: the bearer token. */
  accessToken?: string;
  /** CRAM-MD5 only: the challenge sent (`<random.time@hostname>`, not base64). */
  challenge?: string;
  /** CRAM-MD5 only: the hex digest the client sent, lower-cased. */
  challengeResponse?: string;
  /**
   * PLAIN, LOGIN and CRAM-MD5: whether `password` is the user's password, compared in
   * constant time (CRAM-MD5: recomputes the HMAC-MD5 of the challenge). smtp-server
   * offers it for CRAM-MD5 only. XOAUTH2 and XCLIENT carry no password: always false.
   * Always there, as smtp-server's type declares it (so handlers typed with that fit).
   */
  validatePassword(password: string): boolean;
}

/** `validatePassword` of a login that carries no password (XOAUTH2, XCLIENT). */
export const NO_PASSWORD = (_password: string): boolean => false;

/** The server sent `reply` (334); feed the client's next line to `next`. */
export interface SaslChallenge {
  readonly kind: "challenge";
  readonly reply: Reply;
  next(line: string): SaslStep;
}
/** The exchange is complete: ask `onAuth`, then send AUTH_SUCCESS or a failure. */
export interface SaslCredentials {
  readonly kind: "credentials";
  readonly auth: AuthRequest;
}
/** The exchange failed before `onAuth` (syntax, cancel, unknown mechanism). */
export interface SaslError {
  readonly kind: "error";
  readonly reply: Reply;
}
export type SaslStep = SaslChallenge | SaslCredentials | SaslError;

export interface SaslContext {
  /** The server name, used in the CRAM-MD5 challenge. */
  readonly hostname: string;
  /** Mechanisms this server accepts; any other one gets 504. */
  readonly enabled: readonly SaslMethod[];
}

export const AUTH_SUCCESS: Reply = reply(235, "Authentication successful", "2.7.0");
/** smtp-server's reply when `onAuth` calls back without a user. */
export const AUTH_FAILED: Reply = reply(535, "Error: Authentication credentials invalid", "5.7.8");
/** smtp-server's reply to the client's line after a failed XOAUTH2 (see xoauth2Failure). */
export const XOAUTH2_FAILED: Reply = reply(
  535,
  "Error: Username and Password not accepted",
  "5.7.8",
);

const UNRECOGNIZED = reply(504, "Error: Unrecognized authentication type", "5.5.4");
const ABORTED = reply(501, "Authentication aborted", "5.5.4");
const INVALID_USERDATA = reply(501, "Error: invalid userdata", "5.5.4");
const MISSING_USERNAME = reply(501, "Error: missing username", "5.5.4");
const SYNTAX: Readonly<Record<SaslMethod, Reply>> = {
  PLAIN: reply(501, "Error: syntax: AUTH PLAIN token", "5.5.4"),
  LOGIN: reply(501, "Error: syntax: AUTH LOGIN", "5.5.4"),
  "CRAM-MD5": reply(501, "Error: syntax: AUTH CRAM-MD5", "5.5.4"),
  XOAUTH2: reply(501, "Error: syntax: AUTH XOAUTH2 token", "5.5.4"),
};

/** "Username:" and "Password:", the prompts of the LOGIN mechanism. */
const USERNAME_PROMPT = reply(334, "VXNlcm5hbWU6");
const PASSWORD_PROMPT = reply(334, "UGFzc3dvcmQ6");
/** RFC 4954 4: an empty challenge is "334 " (serializeReply keeps the space). */
const EMPTY_CHALLENGE = reply(334, "");

/** C0/C1 controls in a user name could split a reply or a log line (as smtp-server). */
const CONTROL_CHARS = /[\x00-\x1F\x7F-\x9F]/;
/** RFC 4648 base64; padding may be omitted, as some clients do. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}(?:==)?|[A-Za-z0-9+/]{3}=?)?$/;

export function isSaslMethod(x: string): x is SaslMethod {
  return (SASL_METHODS as readonly string[]).includes(x);
}

/**
 * Starts an exchange for `AUTH <method> [initialResponse]`. `method` is matched
 * case-insensitively; `initialResponse` is the rest of the command line (more than one
 * word is a 501 syntax error; `"="` is the empty response, RFC 4954 4).
 */
export function startSasl(
  method: string,
  initialResponse: string | undefined,
  ctx: SaslContext,
): SaslStep {
  const name = method.toUpperCase();
  if (!isSaslMethod(name) || !ctx.enabled.includes(name)) return fail(UNRECOGNIZED);
  const initial = initialResponse?.trim() || undefined;
  if (initial !== undefined && /\s/.test(initial)) return fail(SYNTAX[name]);
  const token = initial === "=" ? "" : initial;
  switch (name) {
    case "PLAIN":
      return token === undefined ? challenge(EMPTY_CHALLENGE, plainToken) : plainToken(token);
    case "LOGIN":
      return token === undefined ? challenge(USERNAME_PROMPT, loginUsername) : loginUsername(token);
    case "XOAUTH2":
      return token === undefined ? challenge(EMPTY_CHALLENGE, xoauth2Token) : xoauth2Token(token);
    case "CRAM-MD5":
      return token === undefined ? cramMd5Challenge(ctx.hostname) : fail(SYNTAX[name]);
  }
}

/** Google's XOAUTH2 error for a rejected token (sent base64 in a 334 challenge). */
export const XOAUTH2_ERROR_DETAILS = {
  status: "401",
  schemes: "bearer",
  scope: "https://mail.google.com/",
} as const;

/** The 334 challenge that tells an XOAUTH2 client its token was rejected. */
export function xoauth2FailureChallenge(details: object = XOAUTH2_ERROR_DETAILS): Reply {
  return reply(334, toBase64(JSON.stringify(details)));
}

/**
 * What follows a rejected XOAUTH2 token: the 334 error challenge; the client answers
 * with an empty line (whatever it sends), and gets 535.
 */
export function xoauth2Failure(details?: object): SaslChallenge {
  return {
    kind: "challenge",
    reply: xoauth2FailureChallenge(details),
    next: () => fail(XOAUTH2_FAILED),
  };
}

function fail(r: Reply): SaslError {
  return { kind: "error", reply: r };
}

function credentials(auth: AuthRequest): SaslCredentials {
  return { kind: "credentials", auth };
}

/** A 334 challenge whose answer may be `*` to cancel (RFC 4954 4). */
function challenge(r: Reply, handle: (token: string) => SaslStep): SaslChallenge {
  return {
    kind: "challenge",
    reply: r,
    next(line) {
      const token = line.trim();
      return token === "*" ? fail(ABORTED) : handle(token);
    },
  };
}

/** RFC 4616: base64(authzid NUL authcid NUL passwd). */
function plainToken(token: string): SaslStep {
  const fields = decodeBase64(token)?.split("\x00");
  if (fields?.length !== 3) return fail(INVALID_USERDATA);
  const [authzid = "", authcid = "", password = ""] = fields;
  const username = authcid || authzid;
  if (!username || CONTROL_CHARS.test(username) || CONTROL_CHARS.test(authzid)) {
    return fail(INVALID_USERDATA);
  }
  return credentials({
    method: "PLAIN",
    username,
    password,
    authzid,
    authcid,
    validatePassword: (candidate) => equalSecrets(candidate, password),
  });
}

function loginUsername(token: string): SaslStep {
  const username = decodeBase64(token);
  if (username === undefined || CONTROL_CHARS.test(username)) return fail(INVALID_USERDATA);
  if (username === "") return fail(MISSING_USERNAME);
  return challenge(PASSWORD_PROMPT, (passwordToken) => loginPassword(username, passwordToken));
}

function loginPassword(username: string, token: string): SaslStep {
  const password = decodeBase64(token);
  if (password === undefined) return fail(INVALID_USERDATA);
  return credentials({
    method: "LOGIN",
    username,
    password,
    validatePassword: (candidate) => equalSecrets(candidate, password),
  });
}

/** Google's format: base64("user=" user ^A "auth=Bearer " token ^A ^A). */
function xoauth2Token(token: string): SaslStep {
  const decoded = decodeBase64(token);
  if (decoded === undefined) return fail(INVALID_USERDATA);
  let username = "";
  let accessToken = "";
  for (const field of decoded.split("\x01")) {
    const eq = field.indexOf("=");
    if (eq < 0) continue;
    const key = field.slice(0, eq).toLowerCase();
    const value = field.slice(eq + 1).trim();
    if (key === "user") username = value;
    const bearer = /^bearer\s+(.+)$/is.exec(value);
    if (key === "auth" && bearer) accessToken = bearer[1] ?? "";
  }
  if (!username || !accessToken || CONTROL_CHARS.test(username)) return fail(INVALID_USERDATA);
  return credentials({ method: "XOAUTH2", username, accessToken, validatePassword: NO_PASSWORD });
}

/** RFC 2195: the challenge is a unique message-id-like string, sent base64. */
function cramMd5Challenge(hostname: string): SaslChallenge {
  const nonce = `${randomBytes(16).toString("hex")}.${Math.floor(Date.now() / 1000)}`;
  const text = `<${nonce}@${hostname}>`;
  return challenge(reply(334, toBase64(text)), (token) => cramMd5Response(text, token));
}

/** RFC 2195: base64(user SP hex(HMAC-MD5(password, challenge))). */
function cramMd5Response(challengeText: string, token: string): SaslStep {
  const decoded = decodeBase64(token);
  const space = decoded?.lastIndexOf(" ") ?? -1;
  if (decoded === undefined || space <= 0) return fail(INVALID_USERDATA);
  const username = decoded.slice(0, space);
  const challengeResponse = decoded.slice(space + 1).toLowerCase();
  if (CONTROL_CHARS.test(username)) return fail(INVALID_USERDATA);
  return credentials({
    method: "CRAM-MD5",
    username,
    challenge: challengeText,
    challengeResponse,
    validatePassword(password) {
      const expected = createHmac("md5", password).update(challengeText).digest("hex");
      return constantTimeEqual(Buffer.from(expected), Buffer.from(challengeResponse));
    },
  });
}

function decodeBase64(token: string): string | undefined {
  return BASE64.test(token) ? Buffer.from(token, "base64").toString("utf8") : undefined;
}

function toBase64(text: string): string {
  return Buffer.from(text, "utf8").toString("base64");
}

/** Compares secrets of any length without leaking where they differ (or their length). */
function equalSecrets(a: string, b: string): boolean {
  const digest = (s: string) => createHash("sha256").update(s, "utf8").digest();
  return timingSafeEqual(digest(a), digest(b));
}

function constantTimeEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
