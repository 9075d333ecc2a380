/** Connection-level commands: EHLO/HELO/LHLO, RSET, NOOP, QUIT, VRFY, HELP. */
import { isDisabled } from "../commands.js";
import type { Engine } from "../engine.js";
import { REPLIES } from "../replies.js";
import { reply } from "../reply.js";
import type { TransmissionType } from "../types.js";
import { proxyExtensions } from "./xclient.js";

/**
 * RFC 5321 4.1.1.1: a domain or address literal; we only refuse what is unsafe (C0
 * and C1 controls, as smtp-server does) and what is longer than a domain can be.
 */
const HELO_NAME = /^[^\s\x00-\x1f\x7f-\x9f]{1,255}$/;

export function greet(verb: "EHLO" | "HELO" | "LHLO") {
  return (e: Engine, args: string): void => {
    const cfg = e.config;
    if (cfg.lmtp && verb !== "LHLO") {
      e.reply("EHLO", verb, REPLIES.lmtpHelo(verb), "syntax");
      return;
    }
    const name = args.trim();
    if (!name || /\s/.test(name)) {
      e.reply("EHLO", verb, REPLIES.heloSyntax(verb), "syntax");
      return;
    }
    if (!HELO_NAME.test(name)) {
      e.reply("EHLO", verb, REPLIES.badHostname, "syntax");
      return;
    }
    e.resetTransaction(`client reset (${verb})`);
    const s = e.session;
    s.hostNameAppearsAs = name.toLowerCase();
    s.openingCommand = verb;
    s.transmissionType = transmissionType(e);
    const first = formatHelo(cfg.heloResponse, cfg.name, s.clientHostname);
    const lines = verb === "HELO" ? [first] : [first, ...extensions(e)];
    e.reply(verb === "HELO" ? "HELO" : "EHLO", `${verb} ${name}`, reply(250, lines, null));
  };
}

function formatHelo(template: string, name: string, client: string): string {
  const values = [name, client];
  let k = 0;
  return template.replace(/%s/g, () => values[k++] ?? "");
}

/** The EHLO keywords, in smtp-server's order, from the live capability set. */
export function extensions(e: Engine): string[] {
  const c = e.config.capabilities;
  const cfg = e.config;
  const s = e.session;
  const out: string[] = [];
  for (const kw of ["PIPELINING", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "DSN"] as const) {
    if (c.has(kw)) out.push(kw);
  }
  if (
    c.has("AUTH") &&
    cfg.authMethods.length > 0 &&
    s.user === undefined &&
    !isDisabled(e, "AUTH")
  ) {
    out.push(`AUTH ${cfg.authMethods.join(" ")}`);
  }
  if (!s.secure && cfg.tlsAvailable && c.has("STARTTLS") && !isDisabled(e, "STARTTLS")) {
    out.push("STARTTLS");
  }
  if (s.secure && c.has("REQUIRETLS")) out.push("REQUIRETLS");
  if (c.has("SIZE")) out.push(cfg.size > 0 && !cfg.hideSize ? `SIZE ${cfg.size}` : "SIZE");
  out.push(...proxyExtensions(e));
  if (c.has("CHUNKING") && !isDisabled(e, "BDAT")) {
    out.push("CHUNKING");
    if (c.has("BINARYMIME")) out.push("BINARYMIME");
  }
  return out;
}

export function transmissionType(e: Engine): TransmissionType {
  const s = e.session;
  // Before EHLO (and after STARTTLS, which forgets it) as after HELO: plain SMTP.
  const base = e.config.lmtp ? "LMTP" : s.openingCommand === "EHLO" ? "ESMTP" : "SMTP";
  if (base === "SMTP") return "SMTP";
  const suffix = `${s.secure ? "S" : ""}${s.user !== undefined ? "A" : ""}`;
  return `${base}${suffix}` as TransmissionType;
}

export function rset(e: Engine): void {
  e.resetTransaction("client reset (RSET)");
  e.reply("RSET", "RSET", REPLIES.flushed);
}

export function noop(e: Engine): void {
  e.reply("OTHER", "NOOP", REPLIES.ok);
}

export function quit(e: Engine): void {
  e.reply("QUIT", "QUIT", REPLIES.bye);
  e.close("client quit (QUIT)");
}

export function vrfy(e: Engine, args: string): void {
  e.reply("OTHER", "VRFY", args.trim() ? REPLIES.vrfy : REPLIES.vrfySyntax);
}

export function help(e: Engine): void {
  e.reply("OTHER", "HELP", REPLIES.help);
}
