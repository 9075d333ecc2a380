/**
 * The byte-level DATA decoder (RFC 5321 4.1.1.4, 4.5.2): removes dot-stuffing and
 * finds the end-of-data marker, correct at every chunk boundary.
 *
 * One definition of a line end everywhere: CRLF. A line starts only after CRLF, so
 * `\n.\n`, `\n.\r\n`, `\r\n.\n`, `\r.\r` and friends are data, never an end of data
 * (the SMTP smuggling class). Bare LFs are counted so the server can apply its
 * policy (accept as data, or reject like Postfix's smtpd_forbid_bare_newline).
 *
 * Decoded bytes are handed out as slices of the input (no copies); the only bytes
 * that are not passed through are the stuffed dots and the final `.CRLF`. The CRLF
 * before the final dot belongs to the message.
 */

const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;
const CR_ONLY = Buffer.from([CR]);
/** Where a line can start with a dot: only this can stuff or end the data. */
const CRLF_DOT = Buffer.from("\r\n.");

enum State {
  /** inside a line; the previous byte was not CR */
  Mid,
  /** inside a line; the previous byte was CR (already passed on) */
  AfterCr,
  /** at the start of a line (after CRLF, or the first byte of the data) */
  LineStart,
  /** a line started with "." (held back) */
  Dot,
  /** a line started with ".\r" (both held back) */
  DotCr,
  /** the end-of-data marker has been seen */
  Done,
}

export class DataDecoder {
  /** Decoded bytes passed on so far. */
  bytes = 0;
  /** Bare LFs (LF not preceded by CR) seen so far; stays 0 unless counted. */
  bareLf = 0;
  private state: State = State.LineStart;
  private readonly emit: (chunk: Buffer) => void;
  private readonly countBareLf: boolean;

  /**
   * `countBareLf`: visit every line end to count bare LFs (a server that rejects
   * them needs the count). Without it the decoder jumps from one CRLF "." to the
   * next: the same bytes out, fewer steps per line.
   */
  constructor(emit: (chunk: Buffer) => void, countBareLf = true) {
    this.emit = emit;
    this.countBareLf = countBareLf;
  }

  get done(): boolean {
    return this.state === State.Done;
  }

  /**
   * Decodes `buf` from `start`. Returns -1 when the data continues, otherwise the
   * offset in `buf` just past the end-of-data marker (the rest of `buf` is the next
   * command).
   */
  push(buf: Buffer, start = 0): number {
    const n = buf.length;
    let i = start;
    let from = start; // start of the pending pass-through run
    while (i < n) {
      switch (this.state) {
        case State.LineStart:
          if (buf[i] === DOT) {
            this.pass(buf, from, i);
            i++;
            from = i;
            this.state = State.Dot;
            continue;
          }
          this.state = State.Mid;
          break;
        case State.Dot:
          if (buf[i] === CR) {
            i++;
            from = i;
            this.state = State.DotCr;
            continue;
          }
          this.state = State.Mid; // a stuffed dot: dropped, this byte is data
          break;
        case State.DotCr:
          if (buf[i] === LF) {
            this.state = State.Done;
            return i + 1;
          }
          this.pass(CR_ONLY, 0, 1); // ".\rX": the dot was stuffing, the CR is data
          this.state = State.AfterCr;
          break;
        default:
          break;
      }
      if (!this.countBareLf) {
        if (this.state === State.AfterCr) {
          if (buf[i] === LF) {
            i++;
            this.state = State.LineStart;
            continue;
          }
          this.state = State.Mid;
        }
        // Mid: the byte before i is not a CR, so the next line start that matters is
        // the next CRLF ".".
        const at = buf.indexOf(CRLF_DOT, i);
        if (at !== -1) {
          i = at + 2;
          this.state = State.LineStart;
          continue;
        }
        // None here: the last bytes say where the next chunk starts.
        if (n - i >= 2 && buf[n - 2] === CR && buf[n - 1] === LF) this.state = State.LineStart;
        else this.state = buf[n - 1] === CR ? State.AfterCr : State.Mid;
        i = n;
        break;
      }
      const lf = buf.indexOf(LF, i);
      if (lf === -1) {
        this.state = buf[n - 1] === CR ? State.AfterCr : State.Mid;
        i = n;
        break;
      }
      const crlf = lf > i ? buf[lf - 1] === CR : this.state === State.AfterCr;
      i = lf + 1;
      if (crlf) {
        this.state = State.LineStart;
      } else {
        this.bareLf++;
        this.state = State.Mid;
      }
    }
    this.pass(buf, from, this.state === State.Dot || this.state === State.DotCr ? from : n);
    return -1;
  }

  private pass(buf: Buffer, start: number, end: number): void {
    if (end <= start) return;
    this.bytes += end - start;
    this.emit(start === 0 && end === buf.length ? buf : buf.subarray(start, end));
  }
}
