// A Node consumer's file: type-checked by test/types/no-dom.test.ts with lib es2023 (no
// DOM) and skipLibCheck off, against the built package (dist/*.d.ts).
import { SMTPServer, startTestSmtp } from "smtp-fixture";

const smtp = await startTestSmtp();
const mail = await smtp.inbox.waitFor("bob@example.com");
export const subject: string | undefined = mail.subject;
await smtp.close();

// The package's own internals are not in its declarations (stripInternal): a user's
// editor does not offer them.

// @ts-expect-error internal: startTestSmtp() binds the port
void smtp.listen;
// @ts-expect-error internal: TestSmtp's close() ends the inbox's waits
void smtp.inbox.serverClosed;
// @ts-expect-error internal: the fixture's "no client connected" hint
void new SMTPServer().connectionsAccepted;
