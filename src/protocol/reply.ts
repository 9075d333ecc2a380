/**
 * Replies are values: a code, an optional enhanced status code (RFC 3463) and one
 * or more text lines. `serializeReply` is the only place that turns them into bytes.
 */
export interface Reply {
  readonly code: number;
  /**
   * RFC 3463 enhanced status code. `undefined` means "the default for this code"
   * (see {@link defaultEnhancedCode}); `null` means "never" (greeting, EHLO).
   */
  readonly enhanced?: string | null | undefined;
  readonly lines: readonly string[];
  /**
   * An enhanced code a hook wrote at the start of its message ("5.1.1 User unknown"),
   * taken out of `lines` into `enhanced`: without enhanced codes it is sent where it
   * was written, as smtp-server sends the message.
   */
  readonly leadingCode?: string;
}

export function reply(
  code: number,
  text: string | readonly string[],
  enhanced?: string | null,
): Reply {
  const lines = typeof text === "string" ? [text] : text;
  return enhanced === undefined ? { code, lines } : { code, enhanced, lines };
}

/** RFC 3463 class defaults, used when a reply carries no explicit enhanced code. */
const DEFAULT_ENHANCED: Readonly<Record<number, string>> = {
  211: "2.0.0",
  214: "2.0.0",
  221: "2.0.0",
  235: "2.7.0",
  250: "2.0.0",
  251: "2.1.5",
  252: "2.1.5",
  354: "2.0.0",
  421: "4.4.2",
  450: "4.2.1",
  451: "4.3.0",
  452: "4.2.2",
  454: "4.7.0",
  455: "4.5.4",
  500: "5.5.2",
  501: "5.5.4",
  502: "5.5.1",
  503: "5.5.1",
  504: "5.5.4",
  521: "5.3.2",
  530: "5.7.0",
  534: "5.7.9",
  535: "5.7.8",
  538: "5.7.11",
  550: "5.1.1",
  551: "5.1.6",
  552: "5.2.2",
  553: "5.1.3",
  554: "5.6.0",
  555: "5.5.4",
};

export function defaultEnhancedCode(code: number): string | undefined {
  return DEFAULT_ENHANCED[code];
}

const ENHANCED_RE = /^[245]\.\d{1,3}\.\d{1,3}$/;

export function isEnhancedCode(value: string): boolean {
  return ENHANCED_RE.test(value);
}

/**
 * RFC 5321 4.2 textstring allows HT and printable characters only: a CR or LF would
 * end the reply early (or forge another), NUL and other controls confuse clients.
 */
const CONTROLS = /[\x00-\x08\x0a-\x1f\x7f]+/g;

function textLine(line: string): string {
  return line.replace(CONTROLS, " ");
}

/**
 * Serialises a reply as RFC 5321 4.2.1 multi-line text: `250-first`, ..., `250 last`.
 * With enhanced codes on (ENHANCEDSTATUSCODES advertised), every line carries the
 * code (RFC 2034 section 3); 3xx replies (354, 334) never do.
 */
export function serializeReply(r: Reply, enhancedCodes: boolean): string {
  // The constant replies (see `constantReply`) carry their wire text in both flavours.
  const wire = (r as { readonly [WIRE]?: Wire })[WIRE];
  if (wire === undefined) return serialize(r, enhancedCodes);
  return enhancedCodes ? wire.enhanced : wire.plain;
}

const WIRE = Symbol("wire text");

interface Wire {
  readonly plain: string;
  readonly enhanced: string;
}

/**
 * A reply sent again and again (the catalogue's): frozen, with its wire text made
 * once (a hidden property), not on every send.
 */
export function constantReply(
  code: number,
  text: string | readonly string[],
  enhanced?: string | null,
): Reply {
  const r = reply(code, typeof text === "string" ? [text] : [...text], enhanced);
  const wire: Wire = { plain: serialize(r, false), enhanced: serialize(r, true) };
  Object.defineProperty(r, WIRE, { value: wire });
  Object.freeze(r.lines);
  return Object.freeze(r);
}

/**
 * The enhanced status code `r` goes out with: its own or its code's default, when
 * enhanced codes are on and the reply carries one (never on 3xx, greeting or EHLO).
 */
export function sentEnhancedCode(r: Reply, enhancedCodes: boolean): string | undefined {
  if (!enhancedCodes || r.enhanced === null || (r.code >= 300 && r.code < 400)) return undefined;
  return r.enhanced ?? defaultEnhancedCode(r.code);
}

/** The text lines as sent, without the code and enhanced-code prefix of each. */
export function sentLines(r: Reply, enhancedCodes: boolean): readonly string[] {
  if (r.leadingCode === undefined || enhancedCodes) return r.lines;
  const [first = "", ...rest] = r.lines;
  return [`${r.leadingCode} ${first}`, ...rest];
}

function serialize(r: Reply, enhancedCodes: boolean): string {
  const enhanced = sentEnhancedCode(r, enhancedCodes);
  const prefix = enhanced === undefined ? "" : `${enhanced} `;
  const text = sentLines(r, enhancedCodes);
  const lines = text.length === 0 ? [""] : text.map(textLine);
  const last = lines.length - 1;
  let out = "";
  for (let i = 0; i < last; i++) out += `${r.code}-${prefix}${lines[i]}\r\n`;
  return `${out}${r.code} ${prefix}${lines[last]}\r\n`;
}
