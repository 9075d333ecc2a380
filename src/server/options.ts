/**
 * SMTPServer options: smtp-server 3.x's names (so existing code runs unchanged),
 * resolved once into a frozen object with positive names. The compatibility names
 * (`hideSTARTTLS`, `authOptional`, ...) are mapped here and nowhere else.
 */
import type { SecureContextOptions, TLSSocket, TlsOptions } from "node:tls";
import { Capabilities, type Capability } from "../protocol/capabilities.js";
import type { EngineConfig } from "../protocol/config.js";
import { type AuthRequest, isSaslMethod, type SaslMethod } from "../protocol/sasl.js";
import { resolveTrust, type Trust } from "../protocol/trust.js";
import type { SMTPAddress, SMTPSession } from "../protocol/types.js";
import type { SMTPServerDataStream } from "./data-stream.js";
import { type Log, resolveLog, type SMTPLogger } from "./logger.js";
import type { Resolver } from "./reverse-lookup.js";
import { normalizeServername } from "./tls.js";

type Callback<T = void> = (err?: Error | null, value?: T) => void;

export interface AuthResponse {
  user?: unknown;
  /** XOAUTH2 failure details sent to the client as a 334 challenge. */
  data?: object | undefined;
  /** Without a user: the refusal's text and code (default 535). */
  message?: string | undefined;
  responseCode?: number | undefined;
}

export interface SMTPServerOptions extends SecureContextOptions, SMTPServerHandlers {
  /** Implicit TLS (RFC 8314): TLS from the first byte. */
  secure?: boolean | undefined;
  /** With `secure`: TLS is done by something in front, so no handshake here (the session is secure). */
  secured?: boolean | undefined;
  /** With `secure`: start plaintext and upgrade at once (for a socket handed over). */
  needsUpgrade?: boolean | undefined;
  name?: string | undefined;
  banner?: string | undefined;
  size?: number | undefined;
  hideSize?: boolean | undefined;
  /**
   * A message over `size` is answered 552 whatever `onData` says, and the bytes past
   * the limit are not passed to `onData`. Default false, as in smtp-server: `onData`
   * gets the whole message and decides (see `stream.sizeExceeded`).
   */
  rejectOversized?: boolean | undefined;
  authMethods?: string[] | undefined;
  authOptional?: boolean | undefined;
  allowInsecureAuth?: boolean | undefined;
  authRequiredMessage?: string | undefined;
  disabledCommands?: string[] | undefined;
  hideSTARTTLS?: boolean | undefined;
  hidePIPELINING?: boolean | undefined;
  hide8BITMIME?: boolean | undefined;
  hideSMTPUTF8?: boolean | undefined;
  hideENHANCEDSTATUSCODES?: boolean | undefined;
  hideDSN?: boolean | undefined;
  hideREQUIRETLS?: boolean | undefined;
  /** CHUNKING/BDAT (RFC 3030) and BINARYMIME; off by default, as smtp-server has none. */
  hideCHUNKING?: boolean | undefined;
  lmtp?: boolean | undefined;
  maxClients?: number | undefined;
  maxRecipients?: number | undefined;
  maxCommandLength?: number | undefined;
  maxAllowedUnauthenticatedCommands?: number | false | undefined;
  maxUnrecognizedCommands?: number | undefined;
  lenientAddressParsing?: boolean | undefined;
  heloResponse?: string | undefined;
  /** Idle time before `421 Timeout` (ms). smtp-server's default: 60 s. */
  socketTimeout?: number | undefined;
  /** How long `close()` waits for busy connections before cutting them (ms). */
  closeTimeout?: number | undefined;
  /** Delay before the greeting (ms). smtp-server waits 100 ms; the default here is 0. */
  greetingDelay?: number | undefined;
  /**
   * A client that sends before the greeting: "accept" (default: its commands are read
   * after the greeting) or "reject" (421 and close). Use with `greetingDelay`.
   */
  earlyTalkers?: "accept" | "reject" | undefined;
  /** Bare LF inside DATA: "accept" (as data, default) or "reject" (550 after the data). */
  bareLf?: "accept" | "reject" | undefined;
  /** Reverse DNS of the client. Off by default here (no stalls); `false` turns it on. */
  disableReverseLookup?: boolean | undefined;
  /** With `disableReverseLookup: false`: the resolver to ask (default `dns.reverse`). */
  resolver?: Resolver | undefined;
  /** Postfix XCLIENT: `true` for every client, or the IP addresses of trusted proxies. */
  useXClient?: boolean | string[] | undefined;
  /** Postfix XFORWARD: `true` for every client, or the IP addresses of trusted proxies. */
  useXForward?: boolean | string[] | undefined;
  /**
   * HAProxy PROXY protocol v1/v2 header before the greeting: `true` expects it from
   * every client, a list from those addresses only (others talk SMTP at once).
   */
  useProxy?: boolean | string[] | undefined;
  sniOptions?: Record<string, SecureContextOptions> | Map<string, SecureContextOptions> | undefined;
  /** Node's SNI hook (tls.createServer's option): picks the context for a requested name. */
  SNICallback?: TlsOptions["SNICallback"] | undefined;
  /** Ask clients for a certificate (smtp-server's TLS option). */
  requestCert?: boolean | undefined;
  rejectUnauthorized?: boolean | undefined;
  /**
   * smtp-server's logging: `true` prints the conversation to the console (`S:` and
   * `C:` lines, AUTH payloads masked), an object (bunyan, pino, ...) gets the entries.
   */
  logger?: boolean | SMTPLogger | undefined;
  /** The `component` field of every log entry (default `"smtp-server"`). */
  component?: string | undefined;
  /** Addresses whose PROXY header is not logged (smtp-server's only use of it). */
  ignoredHosts?: string[] | undefined;
  /** TCP keep-alive on accepted sockets, and its first delay in ms (net.ServerOpts). */
  keepAlive?: boolean | undefined;
  keepAliveInitialDelay?: number | undefined;
  /** Read/write buffer size of accepted sockets (net.ServerOpts). */
  highWaterMark?: number | undefined;
}

/**
 * The handlers, by smtp-server's names: given as options, assigned on the server
 * after construction, or defined as methods of a subclass. Each is called with the
 * server as `this`.
 */
export interface SMTPServerHandlers {
  onConnect?(session: SMTPSession, callback: Callback): unknown;
  onSecure?(socket: TLSSocket, session: SMTPSession, callback: Callback): unknown;
  onAuth?(auth: AuthRequest, session: SMTPSession, callback: Callback<AuthResponse>): unknown;
  onMailFrom?(address: SMTPAddress, session: SMTPSession, callback: Callback): unknown;
  onRcptTo?(address: SMTPAddress, session: SMTPSession, callback: Callback): unknown;
  onData?(
    stream: SMTPServerDataStream,
    session: SMTPSession,
    /** A reply text, or (LMTP) one entry per recipient: a text or an error. */
    callback: Callback<string | (string | Error)[]>,
  ): unknown;
  /** `callback` is a no-op, as in smtp-server: nothing waits for it. */
  onClose?(session: SMTPSession, callback: () => void): unknown;
}

export interface ResolvedOptions {
  readonly engine: Omit<EngineConfig, "capabilities">;
  readonly capabilities: readonly Capability[];
  readonly secure: boolean;
  readonly secured: boolean;
  readonly needsUpgrade: boolean;
  readonly maxClients: number;
  readonly socketTimeout: number;
  readonly closeTimeout: number;
  readonly greetingDelay: number;
  readonly earlyTalkers: "accept" | "reject";
  readonly reverseLookup: boolean;
  readonly resolver: Resolver | undefined;
  /** Peers expected to send a PROXY protocol header first. */
  readonly proxy: Trust;
  readonly tls: SecureContextOptions & {
    requestCert?: boolean | undefined;
    rejectUnauthorized?: boolean | undefined;
  };
  readonly sni: ReadonlyMap<string, SecureContextOptions>;
  /** The `logger` option as the server calls it; undefined when off. */
  readonly log: Log | undefined;
  readonly ignoredHosts: ReadonlySet<string>;
}

function nonNegative(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    const got = typeof value === "string" ? `the string ${JSON.stringify(value)}` : String(value);
    throw new TypeError(`SMTPServer: option ${name} must be a number >= 0, got ${got}`);
  }
  return value;
}

function oneOf<T extends string>(
  name: string,
  value: T | undefined,
  allowed: readonly T[],
  fallback: T,
): T {
  if (value === undefined) return fallback;
  if (!allowed.includes(value)) {
    throw new TypeError(
      `SMTPServer: option ${name} must be one of ${allowed.map((a) => JSON.stringify(a)).join(", ")}, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

function authMethods(list: string[] | undefined): SaslMethod[] {
  // smtp-server's default, in its order; an empty list means the default there too.
  const methods = (list && list.length > 0 ? list : ["LOGIN", "PLAIN"]).map((m) =>
    m.toUpperCase().trim(),
  );
  for (const m of methods) {
    if (!isSaslMethod(m)) {
      throw new TypeError(
        `SMTPServer: unknown authMethods entry ${JSON.stringify(m)}; use PLAIN, LOGIN, CRAM-MD5 or XOAUTH2`,
      );
    }
  }
  return methods as SaslMethod[];
}

function capabilitiesOf(o: SMTPServerOptions, size: number): Capability[] {
  const on: Capability[] = [];
  const add = (c: Capability, yes: boolean) => yes && on.push(c);
  add("PIPELINING", !o.hidePIPELINING);
  add("8BITMIME", !o.hide8BITMIME);
  add("SMTPUTF8", !o.hideSMTPUTF8);
  add("ENHANCEDSTATUSCODES", o.hideENHANCEDSTATUSCODES === false);
  add("DSN", o.hideDSN === false);
  add("SIZE", size > 0);
  // A disabled AUTH or STARTTLS stays in the set: session.disabledCommands may allow it
  // again, so the engine asks for disabled commands per session instead.
  add("STARTTLS", !o.hideSTARTTLS);
  add("AUTH", true);
  add("REQUIRETLS", o.hideREQUIRETLS === false);
  add("CHUNKING", o.hideCHUNKING === false);
  add("BINARYMIME", o.hideCHUNKING === false);
  return on;
}

export function resolveOptions(o: SMTPServerOptions): ResolvedOptions {
  const size = nonNegative("size", o.size, 0);
  const disabled = new Set((o.disabledCommands ?? []).map((c) => c.toUpperCase()));
  const methods = authMethods(o.authMethods);
  const secured = Boolean(o.secured);
  const engine: Omit<EngineConfig, "capabilities"> = {
    name: o.name ?? "localhost",
    banner: o.banner ?? "",
    lmtp: Boolean(o.lmtp),
    size,
    hideSize: Boolean(o.hideSize),
    authMethods: methods,
    authRequired: methods.length > 0 && !o.authOptional,
    allowInsecureAuth: Boolean(o.allowInsecureAuth),
    // As in smtp-server, `secured` alone changes nothing: with `secure`, it says the
    // TLS was done in front (no handshake here).
    tlsAvailable: !o.secure && !o.hideSTARTTLS,
    disabledCommands: disabled,
    maxCommandLength: nonNegative("maxCommandLength", o.maxCommandLength, 16 * 1024) || 16 * 1024,
    maxUnrecognizedCommands:
      nonNegative("maxUnrecognizedCommands", o.maxUnrecognizedCommands, 10) || 10,
    maxUnauthenticatedCommands:
      o.maxAllowedUnauthenticatedCommands === false
        ? false
        : (o.maxAllowedUnauthenticatedCommands ?? 10),
    maxRecipients: nonNegative("maxRecipients", o.maxRecipients, 0),
    bareLf: oneOf("bareLf", o.bareLf, ["accept", "reject"] as const, "accept"),
    heloResponse: o.heloResponse ?? "%s Nice to meet you, %s",
    lenientAddressParsing: Boolean(o.lenientAddressParsing),
    rejectOversized: Boolean(o.rejectOversized),
    ...(typeof o.authRequiredMessage === "string"
      ? { authRequiredMessage: o.authRequiredMessage }
      : {}),
    xclient: resolveTrust(o.useXClient, "useXClient"),
    xforward: resolveTrust(o.useXForward, "useXForward"),
  };
  const sni = sniMap(o.sniOptions);
  return Object.freeze({
    engine: Object.freeze(engine),
    capabilities: capabilitiesOf(o, size),
    secure: Boolean(o.secure),
    secured,
    needsUpgrade: Boolean(o.needsUpgrade),
    maxClients: nonNegative("maxClients", o.maxClients, 0),
    socketTimeout: nonNegative("socketTimeout", o.socketTimeout, 60_000),
    closeTimeout: nonNegative("closeTimeout", o.closeTimeout, 30_000),
    greetingDelay: nonNegative("greetingDelay", o.greetingDelay, 0),
    earlyTalkers: oneOf("earlyTalkers", o.earlyTalkers, ["accept", "reject"] as const, "accept"),
    reverseLookup: o.disableReverseLookup === false,
    resolver: resolverOf(o.resolver),
    proxy: resolveTrust(o.useProxy, "useProxy"),
    tls: o,
    sni,
    log: resolveLog(o.logger, o.component),
    ignoredHosts: new Set(o.ignoredHosts ?? []),
  });
}

function resolverOf(r: unknown): Resolver | undefined {
  if (r === undefined) return undefined;
  if (!r || typeof (r as Resolver).reverse !== "function") {
    throw new TypeError(
      "SMTPServer: option resolver must have a reverse(ip, callback) method, like dns.Resolver",
    );
  }
  return r as Resolver;
}

export function makeCapabilities(r: ResolvedOptions): Capabilities {
  return new Capabilities(r.capabilities);
}

/** sniOptions as a map keyed by normalised server name (as requested names are looked up). */
export function sniMap(
  given: SMTPServerOptions["sniOptions"],
): ReadonlyMap<string, SecureContextOptions> {
  const entries = given instanceof Map ? [...given] : Object.entries(given ?? {});
  return new Map(entries.map(([name, options]) => [normalizeServername(name), options]));
}
