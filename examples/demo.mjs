// The main job, end to end: start the fixture, send real mail through it with
// nodemailer, wait for it, and show what arrived. Run with `npm run demo`.
import nodemailer from "nodemailer";
import { reject, startTestSmtp } from "smtp-fixture";

const smtp = await startTestSmtp({ tls: "starttls", auth: { users: { app: "s3cret" } } });
console.log(`smtp-fixture listening on ${smtp.url} (STARTTLS, AUTH required)\n`);

const mailer = nodemailer.createTransport(smtp.transport);
const sends = [
  {
    from: "noreply@app.test",
    to: "alice@example.com",
    subject: "Welcome",
    text: "Hello Alice!\nVisit https://app.test/start",
  },
  {
    from: "noreply@app.test",
    to: "bob@example.com",
    bcc: "audit@example.com",
    subject: "Grüße aus Köln ✉",
    html: '<p>Hi Bob, <a href="https://app.test/confirm?id=42">confirm</a></p>',
    attachments: [{ filename: "report.csv", content: "id,total\n1,42\n" }],
  },
];
for (const mail of sends) await mailer.sendMail(mail);

const [welcome] = await Promise.all([
  smtp.inbox.waitFor("alice@example.com"),
  smtp.inbox.waitFor({ to: "bob@example.com" }),
]);
console.log(
  `first message: ${welcome.subject} -> ${welcome.to.map((a) => a.address).join(", ")}\n`,
);

for (const m of smtp.inbox.messages) {
  console.log(`#${m.id}  ${m.subject}`);
  console.log(
    `  envelope: ${m.envelope.mailFrom?.address} -> ${m.envelope.rcptTo.map((r) => r.address).join(", ")}`,
  );
  console.log(`  bcc:      ${m.bcc.map((b) => b.address).join(", ") || "(none)"}`);
  console.log(
    `  session:  EHLO ${m.session.ehloName}, ${m.session.tls ? m.session.tls.version : "plain"}, AUTH ${m.session.authUser} via ${m.session.authMethod}`,
  );
  console.log(`  links:    ${m.links.join(" ") || "(none)"}`);
  for (const a of m.attachments)
    console.log(
      `  attached: ${a.filename} (${a.contentType}, ${a.size} bytes, sha256 ${a.sha256.slice(0, 12)}...)`,
    );
  console.log(`  raw:      ${m.raw.length} bytes, exactly as received`);
}

console.log("\nthe conversation of the first connection (credentials masked):");
console.log(smtp.transcripts[0].toString().split("\n").slice(0, 30).join("\n"));

// And on purpose, the way a test of the app's error handling does: the server refuses
// one recipient; the app's send fails, and the refusal is there to await and read.
smtp.use(reject.rcpt("mallory@example.com", 550, "5.1.1 No such user"));
const failed = mailer
  .sendMail({ from: "noreply@app.test", to: "mallory@example.com", subject: "Hi", text: "x" })
  .catch((error) => error);
const refused = await smtp.inbox.waitForAttempt({ to: "mallory@example.com", code: 550 });
console.log(
  `\nrefused on purpose: ${refused.command} -> ${refused.reply.code} ${refused.reply.text}`,
);
console.log(`  why: ${refused.reason}; the app saw: ${(await failed).message}`);
await smtp.close();
