/**
 * The DataSink behind `onData`: the message goes to an SMTPDataStream; the reply
 * waits for both the end of the data and the hook's callback. A stream the hook
 * does not consume is drained, so an early callback never hangs the connection.
 *
 * A class, not a literal of closures: one object per message besides the stream.
 */
import { errorToReply } from "../protocol/errors.js";
import type { DataEndInfo, DataSink } from "../protocol/host.js";
import { REPLIES } from "../protocol/replies.js";
import { type Reply, reply } from "../protocol/reply.js";
import type { MaybePromise } from "../protocol/util.js";
import type { Connection } from "./connection.js";
import { SMTPDataStream } from "./data-stream.js";
import { invokeHook } from "./hooks.js";
import type { Log } from "./logger.js";
import type { Hooks } from "./types.js";

type Verdict = string | readonly (string | Error | undefined)[] | undefined;
type Replies = Reply | Reply[] | undefined;

/** smtp-server answers an `onData` error without `responseCode` with 450. */
const DATA_ERROR_CODE = 450;

/** `server` is the hook's `this`, as in smtp-server. */
export function streamSink(
  conn: Connection,
  onData: Hooks["onData"],
  lmtp: boolean,
  server: unknown,
): DataSink {
  if (!onData) return conn.log ? receivedLog(conn.log) : DISCARD;
  const sink = new StreamSink(conn, lmtp);
  invokeHook<Verdict>(
    (cb) => onData.call(server, sink.stream, conn.session, cb),
    (failed, reason, value) => sink.answered(failed, reason, value),
  );
  return sink;
}

class StreamSink implements DataSink {
  readonly stream: SMTPDataStream;
  private readonly conn: Connection;
  private readonly lmtp: boolean;
  private ended = false;
  /** The hook's answer as replies, once it has called back (`null`: not yet). */
  private answer: Replies | null = null;
  /** Set while the engine waits for the answer (the data ended first). */
  private deliver: ((replies: Replies) => void) | undefined;

  constructor(conn: Connection, lmtp: boolean) {
    this.conn = conn;
    this.lmtp = lmtp;
    this.stream = new SMTPDataStream(conn.resumeStream);
  }

  answered(failed: boolean, reason: unknown, value: Verdict): void {
    // Called back before reading everything: the rest is drained, not left to block.
    if (!this.ended) this.stream.resume();
    let replies: Replies;
    try {
      replies = failed ? errorToReply(reason, DATA_ERROR_CODE) : toReplies(value, this.lmtp);
    } catch {
      // A verdict that cannot be read (an LMTP list behind a throwing Proxy): the
      // hook is at fault, the client gets a local error, never an exception.
      replies = errorToReply(undefined);
    }
    if (this.deliver) this.deliver(replies);
    else this.answer = replies;
  }

  write(chunk: Buffer): void {
    if (!this.stream.feed(chunk)) this.conn.pause("stream");
  }

  exceeded(): void {
    this.stream.sizeExceeded = true;
  }

  end(info: DataEndInfo): MaybePromise<Replies> {
    this.ended = true;
    const stream = this.stream;
    stream.byteLength = info.bytes;
    stream.sizeExceeded = info.sizeExceeded;
    stream.push(null);
    this.conn.resume("stream");
    // Answered already (a hook that calls back at once): the engine goes on now.
    if (this.answer !== null) return this.answer;
    return new Promise<Replies>((resolve) => {
      this.deliver = resolve;
    });
  }

  abort(reason: string): void {
    this.ended = true;
    this.conn.resume("stream");
    // Only a consumer that listens for errors (as `for await` does) gets one; for the
    // others an 'error' event would be an uncaught exception, so they see 'close'.
    const stream = this.stream;
    if (stream.listenerCount("error") > 0) {
      // A client gone mid-message: smtp-server's error, so its consumers' checks hold.
      const error =
        reason === "client disconnected"
          ? Object.assign(new Error("Connection closed before the message was received in full"), {
              code: "ECONNECTION",
            })
          : new Error(`SMTP transaction aborted: ${reason}`);
      stream.destroy(error);
    } else {
      stream.destroy();
    }
  }
}

const DISCARD: DataSink = { write() {}, end: () => undefined, abort() {} };

/** No onData, logging on: smtp-server's default handler's `<received N bytes>` entry. */
function receivedLog(log: Log): DataSink {
  return {
    write() {},
    end(info) {
      log.info({ tnx: "message", size: info.bytes }, "<received %s bytes>", info.bytes);
      return undefined;
    },
    abort() {},
  };
}

function toReplies(v: Verdict, lmtp: boolean): Replies {
  if (typeof v === "string") return reply(250, v, "2.6.0");
  if (lmtp && Array.isArray(v)) {
    return v.map((item: string | Error | undefined) =>
      item instanceof Error
        ? errorToReply(item, DATA_ERROR_CODE)
        : typeof item === "string"
          ? reply(250, item, "2.6.0")
          : REPLIES.lmtpAccepted,
    );
  }
  return undefined;
}
