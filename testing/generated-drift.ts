/**
 * The drift check of a codec generator that exports `renderAll(root)` and `outDir` (scripts/gen-kafka.mjs,
 * scripts/gen-kubemq.mjs): the committed generated files must be exactly what it renders from spec/
 * today, so a hand edit or a spec change without regenerating fails.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

interface Generator {
  renderAll(root: string): Map<string, string>;
  outDir: string;
}

/** The build output lives at different depths (.tmp/<area>/ or dist/), so look upwards for the repo. */
function findRepoRoot(script: string): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 10; depth++) {
    if (existsSync(join(dir, 'scripts', script)) && existsSync(join(dir, 'spec'))) return dir;
    dir = dirname(dir);
  }
  throw new Error(`repository root with scripts/${script} not found`);
}

/** Asserts the files under the generator's `outDir` equal a fresh render, and no other file is there. */
export async function assertGeneratedUpToDate(script: string): Promise<void> {
  const root = findRepoRoot(script);
  const gen = (await import(pathToFileURL(join(root, 'scripts', script)).href)) as Generator;
  const rendered = gen.renderAll(root);
  const onDisk = readdirSync(join(root, gen.outDir))
    .map((name) => `${gen.outDir}/${name}`)
    .sort();
  assert.deepEqual(onDisk, [...rendered.keys()].sort(), 'same set of generated files');
  for (const [path, text] of rendered) {
    assert.equal(readFileSync(join(root, path), 'utf8'), text, `${path} is up to date`);
  }
}
