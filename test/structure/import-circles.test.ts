/**
 * Imports in src/ run one way: no file reaches itself through its imports (type-only ones included),
 * so every folder reads as layers, each importing only those below it (docs/architecture.md, "Import
 * circles"). A new circle fails here with its files and the names that tie them.
 */
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type Circle, findCircles, importGraph, readImportGraph } from '../../testing/import-circles.js';

/** The repository: this file runs as dist/test/structure/import-circles.test.js. */
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/**
 * Circles known and let be, each with why it stays: the files exactly, sorted. None today; one added
 * here needs a reason a reviewer accepts, and the test fails once it is gone so the list stays true.
 */
const knownCircles: ReadonlyArray<{ readonly files: readonly string[]; readonly reason: string }> = [];

function report(circles: readonly Circle[]): string {
  return circles.map((c) => `${c.files.length} files:\n  ${c.ties.join('\n  ')}`).join('\n\n');
}

const key = (files: readonly string[]) => files.join(' ');

test('src/ has no import circle but the known ones', () => {
  const graph = readImportGraph(root, 'src');
  // A broken reader would find no imports and pass: the tree has some 380 files and 1700 imports.
  const imports = [...graph.values()].reduce((n, edges) => n + edges.size, 0);
  assert.ok(graph.size > 300 && imports > 1000, `read ${graph.size} files with ${imports} imports`);
  const known = new Set(knownCircles.map((c) => key(c.files)));
  const circles = findCircles(graph);
  const unknown = circles.filter((c) => !known.has(key(c.files)));
  assert.equal(unknown.length, 0, `import circles in src/:\n${report(unknown)}`);
  const found = new Set(circles.map((c) => key(c.files)));
  const gone = knownCircles.filter((c) => !found.has(key(c.files)));
  assert.deepEqual(gone, [], 'known circles that no longer exist: remove them from the list');
});

test('a circle is found with the names that tie it: type-only, re-exports, dynamic imports, a file importing itself', () => {
  const sources = new Map([
    ['src/a.ts', "import type { B } from './b.js';\nimport { c } from './c/index.js';\n"],
    ['src/b.ts', "export { a as aa, type A } from './a.js';\n"],
    ['src/c/index.ts', "import { d } from '../d.js';\n"],
    ['src/d.ts', "const load = () => import('./c/index.js');\nimport 'node:fs';\n"],
    ['src/e.ts', "import { a } from './a.js';\n"],
    ['src/f.ts', "import * as self from './f.js';\n"],
  ]);
  const circles = findCircles(importGraph(sources));
  assert.deepEqual(circles, [
    {
      files: ['src/c/index.ts', 'src/d.ts'],
      ties: ['src/c/index.ts → src/d.ts: d', 'src/d.ts → src/c/index.ts: *'],
    },
    { files: ['src/a.ts', 'src/b.ts'], ties: ['src/a.ts → src/b.ts: B', 'src/b.ts → src/a.ts: a, A'] },
    { files: ['src/f.ts'], ties: ['src/f.ts → src/f.ts: *'] },
  ]);
});

test('an import naming no file of the tree is an error, not a missing arrow', () => {
  const sources = new Map([['src/a.ts', "import { b } from './b.js';\n"]]);
  assert.throws(() => importGraph(sources), /names no file of the tree/);
});
