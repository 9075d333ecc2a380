/**
 * A fake EngineHost and config builder for engine tests: records every write and
 * close, lets a test decide what the hooks do (sync or async), and waits on what
 * the engine does, never on time.
 */
import { Capabilities, type Capability } from "../../src/protocol/capabilities.js";
import type { EngineConfig } from "../../src/protocol/config.js";
import { Engine } from "../../src/protocol/engine.js";
import type {
  AuthOutcome,
  DataEndInfo,
  DataSink,
  Directive,
  EngineHost,
  ReplyEvent,
} from "../../src/protocol/host.js";
import type { Reply } from "../../src/protocol/reply.js";
import { AUTH_FAILED, type AuthRequest } from "../../src/protocol/sasl.js";
import {
  newSession,
  type SMTPAddress,
  type SMTPSession,
  type Stage,
} from "../../src/protocol/types.js";
import type { MaybePromise } from "../../src/protocol/util.js";

export type ConfigPatch = Partial<Omit<EngineConfig, "capabilities">> & {
  readonly capabilities?: readonly Capability[];
};

/** The extensions an smtp-server with default options advertises. */
export const DEFAULT_CAPABILITIES: readonly Capability[] = ["PIPELINING", "8BITMIME", "SMTPUTF8"];

export function engineConfig(patch: ConfigPatch = {}): EngineConfig {
  const { capabilities = DEFAULT_CAPABILITIES, ...rest } = patch;
  return {
    name: "mx.test",
    banner: "",
    lmtp: false,
    size: 0,
    hideSize: false,
    authMethods: [],
    authRequired: false,
    allowInsecureAuth: false,
    tlsAvailable: false,
    disabledCommands: new Set<string>(),
    // RFC 5321 4.5.3.1.4: 512 octets incl. CRLF; small so "too long" is cheap to build
    maxCommandLength: 512,
    maxUnrecognizedCommands: 10,
    maxUnauthenticatedCommands: 10,
    maxRecipients: 0,
    bareLf: "accept",
    heloResponse: "%s Nice to meet you, %s",
    lenientAddressParsing: false,
    ...rest,
    capabilities: new Capabilities(capabilities),
  };
}

/** A fresh session as a connection from 127.0.0.1:50000 would have. */
export function testSession(): SMTPSession {
  return newSession("test-session", {
    remoteAddress: "127.0.0.1",
    remotePort: 50000,
    localAddress: "127.0.0.1",
    localPort: 25,
  });
}

export interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(err: unknown): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

type EndVerdict = MaybePromise<Reply | readonly Reply[] | undefined>;

/** A DataSink that keeps everything it is told. */
export class FakeSink implements DataSink {
  readonly chunks: Buffer[] = [];
  exceededCalls = 0;
  endInfo: DataEndInfo | undefined;
  aborted: string | undefined;
  repliedWith: { reply: Reply; delivered: boolean } | undefined;
  private readonly onEnd: (info: DataEndInfo, sink: FakeSink) => EndVerdict;

  constructor(onEnd: (info: DataEndInfo, sink: FakeSink) => EndVerdict) {
    this.onEnd = onEnd;
  }

  /** The body as the sink received it. */
  get body(): string {
    return Buffer.concat(this.chunks).toString("latin1");
  }

  write(chunk: Buffer): void {
    // The engine may hand out slices of its input: copy, as a real sink would consume.
    this.chunks.push(Buffer.from(chunk));
  }

  exceeded(): void {
    this.exceededCalls++;
  }

  end(info: DataEndInfo): EndVerdict {
    this.endInfo = info;
    return this.onEnd(info, this);
  }

  abort(reason: string): void {
    this.aborted = reason;
  }

  replied(reply: Reply, delivered: boolean): void {
    this.repliedWith = { reply, delivered };
  }
}

export class FakeHost implements EngineHost {
  readonly writes: string[] = [];
  closes = 0;
  readonly sinks: FakeSink[] = [];
  readonly events: ReplyEvent[] = [];
  readonly intercepted: Array<{ stage: Stage; command: string }> = [];
  tlsStarts = 0;

  onMailFrom: (address: SMTPAddress) => MaybePromise<void> = () => undefined;
  onRcptTo: (address: SMTPAddress) => MaybePromise<void> = () => undefined;
  onAuth: (request: AuthRequest) => MaybePromise<AuthOutcome> = () => ({
    ok: false,
    reply: AUTH_FAILED,
  });
  /** What each sink's `end()` answers; `undefined` means the default 250. */
  onEnd: (info: DataEndInfo, sink: FakeSink) => EndVerdict = () => undefined;
  /** The fault seam; `undefined` means no directive for any stage. */
  interceptor: ((stage: Stage, command: string) => MaybePromise<Directive | undefined>) | undefined;

  private waiters: Array<() => void> = [];

  /** Everything written so far, concatenated. */
  get output(): string {
    return this.writes.join("");
  }

  get sink(): FakeSink {
    const s = this.sinks[this.sinks.length - 1];
    if (!s) throw new Error("no data sink was opened");
    return s;
  }

  write(text: string): void {
    this.writes.push(text);
    this.wake();
  }

  close(): void {
    this.closes++;
    this.wake();
  }

  mailFrom(address: SMTPAddress): MaybePromise<void> {
    return this.onMailFrom(address);
  }

  rcptTo(address: SMTPAddress): MaybePromise<void> {
    return this.onRcptTo(address);
  }

  auth(request: AuthRequest): MaybePromise<AuthOutcome> {
    return this.onAuth(request);
  }

  openData(): DataSink {
    const sink = new FakeSink((info, s) => this.onEnd(info, s));
    this.sinks.push(sink);
    return sink;
  }

  startTls(secured: () => void): Promise<void> {
    this.tlsStarts++;
    // The handshake is done later, as on a socket: not within the STARTTLS command.
    return Promise.resolve().then(secured);
  }

  intercept(stage: Stage, command: string): MaybePromise<Directive | undefined> {
    this.intercepted.push({ stage, command });
    return this.interceptor?.(stage, command);
  }

  observe(event: ReplyEvent): void {
    this.events.push(event);
  }

  drained(): void {
    this.wake();
  }

  /**
   * Resolves once `condition` holds, checked now and after every write, close and
   * drain. Fails with what did happen if the engine goes quiet without it.
   */
  async until(condition: () => boolean, what = "condition"): Promise<void> {
    for (let idle = 0; !condition(); ) {
      const woke = await Promise.race([
        new Promise<true>((resolve) => this.waiters.push(() => resolve(true))),
        settled().then(() => false),
      ]);
      idle = woke ? 0 : idle + 1;
      if (idle > 20) {
        throw new Error(
          `engine went quiet before ${what}; output so far: ${JSON.stringify(this.output)}`,
        );
      }
    }
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const fn of w) fn();
  }
}

/** Lets every promise callback queued so far run (no timers involved). */
function settled(): Promise<void> {
  return new Promise<void>((resolve) => setImmediate(resolve));
}

export interface ParsedReply {
  code: number;
  lines: string[];
}

/** Splits serialised replies (as written by the engine) into codes and lines. */
export function parseReplies(text: string): ParsedReply[] {
  const out: ParsedReply[] = [];
  let current: string[] = [];
  for (const line of text.split("\r\n").slice(0, -1)) {
    current.push(line.slice(4));
    if (line[3] !== "-") {
      out.push({ code: Number(line.slice(0, 3)), lines: current });
      current = [];
    }
  }
  return out;
}

export function codesOf(text: string): number[] {
  return parseReplies(text).map((r) => r.code);
}

export interface TestEngine {
  readonly engine: Engine;
  readonly host: FakeHost;
  readonly session: SMTPSession;
  readonly config: EngineConfig;
  /** Feeds text (latin1, so every byte is what the test wrote) or bytes. */
  feed(input: string | Buffer): void;
  /** Replies written since the last call to `take()` (or since the start). */
  take(): ParsedReply[];
  /** Codes of the replies written since the last `take()`. */
  codes(): number[];
  /** The raw text written since the last `take()`/`text()`, consumed like `take()`. */
  text(): string;
  /** Resolves once `n` replies wait unread (written since the last `take()`). */
  untilReplies(n: number): Promise<void>;
}

export interface StartOptions {
  config?: ConfigPatch;
  /** Send the greeting and read it away (default true). */
  greet?: boolean;
  /** Also send `EHLO client.test` and read its reply away. */
  ehlo?: boolean;
  setup?(host: FakeHost): void;
}

export function startEngine(options: StartOptions = {}): TestEngine {
  const host = new FakeHost();
  options.setup?.(host);
  const session = testSession();
  const config = engineConfig(options.config);
  const engine = new Engine(config, host, session);
  let seen = 0;
  const t: TestEngine = {
    engine,
    host,
    session,
    config,
    feed(input) {
      engine.feed(typeof input === "string" ? Buffer.from(input, "latin1") : input);
    },
    take() {
      return parseReplies(t.text());
    },
    codes() {
      return t.take().map((r) => r.code);
    },
    text() {
      const text = host.output.slice(seen);
      seen = host.output.length;
      return text;
    },
    untilReplies(n) {
      const unread = () => parseReplies(host.output.slice(seen)).length;
      return host.until(() => unread() >= n, `${n} replies`);
    },
  };
  if (options.greet !== false) {
    engine.greet();
    t.take();
  }
  if (options.ehlo) {
    t.feed(options.config?.lmtp ? "LHLO client.test\r\n" : "EHLO client.test\r\n");
    t.take();
  }
  return t;
}
