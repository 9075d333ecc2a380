/**
 * Records a connection's conversation. Client chunks are kept as received (the
 * same buffers message bodies are sliced from, so no copy is made); AUTH payloads
 * are recorded as secret ranges of the client byte stream and masked when read.
 */
import type { Direction, Transcript, TranscriptEntry } from "./transcript.js";

interface Entry {
  at: number;
  direction: Direction;
  data: Uint8Array;
  /** For client entries: offset of data[0] in the client byte stream. */
  offset: number;
  note?: string;
}

const MASK = Buffer.from("***");
const origin = performance.timeOrigin;

export class TranscriptRecorder implements Transcript {
  readonly connection: number;
  readonly id: string;
  readonly remoteAddress: string;
  readonly remotePort: number;
  closed = false;
  private readonly list: Entry[] = [];
  private readonly secrets: Array<[number, number]> = [];
  private clientBytes = 0;

  constructor(connection: number, id: string, remoteAddress: string, remotePort: number) {
    this.connection = connection;
    this.id = id;
    this.remoteAddress = remoteAddress;
    this.remotePort = remotePort;
  }

  get length(): number {
    return this.list.length;
  }

  client(data: Uint8Array): void {
    this.list.push({
      at: origin + performance.now(),
      direction: "client",
      data,
      offset: this.clientBytes,
    });
    this.clientBytes += data.length;
  }

  server(text: string): void {
    const data = Buffer.from(text, "utf8");
    this.list.push({ at: origin + performance.now(), direction: "server", data, offset: 0 });
  }

  /** A note from the fixture (a fault fired), shown in the transcript, not wire bytes. */
  note(text: string): void {
    const entry: Entry = {
      at: origin + performance.now(),
      direction: "server",
      data: new Uint8Array(0),
      offset: 0,
      note: text,
    };
    this.list.push(entry);
  }

  secret(start: number, end: number): void {
    if (end > start) this.secrets.push([start, end]);
  }

  entries(): TranscriptEntry[] {
    return this.slice(0);
  }

  slice(from: number, to = this.list.length): TranscriptEntry[] {
    return this.list.slice(from, to).map((e) => this.masked(e));
  }

  toString(): string {
    return renderTranscript(this.entries());
  }

  private masked(e: Entry): TranscriptEntry {
    const base = { at: e.at, direction: e.direction };
    const out = e.note === undefined ? base : { ...base, note: e.note };
    if (e.direction !== "client" || this.secrets.length === 0) return { ...out, data: e.data };
    return { ...out, data: this.mask(e) };
  }

  private mask(e: Entry): Uint8Array {
    const start = e.offset;
    const end = start + e.data.length;
    const parts: Uint8Array[] = [];
    let pos = start;
    for (const [s, t] of this.secrets) {
      if (t <= pos || s >= end) continue;
      if (s > pos) parts.push(e.data.subarray(pos - start, s - start));
      parts.push(MASK);
      pos = Math.min(t, end);
    }
    if (parts.length === 0) return e.data;
    if (pos < end) parts.push(e.data.subarray(pos - start));
    return Buffer.concat(parts);
  }
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
