/**
 * The one place where failures become AMQP reply codes. Core raises `BrokerError`s with stable
 * codes; the codec raises `AmqpCodecError`s; handlers raise `AmqpError`s for protocol rules. Each is
 * turned into a channel exception (soft) or a connection exception (hard) as RabbitMQ raises it, with
 * RabbitMQ's reply text shape: `NOT_FOUND - no queue 'q' in vhost '/'`.
 */
import { ErrorCode, isBrokerError } from '../../shared/errors.js';
import { hardErrorCodes, isAmqpCodecError, ReplyCode, replyCodeNames } from './codec/index.js';

export class AmqpError extends Error {
  readonly replyCode: number;
  /** Hard errors close the connection, soft ones the channel (spec 1.3 constants table). */
  readonly hard: boolean;

  constructor(replyCode: number, message: string, hard = hardErrorCodes.has(replyCode)) {
    super(message);
    this.name = 'AmqpError';
    this.replyCode = replyCode;
    this.hard = hard;
  }
}

/** Core error codes → reply codes. Soft unless the code is a hard one. */
/**
 * A vhost or user limit refused a connection or a channel: RabbitMQ answers 530 NOT_ALLOWED with
 * the limit's text and closes the connection.
 */
export function limitRefused<T>(run: () => T): T {
  try {
    return run();
  } catch (err) {
    if (isBrokerError(err, ErrorCode.resourceExhausted))
      throw connectionError(ReplyCode.notAllowed, err.message);
    throw err;
  }
}

const replyCodeFor: Readonly<Record<ErrorCode, number>> = {
  not_found: ReplyCode.notFound,
  precondition_failed: ReplyCode.preconditionFailed,
  resource_locked: ReplyCode.resourceLocked,
  access_refused: ReplyCode.accessRefused,
  // RabbitMQ answers a vhost queue limit or an over-size message with 406 on the channel.
  resource_exhausted: ReplyCode.preconditionFailed,
  // RabbitMQ: "invalid arg 'x-…'" is 406 PRECONDITION_FAILED on the channel.
  invalid_argument: ReplyCode.preconditionFailed,
  // Unknown delivery tags and the like: RabbitMQ's 406 "unknown delivery tag".
  invalid_state: ReplyCode.preconditionFailed,
  not_implemented: ReplyCode.notImplemented,
  storage_corrupt: ReplyCode.internalError,
  storage_failed: ReplyCode.internalError,
  internal: ReplyCode.internalError,
};

export interface Reply {
  readonly replyCode: number;
  readonly replyText: string;
  readonly hard: boolean;
  /** False for errors nobody anticipated: those are logged. */
  readonly expected: boolean;
}

/** Short strings hold at most 255 bytes; reply texts are cut to fit. */
const replyTextBytesMax = 255;

export function replyText(code: number, message: string): string {
  let text = `${replyCodeNames[code] ?? 'ERROR'} - ${message}`;
  while (Buffer.byteLength(text) > replyTextBytesMax) text = text.slice(0, -8);
  return text;
}

/** Any thrown value → the reply that closes the channel or connection. */
export function toReply(err: unknown): Reply {
  if (err instanceof AmqpError) {
    return {
      replyCode: err.replyCode,
      replyText: replyText(err.replyCode, err.message),
      hard: err.hard,
      expected: true,
    };
  }
  if (isAmqpCodecError(err)) {
    return {
      replyCode: err.replyCode,
      replyText: replyText(err.replyCode, err.message),
      hard: true,
      expected: true,
    };
  }
  if (isBrokerError(err)) {
    const code = replyCodeFor[err.code];
    const internal = code === ReplyCode.internalError;
    return {
      replyCode: code,
      replyText: replyText(code, err.message),
      hard: hardErrorCodes.has(code),
      expected: !internal,
    };
  }
  const message = err instanceof Error ? err.message : String(err);
  return {
    replyCode: ReplyCode.internalError,
    replyText: replyText(ReplyCode.internalError, message),
    hard: true,
    expected: false,
  };
}

export const channelError = (code: number, message: string): AmqpError => new AmqpError(code, message, false);
export const connectionError = (code: number, message: string): AmqpError =>
  new AmqpError(code, message, true);
