/**
 * A small app that sends mail: `signup()` stores a user and sends a welcome mail
 * with nodemailer. The SMTP settings are injected, as an app would read them from
 * its config; the tests hand it `smtp.transport` from smtp-fixture.
 */
import { randomUUID } from "node:crypto";
import nodemailer, { type Transporter } from "nodemailer";
import type SMTPTransport from "nodemailer/lib/smtp-transport/index.js";

export interface AppConfig {
  /** Anything `nodemailer.createTransport()` accepts; in tests, `smtp.transport`. */
  smtp: SMTPTransport.Options;
  /** Base URL for links in mails. */
  baseUrl: string;
}

export interface User {
  id: string;
  email: string;
  name: string;
}

export class App {
  readonly users = new Map<string, User>();
  readonly #mailer: Transporter<SMTPTransport.SentMessageInfo>;
  readonly #baseUrl: string;

  constructor(config: AppConfig) {
    this.#mailer = nodemailer.createTransport(config.smtp);
    this.#baseUrl = config.baseUrl;
  }

  /** Registers a user and sends the welcome mail with a confirmation link. */
  async signup(email: string, name: string): Promise<User> {
    if (!/^[^@\s]+@[^@\s]+$/.test(email)) throw new Error(`invalid email: ${email}`);
    const user: User = { id: randomUUID(), email, name };
    this.users.set(user.id, user);
    const link = `${this.#baseUrl}/confirm?user=${user.id}`;
    const info = await this.#mailer.sendMail({
      from: '"Example App" <noreply@app.test>',
      to: { name, address: email },
      bcc: "audit@app.test",
      subject: `Welcome, ${name}!`,
      text: `Hi ${name},\n\nplease confirm your address: ${link}\n`,
      html: `<p>Hi ${escapeHtml(name)},</p><p><a href="${link}">Confirm your address</a></p>`,
      headers: { "X-Mail-Kind": "welcome" },
      attachments: [{ filename: "terms.txt", content: "Be excellent to each other.\n" }],
    });
    // nodemailer resolves when some recipients were accepted: a refused user is an error here.
    if (info.rejected.length > 0) {
      this.users.delete(user.id);
      throw new Error(`the mail server refused ${info.rejected.map(String).join(", ")}`);
    }
    return user;
  }

  close(): void {
    this.#mailer.close();
  }
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
