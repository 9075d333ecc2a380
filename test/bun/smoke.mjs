/**
 * Bun smoke suite: the built package (dist) under Bun. The fixture with STARTTLS
 * (nodemailer verifies the certificate with the test CA), then a plain SMTPServer
 * with onData. Prints "OK" and exits 0, or prints the failure and exits 1.
 * Run by test/bun/smoke.test.ts as `bun test/bun/smoke.mjs`.
 */
import nodemailer from "nodemailer";
import { loadTestCertificates, SMTPServer, startTestSmtp } from "../../dist/index.js";

// A hang is a failure too: nothing here should take seconds.
setTimeout(() => {
  console.error("FAIL: the smoke suite did not finish within 20 s");
  process.exit(1);
}, 20_000).unref();

function check(condition, what) {
  if (!condition) throw new Error(`check failed: ${what}`);
}

async function fixtureOverStarttls() {
  const smtp = await startTestSmtp({ tls: "starttls" });
  try {
    check(smtp.transport.requireTLS === true, "transport requires TLS");
    check(smtp.transport.tls?.ca !== undefined, "transport carries the test CA");
    const transport = nodemailer.createTransport(smtp.transport);
    const info = await transport.sendMail({
      from: "bun@client.test",
      to: "inbox@server.test",
      subject: "bun smoke",
      text: "hello from bun",
    });
    check(/^250 /.test(info.response), `250 after the data, got ${info.response}`);
    const mail = await smtp.inbox.waitFor({ subject: "bun smoke" }, { timeout: 5000 });
    check(mail.session.secure === true, "the message came over TLS");
    check(mail.text?.trim() === "hello from bun", `text, got ${JSON.stringify(mail.text)}`);
    check(mail.envelope.rcptTo[0]?.address === "inbox@server.test", "envelope recipient");
    transport.close();
  } finally {
    await smtp.close();
  }
}

async function serverWithOnData() {
  const received = [];
  const server = new SMTPServer({
    disabledCommands: ["AUTH"],
    onData(stream, session, callback) {
      const chunks = [];
      stream.on("data", (c) => chunks.push(c));
      stream.on("end", () => {
        received.push({ secure: session.secure, text: Buffer.concat(chunks).toString() });
        callback(null, "Stored");
      });
    },
  });
  await server.listen(0, "127.0.0.1");
  try {
    const { port } = server.address();
    const transport = nodemailer.createTransport({
      host: "127.0.0.1",
      port,
      secure: false,
      requireTLS: true,
      tls: { ca: loadTestCertificates().ca, servername: "localhost" },
    });
    const info = await transport.sendMail({
      from: "bun@client.test",
      to: "ondata@server.test",
      subject: "bun onData",
      text: "through onData",
    });
    check(
      /^250 /.test(info.response) && info.response.includes("Stored"),
      `reply, got ${info.response}`,
    );
    check(received.length === 1, `one message in onData, got ${received.length}`);
    check(received[0].secure === true, "onData saw a secure session");
    check(received[0].text.includes("Subject: bun onData"), "onData got the message");
    transport.close();
  } finally {
    await server.close();
  }
}

try {
  await fixtureOverStarttls();
  await serverWithOnData();
  const runtime = typeof Bun === "undefined" ? `node ${process.version}` : `bun ${Bun.version}`;
  console.log(`runtime: ${runtime}`);
  console.log("OK");
} catch (err) {
  console.error("FAIL:", err?.stack ?? err);
  process.exit(1);
}
