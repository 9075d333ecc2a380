import type { SecureContext } from "node:tls";
import type { EngineConfig } from "../protocol/config.js";
import type { DataSink, Directive, ReplyEvent } from "../protocol/host.js";
import type { Reply } from "../protocol/reply.js";
import type { HeldStage, Stage } from "../protocol/types.js";
import type { MaybePromise } from "../protocol/util.js";
import type { Connection } from "./connection.js";
import type { ResolvedOptions, SMTPServerOptions } from "./options.js";
import type { CertificateVerdict } from "./starttls-failure.js";

/**
 * What the fixture plugs into a server (not public API): its own data sink, the
 * fault seam, the reply observer and transcript recording.
 */
export interface ServerInternals {
  transcripts?: boolean;
  /** Accepted sockets do not keep the process alive (the fixture's: a test process ends when its tests do). */
  unrefSockets?: boolean;
  openSink?(conn: Connection): DataSink | undefined;
  intercept?(conn: Connection, stage: Stage, command: string): MaybePromise<Directive | undefined>;
  /** A reply of 400 or more (see EngineHost.observe). */
  observe?(conn: Connection, event: ReplyEvent): void;
  unusedCut?(conn: Connection, directive: Directive): void;
  /** A fault that ends the connection did (see EngineHost.faultEnded). */
  faultEnded?(conn: Connection, reason: string, reply: Reply | undefined): void;
  /** An envelope without data, or a held command, ended (see EngineHost.transactionEnded). */
  transactionEnded?(
    conn: Connection,
    stage: HeldStage,
    reason: string,
    reply: Reply | undefined,
    command: string,
  ): void;
  /**
   * A STARTTLS handshake gave no session, through the client (it left, failed the
   * handshake, or left right after it) or its timeout: `command` is the STARTTLS line.
   */
  tlsFailed?(
    conn: Connection,
    command: string,
    reason: string,
    certificate: CertificateVerdict | undefined,
  ): void;
  connectionOpened?(conn: Connection): void;
  connectionClosed?(conn: Connection): void;
}

/** The handlers an SMTPServer calls, by their smtp-server names. */
export const HOOK_NAMES = [
  "onConnect",
  "onSecure",
  "onAuth",
  "onMailFrom",
  "onRcptTo",
  "onData",
  "onClose",
] as const;

export type HookName = (typeof HOOK_NAMES)[number];

/** The handlers, read at each call; each is called with the server as `this`, as in smtp-server. */
export type Hooks = { readonly [K in HookName]?: SMTPServerOptions[K] | undefined };

/** The options a TLS handshake reads besides the secure context (smtp-server's names). */
export interface TlsSettings {
  readonly SNICallback?: unknown;
  readonly requestCert?: unknown;
  readonly rejectUnauthorized?: unknown;
}

/** The server as its connections see it. */
export interface ConnectionOwner {
  readonly options: ResolvedOptions;
  readonly engineConfig: EngineConfig;
  readonly hooks: Hooks;
  readonly internals: ServerInternals;
  secureContext(servername?: string): SecureContext;
  /** The TLS options as updateSecureContext() last left them. */
  currentTlsOptions(): TlsSettings;
  socketError(conn: Connection, err: Error): void;
  connectionClosed(conn: Connection): void;
  /** The client is known (see Connection.clientKnown): the server emits 'connect'. */
  connected(conn: Connection): void;
}
