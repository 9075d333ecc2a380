/**
 * One client connection: the socket side of the engine. Feeds bytes in, writes
 * replies out, runs the user's hooks, upgrades to TLS, enforces the idle timeout,
 * applies backpressure, and records the transcript when asked to.
 */
import { randomBytes } from "node:crypto";
import { setMaxListeners } from "node:events";
import { isIPv6, type Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import { Engine } from "../protocol/engine.js";
import { errorToReply, isRefusalCode } from "../protocol/errors.js";
import type {
  AuthOutcome,
  DataSink,
  Directive,
  DripPace,
  EngineHost,
  ReplyEvent,
} from "../protocol/host.js";
import { REPLIES } from "../protocol/replies.js";
import { type Reply, reply, serializeReply } from "../protocol/reply.js";
import { AUTH_FAILED, type AuthRequest } from "../protocol/sasl.js";
import {
  type HeldStage,
  newSession,
  type SMTPAddress,
  type SMTPSession,
  type Stage,
} from "../protocol/types.js";
import type { MaybePromise } from "../protocol/util.js";
import { callHook, HookCrash } from "./hooks.js";
import { type Log, logRelayed, userField, withoutCrlf } from "./logger.js";
import type { AuthResponse } from "./options.js";
import { acceptProxy } from "./proxy.js";
import { clearTimeout, setImmediate, setTimeout, sleep } from "./real-timers.js";
import { type ReverseLookupReport, reverseLookup } from "./reverse-lookup.js";
import {
  type HandshakeCut,
  LEFT_AFTER_HANDSHAKE,
  type StartTlsFailure,
  startTlsFailure,
  tlsErrorReason,
} from "./starttls-failure.js";
import { streamSink } from "./stream-sink.js";
import { upgradeToTls } from "./tls.js";
import { TranscriptRecorder } from "./transcript-recorder.js";
import type { ConnectionOwner, Hooks } from "./types.js";

/**
 * Connection ids look like smtp-server's (16 lowercase base32 characters): a random
 * prefix per process and a counter, so no crypto call per connection.
 */
const ID_PREFIX = BigInt(`0x${randomBytes(7).toString("hex")}`)
  .toString(32)
  .padStart(10, "0")
  .slice(-10);
let connectionIds = 0;

/** Pause reading when this much input waits for a pending hook. */
const MAX_BACKLOG = 1024 * 1024;
/**
 * Pause reading when this much of our output waits in the socket: a client that
 * pipelines commands and never reads the replies would otherwise grow the process
 * without bound (each short command's reply can be longer than the command).
 */
const MAX_UNSENT = 1024 * 1024;

/** A login with no onAuth to decide it: smtp-server's default handler's answer. */
const AUTH_NOT_IMPLEMENTED = reply(535, "Authentication not implemented", "5.7.8");

export class Connection implements EngineHost {
  /** Unique in this process: a random prefix per process and a counter (no crypto call per connection). */
  readonly id = `${ID_PREFIX}${(++connectionIds).toString(32).padStart(6, "0")}`;
  readonly number: number;
  readonly session: SMTPSession;
  readonly engine: Engine;
  readonly transcript: TranscriptRecorder | undefined;
  socket: Socket;
  private readonly owner: ConnectionOwner;
  private readonly pauses = new Set<string>();
  private writeCallbacks: Array<(whole: boolean) => void> = [];
  /** Set by the server while it waits for this connection to end. */
  closedResolve: (() => void) | undefined;
  /**
   * The server internals' own state for this connection (the fixture's recorder):
   * a field, not a WeakMap entry, which the young-generation collector would have
   * to visit for every connection.
   */
  internalsState: unknown = undefined;
  /** The same for the fixture's fault registry (which message the transaction is). */
  faultsState: unknown = undefined;
  private ended = false;
  /** Client reads so far: whether the client was heard from since the idle timer fired. */
  private reads = 0;
  /** Aborted once the socket has closed (made when something first waits on it). */
  #gone: AbortController | undefined;
  #closed = false;
  private upgrading = false;
  /** Set when the server cut a TLS handshake short (its timeout, its close). */
  private handshakeCut: HandshakeCut | undefined = undefined;
  /**
   * After a STARTTLS handshake: its command and the transcript's length then. A
   * client that closes with the transcript still at that length left without a
   * command (as a Node client that rejects the certificate does over TLS 1.2).
   */
  private securedAt: { readonly command: string; readonly entries: number } | undefined = undefined;
  /**
   * Set once the socket is an SMTP connection: after a PROXY header, the reverse
   * lookup and an implicit TLS handshake, before onConnect. Before it, as in
   * smtp-server, there is no session yet: a timeout drops the socket without a
   * reply, and onClose is not called.
   */
  reachedSession = false;
  /** 'connect' was emitted (once; XFORWARD ADDR emits it again, as in smtp-server). */
  private announced = false;
  /** Slow-drip writes in progress (a fault): later writes, afterFlush and the close wait for them. */
  private dripping: Promise<void> | undefined;
  /**
   * Whether the latest write that went through the drip queue was written whole
   * (false: the socket closed part-way through a slow drip); undefined when the
   * latest write was handed to the socket at once.
   */
  private lastQueued: Promise<boolean> | undefined;
  private readonly onBytes = (chunk: Buffer) => this.input(chunk);
  /** The client read what we had written: reading may go on. */
  private readonly outputDrained = () => this.resume("output");
  /** A message stream wants more (or is gone): reading may go on. One function per connection. */
  readonly resumeStream = () => this.resume("stream");
  /** The fault seam and the reply observer: present only when the owner has them (the fixture). */
  readonly intercept:
    | ((stage: Stage, command: string) => MaybePromise<Directive | undefined>)
    | undefined;
  readonly observe: ((event: ReplyEvent) => void) | undefined;
  /** The server's `logger`, when it is on; then also the engine's `heard`, `dataHeard`, `said` and `relayed`. */
  /** The server's logger, when one is on. */
  readonly log: Log | undefined;
  readonly heard: ((command: string, line: string) => void) | undefined;
  readonly dataHeard: ((bytes: number) => void) | undefined;
  readonly said: ((reply: string) => void) | undefined;
  readonly relayed: EngineHost["relayed"];

  constructor(owner: ConnectionOwner, socket: Socket, number: number) {
    this.owner = owner;
    this.socket = socket;
    this.number = number;
    this.session = sessionFor(this.id, socket);
    // Both always assigned (undefined when absent): every connection has one shape.
    const internals = owner.internals;
    this.intercept = internals.intercept
      ? (stage, command) => internals.intercept?.(this, stage, command)
      : undefined;
    this.observe = internals.observe ? (event) => internals.observe?.(this, event) : undefined;
    const log = owner.options.log;
    this.log = log;
    this.heard = log
      ? (command, line) =>
          log.debug({ tnx: "command", cid: this.id, command, user: this.user() }, "C:", line)
      : undefined;
    this.dataHeard = log
      ? (bytes) =>
          log.debug(
            { tnx: "data", cid: this.id, bytes, user: this.user() },
            "C: <%s bytes of DATA>",
            bytes,
          )
      : undefined;
    this.relayed = log
      ? (verb, key, value, through, user) =>
          logRelayed(log, this.id, verb, key, value, through, user)
      : undefined;
    this.said = log
      ? (reply) =>
          log.debug({ tnx: "send", cid: this.id, user: this.user() }, "S:", withoutCrlf(reply))
      : undefined;
    this.engine = new Engine(owner.engineConfig, this, this.session);
    this.transcript = owner.internals.transcripts
      ? new TranscriptRecorder(number, this.id, this.session.remoteAddress, this.session.remotePort)
      : undefined;
    socket.setNoDelay(true);
    socket.on("error", (err) => owner.socketError(this, err));
    socket.on("close", (hadError: boolean) => this.closed(hadError));
    if (owner.options.socketTimeout > 0) {
      socket.setTimeout(owner.options.socketTimeout, () => this.timeout());
    }
  }

  /** Implicit TLS handshake if needed, onConnect, greeting delay, greeting, then reading. */
  async start(): Promise<void> {
    const o = this.owner.options;
    // A PROXY header comes first, before any TLS; then (if on) reverse DNS, bounded.
    const proxied = await acceptProxy(this.socket, o.proxy, this.session);
    if (!proxied) return this.close();
    if (this.log && proxied === "relayed" && !o.ignoredHosts.has(this.session.remoteAddress)) {
      // smtp-server's entry: the relayed client, the proxied-to address, the header's fields.
      const s = this.session;
      const fields = [isIPv6(s.remoteAddress) ? "TCP6" : "TCP4", s.remoteAddress, s.localAddress];
      fields.push(String(s.remotePort), String(s.localPort));
      this.log.info(
        { tnx: "proxy", cid: this.id, proxy: s.remoteAddress },
        "[%s] PROXY from %s through %s (%s)",
        this.id,
        s.remoteAddress,
        s.localAddress,
        JSON.stringify(fields),
      );
    }
    if (o.reverseLookup) {
      this.session.clientHostname = await reverseLookup(
        this.session.remoteAddress,
        o.resolver,
        undefined,
        this.log && this.reverseLookupReport(this.log),
      );
    }
    if (this.ended) return;
    if (o.secure && !o.secured) {
      const plain = this.socket;
      const transcript = this.transcript;
      if (transcript) transcript.implicitTls = plain;
      try {
        await this.upgrade();
        if (transcript) transcript.implicitTls = undefined;
      } catch (err) {
        if (transcript) noteHandshakeFailure(transcript, plain.bytesRead, err);
        // No TLS, no channel for a reply: report the failure (bad key material, a
        // client that does not speak TLS, onSecure refusing) and drop the connection.
        this.owner.socketError(this, err instanceof Error ? err : new Error(String(err)));
        this.socket.destroy();
        return;
      }
    }
    this.reachedSession = true;
    try {
      // `secure` with `secured`: TLS was done in front of this server.
      if (o.secure && o.secured) this.session.secure = true;
      const onConnect = this.owner.hooks.onConnect;
      if (onConnect) {
        await callHook((cb) => onConnect.call(this.owner, this.session, cb));
      }
      this.logConnection();
    } catch (err) {
      if (this.ended) return;
      this.logConnection();
      return this.refuseSession(err, "onConnect");
    }
    if (this.ended) return;
    // smtp-server: onSecure for a session that is secure from the start, after onConnect.
    if (this.session.secure) {
      try {
        await this.secureHook();
      } catch (err) {
        if (this.ended) return;
        return this.refuseSession(err, "onSecure");
      }
      if (this.ended) return;
    }
    // smtp-server: 'connect' once onConnect has accepted, unless XCLIENT or XFORWARD
    // may still say who the client is (then at XCLIENT ADDR, XFORWARD ADDR or MAIL).
    const engine = this.owner.engineConfig;
    if (!engine.xclient && !engine.xforward) this.clientKnown(false);
    if (o.greetingDelay > 0) await sleep(o.greetingDelay, this.endSignal);
    if (this.ended) return;
    // RFC 5321 4.3.1: the client waits for the greeting. Bytes already here are an
    // early talker (a spam-bot trait Postfix's postscreen tests for the same way).
    if (o.earlyTalkers === "reject" && this.socket.readableLength > 0) {
      this.engine.reply(
        "CONNECT",
        "",
        REPLIES.talkTooSoon(this.owner.engineConfig.name),
        "early talker",
      );
      this.engine.close();
      return;
    }
    this.engine.greet();
    this.socket.on("data", this.onBytes);
  }

  /** A hook refused the session before the greeting: its reply (554 or its responseCode), then close. */
  private refuseSession(err: unknown, reason: string): void {
    this.engine.reply("CONNECT", "", connectRefusal(err), reason);
    this.engine.close();
  }

  /** smtp-server's log entries for a reverse lookup that failed or found no usable name. */
  private reverseLookupReport(log: Log): ReverseLookupReport {
    const s = this.session;
    const entry = () => ({ tnx: "connection", cid: this.id, host: s.remoteAddress });
    return {
      failed: (err) =>
        log.error(
          { ...entry(), hostname: s.clientHostname, err },
          "Reverse resolve for %s: %s",
          s.remoteAddress,
          err.message,
        ),
      discarded: (name) =>
        log.info(
          { ...entry(), hostname: name },
          "Discarded invalid reverse resolved hostname %s for %s",
          JSON.stringify(name),
          s.remoteAddress,
        ),
    };
  }

  private logConnection(): void {
    const s = this.session;
    this.log?.info(
      { tnx: "connection", cid: this.id, host: s.remoteAddress, hostname: s.clientHostname },
      "Connection from %s",
      s.clientHostname,
    );
  }

  /** The `user` field of log entries. */
  private user(): unknown {
    return userField(this.session.user);
  }

  private input(chunk: Buffer): void {
    this.reads++;
    // After the server's close (a 221, a 421), reads only wait for the client's FIN:
    // a client that keeps writing must not fill the transcript (nothing reads it).
    if (this.ended) return;
    const transcript = this.transcript;
    if (transcript !== undefined && this.engine.droppingOversized) {
      this.inputPastLimit(transcript, chunk);
    } else {
      transcript?.client(chunk);
      this.engine.feed(chunk);
    }
    if (this.engine.backlog > MAX_BACKLOG) this.pause("backlog");
  }

  /**
   * A read while message data past the size limit is being dropped: the transcript
   * keeps the read as received until the engine has seen it, then only its length
   * if it was all such data (the size limit is the memory cap, transcripts included).
   */
  private inputPastLimit(transcript: TranscriptRecorder, chunk: Buffer): void {
    const entry = transcript.length;
    transcript.client(chunk, false);
    this.engine.feed(chunk);
    if (this.engine.droppingOversized) transcript.omit(entry);
  }

  pause(reason: string): void {
    if (this.pauses.size === 0) this.socket.pause();
    this.pauses.add(reason);
  }

  resume(reason: string): void {
    if (!this.pauses.delete(reason)) return;
    if (this.pauses.size === 0 && !this.ended) this.socket.resume();
  }

  // ---- EngineHost -----------------------------------------------------------

  write(text: string, pace?: DripPace): void {
    if (this.ended || this.socket.destroyed) return;
    if (!pace && !this.dripping) {
      this.lastQueued = undefined;
      this.transcript?.server(text);
      const socket = this.socket;
      socket.write(text);
      if (socket.writableLength > MAX_UNSENT && !this.pauses.has("output")) {
        this.pause("output");
        socket.once("drain", this.outputDrained);
      }
      return;
    }
    const socket = this.socket;
    const transcript = this.transcript;
    const ended = this.endSignal;
    const whole = (this.dripping ?? Promise.resolve()).then(() =>
      drip(socket, text, pace, transcript, ended),
    );
    const queued = whole.then(() => undefined);
    this.lastQueued = whole;
    this.dripping = queued;
    void queued.then(() => {
      if (this.dripping === queued) this.dripping = undefined;
    });
  }

  /**
   * Whether the latest write (the one just made) has been handed to the OS whole
   * already: then `afterFlush` would run its callback at once, with `true`.
   */
  flushedNow(): boolean {
    return (
      this.lastQueued === undefined && !this.socket.destroyed && this.socket.writableLength === 0
    );
  }

  /**
   * Runs `fn` once the latest write (the one just made) has been handed to the OS,
   * with whether it was written whole: false when the client left part-way through a
   * slow drip of it (a 250 it never got whole), whatever the writes after it did.
   */
  afterFlush(fn: (whole: boolean) => void): void {
    const mine = this.lastQueued;
    if (mine === undefined) {
      this.handedOff(fn);
      return;
    }
    // Behind a slow drip: settled by the drip, or by the close (whichever comes first),
    // so nothing waits past the connection's end (a close() that resolved, then a
    // message published: see `closed`).
    let settled = false;
    const once = (whole: boolean) => {
      if (settled) return;
      settled = true;
      this.dripFlushes?.delete(once);
      fn(whole);
    };
    this.dripFlushes ??= new Set();
    this.dripFlushes.add(once);
    void mine.then((whole) => {
      if (whole) this.handedOff(once);
      else once(false);
    });
  }

  /** `afterFlush` callbacks waiting on a slow drip (made at the first). */
  private dripFlushes: Set<(whole: boolean) => void> | undefined;

  private handedOff(fn: (whole: boolean) => void): void {
    // Gone already: what was queued for it never left this process.
    if (this.socket.destroyed) {
      fn(false);
      return;
    }
    if (this.socket.writableLength === 0) {
      fn(true);
      return;
    }
    this.writeCallbacks.push(fn);
    this.socket.write("", this.flushed);
  }

  /**
   * The writes queued before the oldest waiter's marker were handed to the OS (no
   * error), or never will be: the socket failed first. Write callbacks come in order,
   * one per write("", flushed), so a 250 queued after it has not necessarily left yet.
   */
  private readonly flushed = (error?: Error | null) => {
    this.writeCallbacks.shift()?.(!error);
  };

  /** Closed with writes still waiting: a client that left with them backed up never got them. */
  private abandonWrites(): void {
    const fns = this.writeCallbacks;
    if (fns.length === 0) return;
    this.writeCallbacks = [];
    for (const fn of fns) fn(false);
  }

  close(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.dripping) void this.dripping.then(() => this.endSocket());
    else this.endSocket();
  }

  private endSocket(): void {
    // Gone already (a drip the close waited for ended with the connection).
    if (this.socket.destroyed) return;
    this.socket.end();
    // Keep reading (and discarding) so the client's FIN is seen at once, even when
    // reading was paused or never started (refused in onConnect, early talker).
    this.socket.resume();
    // A client that never reads its socket must not keep us open forever.
    const t = setTimeout(() => this.socket.destroy(), 2000);
    t.unref();
    this.socket.once("close", () => clearTimeout(t));
  }

  mailFrom(address: SMTPAddress): MaybePromise<void> {
    const hook = this.owner.hooks.onMailFrom;
    return hook ? this.addressHook(hook, address, "MAIL") : undefined;
  }

  rcptTo(address: SMTPAddress): MaybePromise<void> {
    const hook = this.owner.hooks.onRcptTo;
    return hook ? this.addressHook(hook, address, "RCPT") : undefined;
  }

  /** Apart from mailFrom/rcptTo so that they allocate nothing without a hook (closure contexts). */
  private addressHook(
    hook: NonNullable<Hooks["onMailFrom"]>,
    address: SMTPAddress,
    command: string,
  ): Promise<void> {
    return callHook((cb) => hook.call(this.owner, address, this.session, cb)).then(
      () => undefined,
      (err: unknown) => {
        this.logCrash(err, command);
        throw err;
      },
    );
  }

  /** A hook that threw (a crash, answered 451, not a refusal): smtp-server's error entry. */
  private logCrash(err: unknown, command: string): boolean {
    if (!(err instanceof HookCrash)) return false;
    this.log?.error(
      { err: err.cause, tnx: "command", cid: this.id, command },
      "%s Failed to process %s command: %s",
      this.id,
      command,
      err.cause.message,
    );
    return true;
  }

  auth(request: AuthRequest): MaybePromise<AuthOutcome> {
    const outcome = this.askAuth(request);
    const log = this.log;
    if (!log) return outcome;
    const { method, username } = request;
    const logged = (o: AuthOutcome): AuthOutcome => {
      // XCLIENT LOGIN let through without an identity (no onAuth, or a bare callback()).
      const skipped = o.ok && o.user === undefined && method === "XCLIENT";
      const tnx = skipped ? "authskip" : o.ok ? "auth" : "authfail";
      const entry = { tnx, cid: this.id, method, user: username };
      if (skipped) log.info(entry, "Authentication skipped for %s using %s", username, method);
      else if (o.ok) log.info(entry, "%s authenticated using %s", username, method);
      else log.info(entry, "Authentication failed for %s using %s", username, method);
      return o;
    };
    if (!(outcome instanceof Promise)) return logged(outcome);
    return outcome.then(logged, (err: unknown) => {
      if (this.logCrash(err, "AUTH")) throw err;
      const message = err instanceof Error ? err.message : String(err);
      log.info(
        { err, tnx: "autherror", cid: this.id, method, user: username },
        "Authentication error for %s using %s. %s",
        username,
        method,
        message,
      );
      throw err;
    });
  }

  private askAuth(request: AuthRequest): MaybePromise<AuthOutcome> {
    const hook = this.owner.hooks.onAuth;
    // smtp-server: XCLIENT LOGIN passes unauthenticated (user undefined) without an
    // onAuth or on a bare callback(); only a response without a user refuses it.
    const pass: AuthOutcome | undefined =
      request.method === "XCLIENT" ? { ok: true, user: undefined } : undefined;
    if (!hook) return pass ?? { ok: false, reply: AUTH_NOT_IMPLEMENTED };
    return callHook<AuthResponse>((cb) => hook.call(this.owner, request, this.session, cb)).then(
      (res): AuthOutcome => {
        if (res?.user) return { ok: true, user: res.user };
        if (res === undefined && pass) return pass;
        // smtp-server: a response without a user may carry its own message and code.
        const refusal =
          res?.message !== undefined || res?.responseCode !== undefined
            ? errorToReply(
                {
                  responseCode: res.responseCode ?? 535,
                  message: res.message ?? AUTH_FAILED.lines[0],
                },
                535,
              )
            : AUTH_FAILED;
        return res?.data
          ? { ok: false, reply: refusal, xoauth2Details: res.data }
          : { ok: false, reply: refusal };
      },
    );
  }

  openData(): DataSink {
    const own = this.owner.internals.openSink?.(this);
    if (own) return own;
    const owner = this.owner;
    return streamSink(this, owner.hooks.onData, owner.engineConfig.lmtp, owner);
  }

  startTls(secured: () => void, command: string): Promise<void> {
    // A dripped 220 (a fault) is written in full first: the client starts the
    // handshake only after the whole line. Nothing read meanwhile is taken for SMTP.
    this.socket.removeListener("data", this.onBytes);
    // More read than this is the client's ClientHello; more written, the server's answer.
    const plain = this.socket;
    const read = plain.bytesRead;
    const written = plain.bytesWritten;
    const upgraded = this.dripping ? this.dripping.then(() => this.upgrade()) : this.upgrade();
    return upgraded.then(
      async () => {
        secured();
        if (this.transcript) this.securedAt = { command, entries: this.transcript.length };
        if (this.log) {
          const cipher = (this.socket as TLSSocket).getCipher?.()?.name;
          this.log.info(
            { tnx: "starttls", cid: this.id, user: this.user(), cipher },
            "Connection upgraded to TLS using",
            cipher ?? "N/A",
          );
        }
        try {
          await this.secureHook();
        } catch (err) {
          // As in smtp-server: the refusal is told over TLS (554 or its responseCode).
          this.engine.reply("STARTTLS", "", connectRefusal(err), "onSecure");
          throw err;
        }
        if (this.engine.mode.kind !== "closed" && this.pauses.size === 0) {
          this.socket.on("data", this.onBytes);
        }
      },
      (err: unknown) => {
        const helloRead = plain.bytesRead > read;
        const answered = plain.bytesWritten > written;
        this.tlsFailed(command, startTlsFailure(this.handshakeCut, helloRead, answered, err));
        this.owner.socketError(this, err instanceof Error ? err : new Error(String(err)));
        throw err;
      },
    );
  }

  /** A STARTTLS handshake that gave no session: noted in the transcript, and an attempt. */
  private tlsFailed(command: string, failure: StartTlsFailure | undefined): void {
    if (failure === undefined) return;
    this.transcript?.note(failure.note);
    this.owner.internals.tlsFailed?.(this, command, failure.reason, failure.certificate);
  }

  /** The `onSecure` hook, if any, with the (TLS) socket and the session. */
  private secureHook(): Promise<void> {
    const onSecure = this.owner.hooks.onSecure;
    if (!onSecure) return Promise.resolve();
    return callHook((cb) =>
      onSecure.call(this.owner, this.socket as TLSSocket, this.session, cb),
    ).then(() => undefined);
  }

  /** The TLS handshake; reading resumes on the TLS socket only when the caller says so. */
  private upgrade(): Promise<void> {
    this.socket.removeListener("data", this.onBytes);
    this.upgrading = true;
    return upgradeToTls(this.owner, this).then(
      (tlsSocket: TLSSocket) => {
        this.upgrading = false;
        this.socket = tlsSocket;
      },
      (err: unknown) => {
        this.upgrading = false;
        throw err;
      },
    );
  }

  /** A STARTTLS fault: wait for the ClientHello, then answer it with an alert or nothing. */
  failTls(mode: "alert" | "close"): Promise<void> {
    const socket = this.socket;
    socket.removeListener("data", this.onBytes);
    return new Promise<void>((resolve) => {
      socket.once("data", () => {
        this.transcript?.note(
          mode === "alert"
            ? "ClientHello answered with a TLS handshake_failure alert"
            : "ClientHello answered by closing the connection",
        );
        if (mode === "alert") socket.write(TLS_HANDSHAKE_FAILURE);
        resolve();
      });
      socket.once("close", () => resolve());
    });
  }

  unusedCut(directive: Directive): void {
    this.owner.internals.unusedCut?.(this, directive);
  }

  faultEnded(reason: string, reply: Reply | undefined): void {
    this.owner.internals.faultEnded?.(this, reason, reply);
  }

  transactionEnded(
    stage: HeldStage,
    reason: string,
    reply: Reply | undefined,
    command: string,
  ): void {
    this.owner.internals.transactionEnded?.(this, stage, reason, reply, command);
  }

  noted(text: string): void {
    this.transcript?.note(text);
  }

  secret(start: number, end: number): void {
    this.transcript?.secret(start, end);
  }

  drained(): void {
    this.resume("backlog");
  }

  clientKnown(again: boolean): void {
    if (!this.reachedSession || (this.announced && !again)) return;
    this.announced = true;
    this.owner.connected(this);
  }

  // ---- lifecycle --------------------------------------------------------------

  private timeout(): void {
    if (this.ended) return;
    // Node runs due timers before it reads: after a stall of this process (a long
    // synchronous task, a GC pause, a busy CI machine) a command the client sent in
    // time can be waiting unread. Look again once the reads waiting now are in; a read
    // restarts the socket's idle timer.
    const reads = this.reads;
    setImmediate(() => {
      if (this.reads === reads) this.idle();
    });
  }

  /** The client said nothing for `socketTimeout`. */
  private idle(): void {
    if (this.ended) return;
    // Mid-handshake a plaintext 421 would only corrupt the TLS stream; before the
    // session (a PROXY header still awaited) nobody is listening for SMTP.
    if (this.upgrading || !this.reachedSession) {
      if (this.upgrading) this.handshakeCut = "timeout";
      this.socket.destroy();
      return;
    }
    this.engine.timedOut(REPLIES.timeout);
  }

  /** closeTimeout ran out: tell the client (421) if it can still hear us, then drop it. */
  cut(): void {
    const reply = this.upgrading ? undefined : REPLIES.shuttingDown;
    if (this.upgrading) this.handshakeCut = "server closed";
    if (reply) {
      const enhanced = this.owner.engineConfig.capabilities.has("ENHANCEDSTATUSCODES");
      const text = serializeReply(reply, enhanced);
      this.said?.(text);
      this.write(text);
    }
    this.engine.cutOff(reply);
    this.ended = true;
    this.socket.end();
    const t = setTimeout(() => this.socket.destroy(), 100);
    t.unref();
  }

  /**
   * Server closing: idle connections get 421 now, busy ones after their transaction.
   * One still in a TLS handshake (implicit TLS, STARTTLS) or before its session (a
   * PROXY header, onConnect) has no transaction and cannot be told: a plaintext
   * 421 would only corrupt the TLS stream. It is dropped now.
   */
  shutdown(): void {
    if (this.upgrading || !this.reachedSession) {
      if (this.upgrading) this.handshakeCut = "server closed";
      this.ended = true;
      this.socket.destroy();
      return;
    }
    this.engine.shutdown();
  }

  /**
   * The TLS session broke after the handshake (a bad record): the server drops the
   * connection, so its end is not the client leaving once it had the certificate.
   */
  tlsBroken(): void {
    this.securedAt = undefined;
  }

  /**
   * Aborts once the connection has closed: a wait on its behalf (a fault's delay, a
   * slow drip, the greeting delay) ends then, and lets the connection go.
   */
  get endSignal(): AbortSignal {
    if (this.#gone === undefined) {
      this.#gone = new AbortController();
      // Any number of waits may listen at once (pipelined delays, a drip).
      setMaxListeners(0, this.#gone.signal);
      if (this.#closed) this.#gone.abort();
    }
    return this.#gone.signal;
  }

  private closed(hadError: boolean): void {
    this.#closed = true;
    this.#gone?.abort();
    const secured = this.securedAt;
    if (secured && !this.ended && this.transcript?.length === secured.entries) {
      this.tlsFailed(secured.command, LEFT_AFTER_HANDSHAKE);
    }
    this.ended = true;
    this.logClose(hadError);
    if (this.transcript) this.transcript.closed = true;
    this.engine.lost();
    this.abandonWrites();
    if (this.dripFlushes) for (const fn of [...this.dripFlushes]) fn(false);
    this.owner.connectionClosed(this);
  }

  private logClose(hadError: boolean): void {
    const log = this.log;
    if (!log) return;
    const s = this.session;
    const host = s.remoteAddress;
    const user = this.user();
    log.info(
      { tnx: "close", cid: this.id, host, user, hadError },
      `%s received "close" event from %s${hadError ? " after error" : ""}`,
      this.id,
      host,
    );
    log.info(
      { tnx: "close", cid: this.id, host, user },
      "Connection closed to %s",
      s.clientHostname || host,
    );
  }
}

/**
 * An implicit-TLS handshake failed: the transcript says how, since it holds nothing
 * else (no greeting was sent). A client that sent nothing was waiting for one.
 */
function noteHandshakeFailure(transcript: TranscriptRecorder, bytesRead: number, err: unknown) {
  transcript.implicitTls = { bytesRead };
  if (bytesRead === 0) {
    transcript.note(
      "no TLS handshake: the client sent nothing before the connection closed (implicit TLS)",
    );
    return;
  }
  transcript.note(`TLS handshake failed (implicit TLS): ${tlsErrorReason(err)}`);
}

/** A TLS alert record: fatal (2) handshake_failure (40), record version TLS 1.2. */
const TLS_HANDSHAKE_FAILURE = Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28]);

/**
 * Writes `text` `bytesPerChunk` bytes at a time, `intervalMs` apart (a slow-drip
 * fault). False if the socket closed before all of it was written.
 */
async function drip(
  socket: Socket,
  text: string,
  pace: DripPace | undefined,
  transcript: TranscriptRecorder | undefined,
  ended: AbortSignal,
): Promise<boolean> {
  const parts = pace ? pieces(text, pace.bytesPerChunk) : [text];
  for (let i = 0; i < parts.length; i++) {
    if (i > 0 && pace) await sleep(pace.intervalMs, ended);
    if (socket.destroyed) return false;
    const part = parts[i]!;
    transcript?.server(part);
    socket.write(part);
  }
  return true;
}

/** `text` cut into pieces of at most `size` UTF-8 bytes (whole characters). */
function pieces(text: string, size: number): string[] {
  const out: string[] = [];
  let cur = "";
  let bytes = 0;
  for (const ch of text) {
    const n = Buffer.byteLength(ch);
    if (bytes > 0 && bytes + n > size) {
      out.push(cur);
      cur = "";
      bytes = 0;
    }
    cur += ch;
    bytes += n;
  }
  if (cur) out.push(cur);
  return out;
}

/** onConnect/onSecure's refusal: its code when it is one (400-599), else 554. */
function connectRefusal(err: unknown) {
  const e = err as { responseCode?: unknown; message?: unknown } | undefined;
  const rc = e?.responseCode;
  const code = isRefusalCode(rc) ? Math.trunc(rc) : 554;
  const text =
    typeof e?.message === "string" && e.message ? e.message : "Error: connection refused";
  return { code, lines: [text.replace(/[\r\n]+/g, " ")] };
}

function sessionFor(id: string, socket: Socket): SMTPSession {
  return newSession(id, {
    remoteAddress: normalizeAddress(socket.remoteAddress ?? ""),
    remotePort: socket.remotePort ?? 0,
    localAddress: normalizeAddress(socket.localAddress ?? ""),
    localPort: socket.localPort ?? 0,
  });
}

/** The last two addresses seen: connections from the same host share one string. */
const knownAddresses: string[] = [];

/**
 * `::ffff:127.0.0.1` (IPv4 on a dual-stack socket) reads as `127.0.0.1`. An address
 * seen just before is that same string (what a connection's records keep).
 */
function normalizeAddress(raw: string): string {
  const address = raw.startsWith("::ffff:") && raw.includes(".") ? raw.slice(7) : raw;
  for (const known of knownAddresses) if (known === address) return known;
  knownAddresses.unshift(address);
  knownAddresses.length = Math.min(knownAddresses.length, 2);
  return address;
}
