import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Broker } from '../../src/index.js';
import { isBrokerError } from '../../src/shared/errors.js';
import { silentLogger } from '../../src/shared/logger.js';
import { onlyHttpFlags, startCli } from '../../testing/server-cli.js';
import { allPortsOff } from '../../testing/server-helpers.js';

describe('one broker per data folder', () => {
  test('a second broker on the same folder is refused until the first stops', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sy-lock-'));
    try {
      const first = await Broker.start({ storage: 'file', dataDir, ...allPortsOff, logger: silentLogger() });
      await assert.rejects(
        Broker.start({ storage: 'file', dataDir, ...allPortsOff, logger: silentLogger() }),
        (err) => isBrokerError(err, 'storage_failed') && /in use/.test(err.message),
      );
      await first.stop();
      assert.equal(existsSync(join(dataDir, 'LOCK')), false, 'lock released on stop');
      const second = await Broker.start({ storage: 'file', dataDir, ...allPortsOff, logger: silentLogger() });
      await second.stop();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  test('a lock left by a killed process is taken over', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sy-lock-'));
    try {
      const child = await startCli([
        '--data-dir',
        dataDir,
        ...onlyHttpFlags('auto'),
        '--log-level',
        'silent',
      ]);
      await child.stop('SIGKILL');
      assert.equal(existsSync(join(dataDir, 'LOCK')), true, 'SIGKILL leaves the lock behind');
      const broker = await Broker.start({ storage: 'file', dataDir, ...allPortsOff, logger: silentLogger() });
      await broker.stop();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
