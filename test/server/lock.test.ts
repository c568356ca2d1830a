import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Broker } from '../../src/index.js';
import { isBrokerError } from '../../src/shared/errors.js';
import { silentLogger } from '../../src/shared/logger.js';
import { allPortsOff } from '../../src/testing/server-helpers.js';

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
      const cli = new URL('../../cli/switchyard.js', import.meta.url);
      const child = spawn(
        process.execPath,
        [
          cli.pathname,
          'start',
          '--data-dir',
          dataDir,
          '--http-port',
          'auto',
          '--amqp-port',
          '0',
          '--mqtt-port',
          '0',
          '--mqtt-ws-port',
          '0',
          '--kafka-port',
          '0',
          '--grpc-port',
          '0',
          '--rest-port',
          '0',
          '--log-level',
          'silent',
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no ready line within 10 s')), 10_000);
        child.stdout.on('data', (chunk: Buffer) => {
          if (chunk.toString().includes('ready')) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
      assert.equal(existsSync(join(dataDir, 'LOCK')), true, 'SIGKILL leaves the lock behind');
      const broker = await Broker.start({ storage: 'file', dataDir, ...allPortsOff, logger: silentLogger() });
      await broker.stop();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
