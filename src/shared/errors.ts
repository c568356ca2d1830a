/**
 * The one error catalogue. Core and storage raise `BrokerError` with a stable `code`; each protocol
 * adapter maps the code onto its own wire terms (AMQP reply codes, MQTT reason codes, Kafka error
 * codes) in a table of its own. Messages are sentence case, name the object, and end without a period.
 */
export const ErrorCode = {
  /** A named object (exchange, queue, stream, vhost, group) does not exist. */
  notFound: 'not_found',
  /** Redeclared with different properties, or a precondition (if-empty, if-unused) failed. */
  preconditionFailed: 'precondition_failed',
  /** Exclusive object owned by another connection, or a single-active/exclusive consumer is taken. */
  resourceLocked: 'resource_locked',
  /** Not permitted: reserved names (`amq.` prefix), default exchange binding, internal exchange publish. */
  accessRefused: 'access_refused',
  /** A limit was reached (queue length with reject-publish, connections, memory). */
  resourceExhausted: 'resource_exhausted',
  /** An argument has the wrong type or is out of range. */
  invalidArgument: 'invalid_argument',
  /** The call is valid but not in this state (unknown delivery id, consumer cancelled, closed broker). */
  invalidState: 'invalid_state',
  /** Feature recognised but not implemented. */
  notImplemented: 'not_implemented',
  /** Stored data failed its checksum or could not be read; the operation was refused, nothing served. */
  storageCorrupt: 'storage_corrupt',
  /** Disk or file system failure (ENOSPC, EIO). */
  storageFailed: 'storage_failed',
  /** Something that must never happen did; a bug. */
  internal: 'internal',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class BrokerError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'BrokerError';
    this.code = code;
  }
}

export function brokerError(code: ErrorCode, message: string, cause?: unknown): BrokerError {
  return cause === undefined ? new BrokerError(code, message) : new BrokerError(code, message, { cause });
}

export function isBrokerError(err: unknown, code?: ErrorCode): err is BrokerError {
  return err instanceof BrokerError && (code === undefined || err.code === code);
}
