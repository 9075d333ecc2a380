import { createHmac } from "node:crypto";
import { describe, expect, test } from "vitest";
import { serializeReply } from "../../src/protocol/reply.js";
import {
  AUTH_FAILED,
  AUTH_SUCCESS,
  type AuthRequest,
  isSaslMethod,
  SASL_METHODS,
  type SaslContext,
  type SaslStep,
  startSasl,
  XOAUTH2_FAILED,
  xoauth2Failure,
  xoauth2FailureChallenge,
} from "../../src/protocol/sasl.js";

const ctx: SaslContext = { hostname: "mx.test", enabled: SASL_METHODS };

const b64 = (s: string): string => Buffer.from(s, "utf8").toString("base64");
const unb64 = (s: string): string => Buffer.from(s, "base64").toString("utf8");

/** Runs one exchange: the AUTH command, then `lines` as the client's answers. */
function exchange(method: string, initial: string | undefined, lines: string[] = []) {
  const sent: string[] = [];
  let step: SaslStep = startSasl(method, initial, ctx);
  for (const line of lines) {
    if (step.kind !== "challenge") throw new Error(`no challenge left for ${JSON.stringify(line)}`);
    sent.push(wire(step));
    step = step.next(line);
  }
  return { step, sent };
}

/** The reply as the client sees it on the wire, with enhanced status codes on. */
function wire(step: SaslStep): string {
  if (step.kind === "credentials") return "credentials";
  return serializeReply(step.reply, true).trimEnd();
}

function credentialsOf(step: SaslStep): AuthRequest {
  if (step.kind !== "credentials") throw new Error(`expected credentials, got ${wire(step)}`);
  return step.auth;
}

const PLAIN_ALICE = b64("\x00alice\x00s3cret");
const XOAUTH2_ALICE = b64("user=alice@example.com\x01auth=Bearer ya29.token\x01\x01");

describe("startSasl: mechanism selection", () => {
  test.each([
    ["an unknown mechanism", "GSSAPI", SASL_METHODS],
    ["an empty mechanism", "", SASL_METHODS],
    ["a known mechanism that is not enabled", "CRAM-MD5", ["PLAIN", "LOGIN"] as const],
  ])("rejects %s with 504 5.5.4", (_, method, enabled) => {
    const step = startSasl(method, undefined, { hostname: "mx.test", enabled });
    expect(wire(step)).toBe("504 5.5.4 Error: Unrecognized authentication type");
  });

  test("matches the mechanism name case-insensitively", () => {
    expect(credentialsOf(startSasl("plain", PLAIN_ALICE, ctx)).method).toBe("PLAIN");
  });

  test.each([
    ["PLAIN", "Error: syntax: AUTH PLAIN token"],
    ["LOGIN", "Error: syntax: AUTH LOGIN"],
    ["XOAUTH2", "Error: syntax: AUTH XOAUTH2 token"],
  ])("rejects AUTH %s with more than one argument with 501", (method, text) => {
    expect(wire(startSasl(method, "YQ== Yg==", ctx))).toBe(`501 5.5.4 ${text}`);
  });

  test("rejects CRAM-MD5 with an initial response, which the mechanism does not allow", () => {
    expect(wire(startSasl("CRAM-MD5", "YQ==", ctx))).toBe("501 5.5.4 Error: syntax: AUTH CRAM-MD5");
  });

  test("treats an empty initial response argument as none", () => {
    expect(wire(startSasl("PLAIN", "  ", ctx))).toBe("334");
  });

  test("isSaslMethod accepts exactly the upper-case mechanism names", () => {
    expect(SASL_METHODS.every(isSaslMethod)).toBe(true);
    expect(isSaslMethod("plain")).toBe(false);
    expect(isSaslMethod("XCLIENT")).toBe(false);
  });
});

describe("PLAIN", () => {
  const alice = { method: "PLAIN", username: "alice", password: "s3cret" };

  test("accepts credentials given as the initial response", () => {
    expect(credentialsOf(startSasl("PLAIN", PLAIN_ALICE, ctx))).toMatchObject(alice);
  });

  test("sends an empty 334 challenge without an initial response, then takes the token", () => {
    const { step, sent } = exchange("PLAIN", undefined, [PLAIN_ALICE]);
    expect(sent).toEqual(["334"]);
    const first = startSasl("PLAIN", undefined, ctx);
    expect(first.kind === "challenge" && serializeReply(first.reply, true)).toBe("334 \r\n");
    expect(credentialsOf(step)).toMatchObject(alice);
  });

  test.each([
    ["authcid only", "\x00alice\x00pw", { username: "alice", authzid: "", authcid: "alice" }],
    ["authzid equal to authcid", "alice\x00alice\x00pw", { username: "alice", authzid: "alice" }],
    [
      "authzid different from authcid: authcid wins",
      "admin\x00alice\x00pw",
      { username: "alice", authzid: "admin", authcid: "alice" },
    ],
    [
      "authzid only (clients that misplace the user): authzid is used",
      "alice\x00\x00pw",
      { username: "alice", authzid: "alice", authcid: "" },
    ],
    ["an empty password", "\x00alice\x00", { username: "alice", password: "" }],
    ["a password with spaces and UTF-8", "\x00alice\x00p w ü", { password: "p w ü" }],
  ])("passes %s to onAuth", (_, token, expected) => {
    expect(credentialsOf(startSasl("PLAIN", b64(token), ctx))).toMatchObject(expected);
  });

  test.each([
    ["the empty initial response =", "="],
    ["too few fields", b64("alice\x00pw")],
    ["too many fields", b64("a\x00alice\x00pw\x00x")],
    ["no user name at all", b64("\x00\x00pw")],
    ["a control character in the user name", b64("\x00ali\rce\x00pw")],
    ["a control character in the authzid", b64("x\ny\x00alice\x00pw")],
    ["text that is not base64", "not*base64!"],
  ])("rejects %s with 501 invalid userdata", (_, token) => {
    expect(wire(startSasl("PLAIN", token, ctx))).toBe("501 5.5.4 Error: invalid userdata");
  });

  test("cancels with 501 when the client answers the challenge with *", () => {
    const { step } = exchange("PLAIN", undefined, ["*"]);
    expect(wire(step)).toBe("501 5.5.4 Authentication aborted");
  });

  test("validatePassword compares the password given", () => {
    const auth = credentialsOf(startSasl("PLAIN", PLAIN_ALICE, ctx));
    expect(auth.validatePassword?.("s3cret")).toBe(true);
    expect(auth.validatePassword?.("s3cre")).toBe(false);
    expect(auth.validatePassword?.("S3CRET")).toBe(false);
  });
});

describe("LOGIN", () => {
  test("asks for the user name, then the password, with the standard prompts", () => {
    const { step, sent } = exchange("LOGIN", undefined, [b64("alice"), b64("s3cret")]);
    expect(sent).toEqual(["334 VXNlcm5hbWU6", "334 UGFzc3dvcmQ6"]);
    expect(unb64("VXNlcm5hbWU6")).toBe("Username:");
    expect(unb64("UGFzc3dvcmQ6")).toBe("Password:");
    expect(credentialsOf(step)).toMatchObject({
      method: "LOGIN",
      username: "alice",
      password: "s3cret",
    });
  });

  test("takes the user name as the initial response and asks only for the password", () => {
    const first = startSasl("LOGIN", b64("alice"), ctx);
    expect(wire(first)).toBe("334 UGFzc3dvcmQ6");
    const { step } = exchange("LOGIN", b64("alice"), [b64("s3cret")]);
    expect(credentialsOf(step)).toMatchObject({ username: "alice", password: "s3cret" });
  });

  test("accepts an empty password line", () => {
    const { step } = exchange("LOGIN", b64("alice"), [""]);
    expect(credentialsOf(step)).toMatchObject({ username: "alice", password: "" });
  });

  test.each([
    ["at the user name prompt", [] as string[]],
    ["at the password prompt", [b64("alice")]],
  ])("cancels with 501 when the client sends * %s", (_, before) => {
    const { step } = exchange("LOGIN", undefined, [...before, "*"]);
    expect(wire(step)).toBe("501 5.5.4 Authentication aborted");
  });

  test.each([
    ["an empty user name line", [""], "501 5.5.4 Error: missing username"],
    ["the empty initial response =", undefined, "501 5.5.4 Error: missing username"],
    ["a user name that is not base64", ["@@@"], "501 5.5.4 Error: invalid userdata"],
    [
      "a control character in the user name",
      [b64("al\x00ice")],
      "501 5.5.4 Error: invalid userdata",
    ],
    ["a password that is not base64", [b64("alice"), "@@@"], "501 5.5.4 Error: invalid userdata"],
  ])("rejects %s", (_, lines, expected) => {
    const { step } =
      lines === undefined ? exchange("LOGIN", "=") : exchange("LOGIN", undefined, lines);
    expect(wire(step)).toBe(expected);
  });

  test("validatePassword compares the password given", () => {
    const { step } = exchange("LOGIN", b64("alice"), [b64("s3cret")]);
    const auth = credentialsOf(step);
    expect(auth.validatePassword?.("s3cret")).toBe(true);
    expect(auth.validatePassword?.("wrong")).toBe(false);
  });
});

describe("CRAM-MD5", () => {
  function start() {
    const step = startSasl("CRAM-MD5", undefined, ctx);
    if (step.kind !== "challenge") throw new Error(wire(step));
    const [line = ""] = step.reply.lines;
    return { step, challenge: unb64(line) };
  }
  const digest = (password: string, challenge: string) =>
    createHmac("md5", password).update(challenge).digest("hex");

  test("sends a base64 challenge <random.timestamp@hostname>", () => {
    const { step, challenge } = start();
    expect(step.reply.code).toBe(334);
    expect(challenge).toMatch(/^<[0-9a-f]{32}\.\d+@mx\.test>$/);
  });

  test("sends a different challenge every time", () => {
    expect(start().challenge).not.toBe(start().challenge);
  });

  test.each([
    ["the right password", "s3cret", true],
    ["a wrong password", "wrong", false],
  ])("validatePassword confirms %s", (_, tried, valid) => {
    const { step, challenge } = start();
    const auth = credentialsOf(step.next(b64(`alice ${digest("s3cret", challenge)}`)));
    expect(auth).toMatchObject({
      method: "CRAM-MD5",
      username: "alice",
      challenge,
      challengeResponse: digest("s3cret", challenge),
    });
    expect(auth.password).toBeUndefined();
    expect(auth.validatePassword?.(tried)).toBe(valid);
  });

  test("accepts an upper-case hex digest", () => {
    const { step, challenge } = start();
    const auth = credentialsOf(step.next(b64(`alice ${digest("pw", challenge).toUpperCase()}`)));
    expect(auth.validatePassword?.("pw")).toBe(true);
  });

  test.each([
    ["a truncated digest", (d: string) => d.slice(0, 31)],
    ["an empty digest", () => ""],
  ])("validatePassword rejects %s without throwing", (_, mangle) => {
    const { step, challenge } = start();
    const auth = credentialsOf(step.next(b64(`alice ${mangle(digest("pw", challenge))}`)));
    expect(auth.validatePassword?.("pw")).toBe(false);
  });

  test.each([
    ["no space between user and digest", b64("alice")],
    ["no user name", b64(" 0123456789abcdef0123456789abcdef")],
    ["a control character in the user name", b64("al\x7Fice 0123")],
    ["text that is not base64", "%%%"],
  ])("rejects a response with %s with 501 invalid userdata", (_, token) => {
    expect(wire(start().step.next(token))).toBe("501 5.5.4 Error: invalid userdata");
  });

  test("cancels with 501 when the client answers the challenge with *", () => {
    expect(wire(start().step.next("*"))).toBe("501 5.5.4 Authentication aborted");
  });
});

describe("XOAUTH2", () => {
  // validatePassword is always there (smtp-server's type has it); a token carries no password.
  const alice = {
    method: "XOAUTH2",
    username: "alice@example.com",
    accessToken: "ya29.token",
    validatePassword: expect.any(Function),
  };

  test("validatePassword is false for any password: a bearer token is no password", () => {
    const request = credentialsOf(startSasl("XOAUTH2", XOAUTH2_ALICE, ctx));
    expect(request?.validatePassword("ya29.token")).toBe(false);
    expect(request?.validatePassword("")).toBe(false);
  });

  test("accepts the token given as the initial response", () => {
    expect(credentialsOf(startSasl("XOAUTH2", XOAUTH2_ALICE, ctx))).toEqual(alice);
  });

  test("sends an empty 334 challenge without an initial response, then takes the token", () => {
    const { step, sent } = exchange("XOAUTH2", undefined, [XOAUTH2_ALICE]);
    expect(sent).toEqual(["334"]);
    expect(credentialsOf(step)).toEqual(alice);
  });

  test("reads field names and the Bearer scheme case-insensitively", () => {
    const token = b64("USER=alice@example.com\x01Auth=bearer  ya29.token\x01\x01");
    expect(credentialsOf(startSasl("XOAUTH2", token, ctx))).toEqual(alice);
  });

  test.each([
    ["no user field", b64("auth=Bearer t\x01\x01")],
    ["no auth field", b64("user=a@b\x01\x01")],
    ["a scheme other than Bearer", b64("user=a@b\x01auth=Basic dTpw\x01\x01")],
    ["a control character in the user", b64("user=a\x7F@b\x01auth=Bearer t\x01\x01")],
    ["text that is not base64", "!!"],
  ])("rejects a token with %s with 501 invalid userdata", (_, token) => {
    expect(wire(startSasl("XOAUTH2", token, ctx))).toBe("501 5.5.4 Error: invalid userdata");
  });

  test("cancels with 501 when the client answers the challenge with *", () => {
    const { step } = exchange("XOAUTH2", undefined, ["*"]);
    expect(wire(step)).toBe("501 5.5.4 Authentication aborted");
  });

  test("a rejected token gets Google's 334 error challenge, then 535 after the client's empty line", () => {
    const failure = xoauth2Failure();
    expect(JSON.parse(unb64(failure.reply.lines[0] ?? ""))).toEqual({
      status: "401",
      schemes: "bearer",
      scope: "https://mail.google.com/",
    });
    expect(failure.reply).toEqual(xoauth2FailureChallenge());
    expect(wire(failure.next(""))).toBe("535 5.7.8 Error: Username and Password not accepted");
    expect(failure.next("*")).toEqual({ kind: "error", reply: XOAUTH2_FAILED });
  });

  test("the error challenge can carry custom details", () => {
    const r = xoauth2FailureChallenge({ status: "400" });
    expect(unb64(r.lines[0] ?? "")).toBe('{"status":"400"}');
  });
});

describe("outcome replies", () => {
  test.each([
    ["AUTH_SUCCESS", "235 2.7.0 Authentication successful", AUTH_SUCCESS],
    ["AUTH_FAILED", "535 5.7.8 Error: Authentication credentials invalid", AUTH_FAILED],
    ["XOAUTH2_FAILED", "535 5.7.8 Error: Username and Password not accepted", XOAUTH2_FAILED],
  ])("%s is %s", (_, expected, r) => {
    expect(serializeReply(r, true)).toBe(`${expected}\r\n`);
  });
});
