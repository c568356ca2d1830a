/**
 * The committed generated.ts must be exactly what the generator makes from the committed spec, so a
 * hand edit or a spec change without regenerating fails here (`node scripts/gen-amqp.mjs` fixes it).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

interface Generator {
  render(spec: unknown): string;
  specPath: string;
  outputPath: string;
}

const generatorPath = 'scripts/gen-amqp.mjs';

/** Tests run from dist/ or .tmp/<area>/, so walk up to the checkout that holds the generator. */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let level = 0; level < 8; level++) {
    if (existsSync(join(dir, generatorPath))) return dir;
    dir = dirname(dir);
  }
  throw new Error(`${generatorPath} not found above ${fileURLToPath(import.meta.url)}`);
}

test('generated.ts matches the generator run on the committed spec', async () => {
  const root = repoRoot();
  const generator = (await import(pathToFileURL(join(root, generatorPath)).href)) as Generator;
  const spec: unknown = JSON.parse(readFileSync(join(root, generator.specPath), 'utf8'));
  const committed = readFileSync(join(root, generator.outputPath), 'utf8');
  const rendered = generator.render(spec);
  assert.ok(rendered === committed, `${generator.outputPath} drifted; run node ${generatorPath}`);
});

test('the generator is deterministic', async () => {
  const root = repoRoot();
  const generator = (await import(pathToFileURL(join(root, generatorPath)).href)) as Generator;
  const spec: unknown = JSON.parse(readFileSync(join(root, generator.specPath), 'utf8'));
  assert.equal(generator.render(spec), generator.render(structuredClone(spec)));
});
