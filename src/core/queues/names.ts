/**
 * Log names for durable queues. Storage accepts [A-Za-z0-9._-] and at most 200 characters, while
 * vhost and queue names are any UTF-8 up to 255 bytes, so each part is escaped and the parts joined
 * with '.', which the escape never leaves bare: the mapping is one-to-one for names that fit.
 */
import { createHash } from 'node:crypto';
import { assert } from '../../shared/assert.js';

const logNameCharsMax = 200;
/** Leaves room for the prefix, the separators, the `.acks` suffix and a hash. */
const partCharsMax = 80;

/** Every byte outside [A-Za-z0-9-] becomes `_xx` (lower-case hex), '.' and '_' included. */
export function escapeNamePart(part: string): string {
  let out = '';
  for (const byte of Buffer.from(part, 'utf8')) {
    const ch = String.fromCharCode(byte);
    out += /[A-Za-z0-9-]/.test(ch) ? ch : `_${byte.toString(16).padStart(2, '0')}`;
  }
  return out;
}

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
  const base = `q.${fitPart(escapeNamePart(vhost))}.${fitPart(escapeNamePart(queue))}`;
  const names = { messages: base, acks: `${base}.acks` };
  assert(names.acks.length <= logNameCharsMax, 'queue log name too long');
  return names;
}
