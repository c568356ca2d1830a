/**
 * Names under which streams live in storage: one Log per partition. Vhost and stream names may hold
 * any character, so each is escaped before it becomes part of a log name; the escape is injective,
 * so two different streams never share a log.
 */
import { createHash } from 'node:crypto';
import { brokerError, ErrorCode } from '../../shared/errors.js';
import { escapeLogNamePart, logNameCharsMax } from '../log-names.js';

/** Kafka allows 249 characters and AMQP short strings 255; the longer bound wins. */
export const streamNameCharsMax = 255;

/**
 * `s.<vhost>.<stream>.<partition>`; names too long for storage become `sh.<sha256>.<partition>`
 * (the `sh` prefix cannot be produced by the readable form, whose second part follows `s.`).
 */
export function partitionLogName(vhost: string, stream: string, partition: number): string {
  const readable = `s.${escapeLogNamePart(vhost)}.${escapeLogNamePart(stream)}.${partition}`;
  if (readable.length <= logNameCharsMax) return readable;
  const digest = createHash('sha256').update(vhost).update('\0').update(stream).digest('hex');
  return `sh.${digest}.${partition}`;
}

export function checkStreamName(name: string): void {
  if (name.length === 0 || name.length > streamNameCharsMax) {
    throw brokerError(
      ErrorCode.invalidArgument,
      `Stream name must have 1 to ${streamNameCharsMax} characters, got ${name.length}`,
    );
  }
}
