/**
 * The DataSink behind `onData`: the message goes to an SMTPDataStream; the reply
 * waits for both the end of the data and the hook's callback. A stream the hook
 * does not consume is drained, so an early callback never hangs the connection.
 */
import { errorToReply } from "../protocol/errors.js";
import type { DataSink } from "../protocol/host.js";
import { REPLIES } from "../protocol/replies.js";
import { type Reply, reply } from "../protocol/reply.js";
import type { Connection } from "./connection.js";
import { SMTPDataStream } from "./data-stream.js";
import { callHook } from "./hooks.js";
import type { Hooks } from "./types.js";

type Verdict = string | readonly (string | Error | undefined)[] | undefined;

/** smtp-server answers an `onData` error without `responseCode` with 450. */
const DATA_ERROR_CODE = 450;

export function streamSink(conn: Connection, onData: Hooks["onData"], lmtp: boolean): DataSink {
  if (!onData) return DISCARD;
  const stream = new SMTPDataStream(() => conn.resume("stream"));
  let ended = false;
  const verdict = callHook<Verdict>((cb) => onData(stream, conn.session, cb));
  // Called back before reading everything: the rest is drained, not left to block.
  verdict.then(
    () => !ended && stream.resume(),
    () => !ended && stream.resume(),
  );
  return {
    write(chunk) {
      if (!stream.feed(chunk)) conn.pause("stream");
    },
    exceeded() {
      stream.sizeExceeded = true;
    },
    end(info) {
      ended = true;
      stream.byteLength = info.bytes;
      stream.sizeExceeded = info.sizeExceeded;
      stream.push(null);
      conn.resume("stream");
      return verdict.then(
        (v) => toReplies(v, lmtp),
        (err: unknown) => errorToReply(err, DATA_ERROR_CODE),
      );
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
      verdict.catch(() => undefined);
    },
  };
}

const DISCARD: DataSink = { write() {}, end: () => undefined, abort() {} };

function toReplies(v: Verdict, lmtp: boolean): Reply | Reply[] | undefined {
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
