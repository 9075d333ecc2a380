/**
 * An app's mail sender with retries: the code under test in
 * test/faults/examples.test.ts, which runs it against smtp-fixture's faults.
 *
 * nodemailer itself does not retry a message (only its pool moves a message to a
 * fresh connection after a 421): a 451 from a greylisting server, or a connection
 * that drops after the data was sent, comes back as an error and the app decides.
 * This sender retries what is temporary (4xx replies, network failures) and gives
 * up at once on what is permanent (5xx). It sets one Message-ID for every try, so
 * a message delivered twice (a lost acknowledgement) can be recognised downstream.
 *
 * ```ts
 * smtp.use(greylist());
 * const result = await sendWithRetry(nodemailer.createTransport(smtp.transport), mail);
 * expect(result.tries).toBe(2);
 * ```
 */
import { randomUUID } from "node:crypto";
import type { SendMailOptions, Transporter } from "nodemailer";
import type SMTPTransport from "nodemailer/lib/smtp-transport";

export interface RetryPolicy {
  /** Tries in all, the first included. */
  readonly tries: number;
  /** Wait before each retry, in ms (greylisting servers want minutes; tests want 0). */
  readonly backoffMs: number;
}

export interface RetryResult {
  readonly info: SMTPTransport.SentMessageInfo;
  readonly tries: number;
  /** The errors of the failed tries, oldest first. */
  readonly errors: readonly Error[];
}

interface SmtpError extends Error {
  responseCode?: number;
  code?: string;
}

/** Worth another try: a 4xx reply, or a failure before any reply (connection, timeout). */
export function isTransient(err: unknown): boolean {
  const e = err as SmtpError;
  if (typeof e.responseCode === "number") return e.responseCode >= 400 && e.responseCode < 500;
  return e.code === "ECONNECTION" || e.code === "ETIMEDOUT" || e.code === "ESOCKET";
}

export async function sendWithRetry(
  transport: Transporter<SMTPTransport.SentMessageInfo>,
  mail: SendMailOptions,
  policy: RetryPolicy = { tries: 3, backoffMs: 0 },
): Promise<RetryResult> {
  // One Message-ID for every try: duplicates from a lost ack share it.
  const message = { ...mail, messageId: mail.messageId ?? `<${randomUUID()}@app.test>` };
  const errors: Error[] = [];
  for (let tries = 1; ; tries++) {
    try {
      return { info: await transport.sendMail(message), tries, errors };
    } catch (err) {
      errors.push(err as Error);
      if (tries >= policy.tries || !isTransient(err)) throw err;
      await new Promise((resolve) => setTimeout(resolve, policy.backoffMs));
    }
  }
}
