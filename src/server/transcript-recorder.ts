/**
 * Records a connection's conversation with no object per entry: a timestamp and a
 * packed location per entry in one growable Float64Array, and the data in one array.
 *
 * - Client reads of up to COPY_LIMIT bytes are copied into slabs shared by every
 *   transcript (a socket read is an ArrayBuffer of its own, with about 300 bytes of
 *   bookkeeping on and off the heap; a 1 KiB message arrives in one such read). The
 *   message bodies the fixture keeps are views of the same copy (`stored()`), so the
 *   bytes are held once. Longer reads are kept as received, zero-copy.
 * - Server replies are kept as the strings written; equal ones (the same 250 again
 *   and again) are stored once. They are encoded only when read.
 * - AUTH payloads are recorded as secret ranges of the client byte stream and
 *   masked when read.
 *
 * Entries (`TranscriptEntry` objects) are made only by `entries()` / `slice()`.
 */

import { now, timeOrigin } from "./real-timers.js";
import type { Direction, Transcript, TranscriptEntry } from "./transcript.js";

const MASK = Buffer.from("***");
const NO_BYTES = new Uint8Array(0);
const origin = timeOrigin;

/** Client reads up to this size are copied into a shared slab. */
const COPY_LIMIT = 4096;
const SLAB_SIZE = 64 * 1024;
/** Packing of a client entry's location: start * 2^21 + length (both integers). */
const LENGTH_BITS = 2 ** 21;
const MAX_START = 2 ** 32;
/** Reads remembered for `stored()` (the engine may queue a few while a hook runs). */
const RECENT_READS = 4;

/** The slab being filled (zeroed memory: a view's `.buffer` never shows stale bytes). */
let slab = new ArrayBuffer(0);
let slabBytes = new Uint8Array(slab);
let slabUsed = 0;

/** Copies `chunk` into the current slab (a new one when it does not fit); returns its start. */
function copyToSlab(chunk: Uint8Array): number {
  if (slabUsed + chunk.byteLength > SLAB_SIZE || slabBytes.byteLength === 0) {
    slab = new ArrayBuffer(SLAB_SIZE);
    slabBytes = new Uint8Array(slab);
    slabUsed = 0;
  }
  const start = slabUsed;
  slabBytes.set(chunk, start);
  slabUsed += chunk.byteLength;
  return start;
}

/**
 * The last few distinct server reply texts: a reply equal to one of them is stored
 * as that string (the same batch of 250s again and again is held once). A compare
 * against a handful of strings, not a hash of each reply.
 */
const recentTexts: string[] = [];
const RECENT_TEXTS = 8;
let recentTextNext = 0;

function intern(text: string): string {
  for (let i = 0; i < recentTexts.length; i++) {
    const known = recentTexts[i]!;
    if (known === text) return known;
  }
  recentTexts[recentTextNext] = text;
  recentTextNext = (recentTextNext + 1) % RECENT_TEXTS;
  return text;
}

/** A note from the fixture (a fault fired): shown in the transcript, not wire bytes. */
class Note {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
}

/**
 * Client bytes not kept, and why (the entry reads as a note with their count). The
 * count is in the entry's number slot, so stream offsets stay right; one object per
 * reason, shared by every such entry.
 */
class Dropped {
  readonly why: string;
  constructor(why: string) {
    this.why = why;
  }
}
/** Message data past the size limit (`omit`). */
const PAST_LIMIT = new Dropped("bytes of message data past the size limit, not kept");
/** A previous test's reads on a connection open across `reset()` (`release`). */
const BEFORE_RESET = new Dropped("bytes received before an earlier reset(), not kept");

/**
 * An entry's data: an ArrayBuffer (client bytes at the packed location), a
 * Uint8Array (client bytes kept as given), a string (a server reply), a Note, or
 * Dropped client bytes.
 */
type Stored = ArrayBuffer | Uint8Array | string | Note | Dropped;

export class TranscriptRecorder implements Transcript {
  readonly connection: number;
  readonly id: string;
  readonly remoteAddress: string;
  readonly remotePort: number;
  #closed = false;
  /**
   * Set on an implicit-TLS connection until its handshake is done: the plain
   * socket, whose `bytesRead` tells whether the client sent anything yet (a client
   * that waits for a greeting sends nothing); after a failed handshake, that count.
   */
  implicitTls: { readonly bytesRead: number } | undefined = undefined;
  private count = 0;
  /**
   * Per entry: [timestamp, packed location of client bytes in an ArrayBuffer (else 0)].
   * A plain array of doubles (unboxed, on the heap): a typed array would be one
   * more ArrayBuffer with its own native memory for every connection. Both arrays
   * are cut to their length when the connection closes.
   */
  private nums: number[] = [];
  private data: Stored[] = [];
  /** AUTH payload ranges of the client byte stream; made at the first one. */
  private secrets: Array<[number, number]> | undefined;
  /** Client stream offset of each entry, computed up to `offsetsKnown` when masking needs it. */
  private offsets: Float64Array | undefined;
  private offsetsKnown = 0;
  /**
   * The last client reads as received and their entry numbers, alternating (for
   * `stored()`); made at the first read, let go when the connection closes.
   */
  private recent: (Uint8Array | number)[] | undefined;
  private recentNext = 0;
  /** Entries before this one have let their client bytes go (`release`). */
  private released = 0;

  constructor(connection: number, id: string, remoteAddress: string, remotePort: number) {
    this.connection = connection;
    this.id = id;
    this.remoteAddress = remoteAddress;
    this.remotePort = remotePort;
  }

  get length(): number {
    return this.count;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Set by the connection when it closes. The last reads are let go, and the entry
   * arrays are copied at their length: a growing array keeps room for about half as
   * many entries again (120 of a short connection's 950 bytes), and a closed
   * transcript is kept as long as its connection's messages.
   */
  set closed(value: boolean) {
    this.#closed = value;
    if (!value) return;
    this.recent = undefined;
    this.nums = this.nums.slice();
    this.data = this.data.slice();
  }

  /**
   * A client read. `copy` false keeps a small read as received instead of copying it
   * (one that may be `omit`ted right after, so that no shared memory holds it).
   */
  client(chunk: Uint8Array, copy = true): void {
    const length = chunk.byteLength;
    if (length === 0) {
      this.push(NO_BYTES, 0);
      return;
    }
    let packed = 0;
    let stored: Stored = chunk;
    if (length <= COPY_LIMIT && copy) {
      packed = copyToSlab(chunk) * LENGTH_BITS + length;
      stored = slab;
    } else if (
      length < LENGTH_BITS &&
      chunk.byteOffset < MAX_START &&
      chunk.buffer instanceof ArrayBuffer
    ) {
      // Kept as received: the read's own memory, without the view object.
      packed = chunk.byteOffset * LENGTH_BITS + length;
      stored = chunk.buffer;
    }
    const entry = this.count;
    this.push(stored, packed);
    const k = this.recentNext;
    this.recent ??= [];
    const recent = this.recent;
    recent[k * 2] = chunk;
    recent[k * 2 + 1] = entry;
    this.recentNext = (k + 1) % RECENT_READS;
  }

  /**
   * Entry `i`, a client read, was message data past the size limit: its bytes are
   * let go, and it reads as a note with their count (stream offsets stay right).
   */
  omit(i: number): void {
    this.drop(i, PAST_LIMIT);
  }

  /**
   * Entries before `end` keep their count of client bytes, not the bytes: a previous
   * test's reads on a connection that stays open across `reset()` (a pooled
   * transport's), which would otherwise be held until it closes. Their messages keep
   * their own bodies.
   */
  release(end: number): void {
    const upTo = Math.min(end, this.count);
    for (let i = this.released; i < upTo; i++) this.drop(i, BEFORE_RESET);
    if (upTo > this.released) this.released = upTo;
  }

  /** Entry `i`, if it holds client bytes, keeps their count instead, and why. */
  private drop(i: number, why: Dropped): void {
    const stored = this.data[i];
    if (!(stored instanceof ArrayBuffer || stored instanceof Uint8Array)) return;
    this.nums[i * 2 + 1] = this.clientLength(i);
    this.data[i] = why;
  }

  server(text: string): void {
    this.push(intern(text), 0);
  }

  /** A note from the fixture (a fault fired), shown in the transcript, not wire bytes. */
  note(text: string): void {
    this.push(new Note(text), 0);
  }

  secret(start: number, end: number): void {
    if (end <= start) return;
    this.secrets ??= [];
    this.secrets.push([start, end]);
    this.blank(start, end);
  }

  /**
   * Overwrites the kept copy of client stream bytes [start, end) with `*`: the memory
   * recorded bytes share (a slab, a read kept as received) then holds no credentials
   * for a view's `.buffer` to show. Reading masks the range anyway. Only the entries
   * recorded so far (the line is read by now) are touched, newest first.
   */
  private blank(start: number, end: number): void {
    for (let i = this.count - 1; i >= 0; i--) {
      const stored = this.data[i];
      if (!(stored instanceof ArrayBuffer || stored instanceof Uint8Array)) continue;
      const offset = this.clientOffset(i);
      const length = this.clientLength(i);
      if (offset + length <= start) break;
      const from = Math.max(start, offset) - offset;
      const to = Math.min(end, offset + length) - offset;
      if (to > from) this.clientData(i, stored).fill(0x2a, from, to);
    }
  }

  /**
   * Where the bytes of `view` (a part of one of the last client reads, such as a
   * message body) are kept: a view of the transcript's copy of them, or `view`
   * itself when its read is kept as received; `undefined` when `view` is not part
   * of a recent read.
   */
  stored(view: Buffer): Buffer | undefined {
    const recent = this.recent;
    if (recent === undefined) return undefined;
    const n = recent.length / 2;
    for (let back = 1; back <= n; back++) {
      const k = (this.recentNext - back + RECENT_READS) % RECENT_READS;
      const read = recent[k * 2] as Uint8Array;
      if (read.buffer !== view.buffer) continue;
      const rel = view.byteOffset - read.byteOffset;
      if (rel < 0 || rel + view.byteLength > read.byteLength) continue;
      const entry = recent[k * 2 + 1] as number;
      const stored = this.data[entry];
      if (!(stored instanceof ArrayBuffer) || stored === view.buffer) return view;
      const start = Math.floor(this.nums[entry * 2 + 1]! / LENGTH_BITS);
      const copy = Buffer.from(stored, start + rel, view.byteLength);
      // The copy was made when the read arrived; equal bytes prove it is the same read.
      return copy.equals(view) ? copy : undefined;
    }
    return undefined;
  }

  entries(): TranscriptEntry[] {
    return this.slice(0);
  }

  /** Entries in [from, to), as `Array.prototype.slice` counts (negative from the end). */
  slice(from: number, to: number = this.count): TranscriptEntry[] {
    const start = relative(from, this.count);
    const end = relative(to, this.count);
    const out: TranscriptEntry[] = [];
    for (let i = start; i < end; i++) out.push(this.entry(i));
    return out;
  }

  toString(): string {
    return renderTranscript(this.entries());
  }

  private push(stored: Stored, packed: number): void {
    this.nums.push(origin + now(), packed);
    this.data.push(stored);
    this.count++;
  }

  private entry(i: number): TranscriptEntry {
    const at = this.nums[i * 2]!;
    const stored = this.data[i]!;
    if (typeof stored === "string") {
      return { at, direction: "server", data: Buffer.from(stored, "utf8") };
    }
    if (stored instanceof Note) {
      return { at, direction: "server", note: stored.text, data: NO_BYTES };
    }
    if (stored instanceof Dropped) {
      const note = `${this.clientLength(i)} ${stored.why}`;
      return { at, direction: "client", note, data: NO_BYTES };
    }
    const data = this.clientData(i, stored);
    const direction: Direction = "client";
    if (this.secrets === undefined) return { at, direction, data };
    return { at, direction, data: this.mask(data, this.clientOffset(i)) };
  }

  private clientData(i: number, stored: ArrayBuffer | Uint8Array): Uint8Array {
    if (!(stored instanceof ArrayBuffer)) return stored;
    const packed = this.nums[i * 2 + 1]!;
    const length = packed % LENGTH_BITS;
    return Buffer.from(stored, (packed - length) / LENGTH_BITS, length);
  }

  /** Offset of entry `i`'s first byte in the client byte stream. */
  private clientOffset(i: number): number {
    if (!this.offsets || this.offsets.length < this.count) {
      const grown = new Float64Array(Math.max(this.count, 16) * 2);
      if (this.offsets) grown.set(this.offsets.subarray(0, this.offsetsKnown));
      this.offsets = grown;
    }
    const offsets = this.offsets;
    for (let k = this.offsetsKnown; k <= i; k++) {
      const previous = k === 0 ? 0 : offsets[k - 1]! + this.clientLength(k - 1);
      offsets[k] = previous;
    }
    if (i + 1 > this.offsetsKnown) this.offsetsKnown = i + 1;
    return offsets[i]!;
  }

  private clientLength(i: number): number {
    const stored = this.data[i];
    if (stored instanceof ArrayBuffer) return this.nums[i * 2 + 1]! % LENGTH_BITS;
    if (stored instanceof Uint8Array) return stored.byteLength;
    if (stored instanceof Dropped) return this.nums[i * 2 + 1]!;
    return 0;
  }

  private mask(data: Uint8Array, start: number): Uint8Array {
    const end = start + data.length;
    const parts: Uint8Array[] = [];
    let pos = start;
    for (const [s, t] of this.secrets ?? []) {
      if (t <= pos || s >= end) continue;
      if (s > pos) parts.push(data.subarray(pos - start, s - start));
      parts.push(MASK);
      pos = Math.min(t, end);
    }
    if (parts.length === 0) return data;
    if (pos < end) parts.push(data.subarray(pos - start));
    return Buffer.concat(parts);
  }
}

/** An index as `Array.prototype.slice` reads it: negative counts from the end, clamped. */
export function relative(index: number, length: number): number {
  const n = Math.trunc(index) || 0;
  return n < 0 ? Math.max(length + n, 0) : Math.min(n, length);
}

/**
 * `C: ` / `S: ` lines, one per line of the conversation; notes as `# ...`. A long
 * run of lines in one entry (a message body) is cut after `maxBodyLines`.
 */
export function transcriptLines(
  entries: readonly TranscriptEntry[],
  maxBodyLines = Number.POSITIVE_INFINITY,
): string[] {
  const out: string[] = [];
  const decoder = new TextDecoder();
  for (const e of entries) {
    if (e.note !== undefined) {
      out.push(`# ${e.note}`);
      continue;
    }
    const prefix = e.direction === "client" ? "C: " : "S: ";
    const lines = decoder.decode(e.data).split(/\r?\n/);
    if (lines[lines.length - 1] === "") lines.pop();
    const cut = lines.length > maxBodyLines;
    for (const line of cut ? lines.slice(0, maxBodyLines) : lines) out.push(prefix + line);
    if (cut) out.push(`${prefix}... (${lines.length - maxBodyLines} more lines)`);
  }
  return out;
}

export function renderTranscript(entries: readonly TranscriptEntry[], maxBodyLines = 40): string {
  return transcriptLines(entries, maxBodyLines).join("\n");
}
