import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Broker, ConfigError, type Delivery, type ListenerDefinition } from '../../src/index.js';
import { silentLogger } from '../../src/shared/logger.js';
import { allPortsOff, until } from '../../testing/server-helpers.js';

describe('embedding: Broker.start in-process', () => {
  test('publish and consume through broker.core, then stop', async () => {
    const broker = await Broker.start({ storage: 'memory', ...allPortsOff, logger: silentLogger() });
    try {
      assert.deepEqual(broker.ports, {}, 'every listener off');
      assert.equal(broker.readyLine(), 'switchyard ready');
      const vhost = broker.client('/');
      vhost.declareQueue('jobs', { durable: false });
      const got: Delivery[] = [];
      vhost.consume('jobs', { tag: 'c1', owner: 'embedder', deliver: (d) => got.push(d) });
      const result = vhost.publish('', 'jobs', { body: new TextEncoder().encode('hello'), properties: {} });
      assert.equal(result.routedCount, 1);
      await result.confirmed;
      await until(() => got.length === 1);
      assert.equal(new TextDecoder().decode(got[0]!.message.body), 'hello');
      vhost.ack('jobs', got[0]!.id);
    } finally {
      await broker.stop();
    }
  });

  test('auto ports bind free ports and are reported by listener setting', async () => {
    const broker = await Broker.start({
      storage: 'memory',
      ...allPortsOff,
      httpPort: 'auto',
      logger: silentLogger(),
    });
    try {
      const port = broker.ports.httpPort;
      assert.ok(port !== undefined && port > 0);
      assert.equal(broker.readyLine(), `switchyard ready http=${port}`);
      const res = await fetch(`http://127.0.0.1:${port}/api/health`);
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { status: 'ok' });
    } finally {
      await broker.stop();
    }
    await assert.rejects(
      fetch(`http://127.0.0.1:${broker.ports.httpPort}/api/health`),
      'listener closed after stop',
    );
  });

  test('file storage: a durable queue and its persistent message survive stop and start', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-embed-'));
    const options = { storage: 'file' as const, dataDir, ...allPortsOff, logger: silentLogger() };
    const first = await Broker.start(options);
    try {
      first.client('/').declareQueue('kept', { durable: true });
      const message = { body: new TextEncoder().encode('still here'), properties: { persistent: true } };
      await first.client('/').publish('', 'kept', message).confirmed;
    } finally {
      await first.stop();
    }
    const second = await Broker.start(options);
    try {
      const got = second.client('/').get('kept', { noAck: true, owner: 'test' });
      assert.equal(new TextDecoder().decode(got?.message.body), 'still here');
    } finally {
      await second.stop();
    }
  });

  test('stop is idempotent', async () => {
    const broker = await Broker.start({ storage: 'memory', ...allPortsOff, logger: silentLogger() });
    await Promise.all([broker.stop(), broker.stop()]);
    await broker.stop();
  });
});

describe('embedding: options and listeners', () => {
  test('a configured default user replaces the seeded guest on a fresh store', async () => {
    const options = { storage: 'memory' as const, ...allPortsOff, logger: silentLogger() };
    const broker = await Broker.start({ ...options, defaultUser: 'admin', defaultPass: 'pw' });
    try {
      const core = broker.client();
      assert.equal(await core.verifyUser('admin', 'pw'), true);
      assert.equal(await core.verifyUser('guest', 'guest'), false);
    } finally {
      await broker.stop();
    }
  });

  test('invalid options throw a ConfigError before anything opens', async () => {
    await assert.rejects(Broker.start({ storage: 'memory', amqpPort: 70_000 }), ConfigError);
    await assert.rejects(Broker.start({ storage: 'disk' as 'file' }), /storage must be one of file, memory/);
  });

  test('listeners get their context; one that fails to start closes the others', async () => {
    const events: string[] = [];
    const fake = (configKey: 'amqpPort' | 'kafkaPort', fail: boolean): ListenerDefinition => ({
      name: configKey === 'amqpPort' ? 'amqp' : 'kafka',
      configKey,
      async start(context) {
        events.push(`start ${configKey} port=${context.port} host=${context.host}`);
        if (fail) throw new Error('boom');
        return { port: 4242, close: async () => void events.push(`close ${configKey}`) };
      },
    });
    const options = { storage: 'memory' as const, ...allPortsOff, amqpPort: 'auto' as const, kafkaPort: 9 };
    const listeners = [fake('amqpPort', false), fake('kafkaPort', true)];
    await assert.rejects(Broker.start({ ...options, listeners, logger: silentLogger() }), /boom/);
    assert.deepEqual(events, [
      'start amqpPort port=0 host=127.0.0.1',
      'start kafkaPort port=9 host=127.0.0.1',
      'close amqpPort',
    ]);
  });

  test('a configured port with no built listener logs one "not built yet" line', async () => {
    const lines: string[] = [];
    const { pino } = await import('pino');
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
    const broker = await Broker.start({
      storage: 'memory',
      ...allPortsOff,
      amqpPort: 5999,
      listeners: [],
      logger,
    });
    await broker.stop();
    const skipped = lines.map((l) => JSON.parse(l).msg as string).filter((m) => m.includes('not built yet'));
    assert.deepEqual(skipped, ['amqp listener not built yet; skipped']);
  });
});
