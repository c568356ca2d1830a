/**
 * The one error a codec throws on bad input. It carries the AMQP reply code the connection should
 * close with (spec 4.2.3 / constants table): the codec never touches a socket, so the connection
 * layer turns this into `connection.close` with `replyCode`, and the failing method's ids when known.
 */
export const CodecReplyCode = {
  /** Malformed frame: bad frame end, size over the negotiated limit, unknown frame type. */
  frameError: 501,
  /** A field could not be decoded or encoded: truncated, out of range, bad UTF-8, bad tag. */
  syntaxError: 502,
  /** Well-formed but not valid here, e.g. a content header for a class that carries no content. */
  commandInvalid: 503,
  /** Unknown class or method id. */
  notImplemented: 540,
} as const;
export type CodecReplyCode = (typeof CodecReplyCode)[keyof typeof CodecReplyCode];

export class AmqpCodecError extends Error {
  readonly replyCode: CodecReplyCode;
  /** Class and method of the frame being decoded, 0 when unknown (as `connection.close` wants). */
  classId = 0;
  methodId = 0;

  constructor(replyCode: CodecReplyCode, message: string) {
    super(message);
    this.name = 'AmqpCodecError';
    this.replyCode = replyCode;
  }
}

export function syntaxError(message: string): AmqpCodecError {
  return new AmqpCodecError(CodecReplyCode.syntaxError, message);
}

export function isAmqpCodecError(err: unknown): err is AmqpCodecError {
  return err instanceof AmqpCodecError;
}
