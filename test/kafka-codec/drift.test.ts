/** The committed generated codec must equal what scripts/gen-kafka.mjs renders from spec/kafka today. */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

interface Generator {
  renderAll(root: string): Map<string, string>;
  outDir: string;
}

/** The build output lives at different depths (.tmp/<area>/ or dist/), so look upwards for the repo. */
function findRepoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 10; depth++) {
    if (existsSync(join(dir, 'scripts', 'gen-kafka.mjs')) && existsSync(join(dir, 'spec', 'kafka')))
      return dir;
    dir = dirname(dir);
  }
  throw new Error('repository root with scripts/gen-kafka.mjs not found');
}

it('generated Kafka codec matches a fresh render (run `node scripts/gen-kafka.mjs` to update)', async () => {
  const root = findRepoRoot();
  const gen = (await import(pathToFileURL(join(root, 'scripts', 'gen-kafka.mjs')).href)) as Generator;
  const rendered = gen.renderAll(root);
  const onDisk = readdirSync(join(root, gen.outDir))
    .map((name) => `${gen.outDir}/${name}`)
    .sort();
  assert.deepEqual(onDisk, [...rendered.keys()].sort(), 'same set of generated files');
  for (const [path, text] of rendered) {
    assert.equal(readFileSync(join(root, path), 'utf8'), text, `${path} is up to date`);
  }
});
