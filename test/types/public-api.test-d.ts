/**
 * Type tests for the public API (expect-type). They run at compile time: `npm test`
 * type-checks the test tree, so a change that breaks a user's types fails here.
 */
import { expectTypeOf } from "expect-type";
import type nodemailer from "nodemailer";
import {
  type AttemptRecord,
  type Capability,
  delay,
  type Inbox,
  type InboxScope,
  inbox,
  type MessageMatch,
  type ReceivedMessage,
  reject,
  type SMTPAddress,
  SMTPError,
  SMTPServer,
  type SMTPServerDataStream,
  type SMTPServerOptions,
  type SMTPSession,
  STRICT_RULES,
  type StrictModeError,
  type StrictRule,
  startTestSmtp,
  type TestSmtp,
  type TestSmtpOptions,
  type Transcript,
  testSmtp,
  type WaitForTimeoutError,
} from "smtp-fixture";
import { createSmtpTest, dumpOnFailure, smtpMatchers, smtpTest } from "smtp-fixture/vitest";

// startTestSmtp: a user call with options, and a bare hook function.
expectTypeOf(startTestSmtp).toBeCallableWith();
expectTypeOf(startTestSmtp).toBeCallableWith({ tls: true, auth: { users: { a: "b" } } });
expectTypeOf(startTestSmtp).toBeCallableWith({
  tls: "implicit",
  profile: "minimal",
  strict: ["bare-lf"],
});
expectTypeOf(startTestSmtp()).resolves.toEqualTypeOf<TestSmtp>();
// @ts-expect-error an unknown profile
void startTestSmtp({ profile: "sendmail" });
// @ts-expect-error the certificate goes in tls: { key, cert, ca }, not at the top level
void startTestSmtp({ tls: true, key: "k", cert: "c" });
// @ts-expect-error onData is not a fixture option: the inbox records every message
void startTestSmtp({ onData: () => {} });
expectTypeOf(testSmtp).returns.toEqualTypeOf<TestSmtp>();
expectTypeOf(inbox).toEqualTypeOf<Inbox>();

// TestSmtp members
declare const smtp: TestSmtp;
expectTypeOf(smtp.host).toBeString();
expectTypeOf(smtp.port).toBeNumber();
expectTypeOf(smtp.url).toBeString();
expectTypeOf(smtp.inbox).toEqualTypeOf<Inbox>();
expectTypeOf(smtp.transcripts).toEqualTypeOf<readonly Transcript[]>();
expectTypeOf(smtp.close()).resolves.toBeVoid();
expectTypeOf(smtp.reset).returns.toBeVoid();
expectTypeOf(smtp[Symbol.asyncDispose]).returns.resolves.toBeVoid();
expectTypeOf(smtp.capabilities.set).toBeCallableWith({ PIPELINING: false, CHUNKING: true });
expectTypeOf(smtp.capabilities.list()).toEqualTypeOf<Capability[]>();
// The transport is what nodemailer.createTransport() accepts.
expectTypeOf(smtp.transport).toMatchTypeOf<Parameters<typeof nodemailer.createTransport>[0]>();

// Inbox and matching
expectTypeOf(smtp.inbox.waitFor("a@b")).resolves.toEqualTypeOf<ReceivedMessage>();
expectTypeOf(smtp.inbox.waitFor(/@b$/, { count: 2 })).resolves.toEqualTypeOf<ReceivedMessage[]>();
expectTypeOf(smtp.inbox.waitFor).toBeCallableWith({
  to: "a@b",
  subject: /hi/,
  header: { "x-a": "1" },
});
expectTypeOf(smtp.inbox.waitFor).toBeCallableWith((m: ReceivedMessage) => m.subject === "x");
expectTypeOf(smtp.inbox.find("a@b")).toEqualTypeOf<ReceivedMessage | undefined>();
expectTypeOf(smtp.inbox.filter(/x/)).toEqualTypeOf<ReceivedMessage[]>();
expectTypeOf(smtp.inbox.expectNone).toBeCallableWith("a@b", { within: 100 });
expectTypeOf(smtp.inbox.dump("dir")).resolves.toEqualTypeOf<string[]>();
expectTypeOf(smtp.inbox.messages).toEqualTypeOf<readonly ReceivedMessage[]>();
expectTypeOf(smtp.inbox.attempts).toEqualTypeOf<readonly AttemptRecord[]>();
expectTypeOf(
  smtp.inbox.waitForAttempt({ outcome: "rejected", stage: "RCPT", code: 550 }),
).resolves.toEqualTypeOf<AttemptRecord>();
expectTypeOf(smtp.inbox.waitForAttempt("a@b", { count: 2 })).resolves.toEqualTypeOf<
  AttemptRecord[]
>();
expectTypeOf(smtp.inbox.scope().waitForAttempt).toBeCallableWith(
  (a: AttemptRecord) => a.reason.startsWith("fault:"),
  { timeout: 100 },
);
// @ts-expect-error: not an outcome
smtp.inbox.waitForAttempt({ outcome: "failed" });
// @ts-expect-error: not a stage
smtp.inbox.waitForAttempt({ stage: "recipient" });
smtp.inbox.waitForAttempt({ stage: "data_end" });
// @ts-expect-error: a message field, not an attempt's
smtp.inbox.waitForAttempt({ subject: "x" });
expectTypeOf(smtp.inbox.scope("t")).toEqualTypeOf<InboxScope>();
expectTypeOf(smtp.inbox.scope().address("alice")).toBeString();
expectTypeOf<string>().toMatchTypeOf<MessageMatch>();

// ReceivedMessage
declare const mail: ReceivedMessage;
expectTypeOf(mail.raw).toEqualTypeOf<Uint8Array>();
expectTypeOf(mail.subject).toEqualTypeOf<string | undefined>();
expectTypeOf(mail.envelope.mailFrom).toEqualTypeOf<Readonly<SMTPAddress> | null>();
expectTypeOf(mail.envelope.rcptTo).toEqualTypeOf<readonly Readonly<SMTPAddress>[]>();
expectTypeOf(mail.session.authUser).toEqualTypeOf<string | undefined>();
// A recorded message is read-only (and frozen at run time).
// @ts-expect-error rcptTo is a readonly array
mail.envelope.rcptTo.push({ address: "x@y", args: false });
// @ts-expect-error session facts are read-only
mail.session.ehloName = "changed";
expectTypeOf(mail.attachments[0]!.sha256).toBeString();
expectTypeOf(mail.links).toEqualTypeOf<readonly string[]>();
// @ts-expect-error a message never changes: its links are read-only
mail.links.push("https://changed.test/");
expectTypeOf(mail.toJSON()).toBeObject();

// Strict mode
expectTypeOf(STRICT_RULES).toEqualTypeOf<readonly StrictRule[]>();
expectTypeOf<StrictModeError>().toHaveProperty("violations");
expectTypeOf<WaitForTimeoutError>().toHaveProperty("received");
expectTypeOf<TestSmtpOptions["strict"]>().toEqualTypeOf<
  boolean | readonly StrictRule[] | undefined
>();

// SMTPServer, smtp-server style
const server = new SMTPServer({
  authOptional: true,
  size: 1024,
  onMailFrom(address, session, callback) {
    expectTypeOf(address).toEqualTypeOf<SMTPAddress>();
    expectTypeOf(session).toEqualTypeOf<SMTPSession>();
    callback(new SMTPError(550, "no", "5.7.1"));
  },
  async onRcptTo(address) {
    if (address.address === "x@y") throw new SMTPError(550, "No such user");
  },
  async onData(stream) {
    expectTypeOf(stream).toEqualTypeOf<SMTPServerDataStream>();
    expectTypeOf(stream.sizeExceeded).toBeBoolean();
    expectTypeOf(stream.byteLength).toBeNumber();
  },
});
expectTypeOf(server.listen(0, "127.0.0.1")).resolves.toEqualTypeOf<SMTPServer>();
expectTypeOf(server.close()).resolves.toBeVoid();
expectTypeOf<SMTPServerOptions>().toHaveProperty("onAuth");
expectTypeOf(new SMTPError(550, "x")).toHaveProperty("responseCode");

// logger: true, console, or a bunyan/pino-style object (entry first, or the message alone)
const bunyanLike = {
  info(_entry: object, _message?: string, ..._args: unknown[]): void {},
  debug(_entry: object, _message?: string, ..._args: unknown[]): void {},
};
const pinoLike: { info: { (obj: object, msg?: string): void; (msg: string): void } } = {
  info: () => {},
};
new SMTPServer({ logger: true, component: "mail-tests", ignoredHosts: ["10.0.0.1"] });
new SMTPServer({ logger: console });
new SMTPServer({ logger: bunyanLike });
new SMTPServer({ logger: pinoLike });
startTestSmtp({ logger: true });
expectTypeOf(server.logger.info).toBeCallableWith("message %s", "arg");
expectTypeOf(server.logger.debug).toBeCallableWith({ tnx: "custom" }, "message");
// @ts-expect-error -- a level name is not a logger
new SMTPServer({ logger: "debug" });

// smtp-fixture/vitest
expectTypeOf(smtpMatchers).toBeObject();
expectTypeOf(smtpTest).toBeFunction();
expectTypeOf(createSmtpTest).toBeCallableWith({ tls: true }, { scope: "test" });
expectTypeOf(dumpOnFailure).toBeCallableWith(smtp, "out");
expectTypeOf(dumpOnFailure).toBeCallableWith({ dir: "out" });
expectTypeOf(dumpOnFailure).toBeCallableWith({ smtp: () => smtp, dir: "out" });
// @ts-expect-error: not an option
dumpOnFailure({ folder: "out" });

// Fault stages in the spellings README shows ("dataEnd", "data-end", any case of the names).
reject.at("dataEnd", 450);
reject.at("data_end", 450);
delay.reply("data-end", 10);
delay.reply("rcpt", 10);
// @ts-expect-error: no such stage
reject.at("DATA_START", 450);

// smtp-server's SNICallback is an option (typed, not only accepted at run time).
new SMTPServer({
  SNICallback(name, cb) {
    cb(name === "" ? new Error("no name") : null);
  },
});
// smtp-server's callback form returns nothing, as Jest's and mocha's `done` hooks need.
expectTypeOf(server.close(() => {})).toBeVoid();
// A scope can be disposed: `using scope = smtp.inbox.scope()`.
expectTypeOf(smtp.inbox.scope()[Symbol.dispose]).returns.toBeVoid();
