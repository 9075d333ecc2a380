import { Readable } from "node:stream";

/**
 * What `onData` is given, by smtp-server's type name: a Node Readable of the message
 * bytes with `byteLength` and `sizeExceeded`. An interface, not the class below, so
 * that a handler typed with smtp-server's own `SMTPServerDataStream` fits too.
 */
export interface SMTPServerDataStream extends Readable {
  readonly byteLength: number;
  readonly sizeExceeded: boolean;
  /** The chunks are Buffers (Uint8Array). */
  [Symbol.asyncIterator](): NodeJS.AsyncIterator<Buffer>;
}

/**
 * The message stream given to `onData`: a Node Readable of the message bytes
 * (dot-unstuffed), async-iterable, with `byteLength` and `sizeExceeded` kept live.
 * Backpressure reaches the socket: when the consumer is slow, reading pauses.
 */
export class SMTPDataStream extends Readable implements SMTPServerDataStream {
  byteLength = 0;
  sizeExceeded = false;
  private readonly onPull: () => void;

  constructor(onPull: () => void) {
    super();
    this.onPull = onPull;
  }

  override _read(): void {
    this.onPull();
  }

  /** A stream destroyed by its consumer never pulls again: reading must not stay paused. */
  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.onPull();
    callback(error);
  }

  /** The chunks are Buffers (Uint8Array). */
  override [Symbol.asyncIterator](): NodeJS.AsyncIterator<Buffer> {
    return super[Symbol.asyncIterator]();
  }

  /** Returns false when the consumer wants the producer to wait. */
  feed(chunk: Buffer): boolean {
    this.byteLength += chunk.length;
    // A consumer that destroyed the stream (e.g. `break` in `for await`) reads no
    // more: the rest is counted and dropped, never waited for.
    if (this.destroyed) return true;
    return this.push(chunk);
  }
}
