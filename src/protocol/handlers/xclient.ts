/**
 * XCLIENT and XFORWARD (Postfix XCLIENT_README and XFORWARD_README) as smtp-server
 * 3.21 implements them: a trusted proxy passes on the details of the client it
 * relays. XCLIENT rewrites the session (LOGIN: an identity through onAuth) and
 * starts it over with a fresh greeting; XFORWARD records the details and answers
 * 250. Trust is judged by the address the connection came from (after a PROXY
 * header), never by a forwarded one, and XCLIENT ADDR ends both commands: the
 * session then belongs to the relayed client.
 */
import { isIP } from "node:net";
import { isDisabled } from "../commands.js";
import type { Engine } from "../engine.js";
import type { AuthOutcome } from "../host.js";
import { REPLIES } from "../replies.js";
import type { Reply } from "../reply.js";
import { NO_PASSWORD } from "../sasl.js";
import { clientHostnameOf, isPlausibleHostname, isTrusted, normalizeIp } from "../trust.js";
import type { SMTPSession } from "../types.js";
import type { MaybePromise } from "../util.js";
import { transmissionType } from "./session.js";

type ProxyVerb = "XCLIENT" | "XFORWARD";

const KEYS: Readonly<Record<ProxyVerb, readonly string[]>> = {
  XCLIENT: ["NAME", "ADDR", "PORT", "PROTO", "HELO", "LOGIN"],
  XFORWARD: ["NAME", "ADDR", "PORT", "PROTO", "HELO", "IDENT", "SOURCE"],
};

/** Values that stand for "not known" (XCLIENT_README); XFORWARD has only the first. */
const UNAVAILABLE: Readonly<Record<ProxyVerb, readonly string[]>> = {
  XCLIENT: ["[UNAVAILABLE]", "[TEMPUNAVAIL]"],
  XFORWARD: ["[UNAVAILABLE]"],
};

/** Controls (C0, DEL, C1), also when smuggled in as xtext (`NAME=a+0D+0Ab`). */
const CONTROLS = /[\x00-\x1f\x7f-\x9f]/;

/** Whether the session may use `verb` now, and so whether EHLO offers it. */
export function proxyCommandAllowed(e: Engine, verb: ProxyVerb): boolean {
  const trust = verb === "XCLIENT" ? e.config.xclient : e.config.xforward;
  const s = e.session;
  return (
    trust !== undefined &&
    !s.xClient.has("ADDR") &&
    isTrusted(trust, peerAddress(s)) &&
    !isDisabled(e, verb)
  );
}

/** The EHLO keywords for the commands this session may use. */
export function proxyExtensions(e: Engine): string[] {
  const out: string[] = [];
  for (const verb of ["XCLIENT", "XFORWARD"] as const) {
    if (proxyCommandAllowed(e, verb)) out.push(`${verb} ${KEYS[verb].join(" ")}`);
  }
  return out;
}

/** The address the connection came from: XFORWARD ADDR keeps it as `ADDR:DEFAULT`. */
function peerAddress(s: SMTPSession): string {
  const original = s.xForward.get("ADDR:DEFAULT");
  return typeof original === "string" ? original : s.remoteAddress;
}

export function xclient(e: Engine, args: string): MaybePromise<void> {
  const attrs = accept(e, "XCLIENT", args);
  if (!attrs) return;
  const s = e.session;
  for (const [key, value] of attrs) {
    const through = s.remoteAddress;
    const user = s.user;
    const stored = applyXclient(s, key, value);
    s.xClient.set(key, stored);
    if (key !== "LOGIN") e.host.relayed?.("XCLIENT", key, stored, through, user);
  }
  if (attrs.has("ADDR")) e.host.clientKnown?.(false);
  return login(e, attrs.get("LOGIN"), () => {
    // The session starts over for the relayed client, whatever it sends next.
    e.resetTransaction("client reset (XCLIENT)");
    s.transmissionType = transmissionType(e);
    e.reply("OTHER", "XCLIENT", REPLIES.greeting(e.config));
  });
}

export function xforward(e: Engine, args: string): void {
  const attrs = accept(e, "XFORWARD", args);
  if (!attrs) return;
  const s = e.session;
  for (const [key, value] of attrs) {
    const through = s.remoteAddress;
    const user = s.user;
    const stored = applyXforward(s, key, value);
    s.xForward.set(key, stored);
    e.host.relayed?.("XFORWARD", key, stored, through, user);
  }
  // No EHLO follows XFORWARD: the hooks of this transaction see the relayed client.
  e.resetTransaction("client reset (XFORWARD)");
  s.transmissionType = transmissionType(e);
  if (attrs.has("ADDR")) e.host.clientKnown?.(true);
  e.reply("OTHER", "XFORWARD", REPLIES.ok);
}

/** The gates and the attribute syntax; answers and returns undefined on a refusal. */
function accept(e: Engine, verb: ProxyVerb, args: string): Map<string, string | false> | undefined {
  const refuse = (r: Reply, reason: string): undefined => {
    e.reply("OTHER", verb, r, reason);
    return undefined;
  };
  if (!proxyCommandAllowed(e, verb)) return refuse(REPLIES.proxyNotAllowed, "untrusted");
  if (e.session.envelope.mailFrom) return refuse(REPLIES.transactionInProgress, "sequence");
  const parsed = parseAttributes(args, KEYS[verb], UNAVAILABLE[verb]);
  return parsed instanceof Map ? parsed : refuse(parsed, "syntax");
}

/**
 * `KEY=xtext` attributes, all checked before any is applied, so a refused command
 * leaves the session as it was. A repeated key keeps its first value.
 */
export function parseAttributes(
  args: string,
  keys: readonly string[],
  unavailable: readonly string[],
): Map<string, string | false> | Reply {
  const parts = args.trim().split(/\s+/).filter(Boolean);
  if (parts.length === 0) return REPLIES.proxySyntax();
  const attrs = new Map<string, string | false>();
  for (const part of parts) {
    const eq = part.indexOf("=");
    const key = part.slice(0, Math.max(eq, 0)).toUpperCase();
    const raw = part.slice(eq + 1);
    if (eq === -1 || raw.includes("=") || !keys.includes(key)) return REPLIES.proxySyntax();
    let value: string | false = decodeXtext(raw);
    if (CONTROLS.test(value)) return REPLIES.proxySyntax();
    if (unavailable.includes(value.toUpperCase())) value = false;
    if (key === "ADDR" && value) {
      // XCLIENT_README: an IPv6 address comes as `IPV6:2001:db8::1`.
      const ip = value.replace(/^IPV6:/i, "");
      if (!isIP(ip)) return REPLIES.proxySyntax("Invalid address");
      value = normalizeIp(ip);
    }
    if (key === "NAME" && value && !isPlausibleHostname(value))
      return REPLIES.proxySyntax("Invalid hostname");
    if (!attrs.has(key)) attrs.set(key, value);
  }
  return attrs;
}

/** RFC 3461 4: `+XX` stands for the byte XX (upper-case hex). */
function decodeXtext(value: string): string {
  return value.replace(/\+([0-9A-F]{2})/g, (_m, hex: string) =>
    String.fromCharCode(Number.parseInt(hex, 16)),
  );
}

/** Applies one XCLIENT attribute; returns what `session.xClient` stores for it. */
function applyXclient(s: SMTPSession, key: string, value: string | false): string | number | false {
  switch (key) {
    case "ADDR":
      if (!value) return value;
      keepDefault(s.xClient, "ADDR:DEFAULT", s.remoteAddress);
      s.remoteAddress = value;
      // The relayed client greets again, and never inherits the proxy's identity.
      s.hostNameAppearsAs = "";
      s.user = undefined;
      return value;
    case "NAME":
      keepDefault(s.xClient, "NAME:DEFAULT", s.clientHostname);
      s.clientHostname = clientHostnameOf(value || "", s.remoteAddress);
      return value || "";
    case "PORT": {
      keepDefault(s.xClient, "PORT:DEFAULT", s.remotePort || "");
      const port = Number(value) || 0;
      s.remotePort = port;
      return port || "";
    }
    default:
      return value;
  }
}

/** Applies one XFORWARD attribute; returns what `session.xForward` stores for it. */
function applyXforward(
  s: SMTPSession,
  key: string,
  value: string | false,
): string | number | false {
  switch (key) {
    case "ADDR":
      if (!value) return value;
      keepDefault(s.xForward, "ADDR:DEFAULT", s.remoteAddress);
      s.remoteAddress = value;
      return value;
    case "NAME":
      s.clientHostname = clientHostnameOf(value || "", s.remoteAddress);
      return value || "";
    case "PORT":
      s.remotePort = Number(value) || 0;
      return s.remotePort;
    case "HELO":
      s.hostNameAppearsAs = (value || "").toLowerCase();
      return s.hostNameAppearsAs;
    default:
      return value;
  }
}

function keepDefault(
  map: Map<string, string | number | false>,
  key: string,
  value: string | number,
) {
  if (!map.has(key)) map.set(key, value);
}

/**
 * XCLIENT LOGIN: empty logs the session out; a name asks `onAuth` with method
 * "XCLIENT" (no password). A refusal or an error is a 550 and the end of the
 * connection; a bare `callback()` lets the command through unauthenticated.
 */
function login(e: Engine, name: string | false | undefined, done: () => void): MaybePromise<void> {
  const s = e.session;
  if (typeof name !== "string") return done();
  if (name === "") {
    e.host.relayed?.("XCLIENT", "LOGIN", "", s.remoteAddress, s.user);
    s.user = undefined;
    return done();
  }
  const failed = (message: string) => {
    if (e.closed) return;
    e.reply("OTHER", "XCLIENT", REPLIES.xclientLoginFailed(message), "auth failed");
    e.close();
  };
  const decide = (o: AuthOutcome) => {
    if (e.closed) return;
    if (!o.ok) return failed("Authentication credentials invalid");
    if (o.user !== undefined) s.user = o.user;
    done();
  };
  let outcome: MaybePromise<AuthOutcome>;
  try {
    outcome = e.host.auth({
      method: "XCLIENT",
      username: name.trim(),
      password: null,
      validatePassword: NO_PASSWORD,
    });
  } catch (err) {
    return failed(messageOf(err));
  }
  if (!(outcome instanceof Promise)) return decide(outcome);
  return outcome.then(decide, (err: unknown) => failed(messageOf(err)));
}

function messageOf(err: unknown): string {
  const m = (err as { message?: unknown } | null)?.message;
  return typeof m === "string" && m ? m : "Error: authentication failed";
}
