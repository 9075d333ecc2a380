/** What the engine is reading: commands, a SASL response, message data or a BDAT chunk. */
import type { DataDecoder } from "./data-decoder.js";
import type { DataSink } from "./host.js";
import type { SaslChallenge } from "./sasl.js";

export type Mode =
  | { readonly kind: "command" }
  | {
      readonly kind: "sasl";
      readonly step: SaslChallenge;
      /** The mechanism (as the client named it, upper case), for the attempt's command. */
      readonly method: string;
      /** The exchange failed already (XOAUTH2's error challenge): its end is a failed login. */
      readonly failed: boolean;
    }
  | { readonly kind: "data"; readonly decoder: DataDecoder; readonly sink: DataSink }
  | { readonly kind: "bdat"; remaining: number; readonly last: boolean; readonly sink: DataSink }
  | { readonly kind: "closed" };

/** Reading commands (one shared value: no object per transaction). */
export const COMMAND_MODE: Mode = { kind: "command" };
