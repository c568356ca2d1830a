import assert from 'node:assert/strict';
import { test } from 'node:test';
import { onlyHttpFlags, runCli, startCli } from '../../testing/server-cli.js';

test('switchyard policies and limits: set, list (table and --json), clear against a running broker', async () => {
  const broker = await startCli(['--storage', 'memory', ...onlyHttpFlags('auto')]);
  const url = `http://127.0.0.1:${broker.ports.http}`;
  const env = { SWITCHYARD_URL: url };
  try {
    const set = await runCli(
      ['policies', 'set', 'cap', '^jobs$', '{"max-length":5}', '--apply-to', 'queues', '--priority', '2'],
      { env },
    );
    assert.equal(set.code, 0, set.stderr);
    assert.equal(set.stdout, 'Setting policy "cap" for pattern "^jobs$" in vhost "/"\n');
    const listed = await runCli(['policies', 'list', '--url', url]);
    assert.deepEqual(listed.stdout.split('\n').slice(0, 2), [
      'vhost  name  pattern  apply-to  definition        priority',
      '/      cap   ^jobs$   queues    {"max-length":5}  2',
    ]);
    const json = JSON.parse((await runCli(['policies', 'list', '--json'], { env })).stdout) as unknown[];
    assert.equal(json.length, 1);

    const bad = await runCli(['operator-policies', 'set', 'x', '.*', '{"overflow":"drop-head"}'], { env });
    assert.equal(bad.code, 1);
    assert.match(
      bad.stderr,
      /^switchyard: 400 bad_request: Validation failed \[<<"overflow">>\] are not recognised policy settings\n$/,
    );
    assert.equal((await runCli(['policies', 'set', 'x', '.*', '{nope'], { env })).code, 2);

    assert.equal((await runCli(['limits', 'set', '--vhost', '/', 'max-queues', '10'], { env })).code, 0);
    assert.equal((await runCli(['limits', 'set', '--user', 'guest', 'max-channels', '3'], { env })).code, 0);
    const limits = await runCli(['limits', 'list', '--user', 'guest'], { env });
    assert.equal(limits.stdout, 'user   limits\nguest  {"max-channels":3}\n');
    assert.equal((await runCli(['limits', 'clear', '--vhost', '/', 'max-queues'], { env })).code, 0);
    assert.equal((await runCli(['policies', 'clear', 'cap'], { env })).code, 0);
    assert.equal((await runCli(['policies', 'clear', 'cap'], { env })).code, 5, 'no such policy');
  } finally {
    assert.equal((await broker.stop()).code, 0);
  }
});
