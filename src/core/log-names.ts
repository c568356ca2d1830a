/**
 * What queue and stream log names are built from. Storage accepts [A-Za-z0-9._-] and at most
 * `logNameCharsMax` characters (src/storage/types.ts), while vhost, queue and stream names are any
 * UTF-8, so each part is escaped. The escape is stored on disk as part of log names: changing it
 * orphans every existing log.
 */

/** Storage's bound on log names. */
export const logNameCharsMax = 200;

/**
 * Every UTF-8 byte outside [A-Za-z0-9-] becomes `_xx` (lower-case hex), '.' and '_' included: '.'
 * separates the parts of a log name and '_' starts an escape, so the mapping is one-to-one.
 */
export function escapeLogNamePart(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    const char = String.fromCharCode(byte);
    out += /[A-Za-z0-9-]/.test(char) ? char : `_${byte.toString(16).padStart(2, '0')}`;
  }
  return out;
}
