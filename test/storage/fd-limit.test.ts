/**
 * The property that lets a broker hold 100,000 durable queues under a 20,000-descriptor limit: the
 * number of logs does not bound the descriptors. A child under `ulimit -n 128` opens 600 logs,
 * appends and syncs to each, closes half, reopens them and reads all back.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';

const script = new URL('../../testing/fd-many-logs.js', import.meta.url).pathname;
const fdLimit = 128;
const logCount = 600;
const openFilesMax = 64;

test('600 logs under ulimit -n 128 keep the open descriptors under the limit', {
  timeout: 180_000,
}, (t) => {
  const args = ['--logs', String(logCount), '--open-files-max', String(openFilesMax)];
  const run = spawnSync(
    'sh',
    ['-c', `ulimit -n ${fdLimit} && exec "$@"`, 'sh', process.execPath, script, ...args],
    {
      encoding: 'utf8',
      timeout: 170_000,
    },
  );
  assert.equal(run.status, 0, `child failed: ${run.stderr}${run.stdout}`);
  const result = JSON.parse(run.stdout.trim());
  t.diagnostic(JSON.stringify(result));
  assert.equal(result.fdLimit, fdLimit, 'the child ran under the lowered limit');
  assert.equal(result.logs, logCount);
  assert.equal(result.badReads, 0, 'every log read back its entry');
  assert.ok(result.cachePeak <= openFilesMax, `handle cache held ${result.cachePeak}`);
  assert.ok(result.peakFds < fdLimit, `peak ${result.peakFds} descriptors`);
  // Besides the cache: a transient directory fsync, and one read over a full cache.
  assert.ok(result.peakFds <= result.baselineFds + openFilesMax + 3, `peak ${result.peakFds}`);
});
