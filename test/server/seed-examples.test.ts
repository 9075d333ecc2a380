/**
 * The seed document's examples, run as written against SMTPServer over real sockets,
 * with nodemailer as the client.
 *
 * Sources: bun-smtp's README (quick start: drain the stream with `for await`, then
 * `callback(null)`) and its callback reference (docs/reference/callbacks.md: onRcptTo
 * rejecting an unknown recipient with `err.responseCode = 550`, onMailFrom refusing a
 * blocked sender, onData answering `stream.sizeExceeded` with 552). The stored README
 * has no disk example, so "save to disk" is the quick start with the message written
 * to a file; `Bun.write(path, data)` becomes node:fs `writeFile(path, data)`.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import nodemailer, { type SendMailOptions, type Transporter } from "nodemailer";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { SMTPServer } from "../../src/server/smtp-server.js";
import { RawClient } from "../helpers/raw-client.js";

type Options = NonNullable<ConstructorParameters<typeof SMTPServer>[0]>;

const servers: SMTPServer[] = [];
const transports: Transporter[] = [];

afterEach(async () => {
  for (const t of transports.splice(0)) t.close();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function listen(options: Options): Promise<number> {
  const server = new SMTPServer(options);
  servers.push(server);
  await server.listen(0, "127.0.0.1");
  const address = server.server.address();
  if (!address || typeof address === "string") throw new Error("no TCP address");
  return address.port;
}

function transport(port: number): Transporter {
  const t = nodemailer.createTransport({ host: "127.0.0.1", port, secure: false, ignoreTLS: true });
  transports.push(t);
  return t;
}

/** The bytes nodemailer puts on the wire for `mail` (CRLF line ends). */
async function compose(mail: SendMailOptions): Promise<Buffer> {
  const t = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: "windows" });
  const info = await t.sendMail(mail);
  return info.message as Buffer;
}

async function rejection(p: Promise<unknown>): Promise<Error & { responseCode?: number }> {
  try {
    await p;
  } catch (err) {
    return err as Error & { responseCode?: number };
  }
  throw new Error("expected the send to be rejected");
}

describe("seed example: save incoming mail to disk", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "smtp-fixture-seed-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test("writes every received message to a file, byte for byte", async () => {
    const port = await listen({
      authOptional: true,
      onData(stream, session, callback) {
        async function save() {
          const chunks: Uint8Array[] = [];
          for await (const chunk of stream) {
            chunks.push(chunk);
          }
          await writeFile(join(dir, `${session.id}.eml`), Buffer.concat(chunks));
          callback(null);
        }
        save().catch(callback);
      },
    });
    const raw = await compose({
      from: "sender@example.com",
      to: "rcpt@example.com",
      subject: "Saved to disk",
      text: "Line one\n.line starting with a dot\nLine three\n",
      attachments: [{ filename: "data.bin", content: Buffer.from([0, 1, 2, 254, 255]) }],
    });

    const info = await transport(port).sendMail({
      envelope: { from: "sender@example.com", to: ["rcpt@example.com"] },
      raw,
    });

    expect(info.response).toMatch(/^250 /);
    const files = await readdir(dir);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/\.eml$/);
    const saved = await readFile(join(dir, files[0]!));
    expect(saved.equals(raw)).toBe(true);
  });

  test("saves one file per message on a reused connection", async () => {
    const port = await listen({
      authOptional: true,
      onData(stream, session, callback) {
        async function save() {
          const chunks: Uint8Array[] = [];
          for await (const chunk of stream) chunks.push(chunk);
          await writeFile(
            join(dir, `${session.id}-${session.transaction}.eml`),
            Buffer.concat(chunks),
          );
          callback(null);
        }
        save().catch(callback);
      },
    });
    const t = nodemailer.createTransport({
      host: "127.0.0.1",
      port,
      secure: false,
      ignoreTLS: true,
      pool: true,
      maxConnections: 1,
    });
    transports.push(t);
    for (const n of [1, 2, 3]) {
      await t.sendMail({ from: "a@example.com", to: "b@example.com", subject: `n${n}`, text: "x" });
    }
    const files = (await readdir(dir)).sort();
    expect(files).toHaveLength(3);
    const subjects = await Promise.all(
      files.map(async (f) => /^Subject: (.*)\r$/m.exec(await readFile(join(dir, f), "utf8"))?.[1]),
    );
    expect(subjects).toEqual(["n1", "n2", "n3"]);
  });
});

describe("seed example: reject a sender or a recipient with responseCode 550", () => {
  const options: Options = {
    authOptional: true,
    onMailFrom(address, _session, callback) {
      if (address.address.endsWith("@blocked.example")) {
        return callback(new Error("Sender not allowed"));
      }
      callback(null);
    },
    onRcptTo(address, _session, callback) {
      const known = ["alice@example.com", "bob@example.com"];
      if (!known.includes(address.address)) {
        const err = new Error("No such user") as Error & { responseCode: number };
        err.responseCode = 550;
        return callback(err);
      }
      callback(null);
    },
  };

  test("an unknown recipient gets 550 and the mail is not sent", async () => {
    const port = await listen(options);
    const err = await rejection(
      transport(port).sendMail({ from: "me@example.com", to: "mallory@example.com", text: "hi" }),
    );
    expect(err.responseCode).toBe(550);
    expect(err.message).toContain("550 No such user");
  });

  test("known recipients are accepted and the unknown one is reported as rejected", async () => {
    const port = await listen(options);
    const info = await transport(port).sendMail({
      from: "me@example.com",
      to: ["alice@example.com", "mallory@example.com", "bob@example.com"],
      text: "hi",
    });
    expect(info.accepted).toEqual(["alice@example.com", "bob@example.com"]);
    expect(info.rejected).toEqual(["mallory@example.com"]);
    expect(info.response).toMatch(/^250 /);
  });

  test("a blocked sender gets 550 (the default code for a plain Error)", async () => {
    const port = await listen(options);
    const err = await rejection(
      transport(port).sendMail({
        from: "spam@blocked.example",
        to: "alice@example.com",
        text: "hi",
      }),
    );
    expect(err.responseCode).toBe(550);
    expect(err.message).toContain("Sender not allowed");
  });
});

describe("seed example: size limit answered with 552", () => {
  const seen: Array<{ sizeExceeded: boolean; byteLength: number }> = [];
  const options: Options = {
    authOptional: true,
    size: 1024,
    onData(stream, _session, callback) {
      async function process() {
        for await (const chunk of stream) {
          // drain
          void chunk;
        }
        seen.push({ sizeExceeded: stream.sizeExceeded, byteLength: stream.byteLength });
        if (stream.sizeExceeded) {
          const err = new Error("Message too large") as Error & { responseCode: number };
          err.responseCode = 552;
          return callback(err);
        }
        callback(null);
      }
      process().catch(callback);
    },
  };
  beforeEach(() => {
    seen.length = 0;
  });

  test("nodemailer sees 552 for a message over the limit", async () => {
    const port = await listen(options);
    const err = await rejection(
      transport(port).sendMail({
        from: "a@example.com",
        to: "b@example.com",
        text: "x".repeat(4000),
      }),
    );
    expect(err.responseCode).toBe(552);
    expect(seen).toEqual([{ sizeExceeded: true, byteLength: expect.any(Number) }]);
    expect(seen[0]!.byteLength).toBeGreaterThan(1024);
  });

  test("a message under the limit is accepted and sizeExceeded stays false", async () => {
    const port = await listen(options);
    const info = await transport(port).sendMail({
      from: "a@example.com",
      to: "b@example.com",
      text: "small",
    });
    expect(info.response).toMatch(/^250 /);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.sizeExceeded).toBe(false);
  });

  test("the 552 comes after the data, not at MAIL, when the client declares no SIZE", async () => {
    const port = await listen(options);
    const c = await RawClient.connect(port);
    expect((await c.read()).code).toBe(220);
    expect((await c.command("EHLO raw.test")).lines).toContain("SIZE 1024");
    expect((await c.command("MAIL FROM:<a@example.com>")).code).toBe(250);
    expect((await c.command("RCPT TO:<b@example.com>")).code).toBe(250);
    expect((await c.command("DATA")).code).toBe(354);
    // 14 + 2 + 2000 + 2 = 2018 bytes of message, the limit is 1024
    c.write(`Subject: big\r\n\r\n${"y".repeat(2000)}\r\n.\r\n`);
    const reply = await c.read();
    expect(reply.code).toBe(552);
    expect(seen).toEqual([{ sizeExceeded: true, byteLength: 2018 }]);
    expect((await c.command("QUIT")).code).toBe(221);
  });

  test("a declared SIZE over the limit is refused at MAIL with 552", async () => {
    const port = await listen(options);
    const c = await RawClient.connect(port);
    await c.read();
    await c.command("EHLO raw.test");
    const reply = await c.command("MAIL FROM:<a@example.com> SIZE=5000");
    expect(reply.code).toBe(552);
    expect(seen).toHaveLength(0);
    c.close();
  });
});
