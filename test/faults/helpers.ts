/**
 * Shared pieces for the failure-injection tests: a nodemailer send that returns
 * the error instead of throwing, a raw client past the greeting, and the check
 * that the server still serves the next client after a fault.
 */
import nodemailer from "nodemailer";
import type SMTPTransport from "nodemailer/lib/smtp-transport";
import { expect } from "vitest";
import type { AttemptRecord, Fault, TestSmtp } from "../../src/index.js";
import { RawClient } from "../helpers/raw-client.js";

export interface SendError extends Error {
  code?: string;
  responseCode?: number;
  response?: string;
  command?: string;
}

export type SendOutcome =
  | { ok: true; info: SMTPTransport.SentMessageInfo }
  | { ok: false; error: SendError };

export const MAIL = {
  from: "app@sender.test",
  to: "bob@example.com",
  subject: "Hello",
  text: "Hello from the app",
};

export type MailPatch = Omit<Partial<typeof MAIL>, "to"> & {
  to?: string | string[];
  cc?: string | string[];
};

/** Sends with nodemailer (one connection per message); never throws. */
export async function send(
  smtp: TestSmtp,
  mail: MailPatch = {},
  options: SMTPTransport.Options = {},
): Promise<SendOutcome> {
  const transport = nodemailer.createTransport({ ...smtp.transport, ...options });
  try {
    return { ok: true, info: await transport.sendMail({ ...MAIL, ...mail }) };
  } catch (err) {
    return { ok: false, error: err as SendError };
  } finally {
    transport.close();
  }
}

/** Sends and expects a failure; returns the error. */
export async function sendFails(
  smtp: TestSmtp,
  mail: MailPatch = {},
  options: SMTPTransport.Options = {},
): Promise<SendError> {
  const out = await send(smtp, mail, options);
  if (out.ok) throw new Error(`expected the send to fail, got ${out.info.response}`);
  return out.error;
}

/** A raw client that has read the greeting (and sent EHLO when asked). */
export async function rawClient(smtp: TestSmtp, ehlo = true): Promise<RawClient> {
  const c = await RawClient.connect(smtp.port);
  const greeting = await c.read();
  expect(greeting.code).toBe(220);
  if (ehlo) expect((await c.command("EHLO raw.test")).code).toBe(250);
  return c;
}

/** The server still serves a fresh client: a nodemailer send arrives in the inbox. */
/** One message, then the MAIL of the next: what closeAfterMessages(1) answers 421. */
export const ONE_MESSAGE_THEN_MAIL = [
  "MAIL FROM:<app@sender.test>",
  "RCPT TO:<bob@example.com>",
  "DATA",
  "Subject: 1\r\n\r\nbody\r\n.",
  "MAIL FROM:<app@sender.test>",
] as const;

/** Sends each line as a command, in turn; the reply codes. */
export async function commandCodes(c: RawClient, lines: readonly string[]): Promise<number[]> {
  const codes: number[] = [];
  for (const line of lines) codes.push((await c.command(line)).code);
  return codes;
}

export async function expectServesNext(smtp: TestSmtp, to = "next@example.com"): Promise<void> {
  const out = await send(smtp, { to, subject: "next client" });
  if (!out.ok) throw new Error(`the next client failed: ${out.error.message}`);
  const mail = await smtp.inbox.waitFor(to);
  expect(mail.subject).toBe("next client");
}

/** Attempts whose reason names a fault. */
export function faultAttempts(smtp: TestSmtp): AttemptRecord[] {
  return smtp.inbox.attempts.filter((a) => a.reason.startsWith("fault:"));
}

/** The transcript of connection `n` (server numbering) as text. */
export function transcriptOf(smtp: TestSmtp, connection: number): string {
  const t = smtp.transcripts.find((x) => x.connection === connection);
  if (!t) throw new Error(`no transcript for connection ${connection}`);
  return t.toString();
}

/** The newest transcript as text. */
export function lastTranscript(smtp: TestSmtp): { connection: number; text: string } {
  const t = smtp.transcripts.at(-1);
  if (!t) throw new Error("no transcripts");
  return { connection: t.connection, text: t.toString() };
}

/**
 * `fault` as it is (same name, stages, turns and directive), and a promise that
 * resolves when it fires. The registry calls `apply` right after noting "fault
 * fired" in the transcript, and records the attempt in the same synchronous step,
 * so both are there once `fired` resolves.
 */
export function firing(fault: Fault): { fault: Fault; fired: Promise<void> } {
  let fire!: () => void;
  const fired = new Promise<void>((resolve) => {
    fire = resolve;
  });
  return {
    fault: {
      ...fault,
      apply(ctx) {
        fire();
        return fault.apply(ctx);
      },
    },
    fired,
  };
}
