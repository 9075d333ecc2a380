import { createPrivateKey, X509Certificate } from "node:crypto";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { connect, createServer, type TLSSocket } from "node:tls";
import { describe, expect, test } from "vitest";
import { loadTestCertificates } from "../../src/server/test-certs.js";

const dir = new URL("../../fixtures/tls/", import.meta.url);
const pem = (name: string): Buffer => readFileSync(new URL(name, dir));
const x509 = (name: string): X509Certificate => new X509Certificate(pem(name));

const ca = x509("ca.pem");
const leaves = ["localhost.pem", "expired.pem", "wrong-host.pem", "client.pem"] as const;

describe("the test certificate files", () => {
  test("the CA is a self-signed CA named smtp-fixture test CA", () => {
    expect(ca.ca).toBe(true);
    expect(ca.subject).toContain("CN=smtp-fixture test CA");
    expect(ca.verify(ca.publicKey)).toBe(true);
  });

  test.each(leaves)("%s is a leaf signed by the test CA", (name) => {
    const cert = x509(name);
    expect(cert.ca).toBe(false);
    expect(cert.checkIssued(ca)).toBe(true);
    expect(cert.verify(ca.publicKey)).toBe(true);
  });

  test.each([
    "ca-key.pem",
    "localhost-key.pem",
    "expired-key.pem",
    "wrong-host-key.pem",
    "client-key.pem",
    "self-signed-client-key.pem",
  ])("%s is the private key of its certificate", (keyName) => {
    const certName = keyName.replace("-key", "");
    expect(x509(certName).checkPrivateKey(createPrivateKey(pem(keyName)))).toBe(true);
  });

  test("localhost.pem covers localhost, 127.0.0.1 and ::1 for server auth", () => {
    const cert = x509("localhost.pem");
    expect(cert.checkHost("localhost")).toBe("localhost");
    expect(cert.checkIP("127.0.0.1")).toBe("127.0.0.1");
    expect(cert.checkIP("::1")).toBe("::1");
    expect(cert.keyUsage).toContain("1.3.6.1.5.5.7.3.1"); // EKU serverAuth
  });

  test("localhost.pem and the CA stay valid for decades but end before year 9999", () => {
    const in50Years = Date.now() + 50 * 365 * 24 * 3600 * 1000;
    for (const cert of [ca, x509("localhost.pem"), x509("wrong-host.pem")]) {
      const notAfter = Date.parse(cert.validTo);
      expect(notAfter).toBeGreaterThan(in50Years);
      expect(new Date(notAfter).getUTCFullYear()).toBeLessThan(9999);
      expect(Date.parse(cert.validFrom)).toBeLessThan(Date.now());
    }
  });

  test.each(["client.pem", "self-signed-client.pem"])(
    "%s is for client auth and stays valid for decades",
    (name) => {
      const cert = x509(name);
      expect(cert.keyUsage).toEqual(["1.3.6.1.5.5.7.3.2"]); // EKU clientAuth
      expect(Date.parse(cert.validTo)).toBeGreaterThan(Date.now() + 50 * 365 * 24 * 3600 * 1000);
    },
  );

  test("self-signed-client.pem is signed by its own key, not by the test CA", () => {
    const cert = x509("self-signed-client.pem");
    expect(cert.checkIssued(ca)).toBe(false);
    expect(cert.verify(cert.publicKey)).toBe(true);
  });

  test("expired.pem names localhost but expired in the past", () => {
    const cert = x509("expired.pem");
    expect(cert.checkHost("localhost")).toBe("localhost");
    expect(Date.parse(cert.validTo)).toBeLessThan(Date.now());
  });

  test("wrong-host.pem names only wrong.example", () => {
    const cert = x509("wrong-host.pem");
    expect(cert.checkHost("localhost")).toBeUndefined();
    expect(cert.checkIP("127.0.0.1")).toBeUndefined();
    expect(cert.checkHost("wrong.example")).toBe("wrong.example");
  });
});

describe("loadTestCertificates", () => {
  test("returns the localhost key and certificate and the test CA from fixtures/tls", () => {
    const certs = loadTestCertificates();
    expect(certs.cert.equals(pem("localhost.pem"))).toBe(true);
    expect(certs.key.equals(pem("localhost-key.pem"))).toBe(true);
    expect(certs.ca.equals(pem("ca.pem"))).toBe(true);
  });

  test("reads the files once and hands out the cached contents afterwards", () => {
    const first = loadTestCertificates();
    const second = loadTestCertificates();
    expect(second.cert).toBe(first.cert);
    expect(second.key).toBe(first.key);
    expect(second.ca).toBe(first.ca);
  });
});

describe("a TLS handshake on 127.0.0.1 with a client that verifies against the test CA", () => {
  test.each([
    ["localhost", "localhost"],
    ["the IP address 127.0.0.1", undefined],
  ])("succeeds with localhost.pem when the client names the server %s", async (_, servername) => {
    const { key, cert } = loadTestCertificates();
    const result = await handshake(key, cert, servername);
    expect(result).toEqual({ authorized: true });
  });

  test.each([
    ["expired.pem", "CERT_HAS_EXPIRED"],
    ["wrong-host.pem", "ERR_TLS_CERT_ALTNAME_INVALID"],
  ])("fails with %s: %s", async (certName, code) => {
    const result = await handshake(
      pem(certName.replace(".pem", "-key.pem")),
      pem(certName),
      "localhost",
    );
    expect(result).toEqual({ authorized: false, code });
  });
});

interface HandshakeResult {
  authorized: boolean;
  code?: string | undefined;
}

/**
 * Serves `cert` on 127.0.0.1:0 and connects a client that trusts only the test CA and
 * checks the name `servername` (`undefined`: no SNI, the client checks "127.0.0.1").
 */
async function handshake(
  key: Buffer,
  cert: Buffer,
  servername: string | undefined,
): Promise<HandshakeResult> {
  const server = createServer({ key, cert }, (socket) => socket.end());
  // The server side sees the client's alert as an error; it is not what is tested.
  server.on("tlsClientError", () => {});
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  const socket: TLSSocket = connect({
    host: "127.0.0.1",
    port,
    ...(servername === undefined ? {} : { servername }),
    ca: pem("ca.pem"),
    rejectUnauthorized: true,
  });
  try {
    await once(socket, "secureConnect");
    return { authorized: socket.authorized };
  } catch (err) {
    return { authorized: false, code: (err as NodeJS.ErrnoException).code };
  } finally {
    socket.destroy();
    server.close();
    await once(server, "close");
  }
}
