/**
 * Upgrades are refused, not attempted: `switchyard start` on a data folder written by Switchyard 0.1
 * prints one line naming both storage formats and exits 1, leaving the folder as it was.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { packageInfo } from '../../src/config/package.js';
import { onlyHttpFlags, runCli } from '../../testing/server-cli.js';

const root = mkdtempSync(join(tmpdir(), 'switchyard-format-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** The layout Switchyard 0.1 wrote: a log folder of segments and a meta journal, and no FORMAT file. */
function writeFormatOneFolder(dir: string): void {
  const log = join(dir, 'logs', 'q._2f.orders');
  mkdirSync(log, { recursive: true });
  const header = Buffer.alloc(16);
  header.write('SWYL', 0, 'latin1');
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(16, 6);
  writeFileSync(join(log, '00000000000000000000.log'), header);
  mkdirSync(join(dir, 'meta'));
  writeFileSync(join(dir, 'meta', 'journal'), '');
}

test('start on a Switchyard 0.1 data folder prints one line naming both formats and exits 1', async () => {
  const dataDir = join(root, 'old');
  writeFormatOneFolder(dataDir);
  const result = await runCli([
    'start',
    '--data-dir',
    dataDir,
    ...onlyHttpFlags('auto'),
    '--log-level',
    'silent',
  ]);
  assert.equal(result.code, 1);
  assert.equal(result.stdout, '');
  const expected =
    `switchyard: cannot start: Data folder ${dataDir} holds storage format 1 (Switchyard 0.1); this ` +
    `Switchyard ${packageInfo().version} reads format 4 only (and upgrades 2, 3): start with an empty --data-dir or move the folder aside\n`;
  assert.equal(result.stderr, expected);
  assert.deepEqual(readdirSync(dataDir).sort(), ['logs', 'meta'], 'the folder is left as it was');
});
