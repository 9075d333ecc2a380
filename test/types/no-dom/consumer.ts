// A Node consumer's file: type-checked by test/types/no-dom.test.ts with lib es2023 (no
// DOM) and skipLibCheck off, against the built package (dist/*.d.ts).
import { startTestSmtp } from "smtp-fixture";

const smtp = await startTestSmtp();
const mail = await smtp.inbox.waitFor("bob@example.com");
export const subject: string | undefined = mail.subject;
await smtp.close();
