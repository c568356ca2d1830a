/**
 * Recorded sessions: what one real client wrote on one connection, cut into the protocol's frames.
 * On disk each session is a text file under `testing/fuzz/corpus/<protocol>/`: `#` lines say where it
 * came from, every other line is one frame in hex.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Session {
  readonly name: string;
  readonly frames: readonly Uint8Array[];
}

/** dist/testing/fuzz/ → the source tree's testing/fuzz/corpus/ (the corpus is not compiled). */
export const corpusRoot = fileURLToPath(new URL('../../../testing/fuzz/corpus/', import.meta.url));

export function loadCorpus(protocol: string, root = corpusRoot): Session[] {
  const folder = join(root, protocol);
  return readdirSync(folder)
    .filter((file) => file.endsWith('.hex'))
    .sort()
    .map((file) => ({
      name: `${protocol}/${file}`,
      frames: parseSession(readFileSync(join(folder, file), 'utf8')),
    }));
}

export function parseSession(text: string): Uint8Array[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => Uint8Array.from(Buffer.from(line, 'hex')));
}

export function formatSession(frames: readonly Uint8Array[], comment: string): string {
  const head = comment
    .split('\n')
    .map((line) => `# ${line}`)
    .join('\n');
  return `${head}\n${frames.map((f) => Buffer.from(f).toString('hex')).join('\n')}\n`;
}

/** Replaces the protocol's folder with `sessions`. */
export function saveCorpus(
  protocol: string,
  sessions: ReadonlyArray<{ name: string; frames: readonly Uint8Array[]; comment: string }>,
  root = corpusRoot,
): void {
  const folder = join(root, protocol);
  rmSync(folder, { recursive: true, force: true });
  mkdirSync(folder, { recursive: true });
  for (const s of sessions) writeFileSync(join(folder, `${s.name}.hex`), formatSession(s.frames, s.comment));
}
