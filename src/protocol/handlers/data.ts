/**
 * DATA (RFC 5321 4.1.1.4) and BDAT (RFC 3030): the message body goes to the
 * transaction's sink as it arrives; the reply is sent only after the end of the
 * data and the sink's verdict.
 */
import { DataDecoder } from "../data-decoder.js";
import type { Engine } from "../engine.js";
import { errorToReply } from "../errors.js";
import type { DataEndInfo, DataSink } from "../host.js";
import { REPLIES } from "../replies.js";
import type { Reply } from "../reply.js";
import { isPromise, type MaybePromise } from "../util.js";

export function data(e: Engine, _args: string, line: string): MaybePromise<void> {
  const env = e.session.envelope;
  if (!env.mailFrom) return e.reply("DATA", line, REPLIES.needMail, "sequence");
  if (e.bdat) return e.reply("DATA", line, REPLIES.dataAfterBdat, "sequence");
  if (env.rcptTo.length === 0) return e.reply("DATA", line, REPLIES.needRcpt, "sequence");
  if (env.bodyType === "binarymime")
    return e.reply("DATA", line, REPLIES.binaryNeedsBdat, "sequence");
  const sink = e.host.openData();
  const decoder = new DataDecoder((chunk) => bodyChunk(e, decoder.bytes, sink, chunk));
  e.reply("DATA", line, REPLIES.startData);
  e.mode = { kind: "data", decoder, sink };
}

/** Body bytes go to the sink until the size limit; after that they are only counted. */
function bodyChunk(e: Engine, total: number, sink: DataSink, chunk: Buffer): void {
  const size = e.config.size;
  if (size > 0 && total > size) {
    if (total - chunk.length <= size) sink.exceeded?.();
    return;
  }
  sink.write(chunk);
}

export function finishData(e: Engine, decoder: DataDecoder, sink: DataSink): MaybePromise<void> {
  e.mode = { kind: "command" };
  const size = e.config.size;
  const info: DataEndInfo = {
    bytes: decoder.bytes,
    sizeExceeded: size > 0 && decoder.bytes > size,
    bareLf: decoder.bareLf,
  };
  if (info.bareLf > 0 && e.config.bareLf === "reject") {
    sink.abort("bare LF");
    return complete(e, "DATA_END", [REPLIES.bareLf], "bare LF", undefined);
  }
  return endData(e, sink, info);
}

export function bdat(e: Engine, args: string, line: string): MaybePromise<void> {
  const m = /^(\d{1,15})(?: +(LAST))? *$/i.exec(args);
  if (!m) return e.reply("BDAT", line, REPLIES.bdatSyntax, "syntax");
  const env = e.session.envelope;
  // The chunk follows the command whatever the verdict: it must be read and dropped.
  const size = Number(m[1]);
  const last = m[2] !== undefined;
  const refusal = !env.mailFrom
    ? REPLIES.needMail
    : env.rcptTo.length === 0
      ? REPLIES.needRcpt
      : undefined;
  if (refusal) {
    e.reply("BDAT", line, refusal, "sequence");
    e.mode = { kind: "bdat", remaining: size, last: false, sink: DROP };
    if (size === 0) e.mode = { kind: "command" };
    return;
  }
  e.used.add("CHUNKING");
  e.bdat ??= { sink: e.host.openData(), bytes: 0, sizeExceeded: false };
  e.mode = { kind: "bdat", remaining: size, last, sink: e.bdat.sink };
  if (size === 0) e.run(finishBdat(e, last));
}

const DROP: DataSink = { write() {}, end: () => undefined, abort() {} };

export function bdatChunk(e: Engine, chunk: Buffer): void {
  const t = e.bdat;
  if (!t) return; // a refused BDAT: the chunk is read and dropped
  t.bytes += chunk.length;
  const size = e.config.size;
  if (size > 0 && t.bytes > size) {
    if (!t.sizeExceeded) t.sink.exceeded?.();
    t.sizeExceeded = true;
  } else t.sink.write(chunk);
}

export function finishBdat(e: Engine, last: boolean): MaybePromise<void> {
  e.mode = { kind: "command" };
  const t = e.bdat;
  if (!t) return;
  if (t.sizeExceeded) {
    e.bdat = undefined;
    t.sink.abort("size");
    return complete(e, "DATA_END", [REPLIES.sizeExceeded(e.config.size)], "size", undefined);
  }
  if (!last) return e.reply("BDAT", "BDAT", REPLIES.bdatReceived(t.bytes));
  e.bdat = undefined;
  return endData(e, t.sink, { bytes: t.bytes, sizeExceeded: false, bareLf: 0 });
}

/** Asks the sink for its verdict (the onData callback), then replies. */
function endData(e: Engine, sink: DataSink, info: DataEndInfo): MaybePromise<void> {
  return e.intercepted("DATA_END", "", () => {
    let verdict: MaybePromise<Reply | readonly Reply[] | undefined>;
    try {
      verdict = sink.end(info);
    } catch (err) {
      return complete(e, "DATA_END", [errorToReply(err)], "hook", sink);
    }
    const done = (v: Reply | readonly Reply[] | undefined) => {
      const replies = dataReplies(e, v, info);
      return complete(e, "DATA_END", replies, replies[0]?.code === 250 ? "ok" : "hook", sink);
    };
    const failed = (err: unknown) => complete(e, "DATA_END", [errorToReply(err)], "hook", sink);
    return isPromise(verdict) ? verdict.then(done, failed) : done(verdict);
  });
}

/** One reply, or (LMTP) one per recipient. */
function dataReplies(
  e: Engine,
  v: Reply | readonly Reply[] | undefined,
  info: DataEndInfo,
): Reply[] {
  if (info.sizeExceeded) return [REPLIES.sizeExceeded(e.config.size)];
  const list = v === undefined ? [REPLIES.queued] : Array.isArray(v) ? [...v] : [v as Reply];
  if (!e.config.lmtp) return list.slice(0, 1);
  const n = e.session.envelope.rcptTo.length;
  return Array.from({ length: n }, (_, k) => list[k] ?? list[list.length - 1] ?? REPLIES.queued);
}

function complete(
  e: Engine,
  stage: "DATA_END",
  replies: readonly Reply[],
  reason: string,
  sink: DataSink | undefined,
): void {
  if (e.closed || e.dropReply) {
    sink?.replied?.(replies[0]!, false);
    if (e.dropReply) {
      e.dropReply = false;
      e.close();
    }
    return;
  }
  for (const r of replies) e.reply(stage, "", r, reason);
  e.flush();
  sink?.replied?.(replies[0]!, true);
  e.resetTransaction();
}
