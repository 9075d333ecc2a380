/**
 * MAIL FROM / RCPT TO argument parsing (RFC 5321 4.1.2) and ESMTP parameter checks
 * (RFC 1870 SIZE, 6152 8BITMIME, 3030 BINARYMIME, 6531 SMTPUTF8, 3461 DSN,
 * 8689 REQUIRETLS, 4954 AUTH). Pure functions: text in, value or Reply out.
 *
 * Replies follow nodemailer's smtp-server 3.21 where it has one; where it has none
 * (unknown parameters, bad parameter bytes) the RFC reply is used.
 *
 * Parsing is split in two steps, as smtp-server does: `parseMailFrom`/`parseRcptTo`
 * check the syntax (path, parameter shape, duplicates, missing values) and
 * `checkMailParams`/`checkRcptParams` check the parameters against what the session
 * advertised. The engine answers "503 nested MAIL" / "503 need MAIL" in between.
 */
import { isIPv4, isIPv6 } from "node:net";
import { domainToUnicode } from "node:url";
import { type Reply, reply } from "./reply.js";
import type { DsnRecipient, SMTPAddress, SmtpArgs } from "./types.js";

export interface PathOptions {
  /** smtp-server's lenientAddressParsing: minimal validation only */
  lenient: boolean;
}

export type PathResult = { ok: true; value: SMTPAddress } | { ok: false; reply: Reply };

type Kind = "MAIL" | "RCPT";

// ---------------------------------------------------------------------------
// Constants (built once; this code runs for every MAIL and RCPT)

const PREFIX: Readonly<Record<Kind, RegExp>> = {
  MAIL: /^FROM\s*:\s*/i,
  RCPT: /^TO\s*:\s*/i,
};
/**
 * `<...>` up to the first `>` outside a quoted string. `<`, `>` and `"` only appear
 * inside quoted strings (RFC 5321 4.1.2 qtextSMTP allows `<` and `>` there).
 * The alternatives start with different characters, so matching is linear.
 */
const PATH_RE = /<((?:[^<>"]|"(?:[^"\\]|\\[\s\S])*")*)>/y;
/** RFC 5321 4.1.2 A-d-l: a source route, accepted and ignored (appendix C). */
const SOURCE_ROUTE_RE = /^@[^\s,:@]+(?:,@[^\s,:@]+)*:/;
/** RFC 5321 4.1.2 Quoted-string local part followed by "@". */
const QUOTED_LOCAL_RE = /^"(?:[^"\\]|\\[\s\S])*"@/;
/**
 * C0/C1 controls and invisible formatting characters (zero-width space, word joiner,
 * BOM): never legitimate in an address, they enable log/header injection and
 * spoofing. U+200C/U+200D stay allowed (used in IDNs). Rejected even when lenient.
 * Also U+FFFD, what bytes that are not UTF-8 decode to: accepted, such an address
 * would be stored as something the client never sent (RFC 6531 3.3: UTF-8 only).
 */
const ADDRESS_UNSAFE_RE = /[\x00-\x1F\x7F-\x9F\u200B\u2060\uFEFF\uFFFD]/;
const CONTROL_RE = /[\x00-\x1F\x7F-\x9F]/;
const WHITESPACE_RE = /\s+/;
/** Unquoted local parts: whitespace and `"` only belong in a quoted string. */
const UNQUOTED_LOCAL_BAD_RE = /[\s"]/;
/** Dot-separated labels of letters, digits, hyphens and any non-ASCII (U-labels). */
const DOMAIN_RE = /^[a-zA-Z0-9\u0080-\uFFFF-]+(?:\.[a-zA-Z0-9\u0080-\uFFFF-]+)*$/;
const DOMAIN_HYPHEN_RE = /\.-|-\./;
/** RFC 5321 4.1.2 esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-") */
const KEYWORD_RE = /^[A-Z0-9][A-Z0-9-]*$/;
const NON_ASCII_RE = /[^\x00-\x7F]/;
const XTEXT_HEX_RE = /\+([0-9A-F]{2})/g;
const XTEXT_SPECIAL_RE = /[\x00-\x20\x7F+=]/g;
const SIZE_RE = /^\d{1,20}$/; // RFC 1870: size-value ::= 1*20DIGIT
/** RFC 3461 4.2: ORCPT=addr-type ";" xtext, addr-type is an atom. */
const ORCPT_RE = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+;./;
/**
 * RFC 5321 4.5.3.1.3: a path is at most 256 octets including "<" and ">", so
 * local-part "@" domain is at most 253 (counted in UTF-16 units, as smtp-server does).
 * The 64-octet local-part limit of 4.5.3.1.1 is not enforced, also as in
 * smtp-server: real senders (Gmail forwarding addresses) exceed it.
 */
const MAX_MAILBOX_LENGTH = 253;
/** RFC 3461 4.4: ENVID is at most 100 characters (xtext-encoded). */
const MAX_ENVID_LENGTH = 100;
/** ESMTP parameters that only make sense with a value (as smtp-server's lists, plus AUTH). */
const VALUE_PARAMS: Readonly<Record<Kind, readonly string[]>> = {
  MAIL: ["BODY", "SIZE", "RET", "ENVID", "AUTH"],
  RCPT: ["NOTIFY", "ORCPT"],
};
const NOTIFY_VALUES: ReadonlySet<string> = new Set(["NEVER", "SUCCESS", "FAILURE", "DELAY"]);

const BAD_SYNTAX: Readonly<Record<Kind, Reply>> = {
  MAIL: reply(501, "Error: Syntax: MAIL FROM:<address>"),
  RCPT: reply(501, "Error: Syntax: RCPT TO:<address>"),
};
const BAD_ADDRESS: Readonly<Record<Kind, Reply>> = {
  MAIL: reply(501, "Error: Bad sender address syntax", "5.1.7"),
  RCPT: reply(501, "Error: Bad recipient address syntax", "5.1.3"),
};
const BAD_PARAM = reply(501, "Error: Bad command parameter syntax");
const BAD_SIZE = reply(501, "Error: Bad message size syntax");
const BAD_RET = reply(501, "Invalid RET parameter value. Must be FULL or HDRS");
const BAD_ENVID = reply(
  501,
  `Error: ENVID parameter must not exceed ${MAX_ENVID_LENGTH} characters`,
);
const BAD_SMTPUTF8 = reply(501, "Invalid SMTPUTF8 parameter. This flag does not accept a value");
const BAD_REQUIRETLS = reply(
  501,
  "Invalid REQUIRETLS parameter. This flag does not accept a value",
);
const REQUIRETLS_NOT_SECURE = reply(530, "REQUIRETLS not permitted on non-TLS connections");
const BAD_NOTIFY = reply(501, "Error: NOTIFY parameter must be NEVER, SUCCESS, FAILURE, or DELAY");
const BAD_NOTIFY_NEVER = reply(501, "Error: NOTIFY=NEVER cannot be combined with other values");
const BAD_ORCPT = reply(501, "Error: Bad ORCPT parameter syntax");

function unsupported(key: string): Reply {
  // RFC 5321 4.1.1.11: unrecognised or unimplemented MAIL/RCPT parameters get 555
  return reply(555, `Error: Unsupported parameter ${key}`, "5.5.4");
}

// ---------------------------------------------------------------------------
// Path parsing

/** argText is everything after the verb: `FROM:<a@b.example> SIZE=100 BODY=8BITMIME`. */
export function parseMailFrom(argText: string, opts: PathOptions): PathResult {
  return parseCommand("MAIL", argText, opts);
}

/** argText is everything after the verb: `TO:<a@b.example> NOTIFY=NEVER`. */
export function parseRcptTo(argText: string, opts: PathOptions): PathResult {
  return parseCommand("RCPT", argText, opts);
}

/**
 * The common shape, `FROM:<dot-atom@ldh.domain>` with nothing after it, accepted
 * without the general parser: a dot-atom local part and letter-digit-hyphen labels
 * (no hyphen at a label's ends, no "xn--") are valid as they are and normalise to
 * themselves. Anything else (quotes, literals, IDNs, parameters) takes the full path.
 */
const SIMPLE_MAILBOX_RE =
  /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$/;

function simplePath(kind: Kind, argText: string): string | undefined {
  // "FROM:<" / "TO:<", any case, and the line ends at the first ">".
  const open = kind === "MAIL" ? 5 : 3;
  if (argText.charCodeAt(open) !== 60 /* < */ || argText.charCodeAt(open - 1) !== 58 /* : */) {
    return undefined;
  }
  if (!(kind === "MAIL" ? isFrom(argText) : isTo(argText))) return undefined;
  const close = argText.length - 1;
  if (argText.charCodeAt(close) !== 62 /* > */) return undefined;
  // A client sends the same sender (and often the same recipient) again and again:
  // the last one accepted is recognised without a copy or a regex.
  const last = lastSimple[kind];
  if (
    last !== undefined &&
    close - open - 1 === last.length &&
    argText.startsWith(last, open + 1)
  ) {
    return last;
  }
  if (argText.indexOf(">", open) !== close) return undefined;
  const inner = argText.slice(open + 1, close);
  if (inner.length > MAX_MAILBOX_LENGTH || inner.includes("xn--")) return undefined;
  if (!SIMPLE_MAILBOX_RE.test(inner)) return undefined;
  lastSimple[kind] = inner;
  return inner;
}

/** "FROM" in any case, from character codes (ASCII letters only). */
function isFrom(t: string): boolean {
  return (
    (t.charCodeAt(0) | 0x20) === 0x66 &&
    (t.charCodeAt(1) | 0x20) === 0x72 &&
    (t.charCodeAt(2) | 0x20) === 0x6f &&
    (t.charCodeAt(3) | 0x20) === 0x6d
  );
}

/** "TO" in any case. */
function isTo(t: string): boolean {
  return (t.charCodeAt(0) | 0x20) === 0x74 && (t.charCodeAt(1) | 0x20) === 0x6f;
}

/** The last mailbox `simplePath` accepted, per command (never empty: see the regex). */
const lastSimple: Record<Kind, string | undefined> = { MAIL: undefined, RCPT: undefined };

function parseCommand(kind: Kind, argText: string, opts: PathOptions): PathResult {
  const simple = simplePath(kind, argText);
  if (simple !== undefined) return { ok: true, value: { address: simple, args: false } };
  const prefix = PREFIX[kind].exec(argText);
  if (!prefix) return { ok: false, reply: BAD_SYNTAX[kind] };
  PATH_RE.lastIndex = prefix[0].length;
  const path = PATH_RE.exec(argText);
  const end = PATH_RE.lastIndex;
  // the path must be followed by whitespace or the end of the line
  if (!path || (end < argText.length && !WHITESPACE_RE.test(argText.charAt(end)))) {
    return { ok: false, reply: BAD_ADDRESS[kind] };
  }
  const address = parseMailbox(kind, path[1] ?? "", opts);
  if (address === null) return { ok: false, reply: BAD_ADDRESS[kind] };
  const params = end < argText.length ? argText.slice(end).trim() : "";
  if (!params) return { ok: true, value: { address, args: false } };
  const parsed = parseParams(kind, params);
  return parsed.ok ? { ok: true, value: { address, args: parsed.args } } : parsed;
}

/** The mailbox inside the brackets, normalised, or null when it is not acceptable. */
function parseMailbox(kind: Kind, inner: string, opts: PathOptions): string | null {
  if (inner === "") return kind === "MAIL" ? "" : null; // null reverse-path, MAIL only
  if (inner.charCodeAt(0) === 64 /* @ */) {
    const route = SOURCE_ROUTE_RE.exec(inner);
    if (!route) return null;
    inner = inner.slice(route[0].length);
  }
  if (ADDRESS_UNSAFE_RE.test(inner)) return null;
  // RFC 5321 4.1.1.3: the domainless postmaster recipient must be accepted
  if (kind === "RCPT" && inner.length === 10 && inner.toLowerCase() === "postmaster") return inner;
  const at = splitAt(inner);
  if (at < 0) return null;
  const local = inner.slice(0, at);
  const domain = inner.slice(at + 1);
  if (opts.lenient) return `${local}@${toUnicode(domain) ?? domain}`;
  if (inner.length > MAX_MAILBOX_LENGTH || !validLocalPart(local)) return null;
  const normalised =
    domain.charCodeAt(0) === 91 /* [ */ ? addressLiteral(domain) : toUnicode(domain);
  return normalised === null || !validDomainShape(domain) ? null : `${local}@${normalised}`;
}

/**
 * Index of the "@" that separates local part and domain, or -1. A quoted local part
 * may contain "@"; otherwise there must be exactly one. Both sides must be non-empty.
 */
function splitAt(mailbox: string): number {
  let at: number;
  if (mailbox.charCodeAt(0) === 34 /* " */) {
    const quoted = QUOTED_LOCAL_RE.exec(mailbox);
    if (!quoted) return -1;
    at = quoted[0].length - 1;
    if (mailbox.indexOf("@", at + 1) >= 0) return -1;
  } else {
    at = mailbox.indexOf("@");
    if (at <= 0 || mailbox.indexOf("@", at + 1) >= 0) return -1;
    if (UNQUOTED_LOCAL_BAD_RE.test(mailbox.slice(0, at))) return -1;
  }
  return at < mailbox.length - 1 ? at : -1;
}

/** Dot-atom shape of an unquoted local part: no dot at either end, no "..". */
function validLocalPart(local: string): boolean {
  if (local.charCodeAt(0) === 34 /* " */) return true; // checked by QUOTED_LOCAL_RE
  return !local.startsWith(".") && !local.endsWith(".") && !local.includes("..");
}

/** Domain names (not literals): labels as DOMAIN_RE, no hyphen next to a dot. */
function validDomainShape(domain: string): boolean {
  if (domain.charCodeAt(0) === 91 /* [ */) return true; // checked by addressLiteral
  return DOMAIN_RE.test(domain) && !DOMAIN_HYPHEN_RE.test(domain);
}

/**
 * RFC 5321 4.1.3 address literals: `[IPv4]` or `[IPv6:addr]` (IPv6 normalised to
 * RFC 5952 text, as smtp-server does). Returns null for anything else.
 */
function addressLiteral(domain: string): string | null {
  if (!domain.endsWith("]")) return null;
  const content = domain.slice(1, -1);
  if (content.length > 5 && content.slice(0, 5).toUpperCase() === "IPV6:") {
    const ip = content.slice(5);
    return isIPv6(ip) ? `[IPv6:${normalizeIPv6(ip)}]` : null;
  }
  return isIPv4(content) ? domain : null;
}

/** Decodes "xn--" labels to Unicode (as smtp-server's punycode.toUnicode); null if one is invalid. */
function toUnicode(domain: string): string | null {
  if (!domain.includes("xn--")) return domain;
  const labels = domain.split(".");
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i] ?? "";
    if (!label.startsWith("xn--")) continue;
    const decoded = domainToUnicode(label);
    if (decoded === "") return null;
    labels[i] = decoded;
  }
  return labels.join(".");
}

// ---------------------------------------------------------------------------
// IPv6 text normalisation (RFC 5952): lower case, no leading zeros, the longest run
// of two or more zero groups (the first on a tie) as "::", an IPv4 tail kept dotted,
// a zone index kept. Input has passed net.isIPv6().

export function normalizeIPv6(address: string): string {
  let rest = address.toLowerCase();
  const zoneAt = rest.indexOf("%");
  const zone = zoneAt < 0 ? "" : rest.slice(zoneAt);
  if (zoneAt >= 0) rest = rest.slice(0, zoneAt);
  let ipv4 = "";
  const lastColon = rest.lastIndexOf(":");
  if (rest.indexOf(".", lastColon) >= 0) {
    ipv4 = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon + 1);
    if (!rest.endsWith("::")) rest = rest.slice(0, -1);
  }
  const groups = expandGroups(rest, ipv4 ? 6 : 8);
  if (!groups) return address.toLowerCase();
  let out = compressGroups(groups);
  if (ipv4) out += (out.endsWith(":") ? "" : ":") + ipv4;
  return out + zone;
}

function expandGroups(hex: string, total: number): string[] | null {
  const halves = hex.split("::");
  if (halves.length > 2) return null;
  const head = halves[0] ? halves[0].split(":") : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(":") : [];
  const missing = total - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  const groups = [...head, ...new Array<string>(missing).fill("0"), ...tail];
  return groups.map((g) => Number.parseInt(g, 16).toString(16));
}

function compressGroups(groups: readonly string[]): string {
  let bestAt = -1;
  let bestLength = 1; // RFC 5952 4.2.2: a single zero group is not compressed
  for (let i = 0; i < groups.length; ) {
    let j = i;
    while (groups[j] === "0") j++;
    if (j - i > bestLength) {
      bestAt = i;
      bestLength = j - i;
    }
    i = j === i ? i + 1 : j;
  }
  if (bestAt < 0) return groups.join(":");
  const head = groups.slice(0, bestAt).join(":");
  const tail = groups.slice(bestAt + bestLength).join(":");
  return `${head}::${tail}`;
}

// ---------------------------------------------------------------------------
// Parameter syntax

/**
 * `KEY=VALUE` or bare `KEY` tokens (whitespace-separated, non-empty text).
 * Keys upper-cased, values xtext-decoded, `KEY=` counts as bare (smtp-server).
 */
function parseParams(
  kind: Kind,
  text: string,
): { ok: true; args: SmtpArgs } | { ok: false; reply: Reply } {
  const args: SmtpArgs = {};
  let duplicate: string | undefined;
  for (const token of text.split(WHITESPACE_RE)) {
    const eq = token.indexOf("=");
    const key = (eq < 0 ? token : token.slice(0, eq)).toUpperCase();
    if (key === "") continue; // smtp-server skips parameters without a name
    if (!KEYWORD_RE.test(key)) return { ok: false, reply: BAD_PARAM };
    const raw = eq < 0 ? "" : token.slice(eq + 1);
    const value = raw === "" ? true : decodeXtext(raw);
    // control characters (CRLF smuggled through xtext: ENVID=a+0D+0Ab) are injection
    if (value !== true && CONTROL_RE.test(value)) return { ok: false, reply: BAD_PARAM };
    if (duplicate === undefined && Object.hasOwn(args, key)) duplicate = key;
    args[key] = value;
  }
  // RFC 3461 section 4: a parameter can only be given once
  if (duplicate !== undefined) {
    return { ok: false, reply: reply(501, `Error: duplicate ${duplicate} parameter`) };
  }
  for (const key of VALUE_PARAMS[kind]) {
    if (args[key] === true) {
      return { ok: false, reply: reply(501, `Error: ${key} parameter requires a value`) };
    }
  }
  return { ok: true, args };
}

// ---------------------------------------------------------------------------
// MAIL parameters

export interface MailParamContext {
  /**
   * The session opened with EHLO/LHLO. After HELO nothing was offered: SIZE= is
   * refused (555) like the other flags' parameters; after EHLO it is taken whether or
   * not SIZE was advertised, as smtp-server does
   */
  esmtp: boolean;
  /** maximum message size in octets; 0 = no limit */
  size: number;
  /** the limit is not advertised, so a larger declared SIZE is not refused */
  hideSize: boolean;
  /** DSN advertised -> RET/ENVID accepted and validated */
  dsn: boolean;
  /** TLS active (REQUIRETLS allowed only then) */
  secure: boolean;
  /** REQUIRETLS advertised */
  requireTls: boolean;
  /** SMTPUTF8 advertised */
  smtpUtf8: boolean;
  /** 8BITMIME advertised */
  eightBitMime: boolean;
  /** BINARYMIME advertised (with CHUNKING) */
  binaryMime: boolean;
  /** AUTH offered -> the AUTH= parameter accepted (RFC 4954 5) */
  auth: boolean;
  /** parameters this server knows beyond the standard ones */
  extraParams?: readonly string[];
}

/** The envelope fields a valid MAIL command sets. */
export interface MailParams {
  bodyType: "7bit" | "8bitmime" | "binarymime";
  smtpUtf8: boolean;
  requireTLS: boolean;
  ret: "FULL" | "HDRS" | null;
  envid: string | null;
  declaredSize: number | null;
}

export type MailParamResult = ({ ok: true } & MailParams) | { ok: false; reply: Reply };

/** What a MAIL without parameters means (and where checkMailParams starts). */
export const NO_MAIL_PARAMS: Readonly<{ ok: true } & MailParams> = Object.freeze({
  ok: true,
  bodyType: "7bit",
  smtpUtf8: false,
  requireTLS: false,
  ret: null,
  envid: null,
  declaredSize: null,
});

type MailParamCheck = (
  value: string | true,
  ctx: MailParamContext,
  out: MailParams,
) => Reply | null;

const MAIL_PARAMS: Readonly<Record<string, MailParamCheck>> = {
  SIZE: checkSize,
  BODY: checkBody,
  SMTPUTF8: (value, ctx, out) => {
    if (!ctx.smtpUtf8) return unsupported("SMTPUTF8");
    if (value !== true) return BAD_SMTPUTF8;
    out.smtpUtf8 = true;
    return null;
  },
  REQUIRETLS: (value, ctx, out) => {
    // Not offered at all (hidden, the default): 555 whether or not TLS is on, as for
    // any parameter not offered, rather than a 530 that sends the client to STARTTLS
    // for a 555 after it. Offered after STARTTLS: 530 on a plain connection, as
    // smtp-server answers.
    if (!ctx.requireTls) return unsupported("REQUIRETLS");
    if (!ctx.secure) return REQUIRETLS_NOT_SECURE;
    if (value !== true) return BAD_REQUIRETLS;
    out.requireTLS = true;
    return null;
  },
  RET: (value, ctx, out) => {
    if (!ctx.dsn) return unsupported("RET");
    const ret = String(value).toUpperCase();
    if (ret !== "FULL" && ret !== "HDRS") return BAD_RET;
    out.ret = ret;
    return null;
  },
  ENVID: (value, ctx, out) => {
    if (!ctx.dsn) return unsupported("ENVID");
    const envid = String(value);
    if (encodeXtext(envid).length > MAX_ENVID_LENGTH) return BAD_ENVID;
    out.envid = envid;
    return null;
  },
  // RFC 4954 5: AUTH=<> or AUTH=xtext(mailbox), a parameter of the extension;
  // kept in args for the application
  AUTH: (_value, ctx) => (ctx.auth ? null : unsupported("AUTH")),
};

function checkSize(value: string | true, ctx: MailParamContext, out: MailParams): Reply | null {
  if (!ctx.esmtp) return unsupported("SIZE");
  if (value === true || !SIZE_RE.test(value)) return BAD_SIZE;
  const declared = Number(value);
  if (!ctx.hideSize && ctx.size > 0 && declared > ctx.size) {
    return reply(552, `Error: message exceeds fixed maximum message size ${ctx.size}`, "5.3.4");
  }
  out.declaredSize = declared;
  return null;
}

function checkBody(value: string | true, ctx: MailParamContext, out: MailParams): Reply | null {
  const body = String(value).toLowerCase();
  if (body === "7bit" || (body === "8bitmime" && ctx.eightBitMime)) {
    out.bodyType = body;
  } else if (body === "binarymime" && ctx.binaryMime) {
    out.bodyType = body;
  } else {
    const allowed = ["7BIT"];
    if (ctx.eightBitMime) allowed.push("8BITMIME");
    if (ctx.binaryMime) allowed.push("BINARYMIME");
    const last = allowed.pop();
    const list = allowed.length ? `${allowed.join(", ")} or ${last}` : last;
    return reply(501, `Invalid BODY parameter value. Must be ${list}`);
  }
  return null;
}

function isExtra(key: string, extra: readonly string[] | undefined): boolean {
  return extra?.some((name) => name.toUpperCase() === key) === true;
}

/** Validate MAIL params; on success return the envelope fields to apply. */
export function checkMailParams(addr: SMTPAddress, ctx: MailParamContext): MailParamResult {
  const out: MailParams = { ...NO_MAIL_PARAMS };
  const args = addr.args;
  if (args) {
    for (const key in args) {
      const value = args[key] ?? true;
      const check = Object.hasOwn(MAIL_PARAMS, key) ? MAIL_PARAMS[key] : undefined;
      if (check === undefined) {
        if (isExtra(key, ctx.extraParams)) continue;
        return { ok: false, reply: unsupported(key) };
      }
      const failed = check(value, ctx, out);
      if (failed) return { ok: false, reply: failed };
    }
  }
  return { ok: true, ...out };
}

// ---------------------------------------------------------------------------
// RCPT parameters

export interface RcptParamContext {
  /** DSN advertised -> NOTIFY/ORCPT accepted and validated */
  dsn: boolean;
  /** the transaction's MAIL said SMTPUTF8: ORCPT may carry raw UTF-8 (RFC 6533) */
  smtpUtf8: boolean;
  /**
   * The RCPT line as sent has non-ASCII bytes (default true). The parameters arrive
   * xtext-decoded: without them, non-ASCII in ORCPT came from `+XX` octets (ASCII on
   * the wire, what nodemailer's dsn.recipient sends), not raw UTF-8.
   */
  sentUtf8?: boolean;
  /** parameters this server knows beyond the standard ones */
  extraParams?: readonly string[];
}

export type RcptParamResult = { ok: true; value: SMTPAddress } | { ok: false; reply: Reply };

function checkNotify(value: string | true, dsn: DsnRecipient): Reply | null {
  const notify = String(value).toUpperCase().split(",");
  for (const item of notify) if (!NOTIFY_VALUES.has(item)) return BAD_NOTIFY;
  if (notify.length > 1 && notify.includes("NEVER")) return BAD_NOTIFY_NEVER;
  dsn.notify = notify;
  return null;
}

function checkOrcpt(value: string | true, ctx: RcptParamContext, dsn: DsnRecipient): Reply | null {
  const orcpt = String(value);
  const rawUtf8 = ctx.sentUtf8 !== false && NON_ASCII_RE.test(orcpt);
  if (!ORCPT_RE.test(orcpt) || (!ctx.smtpUtf8 && rawUtf8)) return BAD_ORCPT;
  dsn.orcpt = orcpt;
  return null;
}

/**
 * Validate RCPT params. On success returns a copy of `addr` with `dsn` filled
 * (notify upper-cased array, orcpt as sent, xtext-decoded); `addr` is not changed.
 */
export function checkRcptParams(addr: SMTPAddress, ctx: RcptParamContext): RcptParamResult {
  const args = addr.args;
  if (!args) return { ok: true, value: addr };
  const dsn: DsnRecipient = {};
  for (const key in args) {
    const value = args[key] ?? true;
    let failed: Reply | null;
    if ((key === "NOTIFY" || key === "ORCPT") && ctx.dsn) {
      failed = key === "NOTIFY" ? checkNotify(value, dsn) : checkOrcpt(value, ctx, dsn);
    } else if (isExtra(key, ctx.extraParams)) {
      failed = null;
    } else {
      failed = unsupported(key);
    }
    if (failed) return { ok: false, reply: failed };
  }
  if (dsn.notify === undefined && dsn.orcpt === undefined) return { ok: true, value: addr };
  return { ok: true, value: { ...addr, dsn: { ...addr.dsn, ...dsn } } };
}

// ---------------------------------------------------------------------------
// xtext and SMTPUTF8

/** RFC 3461 4: decodes "+HH" (upper-case hex, as smtp-server) to the character code HH. */
export function decodeXtext(value: string): string {
  if (!value.includes("+")) return value;
  return value.replace(XTEXT_HEX_RE, (_match, hex: string) =>
    String.fromCharCode(Number.parseInt(hex, 16)),
  );
}

/**
 * RFC 3461 4: encodes "+", "=", controls and space as "+HH". Non-ASCII is left as is
 * (RFC 6533 allows UTF-8 with SMTPUTF8), so `decodeXtext(encodeXtext(s)) === s`.
 */
export function encodeXtext(value: string): string {
  return value.replace(
    XTEXT_SPECIAL_RE,
    (ch) => `+${ch.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}`,
  );
}

/** true if the address (or a parameter value) contains non-ASCII, i.e. needs SMTPUTF8 (RFC 6531) */
export function needsSmtpUtf8(address: string): boolean {
  return NON_ASCII_RE.test(address);
}
