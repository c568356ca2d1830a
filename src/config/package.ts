/**
 * Where the installed package lives and its version. Found by walking up from this file, so it works
 * from dist/, from a scratch build folder and from an installed node_modules copy alike.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const levelsMax = 8;

let cached: { root: string; version: string } | undefined;

function find(): { root: string; version: string } {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let level = 0; level < levelsMax; level++) {
    const candidate = join(dir, 'package.json');
    if (existsSync(candidate)) {
      const manifest = JSON.parse(readFileSync(candidate, 'utf8')) as { name?: unknown; version?: unknown };
      if (manifest.name === 'switchyard' && typeof manifest.version === 'string') {
        return { root: dir, version: manifest.version };
      }
    }
    dir = dirname(dir);
  }
  return { root: process.cwd(), version: '0.0.0' };
}

export function packageInfo(): { root: string; version: string } {
  cached ??= find();
  return cached;
}
