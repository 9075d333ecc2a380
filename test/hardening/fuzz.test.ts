/**
 * Property-based fuzzing of the fixture over real sockets (fast-check):
 *  (a) random bytes, biased towards SMTP tokens and line-end look-alikes;
 *  (b) valid dialogs mutated by inserting, deleting and flipping bytes and
 *      duplicating lines;
 *  (c) valid pipelined dialogs split at random points: the replies and the
 *      recorded messages equal those of the unsplit run (and the sent bodies).
 *
 * Invariants for every run: no uncaught exception or unhandled rejection; every
 * reply line matches RFC 5321's grammar; the connection ends within a bound after
 * the client half-closes or drops it; nodemailer is served right after; and the
 * accounting holds: messages in the inbox === "accepted" attempts === replies the
 * client saw acknowledging a message.
 *
 * One fixture is shared by each property. FUZZ_RUNS=n runs each property n times
 * (default 500: about 15 s here), e.g. `FUZZ_RUNS=2000 npx vitest run test/hardening/fuzz.test.ts`.
 */
import { createHash } from "node:crypto";
import fc from "fast-check";
import nodemailer, { type Transporter } from "nodemailer";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startTestSmtp, type TestSmtp } from "../../src/index.js";
import {
  ClosedCounter,
  CrashWatch,
  type DialogResult,
  dialog,
  dotStuff,
  envCount,
  type Reply,
} from "./support.js";

const RUNS = Math.round(envCount("FUZZ_RUNS", 500));
/** Upper bound for a connection to end after the client half-closed or dropped it. */
const CLOSE_BOUND_MS = 3000;
/** Per-test budget: generous, scaled with the run count. */
const TEST_TIMEOUT = 60_000 + RUNS * 500;
/** The fixture's size cap in these runs (small, so oversized data is reachable). */
const SIZE = 4096;

/**
 * A reply that acknowledges a message. The fixture answers an accepted DATA or
 * BDAT LAST with `250 2.6.0 OK: message queued`; no other 250 carries 2.6.0
 * (MAIL 2.1.0, RCPT 2.1.5, NOOP/RSET/BDAT chunks 2.0.0).
 */
const isMessageAck = (r: Reply) => r.code === 250 && /^250[ -]2\.6\.0( |$)/.test(r.lines[0] ?? "");

const sha256 = (b: Uint8Array | string) => createHash("sha256").update(b).digest("hex");

interface Harness {
  smtp: TestSmtp;
  closes: ClosedCounter;
  watch: CrashWatch;
  transport: Transporter;
  served: number;
}

async function harness(): Promise<Harness> {
  const closes = new ClosedCounter();
  const smtp = await startTestSmtp({ size: SIZE, socketTimeout: 2000, onClose: closes.onClose });
  closes.watch(smtp.server);
  return {
    smtp,
    closes,
    watch: new CrashWatch().start(),
    transport: nodemailer.createTransport(smtp.transport),
    served: 0,
  };
}

async function teardown(h: Harness | undefined): Promise<void> {
  if (!h) return;
  h.watch.stop();
  h.transport.close();
  await h.smtp.close();
}

/** The invariants every run must keep; returns the acknowledged count. */
async function checkRun(h: Harness, r: DialogResult): Promise<number> {
  const shown = JSON.stringify(r.text.slice(-400));
  expect(r.badLines, `reply grammar; server sent ...${shown}`).toEqual([]);
  expect(r.tail, `a reply cut off; server sent ...${shown}`).toBe("");
  if (r.end !== "client") {
    expect(r.end, "the connection ends after the client half-closes").toBe("server");
    expect(r.closeMs).toBeLessThan(CLOSE_BOUND_MS);
  }
  // Server side: every connection (this one included) is gone within the bound.
  await h.closes.allClosed(CLOSE_BOUND_MS);
  const acks = r.end === "client" ? undefined : r.replies.filter(isMessageAck).length;
  const accepted = h.smtp.inbox.attempts.filter((a) => a.outcome === "accepted").length;
  if (acks !== undefined)
    expect(accepted, "accepted attempts === acknowledgements seen").toBe(acks);
  if (accepted > 0) await h.smtp.inbox.waitFor(() => true, { count: accepted, timeout: 5000 });
  expect(h.smtp.inbox.messages, "inbox === accepted attempts").toHaveLength(accepted);
  expect(h.watch.errors, h.watch.describe()).toEqual([]);
  return accepted;
}

/** A well-behaved client right after: nodemailer's message arrives intact. */
async function servesNodemailer(h: Harness): Promise<void> {
  h.smtp.inbox.clear();
  const to = `after${++h.served}@fuzz.test`;
  const info = await h.transport.sendMail({
    from: "fuzz@client.test",
    to,
    subject: "still here",
    text: "served",
  });
  expect(info.response).toMatch(/^250 /);
  const m = await h.smtp.inbox.waitFor({ to }, { timeout: 5000 });
  expect(m.text?.trim()).toBe("served");
  h.smtp.inbox.clear();
}

// ---------------------------------------------------------------------------
// Generators

const TOKENS = [
  "\r\n",
  "\n",
  "\r",
  ".",
  "\r\n.\r\n",
  "\n.\n",
  "\r.\r",
  "\0",
  "\xff\xfe",
  " ",
  ":",
  "<>",
  "EHLO fuzz.test\r\n",
  "HELO fuzz\r\n",
  "LHLO x\r\n",
  "MAIL FROM:<a@fuzz.test>\r\n",
  "MAIL FROM:<a@fuzz.test> SIZE=99999999\r\n",
  "RCPT TO:<b@fuzz.test>\r\n",
  "RCPT TO:<b@fuzz.test> NOTIFY=SUCCESS,FAILURE\r\n",
  "DATA\r\n",
  "BDAT 5\r\n",
  "BDAT 3 LAST\r\n",
  "BDAT 0 LAST\r\n",
  "BDAT 99999999999\r\n",
  "RSET\r\n",
  "NOOP\r\n",
  "VRFY x\r\n",
  "HELP\r\n",
  "STARTTLS\r\n",
  "AUTH PLAIN\r\n",
  "AUTH LOGIN\r\n",
  "*\r\n",
  "QUIT\r\n",
  "GET / HTTP/1.1\r\n",
  "x".repeat(600),
];

const token = fc.constantFrom(...TOKENS).map((t) => Buffer.from(t, "latin1"));
const piece = fc.oneof(
  { weight: 3, arbitrary: token },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 200 }).map((u) => Buffer.from(u)) },
);
/** Each element is written as its own read on the server. */
const randomChunks = fc.array(
  fc.array(piece, { minLength: 1, maxLength: 6 }).map((p) => Buffer.concat(p)),
  {
    minLength: 1,
    maxLength: 10,
  },
);
const finish = fc.constantFrom<"end" | "destroy">("end", "end", "end", "destroy");

/** Splits `buf` at the given (unsorted, possibly repeated) positions. */
function splitAt(buf: Buffer, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    if (p > from) out.push(buf.subarray(from, p));
    from = Math.max(from, p);
  }
  if (from < buf.length) out.push(buf.subarray(from));
  return out;
}

const BODY_CHARS = [..."abcXYZ019 .:-\t<>@", "é", "✉", "."];
const bodyLine = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.array(fc.constantFrom(...BODY_CHARS), { maxLength: 60 }).map((a) => a.join("")),
  },
  { weight: 1, arbitrary: fc.constantFrom("", ".", "..", ". ", ".\t.", "...x", "From: x") },
);
/** A message body without its final CRLF (lines CRLF-joined). */
const body = fc
  .tuple(fc.array(bodyLine, { minLength: 0, maxLength: 12 }))
  .map(([lines]) => `Subject: fuzz\r\n\r\n${lines.join("\r\n")}`);

interface Transaction {
  from: string;
  to: string[];
  body: string;
  via: "DATA" | "BDAT";
  bdatCut: number;
  resetBefore: boolean;
}

const transaction = fc.record({
  from: fc.constantFrom("s1@fuzz.test", "s2@fuzz.test", ""),
  to: fc.uniqueArray(fc.constantFrom("r1@fuzz.test", "r2@fuzz.test", "r3@fuzz.test"), {
    minLength: 1,
    maxLength: 3,
  }),
  body,
  via: fc.constantFrom<"DATA" | "BDAT">("DATA", "DATA", "BDAT"),
  bdatCut: fc.nat(),
  resetBefore: fc.boolean(),
});

/** A valid pipelined dialog and the raw bytes each transaction must be stored with. */
function render(txs: readonly Transaction[]): { wire: Buffer; expected: string[] } {
  const parts: Buffer[] = [Buffer.from("EHLO fuzz.test\r\n")];
  const expected: string[] = [];
  for (const t of txs) {
    if (t.resetBefore) parts.push(Buffer.from("RSET\r\nNOOP\r\n"));
    parts.push(Buffer.from(`MAIL FROM:<${t.from}>\r\n`));
    for (const r of t.to) parts.push(Buffer.from(`RCPT TO:<${r}>\r\n`));
    const raw = `${t.body}\r\n`;
    expected.push(raw);
    if (t.via === "DATA") {
      parts.push(Buffer.from(`DATA\r\n${dotStuff(raw)}.\r\n`));
    } else {
      const bytes = Buffer.from(raw);
      const cut = t.bdatCut % (bytes.length + 1);
      const first = bytes.subarray(0, cut);
      const rest = bytes.subarray(cut);
      if (first.length > 0) parts.push(Buffer.from(`BDAT ${first.length}\r\n`), first);
      parts.push(Buffer.from(`BDAT ${rest.length} LAST\r\n`), rest);
    }
  }
  parts.push(Buffer.from("QUIT\r\n"));
  return { wire: Buffer.concat(parts), expected };
}

const dialogArb = fc.array(transaction, { minLength: 1, maxLength: 4 });

type Mutation =
  | { kind: "insert"; at: number; byte: number }
  | { kind: "delete"; at: number }
  | { kind: "flip"; at: number; bit: number }
  | { kind: "dupLine"; line: number }
  | { kind: "dropLine"; line: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({
    kind: fc.constant("insert" as const),
    at: fc.nat(),
    byte: fc.constantFrom(0x0d, 0x0a, 0x2e, 0x00, 0x20, 0x3a, 0xff, 0x41),
  }),
  fc.record({ kind: fc.constant("delete" as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant("flip" as const),
    at: fc.nat(),
    bit: fc.integer({ min: 0, max: 7 }),
  }),
  fc.record({ kind: fc.constant("dupLine" as const), line: fc.nat() }),
  fc.record({ kind: fc.constant("dropLine" as const), line: fc.nat() }),
);

function mutate(buf: Buffer, m: Mutation): Buffer {
  if (buf.length === 0) return buf;
  switch (m.kind) {
    case "insert": {
      const at = m.at % (buf.length + 1);
      return Buffer.concat([buf.subarray(0, at), Buffer.from([m.byte]), buf.subarray(at)]);
    }
    case "delete": {
      const at = m.at % buf.length;
      return Buffer.concat([buf.subarray(0, at), buf.subarray(at + 1)]);
    }
    case "flip": {
      const copy = Buffer.from(buf);
      const at = m.at % copy.length;
      copy[at] = copy[at]! ^ (1 << m.bit);
      return copy;
    }
    default: {
      const lines = buf.toString("latin1").split(/(?<=\n)/);
      const i = m.line % lines.length;
      if (m.kind === "dupLine") lines.splice(i, 0, lines[i]!);
      else lines.splice(i, 1);
      return Buffer.from(lines.join(""), "latin1");
    }
  }
}

// ---------------------------------------------------------------------------

describe("fuzz (a): random bytes", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await harness();
  });
  afterAll(() => teardown(h));

  test(`${RUNS} random byte streams keep every invariant`, { timeout: TEST_TIMEOUT }, async () => {
    await fc.assert(
      fc.asyncProperty(randomChunks, finish, async (chunks, how) => {
        h.smtp.inbox.clear();
        const r = await dialog(h.smtp.port, chunks, { finish: how, separateReads: true });
        await checkRun(h, r);
        await servesNodemailer(h);
      }),
      { numRuns: RUNS },
    );
  });
});

describe("fuzz (b): mutated valid dialogs", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await harness();
  });
  afterAll(() => teardown(h));

  test(`${RUNS} mutated dialogs keep every invariant`, { timeout: TEST_TIMEOUT }, async () => {
    await fc.assert(
      fc.asyncProperty(
        dialogArb,
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        finish,
        async (txs, mutations, cuts, how) => {
          h.smtp.inbox.clear();
          let wire = render(txs).wire;
          for (const m of mutations) wire = mutate(wire, m);
          const r = await dialog(h.smtp.port, splitAt(wire, cuts), {
            finish: how,
            separateReads: true,
          });
          await checkRun(h, r);
          await servesNodemailer(h);
        },
      ),
      { numRuns: RUNS },
    );
  });
});

describe("fuzz (c): random chunking of valid pipelined dialogs", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await harness();
  });
  afterAll(() => teardown(h));

  /** The stored messages of one run: envelope and sha256 of the raw bytes, in order. */
  async function stored(replies: DialogResult): Promise<string[]> {
    await checkRun(h, replies);
    const out = h.smtp.inbox.messages.map(
      (m) =>
        `${m.envelope.mailFrom ? m.envelope.mailFrom.address : "<>"} -> ${m.envelope.rcptTo
          .map((r) => r.address)
          .join(",")} ${sha256(m.raw)}`,
    );
    h.smtp.inbox.clear();
    return out;
  }

  test(`${RUNS} split dialogs answer and record exactly like the unsplit one`, {
    timeout: TEST_TIMEOUT,
  }, async () => {
    await fc.assert(
      fc.asyncProperty(
        dialogArb,
        fc.array(fc.nat(), { minLength: 1, maxLength: 40 }),
        async (txs, cuts) => {
          h.smtp.inbox.clear();
          const { wire, expected } = render(txs);
          const whole = await dialog(h.smtp.port, [wire], { finish: "wait" });
          const wholeStored = await stored(whole);
          const split = await dialog(h.smtp.port, splitAt(wire, cuts), {
            finish: "wait",
            separateReads: true,
          });
          const splitStored = await stored(split);
          // The unsplit run is itself right: every transaction acknowledged, bodies exact.
          expect(whole.replies.filter(isMessageAck)).toHaveLength(txs.length);
          expect(wholeStored.map((s) => s.split(" ").at(-1))).toEqual(
            expected.map((e) => sha256(Buffer.from(e))),
          );
          // ... and splitting changes nothing.
          expect(split.text).toBe(whole.text);
          expect(splitStored).toEqual(wholeStored);
          await servesNodemailer(h);
        },
      ),
      { numRuns: RUNS },
    );
  });
});
