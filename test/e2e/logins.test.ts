/**
 * Logins under attack, through real clients: a wrong-password flood must not hold up a durable publish
 * on an open connection, must find the hashing queue bounded (extra guesses refused unhashed, with each
 * protocol's refusal), must not hash for clients that already hung up, and many clients logging in
 * at once with one credential cost one hash. Counts and outcomes are asserted, never times.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect as connectSocket, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import amqp from 'amqplib';
import { encodeMethodFrame, parseFrames, protocolHeader } from '../../src/protocols/amqp/codec/index.js';
import { Broker, type BrokerOptions } from '../../src/server/broker.js';
import { silentLogger } from '../../src/shared/logger.js';
import { closeAll, connect as connectMqtt } from '../../testing/mqtt-harness.js';
import { allPortsOff, until } from '../../testing/server-helpers.js';

interface Refusal {
  readonly replyCode: number;
  readonly replyText: string;
}

/** A raw AMQP login with PLAIN; resolves with the server's connection.close (or tune: a success). */
function rawLogin(port: number, user: string, password: string, hangUp = false): Promise<Refusal | 'tuned'> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connectSocket(port, '127.0.0.1', () => socket.write(protocolHeader));
    let input = Buffer.alloc(0);
    const timer = setTimeout(() => finish(new Error('no answer to the login')), 20_000);
    const finish = (result: Refusal | 'tuned' | Error) => {
      clearTimeout(timer);
      socket.destroy();
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    socket.on('error', () => {});
    socket.on('close', () => finish(hangUp ? { replyCode: 0, replyText: 'hung up' } : new Error('closed')));
    socket.on('data', (chunk: Buffer) => {
      input = Buffer.concat([input, chunk]);
      const { frames, bytes } = parseFrames(input, 1 << 20);
      input = input.subarray(bytes);
      for (const frame of frames) {
        if (frame.kind !== 'method') continue;
        const { method } = frame;
        if (method.name === 'connection.start') {
          const response = Buffer.from(`\0${user}\0${password}`);
          const fields = { clientProperties: {}, mechanism: 'PLAIN', response, locale: 'en_US' };
          socket.write(encodeMethodFrame(0, { name: 'connection.start-ok', fields }, 4096));
          if (hangUp) socket.end();
        } else if (method.name === 'connection.tune') finish('tuned');
        else if (method.name === 'connection.close') finish(method.fields);
      }
    });
  });
}

async function startBroker(options: BrokerOptions): Promise<Broker> {
  return Broker.start({ ...allPortsOff, storage: 'memory', logger: silentLogger(), ...options });
}

describe('AMQP logins under a wrong-password flood', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-logins-'));
  let broker: Broker;
  let port: number;
  before(async () => {
    broker = await startBroker({
      storage: 'file',
      dataDir,
      amqpPort: 'auto',
      passwordHashThreads: 1,
      loginQueueMax: 4,
      // The queue is under test here; the per-address throttle has tests of its own.
      loginPendingPerAddressMax: 1000,
      loginFailuresBeforeDelay: 1000,
    });
    port = broker.ports.amqpPort!;
  });
  after(async () => {
    await broker.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('a durable publish is confirmed while the flood fills the hashing queue', async () => {
    const connection = await amqp.connect(`amqp://guest:guest@127.0.0.1:${port}`);
    const channel = await connection.createConfirmChannel();
    await channel.assertQueue('logins.durable', { durable: true });
    const guesses = Array.from({ length: 40 }, (_, i) => rawLogin(port, 'guest', `wrong-${i}`));
    await until(() => broker.loginStats().queued > 0, 10_000);
    channel.sendToQueue('logins.durable', Buffer.from('kept'), { persistent: true });
    await channel.waitForConfirms();
    const answers = await Promise.all(guesses);
    const texts = answers.map((a) => (a === 'tuned' ? 'tuned' : a.replyText));
    assert.ok(
      answers.every((a) => a !== 'tuned' && a.replyCode === 403),
      'every guess refused with 403',
    );
    const busy = texts.filter((t) => t.includes('Too many login attempts')).length;
    assert.ok(busy > 0, 'guesses beyond the queue were refused without a hash');
    assert.ok(broker.loginStats().hashes < 40, 'not every guess was hashed');
    await connection.close();
  });

  test('clients that hang up before their hash runs cost no hash', async () => {
    await until(() => broker.loginStats().queued === 0 && broker.loginStats().hashing === 0, 10_000);
    const before = broker.loginStats().hashes;
    await Promise.all(Array.from({ length: 4 }, (_, i) => rawLogin(port, 'guest', `gone-${i}`, true)));
    await until(() => broker.loginStats().queued === 0 && broker.loginStats().hashing === 0, 10_000);
    assert.ok(broker.loginStats().hashes - before < 4, 'the queued logins of gone clients were dropped');
  });

  test('300 clients logging in at once with one credential cost one hash', async () => {
    const fresh = await startBroker({ amqpPort: 'auto' });
    try {
      const url = `amqp://guest:guest@127.0.0.1:${fresh.ports.amqpPort}`;
      const connections = await Promise.all(Array.from({ length: 300 }, () => amqp.connect(url)));
      // One hash; a second only if the verification's 15 s in the cache ran out on a very slow machine.
      assert.ok(fresh.loginStats().hashes <= 2, `${fresh.loginStats().hashes} hashes`);
      await Promise.all(connections.map((c) => c.close()));
    } finally {
      await fresh.stop();
    }
  });
});

describe('MQTT logins share the gate', () => {
  test('a full login queue answers Server busy (v5) or Server unavailable (3.1.1)', async () => {
    const broker = await startBroker({
      mqttPort: 'auto',
      passwordHashThreads: 1,
      loginQueueMax: 1,
      loginPendingPerAddressMax: 1000,
      loginFailuresBeforeDelay: 1000,
    });
    const url = `mqtt://127.0.0.1:${broker.ports.mqttPort}`;
    const refusal = async (protocolVersion: 4 | 5, password: string): Promise<number> => {
      try {
        await closeAll(await connectMqtt(url, { protocolVersion, username: 'guest', password }));
        return 0;
      } catch (err) {
        return (err as { code?: number }).code ?? -1;
      }
    };
    try {
      const v5 = await Promise.all(Array.from({ length: 8 }, (_, i) => refusal(5, `wrong-${i}`)));
      assert.ok(v5.includes(0x86), 'bad user name or password');
      assert.ok(v5.includes(0x89), 'server busy');
      const v4 = await Promise.all(Array.from({ length: 8 }, (_, i) => refusal(4, `again-${i}`)));
      assert.ok(v4.includes(4) && v4.includes(3), `3.1.1 codes ${v4}`);
      assert.equal(await refusal(5, 'guest'), 0, 'the right password still logs in');
    } finally {
      await broker.stop();
    }
  });
});
