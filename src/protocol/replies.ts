/**
 * The reply catalogue: every fixed reply the engine sends, named. Texts follow
 * nodemailer's smtp-server 3.21 where it has one, so clients and tests written
 * against it see the same codes.
 */
import type { EngineConfig } from "./config.js";
import { constantReply, type Reply, reply } from "./reply.js";

const REPLY_AUTH_REQUIRED = constantReply(530, "Error: authentication Required");
const ACCEPTED_SENDER = constantReply(250, "Accepted", "2.1.0");
const ACCEPTED_RECIPIENT = constantReply(250, "Accepted", "2.1.5");

export const REPLIES = {
  greeting: (c: EngineConfig): Reply =>
    reply(220, `${c.name} ${c.lmtp ? "LMTP" : "ESMTP"}${c.banner ? ` ${c.banner}` : ""}`, null),
  ok: constantReply(250, "OK"),
  acceptedSender: ACCEPTED_SENDER,
  acceptedRecipient: ACCEPTED_RECIPIENT,
  flushed: constantReply(250, "Flushed"),
  queued: constantReply(250, "OK: message queued", "2.6.0"),
  /** LMTP's success for each recipient (smtp-server's text: delivered, not queued). */
  lmtpAccepted: constantReply(250, "OK: message accepted", "2.6.0"),
  bye: constantReply(221, "Bye"),
  help: constantReply(214, "See https://tools.ietf.org/html/rfc5321 for details"),
  vrfy: constantReply(252, "Try to send something. No promises though"),
  startData: constantReply(354, "End data with <CR><LF>.<CR><LF>"),
  startTls: constantReply(220, "Ready to start TLS", "2.0.0"),
  unrecognized: constantReply(500, "Error: command not recognized"),
  notImplemented: constantReply(502, "Error: command not implemented"),
  lineTooLong: constantReply(500, "Error: line too long", "5.5.6"),
  lineTooLongClose: constantReply(421, "Error: line too long, closing connection", "4.5.0"),
  tooManyUnrecognized: constantReply(421, "Error: too many unrecognized commands"),
  tooManyUnauthenticated: constantReply(421, "Error: too many unauthenticated commands"),
  httpRefused: constantReply(421, "HTTP requests not allowed"),
  /** A BDAT size past 15 digits (leading zeros aside): no chunk of it can be read and dropped. */
  bdatTooLarge: constantReply(421, "Error: BDAT chunk size too large, closing connection"),
  /** smtp-server has none: it answers each line of the ClientHello 500. */
  tlsOnPlaintext: constantReply(
    421,
    "Error: TLS handshake on a plaintext port, closing connection",
  ),
  shuttingDown: constantReply(421, "Server shutting down"),
  timeout: constantReply(421, "Timeout - closing connection"),
  talkTooSoon: (name: string): Reply => reply(421, `${name} You talk too soon`, null),
  tooManyClients: (name: string): Reply =>
    reply(421, `${name} Too many connected clients, try again in a moment`),
  heloFirst: (lmtp: boolean): Reply =>
    reply(503, `Error: send ${lmtp ? "LHLO" : "HELO/EHLO"} first`),
  authRequired: REPLY_AUTH_REQUIRED,
  nestedMail: constantReply(503, "Error: nested MAIL command"),
  needMail: constantReply(503, "Error: need MAIL command"),
  needRcpt: constantReply(503, "Error: need RCPT command"),
  tooManyRecipients: constantReply(452, "Error: too many recipients", "4.5.3"),
  sizeExceeded: (size: number): Reply =>
    reply(552, `Error: message exceeds fixed maximum message size ${size}`, "5.3.4"),
  bareLf: constantReply(550, "Error: bare <LF> received; lines must end with <CR><LF>", "5.5.2"),
  internalError: constantReply(451, "Error: internal server error", "4.3.0"),
  heloSyntax: (verb: string): Reply =>
    reply(
      501,
      verb === "HELO" ? "Error: Syntax: HELO hostname" : `Error: syntax: ${verb} hostname`,
      null,
    ),
  badHostname: constantReply(501, "Error: Bad hostname syntax", null),
  lmtpHelo: (verb: string): Reply => reply(500, `Error: ${verb} not allowed in LMTP server`, null),
  vrfySyntax: constantReply(501, "Error: Syntax: VRFY address"),
  tlsActive: constantReply(503, "Error: TLS already active"),
  startTlsSyntax: constantReply(501, "Error: syntax: STARTTLS"),
  tlsUnavailable: constantReply(454, "TLS not available due to temporary reason", "4.7.0"),
  mustStartTls: constantReply(538, "Error: Must issue a STARTTLS command first"),
  noIdentityChange: constantReply(503, "Error: No identity changes permitted"),
  transactionInProgress: constantReply(503, "Error: Mail transaction in progress"),
  bdatSyntax: constantReply(501, "Error: Syntax: BDAT chunk-size [LAST]"),
  bdatAfterData: constantReply(503, "Error: BDAT and DATA cannot be mixed in one transaction"),
  dataAfterBdat: constantReply(503, "Error: DATA not allowed after BDAT"),
  bdatReceived: (n: number): Reply => reply(250, `${n} octets received`, "2.0.0"),
  binaryNeedsBdat: constantReply(503, "Error: BODY=BINARYMIME requires BDAT", "5.5.1"),
  /** The 530 for MAIL/RCPT/DATA before AUTH, with smtp-server's `authRequiredMessage`. */
  authRequiredFor: (c: EngineConfig): Reply =>
    c.authRequiredMessage === undefined ? REPLY_AUTH_REQUIRED : reply(530, c.authRequiredMessage),
  proxyNotAllowed: constantReply(550, "Error: Not allowed", "5.7.0"),
  proxySyntax: (detail = ""): Reply =>
    reply(501, `Error: Bad command parameter syntax${detail ? `. ${detail}` : ""}`),
  xclientLoginFailed: (message: string): Reply => reply(550, message),
} as const;
