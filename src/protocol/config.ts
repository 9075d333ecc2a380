import type { Capabilities } from "./capabilities.js";
import type { SaslMethod } from "./sasl.js";
import type { Trust } from "./trust.js";

/** The engine's settings, resolved once from user options (see server/options.ts). */
export interface EngineConfig {
  /** Host name in the greeting and the EHLO reply. */
  readonly name: string;
  /** Text after `220 <name> ESMTP` in the greeting. */
  readonly banner: string;
  /** LMTP (RFC 2033): LHLO instead of EHLO/HELO, one reply per recipient after DATA. */
  readonly lmtp: boolean;
  /** Maximum message size in bytes; 0 for none. */
  readonly size: number;
  /** Advertise `SIZE` without the number (the limit still applies). */
  readonly hideSize: boolean;
  /** SASL mechanisms offered when AUTH is on. */
  readonly authMethods: readonly SaslMethod[];
  /** MAIL/RCPT/DATA need AUTH first (AUTH on and not `authOptional`). */
  readonly authRequired: boolean;
  /** AUTH allowed without TLS. */
  readonly allowInsecureAuth: boolean;
  /** A TLS context can be made, so STARTTLS can be offered. */
  readonly tlsAvailable: boolean;
  /** Commands answered as not implemented (upper-case). */
  readonly disabledCommands: ReadonlySet<string>;
  /** RFC 5321 4.5.3.1.4 allows 512 octets; extensions (AUTH tokens) need more. */
  readonly maxCommandLength: number;
  /** Unrecognised commands before 421 and close. */
  readonly maxUnrecognizedCommands: number;
  /** Commands before AUTH when AUTH is required; false for no limit. */
  readonly maxUnauthenticatedCommands: number | false;
  /** RCPT commands accepted per transaction; 0 for no limit (RFC 5321 4.5.3.1.8 asks for >= 100). */
  readonly maxRecipients: number;
  /** What a bare LF inside DATA means: data (accept) or a 550 after the data (reject). */
  readonly bareLf: "accept" | "reject";
  /** EHLO/HELO first line; `%s` is replaced by the server name, then the client name. */
  readonly heloResponse: string;
  readonly lenientAddressParsing: boolean;
  /** Live set of advertised extensions. */
  readonly capabilities: Capabilities;
  /**
   * Data over `size`: true (the default) answers 552 whatever the sink says, and the
   * bytes past the limit are only counted; false lets the sink's verdict stand and
   * passes every byte on (smtp-server's `rejectOversized: false`).
   */
  readonly rejectOversized?: boolean;
  /** Text of the 530 sent when AUTH is required (smtp-server's `authRequiredMessage`). */
  readonly authRequiredMessage?: string;
  /** Peers allowed to use XCLIENT (Postfix); none by default. */
  readonly xclient?: Trust;
  /** Peers allowed to use XFORWARD (Postfix); none by default. */
  readonly xforward?: Trust;
}
