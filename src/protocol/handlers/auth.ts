/** AUTH (RFC 4954) and STARTTLS (RFC 3207). */
import { isDisabled } from "../commands.js";
import type { Engine } from "../engine.js";
import { errorToReply } from "../errors.js";
import type { AuthOutcome } from "../host.js";
import { COMMAND_MODE } from "../mode.js";
import { REPLIES } from "../replies.js";
import {
  AUTH_SUCCESS,
  type AuthRequest,
  isSaslMethod,
  type SaslChallenge,
  type SaslStep,
  startSasl,
  xoauth2Failure,
} from "../sasl.js";
import { isPromise, type MaybePromise } from "../util.js";
import { transmissionType } from "./session.js";

export function auth(e: Engine, args: string): MaybePromise<void> {
  const s = e.session;
  const cfg = e.config;
  if (s.user !== undefined) return e.reply("AUTH", "AUTH", REPLIES.noIdentityChange, "sequence");
  // Ask for STARTTLS first only when it is on offer; otherwise the client could never comply.
  const tlsOffered =
    cfg.tlsAvailable && cfg.capabilities.has("STARTTLS") && !isDisabled(e, "STARTTLS");
  if (!s.secure && !cfg.allowInsecureAuth && tlsOffered) {
    return e.reply("AUTH", "AUTH", REPLIES.mustStartTls, "insecure");
  }
  if (s.envelope.mailFrom)
    return e.reply("AUTH", "AUTH", REPLIES.transactionInProgress, "sequence");
  // Everything after the mechanism is the initial response; more than one word is
  // startSasl's 501 syntax error (it used to be glued to the mechanism name: 504).
  const [method = "", ...rest] = args.trim().split(/ +/);
  const initial = rest.length > 0 ? rest.join(" ") : undefined;
  const step = startSasl(method, initial, { hostname: cfg.name, enabled: cfg.authMethods });
  return saslStep(e, step, knownMechanism(method), false);
}

/**
 * The mechanism an AUTH line names, upper case, if this server knows it; else "": a
 * first word that is none may be credentials a broken client sent in its place.
 */
function knownMechanism(method: string): string {
  const named = method.toUpperCase();
  return isSaslMethod(named) ? named : "";
}

/**
 * How an AUTH line is recorded (attempts, faults): `AUTH <mechanism>`, or `AUTH`;
 * never its initial response (the credentials).
 */
export function authCommand(args: string): string {
  return `AUTH ${knownMechanism(args.trim().split(/ +/)[0] ?? "")}`.trim();
}

/** A client line while a SASL exchange is in progress. */
export function saslLine(e: Engine, step: SaslChallenge, line: string): MaybePromise<void> {
  const mode = e.mode;
  const method = mode.kind === "sasl" ? mode.method : "";
  const failed = mode.kind === "sasl" && mode.failed;
  e.mode = COMMAND_MODE;
  return saslStep(e, step.next(line), method, failed);
}

/**
 * One step of the exchange. `method`: the mechanism the client named (the attempt's
 * command is `AUTH <method>`, never the credentials); `failed`: the login failed
 * already and this step ends it.
 */
function saslStep(e: Engine, step: SaslStep, method: string, failed: boolean): MaybePromise<void> {
  const command = `AUTH ${step.kind === "credentials" ? step.auth.method : method}`.trim();
  switch (step.kind) {
    case "error":
      return e.reply("AUTH", command, step.reply, failed ? "auth failed" : "auth");
    case "challenge":
      e.send(step.reply);
      e.mode = { kind: "sasl", step, method, failed };
      return;
    case "credentials":
      return verify(e, step.auth, command);
  }
}

function verify(e: Engine, request: AuthRequest, command: string): MaybePromise<void> {
  let outcome: MaybePromise<AuthOutcome>;
  try {
    outcome = e.host.auth(request);
  } catch (err) {
    return e.reply("AUTH", command, errorToReply(err, 535), "hook");
  }
  const decide = (o: AuthOutcome): void => {
    if (e.closed) return;
    if (o.ok) {
      e.session.user = o.user;
      e.usedForSession("AUTH");
      e.session.transmissionType = transmissionType(e);
      e.reply("AUTH", command, AUTH_SUCCESS);
      return;
    }
    if (request.method === "XOAUTH2" && o.xoauth2Details !== undefined) {
      const challenge = xoauth2Failure(o.xoauth2Details);
      e.send(challenge.reply);
      e.mode = { kind: "sasl", step: challenge, method: "XOAUTH2", failed: true };
      return;
    }
    e.reply("AUTH", command, o.reply, "auth failed");
  };
  if (!isPromise(outcome)) return decide(outcome);
  return outcome.then(decide, (err: unknown) => {
    if (!e.closed) e.reply("AUTH", command, errorToReply(err, 535), "hook");
  });
}

export function startTls(e: Engine, args: string, line: string): MaybePromise<void> {
  if (args.trim()) return e.reply("STARTTLS", line, REPLIES.startTlsSyntax, "syntax");
  if (e.session.secure) return e.reply("STARTTLS", line, REPLIES.tlsActive, "sequence");
  e.reply("STARTTLS", line, REPLIES.startTls);
  e.flush();
  // Whatever the client sent after STARTTLS in plaintext is dropped (CVE-2011-0411).
  e.discardInput = true;
  // A transaction the client had open is over with its STARTTLS, whether or not the
  // handshake then succeeds.
  e.resetTransaction("client reset (STARTTLS)");
  // RFC 3207 4.2: once the handshake is done, the server discards what it learnt from
  // the client before it, and the client must start over with EHLO; nor does an AUTH
  // identity from the plaintext part (allowInsecureAuth) carry over. The host calls
  // this before anything sees the secured session (onSecure, its log entry).
  const forget = () => {
    e.sessionUsed.length = 0;
    const s = e.session;
    s.hostNameAppearsAs = "";
    s.openingCommand = "";
    s.user = undefined;
    s.secure = true;
    s.transmissionType = transmissionType(e);
    e.usedForSession("STARTTLS");
  };
  return e.host.startTls(forget, line).then(
    () => undefined,
    () => e.close(),
  );
}
