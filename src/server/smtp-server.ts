/**
 * SMTPServer: the seed's and nodemailer smtp-server's API over the sans-I/O engine.
 * Construction is cheap (no sockets, no TLS context); `listen()` binds; `close()`
 * lets transactions in flight finish (or get 421) and resolves when the port is free.
 */
import { EventEmitter } from "node:events";
import { createServer, type Server, type Socket } from "node:net";
import { createSecureContext, type SecureContext, type SecureContextOptions } from "node:tls";
import type { Capabilities } from "../protocol/capabilities.js";
import type { EngineConfig } from "../protocol/config.js";
import { REPLIES } from "../protocol/replies.js";
import { serializeReply } from "../protocol/reply.js";
import { Connection } from "./connection.js";
import { type ServerLogger, serverLogger, userField, withoutCrlf } from "./logger.js";
import {
  makeCapabilities,
  type ResolvedOptions,
  resolveOptions,
  type SMTPServerHandlers,
  type SMTPServerOptions,
  sniMap,
} from "./options.js";
import { clearTimeout, setTimeout } from "./real-timers.js";
import { loadTestCertificates } from "./test-certs.js";
import {
  type ConnectionOwner,
  HOOK_NAMES,
  type HookName,
  type Hooks,
  type ServerInternals,
  type TlsSettings,
} from "./types.js";

/** Internal hook-up for the fixture; not part of the public API. */
export const INTERNALS: unique symbol = Symbol("smtp-fixture.internals");

type ListenCallback = () => void;

/**
 * The handlers live on the instance, as in smtp-server (copied from the options),
 * so code may also assign them after construction or define them as methods of a
 * subclass. Declared by interface merging: a class field would be emitted and hide
 * a subclass's method.
 */
export interface SMTPServer extends SMTPServerHandlers {}

// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: the merged members are all optional handlers, set from the options or by the user
export class SMTPServer extends EventEmitter implements ConnectionOwner {
  readonly options: ResolvedOptions;
  readonly engineConfig: EngineConfig;
  readonly capabilities: Capabilities;
  readonly internals: ServerInternals;
  /** The underlying net.Server (smtp-server exposes it the same way). */
  readonly server: Server;
  readonly connections = new Set<Connection>();
  /**
   * Sockets refused with a 421 (over `maxClients`, or while closing) until they close.
   * An ES private field, so that a subclass's own members cannot clash with it.
   */
  readonly #refused = new Set<Socket>();
  /** smtp-server's `server.logger`: the `logger` option's methods, no-ops when it is off. */
  readonly logger: ServerLogger;
  private connectionCount = 0;
  private tlsOptions: SecureContextOptions & TlsSettings;
  /** sniOptions by normalised server name; replaced by updateSecureContext({ sniOptions }). */
  private sni: ReadonlyMap<string, SecureContextOptions>;
  private contexts = new Map<string, SecureContext>();
  private closing: Promise<void> | undefined;
  /** listen() calls in progress: their failure is reported through the returned promise. */
  private pendingListens = 0;

  constructor(options: SMTPServerOptions & { [INTERNALS]?: ServerInternals } = {}) {
    super();
    this.options = resolveOptions(options);
    this.capabilities = makeCapabilities(this.options);
    this.engineConfig = Object.freeze({ ...this.options.engine, capabilities: this.capabilities });
    for (const name of HOOK_NAMES) {
      const hook: unknown = options[name];
      // Absent (undefined or null) leaves the handler alone, so a subclass method stays.
      if (hook === undefined || hook === null) continue;
      if (typeof hook !== "function") {
        throw new TypeError(
          `SMTPServer: ${name} must be a function (callback style or async), got ${typeof hook}`,
        );
      }
      (this as Record<HookName, unknown>)[name] = hook;
    }
    this.internals = options[INTERNALS] ?? {};
    this.logger = serverLogger(this.options.log);
    this.tlsOptions = options;
    this.sni = this.options.sni;
    // The net.ServerOpts that leave the protocol alone; allowHalfOpen and
    // pauseOnConnect would (a half-closed client must be ended, reading must start).
    const { keepAlive, keepAliveInitialDelay, highWaterMark } = options;
    this.server = createServer(
      {
        noDelay: true,
        ...(keepAlive !== undefined ? { keepAlive } : {}),
        ...(keepAliveInitialDelay !== undefined ? { keepAliveInitialDelay } : {}),
        ...(highWaterMark !== undefined ? { highWaterMark } : {}),
      },
      (socket) => this.accept(socket),
    );
    // A failed listen() already rejects its promise; re-emitting the error with no
    // 'error' listener would also throw it out of the event loop.
    this.server.on("error", (err) => {
      if (this.listenerCount("error") > 0 || this.pendingListens === 0) this.emit("error", err);
    });
  }

  /**
   * Starts listening. Accepts smtp-server's forms: `listen(port, host?, cb?)`,
   * `listen(port, cb)`, `listen(options, cb?)`. Resolves once listening.
   */
  listen(...args: unknown[]): Promise<this> {
    const cb =
      typeof args[args.length - 1] === "function" ? (args.pop() as ListenCallback) : undefined;
    // Listening again after close() (net.Server allows it) accepts clients again.
    if (this.closing && !this.server.listening) this.closing = undefined;
    this.pendingListens++;
    // Set when the error went to an 'error' listener: see `failed`.
    let heard = false;
    let created = false;
    const listening = new Promise<this>((resolve, reject) => {
      const settle = () => {
        this.pendingListens--;
        this.server.removeListener("error", failed);
        this.server.removeListener("listening", ready);
      };
      const failed = (err: Error) => {
        settle();
        // smtp-server's pattern, server.on("error", ...) then listen(port) not awaited:
        // the listener has the error, so the promise nobody awaits is no unhandled
        // rejection that ends the process (an await still gets the error).
        heard = this.listenerCount("error") > 0;
        reject(err);
        if (heard && created) listening.catch(() => {});
      };
      const ready = () => {
        settle();
        this.logListening();
        this.emit("listening");
        cb?.();
        resolve(this);
      };
      this.server.once("error", failed);
      this.server.once("listening", ready);
      if (args.length === 0) args.push(0);
      try {
        (this.server.listen as (...a: unknown[]) => void)(...args);
      } catch (thrown) {
        // Invalid arguments and "already listening" are thrown by net, not emitted: an
        // 'error' listener gets them too, as it gets a port in use.
        const err = thrown instanceof Error ? thrown : new Error(String(thrown));
        if (this.listenerCount("error") > 0) this.emit("error", err);
        failed(err);
      }
    });
    created = true;
    if (heard) listening.catch(() => {});
    return listening;
  }

  private logListening(): void {
    const log = this.options.log;
    if (!log) return;
    const address = this.server.address();
    if (!address || typeof address === "string") return;
    const host = address.family === "IPv4" ? address.address : `[${address.address}]`;
    const protocol = this.engineConfig.lmtp ? "LMTP" : "SMTP";
    const secure = this.options.secure;
    log.info(
      { tnx: "listen", host: address.address, port: address.port, secure, protocol },
      "%s%s Server listening on %s:%s",
      secure ? "Secure " : "",
      protocol,
      host,
      address.port,
    );
  }

  /** Like smtp-server's `server.address()` on the net.Server. */
  address(): ReturnType<Server["address"]> {
    return this.server.address();
  }

  /**
   * Stops accepting, lets in-flight transactions finish (others get 421), waits for
   * every connection to end (at most `closeTimeout`), then resolves. Given a
   * callback (smtp-server's form, or Jest's and mocha's `done`), calls it then and
   * returns nothing: those runners refuse a hook that takes `done` and returns a promise.
   */
  close(): Promise<void>;
  close(callback: () => void): void;
  close(callback?: () => void): Promise<void> | undefined {
    this.closing ??= this.shutdown();
    if (typeof callback !== "function") return this.closing;
    this.closing.then(
      () => callback(),
      () => callback(),
    );
    return undefined;
  }

  private async shutdown(): Promise<void> {
    // net.Server.close() waits for every socket it accepted, refused ones included.
    const stopped = new Promise<void>((resolve) => {
      if (!this.server.listening) return resolve();
      this.server.close(() => resolve());
    });
    // A refused client already has its 421: it goes as soon as that is written,
    // even if it never closes its side.
    for (const socket of this.#refused) dropWhenWritten(socket);
    if (this.connections.size === 0 && this.#refused.size === 0) {
      await stopped;
    } else {
      for (const c of this.connections) c.shutdown();
      const cut = setTimeout(() => {
        for (const c of this.connections) c.cut();
        for (const socket of this.#refused) socket.destroy();
      }, this.options.closeTimeout);
      // The sockets are unref()ed: once the cut has fired and the clients have gone,
      // nothing else may hold the process, which would exit before close() resolves
      // (a script's `await smtp.close()` never returning, node:test's after hook dropped).
      const alive = setTimeout(() => {}, 2 ** 31 - 1);
      await Promise.all([
        stopped,
        ...[...this.connections].map((c) => closedOf(c)),
        ...[...this.#refused].map((socket) => socketClosed(socket)),
      ]);
      clearTimeout(cut);
      clearTimeout(alive);
    }
    this.options.log?.info(
      { tnx: "closed" },
      `${this.engineConfig.lmtp ? "LMTP" : "SMTP"} Server closed`,
    );
    this.emit("close");
  }

  /**
   * @internal How many connections it has accepted, those refused with a 421 (over
   * `maxClients`, or while closing) included: the fixture's "no client connected" hint.
   */
  get connectionsAccepted(): number {
    return this.connectionCount;
  }

  /** Replaces the TLS key/cert for new handshakes (smtp-server's API). */
  updateSecureContext(options: SecureContextOptions): void {
    this.tlsOptions = { ...this.tlsOptions, ...options };
    // As smtp-server: new sniOptions replace the old ones for new handshakes.
    const sniOptions = (options as { sniOptions?: SMTPServerOptions["sniOptions"] }).sniOptions;
    if (sniOptions !== undefined) this.sni = sniMap(sniOptions);
    this.contexts.clear();
  }

  currentTlsOptions(): TlsSettings {
    return this.tlsOptions;
  }

  /** `servername`: normalised (see normalizeServername). */
  secureContext(servername?: string): SecureContext {
    const sni = servername ? this.sni.get(servername) : undefined;
    const key = sni ? `sni:${servername}` : "default";
    let ctx = this.contexts.get(key);
    if (!ctx) {
      ctx = createSecureContext(withDefaultCert(sni ?? this.tlsOptions));
      this.contexts.set(key, ctx);
    }
    return ctx;
  }

  socketError(conn: Connection, err: Error): void {
    // Client-caused socket errors (resets, broken pipes) are reported, never thrown.
    // smtp-server's property is remoteAddress; `remote` is kept for earlier users.
    const tagged = err as Error & { remote?: string; remoteAddress?: string; code?: unknown };
    tagged.remote = conn.session.remoteAddress;
    tagged.remoteAddress = conn.session.remoteAddress;
    this.options.log?.error(
      { err, tnx: "error", user: userField(conn.session.user) },
      "%s %s %s",
      conn.id,
      conn.session.remoteAddress,
      err.message,
    );
    // As smtp-server: a client that drops its connection outside a transaction
    // (a reset, a broken pipe) is only logged, not an 'error'.
    if (QUIET_SOCKET_ERRORS.has(tagged.code) && !conn.session.envelope.mailFrom) return;
    if (this.listenerCount("error") > 0) this.emit("error", err);
  }

  /** The handlers as connections read them: this server, read at each call. */
  get hooks(): Hooks {
    return this;
  }

  connectionClosed(conn: Connection): void {
    if (!this.connections.delete(conn)) return;
    if (conn.reachedSession) this.callOnClose(conn);
    this.internals.connectionClosed?.(conn);
    conn.closedResolve?.();
  }

  /** onClose for a connection that reached its session (smtp-server calls none for the others). */
  private callOnClose(conn: Connection): void {
    try {
      const returned: unknown = this.onClose?.(conn.session, noop);
      // An async onClose that rejects is reported like a throwing one, never left unhandled.
      if (returned && typeof (returned as PromiseLike<unknown>).then === "function") {
        (returned as PromiseLike<unknown>).then(undefined, (err: unknown) =>
          this.socketError(conn, asError(err)),
        );
      }
    } catch (err) {
      this.socketError(conn, asError(err));
    }
  }

  /**
   * The client is known, at smtp-server's moments: once onConnect has accepted it
   * (after a PROXY header and an implicit TLS handshake), or with XCLIENT/XFORWARD
   * on, at XCLIENT ADDR, each XFORWARD ADDR, or the first MAIL. 'connect' with its
   * session.
   */
  connected(conn: Connection): void {
    this.emit("connect", conn.session);
  }

  private accept(socket: Socket): void {
    if (this.internals.unrefSockets) socket.unref();
    const number = ++this.connectionCount;
    const max = this.options.maxClients;
    if (this.closing || (max > 0 && this.connections.size >= max)) {
      const r = this.closing
        ? REPLIES.shuttingDown
        : REPLIES.tooManyClients(this.engineConfig.name);
      const text = serializeReply(r, false);
      this.options.log?.debug({ tnx: "send", host: socket.remoteAddress }, "S:", withoutCrlf(text));
      this.refuse(socket, text);
      return;
    }
    const conn = new Connection(this, socket, number);
    this.connections.add(conn);
    this.internals.connectionOpened?.(conn);
    conn.start().catch((err: unknown) => this.socketError(conn, err as Error));
  }

  /**
   * Sends the refusal and ends the socket, which is kept until it closes: its input
   * is read and discarded (so the client's FIN is seen at once), and a client that
   * never closes its side is dropped after REFUSED_LINGER_MS, or by close().
   */
  private refuse(socket: Socket, text: string): void {
    socket.on("error", noop);
    this.#refused.add(socket);
    const linger = setTimeout(() => socket.destroy(), REFUSED_LINGER_MS);
    linger.unref();
    socket.once("close", () => {
      clearTimeout(linger);
      this.#refused.delete(socket);
    });
    socket.end(text);
    socket.resume();
    // Refused while closing: shutdown() has already gone through the refused sockets.
    if (this.closing) dropWhenWritten(socket);
  }
}

/** Socket errors that mean the client went away (smtp-server's list). */
const QUIET_SOCKET_ERRORS: ReadonlySet<unknown> = new Set([
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
]);

/**
 * How long a refused client (421) may keep its side open before its socket is
 * destroyed: as long as a connection gets after its last reply (Connection.close).
 */
const REFUSED_LINGER_MS = 2000;

/** Destroys a socket whose last bytes are written (at once if they are). */
function dropWhenWritten(socket: Socket): void {
  if (socket.writableFinished) socket.destroy();
  else socket.once("finish", () => socket.destroy());
}

function socketClosed(socket: Socket): Promise<void> {
  return new Promise<void>((resolve) => {
    if (socket.closed) return resolve();
    socket.once("close", () => resolve());
  });
}

/** smtp-server's onClose callback: there is nothing to wait for. */
function noop(): void {}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

function closedOf(conn: Connection): Promise<void> {
  return new Promise<void>((resolve) => {
    if (conn.socket.destroyed && conn.socket.closed) return resolve();
    conn.closedResolve = resolve;
  });
}

/** Without a key and certificate, the shipped test certificate (fixtures/tls) is used. */
function withDefaultCert(o: SecureContextOptions): SecureContextOptions {
  if (o.key && o.cert) return pickTls(o);
  if (o.pfx) return pickTls(o);
  const { key, cert } = loadTestCertificates();
  return { ...pickTls(o), key, cert };
}

const TLS_KEYS = [
  "key",
  "cert",
  "ca",
  "pfx",
  "passphrase",
  "ciphers",
  "minVersion",
  "maxVersion",
  "ecdhCurve",
  "dhparam",
  "honorCipherOrder",
  "secureOptions",
  "sessionIdContext",
  "crl",
] as const;

function pickTls(o: SecureContextOptions): SecureContextOptions {
  const out: Record<string, unknown> = {};
  for (const k of TLS_KEYS) if (o[k] !== undefined) out[k] = o[k];
  return out as SecureContextOptions;
}
