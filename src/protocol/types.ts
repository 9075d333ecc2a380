/** Shapes shared by the engine, the server and the fixture; they follow smtp-server's. */

/** ESMTP parameters of MAIL/RCPT: `KEY=value` (xtext-decoded) or a bare `KEY` as `true`. */
export type SmtpArgs = Record<string, string | true>;

export interface DsnRecipient {
  /** RFC 3461 NOTIFY values, upper-case: NEVER | SUCCESS | FAILURE | DELAY */
  notify?: string[];
  /** RFC 3461 ORCPT as sent: `addr-type;xtext-decoded-address` */
  orcpt?: string;
}

/** A MAIL FROM or RCPT TO path. `args` is `false` when the command had no parameters. */
export interface SMTPAddress {
  /** The mailbox without angle brackets; `""` for the null sender `<>`. */
  address: string;
  args: SmtpArgs | false;
  dsn?: DsnRecipient;
}

export interface EnvelopeDsn {
  ret: "FULL" | "HDRS" | null;
  envid: string | null;
}

export interface SMTPEnvelope {
  mailFrom: SMTPAddress | false;
  rcptTo: SMTPAddress[];
  /** BODY= of MAIL FROM: "7bit" (default), "8bitmime" or "binarymime" */
  bodyType: "7bit" | "8bitmime" | "binarymime";
  smtpUtf8: boolean;
  requireTLS: boolean;
  dsn: EnvelopeDsn;
}

export interface TlsInfo {
  name: string;
  standardName: string;
  version: string;
}

export type TransmissionType =
  | "SMTP"
  | "ESMTP"
  | "ESMTPS"
  | "ESMTPA"
  | "ESMTPSA"
  | "LMTP"
  | "LMTPS"
  | "LMTPA"
  | "LMTPSA";

/** The session object handed to every hook, as in smtp-server. */
export interface SMTPSession {
  id: string;
  remoteAddress: string;
  remotePort: number;
  localAddress: string;
  localPort: number;
  /** Reverse-DNS name of the client, or `[address]` when lookup is off (the default). */
  clientHostname: string;
  /** The name the client gave in EHLO/HELO/LHLO (lower-cased), `""` before. */
  hostNameAppearsAs: string;
  openingCommand: "" | "EHLO" | "HELO" | "LHLO";
  transmissionType: TransmissionType;
  secure: boolean;
  servername?: string | undefined;
  tlsOptions: TlsInfo | false;
  /** Whatever `onAuth` returned as `user`; `undefined` until authenticated. */
  user?: unknown;
  /** 1-based number of the current/next transaction on this connection. */
  transaction: number;
  envelope: SMTPEnvelope;
  /**
   * XCLIENT attributes (upper-case keys, xtext-decoded; `false` for `[UNAVAILABLE]`
   * and `[TEMPUNAVAIL]`; PORT as a number). `ADDR:DEFAULT`, `NAME:DEFAULT` and
   * `PORT:DEFAULT` keep what the proxy itself had, as in smtp-server.
   */
  xClient: Map<string, string | number | false>;
  /** XFORWARD attributes, as `xClient` (`ADDR:DEFAULT` keeps the proxy's address). */
  xForward: Map<string, string | number | false>;
  /**
   * Set by a hook (e.g. `onConnect`): replaces the server's `disabledCommands` for
   * this session, for the commands accepted and for EHLO. Case-insensitive;
   * `undefined` returns to the server's list. Never set by the server.
   */
  disabledCommands?: string[] | undefined;
}

export function emptyEnvelope(): SMTPEnvelope {
  return {
    mailFrom: false,
    rcptTo: [],
    bodyType: "7bit",
    smtpUtf8: false,
    requireTLS: false,
    dsn: { ret: null, envid: null },
  };
}

/** SMTP stages, in the order a transaction meets them. Faults and attempts use them. */
export type Stage =
  | "CONNECT"
  | "EHLO"
  | "HELO"
  | "STARTTLS"
  | "AUTH"
  | "MAIL"
  | "RCPT"
  | "DATA"
  | "BDAT"
  | "DATA_BODY"
  | "DATA_END"
  | "RSET"
  | "QUIT";

/** The stages whose command a fault's delay (or a hook) can hold with no message open. */
export type HeldStage = Exclude<Stage, "BDAT" | "DATA_BODY" | "DATA_END">;

/** Every stage, in the order of a session: connection, then a mail transaction from MAIL on. */
export const STAGES: readonly Stage[] = [
  "CONNECT",
  "EHLO",
  "HELO",
  "STARTTLS",
  "AUTH",
  "MAIL",
  "RCPT",
  "DATA",
  "BDAT",
  "DATA_BODY",
  "DATA_END",
  "RSET",
  "QUIT",
];

export interface Endpoints {
  remoteAddress: string;
  remotePort: number;
  localAddress: string;
  localPort: number;
}

/** A fresh session for a new connection, before any command. */
export function newSession(id: string, ends: Endpoints): SMTPSession {
  return {
    id,
    ...ends,
    clientHostname: `[${ends.remoteAddress}]`,
    hostNameAppearsAs: "",
    openingCommand: "",
    transmissionType: "SMTP",
    secure: false,
    tlsOptions: false,
    transaction: 1,
    envelope: emptyEnvelope(),
    xClient: new Map(),
    xForward: new Map(),
  };
}
