/**
 * The SMTP engine, sans I/O: bytes in (`feed`), serialised replies and hook calls
 * out (through `EngineHost`). No sockets, no timers. Commands are processed in
 * order; while a hook is pending, further input waits in a queue (RFC 2920: the
 * replies keep the order of the commands, and nothing after DATA is read as a
 * command before the DATA reply). Replies produced in one pass are written in one
 * batch.
 */
import { type CommandSpec, commandSpec, isDisabled, verbOf } from "./commands.js";
import type { EngineConfig } from "./config.js";
import { errorToReply } from "./errors.js";
import { authCommand, saslLine } from "./handlers/auth.js";
import { bdatChunk, finishBdat, finishData, replyToData } from "./handlers/data.js";
import type { DataSink, Directive, DripPace, EngineHost } from "./host.js";
import { COMMAND_MODE, type Mode } from "./mode.js";
import { REPLIES } from "./replies.js";
import { type Reply, serializeReply } from "./reply.js";
import {
  emptyEnvelope,
  type HeldStage,
  type SMTPAddress,
  type SMTPSession,
  type Stage,
} from "./types.js";
import { andThen, isPromise, type MaybePromise } from "./util.js";

const LF = 0x0a;
/** A TLS record's first bytes: content type handshake (22), major version 3. */
const TLS_HANDSHAKE = 0x16;
const TLS_MAJOR = 0x03;
/** The attempt's reason, and the transcript's note, for a ClientHello on a plaintext session. */
export const TLS_ON_PLAINTEXT = "tls handshake on plaintext";
export const TLS_ON_PLAINTEXT_NOTE =
  'the client began a TLS handshake on a plaintext port: connect with secure: false (nodemailer upgrades with STARTTLS), or start the server with tls: "implicit"';
/** What a logger sees instead of an AUTH payload (smtp-server's marker). */
const SECURED = "/* secured */";
const CR = 0x0d;

/**
 * Why `guard` refused a command: the missing login (530, whatever its text), the
 * unauthenticated-command budget, else command order (no HELO/EHLO yet).
 */
function guardReason(refused: Reply): string {
  if (refused === REPLIES.tooManyUnauthenticated) return "too many unauthenticated commands";
  return refused.code === 530 ? "auth required" : "sequence";
}

/** Input waiting for a pending hook: `buf` from `from`; `base` is buf[0]'s stream offset. */
interface Queued {
  buf: Buffer;
  from: number;
  base: number;
}

/**
 * `buf.toString("utf8", from, to)` without its argument handling: Node's and Bun's
 * Buffers both have `utf8Slice`, the method toString ends in (this runs per line).
 */
function utf8(buf: Buffer, from: number, to: number): string {
  return (buf as unknown as Utf8Sliceable).utf8Slice(from, to);
}

interface Utf8Sliceable {
  utf8Slice(start: number, end: number): string;
}

export class Engine {
  readonly config: EngineConfig;
  readonly host: EngineHost;
  readonly session: SMTPSession;
  /**
   * Extensions the client used in the current transaction (for the fixture's facts),
   * the session's (`sessionUsed`) first.
   */
  readonly used = new Set<string>();
  /**
   * Extensions whose effect lasts for the session, not one transaction: STARTTLS once
   * the handshake is done, AUTH once it succeeded. Each transaction's `used` starts with them.
   */
  readonly sessionUsed: string[] = [];
  mode: Mode = COMMAND_MODE;
  /** The open BDAT transaction's sink and byte count, across BDAT commands. */
  bdat: { sink: DataSink; bytes: number; sizeExceeded: boolean } | undefined;
  /** Set by STARTTLS: the rest of the plaintext input is discarded (CVE-2011-0411). */
  discardInput = false;
  /** Set by a DATA_END directive: keep the message, close instead of replying. */
  dropReply = false;
  /** Why the reply is dropped (the fault's name), for the attempt record. */
  dropReason: string | undefined;
  /** A DATA_BODY directive armed for this transaction: applied after `left` more data bytes. */
  private cut: { left: number; readonly directive: Directive } | undefined;
  /** Set while a slow-drip directive's replies are written. */
  private pace: DripPace | undefined;
  /** Set by a hang directive: why the connection stopped answering. */
  private hung: string | undefined;
  /** A `disconnect.after("BDAT")` fault's reason: the connection closes after the chunk's reply. */
  private closeAfterChunk: string | undefined;
  /** A MAIL, RCPT or DATA that a hook or a fault's delay has not answered yet. */
  pending: { readonly stage: HeldStage; readonly command: string } | undefined;
  /** A message whose data has ended and whose reply is not sent yet (a hook or a fault holds it). */
  verdict: DataSink | undefined;
  /**
   * LMTP: the envelope index (in `rcptTo`) of each accepted RCPT, in order. RFC 2033
   * 4.2 wants a reply after the data per successful RCPT, a repeated recipient's
   * too, while the envelope holds that recipient once. Empty outside LMTP.
   */
  readonly lmtpRcpts: number[] = [];
  /** The lower-case recipients of a long `rcptTo` (see handlers/mail.ts); made past 16. */
  rcptIndex:
    | {
        list: readonly SMTPAddress[];
        keys: Map<string, number>;
        count: number;
        first: string;
        last: string;
      }
    | undefined = undefined;
  /** The last reply queued (what a `disconnect.after` fault's client got before the close). */
  private lastSent: Reply | undefined;

  private busy = false;
  private queue: Queued[] = [];
  private partial: Buffer | undefined;
  private fed = 0;
  /** A first read of one byte that may start a TLS record: held until the next read. */
  private firstByte: Buffer | undefined;
  private out = "";
  private flushWaiters: Array<() => void> = [];
  private unrecognized = 0;
  private unauthenticated = 0;
  private shuttingDown = false;
  /** A hook answered 421: the connection closes once its command is done, as in smtp-server. */
  private hookClosing = false;

  constructor(config: EngineConfig, host: EngineHost, session: SMTPSession) {
    this.config = config;
    this.host = host;
    this.session = session;
  }

  get closed(): boolean {
    return this.mode.kind === "closed";
  }

  /**
   * Message data is coming in past the size limit and is refused for it: what is
   * read now is counted, not kept (the host's transcript keeps its length only).
   */
  get droppingOversized(): boolean {
    const size = this.config.size;
    if (size <= 0 || this.config.rejectOversized === false) return false;
    const mode = this.mode;
    if (mode.kind === "data") return mode.decoder.bytes > size;
    return mode.kind === "bdat" && this.bdat !== undefined && this.bdat.bytes > size;
  }

  /** Bytes received but not yet processed (the host pauses reading above a bound). */
  get backlog(): number {
    let n = this.partial?.length ?? 0;
    for (const q of this.queue) n += q.buf.length - q.from;
    return n;
  }

  /** Sends the greeting (after the CONNECT-stage interceptor, if any). */
  greet(): void {
    const greeting = REPLIES.greeting(this.config);
    this.run(this.intercepted("CONNECT", "", () => this.reply("CONNECT", "", greeting)));
    this.flush();
  }

  /** Bytes from the client. */
  feed(bytes: Buffer): void {
    let chunk = bytes;
    let base = this.fed;
    this.fed += chunk.length;
    if (this.closed) return;
    // A client that speaks TLS first (implicit TLS) on a plaintext session: its
    // ClientHello would be read as lines of garbage. Checked at the session's first
    // two bytes, which may come in two reads.
    if (this.firstByte !== undefined) {
      chunk = Buffer.concat([this.firstByte, chunk]);
      base = 0;
      this.firstByte = undefined;
    }
    if (base === 0 && chunk[0] === TLS_HANDSHAKE && !this.session.secure) {
      if (chunk.length === 1) {
        this.firstByte = chunk;
        return;
      }
      if (chunk[1] === TLS_MAJOR) {
        this.refuseTls();
        return;
      }
    }
    if (this.busy || this.queue.length > 0) {
      this.queue.push({ buf: chunk, from: 0, base });
      return;
    }
    this.process(chunk, base);
    this.settleShutdown();
    this.flush();
  }

  /**
   * The server is closing: 421 and close now if idle, else once the transaction in
   * flight is over: from MAIL to the reply to its data (or RSET), hooks included.
   * A command that would start another one meanwhile gets 421.
   */
  shutdown(): void {
    this.shuttingDown = true;
    this.settleShutdown();
  }

  private settleShutdown(): boolean {
    if (!this.shuttingDown || this.closed) return false;
    // A hang is the server's own doing (a fault): it ends with the server, not at closeTimeout.
    const hung = this.hung !== undefined;
    // A half-done AUTH exchange is no transaction: it ends with the 421 like an idle client.
    const receiving = this.mode.kind === "data" || this.mode.kind === "bdat";
    if (!hung && (this.busy || receiving || this.inTransaction())) return false;
    this.send(REPLIES.shuttingDown);
    this.flush();
    // A hang's attempt ends with the 421 the client was just sent.
    this.endWith(hung ? `${this.hung} (server closed)` : "connection closed", REPLIES.shuttingDown);
    this.host.close();
    return true;
  }

  /** MAIL was accepted and the transaction is not over. */
  private inTransaction(): boolean {
    return Boolean(this.session.envelope.mailFrom) || this.bdat !== undefined;
  }

  /**
   * The server cut the connection (`closeTimeout` is over) after writing `reply`
   * (undefined when nothing could be written, mid-handshake). A transaction still
   * open ends with it: an open message is aborted with that reply, an envelope
   * without data is reported as refused by it.
   */
  cutOff(reply: Reply | undefined): void {
    if (this.closed) return;
    this.endWith("server closed (closeTimeout)", reply);
  }

  /**
   * The idle timeout ran out: the client is sent `reply` (421), what was open ends
   * with it (a hang, a message, an envelope), and the connection closes.
   */
  timedOut(reply: Reply): void {
    if (this.closed) return;
    this.send(reply);
    this.flush();
    this.endWith(this.hung !== undefined ? `${this.hung} (timed out)` : "timeout", reply);
    this.host.close();
  }

  /**
   * Ends the connection for `reason`, after `reply` (undefined when none could be
   * sent). What was open is reported with them: a hang to `faultEnded`, an envelope
   * without data to `transactionEnded`, a message to its sink (`end`).
   */
  private endWith(reason: string, reply: Reply | undefined): void {
    // A hang's attempt says how it ended (one inside the data hears it as its sink).
    if (this.hung !== undefined) this.host.faultEnded?.(reason, reply);
    else this.envelopeEnded(reason, reply);
    this.end(reason, reply);
  }

  /** A message's data is open (DATA, or a BDAT transaction): its sink hears how it ends. */
  private dataOpen(): boolean {
    return (
      this.mode.kind === "data" ||
      this.mode.kind === "bdat" ||
      this.bdat !== undefined ||
      this.verdict !== undefined
    );
  }

  /**
   * An envelope without data (MAIL, perhaps RCPT) ends for `reason` (not a plain reset
   * or close): reported to the host, with the reply that ended it if any.
   */
  private envelopeEnded(reason: string, reply: Reply | undefined): void {
    if (reason === "transaction reset" || reason === "connection closed") return;
    if (this.dataOpen()) return;
    // A command whose hook never answered is what ended: its MAIL or RCPT.
    const pending = this.pending;
    this.pending = undefined;
    const env = this.session.envelope;
    if (pending) this.host.transactionEnded?.(pending.stage, reason, reply, pending.command);
    else if (env.mailFrom)
      this.host.transactionEnded?.(env.rcptTo.length > 0 ? "RCPT" : "MAIL", reason, reply, "");
  }

  /** The socket is gone: abort an open transaction. */
  lost(): void {
    this.releaseCut();
    if (this.closed) return;
    this.endWith(
      this.hung === undefined ? "client disconnected" : `${this.hung} (client gave up)`,
      undefined,
    );
    this.mode = { kind: "closed" };
  }

  // ---- output -------------------------------------------------------------

  /** Queues a reply (written at the end of this pass) and reports it if it refuses. */
  reply(stage: Stage | "OTHER", command: string, r: Reply, reason = "ok"): void {
    this.send(r);
    if (r.code < 400) return;
    this.host.observe?.({ stage, command, reply: r, reason });
    // 421 says the server is closing the channel (RFC 5321 3.8); smtp-server closes
    // after a hook's 421 too (a thrown one, or onAuth's { responseCode: 421 }). Faults
    // and the server's own 421s close where they send it.
    if (r.code === 421 && (reason === "hook" || reason === "auth failed")) this.hookClosing = true;
  }

  /** After the command whose hook answered 421: the connection closes. */
  private closeAfterHook(): boolean {
    if (!this.hookClosing) return false;
    this.hookClosing = false;
    this.close();
    return true;
  }

  send(r: Reply): void {
    this.lastSent = r;
    const text = serializeReply(r, this.config.capabilities.has("ENHANCEDSTATUSCODES"));
    this.out += text;
    this.host.said?.(text);
  }

  flush(): void {
    if (this.out.length === 0) return;
    const text = this.out;
    this.out = "";
    if (this.pace) this.host.write(text, this.pace);
    else this.host.write(text);
    const waiters = this.flushWaiters;
    if (waiters.length === 0) return;
    this.flushWaiters = [];
    for (const fn of waiters) fn();
  }

  /** Runs `fn` once the replies queued so far have been handed to the host. */
  whenFlushed(fn: () => void): void {
    if (this.out.length === 0) fn();
    else this.flushWaiters.push(fn);
  }

  /**
   * Ends the connection; `reason` goes to an open transaction's sink (a fault's name),
   * with `reply` when the client was sent one.
   */
  close(reason = "connection closed", reply?: Reply): void {
    if (this.closed) return;
    this.flush();
    this.endWith(reason, reply);
    this.host.close();
  }

  /** An open transaction is aborted (`reason`, `reply`), and nothing more is read. */
  private end(reason: string, reply: Reply | undefined): void {
    this.abortData(reason, reply);
    const held = this.verdict;
    this.verdict = undefined;
    held?.lost?.(reason, reply);
    this.mode = { kind: "closed" };
    this.queue = [];
    this.partial = undefined;
  }

  // ---- transaction state --------------------------------------------------

  /** A BDAT chunk was answered: a `disconnect.after("BDAT")` fault closes the connection now. */
  afterChunk(): void {
    const reason = this.closeAfterChunk;
    if (reason === undefined) return;
    this.closeAfterChunk = undefined;
    this.closeAfterFault(reason);
  }

  /** A fault closes the connection after a reply: its attempt gets that reply, the last sent. */
  private closeAfterFault(reason: string): void {
    this.host.faultEnded?.(reason, this.lastSent);
    this.close(reason);
  }

  /** A message was answered: earlier unrecognized commands are forgiven (as smtp-server does). */
  messageAnswered(): void {
    this.unrecognized = 0;
  }

  /**
   * The transaction starts over. `endedBy` names a command that ended one still open
   * (RSET, EHLO, STARTTLS, ...): the open data's sink, or the envelope, is reported
   * ended by it; the default is the reset after a transaction's final reply.
   */
  resetTransaction(endedBy = "transaction reset"): void {
    this.envelopeEnded(endedBy, undefined);
    this.abortData(endedBy);
    const s = this.session;
    if (s.envelope.mailFrom || s.envelope.rcptTo.length > 0) s.transaction++;
    s.envelope = emptyEnvelope();
    this.rcptIndex = undefined;
    if (this.lmtpRcpts.length !== 0) this.lmtpRcpts.length = 0;
    this.releaseCut();
    const used = this.used;
    used.clear();
    for (const extension of this.sessionUsed) used.add(extension);
  }

  /** The client used a session-wide extension (STARTTLS, AUTH): this transaction and the next ones. */
  usedForSession(extension: string): void {
    if (!this.sessionUsed.includes(extension)) this.sessionUsed.push(extension);
    this.used.add(extension);
  }

  /** A DATA_BODY cut still armed when its transaction ends did not fire: say so. */
  private releaseCut(): void {
    const cut = this.cut;
    if (cut === undefined) return;
    this.cut = undefined;
    this.host.unusedCut?.(cut.directive);
  }

  abortData(reason: string, reply?: Reply): void {
    // A skipped BDAT chunk (mode's sink is a drop) can be in flight with a BDAT
    // transaction open: both are told, each once.
    const mode = this.mode;
    const open = mode.kind === "data" || mode.kind === "bdat" ? mode.sink : undefined;
    const bdat = this.bdat?.sink;
    this.bdat = undefined;
    if (open) {
      this.mode = COMMAND_MODE;
      open.abort(reason, reply);
    }
    if (bdat && bdat !== open) bdat.abort(reason, reply);
  }

  // ---- running handlers that may be async -------------------------------------

  /** Runs a handler's result: sync results continue this pass, promises pause input. */
  run(result: MaybePromise<void>): void {
    if (!isPromise(result)) return;
    this.busy = true;
    this.flush();
    result.then(this.resumeAfter, this.resumeAfterError);
  }

  /** `run`'s continuations, made once per connection rather than per message. */
  private readonly resumeAfter = () => this.resume();
  private readonly resumeAfterError = (err: unknown) => {
    if (!this.closed) this.reply("OTHER", "", errorToReply(err, 451), "internal error");
    this.resume();
  };

  /**
   * Runs `body` unless the interceptor for `stage` replaces it; `skipped` runs when
   * it does (a reply instead, a disconnect before, a hang), to undo what the
   * command would have finished (read a BDAT chunk, end the data sink).
   */
  intercepted(
    stage: Stage,
    command: string,
    body: () => MaybePromise<void>,
    skipped?: (reason: string) => void,
  ): MaybePromise<void> {
    const d = this.ask(stage, command);
    return d === undefined ? body() : this.directed(stage, command, d, body, skipped);
  }

  /** The interceptor's directive for `stage` (undefined: none, or no interceptor). */
  ask(stage: Stage, command: string): MaybePromise<Directive | undefined> {
    const ask = this.host.intercept;
    return ask ? ask.call(this.host, stage, command) : undefined;
  }

  /** `intercepted` once the interceptor has answered (now or later). */
  directed(
    stage: Stage,
    command: string,
    d: MaybePromise<Directive | undefined>,
    body: () => MaybePromise<void>,
    skipped?: (reason: string) => void,
  ): MaybePromise<void> {
    if (isPromise(d)) {
      this.flush();
      // A command held by a fault's delay is the one a client that leaves meanwhile
      // was waiting on, as for a hook that has not answered (its attempt says so; the
      // greeting's and EHLO's too, where a client's greetingTimeout gives up). Inside
      // the data, the message's sink hears how it ended instead.
      const held = isHeldStage(stage) ? { stage, command } : undefined;
      if (held) this.pending = held;
      return d.then((dd) => {
        if (held && this.pending === held) this.pending = undefined;
        return this.applyDirective(stage, command, dd, body, skipped);
      });
    }
    return this.applyDirective(stage, command, d, body, skipped);
  }

  private applyDirective(
    stage: Stage,
    command: string,
    d: Directive | undefined,
    body: () => MaybePromise<void>,
    skipped: ((reason: string) => void) | undefined,
  ): MaybePromise<void> {
    if (this.closed) return;
    if (!d) return body();
    const reason = d.reason ?? "fault";
    // A fault's reply (or TLS failure's 220) that is also slowed (a slow drip over an
    // older fault) drips.
    if (d.drip && (d.reply || d.tlsFailure)) {
      this.flush();
      this.pace = d.drip;
    }
    // A reply is recorded as the rejection (before the transaction is reset, so with
    // its envelope); a silent fault is the transaction's end.
    if (d.reply) {
      // At the end of the data, a fault's refusal is the data's verdict: one reply per
      // LMTP recipient, as the sink's (RFC 2033 4.2).
      if (stage === "DATA_END") replyToData(this, [d.reply], reason);
      else this.reply(stage, command, d.reply, reason);
    }
    if (d.hang || d.disconnect === "before" || d.reply)
      skipped?.(d.reply ? "transaction reset" : reason);
    if (d.hang) return this.hang(reason);
    if (d.disconnect === "before") return this.close(reason);
    if (d.tlsFailure) return this.failTls(stage, command, d.tlsFailure, reason);
    if (d.dropReply) {
      this.dropReply = true;
      this.dropReason = d.reason;
    }
    if (d.drip) {
      this.flush();
      this.pace = d.drip;
    }
    const ran = d.reply ? undefined : body();
    if (!d.drip && d.disconnect !== "after") return ran;
    return andThen(ran, () => {
      if (d.drip) {
        this.flush();
        this.pace = undefined;
      }
      // After a fault's reply the attempt is recorded already: close quietly. After
      // the command's own reply, the fault's attempt gets that reply.
      if (d.disconnect !== "after") return;
      // A BDAT's reply comes after its chunk: the close waits for it (afterChunk).
      if (stage === "BDAT" && !d.reply && this.mode.kind === "bdat") {
        this.closeAfterChunk = reason;
        return;
      }
      if (d.reply) this.close();
      else this.closeAfterFault(reason);
    });
  }

  /** STARTTLS answered 220, then the handshake fails (a fault): the connection ends. */
  private failTls(
    stage: Stage,
    command: string,
    mode: "alert" | "close",
    reason: string,
  ): Promise<void> {
    this.reply(stage, command, REPLIES.startTls, reason);
    this.flush();
    this.discardInput = true;
    const failed = this.host.failTls?.(mode) ?? Promise.resolve();
    // The fault's attempt gets the 220 the client had before the handshake failed.
    return failed.then(() => this.closeAfterFault(reason));
  }

  /**
   * The data begins (DATA accepted, or the first BDAT): asks the DATA_BODY
   * interceptor whether to cut it short after some bytes.
   */
  armData(command: string): MaybePromise<void> {
    this.cut = undefined;
    const ask = this.host.intercept;
    if (!ask) return;
    return andThen(ask.call(this.host, "DATA_BODY", command), (d) => {
      if (d && !this.closed) this.cut = { left: d.afterBytes ?? 0, directive: d };
    });
  }

  /** Stop answering and reading; only a timeout or the client ends this. */
  hang(reason?: string): Promise<void> {
    this.hung = reason;
    this.flush();
    this.queue = [];
    this.discardInput = true;
    // A hang that begins while the server is closing ends with it at once.
    if (this.shuttingDown) this.settleShutdown();
    return new Promise<void>(() => {});
  }

  private resume(): void {
    this.busy = false;
    if (this.discardInput) {
      this.discardInput = false;
      this.queue = [];
      this.partial = undefined;
    }
    // The hook's 421 first: it is the command's one reply (no shutdown 421 after it).
    if (this.closeAfterHook() || this.settleShutdown()) return;
    while (!this.busy && !this.closed && this.queue.length > 0) {
      const next = this.queue.shift()!;
      this.process(next.buf, next.base, next.from);
    }
    this.flush();
    if (!this.busy) this.host.drained?.();
  }

  // ---- input --------------------------------------------------------------

  private process(buf: Buffer, base: number, from = 0): void {
    let pos = from;
    while (pos < buf.length && !this.busy && !this.closed) {
      const mode = this.mode;
      if (mode.kind === "data" || mode.kind === "bdat") pos = this.processBody(mode, buf, pos);
      else pos = this.processLine(buf, pos, base);
      if (this.hookClosing && !this.busy && this.closeAfterHook()) return;
    }
    if (this.discardInput && !this.busy) this.discardInput = false;
    else if (pos < buf.length && !this.closed && !this.discardInput) {
      // The rest waits as it is: no copy, no view.
      this.queue.unshift({ buf, from: pos, base });
    }
  }

  private processLine(buf: Buffer, pos: number, base: number): number {
    const lf = buf.indexOf(LF, pos);
    if (lf === -1) {
      this.keepPartial(buf.subarray(pos), base + pos);
      return buf.length;
    }
    // The line is decoded straight from the input; only a line split across reads
    // is joined first.
    let line = buf;
    let from = pos;
    let to = lf;
    let start = base + pos;
    if (this.partial) {
      start -= this.partial.length;
      line = Buffer.concat([this.partial, buf.subarray(pos, lf)]);
      this.partial = undefined;
      from = 0;
      to = line.length;
    }
    if (to > from && line[to - 1] === CR) to--;
    if (to - from > this.config.maxCommandLength) {
      // Refused unread, it is still what the client sent: credentials in it are masked.
      this.secretUnread(line, from, to, start);
      // A 5xx is a final reply: a SASL exchange it answers is over (RFC 4954 4), so
      // the next line is a command again, not taken for credentials.
      if (this.mode.kind === "sasl") this.mode = COMMAND_MODE;
      this.reply("OTHER", "", REPLIES.lineTooLong, "line too long");
    } else {
      this.line(utf8(line, from, to), start, lf + 1 < buf.length);
    }
    return lf + 1;
  }

  /**
   * A line refused without being read (too long) that holds credentials: a SASL
   * response, or an AUTH command's initial response (after its mechanism), is marked
   * secret in the transcript, as a line that is read would be.
   */
  private secretUnread(line: Buffer, from: number, to: number, start: number): void {
    const secret = this.host.secret;
    if (!secret) return;
    if (this.mode.kind === "sasl") {
      secret.call(this.host, start, start + (to - from));
      return;
    }
    if (to - from < 5 || line.toString("latin1", from, from + 5).toUpperCase() !== "AUTH ") return;
    const mechanismEnd = line.indexOf(0x20, from + 5);
    const payload = mechanismEnd === -1 || mechanismEnd >= to ? from + 5 : mechanismEnd + 1;
    secret.call(this.host, start + (payload - from), start + (to - from));
  }

  private keepPartial(rest: Buffer, start: number): void {
    const total = (this.partial?.length ?? 0) + rest.length;
    // A line that never ends is not a client we can resynchronise with.
    if (total > this.config.maxCommandLength * 2) {
      const line = this.partial ? Buffer.concat([this.partial, rest]) : rest;
      this.secretUnread(line, 0, line.length, start - (this.partial?.length ?? 0));
      this.reply("OTHER", "", REPLIES.lineTooLongClose, "line too long");
      this.close("line too long", REPLIES.lineTooLongClose);
      return;
    }
    this.partial = this.partial ? Buffer.concat([this.partial, rest]) : Buffer.from(rest);
  }

  /** Message data, held at an armed DATA_BODY cut: the bytes after it are never read. */
  private processBody(
    mode: Extract<Mode, { kind: "data" | "bdat" }>,
    buf: Buffer,
    pos: number,
  ): number {
    const cut = this.cut;
    if (cut && cut.left <= 0) {
      this.cut = undefined;
      // Mid-data there is no way back to commands: the connection ends after any reply.
      const d = cut.directive;
      const end: Directive = d.hang || d.disconnect ? d : { ...d, disconnect: "after" };
      this.run(this.applyDirective("DATA_BODY", "", end, () => undefined, undefined));
      return pos;
    }
    const view = cut && pos + cut.left < buf.length ? buf.subarray(0, pos + cut.left) : buf;
    const next =
      mode.kind === "data" ? this.processData(mode, view, pos) : this.processBdat(mode, view, pos);
    if (cut) cut.left -= next - pos;
    return next;
  }

  private processData(mode: Extract<Mode, { kind: "data" }>, buf: Buffer, pos: number): number {
    const at = mode.decoder.push(buf, pos);
    if (at === -1) return buf.length;
    this.run(finishData(this, mode.decoder, mode.sink));
    return at;
  }

  private processBdat(mode: Extract<Mode, { kind: "bdat" }>, buf: Buffer, pos: number): number {
    const take = Math.min(mode.remaining, buf.length - pos);
    if (take > 0) bdatChunk(this, mode.sink, buf.subarray(pos, pos + take));
    mode.remaining -= take;
    if (mode.remaining === 0) this.run(finishBdat(this, mode.sink, mode.last));
    return pos + take;
  }

  /** One command line (CR stripped). `more`: further input followed it in the same read. */
  private line(text: string, start: number, more: boolean): void {
    const heard = this.host.heard;
    if (this.mode.kind === "sasl") {
      this.host.secret?.(start, start + Buffer.byteLength(text));
      heard?.("AUTH", SECURED);
      this.run(saslLine(this, this.mode.step, text));
      return;
    }
    if (more) this.used.add("PIPELINING");
    const sp = text.indexOf(" ");
    const verb = verbOf(text, sp === -1 ? text.length : sp);
    const args = sp === -1 ? "" : text.slice(sp + 1);
    let payload = -1;
    if (verb === "AUTH" && sp !== -1) {
      payload = args.indexOf(" ");
      // Byte offsets (the transcript masks bytes): a UTF-8 line's characters are not.
      if (payload !== -1) {
        const from = start + Buffer.byteLength(text.slice(0, sp + 2 + payload));
        this.host.secret?.(from, start + Buffer.byteLength(text));
      }
    }
    if (heard) heard(verb, payload === -1 ? text : `${text.slice(0, sp + 1 + payload)} ${SECURED}`);
    this.dispatch(verb, args, text);
  }

  private dispatch(verb: string, args: string, text: string): void {
    if (this.shuttingDown && !this.inTransaction()) {
      this.send(REPLIES.shuttingDown);
      this.close();
      return;
    }
    const spec = commandSpec(verb);
    if (!spec || !this.available(verb, spec)) {
      this.unknown(verb, text, spec !== undefined);
      return;
    }
    // What attempts, faults and their replies see: an AUTH line without its initial
    // response (credentials), as the server's own AUTH refusals record it.
    const shown = verb === "AUTH" ? authCommand(args) : text;
    const refused = this.guard(verb, spec);
    if (refused) {
      this.reply(spec.stage ?? "OTHER", shown, refused, guardReason(refused));
      if (refused.code === 421) this.close();
      else spec.skipped?.(this, args);
      return;
    }
    // The interceptor is asked first; the closures a directive needs are made only
    // when there is one (this runs for every command), in a function of their own:
    // V8 allocates a function's closure context on entry, used or not.
    const stage = spec.stage;
    // smtp-server: with XCLIENT/XFORWARD on, the first MAIL tells who the client is
    // ('connect'), whatever answers it (the handler or a fault).
    if (stage === "MAIL") this.host.clientKnown?.(false);
    const d = stage && spec.outOfOrder?.(this) === undefined ? this.ask(stage, shown) : undefined;
    if (stage === undefined || d === undefined) this.run(spec.run(this, args, text));
    else this.run(this.dispatchDirected(spec, stage, d, args, text, shown));
  }

  private dispatchDirected(
    spec: CommandSpec,
    stage: Stage,
    d: MaybePromise<Directive | undefined>,
    args: string,
    text: string,
    shown: string,
  ): MaybePromise<void> {
    const body = () => spec.run(this, args, text);
    const skipped = spec.skipped && (() => spec.skipped?.(this, args));
    return this.directed(stage, shown, d, body, skipped);
  }

  private available(verb: string, spec: CommandSpec): boolean {
    if (isDisabled(this, verb)) return false;
    return spec.available ? spec.available(this) : true;
  }

  private unknown(verb: string, text: string, known: boolean): void {
    if (/^(GET|POST|HEAD|PUT|DELETE|OPTIONS|CONNECT|TRACE) \/.* HTTP\/\d\.\d$/i.test(text)) {
      this.reply("OTHER", text, REPLIES.httpRefused, "http");
      this.close("http", REPLIES.httpRefused);
      return;
    }
    this.unrecognized++;
    if (this.unrecognized >= this.config.maxUnrecognizedCommands) {
      this.reply("OTHER", text, REPLIES.tooManyUnrecognized, "too many unrecognized commands");
      this.close("too many unrecognized commands", REPLIES.tooManyUnrecognized);
      return;
    }
    const r = known ? REPLIES.notImplemented : REPLIES.unrecognized;
    this.reply("OTHER", verb, r, "unrecognized");
  }

  /** A TLS ClientHello as a plaintext session's first bytes: 421 and close, as for HTTP. */
  private refuseTls(): void {
    this.host.noted?.(TLS_ON_PLAINTEXT_NOTE);
    this.reply("CONNECT", "", REPLIES.tlsOnPlaintext, TLS_ON_PLAINTEXT);
    this.close(TLS_ON_PLAINTEXT, REPLIES.tlsOnPlaintext);
  }

  /** Cross-cutting gates: greeting first, AUTH first, the unauthenticated budget. */
  private guard(verb: string, spec: CommandSpec): Reply | undefined {
    const s = this.session;
    const authOn =
      this.config.authRequired && this.config.capabilities.has("AUTH") && !isDisabled(this, "AUTH");
    if (authOn && s.user === undefined && verb !== "AUTH" && verb !== "QUIT") {
      const limit = this.config.maxUnauthenticatedCommands;
      if (limit !== false && ++this.unauthenticated >= limit) return REPLIES.tooManyUnauthenticated;
    }
    if (spec.needsHelo && !s.hostNameAppearsAs) return REPLIES.heloFirst(this.config.lmtp);
    if (spec.needsAuth && authOn && s.user === undefined)
      return REPLIES.authRequiredFor(this.config);
    return undefined;
  }
}

function isHeldStage(stage: Stage): stage is HeldStage {
  return stage !== "BDAT" && stage !== "DATA_BODY" && stage !== "DATA_END";
}
