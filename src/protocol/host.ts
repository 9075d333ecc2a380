import type { Reply } from "./reply.js";
import type { AuthRequest } from "./sasl.js";
import type { HeldStage, SMTPAddress, Stage } from "./types.js";
import type { MaybePromise } from "./util.js";

/**
 * What a fault (or any interceptor) tells the engine to do instead of, or around,
 * the normal handling of a command. The engine consults it at one place: right
 * before it runs a command (and at the end of the data).
 */
export interface Directive {
  /** Answer with this reply instead of running the command. */
  readonly reply?: Reply;
  /** Close the connection before the reply (no reply at all) or right after it. */
  readonly disconnect?: "before" | "after";
  /** Never answer and read nothing more: the client has to give up. */
  readonly hang?: boolean;
  /** At DATA_END: keep the message, then close without sending the reply (lost ack). */
  readonly dropReply?: boolean;
  /** Write the reply (or the command's own reply) slowly: a slow-drip server. */
  readonly drip?: DripPace;
  /**
   * At DATA_BODY (asked once when the data begins): let this many bytes of the
   * message data through, then apply the rest of the directive; mid-data the
   * connection always closes (after `reply`, if any).
   */
  readonly afterBytes?: number;
  /**
   * At STARTTLS: answer 220, then fail the handshake: send a TLS handshake_failure
   * alert ("alert") or drop the connection ("close") once the ClientHello arrives.
   */
  readonly tlsFailure?: "alert" | "close";
  /** Why, for the attempt record and the transcript ("fault: reject.rcpt(...)"). */
  readonly reason?: string;
}

/** How a slow-drip reply is written: `bytesPerChunk` bytes, then a pause of `intervalMs`. */
export interface DripPace {
  readonly bytesPerChunk: number;
  readonly intervalMs: number;
}

export interface DataEndInfo {
  readonly bytes: number;
  readonly sizeExceeded: boolean;
  /** Bare LFs in the data; counted only when the server rejects them (else 0). */
  readonly bareLf: number;
}

/** Where the engine sends a message body; one per transaction. */
export interface DataSink {
  write(chunk: Buffer): void;
  /** The size limit was crossed: later bytes are counted, not passed on. */
  exceeded?(): void;
  /**
   * The data is complete. Resolves with the reply (LMTP: one per recipient);
   * rejecting maps through `errorToReply`.
   */
  end(info: DataEndInfo): MaybePromise<Reply | readonly Reply[] | undefined>;
  /**
   * The transaction will not complete (disconnect, rejection, RSET mid-BDAT);
   * `reply`: what the client was told, when the server ended it with a reply.
   */
  abort(reason: string, reply?: Reply): void;
  /**
   * The server refuses the data itself (a bare LF, over the size limit): the message
   * is dropped, and the refusal it answers with is reported through `observe`. A
   * sink without this method is aborted with `reason` instead.
   */
  refused?(reason: string): void;
  /**
   * The connection ended after the data, before its reply was sent (a fault or a
   * hook held it): the message did not complete. Not called once `replied` was.
   */
  lost?(reason: string, reply?: Reply): void;
  /** The client was sent the final reply (or the connection dropped it on purpose). */
  replied?(reply: Reply, delivered: boolean): void;
}

export type AuthOutcome =
  | { readonly ok: true; readonly user: unknown }
  | { readonly ok: false; readonly reply: Reply; readonly xoauth2Details?: object };

export interface ReplyEvent {
  readonly stage: Stage | "OTHER";
  readonly command: string;
  readonly reply: Reply;
  /** "ok", "syntax", "sequence", "auth required", "hook", "fault: ...", "size", ... */
  readonly reason: string;
}

/** The I/O side of a connection, as the engine sees it. */
export interface EngineHost {
  /** Sends serialised replies (several may be batched in one string); `pace`: drip them slowly. */
  write(text: string, pace?: DripPace): void;
  /** Ends the connection after what was written. */
  close(): void;
  mailFrom(address: SMTPAddress): MaybePromise<void>;
  rcptTo(address: SMTPAddress): MaybePromise<void>;
  auth(request: AuthRequest): MaybePromise<AuthOutcome>;
  /** A transaction's data begins (DATA accepted, or the first BDAT). */
  openData(): DataSink;
  /**
   * Upgrade to TLS after `220 Ready to start TLS`; input resumes on the TLS stream.
   * `secured` (the session's reset, RFC 3207 4.2) is called once the handshake is
   * done, before anything else (the onSecure hook, a log entry) sees the session.
   * `command` is the STARTTLS line, for the attempt a failed handshake records.
   */
  startTls(secured: () => void, command: string): Promise<void>;
  /** A STARTTLS fault: fail the handshake that follows the 220; resolves when done. */
  failTls?(mode: "alert" | "close"): Promise<void>;
  /** The fault seam: asked before each command runs. */
  intercept?: ((stage: Stage, command: string) => MaybePromise<Directive | undefined>) | undefined;
  /** An armed DATA_BODY cut was never reached (the data or the transaction ended first). */
  unusedCut?(directive: Directive): void;
  /**
   * A fault at a command stage that ends the connection did (inside a message, its
   * sink is told instead): a hang is over, `reason` saying how ("(client gave up)",
   * "(server closed)", "(timed out)") and `reply` the 421 the client was sent, if
   * any; or `disconnect.after` closed it, `reply` being the command's own reply.
   */
  faultEnded?(reason: string, reply: Reply | undefined): void;
  /**
   * A transaction with an envelope but no data, or a command a hook or a fault's
   * delay held (`command`; any stage outside a message's data), ended without a
   * final reply: the client left or reset it (`reason` "client disconnected",
   * "client reset (RSET)", "client quit (QUIT)", ...), or the server cut it
   * ("timeout", "server closed (closeTimeout)", ...: `reply` is the 421 it sent).
   */
  transactionEnded?(
    stage: HeldStage,
    reason: string,
    reply: Reply | undefined,
    /** The command whose hook had not answered yet, if that is what ended; else "". */
    command: string,
  ): void;
  /**
   * Every refusal (a reply of 400 or more), with its stage and reason: the fixture
   * records attempts from it. Accepting replies are not reported (no event per command).
   */
  observe?: ((event: ReplyEvent) => void) | undefined;
  /**
   * For a logger, present only when one listens: each command line as heard (AUTH
   * payloads and SASL responses replaced by `/* secured *\/`), and the size of each
   * message's data once it ended; and each reply as it is queued (before the next
   * command is read, so the lines interleave as the conversation went).
   */
  heard?: ((command: string, line: string) => void) | undefined;
  said?: ((reply: string) => void) | undefined;
  dataHeard?: ((bytes: number) => void) | undefined;
  /**
   * For a logger, present only when one listens: an XCLIENT or XFORWARD attribute
   * was applied (`value` as the session now holds it; `through` and `user`, the
   * session's address and user before it). XCLIENT `LOGIN=` (log out) is reported
   * as key "LOGIN" with value "".
   */
  relayed?:
    | ((
        verb: "XCLIENT" | "XFORWARD",
        key: string,
        value: unknown,
        through: string,
        user: unknown,
      ) => void)
    | undefined;
  /** A note for the transcript: what the server made of bytes that are not SMTP. */
  noted?(text: string): void;
  /** Bytes [start, end) of the client's byte stream are secret (AUTH payloads). */
  secret?(start: number, end: number): void;
  /** The engine holds no more than this many unprocessed bytes; the host may resume reading. */
  drained?(): void;
  /**
   * The client is known (smtp-server's 'connect' moments when XCLIENT or XFORWARD
   * is on): XCLIENT ADDR and MAIL tell it once (`again` false), each XFORWARD ADDR
   * again (`again` true).
   */
  clientKnown?(again: boolean): void;
}
