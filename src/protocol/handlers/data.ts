/**
 * DATA (RFC 5321 4.1.1.4) and BDAT (RFC 3030): the message body goes to the
 * transaction's sink as it arrives; the reply is sent only after the end of the
 * data and the sink's verdict.
 */
import { DataDecoder } from "../data-decoder.js";
import type { Engine } from "../engine.js";
import { errorToReply } from "../errors.js";
import type { DataEndInfo, DataSink, Directive } from "../host.js";
import { COMMAND_MODE } from "../mode.js";
import { REPLIES } from "../replies.js";
import type { Reply } from "../reply.js";
import { andThen, isPromise, type MaybePromise } from "../util.js";

/** DATA's 503 when the transaction is not ready for it (also checked before faults). */
export function dataOutOfOrder(e: Engine): Reply | undefined {
  const env = e.session.envelope;
  if (!env.mailFrom) return REPLIES.needMail;
  if (e.bdat) return REPLIES.dataAfterBdat;
  if (env.rcptTo.length === 0) return REPLIES.needRcpt;
  if (env.bodyType === "binarymime") return REPLIES.binaryNeedsBdat;
  return undefined;
}

export function data(e: Engine, _args: string, line: string): MaybePromise<void> {
  const outOfOrder = dataOutOfOrder(e);
  if (outOfOrder) return e.reply("DATA", line, outOfOrder, "sequence");
  const sink = e.host.openData();
  // Bare LFs are counted only where they change the answer.
  const decoder = new DataDecoder(
    (chunk) => bodyChunk(e, decoder.bytes, sink, chunk),
    e.config.bareLf === "reject",
  );
  e.reply("DATA", line, REPLIES.startData);
  e.mode = { kind: "data", decoder, sink };
  return e.armData(line);
}

/**
 * Body bytes go to the sink until the size limit; after it they are only counted
 * when the message will be refused anyway (rejectOversized), else passed on.
 */
function bodyChunk(e: Engine, total: number, sink: DataSink, chunk: Buffer): void {
  const size = e.config.size;
  if (size > 0 && total > size) {
    if (total - chunk.length <= size) sink.exceeded?.();
    if (refusesOversized(e)) return;
  }
  sink.write(chunk);
}

/** smtp-server's `rejectOversized`; on unless the config turns it off. */
function refusesOversized(e: Engine): boolean {
  return e.config.rejectOversized !== false;
}

export function finishData(e: Engine, decoder: DataDecoder, sink: DataSink): MaybePromise<void> {
  e.mode = COMMAND_MODE;
  e.host.dataHeard?.(decoder.bytes);
  const size = e.config.size;
  const info: DataEndInfo = {
    bytes: decoder.bytes,
    sizeExceeded: size > 0 && decoder.bytes > size,
    bareLf: decoder.bareLf,
  };
  if (info.bareLf > 0 && e.config.bareLf === "reject") {
    refuse(sink, "bare LF");
    return complete(e, [REPLIES.bareLf], "bare LF", undefined);
  }
  return endData(e, sink, info);
}

/**
 * `BDAT <size> [LAST]`, spaces around the words tolerated. RFC 3030's chunk-size is
 * `1*DIGIT`: leading zeros are taken, and the number is what counts.
 */
const BDAT_ARGS = /^ *0*(\d{1,15})(?: +(LAST))? *$/i;
/** The chunk size of a BDAT whose arguments are otherwise wrong: its chunk still follows. */
const CHUNK_SIZE = /^ *0*(\d{1,15})(?: |$)/;
/** A size no chunk can have (a petabyte and more): there is no skipping it. */
const HUGE_CHUNK = /^ *0*[1-9]\d{15,}(?: |$)/;

/**
 * BDAT's 503 when there is no transaction for it (also checked before faults): the
 * BDATs a client pipelined behind a refused one meet a transaction RFC 3030 2 ended.
 */
export function bdatOutOfOrder(e: Engine): Reply | undefined {
  const env = e.session.envelope;
  if (!env.mailFrom) return REPLIES.needMail;
  if (env.rcptTo.length === 0) return REPLIES.needRcpt;
  return undefined;
}

export function bdat(e: Engine, args: string, line: string): MaybePromise<void> {
  const m = BDAT_ARGS.exec(args);
  if (!m && HUGE_CHUNK.test(args)) {
    // Its chunk would be taken for commands: the connection cannot go on.
    e.reply("BDAT", line, REPLIES.bdatTooLarge, "syntax");
    e.close("BDAT chunk size too large", REPLIES.bdatTooLarge);
    return;
  }
  if (!m) {
    e.reply("BDAT", line, REPLIES.bdatSyntax, "syntax");
    refusedBdat(e, args);
    return;
  }
  const size = Number(m[1]);
  const last = m[2] !== undefined;
  const refusal = bdatOutOfOrder(e);
  if (refusal) {
    e.reply("BDAT", line, refusal, "sequence");
    skipChunk(e, args);
    return;
  }
  e.used.add("CHUNKING");
  const first = e.bdat === undefined;
  e.bdat ??= { sink: e.host.openData(), bytes: 0, sizeExceeded: false };
  const sink = e.bdat.sink;
  e.mode = { kind: "bdat", remaining: size, last, sink };
  const armed = first ? e.armData(line) : undefined;
  // Returned, not run here: the caller holds input until an async end is answered.
  if (size === 0) return andThen(armed, () => finishBdat(e, sink, last));
  return armed;
}

/**
 * A BDAT answered without running (refused, or replaced by a fault): its chunk
 * follows the command whatever the verdict, so it is read and dropped, never
 * taken for commands. Without a readable size there is no chunk to skip.
 */
export function skipChunk(e: Engine, args: string): void {
  if (HUGE_CHUNK.test(args)) {
    // Answered already (a 503, a fault's refusal), but its chunk cannot be skipped:
    // the connection ends rather than read those bytes as commands.
    e.close("BDAT chunk size too large");
    return;
  }
  const m = CHUNK_SIZE.exec(args);
  const size = m ? Number(m[1]) : 0;
  if (size > 0) e.mode = { kind: "bdat", remaining: size, last: false, sink: DROP };
}

/**
 * A BDAT answered with a refusal instead of running (a gate, or a fault's reply):
 * RFC 3030 2 makes the whole transaction failed. The message so far is dropped and
 * the envelope reset, so BDATs the client had already pipelined are refused too
 * and their chunks dropped, never joined into a message; this BDAT's own chunk is
 * read and dropped.
 */
export function refusedBdat(e: Engine, args: string): void {
  if (e.bdat !== undefined || e.session.envelope.mailFrom) e.resetTransaction();
  skipChunk(e, args);
}

const DROP: DataSink = { write() {}, end: () => undefined, abort() {} };

/** The server refuses the data (its reply follows): the sink drops the message. */
function refuse(sink: DataSink, reason: string): void {
  if (sink.refused) sink.refused(reason);
  else sink.abort(reason);
}

/** Bytes of a BDAT chunk; `sink` is the one the chunk was announced for. */
export function bdatChunk(e: Engine, sink: DataSink, chunk: Buffer): void {
  const t = e.bdat;
  if (!t || t.sink !== sink) return; // a skipped BDAT: the chunk is read and dropped
  t.bytes += chunk.length;
  const size = e.config.size;
  if (size > 0 && t.bytes > size) {
    if (!t.sizeExceeded) t.sink.exceeded?.();
    t.sizeExceeded = true;
    if (!refusesOversized(e)) t.sink.write(chunk);
  } else t.sink.write(chunk);
}

export function finishBdat(e: Engine, sink: DataSink, last: boolean): MaybePromise<void> {
  e.mode = COMMAND_MODE;
  const t = e.bdat;
  if (!t || t.sink !== sink) return; // a skipped BDAT was answered already
  if (last) e.host.dataHeard?.(t.bytes);
  if (t.sizeExceeded && refusesOversized(e)) {
    e.bdat = undefined;
    refuse(t.sink, "size");
    // A BDAT without LAST has one reply, LMTP too: the per-recipient replies of RFC
    // 2033 4.2 come only at the end of the data.
    return complete(e, [REPLIES.sizeExceeded(e.config.size)], "size", undefined, last);
  }
  if (!last) {
    e.reply("BDAT", "BDAT", REPLIES.bdatReceived(t.bytes));
    e.afterChunk();
    return;
  }
  e.bdat = undefined;
  return endData(e, t.sink, { bytes: t.bytes, sizeExceeded: t.sizeExceeded, bareLf: 0 });
}

/** Asks the sink for its verdict (the onData callback), then replies. */
function endData(e: Engine, sink: DataSink, info: DataEndInfo): MaybePromise<void> {
  e.verdict = sink;
  const d = e.ask("DATA_END", "");
  return d === undefined ? askSink(e, sink, info) : directedEnd(e, sink, info, d);
}

/** endData with a directive, apart so that endData makes no closure context per message. */
function directedEnd(
  e: Engine,
  sink: DataSink,
  info: DataEndInfo,
  d: MaybePromise<Directive | undefined>,
): MaybePromise<void> {
  // A fault answered (or dropped the connection) instead of the sink: the message is
  // not taken, and the transaction is over either way.
  const skipped = (reason: string) => {
    e.verdict = undefined;
    sink.abort(reason);
    e.resetTransaction();
  };
  return e.directed("DATA_END", "", d, () => askSink(e, sink, info), skipped);
}

function askSink(e: Engine, sink: DataSink, info: DataEndInfo): MaybePromise<void> {
  let verdict: MaybePromise<Reply | readonly Reply[] | undefined>;
  try {
    verdict = sink.end(info);
  } catch (err) {
    return complete(e, [errorToReply(err)], "hook", sink);
  }
  if (!isPromise(verdict)) return sinkAnswered(e, sink, info, verdict);
  return verdict.then(
    (v) => sinkAnswered(e, sink, info, v),
    (err: unknown) => complete(e, [errorToReply(err)], "hook", sink),
  );
}

function sinkAnswered(
  e: Engine,
  sink: DataSink,
  info: DataEndInfo,
  v: Reply | readonly Reply[] | undefined,
): void {
  // The sink's verdict is the hook's (a 250 is no refusal: its reason is never read),
  // for every LMTP recipient whatever the first one's reply.
  complete(e, dataReplies(e, v, info), oversized(e, info) ? "size" : "hook", sink);
}

const QUEUED: readonly Reply[] = Object.freeze([REPLIES.queued]);
const LMTP_ACCEPTED: readonly Reply[] = Object.freeze([REPLIES.lmtpAccepted]);

/** The message crossed the size limit and is refused for it, whatever the sink said. */
function oversized(e: Engine, info: DataEndInfo): boolean {
  return info.sizeExceeded && refusesOversized(e);
}

/** The sink's verdict as a list of replies (LMTP: one per recipient, see `complete`). */
function dataReplies(
  e: Engine,
  v: Reply | readonly Reply[] | undefined,
  info: DataEndInfo,
): readonly Reply[] {
  if (oversized(e, info)) return [REPLIES.sizeExceeded(e.config.size)];
  if (v === undefined) return e.config.lmtp ? LMTP_ACCEPTED : QUEUED;
  return Array.isArray(v) ? v : [v as Reply];
}

/**
 * Sends the replies to a message's data: at its end, one per LMTP recipient
 * (`perRecipient`); before it (a BDAT without LAST), one. A verdict repeated for each
 * recipient is one refusal: recorded once.
 */
export function replyToData(
  e: Engine,
  replies: readonly Reply[],
  reason: string,
  endOfData = true,
): void {
  let previous: Reply | undefined;
  for (const r of endOfData ? perRecipient(e, replies) : replies.slice(0, 1)) {
    if (r === previous) e.send(r);
    else e.reply("DATA_END", "", r, reason);
    previous = r;
  }
}

/**
 * SMTP has one reply to the data; LMTP (RFC 2033 4.2) one per successful RCPT, in
 * their order, whatever the outcome: a single verdict (a rejection, a size overflow)
 * is repeated. `list` is indexed by envelope recipient (onData's array), so a
 * recipient given in several RCPTs gets its verdict for each of them.
 */
function perRecipient(e: Engine, list: readonly Reply[]): readonly Reply[] {
  if (!e.config.lmtp) return list.length === 1 ? list : list.slice(0, 1);
  return e.lmtpRcpts.map((at) => list[at] ?? list[list.length - 1] ?? REPLIES.lmtpAccepted);
}

function complete(
  e: Engine,
  replies: readonly Reply[],
  reason: string,
  sink: DataSink | undefined,
  endOfData = true,
): void {
  e.verdict = undefined;
  if (e.closed || e.dropReply) {
    sink?.replied?.(replies[0]!, false);
    if (e.dropReply) {
      e.dropReply = false;
      e.close();
    }
    return;
  }
  replyToData(e, replies, reason, endOfData);
  // Told once the reply is written, in the same write as any replies that follow
  // it in this pass (one write per pipelined batch, not two).
  if (sink?.replied) {
    const first = replies[0]!;
    e.whenFlushed(() => sink.replied?.(first, true));
  }
  e.messageAnswered();
  e.resetTransaction();
  e.afterChunk();
}
