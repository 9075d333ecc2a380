/**
 * smtp-fixture: the deliberate public surface. Nothing else is public.
 */

export type {
  AttemptMatch,
  AttemptMatchObject,
  AttemptOutcome,
  AttemptPredicate,
} from "./fixture/attempt-match.js";
export { AttemptPredicateError } from "./fixture/attempt-match.js";
export type { FaultInfo } from "./fixture/faults/registry.js";
export type { Fault, FaultContext } from "./fixture/faults/types.js";
export type {
  ExpectNoneOptions,
  Inbox,
  InboxScope,
  WaitForManyOptions,
  WaitForOptions,
} from "./fixture/inbox.js";
export {
  PredicateError,
  UnexpectedMessageError,
  WaitForAttemptTimeoutError,
  WaitForTimeoutError,
} from "./fixture/inbox.js";
export type { MatchObject, MessageMatch, MessagePredicate, TextMatcher } from "./fixture/match.js";
export type { AuthConfig, TestSmtpOptions, TlsFiles } from "./fixture/options.js";
export type { ProfileName } from "./fixture/profiles.js";
export { PROFILES } from "./fixture/profiles.js";
export type {
  BccAddress,
  HeaderField,
  MailAddress,
  ReceivedAttachment,
  ReceivedEnvelope,
  ReceivedMessage,
  ReceivedMessageJSON,
} from "./fixture/received-message.js";
export type {
  AttemptRecord,
  ReplyRecord,
  SessionFacts,
  Stage,
} from "./fixture/records.js";
// The fixture (the main job)
export { inbox, startTestSmtp, testSmtp } from "./fixture/start.js";
export type { StrictOption, StrictRule, StrictViolation } from "./fixture/strict.js";
export { STRICT_RULES, StrictModeError } from "./fixture/strict.js";
export type { TestCapabilities, TestSmtpTransport } from "./fixture/test-smtp.js";
export { TestSmtp } from "./fixture/test-smtp.js";
export type { Capability, CapabilityPatch } from "./protocol/capabilities.js";
export { CAPABILITIES } from "./protocol/capabilities.js";
export { SMTPError } from "./protocol/errors.js";
export type { AuthRequest as SMTPAuthentication, SaslMethod } from "./protocol/sasl.js";
export type {
  DsnRecipient,
  SMTPAddress,
  SMTPEnvelope,
  SMTPSession,
  SmtpArgs,
  TlsInfo,
} from "./protocol/types.js";
export { SMTPDataStream, type SMTPServerDataStream } from "./server/data-stream.js";
export type { LogEntry, LogLevel, ServerLogger, SMTPLogger } from "./server/logger.js";
export type { AuthResponse, SMTPServerOptions } from "./server/options.js";
// The SMTP server (smtp-server / bun-smtp compatible)
export { SMTPServer } from "./server/smtp-server.js";
export { loadTestCertificates } from "./server/test-certs.js";
export type { Direction, Transcript, TranscriptEntry } from "./server/transcript.js";

// Failure injection (msw-style): smtp.use(reject.rcpt("bob@x", 550), greylist(), ...)

export {
  type ChaosOptions,
  type CloseAfterMessagesOptions,
  chaos,
  closeAfterMessages,
  type DelayOptions,
  type DripOptions,
  type DuringOptions,
  delay,
  disconnect,
  dropAfterData,
  type FailTimesOptions,
  type FaultMatch,
  type FaultMatchObject,
  type FaultOptions,
  type FaultPredicate,
  type FaultScope,
  type FaultStage,
  failTimes,
  type GreylistOptions,
  greylist,
  type HangDuringOptions,
  hang,
  type PartialRecipientsMap,
  partialRecipients,
  type RateLimitOptions,
  type RejectAfterCodeExtras,
  type RejectAfterCodeOptions,
  type RejectAtFault,
  type RejectCodeOptions,
  type RejectExtras,
  type RejectFault,
  type RejectOptions,
  type ReplyOptions,
  rateLimit,
  reject,
  slowDrip,
  type TlsFailureOptions,
  tlsFailure,
  withScope,
} from "./fixture/faults/index.js";
