/**
 * Soak: many messages over 50 concurrent raw connections, with client faults mixed
 * in (RSET mid-transaction, disconnect mid-DATA, disconnect right after the final
 * dot without reading the reply, disconnect between messages) and random server
 * faults (a seeded `chaos()`: 451/421 at MAIL, RCPT and end of data, a cut
 * mid-DATA, a dropped acknowledgement). Afterwards:
 *  - every message that got 250 is in the inbox exactly once, byte-identical
 *    (sha256 of the bytes sent === sha256 of `raw`);
 *  - nothing else is (aborted, reset and refused transactions are absent; a message
 *    whose reply the client never saw may be present once, byte-identical, or absent);
 *  - after `inbox.clear()` and `close()`, open file descriptors are back at the
 *    start level and the heap (after full GCs) is back near its start.
 *
 * Default: the 10,000 messages over 50 connections (about 3 s here);
 * SOAK_SCALE multiplies for a longer run. SOAK_SEED picks the traffic (default 20240601).
 */
import { createHash } from "node:crypto";
import { afterAll, expect, test } from "vitest";
import {
  chaos,
  disconnect,
  dropAfterData,
  reject,
  startTestSmtp,
  type TestSmtp,
} from "../../src/index.js";
import { RawClient, type RawReply } from "../helpers/raw-client.js";
import {
  ClosedCounter,
  CrashWatch,
  dotStuff,
  envCount,
  gcFunction,
  openFds,
  prng,
  settledHeap,
  within,
} from "./support.js";

const SCALE = envCount("SOAK_SCALE", 1);
const MESSAGES = Math.round(10_000 * SCALE);
const CONNECTIONS = 50;
const SEED = Math.round(envCount("SOAK_SEED", 20240601));
const TIMEOUT = 60_000 * Math.max(1, SCALE);
/** Chance that the server fails a stage on purpose (asked at MAIL, RCPT, data, end of data). */
const SERVER_FAULTS = 0.015;
const FAULT_TEXT = `chaos seed ${SEED}`;

/** The server's random faults; each reply names the seed, so the client can tell them apart. */
function serverFaults() {
  return chaos({
    probability: SERVER_FAULTS,
    seed: SEED,
    actions: [
      reject.mail(451, `4.3.0 Temporary failure (${FAULT_TEXT})`),
      reject.rcpt(451, `4.3.0 Temporary failure (${FAULT_TEXT})`),
      reject.rcpt(421, `4.3.0 Closing connection (${FAULT_TEXT})`),
      reject.dataEnd(451, `4.3.0 Temporary failure (${FAULT_TEXT})`),
      disconnect.during("DATA", { afterBytes: 64 }),
      dropAfterData(),
    ],
  });
}

/** A refusal the server's faults give (4xx naming the seed). */
const faultReply = (r: RawReply) => r.code >= 400 && r.code < 500 && r.raw.includes(FAULT_TEXT);

const sha256 = (b: Uint8Array | string) => createHash("sha256").update(b).digest("hex");

type Outcome = "acked" | "uncertain" | "aborted" | "reset" | "refused";

interface Sent {
  id: string;
  raw: string;
  outcome: Outcome;
  reply?: string;
}

/** A message with an id header, random length, dot lines, UTF-8 and long lines. */
function makeMessage(id: string, rnd: () => number): string {
  const lines = [
    `X-Soak-Id: ${id}`,
    "From: soak@client.test",
    "To: sink@server.test",
    `Subject: soak ${id}`,
    "",
  ];
  const n = 2 + Math.floor(rnd() * 60);
  for (let i = 0; i < n; i++) {
    const r = rnd();
    if (r < 0.08) lines.push(".");
    else if (r < 0.16) lines.push(`.leading dot ${i}`);
    else if (r < 0.2) lines.push("");
    else if (r < 0.24) lines.push(`Grüße ✉ ${i}`);
    else lines.push("x".repeat(Math.floor(rnd() * 200)) + String(i));
  }
  return `${lines.join("\r\n")}\r\n`;
}

let smtp: TestSmtp | undefined;
afterAll(() => smtp?.close());

test(`soak: ${MESSAGES} messages over ${CONNECTIONS} connections with client and server faults (seed ${SEED})`, {
  timeout: TIMEOUT,
}, async (ctx) => {
  const gc = gcFunction();
  const watch = new CrashWatch().start();
  // Warm up once (lazy fds, JIT, module state), then take the baselines.
  const warm = await startTestSmtp();
  const w = await RawClient.connect(warm.port);
  await w.read();
  await w.command("QUIT");
  await w.waitClose();
  await warm.close();
  const fdStart = openFds();
  const heapStart = gc ? await settledHeap(gc) : undefined;
  if (process.platform === "linux") {
    // Both leak checks are always possible here (/proc, V8's flag at run time): a
    // missing one is a broken check, not a reason to pass without it.
    expect(fdStart, "open fds from /proc/self/fd").toEqual(expect.any(Number));
    expect(heapStart, "a full gc (global.gc or V8's --expose-gc at run time)").toEqual(
      expect.any(Number),
    );
  }

  // The traffic and its checks run in their own scope, so nothing the test
  // itself kept (what was sent, the clients, the messages) is alive afterwards.
  const { bytesSent, summary } = await traffic();
  console.info(summary);
  // Resources: clear() and close() give back what the traffic took.
  smtp!.inbox.clear();
  await within(smtp!.close(), 10_000, "close()");
  expect(watch.errors, watch.describe()).toEqual([]);
  watch.stop();
  const fdEnd = openFds();
  if (fdStart !== undefined) expect(fdEnd, "open fds after close() (start level)").toBe(fdStart);

  if (!gc || heapStart === undefined) {
    ctx.annotate("heap check skipped: no gc available (run node with --expose-gc)");
    return;
  }
  const heapAfterClose = await settledHeap(gc);
  // What a leak of the traffic would retain is at least its bytes; allow noise.
  const allowance = 2e6 + 0.2 * bytesSent;
  const grown = heapAfterClose - heapStart;
  let afterReset = "";
  if (grown > allowance) {
    smtp!.reset();
    afterReset = `; after smtp.reset() as well: +${(((await settledHeap(gc)) - heapStart) / 1e6).toFixed(1)} MB`;
  }
  expect(
    grown,
    `heap growth after inbox.clear() and close(): +${(grown / 1e6).toFixed(1)} MB for ${(bytesSent / 1e6).toFixed(1)} MB of traffic (allowed ${(allowance / 1e6).toFixed(1)} MB)${afterReset}`,
  ).toBeLessThanOrEqual(allowance);
});

/** Runs the traffic against a new fixture (left in `smtp`) and checks what it stored. */
async function traffic(): Promise<{ bytesSent: number; summary: string }> {
  const closes = new ClosedCounter();
  const server = await startTestSmtp({
    socketTimeout: 20_000,
    onClose: closes.onClose,
    faults: [serverFaults()],
  });
  smtp = server;
  closes.watch(server.server);
  const port = server.port;
  const sent: Sent[] = [];
  const unexpected: string[] = [];
  const allClients: RawClient[] = [];
  let next = 0;
  let bytesSent = 0;

  const open = async (): Promise<RawClient> => {
    const c = await RawClient.connect(port);
    allClients.push(c);
    const greeting = await c.read();
    const ehlo = await c.command("EHLO soak.test");
    if (greeting.code !== 220 || ehlo.code !== 250) unexpected.push(`${greeting.raw}${ehlo.raw}`);
    return c;
  };

  /**
   * One transaction on `c`; `entry.outcome` says what the client knows at each
   * point. Returns true when the connection must be replaced (closed by the
   * client's own fault or by the server). Throws only if the server closed the
   * connection, which the caller treats the same way.
   */
  const transaction = async (
    c: RawClient,
    k: number,
    entry: Sent,
    fault: number,
    rnd: () => number,
  ): Promise<boolean> => {
    const { id, raw } = entry;
    c.write(`MAIL FROM:<w${k}@client.test>\r\nRCPT TO:<sink@server.test>\r\n`);
    const [mail, rcpt] = await c.readMany(2);
    if (mail!.code !== 250 || rcpt!.code !== 250) {
      // A server fault refused MAIL (then RCPT gets 503) or RCPT (421 closes).
      const byFault =
        mail!.code === 250
          ? faultReply(rcpt!)
          : faultReply(mail!) && (rcpt!.code === 503 || faultReply(rcpt!));
      if (!byFault) unexpected.push(`${id}: ${mail!.raw}${rcpt!.raw}`);
      if (rcpt!.code === 421) return true;
      const r = await c.command("RSET");
      if (r.code !== 250) unexpected.push(`${id}: RSET ${r.raw}`);
      return false;
    }
    if (fault < 0.05) {
      // RSET mid-transaction: nothing may be stored; the session goes on.
      entry.outcome = "reset";
      const r = await c.command("RSET");
      if (r.code !== 250) unexpected.push(`${id}: RSET ${r.raw}`);
      return false;
    }
    const data = await c.command("DATA");
    if (data.code !== 354) {
      unexpected.push(`${id}: DATA ${data.raw}`);
      return false;
    }
    const wire = `${dotStuff(raw)}.\r\n`;
    if (fault < 0.1) {
      // Disconnect mid-DATA: the transaction is aborted, nothing stored.
      entry.outcome = "aborted";
      c.write(wire.slice(0, Math.floor(rnd() * (wire.length - 3))));
      return true;
    }
    bytesSent += wire.length;
    // From here on the whole message is on its way: until its reply is read, it
    // may be stored once or not at all (a cut mid-DATA, a dropped acknowledgement).
    entry.outcome = "uncertain";
    c.write(wire);
    if (fault < 0.13) return true; // gone before the reply
    const end = await c.read();
    entry.reply = end.raw;
    if (end.code === 250) entry.outcome = "acked";
    else {
      entry.outcome = "refused";
      if (!faultReply(end)) unexpected.push(`${id}: end of data ${end.raw}`);
    }
    // A client that vanishes between messages (no QUIT).
    return fault < 0.16;
  };

  const worker = async (k: number): Promise<void> => {
    const rnd = prng(SEED + k);
    let c = await open();
    for (;;) {
      const n = next++;
      if (n >= MESSAGES) break;
      const id = `${k}.${n}`;
      const entry: Sent = { id, raw: makeMessage(id, rnd), outcome: "refused" };
      sent.push(entry);
      let replace: boolean;
      try {
        replace = await transaction(c, k, entry, rnd(), rnd);
      } catch (err) {
        if (!c.closed) throw err;
        replace = true; // the server closed the connection (a fault)
      }
      if (replace) {
        c.close();
        c = await open();
      }
    }
    const bye = await c.command("QUIT");
    if (bye.code !== 221) unexpected.push(`QUIT ${bye.raw}`);
    await c.waitClose();
  };

  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONNECTIONS }, (_, k) => worker(k)));
  await Promise.all(allClients.map((c) => within(c.waitClose(), 10_000, "client socket closed")));
  await closes.allClosed(10_000);
  const trafficMs = performance.now() - t0;

  expect(unexpected, "replies a well-behaved client should never see").toEqual([]);
  const acked = sent.filter((s) => s.outcome === "acked");
  const uncertain = new Map(sent.filter((s) => s.outcome === "uncertain").map((s) => [s.id, s]));
  const byId = new Map(sent.map((s) => [s.id, s]));

  // Every accepted transaction is recorded synchronously as an attempt; the inbox
  // then receives exactly that many messages.
  const accepted = server.inbox.attempts.filter((a) => a.outcome === "accepted").length;
  await server.inbox.waitFor(() => true, { count: accepted, timeout: 30_000 });
  const messages = server.inbox.messages;
  expect(messages).toHaveLength(accepted);

  const seen = new Map<string, number>();
  const problems: string[] = [];
  for (const m of messages) {
    const text = Buffer.from(m.raw).toString("latin1");
    const id = /^X-Soak-Id: (\S+)\r\n/.exec(text)?.[1];
    if (id === undefined) {
      problems.push(`a message without an id: ${JSON.stringify(text.slice(0, 80))}`);
      continue;
    }
    seen.set(id, (seen.get(id) ?? 0) + 1);
    const s = byId.get(id);
    if (!s) problems.push(`${id}: never sent`);
    else if (s.outcome !== "acked" && s.outcome !== "uncertain")
      problems.push(`${id}: stored, but ${s.outcome}`);
    else if (sha256(m.raw) !== sha256(Buffer.from(s.raw))) problems.push(`${id}: bytes differ`);
  }
  for (const [id, count] of seen) if (count > 1) problems.push(`${id}: stored ${count} times`);
  for (const s of acked)
    if (!seen.has(s.id)) problems.push(`${s.id}: acknowledged (${s.reply?.trim()}) but not stored`);
  expect(problems.slice(0, 20), `${problems.length} problem(s)`).toEqual([]);
  const uncertainStored = [...uncertain.keys()].filter((id) => seen.has(id)).length;
  expect(messages.length).toBe(acked.length + uncertainStored);
  expect(acked.length).toBeGreaterThan(MESSAGES * 0.6);
  // The server's faults did fire, at each stage they cover.
  const faultedAttempts = server.inbox.attempts.filter((a) => a.reason.startsWith("fault: chaos("));
  const faulted = faultedAttempts.length;
  expect(faulted).toBeGreaterThan(MESSAGES * 0.01);
  const kinds = new Set(faultedAttempts.map((a) => /-> ([\w.]+)\(/.exec(a.reason)?.[1]));
  expect([...kinds].sort()).toEqual([
    "disconnect.during",
    "dropAfterData",
    "reject.dataEnd",
    "reject.mail",
    "reject.rcpt",
  ]);
  const summary =
    `soak: ${MESSAGES} messages (${acked.length} acked, ${uncertain.size} uncertain, ${uncertainStored} of them stored, ${faulted} server faults) ` +
    `in ${Math.round(trafficMs)} ms, ${(bytesSent / 1e6).toFixed(1)} MB`;
  return { bytesSent, summary };
}
