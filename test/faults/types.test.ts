/** The fault API's types: the call forms compile, misuse does not (checked by tsc). */
import { describe, expectTypeOf, test } from "vitest";
import {
  disconnect,
  type Fault,
  type FaultContext,
  type FaultStage,
  greylist,
  hang,
  reject,
  startTestSmtp,
} from "../../src/index.js";

describe("fault types", () => {
  test("reject.<stage> takes options, a code, or a match first", () => {
    expectTypeOf(reject.rcpt).toBeCallableWith("bob@example.com", 550, "5.1.1 No such user");
    expectTypeOf(reject.rcpt).toBeCallableWith(/bob/, 550);
    expectTypeOf(reject.rcpt).toBeCallableWith((ctx: FaultContext) => ctx.stage === "RCPT");
    expectTypeOf(reject.rcpt).toBeCallableWith({ connection: 2 }, 451);
    expectTypeOf(reject.mail).toBeCallableWith({ code: 451, once: true });
    expectTypeOf(reject.mail).toBeCallableWith(451, "4.3.0 Busy", { times: 2 });
    expectTypeOf(reject.mail({ code: 451 })).toEqualTypeOf<Fault>();
  });

  test("stage names are checked", () => {
    expectTypeOf<"RCPT">().toExtend<FaultStage>();
    expectTypeOf<"data_end">().toExtend<FaultStage>();
    expectTypeOf<"RCTP">().not.toExtend<FaultStage>();
    // @ts-expect-error not a stage
    if (false as boolean) disconnect.before("RCTP");
  });

  test("a fault part-way through the data is for the data only, with afterBytes", () => {
    expectTypeOf(hang.during).toBeCallableWith("DATA", { afterBytes: 1024, once: true });
    expectTypeOf(hang("MAIL")).toEqualTypeOf<Fault>();
    // @ts-expect-error only the data can be interrupted part-way
    if (false as boolean) hang.during("MAIL", { afterBytes: 1 });
    // @ts-expect-error afterBytes is required
    if (false as boolean) disconnect.during("DATA", {});
  });

  test("use() and startTestSmtp({ faults }) take faults", () => {
    expectTypeOf(startTestSmtp).toBeCallableWith({ faults: [greylist()] });
    type Use = Awaited<ReturnType<typeof startTestSmtp>>["use"];
    expectTypeOf<Use>().parameters.toEqualTypeOf<Fault[]>();
  });
});
