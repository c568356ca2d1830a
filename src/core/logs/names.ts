/**
 * Names under which streams live in storage: one Log per partition and a few meta keys per vhost.
 * Vhost, stream and group names may hold any character, so each is escaped before it becomes part
 * of a log name or a key; the escapes are injective, so two different streams never share a log.
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

const streamKeyRoot = 'stream/';
const offsetKeyRoot = 'offset/';

/** encodeURIComponent escapes '/', so a key part never crosses into the next. */
const keyPart = encodeURIComponent;

export function streamKeyPrefix(vhost: string): string {
  return `${streamKeyRoot}${keyPart(vhost)}/`;
}

export function streamKey(vhost: string, stream: string): string {
  return `${streamKeyPrefix(vhost)}${keyPart(stream)}`;
}

/** Prefix of every group offset in the vhost, or of one group's when `group` is given. */
export function offsetKeyPrefix(vhost: string, group?: string): string {
  const root = `${offsetKeyRoot}${keyPart(vhost)}/`;
  return group === undefined ? root : `${root}${keyPart(group)}/`;
}

export function offsetKey(vhost: string, group: string, stream: string, partition: number): string {
  return `${offsetKeyPrefix(vhost, group)}${keyPart(stream)}/${partition}`;
}

export function checkStreamName(name: string): void {
  if (name.length === 0 || name.length > streamNameCharsMax) {
    throw brokerError(
      ErrorCode.invalidArgument,
      `Stream name must have 1 to ${streamNameCharsMax} characters, got ${name.length}`,
    );
  }
}
