import { describe, expect, test } from "vitest";
import type { TranscriptEntry } from "../../src/server/transcript.js";
import { TranscriptRecorder } from "../../src/server/transcript-recorder.js";

const text = (data: Uint8Array) => Buffer.from(data).toString("latin1");
const recorder = () => new TranscriptRecorder(1, "id1", "127.0.0.1", 40001);

/** What an entry reads as, for comparisons: direction, note and the bytes as text. */
const shape = (e: TranscriptEntry) =>
  e.note === undefined
    ? { direction: e.direction, data: text(e.data) }
    : { direction: e.direction, note: e.note, data: text(e.data) };

describe("TranscriptRecorder", () => {
  test("keeps client bytes, server replies and notes in order, each with a timestamp", () => {
    const t = recorder();
    t.server("220 ready\r\n");
    t.client(Buffer.from("EHLO x\r\n"));
    t.server("250 ok\r\n");
    t.note("fault: reject.rcpt fired");
    t.client(Buffer.from("QUIT\r\n"));
    expect(t.length).toBe(5);
    const entries = t.entries();
    expect(entries.map(shape)).toEqual([
      { direction: "server", data: "220 ready\r\n" },
      { direction: "client", data: "EHLO x\r\n" },
      { direction: "server", data: "250 ok\r\n" },
      { direction: "server", note: "fault: reject.rcpt fired", data: "" },
      { direction: "client", data: "QUIT\r\n" },
    ]);
    // Only notes have a `note` key; the key order is at, direction, [note], data.
    expect(Object.keys(entries[0]!)).toEqual(["at", "direction", "data"]);
    expect(Object.keys(entries[3]!)).toEqual(["at", "direction", "note", "data"]);
    const at = entries.map((e) => e.at);
    expect(at.every((x) => x > 1.6e12)).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    expect(t.toString()).toBe(
      ["S: 220 ready", "C: EHLO x", "S: 250 ok", "# fault: reject.rcpt fired", "C: QUIT"].join(
        "\n",
      ),
    );
  });

  test("encodes server replies as UTF-8 when read", () => {
    const t = recorder();
    t.server("250 Grüße ✉\r\n");
    expect(t.entries()[0]!.data).toEqual(Buffer.from("250 Grüße ✉\r\n", "utf8"));
  });

  test("slice() counts like Array.prototype.slice", () => {
    const t = recorder();
    const all: string[] = [];
    for (let i = 0; i < 7; i++) {
      const line = `line ${i}\r\n`;
      if (i % 2 === 0) t.client(Buffer.from(line));
      else t.server(line);
      all.push(line);
    }
    const cases: Array<[number, number | undefined]> = [
      [0, undefined],
      [2, 5],
      [-3, undefined],
      [-3, -1],
      [5, 2],
      [0, 100],
      [100, undefined],
      [-100, 3],
      [Number.NaN, 2],
      [1.7, 4.2],
      [0, Number.POSITIVE_INFINITY],
      [Number.NEGATIVE_INFINITY, -5],
    ];
    for (const [from, to] of cases) {
      expect(t.slice(from, to).map((e) => text(e.data))).toEqual(all.slice(from, to));
    }
    expect(t.entries().map((e) => text(e.data))).toEqual(all);
  });

  test("grows past its initial room without losing or reordering entries", () => {
    const t = recorder();
    const expected: string[] = [];
    for (let i = 0; i < 1000; i++) {
      const line = `${i % 3 === 0 ? "S" : "C"} ${i}\r\n`;
      if (i % 3 === 0) t.server(line);
      else t.client(Buffer.from(line));
      expected.push(line);
    }
    expect(t.length).toBe(1000);
    expect(t.entries().map((e) => text(e.data))).toEqual(expected);
    expect(t.slice(990).map((e) => text(e.data))).toEqual(expected.slice(990));
  });

  test("closing keeps every entry as it was, and an entry after the close is added", () => {
    const t = recorder();
    t.server("220 ready\r\n");
    t.client(Buffer.from("AUTH PLAIN c2VjcmV0\r\n"));
    t.secret(11, 19); // the payload, as the engine reports it
    t.server("235 ok\r\n");
    t.client(Buffer.alloc(5000, 0x61)); // kept as received
    const before = t.entries();
    t.closed = true;
    expect(t.entries()).toEqual(before);
    expect(text(t.entries()[1]!.data)).toBe("AUTH PLAIN ***\r\n");
    t.note("closed by the server");
    expect(t.length).toBe(5);
    expect(t.entries().slice(0, 4)).toEqual(before);
    expect(t.entries()[4]).toMatchObject({ direction: "server", note: "closed by the server" });
  });

  test("keeps the bytes as they were when recorded (small reads are copied)", () => {
    const t = recorder();
    const chunk = Buffer.from("MAIL FROM:<a@x.test>\r\n");
    t.client(chunk);
    chunk.fill(0x58);
    expect(text(t.entries()[0]!.data)).toBe("MAIL FROM:<a@x.test>\r\n");
  });

  test("keeps a large read as received, without copying it", () => {
    const t = recorder();
    const big = Buffer.alloc(100_000, 0x61);
    const view = big.subarray(10, 90_000);
    t.client(view);
    const data = t.entries()[0]!.data;
    expect(data.byteLength).toBe(89_990);
    expect(data.buffer).toBe(big.buffer);
    expect(data.byteOffset).toBe(view.byteOffset);
  });

  test("records an empty read as an empty client entry", () => {
    const t = recorder();
    t.client(Buffer.alloc(0));
    t.client(Buffer.from("QUIT\r\n"));
    expect(t.entries().map(shape)).toEqual([
      { direction: "client", data: "" },
      { direction: "client", data: "QUIT\r\n" },
    ]);
  });

  test("masks secret ranges of the client byte stream, across entries", () => {
    const t = recorder();
    t.client(Buffer.from("EHLO x\r\n")); // stream bytes 0..8
    t.server("250 ok\r\n");
    t.client(Buffer.from("AUTH PLAIN c2VjcmV0\r\n")); // 8..29, secret at 19..27
    t.server("235 ok\r\n");
    t.client(Buffer.from("AUTH LOGIN\r\nc2Vj")); // 29..45, secret starts at 41
    t.client(Buffer.from("cmV0\r\nQUIT\r\n")); // 45..57, secret ends at 49
    t.secret(19, 27);
    t.secret(41, 49);
    t.secret(5, 5); // empty: ignored
    const data = t.entries().map((e) => text(e.data));
    expect(data).toEqual([
      "EHLO x\r\n",
      "250 ok\r\n",
      "AUTH PLAIN ***\r\n",
      "235 ok\r\n",
      "AUTH LOGIN\r\n***",
      "***\r\nQUIT\r\n",
    ]);
    // The same through slice(), which starts mid-stream.
    expect(t.slice(4).map((e) => text(e.data))).toEqual(data.slice(4));
    expect(t.slice(2, 3).map((e) => text(e.data))).toEqual(data.slice(2, 3));
    expect(t.toString()).not.toContain("c2VjcmV0");
    expect(t.toString()).not.toContain("cmV0");
  });

  test("masks a large read kept as received (the stream offsets count it too)", () => {
    const t = recorder();
    const big = Buffer.alloc(10_000, 0x62);
    t.client(big);
    t.client(Buffer.from("AUTH PLAIN c2VjcmV0\r\n"));
    t.secret(10_011, 10_019);
    expect(text(t.entries()[1]!.data)).toBe("AUTH PLAIN ***\r\n");
    expect(t.entries()[0]!.data.byteLength).toBe(10_000);
  });

  describe("stored()", () => {
    test("gives the transcript's copy of part of a recent read", () => {
      const t = recorder();
      const read = Buffer.from("DATA\r\nSubject: hi\r\n\r\nbody\r\n.\r\n");
      t.client(read);
      const body = read.subarray(6, read.length - 3);
      const kept = t.stored(body)!;
      expect(text(kept)).toBe("Subject: hi\r\n\r\nbody\r\n");
      // The same memory as the transcript's entry.
      const entry = t.entries()[0]!.data;
      expect(kept.buffer).toBe(entry.buffer);
      expect(kept.byteOffset).toBe(entry.byteOffset + 6);
    });

    test("gives the view itself for a read kept as received", () => {
      const t = recorder();
      const read = Buffer.alloc(50_000, 0x63);
      t.client(read);
      const body = read.subarray(100, 40_000);
      expect(t.stored(body)).toBe(body);
    });

    test("knows only the last few reads, and none once the connection closed", () => {
      const t = recorder();
      const reads = Array.from({ length: 6 }, (_, i) => Buffer.from(`read ${i}\r\n`));
      for (const r of reads) t.client(r);
      expect(t.stored(reads[0]!.subarray(0, 4))).toBeUndefined();
      expect(text(t.stored(reads[5]!.subarray(0, 6))!)).toBe("read 5");
      expect(text(t.stored(reads[2]!)!)).toBe("read 2\r\n");
      expect(t.stored(Buffer.from("read 5"))).toBeUndefined();
      t.closed = true;
      expect(t.stored(reads[5]!)).toBeUndefined();
    });

    test("never gives other bytes when a read's memory was reused", () => {
      const t = recorder();
      const memory = Buffer.from("first read\r\n");
      t.client(memory);
      memory.write("other data\r\n");
      const found = t.stored(memory.subarray(0, 10));
      // Either unknown or the same bytes: never "first read".
      if (found !== undefined) expect(text(found)).toBe("other data");
    });
  });
});
