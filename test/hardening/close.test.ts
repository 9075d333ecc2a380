/**
 * close() under load: 20 connections in the middle of transactions when close() is
 * called. Each in-flight transaction either completes (250, then 421) or, left
 * unfinished past closeTimeout, is cut with 421 and recorded in attempts;
 * no message is half-recorded (every stored message was acknowledged, every
 * acknowledged one is stored); close() resolves within closeTimeout plus a margin.
 */
import { afterEach, describe, expect, test } from "vitest";
import { hang, startTestSmtp, type TestSmtp } from "../../src/index.js";
import { firing } from "../faults/helpers.js";
import { RawClient, type RawReply } from "../helpers/raw-client.js";
import { CrashWatch, open, within } from "./support.js";

const CLOSE_TIMEOUT = 1000;
const MARGIN = 1500;
const BOUND = 10_000;

let smtp: TestSmtp | undefined;
afterEach(async () => {
  await smtp?.close();
  smtp = undefined;
});

/** Every reply until the server closes the connection. */
async function restOf(c: RawClient): Promise<RawReply[]> {
  await within(c.waitClose(), BOUND, "server closes the connection");
  const out: RawReply[] = [];
  for (;;) {
    try {
      out.push(await c.read());
    } catch {
      return out;
    }
  }
}

async function inTransaction(port: number, tag: string): Promise<RawClient> {
  const c = await RawClient.connect(port);
  expect((await c.read()).code).toBe(220);
  expect((await c.command("EHLO close.test")).code).toBe(250);
  expect((await c.command(`MAIL FROM:<${tag}@client.test>`)).code).toBe(250);
  expect((await c.command(`RCPT TO:<${tag}@server.test>`)).code).toBe(250);
  return c;
}

async function inData(port: number, tag: string): Promise<RawClient> {
  const c = await inTransaction(port, tag);
  expect((await c.command("DATA")).code).toBe(354);
  c.write(`Subject: ${tag}\r\n\r\nfirst half of ${tag}\r\n`);
  return c;
}

const bodyEnd = (tag: string) => `second half of ${tag}\r\n.\r\n`;

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe("close() under load", () => {
  test("20 connections mid-transaction: 250 or 421 each, nothing half-recorded, bounded close", async () => {
    const watch = new CrashWatch().start();
    const gates: Array<{ promise: Promise<void>; resolve: () => void }> = [];
    const entered: Array<() => void> = [];
    smtp = await startTestSmtp({
      closeTimeout: CLOSE_TIMEOUT,
      socketTimeout: 30_000,
      // RCPT for slow-* waits until the test opens the gate (a slow user hook).
      onRcptTo(address, _session, callback) {
        if (!address.address.startsWith("slow")) return callback();
        const gate = deferred();
        gates.push(gate);
        entered.shift()?.();
        void gate.promise.then(() => callback());
      },
    });
    const port = smtp.port;

    // A: mid-DATA, finish after close() was called -> 250, then 421.
    const finishing = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => inData(port, `finish${i}`)));
    // B: MAIL and RCPT done, DATA never sent -> their transaction may go on; cut with
    // 421 at closeTimeout.
    const idle = await Promise.all([0, 1, 2, 3].map((i) => inTransaction(port, `idle${i}`)));
    // C: the whole message written just before close() is called -> 250 or 421.
    const racing = await Promise.all([0, 1, 2, 3].map((i) => inData(port, `race${i}`)));
    // D: mid-DATA and never finishing -> cut at closeTimeout, nothing stored.
    const stalled = await Promise.all([0, 1, 2].map((i) => inData(port, `stall${i}`)));
    // E: RCPT waiting on a slow hook when close() is called -> RCPT answered; DATA
    // never sent, so cut with 421 at closeTimeout.
    const slow: RawClient[] = [];
    for (const i of [0, 1, 2]) {
      const client = await RawClient.connect(port);
      expect((await client.read()).code).toBe(220);
      await client.command("EHLO close.test");
      await client.command(`MAIL FROM:<slow${i}@client.test>`);
      const inHook = new Promise<void>((resolve) => entered.push(resolve));
      client.write(`RCPT TO:<slow${i}@server.test>\r\n`);
      await within(inHook, BOUND, "slow hook entered");
      slow.push(client);
    }
    expect(finishing.length + idle.length + racing.length + stalled.length + slow.length).toBe(20);

    for (const [i, c] of racing.entries()) c.write(bodyEnd(`race${i}`));
    const t0 = performance.now();
    const closing = smtp.close();
    for (const [i, c] of finishing.entries()) c.write(bodyEnd(`finish${i}`));
    for (const g of gates) g.resolve();

    const [fin, idl, rac, stl, slw] = await Promise.all(
      [finishing, idle, racing, stalled, slow].map((group) => Promise.all(group.map(restOf))),
    );
    await within(closing, CLOSE_TIMEOUT + MARGIN + BOUND, "close()");
    const closeMs = performance.now() - t0;
    expect(closeMs, "close() resolves within closeTimeout + margin").toBeLessThan(
      CLOSE_TIMEOUT + MARGIN,
    );

    const codes = (g: RawReply[][] | undefined) => (g ?? []).map((rs) => rs.map((r) => r.code));
    for (const rs of codes(fin)) expect(rs).toEqual([250, 421]);
    for (const rs of codes(idl)) expect(rs).toEqual([421]);
    for (const rs of codes(rac)) expect([[250, 421], [421]]).toContainEqual(rs);
    for (const rs of codes(slw)) expect(rs).toEqual([250, 421]);
    for (const rs of codes(stl)) expect(rs.filter((c) => c === 250)).toEqual([]);

    // Nothing half-recorded: stored === acknowledged, message by message.
    const acked = new Set<string>();
    for (const [i, rs] of (fin ?? []).entries()) if (rs[0]?.code === 250) acked.add(`finish${i}`);
    for (const [i, rs] of (rac ?? []).entries()) if (rs[0]?.code === 250) acked.add(`race${i}`);
    const accepted = smtp.inbox.attempts.filter((a) => a.outcome === "accepted").length;
    expect(accepted).toBe(acked.size);
    await smtp.inbox.waitFor(() => true, { count: accepted, timeout: 5000 });
    const stored = smtp.inbox.messages.map((m) => m.subject ?? "?");
    expect(new Set(stored)).toEqual(acked);
    expect(stored).toHaveLength(acked.size);
    for (const m of smtp.inbox.messages) {
      expect(m.acknowledged).toBe(true);
      expect(Buffer.from(m.raw).toString()).toBe(
        `Subject: ${m.subject}\r\n\r\nfirst half of ${m.subject}\r\n${bodyEnd(m.subject!).slice(0, -3)}`,
      );
    }

    // The cut transactions are in attempts with the 421 they got: aborted, like a
    // message cut in its data (no final reply ended them).
    const cut = (stage: string) =>
      smtp!.inbox.attempts
        .filter((a) => a.stage === stage && a.reason === "server closed (closeTimeout)")
        .map((a) => [
          a.outcome,
          a.reply?.code,
          a.envelope.mailFrom ? a.envelope.mailFrom.address : null,
        ]);
    expect(cut("RCPT").sort()).toEqual([
      ...[0, 1, 2, 3].map((i) => ["aborted", 421, `idle${i}@client.test`]),
      ...[0, 1, 2].map((i) => ["aborted", 421, `slow${i}@client.test`]),
    ]);
    expect(cut("DATA_END").sort()).toEqual(
      [0, 1, 2].map((i) => ["aborted", 421, `stall${i}@client.test`]),
    );

    // The port is released: a new client is refused.
    await expect(open(port)).rejects.toThrow(/ECONNREFUSED/);
    await watch.stopAfterReports();
    expect(watch.errors, watch.describe()).toEqual([]);
  });

  test("a client stalled mid-DATA is told 421 before closeTimeout cuts it", async () => {
    smtp = await startTestSmtp({ closeTimeout: 300, socketTimeout: 30_000 });
    const c = await inData(smtp.port, "stalled");
    const closing = smtp.close();
    const replies = await restOf(c);
    await within(closing, 300 + MARGIN, "close()");
    expect(replies.map((r) => r.code)).toEqual([421]);
    expect(smtp.inbox.attempts).toEqual([
      expect.objectContaining({
        stage: "DATA_END",
        outcome: "aborted",
        reply: { code: 421, enhanced: "4.4.2", text: "Server shutting down" },
        reason: "server closed (closeTimeout)",
      }),
    ]);
  });

  test("a client between RCPT and DATA may still send its message after close() is called", async () => {
    smtp = await startTestSmtp({ closeTimeout: 5000 });
    const c = await inTransaction(smtp.port, "late");
    const closing = smtp.close();
    expect((await c.command("DATA")).code).toBe(354);
    c.write("Subject: late\r\n\r\nstill delivered\r\n.\r\n");
    const replies = await restOf(c);
    await within(closing, MARGIN, "close()");
    expect(replies.map((r) => r.code)).toEqual([250, 421]);
    expect(smtp.inbox.messages.map((m) => m.subject)).toEqual(["late"]);
  });

  test("with the fixture's defaults a stalled client holds close() 2 s, not smtp-server's 30 s", async () => {
    // vitest's hook timeout is 10 s and Jest's 5 s: afterAll(() => smtp.close()) must fit.
    smtp = await startTestSmtp({ socketTimeout: 30_000 });
    const c = await inData(smtp.port, "stalled");
    const closing = smtp.close();
    const replies = await restOf(c);
    await within(closing, 2000 + MARGIN, "close()");
    expect(replies.map((r) => r.code)).toEqual([421]);
  });

  test("a connection hung by a hang() fault is let go by close() at once, with 421", async () => {
    smtp = await startTestSmtp({ closeTimeout: 60_000, socketTimeout: 60_000 });
    const atMailHang = firing(hang("MAIL", { once: true }));
    const inBodyHang = firing(hang.during("DATA", { afterBytes: 10, once: true }));
    smtp.use(atMailHang.fault, inBodyHang.fault);
    const atMail = await RawClient.connect(smtp.port);
    await atMail.read();
    await atMail.command("EHLO hung.test");
    atMail.write("MAIL FROM:<a@client.test>\r\n");
    const inBody = await inData(smtp.port, "hung");
    // Both faults have fired before close() is called, each on its own connection.
    await within(
      Promise.all([atMailHang.fired, inBodyHang.fired]),
      BOUND,
      "both hang faults fired",
    );
    expect(smtp.transcripts.filter((t) => /fault fired: hang/.test(t.toString()))).toHaveLength(2);
    const closing = smtp.close();
    const [first, second] = await Promise.all([restOf(atMail), restOf(inBody)]);
    await within(closing, MARGIN, "close()");
    expect(first.map((r) => r.code)).toEqual([421]);
    expect(second.map((r) => r.code)).toEqual([421]);
    expect(smtp.inbox.messages).toEqual([]);
    // Each hang's attempt ends with the 421 its client got.
    const hung = smtp.inbox.attempts.filter((a) => a.outcome === "aborted");
    expect(hung.map((a) => [a.stage, a.reason, a.reply?.code])).toEqual([
      ["MAIL", "fault: hang(MAIL) [once] (server closed)", 421],
      ["DATA_END", `fault: hang.during("DATA", { afterBytes: 10 }) [once] (server closed)`, 421],
    ]);
  });

  test("a hang that begins after close() was called is let go at once too", async () => {
    smtp = await startTestSmtp({ closeTimeout: 60_000, socketTimeout: 60_000 });
    const release = deferred();
    const applied = deferred();
    // A fault whose directive (a hang) arrives only when the test says so.
    smtp.use({
      name: "late hang",
      stages: ["MAIL"],
      times: 1,
      matches: () => true,
      apply: async () => {
        applied.resolve();
        await release.promise;
        return { hang: true };
      },
    });
    const c = await RawClient.connect(smtp.port);
    await c.read();
    await c.command("EHLO late.test");
    c.write("MAIL FROM:<a@client.test>\r\n");
    await within(applied.promise, BOUND, "the late hang fault applied");
    expect(smtp.transcripts[0]!.toString()).toContain("fault fired: late hang at MAIL");
    const closing = smtp.close();
    release.resolve();
    const replies = await restOf(c);
    await within(closing, MARGIN, "close()");
    expect(replies.map((r) => r.code)).toEqual([421]);
  });

  test("close() with no connections resolves at once, and twice is the same promise", async () => {
    smtp = await startTestSmtp();
    const t0 = performance.now();
    const a = smtp.close();
    const b = smtp.close();
    expect(a).toBe(b);
    await within(a, 1000, "close()");
    expect(performance.now() - t0).toBeLessThan(500);
  });
});
