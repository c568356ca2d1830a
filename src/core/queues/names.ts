/**
 * Log names for durable queues. Storage accepts [A-Za-z0-9._-] and at most 200 characters, while
 * vhost and queue names are any UTF-8 up to 255 bytes, so each part is escaped and the parts joined
 * with '.', which the escape never leaves bare: the mapping is one-to-one for names that fit.
 */
import { createHash } from 'node:crypto';
import { assert } from '../../shared/assert.js';
import { escapeLogNamePart, logNameCharsMax } from '../log-names.js';

/** Leaves room for the prefix, the separators, the `.acks` suffix and a hash. */
const partCharsMax = 80;

/** Long parts keep a readable head and end with a hash of the whole, so distinct names stay distinct. */
function fitPart(escaped: string): string {
  if (escaped.length <= partCharsMax) return escaped;
  const hash = createHash('sha256').update(escaped).digest('hex').slice(0, 32);
  return `${escaped.slice(0, partCharsMax - 34)}-h${hash}`;
}

export interface QueueLogNames {
  readonly messages: string;
  readonly acks: string;
}

export function queueLogNames(vhost: string, queue: string): QueueLogNames {
  const base = `q.${fitPart(escapeLogNamePart(vhost))}.${fitPart(escapeLogNamePart(queue))}`;
  const names = { messages: base, acks: `${base}.acks` };
  assert(names.acks.length <= logNameCharsMax, 'queue log name too long');
  return names;
}
