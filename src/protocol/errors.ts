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
    if (!Number.isInteger(responseCode) || !isRefusalCode(responseCode)) {
      throw new RangeError(
        `SMTPError: responseCode must be a refusal (an SMTP reply code between 400 and 599), got ${String(responseCode)}`,
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

/** A refusal's code: 4xx or 5xx. A 2xx or 3xx would tell the client the command went through. */
export function isRefusalCode(code: unknown): code is number {
  return typeof code === "number" && code >= 400 && code < 600;
}

/** Internal error: what a hook that crashed (or rejected with a non-Error) gets. */
function localError(): Reply {
  return reply(451, "Error: internal server error", "4.3.0");
}

/**
 * Maps anything a hook rejected with to the reply the client gets; the single place
 * where errors become replies. An error with a `responseCode` that is a refusal
 * (400 to 599) gets that code (an enhanced code is taken from
 * `enhancedCode` or from the start of the message, and kept only when its class
 * matches the code's); any other error, a 2xx or 3xx `responseCode` included, gets
 * `fallbackCode` (550, as smtp-server does for `callback(err)`): a refusal never goes
 * out as a success. Something that is not an Error at all (a hook crashed with a
 * string, `undefined`), or an error whose fields cannot be read, is a local fault: 451.
 */
export function errorToReply(err: unknown, fallbackCode = 550): Reply {
  try {
    if (!(err instanceof Error) && !(err && typeof err === "object" && "responseCode" in err)) {
      return localError();
    }
    const e = err as { responseCode?: unknown; message?: unknown; enhancedCode?: unknown };
    const rc = e.responseCode;
    const code = isRefusalCode(rc) ? Math.trunc(rc) : fallbackCode;
    const message = e.message;
    let text = typeof message === "string" && message ? message : "Error";
    const given = e.enhancedCode;
    let enhanced = typeof given === "string" ? given : undefined;
    const lead = LEADING_ENHANCED.exec(text);
    if (lead) {
      enhanced ??= lead[1];
      text = text.slice(lead[0].length);
    }
    // RFC 3463: the enhanced code's class is the reply's ("2.0.0" on a 550 would
    // contradict it); a mismatched one gives way to the code's default.
    if (enhanced !== undefined && enhanced[0] !== String(code)[0]) enhanced = undefined;
    // Any line break (CRLF, bare LF, bare CR) starts a new reply line, never a new reply.
    const r = reply(code, text.split(/\r\n|\r|\n/), enhanced);
    // Without enhanced codes, the message goes out as written, its leading code too.
    return lead ? { ...r, leadingCode: lead[1] as string } : r;
  } catch {
    // A getter that throws, a revoked Proxy: the hook is at fault, not the client.
    return localError();
  }
}
