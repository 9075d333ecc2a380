/**
 * Pre-built wire data for the benchmark client: messages of an exact size (CRLF
 * lines, no line starting with "."), and the command groups sent per message.
 */

const HEADERS = [
  "From: Bench Sender <sender@bench.test>",
  "To: Bench Recipient <rcpt@bench.test>",
  "Subject: Benchmark message",
  "Date: Mon, 01 Jan 2024 00:00:00 +0000",
  "Message-ID: <bench.1@bench.test>",
  "MIME-Version: 1.0",
  "Content-Type: text/plain; charset=utf-8",
  "Content-Transfer-Encoding: 7bit",
];
/** 76 characters + CRLF = one 78-byte body line. */
const LINE = Buffer.from(
  `${"The quick brown fox jumps over the lazy dog. 0123456789 ".padEnd(76, "abcdefghij")}\r\n`,
);
const MIN_PAD_LINE = "X-Pad: p\r\n".length;

/**
 * A message of exactly `size` bytes: the headers above, an `X-Pad` header that
 * absorbs the remainder, a blank line, then 78-byte text lines. Ends with CRLF.
 */
export function makeMessage(size) {
  const head = Buffer.from(HEADERS.map((h) => `${h}\r\n`).join(""));
  const avail = size - head.length - 2; // 2: the blank line
  if (avail < MIN_PAD_LINE) throw new Error(`makeMessage: ${size} bytes is too small`);
  const lines = Math.floor((avail - MIN_PAD_LINE) / LINE.length);
  const padLine = avail - lines * LINE.length; // in [10, 87]
  const pad = Buffer.from(`X-Pad: ${"p".repeat(padLine - 9)}\r\n`);
  const out = Buffer.allocUnsafe(size);
  let at = head.copy(out, 0);
  at += pad.copy(out, at);
  at += out.write("\r\n", at, "latin1");
  if (lines > 0) out.fill(LINE, at, at + lines * LINE.length);
  if (at + lines * LINE.length !== size) throw new Error("makeMessage: size arithmetic");
  return out;
}

export const SENDER = "sender@bench.test";
export const RECIPIENT = "rcpt@bench.test";

/** The wire data for a message body `msg`, sent the same way to every server. */
export function wire(msg, rcpt = RECIPIENT) {
  const mail = Buffer.from(`MAIL FROM:<${SENDER}>\r\n`);
  const rcptTo = Buffer.from(`RCPT TO:<${rcpt}>\r\n`);
  const data = Buffer.from("DATA\r\n");
  const end = Buffer.from(".\r\n");
  const envelope = Buffer.concat([mail, rcptTo, data]);
  return {
    size: msg.length,
    mail,
    rcpt: rcptTo,
    data,
    /** MAIL + RCPT + DATA in one write (RFC 2920: DATA ends a group). */
    envelope,
    /** The body and its terminator. */
    body: Buffer.concat([msg, end]),
    /** The body, then the next transaction's MAIL + RCPT + DATA (content may open a group). */
    bodyThenEnvelope: Buffer.concat([msg, end, envelope]),
    /** The body, then QUIT. */
    bodyThenQuit: Buffer.concat([msg, end, Buffer.from("QUIT\r\n")]),
  };
}

export const EHLO = Buffer.from("EHLO client.bench.test\r\n");
export const QUIT = Buffer.from("QUIT\r\n");
