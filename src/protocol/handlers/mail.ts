/** MAIL FROM and RCPT TO (RFC 5321 4.1.1.2-3) with their ESMTP parameters. */
import { isDisabled } from "../commands.js";
import type { Engine } from "../engine.js";
import { errorToReply } from "../errors.js";
import { checkMailParams, checkRcptParams, parseMailFrom, parseRcptTo } from "../path.js";
import { REPLIES } from "../replies.js";
import type { SMTPAddress } from "../types.js";
import type { MaybePromise } from "../util.js";

export function mail(e: Engine, args: string, line: string): MaybePromise<void> {
  const cfg = e.config;
  const caps = cfg.capabilities;
  const parsed = parseMailFrom(args, { lenient: cfg.lenientAddressParsing });
  if (!parsed.ok) return e.reply("MAIL", line, parsed.reply, "syntax");
  if (e.session.envelope.mailFrom) return e.reply("MAIL", line, REPLIES.nestedMail, "sequence");
  const addr = parsed.value;
  const env = e.session.envelope;
  if (!addr.args) {
    // The defaults, again: a MAIL refused by a hook may have set them.
    env.bodyType = "7bit";
    env.smtpUtf8 = false;
    env.requireTLS = false;
    if (env.dsn.ret !== null || env.dsn.envid !== null) env.dsn = { ret: null, envid: null };
  } else {
    const params = checkMailParams(addr, {
      size: cfg.size,
      hideSize: cfg.hideSize,
      dsn: caps.has("DSN"),
      secure: e.session.secure,
      requireTls: caps.has("REQUIRETLS"),
      smtpUtf8: caps.has("SMTPUTF8"),
      eightBitMime: caps.has("8BITMIME"),
      binaryMime: caps.has("BINARYMIME") && caps.has("CHUNKING"),
      extraParams: cfg.authMethods.length > 0 && !isDisabled(e, "AUTH") ? ["AUTH"] : [],
    });
    if (!params.ok) return e.reply("MAIL", line, params.reply, "parameters");
    env.bodyType = params.bodyType;
    env.smtpUtf8 = params.smtpUtf8;
    env.requireTLS = params.requireTLS;
    env.dsn = { ret: params.ret, envid: params.envid };
    noteMailExtensions(e, addr);
  }
  return settle(
    e,
    "MAIL",
    line,
    () => e.host.mailFrom(addr),
    () => {
      e.session.envelope.mailFrom = addr;
      e.reply("MAIL", line, REPLIES.acceptedSender);
    },
  );
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
  const checked = checkRcptParams(parsed.value, {
    dsn: cfg.capabilities.has("DSN"),
    smtpUtf8: cfg.capabilities.has("SMTPUTF8"),
  });
  if (!checked.ok) return e.reply("RCPT", line, checked.reply, "parameters");
  const env = e.session.envelope;
  if (!env.mailFrom) return e.reply("RCPT", line, REPLIES.needMail, "sequence");
  const addr = checked.value;
  const key = addr.address.toLowerCase();
  const existing = env.rcptTo.findIndex((r) => r.address.toLowerCase() === key);
  if (existing === -1 && cfg.maxRecipients > 0 && env.rcptTo.length >= cfg.maxRecipients) {
    return e.reply("RCPT", line, REPLIES.tooManyRecipients, "too many recipients");
  }
  if (addr.dsn) e.used.add("DSN");
  return settle(
    e,
    "RCPT",
    line,
    () => e.host.rcptTo(addr),
    () => {
      const list = e.session.envelope.rcptTo;
      const at = list.findIndex((r) => r.address.toLowerCase() === key);
      if (at === -1) list.push(addr);
      else list[at] = addr; // a repeated recipient replaces the earlier one, as smtp-server does
      e.reply("RCPT", line, REPLIES.acceptedRecipient);
    },
  );
}

/** Waits for a hook's verdict; a rejection becomes its reply, success runs `accept`. */
function settle(
  e: Engine,
  stage: "MAIL" | "RCPT",
  line: string,
  hook: () => MaybePromise<void>,
  accept: () => void,
): MaybePromise<void> {
  const rejected = (err: unknown) => {
    if (!e.closed) e.reply(stage, line, errorToReply(err), "hook");
  };
  const accepted = () => {
    if (!e.closed) accept();
  };
  let verdict: MaybePromise<void>;
  try {
    verdict = hook();
  } catch (err) {
    return rejected(err);
  }
  if (verdict instanceof Promise) return verdict.then(accepted, rejected);
  return accepted();
}
