/**
 * A raw SMTP client for dialog tests: writes exact bytes, reads complete replies
 * (multi-line aware), and waits on events, never on time.
 */
import { connect, type Socket } from "node:net";
import { type ConnectionOptions, type TLSSocket, connect as tlsConnect } from "node:tls";

export interface RawReply {
  code: number;
  lines: string[];
  /** The reply exactly as received, CRLFs included. */
  raw: string;
}

export class RawClient {
  socket: Socket | TLSSocket;
  private buffer = "";
  private replies: RawReply[] = [];
  private waiters: Array<() => void> = [];
  closed = false;

  private constructor(socket: Socket | TLSSocket) {
    this.socket = socket;
    this.listen(socket);
  }

  static connect(port: number, host = "127.0.0.1"): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ port, host }, () => resolve(new RawClient(socket)));
      socket.once("error", reject);
    });
  }

  /** `extra`: more TLS options (a client certificate: `key`, `cert`). */
  static connectTls(
    port: number,
    ca: Buffer,
    servername = "localhost",
    extra: ConnectionOptions = {},
  ): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = tlsConnect({ port, host: "127.0.0.1", ca, servername, ...extra }, () =>
        resolve(new RawClient(socket)),
      );
      socket.once("error", reject);
    });
  }

  private listen(socket: Socket | TLSSocket): void {
    socket.setEncoding("utf8");
    socket.on("data", (d: string) => {
      this.buffer += d;
      this.parse();
    });
    socket.on("close", () => {
      this.closed = true;
      this.wake();
    });
    socket.on("error", () => {});
  }

  private parse(): void {
    for (;;) {
      const m = /^(?:\d{3}-[^\r\n]*\r\n)*\d{3}(?: [^\r\n]*)?\r\n/.exec(this.buffer);
      if (!m) break;
      const raw = m[0];
      this.buffer = this.buffer.slice(raw.length);
      const lines = raw.split("\r\n").slice(0, -1);
      this.replies.push({
        code: Number(raw.slice(0, 3)),
        lines: lines.map((l) => l.slice(4)),
        raw,
      });
    }
    this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const fn of w) fn();
  }

  /** The next reply; rejects if the connection closes first. */
  async read(): Promise<RawReply> {
    for (;;) {
      const r = this.replies.shift();
      if (r) return r;
      if (this.closed)
        throw new Error(`connection closed; unparsed: ${JSON.stringify(this.buffer)}`);
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  /** Reads `n` replies. */
  async readMany(n: number): Promise<RawReply[]> {
    const out: RawReply[] = [];
    for (let i = 0; i < n; i++) out.push(await this.read());
    return out;
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** Sends one command line (CRLF added) and reads its reply. */
  async command(line: string): Promise<RawReply> {
    this.write(`${line}\r\n`);
    return this.read();
  }

  /** Resolves when the server closes the connection. */
  async waitClose(): Promise<void> {
    while (!this.closed) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  /** Upgrades this connection in place after a 220 to STARTTLS; `extra` as for connectTls. */
  async startTls(
    ca: Buffer,
    servername = "localhost",
    extra: ConnectionOptions = {},
  ): Promise<void> {
    const plain = this.socket;
    plain.removeAllListeners("data");
    const secure = await new Promise<TLSSocket>((resolve, reject) => {
      const s = tlsConnect({ socket: plain, ca, servername, ...extra }, () => resolve(s));
      s.once("error", reject);
    });
    this.socket = secure;
    this.listen(secure);
  }

  close(): void {
    this.socket.destroy();
  }
}
