import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { startAmqpBroker, type TestBroker } from '../../../testing/amqp-helpers.js';

const run = promisify(execFile);
const python = '/usr/bin/python3';

/** Debian's python3-pika is importable only by the system interpreter. */
const pikaMissing =
  spawnSync(python, ['-c', 'import pika'], { stdio: 'ignore' }).status !== 0
    ? 'python3-pika not installed (apt-get install python3-pika)'
    : false;
const toolsMissing =
  spawnSync('amqp-publish', ['--help'], { stdio: 'ignore' }).error !== undefined
    ? 'amqp-tools not installed (apt-get install amqp-tools)'
    : false;

const pikaScript = `
import sys, pika
params = pika.URLParameters(sys.argv[1] + '?frame_max=8192')
conn = pika.BlockingConnection(params)
ch = conn.channel()
ch.confirm_delivery()
ch.queue_declare(queue='pika.q', durable=True)
big = b'x' * 20000
ch.basic_publish('', 'pika.q', big, pika.BasicProperties(delivery_mode=2, headers={'n': 1}), mandatory=True)
method, props, body = ch.basic_get('pika.q', auto_ack=False)
assert body == big, len(body)
assert props.headers == {'n': 1}, props.headers
ch.basic_ack(method.delivery_tag)
ch.queue_delete('pika.q')
conn.close()
print('pika ok')
`;

let sy: TestBroker;
before(async () => {
  sy = await startAmqpBroker();
});
after(async () => {
  await sy.stop();
});

describe('AMQP with other clients', () => {
  test('pika: confirms, 20 kB body over 8 KiB frames, get and ack', { skip: pikaMissing }, async () => {
    const { stdout } = await run(python, ['-c', pikaScript, `${sy.url}/%2F`], { timeout: 15_000 });
    assert.match(stdout, /pika ok/);
  });

  test('amqp-tools (rabbitmq-c): declare, publish, get, delete', { skip: toolsMissing }, async () => {
    const url = `--url=${sy.url}`;
    await run('amqp-declare-queue', [url, '-q', 'tools.q'], { timeout: 10_000 });
    const publish = run('amqp-publish', [url, '-r', 'tools.q', '-b', 'hello from rabbitmq-c'], {
      timeout: 10_000,
    });
    await publish;
    const { stdout } = await run('amqp-get', [url, '-q', 'tools.q'], { timeout: 10_000 });
    assert.equal(stdout, 'hello from rabbitmq-c');
    await run('amqp-delete-queue', [url, '-q', 'tools.q'], { timeout: 10_000 });
  });
});
