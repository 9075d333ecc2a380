/**
 * A connection's conversation, byte-exact in both directions, with timestamps.
 * Client bytes are held once: the message bodies the fixture keeps share memory
 * with the transcript's (small reads are packed together, large ones kept as the
 * socket delivered them); secrets (AUTH payloads) are recorded as byte ranges and
 * masked when the transcript is read, never stored in the clear in any rendered
 * form. Message data that arrives past the size limit (refused with 552) is not
 * kept: such a read is an entry with a note giving its byte count. Entries are made when read: `data` is a view of the kept bytes (do not
 * write to it), or a new buffer for a server reply or a masked read.
 */
export type Direction = "client" | "server";

export interface TranscriptEntry {
  /** Milliseconds since the epoch (fractional, from performance.timeOrigin + now()). */
  readonly at: number;
  readonly direction: Direction;
  readonly data: Uint8Array;
  /**
   * Set when this entry is a note, not wire bytes: from the fixture (a fault fired;
   * direction "server"), or client bytes not kept (message data past the size limit).
   */
  readonly note?: string;
}

export interface Transcript {
  /** 1-based connection number on this server. */
  readonly connection: number;
  readonly id: string;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** Entries with secrets masked as `***`. */
  entries(): TranscriptEntry[];
  /** Entries in [from, to) of the entry list, masked. */
  slice(from: number, to?: number): TranscriptEntry[];
  /** Number of entries so far (a position to slice from later). */
  readonly length: number;
  /** The conversation as text: `C: ...` / `S: ...` lines, masked. */
  toString(): string;
  readonly closed: boolean;
}
