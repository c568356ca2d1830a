/**
 * Every failure to read or write Kafka bytes surfaces as a `KafkaCodecError`. It is a `BrokerError`
 * (code `invalid_argument`) so generic code treats it as an operating error; the `reason` lets the
 * Kafka adapter choose a wire answer (close the connection, UNSUPPORTED_VERSION, INVALID_REQUEST).
 */
import { BrokerError, ErrorCode } from '../../../shared/errors.js';

export const KafkaCodecReason = {
  /** The input ended before a complete value was read. */
  truncated: 'truncated',
  /** The bytes are not a valid encoding (negative length, bad varint, wrong magic, bad CRC). */
  malformed: 'malformed',
  /** The API version is outside the schema's validVersions, or a field cannot be sent at it. */
  unsupportedVersion: 'unsupported_version',
  /** A value cannot be encoded (null where not nullable, string too long, compression unsupported). */
  invalidValue: 'invalid_value',
  /** A frame's size prefix is larger than the configured `frameBytesMax`. */
  frameTooLarge: 'frame_too_large',
  /** A message's arrays hold more elements in all than its reader's `EntryBudget` allows. */
  tooManyEntries: 'too_many_entries',
} as const;
export type KafkaCodecReason = (typeof KafkaCodecReason)[keyof typeof KafkaCodecReason];

export class KafkaCodecError extends BrokerError {
  readonly reason: KafkaCodecReason;

  constructor(reason: KafkaCodecReason, message: string, options?: ErrorOptions) {
    super(ErrorCode.invalidArgument, message, options);
    this.name = 'KafkaCodecError';
    this.reason = reason;
  }
}

export function isKafkaCodecError(err: unknown): err is KafkaCodecError {
  return err instanceof KafkaCodecError;
}
