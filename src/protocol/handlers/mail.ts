/** MAIL FROM and RCPT TO (RFC 5321 4.1.1.2-3) with their ESMTP parameters. */
import { authOffered, esmtpSession, offered } from "../commands.js";
import type { Engine } from "../engine.js";
import { errorToReply } from "../errors.js";
import {
  checkMailParams,
  checkRcptParams,
  type MailParamContext,
  NO_MAIL_PARAMS,
  needsSmtpUtf8,
  parseMailFrom,
  parseRcptTo,
} from "../path.js";
import { REPLIES } from "../replies.js";
import type { Reply } from "../reply.js";
import type { SMTPAddress } from "../types.js";
import type { MaybePromise } from "../util.js";

/** MAIL's 503 inside a transaction (also checked before faults). */
export function mailOutOfOrder(e: Engine): Reply | undefined {
  return e.session.envelope.mailFrom ? REPLIES.nestedMail : undefined;
}

/** RCPT's 503 without a MAIL (also checked before faults). */
export function rcptOutOfOrder(e: Engine): Reply | undefined {
  return e.session.envelope.mailFrom ? undefined : REPLIES.needMail;
}

export function mail(e: Engine, args: string, line: string): MaybePromise<void> {
  const cfg = e.config;
  const parsed = parseMailFrom(args, { lenient: cfg.lenientAddressParsing });
  if (!parsed.ok) return e.reply("MAIL", line, parsed.reply, "syntax");
  const nested = mailOutOfOrder(e);
  if (nested) return e.reply("MAIL", line, nested, "sequence");
  const addr = parsed.value;
  // Without parameters there is nothing to check (the context costs more than that).
  const params = !addr.args ? NO_MAIL_PARAMS : checkMailParams(addr, mailParamContext(e));
  if (!params.ok) return e.reply("MAIL", line, params.reply, "parameters");
  // Set every time: a MAIL refused by a hook may have left its parameters here.
  const env = e.session.envelope;
  env.bodyType = params.bodyType;
  env.smtpUtf8 = params.smtpUtf8;
  env.requireTLS = params.requireTLS;
  if (env.dsn.ret !== params.ret || env.dsn.envid !== params.envid) {
    env.dsn = { ret: params.ret, envid: params.envid };
  }
  noteMailExtensions(e, addr);
  return settle(e, "MAIL", line, addr, acceptSender);
}

/**
 * What the client was offered (`offered` in commands.ts, read once): after HELO,
 * nothing, so every extension's parameter is refused as not offered.
 */
function mailParamContext(e: Engine): MailParamContext {
  const cfg = e.config;
  const caps = cfg.capabilities;
  const esmtp = esmtpSession(e);
  return {
    esmtp,
    size: cfg.size,
    hideSize: cfg.hideSize,
    dsn: esmtp && caps.has("DSN"),
    secure: e.session.secure,
    requireTls: esmtp && caps.has("REQUIRETLS"),
    smtpUtf8: esmtp && caps.has("SMTPUTF8"),
    eightBitMime: esmtp && caps.has("8BITMIME"),
    binaryMime: esmtp && caps.has("BINARYMIME") && caps.has("CHUNKING"),
    auth: esmtp && authOffered(e),
  };
}

function acceptSender(e: Engine, line: string, addr: SMTPAddress): void {
  e.session.envelope.mailFrom = addr;
  e.reply("MAIL", line, REPLIES.acceptedSender);
}

function noteMailExtensions(e: Engine, addr: SMTPAddress): void {
  if (!addr.args) return;
  const a = addr.args;
  if (a.SIZE !== undefined) e.used.add("SIZE");
  if (a.BODY !== undefined && String(a.BODY).toUpperCase() !== "7BIT") {
    e.used.add(String(a.BODY).toUpperCase() === "BINARYMIME" ? "BINARYMIME" : "8BITMIME");
  }
  if (a.SMTPUTF8 !== undefined) e.used.add("SMTPUTF8");
  if (a.RET !== undefined || a.ENVID !== undefined) e.used.add("DSN");
  if (a.REQUIRETLS !== undefined) e.used.add("REQUIRETLS");
}

export function rcpt(e: Engine, args: string, line: string): MaybePromise<void> {
  const cfg = e.config;
  const parsed = parseRcptTo(args, { lenient: cfg.lenientAddressParsing });
  if (!parsed.ok) return e.reply("RCPT", line, parsed.reply, "syntax");
  // As for MAIL (and smtp-server): the 503 comes before the parameters are judged.
  const outOfOrder = rcptOutOfOrder(e);
  if (outOfOrder) return e.reply("RCPT", line, outOfOrder, "sequence");
  const checked = parsed.value.args
    ? checkRcptParams(parsed.value, {
        dsn: offered(e, "DSN"),
        // RFC 6533: raw UTF-8 in ORCPT only in a transaction whose MAIL said SMTPUTF8.
        smtpUtf8: e.session.envelope.smtpUtf8,
        sentUtf8: needsSmtpUtf8(line),
      })
    : parsed;
  if (!checked.ok) return e.reply("RCPT", line, checked.reply, "parameters");
  const env = e.session.envelope;
  const addr = checked.value;
  const full = cfg.maxRecipients > 0 && env.rcptTo.length >= cfg.maxRecipients;
  if (full && indexOfRecipient(e, env.rcptTo, addr.address.toLowerCase()) === -1) {
    return e.reply("RCPT", line, REPLIES.tooManyRecipients, "too many recipients");
  }
  if (addr.dsn) e.used.add("DSN");
  return settle(e, "RCPT", line, addr, acceptRecipient);
}

function acceptRecipient(e: Engine, line: string, addr: SMTPAddress): void {
  const list = e.session.envelope.rcptTo;
  const at = list.length === 0 ? -1 : indexOfRecipient(e, list, addr.address.toLowerCase());
  if (at === -1) list.push(addr);
  else list[at] = addr; // a repeated recipient replaces the earlier one, as smtp-server does
  // LMTP answers each accepted RCPT after the data, a repeated one too (RFC 2033 4.2).
  if (e.config.lmtp) e.lmtpRcpts.push(at === -1 ? list.length - 1 : at);
  e.reply("RCPT", line, REPLIES.acceptedRecipient);
}

/** Up to this many recipients a scan is cheaper than keeping an index. */
const SCAN_LIMIT = 16;

/**
 * Where the recipient `key` (lower case) is in `list`, or -1. Past a few recipients,
 * through the engine's index of this list (each RCPT scanning them all made a
 * 20,000-recipient envelope cost seconds); an index entry is checked against the
 * list, which a hook may have edited.
 */
function indexOfRecipient(e: Engine, list: readonly SMTPAddress[], key: string): number {
  if (list.length <= SCAN_LIMIT) return scanRecipients(list, key);
  let index = e.rcptIndex;
  // A hook may have removed or replaced entries: the ends of what was indexed must
  // still be where they were (a splice and a push keep the length).
  if (
    index === undefined ||
    index.list !== list ||
    index.count > list.length ||
    list[0]!.address.toLowerCase() !== index.first ||
    list[index.count - 1]!.address.toLowerCase() !== index.last
  ) {
    index = { list, keys: new Map(), count: 0, first: "", last: "" };
    e.rcptIndex = index;
  }
  for (; index.count < list.length; index.count++) {
    const k = list[index.count]!.address.toLowerCase();
    if (!index.keys.has(k)) index.keys.set(k, index.count);
  }
  index.first = list[0]!.address.toLowerCase();
  index.last = list[index.count - 1]!.address.toLowerCase();
  const at = index.keys.get(key);
  if (at === undefined) return -1;
  return list[at]?.address.toLowerCase() === key ? at : scanRecipients(list, key);
}

function scanRecipients(list: readonly SMTPAddress[], key: string): number {
  for (let i = 0; i < list.length; i++) if (list[i]!.address.toLowerCase() === key) return i;
  return -1;
}

/**
 * Asks the hook (onMailFrom / onRcptTo) about `addr`; a rejection becomes its reply,
 * success runs `accept`, now when the hook answers at once.
 */
function settle(
  e: Engine,
  stage: "MAIL" | "RCPT",
  line: string,
  addr: SMTPAddress,
  accept: (e: Engine, line: string, addr: SMTPAddress) => void,
): MaybePromise<void> {
  let verdict: MaybePromise<void>;
  try {
    verdict = stage === "MAIL" ? e.host.mailFrom(addr) : e.host.rcptTo(addr);
  } catch (err) {
    return refused(e, stage, line, err);
  }
  if (verdict instanceof Promise) return settleLater(e, stage, line, addr, accept, verdict);
  accept(e, line, addr);
}

/** `settle` for a hook that answers later; apart, so a hookless command makes no closure context. */
function settleLater(
  e: Engine,
  stage: "MAIL" | "RCPT",
  line: string,
  addr: SMTPAddress,
  accept: (e: Engine, line: string, addr: SMTPAddress) => void,
  verdict: Promise<void>,
): Promise<void> {
  e.pending = { stage, command: line };
  return verdict.then(
    () => {
      e.pending = undefined;
      if (!e.closed) accept(e, line, addr);
    },
    (err: unknown) => {
      e.pending = undefined;
      refused(e, stage, line, err);
    },
  );
}

function refused(e: Engine, stage: "MAIL" | "RCPT", line: string, err: unknown): void {
  if (!e.closed) e.reply(stage, line, errorToReply(err), "hook");
}
