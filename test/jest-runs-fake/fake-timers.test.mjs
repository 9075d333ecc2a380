// Under fakeTimers.enableGlobally (faked before this package was imported), the
// fixture still runs on real time: a missed wait fails with its report, and a delay
// fault ends (a raw client: nodemailer itself needs real timers).
import net from "node:net";
import { delay, startTestSmtp, WaitForTimeoutError } from "smtp-fixture";

const { jest } = import.meta;
let smtp;
beforeAll(async () => {
  smtp = await startTestSmtp({ faults: [delay.reply("MAIL", 50)] });
});
afterAll(() => smtp.close());

test("a missed wait fails with its report", async () => {
  await expect(smtp.inbox.waitFor("nobody@example.com", { timeout: 50 })).rejects.toBeInstanceOf(
    WaitForTimeoutError,
  );
});

test("a delay fault ends without the test advancing the clock", async () => {
  expect(jest.isMockFunction(setTimeout) || typeof setTimeout.clock === "object").toBe(true);
  const replies = await new Promise((resolve, reject) => {
    const socket = net.connect(smtp.port, "127.0.0.1");
    let text = "";
    socket.setEncoding("utf8");
    socket.on("error", reject);
    socket.once("data", () => socket.write("EHLO x\r\nMAIL FROM:<a@example.com>\r\nQUIT\r\n"));
    socket.on("data", (d) => {
      text += d;
    });
    socket.on("close", () => resolve(text));
  });
  expect(replies).toMatch(/^250 2\.1\.0 Accepted\r$/m);
  expect(replies).toMatch(/^221 /m);
});
