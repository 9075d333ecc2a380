/**
 * A fault that acts only at STARTTLS never fires on a server that does not offer
 * STARTTLS (the command is refused before faults are asked), so installing one
 * there is a TypeError that says how to start the server.
 */
import { describe, expect, test } from "vitest";
import {
  delay,
  reject,
  startTestSmtp,
  type TestSmtp,
  type TestSmtpOptions,
  tlsFailure,
} from "../../src/index.js";
import { send } from "./helpers.js";

async function withServer(options: TestSmtpOptions, body: (smtp: TestSmtp) => Promise<void>) {
  const smtp = await startTestSmtp(options);
  try {
    await body(smtp);
  } finally {
    await smtp.close();
  }
}

describe("STARTTLS faults on a server without STARTTLS", () => {
  test("smtp.use(tlsFailure()) on a server without TLS is a TypeError, and nothing is installed", async () => {
    await withServer({}, async (smtp) => {
      expect(() => smtp.use(tlsFailure())).toThrow(
        new TypeError(
          'smtp.use(): tlsFailure({ mode: "alert" }) acts at STARTTLS, which this server never offers (it was started without TLS), so it would never fire; start it with startTestSmtp({ tls: true }) (or tls: "starttls")',
        ),
      );
      expect(() => smtp.use(reject.mail(451), tlsFailure({ mode: "refuse" }))).toThrow(
        'smtp.use(): tlsFailure({ mode: "refuse" }) acts at STARTTLS',
      );
      expect(smtp.listFaults()).toEqual([]);
      // The mail goes through as before (what the silent fault used to give).
      expect((await send(smtp)).ok).toBe(true);
    });
  });

  test("any fault that acts only at STARTTLS is refused the same way", async () => {
    await withServer({}, async (smtp) => {
      expect(() => smtp.use(reject.starttls())).toThrow(
        /reject\.starttls\(454 4\.7\.0\) acts at STARTTLS/,
      );
      expect(() => smtp.use(delay.reply("STARTTLS", 10))).toThrow(/acts at STARTTLS/);
      expect(smtp.listFaults()).toEqual([]);
    });
  });

  test("with implicit TLS the message says why", async () => {
    await withServer({ tls: "implicit" }, async (smtp) => {
      expect(() => smtp.use(tlsFailure({ mode: "close" }))).toThrow(
        'which this server never offers (it was started with tls: "implicit", TLS from the first byte)',
      );
    });
  });

  test("startTestSmtp({ faults: [tlsFailure()] }) without TLS fails to start", async () => {
    await expect(startTestSmtp({ faults: [tlsFailure()] })).rejects.toThrow(
      /startTestSmtp\(\{ faults \}\): tlsFailure\(\{ mode: "alert" \}\) acts at STARTTLS, which this server never offers/,
    );
  });

  test("a server with STARTTLS takes them", async () => {
    await withServer({ tls: true }, async (smtp) => {
      smtp.use(tlsFailure(), reject.starttls({ once: true }));
      expect(smtp.listFaults().map((f) => f.name)).toEqual([
        'tlsFailure({ mode: "alert" })',
        "reject.starttls(454 4.7.0) [once]",
      ]);
    });
  });
});

describe("AUTH faults on a server without AUTH", () => {
  test("smtp.use(reject.auth()) on a server started without auth is a TypeError", async () => {
    await withServer({}, async (smtp) => {
      expect(() => smtp.use(reject.auth())).toThrow(
        /smtp\.use\(\): reject\.auth\(.*\) acts at AUTH, which this server never offers \(it was started without auth\), so it would never fire; start it with startTestSmtp\(\{ auth: "any" \}\)/,
      );
      expect(smtp.listFaults()).toEqual([]);
    });
    await expect(startTestSmtp({ faults: [delay.reply("AUTH", 10)] })).rejects.toThrow(
      /acts at AUTH, which this server never offers/,
    );
  });

  test("a server with auth takes them", async () => {
    await withServer({ auth: "any" }, async (smtp) => {
      smtp.use(reject.auth());
      expect(smtp.listFaults()).toHaveLength(1);
    });
  });
});
