import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { renderConfigDocs } from '../../src/config/docs.js';
import { packageInfo } from '../../src/config/package.js';
import { settings } from '../../src/config/schema.js';

test('docs/config.md is generated from the schema (regenerate: node dist/src/config/write-docs.js)', () => {
  const committed = readFileSync(join(packageInfo().root, 'docs', 'config.md'), 'utf8');
  assert.equal(committed, renderConfigDocs());
});

test('docs/config.md names every setting, flag and variable', () => {
  const page = renderConfigDocs();
  for (const setting of settings) {
    for (const word of [setting.name, setting.flag, setting.env])
      assert.ok(page.includes(`\`${word}\``), word);
  }
});
