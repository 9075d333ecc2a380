/**
 * The DataSink behind `onData`: the message goes to an SMTPDataStream; the reply
 * waits for both the end of the data and the hook's callback. A stream the hook
 * does not consume is drained, so an early callback never hangs the connection.
 */
import { errorToReply } from "../protocol/errors.js";
import type { DataSink } from "../protocol/host.js";
import { REPLIES } from "../protocol/replies.js";
import { type Reply, reply } from "../protocol/reply.js";
import type { MaybePromise } from "../protocol/util.js";
import type { Connection } from "./connection.js";
import { SMTPDataStream } from "./data-stream.js";
import { invokeHook } from "./hooks.js";
import type { Hooks } from "./types.js";

type Verdict = string | readonly (string | Error | undefined)[] | undefined;
type Replies = Reply | Reply[] | undefined;

/** smtp-server answers an `onData` error without `responseCode` with 450. */
const DATA_ERROR_CODE = 450;

export function streamSink(conn: Connection, onData: Hooks["onData"], lmtp: boolean): DataSink {
  if (!onData) return DISCARD;
  const stream = new SMTPDataStream(() => conn.resume("stream"));
  let ended = false;
  /** The hook's answer as replies, once it has called back. */
  let answer: { readonly replies: Replies } | undefined;
  /** Set while the engine waits for the answer (the data ended first). */
  let deliver: ((replies: Replies) => void) | undefined;
  invokeHook<Verdict>(
    (cb) => onData(stream, conn.session, cb),
    (failed, reason, value) => {
      // Called back before reading everything: the rest is drained, not left to block.
      if (!ended) stream.resume();
      const replies = failed ? errorToReply(reason, DATA_ERROR_CODE) : toReplies(value, lmtp);
      if (deliver) deliver(replies);
      else answer = { replies };
    },
  );
  return {
    write(chunk) {
      if (!stream.feed(chunk)) conn.pause("stream");
    },
    exceeded() {
      stream.sizeExceeded = true;
    },
    end(info): MaybePromise<Replies> {
      ended = true;
      stream.byteLength = info.bytes;
      stream.sizeExceeded = info.sizeExceeded;
      stream.push(null);
      conn.resume("stream");
      // Answered already (a hook that calls back at once): the engine goes on now.
      if (answer) return answer.replies;
      return new Promise<Replies>((resolve) => {
        deliver = resolve;
      });
    },
    abort(reason) {
      ended = true;
      conn.resume("stream");
      // Only a consumer that listens for errors (as `for await` does) gets one; for the
      // others an 'error' event would be an uncaught exception, so they see 'close'.
      if (stream.listenerCount("error") > 0) {
        stream.destroy(new Error(`SMTP transaction aborted: ${reason}`));
      } else {
        stream.destroy();
      }
    },
  };
}

const DISCARD: DataSink = { write() {}, end: () => undefined, abort() {} };

function toReplies(v: Verdict, lmtp: boolean): Replies {
  if (typeof v === "string") return reply(250, v, "2.6.0");
  if (lmtp && Array.isArray(v)) {
    return v.map((item: string | Error | undefined) =>
      item instanceof Error
        ? errorToReply(item, DATA_ERROR_CODE)
        : typeof item === "string"
          ? reply(250, item, "2.6.0")
          : REPLIES.queued,
    );
  }
  return undefined;
}
