import { isEnhancedCode, type Reply, reply } from "./reply.js";

/**
 * The one rejection type. Throw it (or pass it to a hook callback) to answer a
 * command with `responseCode` and `message`. A plain `Error` with a numeric
 * `responseCode` is accepted too, for code written against smtp-server.
 */
export class SMTPError extends Error {
  readonly responseCode: number;
  readonly enhancedCode: string | undefined;

  constructor(responseCode: number, message: string, enhancedCode?: string) {
    super(message);
    this.name = "SMTPError";
    if (!Number.isInteger(responseCode) || responseCode < 200 || responseCode > 599) {
      throw new RangeError(
        `SMTPError: responseCode must be an SMTP reply code between 200 and 599, got ${String(responseCode)}`,
      );
    }
    if (enhancedCode !== undefined && !isEnhancedCode(enhancedCode)) {
      throw new RangeError(
        `SMTPError: enhancedCode must look like "5.1.1" (RFC 3463), got ${JSON.stringify(enhancedCode)}`,
      );
    }
    this.responseCode = responseCode;
    this.enhancedCode = enhancedCode;
  }
}

const LEADING_ENHANCED = /^([245]\.\d{1,3}\.\d{1,3}) +/;

/**
 * Maps anything a hook rejected with to the reply the client gets; the single place
 * where errors become replies. An error with a numeric `responseCode` gets that code
 * (an enhanced code is taken from `enhancedCode` or from the start of the message);
 * any other error gets `fallbackCode` (550, as smtp-server does for `callback(err)`).
 * Something that is not an Error at all (a hook crashed with a string, `undefined`)
 * is a local fault: 451.
 */
export function errorToReply(err: unknown, fallbackCode = 550): Reply {
  if (!(err instanceof Error) && !(err && typeof err === "object" && "responseCode" in err)) {
    return reply(451, "Error: internal server error", "4.3.0");
  }
  const e = err as { responseCode?: unknown; message?: unknown; enhancedCode?: unknown };
  const rc = e.responseCode;
  const code = typeof rc === "number" && rc >= 200 && rc <= 599 ? Math.trunc(rc) : fallbackCode;
  let text = typeof e.message === "string" && e.message ? e.message : "Error";
  let enhanced = typeof e.enhancedCode === "string" ? e.enhancedCode : undefined;
  const lead = LEADING_ENHANCED.exec(text);
  if (lead) {
    enhanced ??= lead[1];
    text = text.slice(lead[0].length);
  }
  // Any line break (CRLF, bare LF, bare CR) starts a new reply line, never a new reply.
  return reply(code, text.split(/\r\n|\r|\n/), enhanced);
}
